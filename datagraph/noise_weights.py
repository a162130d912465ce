"""How the noise components become one score, and how the weights are fitted.

``noise_score = 1 / (1 + exp(-(bias + sum_i w_i * x_i)))``, a logistic model over the
components ``x_i`` (``COMPONENTS``). A component a label lacks (no other tags with counts, no
image) takes its ``fill`` value, the mean of that component on the rows the weights were
fitted on, so a missing component moves the score neither way.

``fit_weights`` fits the model (Newton's method on the L2-penalized log-loss; a few
thousand rows and six columns take milliseconds) to labels marked noisy or clean. The
defaults, ``DEFAULT_WEIGHTS``, were fitted by ``benchmarks/noise.py --fit`` on the *dev* half
of HARRISON (posts whose xxh64 of post id puts them in the first half), with 20% of posts
given one injected tag; the numbers the benchmark reports come from the other half (see
docs/noise.md). Injected noise says nothing about mapping errors, so the fitted weight of the
mapping confidence is what that protocol can see (about 0); the image weight could not be
fitted on HARRISON (no images) and is a stated prior. Refit on your own data with
``fit_weights`` when you have it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from datagraph.errors import ConfigError

COMPONENTS: tuple[str, ...] = (
    "context_similarity",
    "context_coherence",
    "npmi_sum",
    "npmi_mean",
    "npmi_max",
    "npmi_coherence",
    "context_similarity_relative",
    "npmi_sum_relative",
    "npmi_mean_relative",
    "npmi_max_relative",
    "confidence",
    "image_similarity",
)


@dataclass(frozen=True)
class NoiseWeights:
    """Bias, one weight and one fill value per component, and where they came from."""

    bias: float
    weights: Mapping[str, float]
    fill: Mapping[str, float]
    source: str = ""
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted((set(self.weights) | set(self.fill)) - set(COMPONENTS))
        if unknown:
            raise ConfigError(f"noise weights name unknown components {unknown}; use {COMPONENTS}")
        values = [self.bias, *self.weights.values(), *self.fill.values()]
        if not all(math.isfinite(v) for v in values):
            raise ConfigError("noise weights must be finite numbers")

    def logit(self, components: Mapping[str, np.ndarray], n_rows: int) -> np.ndarray:
        """bias + sum of weight * component (fill where NaN); components not given count as
        missing everywhere."""
        total = np.full(n_rows, self.bias, dtype=np.float64)
        for name, weight in self.weights.items():
            if weight == 0.0:
                continue
            values = components.get(name)
            if values is None:
                total += weight * self.fill.get(name, 0.0)
                continue
            values = np.asarray(values, dtype=np.float64)
            total += weight * np.where(np.isnan(values), self.fill.get(name, 0.0), values)
        return total

    def score(self, components: Mapping[str, np.ndarray], n_rows: int) -> np.ndarray:
        """The noise score in [0, 1] (higher: more likely a wrong label)."""
        return 1.0 / (1.0 + np.exp(-self.logit(components, n_rows)))

    def to_json(self) -> str:
        """The weights as JSON (what the benchmark prints and docs/noise.md records)."""
        return json.dumps(
            {
                "bias": self.bias,
                "weights": dict(self.weights),
                "fill": dict(self.fill),
                "source": self.source,
                "extra": dict(self.extra),
            },
            indent=2,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> NoiseWeights:
        data = json.loads(text)
        return cls(
            bias=float(data["bias"]),
            weights={k: float(v) for k, v in data["weights"].items()},
            fill={k: float(v) for k, v in data["fill"].items()},
            source=str(data.get("source", "")),
            extra=dict(data.get("extra", {})),
        )


def fit_weights(
    components: Mapping[str, np.ndarray],
    is_noise: np.ndarray,
    *,
    names: tuple[str, ...] | None = None,
    l2: float = 1e-3,
    source: str = "",
    keep: NoiseWeights | None = None,
) -> NoiseWeights:
    """Logistic regression of ``is_noise`` on the named components (NaN -> the column mean).

    ``names`` defaults to every component given. Components of ``keep`` that are not fitted
    (the image prior when fitting on data without images) keep their weight and fill.
    """
    names = tuple(names or [n for n in COMPONENTS if n in components])
    y = np.asarray(is_noise, dtype=np.float64)
    if len(y) == 0 or y.min() == y.max():
        raise ConfigError("fit_weights needs both noisy and clean rows")
    columns, fill = [], {}
    for name in names:
        values = np.asarray(components[name], dtype=np.float64)
        if len(values) != len(y):
            raise ConfigError(f"component {name} has {len(values)} rows for {len(y)} labels")
        mean = float(np.nanmean(values)) if np.isfinite(values).any() else 0.0
        fill[name] = mean
        columns.append(np.where(np.isnan(values), mean, values))
    x = np.column_stack([np.ones(len(y)), *columns])
    w = np.zeros(x.shape[1])
    penalty = l2 * np.eye(len(w))
    penalty[0, 0] = 0.0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        gradient = x.T @ (p - y) + penalty @ w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    weights = {name: round(float(v), 6) for name, v in zip(names, w[1:], strict=True)}
    fills = {name: round(value, 6) for name, value in fill.items()}
    if keep is not None:
        for name in set(keep.weights) - set(names):
            weights[name] = keep.weights[name]
            if name in keep.fill:
                fills[name] = keep.fill[name]
    return NoiseWeights(bias=round(float(w[0]), 6), weights=weights, fill=fills, source=source)


# Fitted by `python benchmarks/noise.py --fit` (HARRISON dev half, seed 0, 20% injected noise,
# "visual" mapping, unit "tag", label texts "tag", alpha 0.25). The components are correlated
# (a relative form is its raw form minus the label's mean elsewhere; sum, mean and max share
# their NPMI values), so single weights do not read as effects, and some signs flip; the
# held-out AUROC is what validates the set. image_similarity is a prior: a label one standard
# deviation below the vocabulary's average match to its image adds 1 to the log-odds (not
# fitted: HARRISON has no images). See docs/noise.md.
DEFAULT_WEIGHTS = NoiseWeights(
    bias=-2.96415,
    weights={
        "context_similarity": -0.002093,
        "context_coherence": -0.461092,
        "npmi_sum": -0.574001,
        "npmi_mean": -6.630663,
        "npmi_max": -3.035296,
        "npmi_coherence": 2.573529,
        "context_similarity_relative": -2.271768,
        "npmi_sum_relative": -1.840156,
        "npmi_mean_relative": 5.956708,
        "npmi_max_relative": -0.772977,
        "confidence": -0.191791,
        "image_similarity": -1.0,
    },
    fill={
        "context_similarity": 0.481852,
        "context_coherence": 0.32335,
        "npmi_sum": 0.503508,
        "npmi_mean": 0.10544,
        "npmi_max": 0.269304,
        "npmi_coherence": 0.096414,
        "context_similarity_relative": -0.000898,
        "npmi_sum_relative": -0.0019,
        "npmi_mean_relative": 0.000112,
        "npmi_max_relative": -0.00039,
        "confidence": 0.786215,
        "image_similarity": 0.0,
    },
    source="benchmarks/noise.py --fit: dev half of HARRISON, 20% injected noise, seed 0",
)
