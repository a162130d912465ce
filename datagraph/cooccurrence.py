"""Count how often synsets label the same post, before any graph library sees the data.

Input is a long table ``post_synsets`` with one row per (post, synset): columns ``post_id`` (any
type; compared as given) and ``synset_id`` (string). Duplicate rows are allowed (a post tagged
#dog and #doggo carries dog.n.01 twice) and count once; rows with a null post or synset are
ignored. Outputs:

- ``synset_post_counts``: synset_id, n_posts = posts that carry the synset at least once.
- ``cooccurrence_counts``: synset_a, synset_b, n_posts = posts that carry both, one row per
  unordered pair with ``synset_a < synset_b`` (code-point order), each post counted once per pair.

Both are sorted by their key columns, so equal inputs give equal tables.

**The cap.** A post with k distinct synsets yields k(k-1)/2 pairs, so a tag-stuffed post with
200 labels would add 19,900 pairs on its own. ``max_labels_per_post`` (default 64; None turns it
off) keeps, for each post with more synsets than that, the ones with the smallest xxh64 of the
UTF-8 bytes of ``f"{post_id}\\x1f{synset_id}"``: a deterministic choice that depends on nothing
but the post and the synset (not on row order, batch or runner) and that, unlike "alphabetically
first", favours no synset over another. Both functions apply the same cap, so PMI computed from
their outputs stays consistent.

**Scale.** The work is a self-join within posts on integer codes (polars, lazily): memory is
about 16 bytes per (post, synset pair) candidate plus the distinct pairs. For more posts than
fit at once, ``aggregate_batches`` counts batches one at a time and keeps the running totals
as 64-bit pair keys (16 bytes a pair); ``merge_counts`` sums count tables made elsewhere (Beam
workers, earlier runs). A post's rows must all be in one batch: split across batches, its
pairs would be lost.

>>> import pyarrow as pa
>>> posts = pa.table({"post_id": ["p1", "p1", "p1", "p2", "p2"],
...                   "synset_id": ["dog.n.01", "beach.n.01", "dog.n.01", "dog.n.01", "cat.n.01"]})
>>> cooccurrence_counts(posts).to_pylist()  # doctest: +NORMALIZE_WHITESPACE
[{'synset_a': 'beach.n.01', 'synset_b': 'dog.n.01', 'n_posts': 1},
 {'synset_a': 'cat.n.01', 'synset_b': 'dog.n.01', 'n_posts': 1}]
>>> synset_post_counts(posts).column("n_posts").to_pylist()
[1, 1, 2]
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from datagraph.errors import ConfigError, DatagraphError

DEFAULT_MAX_LABELS_PER_POST = 64

COOCCURRENCE_SCHEMA = pa.schema(
    [("synset_a", pa.string()), ("synset_b", pa.string()), ("n_posts", pa.int64())]
)
SYNSET_COUNT_SCHEMA = pa.schema([("synset_id", pa.string()), ("n_posts", pa.int64())])

_POST_SYNSET_COLUMNS = ("post_id", "synset_id")


def cooccurrence_counts(
    post_synsets: pa.Table | pa.RecordBatch,
    *,
    max_labels_per_post: int | None = DEFAULT_MAX_LABELS_PER_POST,
) -> pa.Table:
    """Posts per unordered synset pair (synset_a < synset_b), sorted by (synset_a, synset_b)."""
    return _pair_counts(*_post_labels(post_synsets, max_labels_per_post))


def synset_post_counts(
    post_synsets: pa.Table | pa.RecordBatch,
    *,
    max_labels_per_post: int | None = DEFAULT_MAX_LABELS_PER_POST,
) -> pa.Table:
    """Posts per synset (each post once, after the same cap as ``cooccurrence_counts``)."""
    return _synset_counts(*_post_labels(post_synsets, max_labels_per_post))


def merge_counts(tables: Iterable[pa.Table]) -> pa.Table:
    """Sum partial count tables by key: every column but ``n_posts`` is the key.

    All tables must have the same columns (both outputs above qualify). The result is sorted by
    the key columns, so merging batches in any order gives the same table.
    """
    return _sum_by_key(list(tables))


def aggregate_batches(
    batches: Iterable[pa.Table | pa.RecordBatch],
    *,
    max_labels_per_post: int | None = DEFAULT_MAX_LABELS_PER_POST,
) -> tuple[pa.Table, pa.Table]:
    """(synset counts, pair counts) over batches of post_synsets, equal to one call on all.

    Every post's rows must be in one batch (cut batches at post boundaries). Between batches a
    pair is kept as one 64-bit key of two synset numbers (16 bytes with its count); partial
    counts are summed whenever the unsummed ones outgrow the running total, so memory stays
    within about twice the distinct pairs plus one batch. Names and sorting come at the end.
    """
    vocabulary: dict[str, int] = {}  # synset id -> number, in order of first appearance
    synsets: list[pl.DataFrame] = []
    pairs: list[pl.DataFrame] = []
    for batch in batches:
        labels, names = _post_labels(batch, max_labels_per_post)
        number = np.array(
            [vocabulary.setdefault(name, len(vocabulary)) for name in names.to_pylist()],
            dtype=np.uint64,
        )
        counts = labels.group_by("code").agg(pl.len().cast(pl.Int64).alias("n_posts"))
        synsets.append(_keyed(number[counts["code"].to_numpy()], counts["n_posts"]))
        codes = _pair_codes(labels)
        a, b = number[codes["code"].to_numpy()], number[codes["code_b"].to_numpy()]
        pairs.append(_keyed((a << np.uint64(32)) | b, codes["n_posts"]))
        synsets = [_sum_keys(synsets)]
        if sum(part.height for part in pairs[1:]) >= pairs[0].height:
            pairs = [_sum_keys(pairs)]
    return _named_counts(_sum_keys(synsets), _sum_keys(pairs), list(vocabulary))


def _sum_keys(parts: list[pl.DataFrame]) -> pl.DataFrame:
    if not parts:
        return pl.DataFrame(schema={"key": pl.UInt64, "n_posts": pl.Int64})
    return pl.concat(parts).group_by("key").agg(pl.col("n_posts").sum())


def _keyed(keys: np.ndarray, n_posts: pl.Series) -> pl.DataFrame:
    return pl.DataFrame({"key": pl.Series(keys, dtype=pl.UInt64), "n_posts": n_posts})


def _named_counts(
    synsets: pl.DataFrame, pairs: pl.DataFrame, vocabulary: list[str]
) -> tuple[pa.Table, pa.Table]:
    """Numbered counts back to synset ids, sorted by id (via each number's rank by name)."""
    names = pa.array(vocabulary, pa.string())
    rank = np.empty(len(vocabulary), dtype=np.uint64)
    rank[pc.sort_indices(names).to_numpy()] = np.arange(len(vocabulary), dtype=np.uint64)
    synset_key = synsets["key"].to_numpy()
    synset_order = np.argsort(rank[synset_key], kind="stable")
    pair_key = pairs["key"].to_numpy()
    a, b = pair_key >> np.uint64(32), pair_key & np.uint64(0xFFFFFFFF)
    pair_order = np.argsort((rank[a] << np.uint64(32)) | rank[b], kind="stable")
    synset_table = pa.table(
        {
            "synset_id": names.take(synset_key[synset_order]),
            "n_posts": synsets["n_posts"].to_numpy()[synset_order],
        },
        schema=SYNSET_COUNT_SCHEMA,
    )
    pair_table = pa.table(
        {
            "synset_a": names.take(a[pair_order]),
            "synset_b": names.take(b[pair_order]),
            "n_posts": pairs["n_posts"].to_numpy()[pair_order],
        },
        schema=COOCCURRENCE_SCHEMA,
    )
    return synset_table, pair_table


def _pair_codes(labels: pl.DataFrame) -> pl.DataFrame:
    """(code, code_b, n_posts) for code < code_b: the self-join within posts."""
    lazy = labels.lazy()
    return (
        lazy.join(lazy, on="post", suffix="_b")
        .filter(pl.col("code") < pl.col("code_b"))
        .group_by("code", "code_b")
        .agg(pl.len().cast(pl.Int64).alias("n_posts"))
        .sort("code", "code_b")
        .collect()
    )


def _pair_counts(labels: pl.DataFrame, names: pa.Array) -> pa.Table:
    if labels.height == 0:
        return COOCCURRENCE_SCHEMA.empty_table()
    pairs = _pair_codes(labels)
    return pa.table(
        {
            "synset_a": names.take(pairs["code"].to_arrow()),
            "synset_b": names.take(pairs["code_b"].to_arrow()),
            "n_posts": pairs["n_posts"].to_arrow(),
        },
        schema=COOCCURRENCE_SCHEMA,
    )


def _synset_counts(labels: pl.DataFrame, names: pa.Array) -> pa.Table:
    counts = labels.group_by("code").agg(pl.len().cast(pl.Int64).alias("n_posts")).sort("code")
    return pa.table(
        {
            "synset_id": names.take(counts["code"].to_arrow()),
            "n_posts": counts["n_posts"].to_arrow(),
        },
        schema=SYNSET_COUNT_SCHEMA,
    )


def _sum_by_key(tables: list[pa.Table]) -> pa.Table:
    if not tables:
        raise ConfigError("merge_counts needs at least one count table")
    columns = tables[0].column_names
    if "n_posts" not in columns:
        raise DatagraphError(f"count table has no n_posts column (columns: {columns})")
    for table in tables[1:]:
        if table.column_names != columns:
            raise DatagraphError(
                f"count tables differ in columns: {columns} and {table.column_names}"
            )
    keys = [c for c in columns if c != "n_posts"]
    schema = tables[0].schema
    non_empty = [pl.from_arrow(t) for t in tables if t.num_rows]
    if not non_empty:
        return schema.empty_table()
    merged = pl.concat(non_empty, how="vertical").group_by(keys).agg(pl.col("n_posts").sum())
    return merged.sort(keys).to_arrow().cast(schema)


def _post_labels(
    post_synsets: pa.Table | pa.RecordBatch, max_labels_per_post: int | None
) -> tuple[pl.DataFrame, pa.Array]:
    """Distinct (post, synset) as integer codes after the cap, and the code -> synset names.

    Synset codes follow code-point order of the ids, so ``code_a < code_b`` means
    ``synset_a < synset_b``.
    """
    if max_labels_per_post is not None and max_labels_per_post < 2:
        raise ConfigError(f"max_labels_per_post must be at least 2, got {max_labels_per_post}")
    missing = [c for c in _POST_SYNSET_COLUMNS if c not in post_synsets.schema.names]
    if missing:
        raise DatagraphError(
            f"post_synsets table lacks column(s) {', '.join(missing)} "
            f"(has {', '.join(post_synsets.schema.names)})"
        )
    table = post_synsets
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    frame = pl.from_arrow(table.select(list(_POST_SYNSET_COLUMNS)))
    if frame.schema["synset_id"] != pl.String:
        raise DatagraphError(
            f"post_synsets.synset_id must be strings, got {frame.schema['synset_id']}"
        )
    frame = frame.drop_nulls()
    names = frame.lazy().select(pl.col("synset_id").unique()).sort("synset_id")
    names = names.with_columns(code=pl.int_range(pl.len(), dtype=pl.UInt32)).collect()
    posts = frame.lazy().select(pl.col("post_id").unique())
    posts = posts.with_columns(post=pl.int_range(pl.len(), dtype=pl.UInt32))
    labels = (
        frame.lazy()
        .join(names.lazy(), on="synset_id")
        .join(posts, on="post_id")
        .select("post", "code", "post_id")
        .unique(subset=["post", "code"])
        .collect()
    )
    name_array = names["synset_id"].to_arrow().cast(pa.string())
    if max_labels_per_post is not None:
        labels = _cap(labels, name_array, max_labels_per_post)
    return labels.select("post", "code"), name_array


def cap_post_labels(
    post_id: str, synset_ids: Iterable[str], cap: int | None = DEFAULT_MAX_LABELS_PER_POST
) -> list[str]:
    """One post's distinct synsets after the cap, sorted: the same choice as the table
    functions make (the ``cap`` smallest xxh64 of ``f"{post_id}\\x1f{synset_id}"``)."""
    if cap is not None and cap < 2:
        raise ConfigError(f"max_labels_per_post must be at least 2, got {cap}")
    distinct = sorted(set(synset_ids))
    if cap is None or len(distinct) <= cap:
        return distinct

    def key(synset_id: str) -> int:
        return xxhash.xxh64_intdigest(f"{post_id}\x1f{synset_id}".encode())

    return sorted(sorted(distinct, key=lambda s: (key(s), s))[:cap])


def _cap(labels: pl.DataFrame, names: pa.Array, cap: int) -> pl.DataFrame:
    """Keep at most ``cap`` synsets per post: the smallest xxh64 of (post_id, synset_id)."""
    sizes = labels.group_by("post").agg(pl.len().alias("k"))
    crowded = sizes.filter(pl.col("k") > cap).select("post")
    if crowded.height == 0:
        return labels
    over = labels.join(crowded, on="post")
    synset_names = names.to_pylist()
    keys = [
        xxhash.xxh64_intdigest(f"{post_id}\x1f{synset_names[code]}".encode())
        for post_id, code in zip(over["post_id"].to_list(), over["code"].to_list(), strict=True)
    ]
    kept = (
        over.with_columns(pl.Series("rank_key", keys, dtype=pl.UInt64))
        .sort("post", "rank_key", "code")
        .filter(pl.int_range(pl.len()).over("post") < cap)
        .drop("rank_key")
    )
    return pl.concat([labels.join(crowded, on="post", how="anti"), kept.select(labels.columns)])
