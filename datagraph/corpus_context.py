"""A tag's corpus neighbours, for ranking its senses by how the corpus uses it.

WordNet's sense frequencies come from 1960s prose; a hashtag's sense comes from the posts it is
on. #model beside #fashion #ootd #makeup is a fashion model, not a scale model; #cake beside
#chocolate #birthday is the baked good, not a fish cake; #spring beside #flowers #blossom is the
season. ``TagNeighbours`` keeps, for each canonical tag, the tags it is most associated with
over the whole corpus (not per post: the mapping stays one per distinct tag, vocabulary first),
and ``HashtagMapper(corpus=...)`` compares each candidate sense's lemmas and gloss with the
embedding of those neighbours (datagraph.mapping, datagraph.senses).

Association is positive PMI over posts, ``ln(n_ab * N / (n_a * n_b))``, kept where the pair
shares at least ``min_pair_posts`` posts (one shared post is chance at corpus scale), the top
``k`` per tag, ties broken by name so the neighbours are the same on every run::

    >>> neighbours = TagNeighbours.from_tag_lists(
    ...     [["cake", "chocolate"], ["cake", "chocolate", "birthday"], ["cake", "dog"], ["dog"]],
    ...     min_pair_posts=2,
    ... )
    >>> neighbours.of("cake")
    [('chocolate', 0.28768207245178085)]

Counted by canonical tag, mapped or not: most neighbours of a tag ("fashion", "ootd", "yummy")
map to no synset and still say what the posts are about.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from datagraph.errors import ConfigError, DatagraphError, InputDataError
from datagraph.noise_counts import CooccurrenceCounts

DEFAULT_NEIGHBOURS = 20  # chosen on the dev half of the HARRISON gold (10, 20, 40 tried)
DEFAULT_MIN_PAIR_POSTS = 2
# the tag count files of a corpus, as pipelines.count_tags (and score_noise's embed pass) write
TAG_COUNTS_FILE = "tag_counts.parquet"  # (synset_id = canonical tag, n_posts)
TAG_PAIRS_FILE = "tag_pair_counts.parquet"  # (synset_a, synset_b, n_posts)
TAG_TOTAL_FILE = "tag_total.json"  # {"total_posts": N}
NEIGHBOURS_SCHEMA = pa.schema(
    [("tag", pa.string()), ("neighbour", pa.string()), ("weight", pa.float64())]
)


def read_tag_counts(directory: Path | str) -> CooccurrenceCounts:
    """A corpus's tag co-occurrence counts from the three files above (unit ``"tag"``)."""
    directory = Path(directory)
    missing = [
        name
        for name in (TAG_COUNTS_FILE, TAG_PAIRS_FILE, TAG_TOTAL_FILE)
        if not (directory / name).is_file()
    ]
    if missing:
        raise ConfigError(
            f"{directory}: no tag co-occurrence counts ({', '.join(missing)} missing); make them "
            "with python -m pipelines.count_tags --input POSTS --output DIR (or pass a "
            "score_noise output)"
        )
    try:
        total = int(json.loads((directory / TAG_TOTAL_FILE).read_text())["total_posts"])
        units = pq.read_table(directory / TAG_COUNTS_FILE)
        pairs = pq.read_table(directory / TAG_PAIRS_FILE)
        return CooccurrenceCounts.from_tables(units, pairs, max(total, 1), unit="tag")
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as error:
        raise InputDataError(f"{directory}: cannot read its tag counts: {error}") from error
    except DatagraphError as error:  # a table without the columns the counts need
        raise InputDataError(f"{directory}: {error}") from error


@dataclass(frozen=True)
class TagNeighbours:
    """Per canonical tag, its top neighbours by positive PMI (see the module docstring).

    ``table`` has one row per (tag, neighbour) with the PMI as ``weight``, sorted by tag, then
    weight (descending), then neighbour.
    """

    table: pl.DataFrame
    k: int = DEFAULT_NEIGHBOURS

    @classmethod
    def from_counts(
        cls,
        counts: CooccurrenceCounts,
        *,
        k: int = DEFAULT_NEIGHBOURS,
        min_pair_posts: int = DEFAULT_MIN_PAIR_POSTS,
    ) -> TagNeighbours:
        """From tag-level co-occurrence counts (``CooccurrenceCounts(unit="tag")``, as
        score_noise's embed pass writes them, or ``from_post_units``)."""
        if k < 1:
            raise ConfigError(f"neighbours per tag must be >= 1, got {k}")
        if min_pair_posts < 1:
            raise ConfigError(f"min_pair_posts must be >= 1, got {min_pair_posts}")
        keys = counts.pair_keys.astype(np.uint64)
        a = (keys >> np.uint64(32)).astype(np.int64)
        b = (keys & np.uint64(0xFFFFFFFF)).astype(np.int64)
        n_ab = counts.pair_counts.astype(np.float64)
        keep = n_ab >= min_pair_posts
        a, b, n_ab = a[keep], b[keep], n_ab[keep]
        n = counts.counts.astype(np.float64)
        # ranked by the ratio itself: products and quotients of integers are correctly rounded,
        # so the top k are the same on every CPU, whatever its vectorized log returns
        ratio = n_ab * counts.total_posts / (n[a] * n[b])
        positive = ratio > 1
        a, b, ratio = a[positive], b[positive], ratio[positive]
        names = pl.Series("name", counts.names.to_pylist(), dtype=pl.Utf8)
        pairs = pl.DataFrame(
            {
                "tag": np.concatenate([a, b]),
                "neighbour": np.concatenate([b, a]),
                "ratio": np.concatenate([ratio, ratio]),
            }
        )
        pairs = pairs.with_columns(
            names.gather(pairs["tag"]).alias("tag"),
            names.gather(pairs["neighbour"]).alias("neighbour"),
        )
        table = (
            pairs.sort(["tag", "ratio", "neighbour"], descending=[False, True, False])
            .group_by("tag", maintain_order=True)
            .head(k)
            .with_columns(pl.col("ratio").log().alias("weight"))
            .select("tag", "neighbour", "weight")
        )
        return cls(table=table, k=k)

    @classmethod
    def from_tag_lists(
        cls,
        posts: Iterable[Sequence[str]],
        *,
        k: int = DEFAULT_NEIGHBOURS,
        min_pair_posts: int = DEFAULT_MIN_PAIR_POSTS,
    ) -> TagNeighbours:
        """From each post's canonical tags (a tag repeated on a post counts once)."""
        post_ids: list[int] = []
        units: list[str] = []
        total = 0
        for total, tags in enumerate(posts, start=1):
            for tag in tags:
                post_ids.append(total)
                units.append(tag)
        rows = pa.table(
            {"post_id": pa.array(post_ids, pa.int64()), "unit": pa.array(units, pa.string())}
        )
        counts = CooccurrenceCounts.from_post_units(rows, unit="tag", total_posts=max(total, 1))
        return cls.from_counts(counts, k=k, min_pair_posts=min_pair_posts)

    def write(self, path: Path | str) -> None:
        """As Parquet (NEIGHBOURS_SCHEMA), in the table's order, through a temporary file and a
        rename: the same bytes every run, and never a half-written file."""
        from datagraph.graph_files import write_atomic

        table = self.table.to_arrow().cast(NEIGHBOURS_SCHEMA)
        write_atomic(Path(path), lambda handle: pq.write_table(table, handle, compression="zstd"))

    @classmethod
    def read(cls, path: Path | str) -> TagNeighbours:
        """What ``write`` wrote (``k``: the longest neighbour list in the file)."""
        try:
            table = pq.read_table(path)
            if table.schema.names != NEIGHBOURS_SCHEMA.names:
                raise ValueError(
                    f"columns {table.schema.names}, expected {NEIGHBOURS_SCHEMA.names}"
                )
            frame = pl.from_arrow(table.cast(NEIGHBOURS_SCHEMA))
        except (OSError, ValueError, pa.ArrowException) as error:
            raise InputDataError(f"{path}: cannot read corpus neighbours: {error}") from error
        longest = frame.group_by("tag").len()["len"].max() if frame.height else None
        return cls(table=frame, k=int(longest) if longest else DEFAULT_NEIGHBOURS)

    def of(self, tag: str) -> list[tuple[str, float]]:
        """The neighbours of one canonical tag, strongest first ([] for an unknown tag)."""
        return self._index.get(tag, [])

    def __len__(self) -> int:
        """Tags that have at least one neighbour."""
        return len(self._index)

    @property
    def _index(self) -> dict[str, list[tuple[str, float]]]:
        index = self.__dict__.get("_index_cache")
        if index is None:
            index = {}
            for tag, neighbour, weight in self.table.iter_rows():
                index.setdefault(tag, []).append((neighbour, weight))
            object.__setattr__(self, "_index_cache", index)
        return index
