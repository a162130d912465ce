"""Co-occurrence and per-synset post counts: exact values, duplicates, the cap, batch merging."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from datagraph.cooccurrence import (
    COOCCURRENCE_SCHEMA,
    SYNSET_COUNT_SCHEMA,
    aggregate_batches,
    cap_post_labels,
    cooccurrence_counts,
    merge_counts,
    synset_post_counts,
)
from datagraph.errors import ConfigError, DatagraphError


def _posts(rows: list[tuple[object, str | None]]) -> pa.Table:
    return pa.table({"post_id": [p for p, _ in rows], "synset_id": [s for _, s in rows]})


POSTS = _posts(
    [
        ("p1", "dog.n.01"),
        ("p1", "beach.n.01"),
        ("p1", "dog.n.01"),  # #dog and #doggo on one post: counts once
        ("p2", "dog.n.01"),
        ("p2", "beach.n.01"),
        ("p2", "cat.n.01"),
        ("p3", "cat.n.01"),
        ("p4", None),  # no label
        (None, "dog.n.01"),  # no post id
        ("p5", "beach.n.01"),
        ("p5", "dog.n.01"),
    ]
)


def test_pair_counts_are_exact_and_sorted():
    assert cooccurrence_counts(POSTS).to_pylist() == [
        {"synset_a": "beach.n.01", "synset_b": "cat.n.01", "n_posts": 1},
        {"synset_a": "beach.n.01", "synset_b": "dog.n.01", "n_posts": 3},
        {"synset_a": "cat.n.01", "synset_b": "dog.n.01", "n_posts": 1},
    ]
    assert cooccurrence_counts(POSTS).schema == COOCCURRENCE_SCHEMA


def test_synset_post_counts_count_each_post_once():
    assert synset_post_counts(POSTS).to_pylist() == [
        {"synset_id": "beach.n.01", "n_posts": 3},
        {"synset_id": "cat.n.01", "n_posts": 2},
        {"synset_id": "dog.n.01", "n_posts": 3},
    ]
    assert synset_post_counts(POSTS).schema == SYNSET_COUNT_SCHEMA


def test_row_order_integer_ids_and_record_batches_do_not_matter():
    shuffled = POSTS.take(pa.array([10, 3, 0, 7, 5, 1, 9, 2, 8, 4, 6]))
    assert cooccurrence_counts(shuffled).equals(cooccurrence_counts(POSTS))
    numbered = _posts([(1, "b.n.01"), (1, "a.n.01"), (2, "a.n.01"), (2, "b.n.01")])
    batch = numbered.to_batches()[0]
    assert cooccurrence_counts(batch).to_pylist() == [
        {"synset_a": "a.n.01", "synset_b": "b.n.01", "n_posts": 2}
    ]


def test_cap_keeps_the_smallest_hashes_per_post():
    synsets = [f"s{i}.n.01" for i in range(6)]
    posts = _posts([("big", s) for s in synsets] + [("small", "s0.n.01"), ("small", "s5.n.01")])
    expected = sorted(synsets, key=lambda s: xxhash.xxh64_intdigest(f"big\x1f{s}".encode()))[:3]
    pairs = cooccurrence_counts(posts, max_labels_per_post=3)
    big_pairs = {tuple(sorted(p)) for p in itertools.combinations(expected, 2)}
    small_pair = ("s0.n.01", "s5.n.01")
    got = {(r["synset_a"], r["synset_b"]): r["n_posts"] for r in pairs.to_pylist()}
    assert got == dict(Counter(big_pairs) + Counter([small_pair]))
    kept = {
        r["synset_id"]: r["n_posts"]
        for r in synset_post_counts(posts, max_labels_per_post=3).to_pylist()
    }
    assert kept == dict(Counter([*expected, "s0.n.01", "s5.n.01"]))  # the same cap
    assert cooccurrence_counts(posts, max_labels_per_post=None).num_rows == 15


def test_cap_must_allow_a_pair():
    with pytest.raises(ConfigError, match="at least 2"):
        cooccurrence_counts(POSTS, max_labels_per_post=1)


def test_bad_inputs_name_the_problem():
    with pytest.raises(DatagraphError, match="lacks column\\(s\\) synset_id"):
        cooccurrence_counts(pa.table({"post_id": ["p1"], "synset": ["dog.n.01"]}))
    with pytest.raises(DatagraphError, match="must be strings"):
        synset_post_counts(pa.table({"post_id": ["p1"], "synset_id": [3]}))


def test_empty_input_gives_empty_tables():
    empty = pa.table({"post_id": pa.array([], pa.string()), "synset_id": pa.array([], pa.string())})
    assert cooccurrence_counts(empty).equals(COOCCURRENCE_SCHEMA.empty_table())
    assert synset_post_counts(empty).equals(SYNSET_COUNT_SCHEMA.empty_table())


def test_merge_counts_sums_by_key_in_any_order():
    first = cooccurrence_counts(POSTS.slice(0, 6))  # p1, p2
    second = cooccurrence_counts(POSTS.slice(6))  # p3 .. p5
    merged = merge_counts([first, second])
    assert merged.equals(cooccurrence_counts(POSTS))
    assert merge_counts([second, first]).equals(merged)
    assert merge_counts([COOCCURRENCE_SCHEMA.empty_table()]).num_rows == 0
    with pytest.raises(DatagraphError, match="differ in columns"):
        merge_counts([first, synset_post_counts(POSTS)])
    with pytest.raises(ConfigError):
        merge_counts([])


def test_aggregate_batches_matches_one_call():
    batches = [POSTS.slice(0, 3), POSTS.slice(3, 4), POSTS.slice(7, 0), POSTS.slice(7)]
    synsets, pairs = aggregate_batches(batches)
    assert synsets.equals(synset_post_counts(POSTS))
    assert pairs.equals(cooccurrence_counts(POSTS))
    crowded = _posts([("big", f"s{i}.n.01") for i in range(6)] + [("small", "s9.n.01")] * 2)
    synsets, pairs = aggregate_batches(
        [crowded.slice(0, 6), crowded.slice(6)], max_labels_per_post=3
    )
    assert synsets.equals(synset_post_counts(crowded, max_labels_per_post=3))
    assert pairs.equals(cooccurrence_counts(crowded, max_labels_per_post=3))
    nothing = aggregate_batches([])
    assert nothing[0].equals(SYNSET_COUNT_SCHEMA.empty_table())
    assert nothing[1].equals(COOCCURRENCE_SCHEMA.empty_table())


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.sampled_from(["a.n.01", "b.n.01", "c.n.01", "d.n.01"])),
        max_size=30,
    )
)
def test_counts_match_a_plain_python_count(rows):
    labels: dict[int, set[str]] = {}
    for post, synset in rows:
        labels.setdefault(post, set()).add(synset)
    expected = Counter(
        pair for synsets in labels.values() for pair in itertools.combinations(sorted(synsets), 2)
    )
    table = pa.table(
        {
            "post_id": pa.array([str(p) for p, _ in rows], pa.string()),
            "synset_id": pa.array([s for _, s in rows], pa.string()),
        }
    )
    pairs = cooccurrence_counts(table)
    got = {(r["synset_a"], r["synset_b"]): r["n_posts"] for r in pairs.to_pylist()}
    assert got == dict(expected)
    # batches cut at post boundaries (posts 0-2, then 3-6) sum to the same tables
    by_post = table.take(pa.array(sorted(range(len(rows)), key=lambda i: rows[i][0]), pa.int64()))
    cut = sum(1 for post, _ in rows if post < 3)
    synsets, batched = aggregate_batches([by_post.slice(0, cut), by_post.slice(cut)])
    assert batched.equals(pairs)
    assert synsets.equals(synset_post_counts(table))


def _random_post_synsets(seed: int, n_posts: int, integer_ids: bool = False):
    """A shuffled post_synsets table (2..10 distinct synsets a post, some rows repeated) and
    each post's distinct synsets."""
    rng = np.random.default_rng(seed)
    vocabulary = [f"s{i:02d}.n.01" for i in range(30)] + ["café.n.01", "Zebra.n.01", "ß.n.01"]
    labels: dict[object, list[str]] = {}
    rows: list[tuple[object, str]] = []
    for number in range(n_posts):
        post = number * 7 if integer_ids else f"post{number}"
        k = int(rng.integers(2, 11))
        synsets = [vocabulary[i] for i in rng.choice(len(vocabulary), size=k, replace=False)]
        labels[post] = synsets
        repeats = [synsets[i] for i in rng.integers(0, k, size=int(rng.integers(0, 3)))]
        rows.extend((post, s) for s in synsets + repeats)
    order = rng.permutation(len(rows))
    return _posts([rows[i] for i in order]), labels


def _counts_from_capped(labels: dict[object, list[str]], cap: int | None):
    capped = [cap_post_labels(str(post), synsets, cap) for post, synsets in labels.items()]
    synsets = Counter(s for kept in capped for s in kept)
    pairs = Counter(pair for kept in capped for pair in itertools.combinations(kept, 2))
    return dict(synsets), dict(pairs)


@pytest.mark.parametrize(
    ("seed", "cap", "integer_ids"),
    [(1, 3, False), (2, 3, True), (3, 2, False), (4, 5, False), (5, None, False)],
)
def test_cap_post_labels_makes_the_table_functions_choice(seed, cap, integer_ids):
    table, labels = _random_post_synsets(seed, 150, integer_ids)
    if cap is not None:
        assert any(len(synsets) > cap for synsets in labels.values())
    expected_synsets, expected_pairs = _counts_from_capped(labels, cap)
    synsets = synset_post_counts(table, max_labels_per_post=cap)
    pairs = cooccurrence_counts(table, max_labels_per_post=cap)
    assert {r["synset_id"]: r["n_posts"] for r in synsets.to_pylist()} == expected_synsets
    assert {(r["synset_a"], r["synset_b"]): r["n_posts"] for r in pairs.to_pylist()} == (
        expected_pairs
    )
    # the streamed path applies the same cap
    by_post = table.sort_by([("post_id", "ascending")])
    cut = by_post.column("post_id").to_pylist().index(sorted(labels)[len(labels) // 2])
    batched = aggregate_batches(
        [by_post.slice(0, cut), by_post.slice(cut)], max_labels_per_post=cap
    )
    assert batched[0].equals(synsets)
    assert batched[1].equals(pairs)


def test_cap_post_labels_keeps_the_smallest_hashes():
    synsets = [f"s{i}.n.01" for i in range(10)]
    by_hash = sorted(synsets, key=lambda s: xxhash.xxh64_intdigest(f"p9\x1f{s}".encode()))
    assert cap_post_labels("p9", synsets, 4) == sorted(by_hash[:4])
    assert cap_post_labels("p9", reversed(synsets), 4) == sorted(by_hash[:4])  # any order
    assert cap_post_labels("p9", synsets + synsets, 4) == sorted(by_hash[:4])  # repeats once
    assert cap_post_labels("other", synsets, 4) != cap_post_labels("p9", synsets, 4)


def test_cap_post_labels_below_the_cap_keeps_every_distinct_synset():
    assert cap_post_labels("p", ["b.n.01", "a.n.01", "b.n.01"], 2) == ["a.n.01", "b.n.01"]
    assert cap_post_labels("p", iter(["c", "a", "b"]), None) == ["a", "b", "c"]
    many = [f"s{i:03d}" for i in range(100)]
    default = cap_post_labels("p", many[::-1])
    assert len(default) == 64 and default == sorted(default) and set(default) <= set(many)
    assert cap_post_labels("p", many, None) == many
    assert cap_post_labels("p", []) == []


@pytest.mark.parametrize("cap", [1, 0, -3])
def test_cap_post_labels_refuses_the_caps_the_tables_refuse(cap):
    with pytest.raises(ConfigError, match="at least 2"):
        cap_post_labels("p", ["a.n.01", "b.n.01", "c.n.01"], cap)
    with pytest.raises(ConfigError, match="at least 2"):
        synset_post_counts(POSTS, max_labels_per_post=cap)
