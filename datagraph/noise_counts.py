"""Co-occurrence counts for the label noise score, and a label's NPMI with its post's other units.

A *unit* is what is counted per post: ``"synset"`` (the label graph's counts, where a post's
units are the synsets of its mapped tags) or ``"tag"`` (canonical hashtags, mapped or not: a
post's units are the canonical forms of all its tags). Tags give more context, because most
hashtags on social media map to no synset ("love", "instagood", "tbt" still say what kind of
post it is); synsets are what a saved label graph has.

``CooccurrenceCounts`` holds posts per unit, posts per unordered unit pair (as sorted 64-bit
keys of two unit codes, looked up with ``np.searchsorted``) and the number of posts N. Its
``npmi`` is the smoothed, normalized PMI of whole arrays of unit pairs::

    expected = n_a * n_b / N
    pmi      = ln((n_ab + alpha) / (expected + alpha))
    npmi     = pmi / -ln((n_ab + alpha) / (N + 2 * alpha))

``alpha`` (default 0.25, chosen on the dev half of HARRISON) keeps a pair never seen together
finite and pulls rare evidence toward 0: two tags each seen in 5 of 29k posts and never together
give an npmi near 0, two tags seen in 1,500 posts each and never together a clearly negative one.

**Leave one out.** When the counts include the posts being scored (the usual case: the graph
was built from the corpus the training labels come from, or the counts are computed over the
posts given), each scored post has added 1 to n_a, n_b, n_ab and N for every pair of its own
units. ``npmi(..., own=True)`` removes that, so a label is judged by the *other* posts only; a
wrong tag that appears on one post would otherwise "co-occur" with its neighbours by its own
doing. Counts made from other posts (a graph of last month's data) pass ``own=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datagraph.cooccurrence import cooccurrence_counts, synset_post_counts
from datagraph.errors import ConfigError, DatagraphError

Unit = Literal["synset", "tag"]
UNITS: tuple[str, ...] = ("synset", "tag")
DEFAULT_ALPHA = 0.25  # chosen on the dev half of HARRISON (benchmarks/noise.py; docs/noise.md)


@dataclass(frozen=True)
class CooccurrenceCounts:
    """Posts per unit and per unit pair, and N (see the module docstring).

    ``names`` are the units in code-point order (a unit's code is its position); ``counts``
    the posts per unit; ``pair_keys`` the sorted ``(code_a << 32) | code_b`` keys (a < b) with
    ``pair_counts`` beside them; ``includes_scored_posts`` whether the posts being scored were
    counted (then their own contribution is left out; see the module docstring).
    """

    unit: Unit
    names: pa.Array
    counts: np.ndarray
    pair_keys: np.ndarray
    pair_counts: np.ndarray
    total_posts: int
    includes_scored_posts: bool = True

    # --- construction ---------------------------------------------------------------------
    @classmethod
    def from_tables(
        cls,
        unit_counts: pa.Table,
        pair_counts: pa.Table,
        total_posts: int,
        *,
        unit: Unit = "synset",
        includes_scored_posts: bool = True,
    ) -> CooccurrenceCounts:
        """From count tables as ``datagraph.cooccurrence`` writes them: (synset_id, n_posts)
        and (synset_a, synset_b, n_posts); the id columns hold whatever the unit is."""
        if unit not in UNITS:
            raise ConfigError(f"cooccurrence unit must be one of {UNITS}, got {unit!r}")
        if total_posts < 1:
            raise ConfigError(f"cooccurrence counts need total_posts >= 1, got {total_posts}")
        _require(unit_counts, ("synset_id", "n_posts"), "unit counts")
        _require(pair_counts, ("synset_a", "synset_b", "n_posts"), "pair counts")
        ids = unit_counts.column("synset_id").combine_chunks().cast(pa.string())
        order = pc.sort_indices(ids).to_numpy()
        names = ids.take(pa.array(order))
        if names.null_count or len(pc.unique(names)) != len(names):
            raise DatagraphError("unit counts: ids must be distinct and not null")
        counts = unit_counts.column("n_posts").to_numpy(zero_copy_only=False)[order]
        a = _codes(names, pair_counts.column("synset_a"))
        b = _codes(names, pair_counts.column("synset_b"))
        n = pair_counts.column("n_posts").to_numpy(zero_copy_only=False).astype(np.int64)
        known = (a >= 0) & (b >= 0) & (a != b)
        a, b, n = a[known], b[known], n[known]
        low, high = np.minimum(a, b).astype(np.uint64), np.maximum(a, b).astype(np.uint64)
        keys = (low << np.uint64(32)) | high
        keys, inverse = np.unique(keys, return_inverse=True)
        summed = np.bincount(inverse, weights=n, minlength=len(keys)).astype(np.int64)
        return cls(
            unit=unit,
            names=names,
            counts=counts.astype(np.int64),
            pair_keys=keys,
            pair_counts=summed,
            total_posts=int(total_posts),
            includes_scored_posts=includes_scored_posts,
        )

    @classmethod
    def from_graph(cls, graph, *, includes_scored_posts: bool = True) -> CooccurrenceCounts:
        """Synset counts of a ``LabelGraph``: synset nodes' n_posts, cooccurs edges' n_posts,
        and N = the graph's ``total_posts`` (build_info). Unit: ``"synset"``."""
        total = graph.build_info.get("total_posts")
        if not total:
            raise DatagraphError(
                "the label graph records no total_posts (build_info); rebuild it with counts, "
                "or pass CooccurrenceCounts made from the posts"
            )
        nodes = graph.nodes.filter(pc.equal(graph.nodes.column("kind"), "synset"))
        nodes = nodes.filter(pc.is_valid(nodes.column("n_posts")))
        edges = graph.edges.filter(pc.equal(graph.edges.column("kind"), "cooccurs"))
        return cls.from_tables(
            pa.table({"synset_id": nodes.column("node_id"), "n_posts": nodes.column("n_posts")}),
            pa.table(
                {
                    "synset_a": edges.column("source"),
                    "synset_b": edges.column("target"),
                    "n_posts": edges.column("n_posts").fill_null(0),
                }
            ),
            int(total),
            unit="synset",
            includes_scored_posts=includes_scored_posts,
        )

    @classmethod
    def from_post_units(
        cls,
        post_units: pa.Table,
        *,
        unit: Unit,
        total_posts: int | None = None,
        max_units_per_post: int | None = None,
    ) -> CooccurrenceCounts:
        """Counts over (post_id, unit) rows, with ``datagraph.cooccurrence`` (duplicates count
        once). N = ``total_posts``, default the distinct posts in the table.

        ``max_units_per_post`` is that module's per-post cap (None: every pair counts, which
        keeps leave-one-out exact; a tag-stuffed post then adds k(k-1)/2 pairs).
        """
        _require(post_units, ("post_id", "unit"), "post units")
        rows = post_units.select(["post_id", "unit"]).rename_columns(["post_id", "synset_id"])
        if total_posts is None:
            total_posts = max(1, len(pc.unique(rows.column("post_id"))))
        return cls.from_tables(
            synset_post_counts(rows, max_labels_per_post=max_units_per_post),
            cooccurrence_counts(rows, max_labels_per_post=max_units_per_post),
            total_posts,
            unit=unit,
            includes_scored_posts=True,
        )

    # --- lookups ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.names)

    def codes(self, units: pa.Array | pa.ChunkedArray | list[str]) -> np.ndarray:
        """Each unit's code (int64), -1 for a unit the counts do not know (or null)."""
        return _codes(self.names, units)

    def pair_count(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Posts carrying both units, for arrays of codes (0 for unknown pairs or codes)."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        out = np.zeros(len(a), dtype=np.int64)
        valid = (a >= 0) & (b >= 0) & (a != b)
        if not valid.any() or len(self.pair_keys) == 0:
            return out
        low = np.minimum(a[valid], b[valid]).astype(np.uint64)
        high = np.maximum(a[valid], b[valid]).astype(np.uint64)
        keys = (low << np.uint64(32)) | high
        position = np.searchsorted(self.pair_keys, keys)
        position = np.minimum(position, len(self.pair_keys) - 1)
        found = self.pair_keys[position] == keys
        out[np.flatnonzero(valid)[found]] = self.pair_counts[position[found]]
        return out

    def npmi(
        self,
        a: np.ndarray,
        b: np.ndarray,
        *,
        own: bool | None = None,
        alpha: float = DEFAULT_ALPHA,
    ) -> np.ndarray:
        """Smoothed NPMI of unit pairs (float64; NaN where a code is unknown).

        ``own`` (default: ``includes_scored_posts``) removes the scored post's own count from
        n_a, n_b, n_ab and N: both units of every pair must be on that post.
        """
        if alpha <= 0:
            raise ConfigError(f"npmi alpha must be > 0, got {alpha}")
        own = self.includes_scored_posts if own is None else own
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        known = (a >= 0) & (b >= 0)
        safe_a, safe_b = np.where(known, a, 0), np.where(known, b, 0)
        drop = 1.0 if own else 0.0
        n_ab = np.maximum(self.pair_count(a, b) - drop, 0.0)
        n_a = np.maximum(self.counts[safe_a] - drop, 0.0) if len(self) else np.zeros(len(a))
        n_b = np.maximum(self.counts[safe_b] - drop, 0.0) if len(self) else np.zeros(len(a))
        total = max(self.total_posts - drop, 1.0)
        expected = n_a * n_b / total
        pmi = np.log((n_ab + alpha) / (expected + alpha))
        scale = -np.log((n_ab + alpha) / (total + 2 * alpha))
        value = pmi / np.maximum(scale, 1e-9)
        return np.where(known, value, np.nan)


def _codes(names: pa.Array, units: object) -> np.ndarray:
    values = (
        units if isinstance(units, pa.Array | pa.ChunkedArray) else pa.array(units, pa.string())
    )
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    index = pc.index_in(values.cast(pa.string()), value_set=names)
    return index.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _require(table: pa.Table, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise DatagraphError(
            f"{what} table lacks column(s) {', '.join(missing)} "
            f"(has {', '.join(table.column_names)})"
        )
