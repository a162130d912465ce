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
    "corpus_similarity",
    "corpus_similarity_relative",
    "npmi_post_gap",
    "npmi_post_relative",
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
# "visual" mapping, unit "tag", label texts "tag", alpha 0.25, corpus_dim 32). The components
# are correlated (a relative form is its raw form minus the label's mean elsewhere; sum, mean
# and max share their NPMI values; the post-relative ones are npmi_mean minus the post's
# other units' figures), so single weights do not read as effects, and some signs flip; the
# held-out AUROC is what validates the set. image_similarity is a prior: a label one standard
# deviation below the vocabulary's average match to its image adds 1 to the log-odds (not
# fitted: HARRISON has no images). See docs/noise.md.
DEFAULT_WEIGHTS = NoiseWeights(
    bias=-3.237076,
    weights={
        "context_similarity": 0.133189,
        "context_coherence": -0.480549,
        "npmi_sum": 0.083102,
        "npmi_mean": -7.015053,
        "npmi_max": -2.34385,
        "npmi_coherence": -1.495792,
        "context_similarity_relative": -1.962346,
        "npmi_sum_relative": -1.484825,
        "npmi_mean_relative": 8.506896,
        "npmi_max_relative": -1.197582,
        "corpus_similarity": 0.742646,
        "corpus_similarity_relative": -2.986014,
        "npmi_post_gap": -2.929882,
        "npmi_post_relative": -3.009956,
        "confidence": -0.279998,
        "image_similarity": -1.0,
    },
    fill={
        "context_similarity": 0.479784,
        "context_coherence": 0.323007,
        "npmi_sum": 0.496427,
        "npmi_mean": 0.104505,
        "npmi_max": 0.267786,
        "npmi_coherence": 0.095568,
        "context_similarity_relative": -0.000858,
        "npmi_sum_relative": -0.001324,
        "npmi_mean_relative": 0.000108,
        "npmi_max_relative": -0.000362,
        "corpus_similarity": 0.600282,
        "corpus_similarity_relative": 0.000496,
        "npmi_post_gap": 0.086188,
        "npmi_post_relative": 0.005298,
        "confidence": 0.790555,
        "image_similarity": 0.0,
    },
    source="benchmarks/noise.py --fit: dev half of HARRISON, 20% injected noise, seed 0",
)
