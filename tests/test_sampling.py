"""Each sampler against its documented formula and its exact expected distribution."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datagraph.errors import ConfigError
from datagraph.sampling import (
    Sampling,
    class_histogram,
    expected_class_counts,
    plan_sampling,
    tail_cap,
    total_variation,
)
from datagraph.stable_hash import hash_strings

COUNTS = np.array([10_000, 2_500, 400, 100, 0, 25])


def single_label_posts(counts):
    """One post per class occurrence: offsets/classes of posts with exactly one class each."""
    classes = np.repeat(np.arange(len(counts)), counts)
    offsets = np.arange(len(classes) + 1)
    hashes = hash_strings([f"post{i}" for i in range(len(classes))], seed=7)
    return offsets, classes, hashes


@pytest.mark.parametrize(
    ("strategy", "alpha"), [("natural", 1.0), ("sqrt", 0.5), ("uniform", 0.0), ("temperature", 0.3)]
)
def test_power_factors_follow_the_formula(strategy, alpha):
    plan = plan_sampling(
        COUNTS, Sampling(strategy, alpha=alpha if strategy == "temperature" else None)
    )
    n = COUNTS[COUNTS > 0].astype(float)
    expected = n.sum() * n ** (alpha - 1) / (n**alpha).sum()
    np.testing.assert_allclose(plan.class_factor[COUNTS > 0], expected)
    assert plan.class_factor[COUNTS == 0] == 0
    np.testing.assert_allclose(plan.target_share[COUNTS > 0], n**alpha / (n**alpha).sum())
    # label occurrences are preserved in expectation
    assert (COUNTS * plan.class_factor).sum() == pytest.approx(COUNTS.sum())


def test_natural_writes_every_post_exactly_once():
    offsets, classes, hashes = single_label_posts(COUNTS)
    plan = plan_sampling(COUNTS, Sampling("natural"))
    assert (plan.copies(offsets, classes, hashes) == 1).all()


@pytest.mark.parametrize(
    "sampling",
    [Sampling("sqrt"), Sampling("uniform"), Sampling("temperature", alpha=0.3)],
    ids=["sqrt", "uniform", "temperature"],
)
def test_power_samplers_hit_their_target_within_binomial_noise(sampling):
    offsets, classes, hashes = single_label_posts(COUNTS)
    plan = plan_sampling(COUNTS, sampling)
    copies = plan.copies(offsets, classes, hashes)
    achieved = class_histogram(offsets, classes, copies, len(COUNTS))
    r = plan.class_factor
    target = COUNTS * r  # single-label posts: E_c = n_c r_c = S q_c exactly
    np.testing.assert_allclose(
        expected_class_counts(offsets, classes, plan.expected_copies(offsets, classes), 6), target
    )
    np.testing.assert_allclose(target / target.sum(), plan.target_share)
    frac = r - np.floor(r)
    sigma = np.sqrt(COUNTS * frac * (1 - frac))
    assert (np.abs(achieved - target) <= 5 * sigma + 1e-9).all(), (achieved, target)
    # whole part is deterministic: every post of class c gets floor(r_c) or floor(r_c) + 1
    for c in np.flatnonzero(COUNTS):
        got = np.unique(copies[classes == c])
        assert set(got.tolist()) <= {int(np.floor(r[c])), int(np.floor(r[c])) + 1}


def test_multi_label_posts_take_the_maximum_factor():
    counts = np.array([1000, 10])
    plan = plan_sampling(counts, Sampling("sqrt"))
    offsets = np.array([0, 1, 3, 4])  # post 0: {0}; post 1: {0, 1}; post 2: {1}
    classes = np.array([0, 0, 1, 1])
    x = plan.expected_copies(offsets, classes)
    assert x.tolist() == pytest.approx(
        [plan.class_factor[0], plan.class_factor[1], plan.class_factor[1]]
    )


def test_balanced_cap_keeps_min_count_cap_per_class():
    offsets, classes, hashes = single_label_posts(COUNTS)
    plan = plan_sampling(COUNTS, Sampling("balanced", cap=300))
    np.testing.assert_allclose(
        plan.class_factor[COUNTS > 0], np.minimum(1, 300 / COUNTS[COUNTS > 0])
    )
    copies = plan.copies(offsets, classes, hashes)
    assert set(np.unique(copies).tolist()) <= {0, 1}
    achieved = class_histogram(offsets, classes, copies, len(COUNTS))
    mean = np.minimum(COUNTS, 300)
    p = plan.class_factor
    sigma = np.sqrt(COUNTS * p * (1 - p))
    assert (np.abs(achieved - mean) <= 5 * sigma + 1e-9).all()
    assert achieved[COUNTS <= 300].tolist() == COUNTS[COUNTS <= 300].tolist()  # tail kept whole


def test_balanced_keeps_a_post_if_any_label_passes():
    counts = np.array([4000, 4000])
    plan = plan_sampling(counts, Sampling("balanced", cap=1000))  # p = 0.25 each
    n = 40_000
    offsets = np.arange(0, 2 * n + 1, 2)
    classes = np.tile([0, 1], n)
    hashes = hash_strings([f"p{i}" for i in range(n)], seed=3)
    assert plan.expected_copies(offsets, classes) == pytest.approx(np.full(n, 1 - 0.75**2))
    kept = plan.copies(offsets, classes, hashes).mean()
    p = 1 - 0.75**2
    assert abs(kept - p) <= 5 * np.sqrt(p * (1 - p) / n)


def test_tail_fraction_sets_the_cap_at_the_class_count_quantile():
    counts = np.array([1, 2, 3, 4, 100, 0])
    assert tail_cap(counts, 0.4) == 2.0  # 2 of 5 classes at or below 2
    assert tail_cap(counts, 0.5) == 3.0
    assert tail_cap(counts, 1.0) == 100.0
    plan = plan_sampling(counts, Sampling("balanced", tail_fraction=0.8))
    assert plan.cap == 4.0


def test_copies_depend_only_on_seed_post_and_counts():
    offsets, classes, hashes = single_label_posts(COUNTS)
    plan = plan_sampling(COUNTS, Sampling("sqrt"))
    order = np.random.default_rng(0).permutation(len(classes))
    shuffled = plan.copies(offsets, classes[order], hashes[order])
    assert (shuffled == plan.copies(offsets, classes, hashes)[order]).all()
    other_seed = hash_strings([f"post{i}" for i in range(len(classes))], seed=8)
    assert (
        plan.copies(offsets, classes, other_seed) != plan.copies(offsets, classes, hashes)
    ).any()


@settings(max_examples=50, deadline=None)
@given(
    counts=st.lists(st.integers(0, 50), min_size=1, max_size=8),
    seed=st.integers(0, 2**32),
    strategy=st.sampled_from(["natural", "sqrt", "uniform", "balanced"]),
    data=st.data(),
)
def test_resampling_is_a_function_of_seed_post_id_and_counts(counts, seed, strategy, data):
    counts = np.array(counts)
    if counts.sum() == 0:
        return
    sampling = Sampling(strategy, cap=5.0 if strategy == "balanced" else None)
    offsets, classes, _ = single_label_posts(counts)
    ids = [f"post{i}" for i in range(len(classes))]
    order = data.draw(st.permutations(range(len(ids))))
    plan = plan_sampling(counts, sampling)
    first = plan.copies(offsets, classes, hash_strings(ids, seed))
    again = plan_sampling(counts, sampling).copies(
        offsets, classes[list(order)], hash_strings([ids[i] for i in order], seed)
    )
    assert again.tolist() == first[list(order)].tolist()


def test_total_variation():
    assert total_variation([1, 1], [1, 1]) == 0
    assert total_variation([1, 0], [0, 1]) == 1
    assert total_variation([3, 1], [1, 1]) == pytest.approx(0.25)
    assert total_variation([0, 0], [1, 1]) == 0


@pytest.mark.parametrize(
    "sampling",
    [
        Sampling("bogus"),
        Sampling("temperature"),
        Sampling("temperature", alpha=2),
        Sampling("balanced"),
        Sampling("balanced", cap=10, tail_fraction=0.5),
        Sampling("balanced", cap=-1),
        Sampling("balanced", tail_fraction=0),
    ],
)
def test_bad_sampling_options_are_config_errors(sampling):
    with pytest.raises(ConfigError):
        sampling.check()
