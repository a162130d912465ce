"""Labelling posts by lookup: raw tag -> taxonomy class, then each post's distinct classes.

Vocabulary first: the graph's mapping table already says, once per distinct raw tag, which
synset and class the tag means. ``label_map`` turns it into a small lookup table (only tags that
reach a class of the chosen taxonomy); ``label_posts`` labels a whole frame of posts with one
join, never a model call or a Python loop per post.

When the shard set's taxonomy is not the one the graph was mapped with, the graph's vocabulary
is mapped again under the new taxonomy (``remap_vocabulary``): the ranking of senses depends on
the taxonomy (a sense that reaches an LVIS class is preferred when labelling for LVIS), so
re-projecting the old synsets would not give the same labels.

**Noise scores** (``label_posts_with_noise``, docs/shards.md). A training label is a class of a
post, reached from one or more of its raw tags. Its noise score is the *minimum* of the
(post_id, raw_tag) scores of those tags (a class is only as doubtful as its best evidence),
null when none of them is scored. ``NoisePolicy`` then says what the score does: ``none``
records it; ``drop:T`` removes labels scoring at least T before anything else sees them (a
post left without a label is dropped as ``noisy_labels``; ``drop`` alone is ``drop:0.5``,
``DEFAULT_DROP_THRESHOLD``); ``weight`` keeps every label and
lets ``datagraph.shards`` scale its target weight by (1 - score).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from datagraph.errors import ConfigError
from datagraph.taxonomy import Taxonomy

LABEL_MAP_SCHEMA = pa.schema(
    [
        ("raw_tag", pa.string()),
        ("class_index", pa.int32()),  # 0-based position in the taxonomy's class list
        ("class_id", pa.int64()),  # the taxonomy's own id
        ("synset_id", pa.string()),  # the tag's synset (the class's synset or below it)
        ("confidence", pa.float32()),
    ]
)


def label_map(mapping: pa.Table, taxonomy: Taxonomy) -> pa.Table:
    """The rows of a mapping table (``schema.MAPPING_SCHEMA``, made with ``taxonomy``) whose
    class is one of the taxonomy's, as LABEL_MAP_SCHEMA sorted by raw_tag."""
    mapped = mapping.filter(
        pc.and_(pc.is_valid(mapping.column("synset_id")), pc.is_valid(mapping.column("class_id")))
    )
    rows = []
    for raw_tag, class_id, synset_id, confidence in zip(
        mapped.column("raw_tag").to_pylist(),
        mapped.column("class_id").to_pylist(),
        mapped.column("synset_id").to_pylist(),
        mapped.column("confidence").to_pylist(),
        strict=True,
    ):
        index = taxonomy.index_of_class_id(class_id)
        if index is not None:
            rows.append((raw_tag, index, class_id, synset_id, confidence))
    rows.sort()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(LABEL_MAP_SCHEMA)
    return pa.Table.from_arrays(
        [pa.array(list(c), f.type) for c, f in zip(columns, LABEL_MAP_SCHEMA, strict=True)],
        schema=LABEL_MAP_SCHEMA,
    )


def remap_vocabulary(
    tags: Sequence[str], taxonomy: Taxonomy, aliases: Sequence[str] = (), **ranking
):
    """The mapping table of ``tags`` under ``taxonomy`` (a HashtagMapper, one call).

    ``ranking`` passes the mapper's ``embedder`` and ``corpus`` on, so a graph mapped with a
    model and its corpus neighbours is remapped the same way."""
    from datagraph.mapping import HashtagMapper

    return HashtagMapper(taxonomy, alias_paths=aliases, **ranking).map(list(tags))


NOISE_POLICIES = ("none", "drop", "weight")
NOISE_SCORE_BINS = 10  # the manifest's score histogram: [0, 0.1), ..., [0.9, 1]
# ``drop`` without a threshold. A noise score is a probability fitted by logistic regression
# (datagraph.noise_weights), and on data like the data it was fitted on it is calibrated: on
# HARRISON's held-out half the mean score is 0.038 against 3.8-4.1% injected labels, and the
# labels scoring >= 0.5 are injected 61-66% of the time (docs/noise.md, "Dropping labels").
# Dropping a label when it is more likely wrong than right is the threshold that minimizes the
# expected number of wrong decisions, a lost good label costing as much as a kept bad one.
DEFAULT_DROP_THRESHOLD = 0.5


@dataclass(frozen=True)
class NoisePolicy:
    """What build_shards does with label noise scores (``--noise-policy``).

    ``none``: scores recorded, nothing else changes. ``drop`` with ``threshold`` T in (0, 1]:
    labels scoring at least T removed (unscored labels kept); ``drop`` alone takes
    ``DEFAULT_DROP_THRESHOLD`` (0.5). ``weight``: every label kept, its
    target weight (1/k) times (1 - score).

    >>> NoisePolicy.parse("drop:0.8")
    NoisePolicy(kind='drop', threshold=0.8)
    >>> str(NoisePolicy.parse("weight"))
    'weight'
    >>> str(NoisePolicy.parse("drop"))
    'drop:0.5'
    """

    kind: str = "none"
    threshold: float | None = None

    @classmethod
    def parse(cls, text: str) -> NoisePolicy:
        """``none`` | ``weight`` | ``drop`` | ``drop:T``; a ConfigError says what is accepted."""
        kind, sep, value = text.strip().partition(":")
        threshold = None
        if kind == "drop":
            try:
                threshold = float(value) if sep else DEFAULT_DROP_THRESHOLD
            except ValueError:
                threshold = math.nan
        elif sep:
            kind = text  # "none:1" or "weight:0.5" are not policies
        policy = cls(kind, threshold)
        policy.check()
        return policy

    def check(self) -> None:
        """Raise ConfigError for a policy no run can use."""
        if self.kind not in NOISE_POLICIES:
            raise ConfigError(
                f"unknown noise policy {self.kind!r}: use none, weight, drop (drop:"
                f"{DEFAULT_DROP_THRESHOLD}) or drop:T (0 < T <= 1)"
            )
        if self.kind == "drop":
            t = self.threshold
            if t is None or not (0 < t <= 1):  # NaN fails the comparison too
                raise ConfigError(
                    "--noise-policy drop needs a threshold in (0, 1]: drop:0.8 drops labels "
                    f"whose noise score is 0.8 or more (drop alone: drop:{DEFAULT_DROP_THRESHOLD})"
                )
        elif self.threshold is not None:
            raise ConfigError(f"noise policy {self.kind} takes no threshold")

    def __str__(self) -> str:
        return f"drop:{self.threshold!r}" if self.kind == "drop" else self.kind


@dataclass(frozen=True)
class Labelling:
    """``label_posts_with_noise``'s result: the labelled posts and what labelling counted.

    Label counts are of (post, class) labels the label map gave, before the policy (so
    ``labels_scored + labels_unscored`` is every label found); ``score_histogram`` counts the
    scored ones in ``NOISE_SCORE_BINS`` equal bins of [0, 1] (a score of 1 in the last)."""

    posts: pl.DataFrame
    no_label: int  # posts the label map gives no class
    noisy_labels: int = 0  # posts whose every class was dropped by the policy
    labels_scored: int = 0
    labels_unscored: int = 0
    labels_dropped: int = 0
    labels_down_weighted: int = 0  # weight policy: labels with a score above 0
    score_histogram: np.ndarray = field(
        default_factory=lambda: np.zeros(NOISE_SCORE_BINS, dtype=np.int64)
    )


def label_posts(posts: pl.DataFrame, labels: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """(labelled posts, number of posts without a label).

    ``posts`` has post_id and ``tags`` (a post's distinct raw tags) and any other columns;
    ``labels`` is a label map (raw_tag, class_index, ...). The result keeps the posts that have
    at least one class, in their order, with ``classes`` (distinct class indices, ascending)
    and ``source_hashtags`` (the raw tags that gave them, sorted) in place of ``tags``.
    """
    labelling = label_posts_with_noise(posts, labels)
    return labelling.posts.drop("noise_scores"), labelling.no_label


def label_posts_with_noise(
    posts: pl.DataFrame,
    labels: pl.DataFrame,
    noise: pl.DataFrame | None = None,
    policy: NoisePolicy = NoisePolicy(),
) -> Labelling:
    """``label_posts`` with each label's noise score, and ``policy`` applied.

    ``noise`` has post_id, raw_tag, noise_score (rows of any posts, in any order; null scores
    and rows of other posts are ignored); None means no noise pass (``noise_scores`` null). The
    result's posts also have ``noise_scores`` (list of Float32 aligned with ``classes``; an
    element is null when none of the label's tags is scored). Under ``drop:T`` the labels
    scoring at least T are gone from ``classes``, ``noise_scores`` and, with their tags, from
    ``source_hashtags``; posts left without a label are counted in ``noisy_labels``.

    Example: tags #puppy (0.9) and #dog (0.2) both give class 3, #sky (unscored) gives 7: the
    labels are [3, 7] with scores [0.2, null]; drop:0.8 keeps both (3 has good evidence).
    """
    row = pl.int_range(pl.len(), dtype=pl.UInt32).alias("row")
    long = (
        posts.select(row, "post_id", pl.col("tags").alias("raw_tag"))
        .explode("raw_tag")
        .join(labels.select("raw_tag", "class_index"), on="raw_tag", how="inner")
    )
    if noise is not None and noise.height:
        best = (
            noise.select("post_id", "raw_tag", pl.col("noise_score").cast(pl.Float32))
            .drop_nulls()
            .group_by("post_id", "raw_tag")
            .agg(pl.col("noise_score").min())
        )
        long = long.join(best, on=["post_id", "raw_tag"], how="left")
    else:
        long = long.with_columns(pl.lit(None, dtype=pl.Float32).alias("noise_score"))
    per_label = long.group_by("row", "class_index").agg(pl.col("noise_score").min())
    found = per_label["row"].n_unique()
    scores = per_label["noise_score"].drop_nulls().to_numpy().astype(np.float64)
    counts = {
        "labels_scored": len(scores),
        "labels_unscored": per_label.height - len(scores),
        "score_histogram": np.bincount(
            np.clip((scores * NOISE_SCORE_BINS).astype(np.int64), 0, NOISE_SCORE_BINS - 1),
            minlength=NOISE_SCORE_BINS,
        ),
    }
    if policy.kind == "drop":
        noisy = pl.col("noise_score").cast(pl.Float64) >= policy.threshold
        dropped = per_label.filter(noisy.fill_null(False))
        per_label = per_label.join(dropped, on=["row", "class_index"], how="anti")
        counts["labels_dropped"] = dropped.height
    elif policy.kind == "weight":
        counts["labels_down_weighted"] = int((scores > 0).sum())
    per_post = (
        per_label.sort("row", "class_index")
        .group_by("row", maintain_order=True)
        .agg(pl.col("class_index").alias("classes"), pl.col("noise_score").alias("noise_scores"))
    )
    source = (
        long.join(per_label, on=["row", "class_index"], how="semi")
        .group_by("row")
        .agg(pl.col("raw_tag").unique().sort().alias("source_hashtags"))
    )
    labelled = (
        posts.with_columns(row)
        .join(per_post.join(source, on="row"), on="row", how="inner")
        .sort("row")
        .drop("row", "tags")
    )
    if noise is None:
        labelled = labelled.with_columns(
            pl.lit(None, dtype=pl.List(pl.Float32)).alias("noise_scores")
        )
    return Labelling(
        labelled,
        no_label=posts.height - found,
        noisy_labels=found - labelled.height,
        **counts,
    )
