"""DistinctSketch: exact below its limit, a K-minimum-values estimate above, mergeable anyhow."""

from __future__ import annotations

import random

import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from datagraph.distinct import DEFAULT_LIMIT, DistinctSketch


def _users(n: int, prefix: str = "user") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def test_count_is_exact_below_the_limit():
    for n in (0, 1, 2, 17, 1000, DEFAULT_LIMIT - 1):
        assert DistinctSketch.of(_users(n)).count() == n
    assert DistinctSketch.of(["u1", "u2", "u1"]).count() == 2
    assert DistinctSketch.of(_users(9), limit=10).count() == 9


def test_duplicates_are_ignored():
    values = _users(300)
    once = DistinctSketch.of(values, limit=64)
    thrice = DistinctSketch.of(values * 3 + values[::-1], limit=64)
    assert thrice.hashes == once.hashes
    assert thrice.count() == once.count()
    assert DistinctSketch.of(values * 5).count() == 300


def test_sketch_keeps_the_smallest_hashes_sorted():
    values = _users(500)
    sketch = DistinctSketch.of(values, limit=32)
    assert len(sketch.hashes) == 32
    assert sketch.hashes == tuple(sorted(xxhash.xxh64_intdigest(v.encode()) for v in values)[:32])
    assert DistinctSketch.hash("é") == xxhash.xxh64_intdigest("é".encode())
    assert DistinctSketch([5, 3, 5, 9], limit=2).hashes == (3, 5)


@pytest.mark.parametrize("prefix", ["user", "u-", "account:"])
def test_estimate_is_within_five_percent_above_the_limit(prefix):
    n = 50_000
    sketch = DistinctSketch.of(_users(n, prefix))
    assert len(sketch.hashes) == DEFAULT_LIMIT
    assert abs(sketch.count() - n) / n < 0.05


def test_estimate_tracks_the_count_over_a_range():
    for n in (5_000, 20_000, 100_000):
        estimate = DistinctSketch.of(_users(n, "r"), limit=1024).count()
        assert abs(estimate - n) / n < 0.10  # 1 / sqrt(1022) = 3.1% standard error


def test_count_never_falls_below_the_distinct_values_it_holds():
    """A full sketch has seen at least ``limit`` distinct values, whatever the estimate says."""
    for start in range(200):
        values = [f"v{start}-{i}" for i in range(2)]
        assert DistinctSketch.of(values, limit=2).count() >= 2
    for n in range(DEFAULT_LIMIT, DEFAULT_LIMIT + 40, 3):
        assert DistinctSketch.of(_users(n, "edge")).count() >= DEFAULT_LIMIT


def test_merge_equals_one_sketch_of_all_values_in_any_order():
    values = _users(20_000)
    whole = DistinctSketch.of(values, limit=256)
    rng = random.Random(7)
    for _ in range(5):
        shuffled = values + values[:3000]
        rng.shuffle(shuffled)
        cuts = sorted(rng.sample(range(1, len(shuffled)), 6))
        parts = [
            DistinctSketch.of(shuffled[a:b], limit=256)
            for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)
        ]
        rng.shuffle(parts)
        merged = parts[0].merge(parts[1:])
        assert merged.hashes == whole.hashes
        assert merged.count() == whole.count()
        # pairwise, in another grouping
        tree = parts[-1]
        for part in parts[:-1]:
            tree = part.merge([tree])
        assert tree.hashes == whole.hashes


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.lists(st.text(max_size=3), max_size=15), min_size=1, max_size=6),
    st.integers(2, 12),
    st.randoms(use_true_random=False),
)
def test_merge_is_independent_of_split_and_order(chunks, limit, rnd):
    everything = [v for chunk in chunks for v in chunk]
    whole = DistinctSketch.of(everything, limit=limit)
    sketches = [DistinctSketch.of(chunk, limit=limit) for chunk in chunks]
    rnd.shuffle(sketches)
    merged = sketches[0].merge(sketches[1:])
    assert merged.hashes == whole.hashes
    assert merged.count() == whole.count()
    if len(set(everything)) < limit:
        assert merged.count() == len(set(everything))


def test_merge_leaves_its_inputs_alone():
    a, b = DistinctSketch.of(["x", "y"]), DistinctSketch.of(["z"])
    merged = a.merge([b])
    assert (a.count(), b.count(), merged.count()) == (2, 1, 3)
    assert a.merge([]).hashes == a.hashes
    assert a.merge(iter([b, b])).count() == 3


def test_merging_sketches_of_different_limits_is_refused():
    small, large = DistinctSketch.of(_users(100), limit=4), DistinctSketch.of(["x"], limit=64)
    with pytest.raises(ValueError, match="limit"):
        large.merge([small])
    with pytest.raises(ValueError, match="limit"):
        small.merge([large])


def test_limit_must_allow_an_estimate():
    with pytest.raises(ValueError, match="at least 2"):
        DistinctSketch(limit=1)
    with pytest.raises(ValueError, match="at least 2"):
        DistinctSketch.of(["a"], limit=0)
