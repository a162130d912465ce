"""The rules of ``datagraph.dedup`` and the vocabulary counts as whole-column operations.

``datagraph.dedup`` states each rule for one ``PostRecord`` at a time; this module applies the
same rules to a polars frame of many posts at once, which is what the pipelines and the
engine-free reference run on (a Python object per post costs more than the rule itself).
A frame here has the PostRecord columns: post_id, user_id, created_at (UTC milliseconds),
media_sha256, media_phash (UInt64) and tags (distinct raw tags, sorted).

Every rule is local to one key (a post_id, a sha256, a phash band bucket, a user's tag set, a
tag), so a pipeline can split the posts into partitions by key hash (``partition_ids``) and
apply the rule to each partition alone: the union of the partitions' results is the result on
all posts. The tests check both against ``datagraph.dedup.deduplicate``.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from datagraph.dedup import (
    DEFAULT_KEEP_PER_USER_TAGSET,
    DEFAULT_MAX_DISTANCE,
    DROP_REASONS,
    NO_TIME,
    ExcludeSet,
    PostRecord,
    band_widths,
)
from datagraph.distinct import DEFAULT_LIMIT, DistinctSketch
from datagraph.extract import extract_hashtags

TAGS = pl.List(pl.String)
_FRAME_COLUMNS = ("post_id", "user_id", "created_at", "media_sha256", "media_phash", "tags", "home")
_PARTITION_SEED = 20261124  # fixed, so every worker process puts a key in the same partition


# --- posts -----------------------------------------------------------------------------------
def post_frame(posts: pa.Table, carry: tuple[str, ...] = ()) -> pl.DataFrame:
    """The PostRecord columns of a posts table (``schema.POST_SCHEMA``), plus the string
    columns named in ``carry`` (e.g. media_uri, which training shards need) unchanged.

    created_at becomes UTC milliseconds; ``tags`` are the hashtags field plus the caption's
    hashtags, distinct, sorted, without the ones that are empty once stripped of space and '#'
    (as ``datagraph.dedup.post_records``). The tags are built in long form (one row per post
    and tag), which polars does far faster than list operations per post.
    """
    frame = pl.from_arrow(
        posts.select(
            ["post_id", "user_id", "media_sha256", "media_phash", "hashtags"]
        ).append_column("created_at", posts["created_at"].cast(pa.int64()))
    )
    flat: list[str] = []
    offsets = [0]
    for caption in posts.column("caption").to_pylist():
        if caption:
            flat.extend(extract_hashtags(caption))
        offsets.append(len(flat))
    caption_tags = pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(flat, pa.string())
    )
    row = pl.int_range(pl.len(), dtype=pl.UInt32).alias("row")
    field_tags = frame.select(row, pl.col("hashtags").cast(TAGS).alias("tag")).explode("tag")
    text_tags = pl.DataFrame({"tag": pl.Series(caption_tags, dtype=TAGS)})
    text_tags = text_tags.select(row, "tag").explode("tag")
    long = pl.concat([field_tags, text_tags]).drop_nulls("tag")
    distinct = long["tag"].unique().to_list()
    kept = sorted(tag for tag in distinct if tag.strip().strip("#"))  # Python's notion of space
    number = pl.DataFrame(
        {"tag": kept, "id": pl.Series(range(len(kept)), dtype=pl.UInt64)},
        schema={"tag": pl.String, "id": pl.UInt64},
    )
    long = long.join(number, on="tag")  # blank tags have no number and drop out
    tags = _sorted_distinct_lists(long["row"], long["id"], kept, frame.height)
    carried = [pl.Series(name, posts.column(name), dtype=pl.String) for name in carry]
    return frame.select(
        pl.col("post_id").cast(pl.String),
        pl.col("user_id").cast(pl.String),
        pl.col("created_at").cast(pl.Int64),
        pl.col("media_sha256").cast(pl.String),
        pl.col("media_phash").cast(pl.UInt64),
    ).with_columns(tags.alias("tags"), *carried)


def _sorted_distinct_lists(
    row: pl.Series, value_id: pl.Series, values: list[str], rows: int
) -> pl.Series:
    """A list column of ``rows`` rows from long (row, value number) pairs: each row's distinct
    values in number order (numbers are positions in ``values``, sorted by the caller), rows
    without pairs empty. One sort of (row << 32 | number) orders and de-duplicates all."""
    pairs = np.sort(
        (row.to_numpy().astype(np.uint64) << np.uint64(32)) | value_id.to_numpy().astype(np.uint64)
    )
    if pairs.size:  # np.sort + a mask: far faster than np.unique's hash table here
        pairs = pairs[np.concatenate([[True], pairs[1:] != pairs[:-1]])]
    per_row = np.bincount((pairs >> np.uint64(32)).astype(np.int64), minlength=rows)
    offsets = np.concatenate([[0], np.cumsum(per_row)]).astype(np.int32)
    taken = pa.array(values, pa.string()).take(pa.array(pairs & np.uint64(0xFFFFFFFF)))
    return pl.Series(pa.ListArray.from_arrays(pa.array(offsets), taken), dtype=TAGS)


def empty_post_frame() -> pl.DataFrame:
    """A frame of no posts with the PostRecord columns."""
    return pl.DataFrame(
        schema={
            "post_id": pl.String,
            "user_id": pl.String,
            "created_at": pl.Int64,
            "media_sha256": pl.String,
            "media_phash": pl.UInt64,
            "tags": TAGS,
        }
    )


def concat_frames(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Frames of one kind as one (an empty list gives an empty post frame)."""
    frames = [f for f in frames if f.height]
    if not frames:
        return empty_post_frame()
    return pl.concat(frames, how="vertical_relaxed", rechunk=True)


def sort_by_row_order(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows in ``PostRecord.row_order``: (created_at or never, post_id, user_id or "", sha256 or
    "", phash or -1, tags). Strings sort by UTF-8 bytes, which is Python's code-point order; the
    tags tuple compares as its tags joined by NUL. Carried columns (``post_frame(carry=...)``)
    come last, so rows that differ only there still have one order."""
    carried = [pl.col(c) for c in frame.columns if c not in _FRAME_COLUMNS]
    return frame.sort(
        pl.col("created_at").fill_null(NO_TIME),
        "post_id",
        pl.col("user_id").fill_null(""),
        pl.col("media_sha256").fill_null(""),
        "media_phash",  # nulls first, as -1
        pl.col("tags").list.join("\x00"),
        *carried,
        nulls_last=False,
        maintain_order=True,
    )


def sort_by_rank(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows in ``PostRecord.rank`` order: (created_at or never, post_id). Once post_ids are
    distinct this is the row order, and it needs no other column."""
    return frame.sort(pl.col("created_at").fill_null(NO_TIME), "post_id", maintain_order=True)


def first_per_key(
    frame: pl.DataFrame, key: pl.Expr | pl.Series | str, keep: int = 1
) -> pl.DataFrame:
    """The first ``keep`` rows of each key (rows already in row order); null keys all pass."""
    if isinstance(key, pl.Series):
        kept = first_per_key(frame.with_columns(key.alias("__key")), "__key", keep)
        return kept.drop("__key")
    key = pl.col(key) if isinstance(key, str) else key
    if keep == 1:
        return frame.filter(key.is_null() | key.is_first_distinct())
    position = pl.int_range(pl.len()).over(key)
    return frame.filter(key.is_null() | (position < keep))


def excluded_mask(frame: pl.DataFrame, exclude: ExcludeSet) -> np.ndarray:
    """``ExcludeSet.matches`` for each row, asked once per distinct (sha256, phash)."""
    media = frame.select("media_sha256", "media_phash")
    distinct = media.unique()
    matches = [
        exclude.matches(PostRecord("", None, None, sha, phash, ()))
        for sha, phash in distinct.iter_rows()
    ]
    verdict = distinct.with_columns(pl.Series("excluded", matches, dtype=pl.Boolean))
    joined = media.join(verdict, on=["media_sha256", "media_phash"], how="left", nulls_equal=True)
    return joined["excluded"].to_numpy().astype(bool)


def tagset_key(frame: pl.DataFrame) -> pl.Series:
    """The per-user spam key of each row: the user and the case-folded distinct tags (what
    ``datagraph.dedup.tagset_key`` digests); null for posts without a user or tags, which are
    never spam. Built in long form, one row per post and tag."""
    long = frame.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), "tags")
    long = long.explode("tags").drop_nulls("tags")
    distinct = long["tags"].unique()
    folded_of = [t.casefold().lstrip("#") for t in distinct.to_list()]
    folded = sorted(set(folded_of))  # code-point order, as sorted() in tagset_key
    number = {f: i for i, f in enumerate(folded)}
    ids = pl.DataFrame(
        {"tags": distinct, "id": pl.Series([number[f] for f in folded_of], dtype=pl.UInt64)}
    )
    long = long.join(ids, on="tags")
    # (row, folded tag) pairs as one sortable integer: np.unique sorts and de-duplicates them
    tagset = _sorted_distinct_lists(long["row"], long["id"], folded, frame.height)
    tagset = tagset.list.join("\x1f")
    user = frame["user_id"].fill_null("")
    has_key = (user != "") & (frame["tags"].list.len() > 0)
    key = pl.select(
        pl.when(pl.lit(has_key)).then(pl.lit(user) + "\x1f" + pl.lit(tagset.fill_null("")))
    ).to_series()
    return key.alias("tagset_key")


# --- partitions ------------------------------------------------------------------------------
def partition_ids(frame: pl.DataFrame, key: pl.Expr, partitions: int) -> np.ndarray:
    """The partition (0..partitions-1) of each row's key.

    polars' seeded hash: the same in every process of one polars version, which is all that
    routing needs (which partition a key lands in never reaches an output). Null keys must be
    replaced by the caller (``coalesce`` with the post_id) or they all land in one partition.
    """
    hashes = frame.select(key.hash(seed=_PARTITION_SEED).alias("h"))["h"].to_numpy()
    return (hashes % np.uint64(partitions)).astype(np.int64)


def split_by_column(
    frame: pl.DataFrame, column: str, partitions: int
) -> list[tuple[int, pl.DataFrame]]:
    """``split_by_partition`` by partition numbers already in ``column``."""
    return split_by_partition(frame, frame[column].to_numpy().astype(np.int64), partitions)


def split_by_partition(
    frame: pl.DataFrame, ids: np.ndarray, partitions: int
) -> list[tuple[int, pl.DataFrame]]:
    """(partition, rows of the frame in it) for every partition that gets rows."""
    if frame.height == 0:
        return []
    order = np.argsort(ids, kind="stable")
    bounds = np.searchsorted(ids[order], np.arange(partitions + 1))
    parts = []
    for p in range(partitions):
        lo, hi = bounds[p], bounds[p + 1]
        if hi > lo:
            parts.append((p, frame[order[lo:hi]]))
    return parts


# --- near duplicates -------------------------------------------------------------------------
def band_rows(frame: pl.DataFrame, max_distance: int, carry: tuple[str, ...] = ()) -> pl.DataFrame:
    """One row per post with a phash and per band of ``datagraph.dedup.phash_bands``:
    post_id, created_at, media_phash, band (index) and value (the band's bits), and the
    ``carry`` columns of the post."""
    with_phash = frame.filter(pl.col("media_phash").is_not_null()).select(
        "post_id", "created_at", "media_phash", *carry
    )
    phash = with_phash["media_phash"].to_numpy().astype(np.uint64)
    shifts, masks = _band_layout(max_distance)
    parts = []
    for index, (shift, mask) in enumerate(zip(shifts, masks, strict=True)):
        value = (phash >> shift) & mask
        parts.append(
            with_phash.with_columns(
                pl.lit(index, pl.Int32).alias("band"), pl.Series("value", value, pl.UInt64)
            )
        )
    return pl.concat(parts)


def _band_layout(max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """(shift, mask) of each band of ``band_widths``: band i is ``(phash >> shift[i]) &
    mask[i]``, the bands taking the phash's bits from the lowest up."""
    widths = band_widths(max_distance)
    shifts = np.cumsum([0, *widths[:-1]]).astype(np.uint64)
    masks = np.array([(1 << width) - 1 for width in widths], dtype=np.uint64)
    return shifts, masks


def with_band_values(rows: pl.DataFrame, max_distance: int) -> pl.DataFrame:
    """``band_rows`` whose value column was left out (to shuffle fewer bytes) with it again: the
    band's bits of each row's phash, as ``band_rows`` computes them."""
    shifts, masks = _band_layout(max_distance)
    band = rows["band"].to_numpy().astype(np.int64)
    phash = rows["media_phash"].to_numpy().astype(np.uint64)
    value = (phash >> shifts[band]) & masks[band]
    return rows.with_columns(pl.Series("value", value, pl.UInt64))


def near_duplicate_losers(rows: pl.DataFrame, max_distance: int) -> list[str]:
    """Post ids with a better-ranked post within ``max_distance`` bits, among ``band_rows``.

    The rows may be any set of whole band buckets (all rows of each (band, value) present):
    every close pair agrees on some band (pigeonhole), so the union over buckets is exact.
    Inside a bucket the other ``64 - width`` bits are cut again into ``max_distance + 1``
    sub-bands, one of which the pair also agrees on; so only rows sharing (band, value,
    sub-band value) are compared, which keeps the work near linear where one band level
    would grow with the square of the bucket size.
    """
    if rows.height == 0:
        return []
    rows = sort_by_rank(rows)
    bands = max_distance + 1
    losers: set[str] = set()
    shift = 0
    for index, width in enumerate(band_widths(max_distance)):
        start, shift = shift, shift + width
        in_band = rows.filter(pl.col("band") == index)  # still in rank order
        if in_band.height < 2:
            continue
        phash = in_band["media_phash"].to_numpy().astype(np.uint64)
        value = in_band["value"].to_numpy().astype(np.uint64)
        rest_bits = 64 - width
        turn = (start + width) % 64  # rotate the band's bits to the top; the rest stay below
        rest = phash if turn == 0 else (phash >> np.uint64(turn)) | (phash << np.uint64(64 - turn))
        if rest_bits == 0:  # max_distance 0: the band is the whole hash
            keys = [value]
        else:
            keys, sub_shift = [], 0
            for sub in range(bands):
                sub_width = rest_bits // bands + (1 if sub < rest_bits % bands else 0)
                sub_value = (rest >> np.uint64(sub_shift)) & np.uint64((1 << sub_width) - 1)
                keys.append((value << np.uint64(sub_width)) | sub_value)  # under 64 bits
                sub_shift += sub_width
        loser = np.zeros(in_band.height, dtype=bool)
        for key in keys:
            _mark_close_followers(key, phash, max_distance, loser)
        losers.update(in_band.filter(pl.Series(loser))["post_id"].to_list())
    return sorted(losers)


def _mark_close_followers(
    key: np.ndarray, phash: np.ndarray, max_distance: int, loser: np.ndarray
) -> None:
    """Mark each element (in rank order) that has an earlier element with the same key and a
    phash within ``max_distance`` bits: every run of equal keys compared at offset 1, 2, ..."""
    order = np.argsort(key, kind="stable")  # stable: rank order within equal keys
    sorted_key, sorted_hash = key[order], phash[order]
    same = sorted_key[1:] == sorted_key[:-1]
    active = np.flatnonzero(same)  # elements whose next element shares the key
    offset = 1
    while active.size:
        close = np.bitwise_count(sorted_hash[active] ^ sorted_hash[active + offset])
        loser[order[active[close <= max_distance] + offset]] = True
        offset += 1
        active = active[active + offset < key.size]
        active = active[sorted_key[active] == sorted_key[active + offset]]


def deduplicate_frame(
    frame: pl.DataFrame,
    *,
    exclude: ExcludeSet | None = None,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    keep_per_user_tagset: int = DEFAULT_KEEP_PER_USER_TAGSET,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """``datagraph.dedup.deduplicate`` on a whole frame: kept posts (in row order) and the rows
    dropped for each of ``DROP_REASONS``."""
    dropped = dict.fromkeys(DROP_REASONS, 0)
    rows = sort_by_row_order(frame)

    def drop(reason: str, kept: pl.DataFrame) -> pl.DataFrame:
        dropped[reason] += rows.height - kept.height
        return kept

    rows = drop("duplicate_post_id", first_per_key(rows, "post_id"))
    if exclude is not None:
        rows = drop("eval_contamination", rows.filter(~excluded_mask(rows, exclude)))
    rows = drop("duplicate_media", first_per_key(rows, "media_sha256"))
    losers = near_duplicate_losers(band_rows(rows, max_distance), max_distance)
    rows = drop("near_duplicate_media", rows.filter(~pl.col("post_id").is_in(losers)))
    rows = drop("user_spam", first_per_key(rows, tagset_key(rows), keep_per_user_tagset))
    return rows, dropped


# --- vocabulary counts -----------------------------------------------------------------------
def tag_user_hashes(kept: pl.DataFrame, limit: int = DEFAULT_LIMIT) -> pl.DataFrame:
    """Per raw tag of these posts: n_posts and the ``limit`` smallest distinct user hashes.

    A post without user_id is its own user. The hashes are ``DistinctSketch.hash``; keeping the
    smallest ``limit`` of each part keeps exactly what one sketch of all users would keep, so
    parts can be merged in any grouping (``merge_tag_hashes``).
    """
    users = pl.col("user_id").fill_null("")
    user = pl.when(users != "").then(users).otherwise(pl.lit("\x00post:") + pl.col("post_id"))
    long = kept.select(pl.col("tags").alias("raw_tag"), user.alias("user")).explode("raw_tag")
    long = long.drop_nulls("raw_tag")
    distinct_users = long["user"].unique()
    hashes = pl.Series(
        "hash", [DistinctSketch.hash(u) for u in distinct_users.to_list()], dtype=pl.UInt64
    )
    lookup = pl.DataFrame({"user": distinct_users, "hash": hashes})
    long = long.join(lookup, on="user", how="left").select("raw_tag", "hash")
    return _tag_hashes(long, pl.len().cast(pl.Int64), limit)


def merge_tag_hashes(parts: list[pl.DataFrame], limit: int = DEFAULT_LIMIT) -> pl.DataFrame:
    """``tag_user_hashes`` parts (of any posts) summed and re-trimmed per tag."""
    parts = [p for p in parts if p.height]
    if not parts:
        return pl.DataFrame(
            schema={"raw_tag": pl.String, "n_posts": pl.Int64, "hashes": pl.List(pl.UInt64)}
        )
    frame = pl.concat(parts)
    sums = frame.group_by("raw_tag").agg(pl.col("n_posts").sum())
    long = frame.select("raw_tag", "hashes").explode("hashes").rename({"hashes": "hash"})
    merged = _tag_hashes(long.drop_nulls("hash"), pl.len(), limit).drop("n_posts")
    return sums.join(merged, on="raw_tag", how="left").select(
        "raw_tag", "n_posts", pl.col("hashes").fill_null(pl.lit([], pl.List(pl.UInt64)))
    )


def _tag_hashes(long: pl.DataFrame, n_posts: pl.Expr, limit: int) -> pl.DataFrame:
    return long.group_by("raw_tag").agg(
        n_posts.alias("n_posts"),
        pl.col("hash").unique().sort().head(limit).alias("hashes"),
    )


def tag_counts(merged: pl.DataFrame, limit: int = DEFAULT_LIMIT) -> pl.DataFrame:
    """raw_tag, n_posts, n_users from merged hashes: ``DistinctSketch.count`` of each tag."""
    n_hashes = merged["hashes"].list.len().to_numpy()
    users = n_hashes.astype(np.int64)
    for i in np.flatnonzero(n_hashes >= limit):  # few tags: the estimate in Python
        users[i] = DistinctSketch(merged["hashes"][int(i)].to_list(), limit).count()
    return merged.select("raw_tag", "n_posts").with_columns(pl.Series("n_users", users))
