"""Synthetic noise injection and the ranking metrics of the noise benchmark."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datagraph.errors import ConfigError
from datagraph.noise_eval import auroc, average_ranks, inject_noise, precision_at_recall

POSTS = [
    ["dog", "puppy", "park"],
    ["beach", "sea"],
    ["cake"],
    [],
    ["sunset", "sky", "cloud", "beach"],
] * 40
IDS = [f"post{i}" for i in range(len(POSTS))]


def test_one_tag_replaced_on_about_the_fraction_of_posts():
    noise = inject_noise(IDS, POSTS, fraction=0.3, seed=7)
    noisy = noise.hashtags.to_pylist()
    injected = noise.injected.to_pylist()
    replaced = noise.replaced.to_pylist()
    chosen = [i for i, tag in enumerate(injected) if tag is not None]
    assert 0.15 < len(chosen) / len(POSTS) < 0.45
    for i, (before, after) in enumerate(zip(POSTS, noisy, strict=True)):
        assert len(before) == len(after)
        changed = [k for k, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
        if injected[i] is None:
            assert changed == []
        else:
            assert len(changed) == 1
            assert after[changed[0]] == injected[i]
            assert before[changed[0]] == replaced[i]
            assert injected[i] not in before  # never a tag the post already has
    assert all(injected[i] is None for i, tags in enumerate(POSTS) if not tags)


def test_noise_is_seeded_and_independent_of_post_order():
    first = inject_noise(IDS, POSTS, fraction=0.2, seed=3)
    again = inject_noise(IDS, POSTS, fraction=0.2, seed=3)
    assert first.hashtags.to_pylist() == again.hashtags.to_pylist()
    other = inject_noise(IDS, POSTS, fraction=0.2, seed=4)
    assert other.injected.to_pylist() != first.injected.to_pylist()
    order = list(reversed(range(len(IDS))))
    reversed_noise = inject_noise([IDS[i] for i in order], [POSTS[i] for i in order], seed=3)
    assert reversed_noise.injected.to_pylist() == [first.injected.to_pylist()[i] for i in order]


def test_draws_follow_tag_frequency():
    posts = [["common", f"rare{i}"] for i in range(2000)] + [["other", "common2"]] * 2000
    ids = [f"p{i}" for i in range(len(posts))]
    injected = [t for t in inject_noise(ids, posts, fraction=1.0, seed=0).injected.to_pylist()]
    counts = {tag: injected.count(tag) for tag in ("common", "other", "common2")}
    # "common", "other", "common2" each hold 2000 of 8000 occurrences: ~1/4 of draws each,
    # except where the post already has the tag (then another tag is drawn)
    assert counts["other"] > 600 and counts["common2"] > 600 and counts["common"] > 600


def test_bad_arguments():
    with pytest.raises(ConfigError, match="fraction"):
        inject_noise(IDS, POSTS, fraction=1.5)
    with pytest.raises(ConfigError, match="post ids"):
        inject_noise(IDS[:3], POSTS)


def test_auroc_by_hand_with_ties():
    assert auroc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 1.0
    assert auroc(np.array([0.9, 0.8, 0.2, 0.1]), np.array([0, 0, 1, 1])) == 0.0
    assert auroc(np.array([0.5, 0.5, 0.5, 0.5]), np.array([0, 1, 0, 1])) == 0.5
    # one positive tied with one negative: counts half
    assert auroc(np.array([0.1, 0.5, 0.5]), np.array([0, 0, 1])) == 0.75
    assert np.isnan(auroc(np.array([0.1, 0.2]), np.array([1, 1])))
    assert average_ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]
    with pytest.raises(ConfigError, match="finite"):
        auroc(np.array([np.nan, 1.0]), np.array([0, 1]))


def test_auroc_matches_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.2
    scores = np.round(rng.random(500) + y * 0.3, 2)  # rounded: many ties
    assert auroc(scores, y) == pytest.approx(metrics.roc_auc_score(y, scores), abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=2, max_size=40))
def test_auroc_of_reversed_scores_is_one_minus(rows):
    scores = np.array([s for s, _ in rows], dtype=float)
    y = np.array([p for _, p in rows])
    if y.all() or not y.any():
        return
    assert auroc(scores, y) + auroc(-scores, y) == pytest.approx(1.0)


def test_precision_at_recall_cut():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    y = np.array([1, 0, 1, 0, 1, 0])
    assert precision_at_recall(scores, y, 1 / 3) == 1.0  # threshold 0.9: 1 of 1
    assert precision_at_recall(scores, y, 2 / 3) == pytest.approx(2 / 3)  # 0.7: 2 of 3
    assert precision_at_recall(scores, y, 1.0) == pytest.approx(3 / 5)
    tied = np.array([0.5, 0.5, 0.5, 0.1])
    assert precision_at_recall(tied, np.array([1, 0, 0, 1]), 0.5) == pytest.approx(1 / 3)
    with pytest.raises(ConfigError, match="recall"):
        precision_at_recall(scores, y, 0.0)
