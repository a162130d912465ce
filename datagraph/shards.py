"""Training shards: the class list, which shard a post goes to, and one shard's rows and bytes.

The format is docs/shards.md. Everything here is a function of the data, the options and the
seed (through ``datagraph.stable_hash``), so the pipeline's workers and the engine-free
reference make the same bytes:

- a post's shard is xxh64(post_id, seed) mixed for ``STREAM_SHARD``, mod the number of shards;
- with a validation split, a post is in ``val`` when its user's hash (xxh64 of user_id, or of
  the post_id for posts without a user, seed-free so the split does not move when the sampling
  seed does) falls below the validation fraction: no user is in both splits;
- within a shard, rows are ordered by a seeded hash of (post_id, copy number): a shuffle that
  keeps a post's copies apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from datagraph.graph_files import parquet_bytes
from datagraph.sampling import (
    SamplingPlan,
    class_histogram,
    expected_class_counts,
)
from datagraph.schema import TRAINING_EXAMPLE_SCHEMA
from datagraph.stable_hash import STREAM_ORDER, STREAM_SHARD, STREAM_SPLIT, hash_strings, mix
from datagraph.stable_hash import uniform as stable_uniform
from datagraph.taxonomy import Taxonomy

SHARD_SCHEMA = TRAINING_EXAMPLE_SCHEMA
DEFAULT_ROW_GROUP_SIZE = 4096
SPLITS = ("train", "val")


def shard_name(shard: int, num_shards: int) -> str:
    """``part-00003-of-00064.parquet``."""
    return f"part-{shard:05d}-of-{num_shards:05d}.parquet"


def shard_path(split: str, shard: int, num_shards: int, with_splits: bool) -> str:
    """A shard's path relative to the shard set: ``train/part-...`` when there is a split."""
    name = shard_name(shard, num_shards)
    return f"{split}/{name}" if with_splits else name


def post_hashes(post_ids: pl.Series | list[str], seed: int) -> np.ndarray:
    """The seeded hash every draw about a post derives from."""
    values = post_ids.to_list() if isinstance(post_ids, pl.Series) else post_ids
    return hash_strings(values, seed)


def shard_of(hashes: np.ndarray, num_shards: int) -> np.ndarray:
    """Each post's shard number (int32) from its ``post_hashes``."""
    return (mix(hashes, STREAM_SHARD) % np.uint64(num_shards)).astype(np.int32)


def in_validation(posts: pl.DataFrame, val_fraction: float) -> np.ndarray:
    """True for posts whose user falls in the validation split (by user_id, else post_id)."""
    if val_fraction <= 0:
        return np.zeros(posts.height, dtype=bool)
    users = posts.select(pl.coalesce("user_id", "post_id"))["user_id"].to_list()
    return stable_uniform(hash_strings(users, 0), STREAM_SPLIT) < val_fraction


def shard_keys(
    posts: pl.DataFrame, seed: int, num_shards: int, val_fraction: float, val_shards: int
) -> tuple[np.ndarray, np.ndarray]:
    """(shard key, in validation) per post: train posts get keys 0..num_shards-1 (their shard),
    validation posts num_shards + their validation shard, so one number routes every post."""
    val = in_validation(posts, val_fraction)
    hashes = post_hashes(posts["post_id"], seed)
    keys = np.where(val, num_shards + shard_of(hashes, val_shards), shard_of(hashes, num_shards))
    return keys, val


@dataclass(frozen=True)
class ClassList:
    """The ordered classes a shard set's ``labels`` index: the taxonomy's, in its order, minus
    classes with fewer than ``min_class_count`` posts."""

    taxonomy_index: np.ndarray  # int32: each class's position in the taxonomy
    class_ids: np.ndarray  # int64
    synset_ids: list[str]
    names: list[str]

    @classmethod
    def select(cls, taxonomy: Taxonomy, histogram: np.ndarray, min_class_count: int) -> ClassList:
        """The classes of ``taxonomy`` with at least ``min_class_count`` posts in ``histogram``
        (posts per taxonomy class)."""
        kept = np.flatnonzero(np.asarray(histogram) >= min_class_count).astype(np.int32)
        chosen = [taxonomy.classes[i] for i in kept]
        return cls(
            kept,
            np.array([c.class_id for c in chosen], dtype=np.int64),
            [c.synset_id for c in chosen],
            [c.name for c in chosen],
        )

    def __len__(self) -> int:
        return len(self.class_ids)

    def remap(self, taxonomy_size: int) -> np.ndarray:
        """taxonomy index -> class index (int32), -1 for classes not in the list."""
        table = np.full(taxonomy_size, -1, dtype=np.int32)
        table[self.taxonomy_index] = np.arange(len(self), dtype=np.int32)
        return table

    def sha256(self) -> str:
        """sha256 of the lines ``index\\tclass_id\\tsynset_id\\tname``: identifies the labels."""
        digest = hashlib.sha256()
        for index, (class_id, synset, name) in enumerate(
            zip(self.class_ids.tolist(), self.synset_ids, self.names, strict=True)
        ):
            digest.update(f"{index}\t{class_id}\t{synset}\t{name}\n".encode())
        return digest.hexdigest()

    def to_manifest(self) -> list[dict]:
        return [
            {"index": i, "class_id": class_id, "name": name, "synset_id": synset}
            for i, (class_id, synset, name) in enumerate(
                zip(self.class_ids.tolist(), self.synset_ids, self.names, strict=True)
            )
        ]


def relabel(posts: pl.DataFrame, remap: np.ndarray) -> tuple[pl.DataFrame, int]:
    """(posts with ``classes`` turned from taxonomy indices into class-list indices, number of
    posts left without a class). Classes outside the list are removed, and with them their
    element of ``noise_scores`` when the posts carry scores (the list stays aligned)."""
    offsets, values = list_layout(posts["classes"])
    mapped = remap[values]
    keep = mapped >= 0
    counts = np.add.reduceat(keep.astype(np.int64), offsets[:-1]) if len(values) else None
    if counts is None:
        return posts.clear(), posts.height
    new_offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    columns = [
        pl.Series(
            "classes", pa.ListArray.from_arrays(new_offsets, pa.array(mapped[keep], pa.int32()))
        )
    ]
    scores = aligned_scores(posts, offsets)
    if scores is not None:
        kept_scores = pa.ListArray.from_arrays(new_offsets, scores.filter(pa.array(keep)))
        columns.append(pl.Series("noise_scores", kept_scores, dtype=pl.List(pl.Float32)))
    relabelled = posts.with_columns(columns).filter(pl.Series(counts > 0))
    return relabelled, posts.height - relabelled.height


def aligned_scores(posts: pl.DataFrame, offsets: np.ndarray) -> pa.Array | None:
    """The flat float32 values of ``noise_scores`` (nulls kept: unscored labels), one per
    element of ``classes`` whose ``list_layout`` offsets are given; None when the posts carry
    no scores (no column, or null for every post: no noise pass)."""
    if "noise_scores" not in posts.columns or posts["noise_scores"].null_count() == posts.height:
        return None
    array = posts["noise_scores"].to_arrow()
    array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    array = array.cast(pa.list_(pa.float32()))
    own = array.offsets.to_numpy().astype(np.int64)
    if array.null_count or not np.array_equal(own - own[0], offsets):
        raise ValueError("noise_scores is not aligned with classes (one score per class)")
    return array.values.slice(own[0], own[-1] - own[0])


def list_layout(column: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, values) of a list column without nulls: row i is
    values[offsets[i]:offsets[i+1]]."""
    array = column.to_arrow()
    array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    if not isinstance(array, pa.ListArray):
        array = array.cast(pa.list_(array.type.value_type))
    offsets = array.offsets.to_numpy().astype(np.int64)
    values = array.values.to_numpy(zero_copy_only=False)
    return offsets - offsets[0], values[offsets[0] : offsets[-1]] if len(offsets) else values


@dataclass(frozen=True)
class ShardResult:
    """One shard's rows plus what the manifest needs from it."""

    table: pa.Table
    kept_posts: int  # posts written at least once
    resampled_out: int  # posts the sampler drew 0 copies for
    histogram_after: np.ndarray  # rows per class
    expected_after: np.ndarray  # sum of expected copies per class


def shard_examples(
    posts: pl.DataFrame,
    plan: SamplingPlan | None,
    classes: ClassList,
    seed: int,
    shard: int,
    noise_weights: bool = False,
) -> ShardResult:
    """One shard's training examples (SHARD_SCHEMA rows, in shard order).

    ``posts`` has post_id, media_uri, ``classes`` (class-list indices, ascending, at least one)
    and source_hashtags, and may have ``noise_scores`` (aligned with ``classes``; written as
    they are). ``plan`` None writes every post once (the validation split). A label's weight is
    1/k for a post of k labels; with ``noise_weights`` (the ``weight`` noise policy) it is
    (1/k) * (1 - s) for a label with noise score s, 1/k for an unscored one.
    """
    posts = posts.sort("post_id")
    offsets, values = list_layout(posts["classes"])
    values = values.astype(np.int64)
    scores = aligned_scores(posts, offsets)
    hashes = post_hashes(posts["post_id"], seed)
    if plan is None:
        expected = np.ones(posts.height)
        copies = np.ones(posts.height, dtype=np.int64)
    else:
        expected = plan.expected_copies(offsets, values)
        copies = plan.copies(offsets, values, hashes)
    n_classes = len(classes)
    histogram = class_histogram(offsets, values, copies, n_classes)
    expected_after = expected_class_counts(offsets, values, expected, n_classes)

    lengths = np.diff(offsets)
    label_offsets = pa.array(offsets.astype(np.int32))
    per_post = pa.table(
        {
            "post_id": posts["post_id"].to_arrow(),
            "media_uri": posts["media_uri"].to_arrow(),
            "labels": pa.ListArray.from_arrays(label_offsets, pa.array(values, pa.int32())),
            "class_ids": pa.ListArray.from_arrays(
                label_offsets, pa.array(classes.class_ids[values])
            ),
            "label_synsets": pa.ListArray.from_arrays(
                label_offsets,
                pa.array(classes.synset_ids, pa.string()).take(pa.array(values)),
            ),
            "label_weights": pa.ListArray.from_arrays(
                label_offsets, label_weights(lengths, scores if noise_weights else None)
            ),
            "noise_scores": (
                pa.nulls(posts.height, pa.list_(pa.float32()))
                if scores is None
                else pa.ListArray.from_arrays(label_offsets, scores)
            ),
            "sample_weight": pa.array(expected, pa.float32()),
            "source_hashtags": posts["source_hashtags"].to_arrow(),
        }
    )
    rows = np.repeat(np.arange(posts.height), copies)
    starts = np.repeat(np.cumsum(copies) - copies, copies)
    repeat = (np.arange(len(rows)) - starts).astype(np.int32)
    order = np.lexsort(
        (repeat, rows, mix(hashes[rows], mix(repeat.astype(np.uint64), STREAM_ORDER)))
    )
    rows, repeat = rows[order], repeat[order]  # rows are in post_id order, so ties break by it
    table = per_post.take(pa.array(rows, pa.int64()))
    table = table.add_column(1, "repeat", pa.array(repeat, pa.int32()))
    table = table.append_column("shard", pa.array(np.full(len(rows), shard, np.int32)))
    table = table.select(SHARD_SCHEMA.names).cast(SHARD_SCHEMA).combine_chunks()
    kept = int((copies > 0).sum())
    return ShardResult(table, kept, posts.height - kept, histogram, expected_after)


def label_weights(lengths: np.ndarray, scores: pa.Array | None = None) -> pa.Array:
    """Each label's target weight, flat (float32): 1/k for the k labels of a post (Mahajan et
    al.), times (1 - s) for a label with noise score s when ``scores`` are given (flat,
    aligned; null = unscored, weight 1/k). Computed in float64, rounded once to float32."""
    weights = np.repeat(1.0 / np.maximum(lengths, 1), lengths)
    if scores is not None:
        s = scores.fill_null(0).to_numpy(zero_copy_only=False).astype(np.float64)
        weights = weights * (1.0 - s)
    return pa.array(weights, pa.float32())


def shard_bytes(table: pa.Table, row_group_size: int = DEFAULT_ROW_GROUP_SIZE) -> bytes:
    """A shard as Parquet bytes: zstd, fixed row groups, no per-run metadata."""
    return parquet_bytes(table, row_group_size=row_group_size)
