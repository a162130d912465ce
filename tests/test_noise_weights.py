"""The logistic combination of noise components and fitting its weights."""

from __future__ import annotations

import numpy as np
import pytest

from datagraph.errors import ConfigError
from datagraph.noise_weights import COMPONENTS, DEFAULT_WEIGHTS, NoiseWeights, fit_weights


def test_fit_recovers_a_logistic_model():
    rng = np.random.default_rng(1)
    n = 20_000
    similarity = rng.normal(0.5, 0.2, n)
    npmi = rng.normal(0.1, 0.3, n)
    logit = -1.0 - 3.0 * similarity - 2.0 * npmi
    noisy = rng.random(n) < 1 / (1 + np.exp(-logit))
    npmi[:2000] = np.nan  # missing: the column mean stands in
    weights = fit_weights({"context_similarity": similarity, "npmi_sum": npmi}, noisy)
    assert weights.weights["context_similarity"] == pytest.approx(-3.0, abs=0.3)
    assert weights.weights["npmi_sum"] == pytest.approx(-2.0, abs=0.3)
    assert weights.fill["npmi_sum"] == pytest.approx(np.nanmean(npmi), abs=1e-6)
    scores = weights.score({"context_similarity": similarity, "npmi_sum": npmi}, n)
    assert ((scores >= 0) & (scores <= 1)).all()


def test_missing_components_take_their_fill_value():
    weights = NoiseWeights(
        bias=0.5, weights={"npmi_sum": -2.0}, fill={"npmi_sum": 0.25}, source="test"
    )
    given = weights.logit({"npmi_sum": np.array([np.nan, 1.0])}, 2)
    absent = weights.logit({}, 2)
    assert given.tolist() == [0.0, -1.5]
    assert absent.tolist() == [0.0, 0.0]


def test_keep_carries_unfitted_priors_and_json_round_trips():
    rng = np.random.default_rng(2)
    y = rng.random(500) < 0.3
    fitted = fit_weights({"context_similarity": rng.random(500) - y * 0.5}, y, keep=DEFAULT_WEIGHTS)
    assert fitted.weights["image_similarity"] == DEFAULT_WEIGHTS.weights["image_similarity"]
    assert NoiseWeights.from_json(fitted.to_json()) == fitted


def test_default_weights_cover_every_component():
    assert set(DEFAULT_WEIGHTS.weights) == set(COMPONENTS)
    assert set(DEFAULT_WEIGHTS.fill) == set(COMPONENTS)
    assert "benchmarks/noise.py --fit" in DEFAULT_WEIGHTS.source


def test_bad_weights_and_data():
    with pytest.raises(ConfigError, match="unknown components"):
        NoiseWeights(bias=0.0, weights={"likes": 1.0}, fill={})
    with pytest.raises(ConfigError, match="finite"):
        NoiseWeights(bias=float("nan"), weights={}, fill={})
    with pytest.raises(ConfigError, match="both noisy and clean"):
        fit_weights({"npmi_sum": np.array([0.1, 0.2])}, np.array([True, True]))
