"""CooccurrenceCounts: lookups, the smoothed leave-one-out NPMI, graph and post sources."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from datagraph.cooccurrence import cooccurrence_counts, synset_post_counts
from datagraph.errors import ConfigError, DatagraphError
from datagraph.graph import LabelGraph
from datagraph.noise_counts import CooccurrenceCounts

POST_UNITS = pa.table(
    {
        "post_id": ["p1", "p1", "p2", "p2", "p3", "p3", "p4", "p1"],
        "unit": ["dog", "park", "dog", "park", "dog", "cat", "cat", "dog"],
    }
)


@pytest.fixture(scope="module")
def counts() -> CooccurrenceCounts:
    return CooccurrenceCounts.from_post_units(POST_UNITS, unit="tag")


def test_counts_and_codes(counts):
    assert counts.names.to_pylist() == ["cat", "dog", "park"]
    assert counts.counts.tolist() == [2, 3, 2]
    assert counts.total_posts == 4
    codes = counts.codes(["park", "dog", "horse", None])
    assert codes.tolist() == [2, 1, -1, -1]
    assert counts.pair_count(np.array([1, 2, 0, 0, -1]), np.array([2, 1, 1, 2, 1])).tolist() == [
        2,
        2,
        1,
        0,
        0,
    ]


def npmi_by_hand(n_ab: float, n_a: float, n_b: float, n: float, alpha: float) -> float:
    pmi = math.log((n_ab + alpha) / (n_a * n_b / n + alpha))
    return pmi / -math.log((n_ab + alpha) / (n + 2 * alpha))


def test_npmi_formula_with_and_without_leave_one_out(counts):
    dog, park = counts.codes(["dog", "park"])
    kept = counts.npmi(np.array([dog]), np.array([park]), own=False, alpha=1.0)[0]
    assert kept == pytest.approx(npmi_by_hand(2, 3, 2, 4, 1.0))
    left_out = counts.npmi(np.array([dog]), np.array([park]), own=True, alpha=0.25)[0]
    assert left_out == pytest.approx(npmi_by_hand(1, 2, 1, 3, 0.25))
    # symmetric, and NaN for an unknown unit
    both = counts.npmi(np.array([park, dog, -1]), np.array([dog, park, dog]))
    assert both[0] == both[1] and np.isnan(both[2])


def test_a_pair_seen_only_on_the_scored_post_is_no_evidence_once_left_out():
    filler = [f"f{i}" for i in range(20)]
    rows = pa.table(
        {
            "post_id": ["a", "a", "b", "c", *filler],
            "unit": ["x", "y", "x", "y", *(["z"] * 20)],
        }
    )
    counts = CooccurrenceCounts.from_post_units(rows, unit="tag")
    x, y = counts.codes(["x", "y"])
    kept = counts.npmi(np.array([x]), np.array([y]), own=False)[0]
    left_out = counts.npmi(np.array([x]), np.array([y]), own=True)[0]
    assert left_out == pytest.approx(npmi_by_hand(0, 1, 1, 22, 0.25))
    # counted, post "a" vouches for its own pair; left out, nothing else does
    assert kept > 0 > left_out


def test_frequent_units_never_together_are_clearly_negative():
    rows = []
    for i in range(200):
        rows.append((f"a{i}", "sea"))
        rows.append((f"b{i}", "cake"))
        rows.append((f"a{i}", "beach"))
    table = pa.table({"post_id": [p for p, _ in rows], "unit": [u for _, u in rows]})
    counts = CooccurrenceCounts.from_post_units(table, unit="tag")
    sea, cake, beach = counts.codes(["sea", "cake", "beach"])
    apart, together = counts.npmi(np.array([sea, sea]), np.array([cake, beach]), own=False)
    assert apart < -0.3 < 0.5 < together


def test_from_graph_matches_the_post_counts(wn):
    post_synsets = pa.table(
        {
            "post_id": ["p1", "p1", "p2", "p2", "p3"],
            "synset_id": ["dog.n.01", "park.n.02", "dog.n.01", "park.n.02", "cat.n.01"],
        }
    )
    mapping = pa.table(
        {
            "raw_tag": ["dog", "park", "cat"],
            "canonical": ["dog", "park", "cat"],
            "synset_id": ["dog.n.01", "park.n.02", "cat.n.01"],
            "confidence": [0.9, 0.9, 0.9],
        }
    )
    graph = LabelGraph.build(
        mapping,
        cooccurrence=cooccurrence_counts(post_synsets),
        synset_counts=synset_post_counts(post_synsets),
        total_posts=3,
        wordnet=wn,
    )
    from_graph = CooccurrenceCounts.from_graph(graph)
    direct = CooccurrenceCounts.from_post_units(
        post_synsets.rename_columns(["post_id", "unit"]), unit="synset"
    )
    assert from_graph.unit == "synset"
    assert from_graph.total_posts == 3
    codes_g = from_graph.codes(["dog.n.01", "park.n.02", "cat.n.01"])
    codes_d = direct.codes(["dog.n.01", "park.n.02", "cat.n.01"])
    a, b = np.array([0, 0, 1]), np.array([1, 2, 2])
    assert np.allclose(from_graph.npmi(codes_g[a], codes_g[b]), direct.npmi(codes_d[a], codes_d[b]))


def test_bad_tables_are_clear_errors():
    with pytest.raises(DatagraphError, match="lacks column"):
        CooccurrenceCounts.from_post_units(pa.table({"post": ["a"]}), unit="tag")
    with pytest.raises(ConfigError, match="unit"):
        CooccurrenceCounts.from_post_units(POST_UNITS, unit="word")
    with pytest.raises(ConfigError, match="total_posts"):
        CooccurrenceCounts.from_post_units(POST_UNITS, unit="tag", total_posts=0)
    counts = CooccurrenceCounts.from_post_units(POST_UNITS, unit="tag")
    with pytest.raises(ConfigError, match="alpha"):
        counts.npmi(np.array([0]), np.array([1]), alpha=0)
