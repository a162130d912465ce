"""The whole-column rules agree with the per-record rules of ``datagraph.dedup``, on any split."""

from __future__ import annotations

import random

import numpy as np
import polars as pl
import pytest

from datagraph.dedup import PostRecord, deduplicate, post_records
from datagraph.distinct import DistinctSketch
from datagraph.post_frames import (
    band_rows,
    deduplicate_frame,
    empty_post_frame,
    merge_tag_hashes,
    near_duplicate_losers,
    partition_ids,
    post_frame,
    split_by_partition,
    tag_counts,
    tag_user_hashes,
    with_band_values,
)
from datagraph.schema import posts_table, validate_post

DISTANCES = (0, 1, 2, 4, 8)


def _frame(records: list[PostRecord]) -> pl.DataFrame:
    return pl.DataFrame(
        [r._asdict() for r in records],
        schema=empty_post_frame().schema,
        orient="row",
    ).with_columns(pl.col("tags").list.sort())


def _clustered_phashes(rng: random.Random, n: int) -> list[int]:
    """Hashes in clusters (a base with a few flipped bits), some repeated exactly."""
    bases = [rng.getrandbits(64) for _ in range(max(1, n // 6))]
    out = []
    for _ in range(n):
        h = rng.choice(bases)
        for _ in range(rng.choice([0, 0, 1, 2, 3, 4, 5, 9])):
            h ^= 1 << rng.randrange(64)
        out.append(h)
    return out


def _records(rng: random.Random, n: int) -> list[PostRecord]:
    phashes = _clustered_phashes(rng, n)
    records = []
    for i in range(n):
        post_id = f"p{rng.randrange(n * 4 // 5):04d}"  # some post_ids repeat
        records.append(
            PostRecord(
                post_id=post_id,
                user_id=rng.choice([None, "u1", "u2", "u3"]),
                created_at=rng.choice([None, *range(0, 50)]),
                media_sha256=rng.choice([None, "a" * 64, "b" * 64, f"{i:064x}", f"{i:064x}"]),
                media_phash=rng.choice([None, phashes[i], phashes[i]]),
                tags=tuple(sorted(rng.sample(["#a", "#A", "#b", "#c"], rng.randrange(0, 3)))),
            )
        )
    return records


def _brute_force_losers(records: list[PostRecord], max_distance: int) -> set[str]:
    with_phash = [r for r in records if r.media_phash is not None]
    return {
        r.post_id
        for r in with_phash
        if any(
            o.rank < r.rank and bin(o.media_phash ^ r.media_phash).count("1") <= max_distance
            for o in with_phash
        )
    }


@pytest.mark.parametrize("max_distance", DISTANCES)
@pytest.mark.parametrize("seed", range(3))
def test_near_duplicates_are_every_pair_within_the_distance(max_distance, seed):
    rng = random.Random(seed)
    records = list({r.post_id: r for r in _records(rng, 300)}.values())  # one row per post
    rows = band_rows(_frame(records), max_distance)
    expected = _brute_force_losers(records, max_distance)
    assert set(near_duplicate_losers(rows, max_distance)) == expected
    # Any split into partitions of whole (band, value) buckets gives the same union, also when
    # the parts leave the value out and get it back from the phash (as build_graph shuffles them).
    ids = partition_ids(rows, pl.struct("band", "value"), 7)
    parts = split_by_partition(rows, ids, 7)
    union = {p for _, part in parts for p in near_duplicate_losers(part, max_distance)}
    assert union == expected
    for _, part in parts:
        restored = with_band_values(part.drop("value"), max_distance)
        assert restored.select(part.columns).equals(part)


@pytest.mark.parametrize("max_distance", (0, 3, 31))
def test_band_values_are_recomputed_from_the_phash(max_distance):
    rng = random.Random(max_distance)
    phashes = [0, 1, 2**63, 2**64 - 1, *(rng.getrandbits(64) for _ in range(50))]
    frame = pl.DataFrame(
        {"post_id": [f"p{i}" for i in range(len(phashes))], "created_at": 0},
        schema_overrides={"created_at": pl.Int64},
    ).with_columns(pl.Series("media_phash", phashes, pl.UInt64))
    rows = band_rows(frame, max_distance)
    assert with_band_values(rows.drop("value"), max_distance).equals(rows)


@pytest.mark.parametrize("seed", range(5))
def test_deduplicate_frame_matches_the_record_rules(seed):
    rng = random.Random(seed)
    records = _records(rng, 400)
    expected_rows, expected_dropped = deduplicate(records, keep_per_user_tagset=1 + seed % 2)
    kept, dropped = deduplicate_frame(_frame(records), keep_per_user_tagset=1 + seed % 2)
    assert dropped == expected_dropped
    got = sorted(PostRecord(**{**row, "tags": tuple(row["tags"])}) for row in kept.to_dicts())
    assert got == sorted(expected_rows)


def test_post_frame_matches_post_records():
    rows = [
        {"post_id": "1", "caption": "#Beach day #beach #  ", "hashtags": ["#sun", "#beach"]},
        {"post_id": "2", "user_id": "u", "created_at": "2020-01-01T00:00:00Z", "media_phash": 5},
        {"post_id": "3", "caption": "no tags", "media_sha256": "c" * 64},
    ]
    posts = posts_table([validate_post(r) for r in rows])
    frame = post_frame(posts)
    got = [PostRecord(**{**row, "tags": tuple(row["tags"])}) for row in frame.to_dicts()]
    assert got == post_records(posts)


def test_every_row_lands_in_exactly_one_partition_by_key():
    frame = pl.DataFrame({"key": [f"k{i % 37}" for i in range(500)], "row": range(500)})
    ids = partition_ids(frame, pl.col("key"), 8)
    parts = split_by_partition(frame, ids, 8)
    assert sorted(r for _, part in parts for r in part["row"].to_list()) == list(range(500))
    homes = {}
    for partition, part in parts:
        for key in part["key"].to_list():
            assert homes.setdefault(key, partition) == partition


def test_tag_user_counts_merge_to_one_sketch_of_everything():
    """Split into parts any way, re-merged in any grouping: the counts one DistinctSketch of
    all users gives (exact below the limit, the same estimate above it)."""
    rng = random.Random(0)
    posts = [
        PostRecord(f"p{i}", rng.choice([None, *(f"u{j}" for j in range(300))]), 0, None, None, t)
        for i, t in enumerate(rng.choice([("#a",), ("#a", "#b"), ("#c",)]) for _ in range(1000))
    ]
    limit = 8
    expected = {}
    for tag in ("#a", "#b", "#c"):
        users = [p.user_id or f"\x00post:{p.post_id}" for p in posts if tag in p.tags]
        expected[tag] = (len(users), DistinctSketch.of(users, limit).count())
    for _ in range(3):
        rng.shuffle(posts)
        parts = [
            tag_user_hashes(_frame(posts[i : i + 97]), limit) for i in range(0, len(posts), 97)
        ]
        halves = [merge_tag_hashes(parts[:4], limit), merge_tag_hashes(parts[4:], limit)]
        counts = tag_counts(merge_tag_hashes(halves, limit), limit)
        got = {tag: (n, u) for tag, n, u in counts.iter_rows()}
        assert got == expected
    assert np.all(tag_counts(merge_tag_hashes([], limit), limit).height == 0)
