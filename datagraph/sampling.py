"""Resampling the long tail: how many copies of each labelled post a training set gets.

Let n_c be the number of posts carrying class c (the histogram before sampling, classes with
n_c = 0 ignored), S = sum_c n_c and C the number of classes with posts.

**Power strategies** aim at a class distribution q_c proportional to n_c ** alpha:

- ``natural``: alpha = 1 (every post once, unchanged);
- ``sqrt``: alpha = 1/2 (Mahajan et al. 2018's square-root sampling);
- ``uniform``: alpha = 0 (every class equally often);
- ``temperature``: alpha given (``alpha``), e.g. 0.3.

Class c gets the repeat factor r_c = q_c * S / n_c = S * n_c ** (alpha - 1) / sum_j n_j ** alpha,
so that sum_c n_c * r_c = S: the number of label occurrences stays about the same, head classes
are down-sampled (r_c < 1) and tail classes repeated (r_c > 1). A post's factor is the **maximum**
over its classes, r(p) = max_{c in p} r_c, the rule of LVIS repeat-factor sampling (Gupta et al.
2019): a post is repeated as often as its rarest class needs, never less, so no tail label is
thinned by a common label beside it. The price is that a head class riding along with tail
classes gets more than its target; the manifest reports that gap (below).

**Balanced** (``balanced``, MetaCLIP, Xu et al. 2023): a cap t; class c passes with
probability p_c = min(1, t / n_c), one independent draw per (post, class), and a post is kept
(once) if any of its classes passes: P(p) = 1 - prod_{c in p} (1 - p_c). Target q_c
proportional to min(n_c, t). t is given (``cap``) or derived from a tail fraction f: t is the
smallest class count such that at least a fraction f of the classes with posts have
n_c <= t (those "tail" classes are kept whole; the rest are capped at t).

**Copies.** A post with expected copies x gets floor(x) copies plus one more with probability
x - floor(x). Every draw is a function of (seed, post_id) (and the class id, for the balanced
per-class draws) through ``datagraph.stable_hash``: the same run on any runner and any
parallelism draws the same copies.

**Checks.** ``expected_class_counts`` gives E_c = sum over posts p carrying c of x(p), what the
sampler promises; the shard manifest compares the achieved histogram with it and with the target
q by total variation distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datagraph.errors import ConfigError
from datagraph.stable_hash import STREAM_COPIES, STREAM_LABEL, mix, uniform, unit_interval

STRATEGIES = ("natural", "sqrt", "uniform", "temperature", "balanced")
_EXPONENTS = {"natural": 1.0, "sqrt": 0.5, "uniform": 0.0}


@dataclass(frozen=True)
class Sampling:
    """A resampling strategy and its parameters, as the user chose them."""

    strategy: str = "natural"
    alpha: float | None = None  # temperature: q_c ~ n_c ** alpha
    cap: float | None = None  # balanced: t given directly
    tail_fraction: float | None = None  # balanced: t from the class-count quantile

    def check(self) -> None:
        """Raise ConfigError for a strategy or parameters no run can use."""
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"unknown sampling strategy {self.strategy!r}; "
                f"choose one of {', '.join(STRATEGIES)}"
            )
        if self.strategy == "temperature" and (self.alpha is None or not 0 <= self.alpha <= 1):
            raise ConfigError("temperature sampling needs --alpha between 0 and 1")
        if self.strategy == "balanced":
            if (self.cap is None) == (self.tail_fraction is None):
                raise ConfigError("balanced sampling needs exactly one of --cap or --tail-fraction")
            if self.cap is not None and self.cap <= 0:
                raise ConfigError("--cap must be positive")
            if self.tail_fraction is not None and not 0 < self.tail_fraction <= 1:
                raise ConfigError("--tail-fraction must be in (0, 1]")

    @property
    def exponent(self) -> float | None:
        """alpha of the power strategies; None for balanced."""
        if self.strategy == "temperature":
            return float(self.alpha)
        return _EXPONENTS.get(self.strategy)

    def params(self) -> dict:
        """The parameters that matter for this strategy (for the manifest)."""
        if self.strategy == "balanced":
            return {"cap": self.cap, "tail_fraction": self.tail_fraction}
        return {"alpha": self.exponent}


@dataclass(frozen=True)
class SamplingPlan:
    """What one run samples with: per-class numbers computed once from the class histogram.

    ``class_factor`` is r_c for the power strategies and p_c for balanced; ``class_keys`` are
    the classes' stable ids (the taxonomy's class ids), which key the balanced per-class draws.
    """

    strategy: str
    counts: np.ndarray  # int64, posts per class before sampling
    class_factor: np.ndarray  # float64
    target_share: np.ndarray  # float64, sums to 1 over classes with posts
    class_keys: np.ndarray  # uint64
    cap: float | None = None  # the balanced t, resolved

    @property
    def num_classes(self) -> int:
        return len(self.counts)

    def expected_copies(self, offsets: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """x(p) per post: r(p) = max of r_c (power) or P(p) = 1 - prod(1 - p_c) (balanced).

        ``offsets`` (length posts + 1) and ``classes`` are a list column's layout: post i has
        classes[offsets[i]:offsets[i+1]], at least one each.
        """
        _check_layout(offsets, classes)
        if not len(classes):
            return np.zeros(0)
        starts = offsets[:-1]
        factors = self.class_factor[classes]
        if self.strategy != "balanced":
            return np.maximum.reduceat(factors, starts)
        with np.errstate(divide="ignore"):
            log_miss = np.log1p(-factors)  # -inf where p_c = 1
        return 1.0 - np.exp(np.add.reduceat(log_miss, starts))

    def copies(
        self, offsets: np.ndarray, classes: np.ndarray, post_hashes: np.ndarray
    ) -> np.ndarray:
        """The number of copies of each post (int64), drawn from its hash (seed, post_id)."""
        _check_layout(offsets, classes)
        if self.strategy == "balanced":
            lengths = np.diff(offsets)
            per_label = mix(
                np.repeat(post_hashes, lengths), mix(self.class_keys[classes], STREAM_LABEL)
            )
            passes = unit_interval(per_label) < self.class_factor[classes]
            if not len(classes):
                return np.zeros(0, dtype=np.int64)
            return np.logical_or.reduceat(passes, offsets[:-1]).astype(np.int64)
        expected = self.expected_copies(offsets, classes)
        whole = np.floor(expected)
        extra = uniform(post_hashes, STREAM_COPIES) < (expected - whole)
        return whole.astype(np.int64) + extra

    def summary(self) -> dict:
        """The plan's scalars for the manifest."""
        return {"strategy": self.strategy, "cap": self.cap}


def plan_sampling(
    counts: np.ndarray, sampling: Sampling, class_keys: np.ndarray | None = None
) -> SamplingPlan:
    """The plan for a class histogram (posts per class; classes with 0 posts get factor 0)."""
    sampling.check()
    counts = np.asarray(counts, dtype=np.int64)
    keys = np.arange(len(counts), dtype=np.uint64) if class_keys is None else class_keys
    keys = np.asarray(keys, dtype=np.uint64)
    present = counts > 0
    n = counts.astype(np.float64)
    factor = np.zeros(len(counts))
    weight = np.zeros(len(counts))
    cap = None
    if sampling.strategy == "balanced":
        cap = sampling.cap if sampling.cap is not None else tail_cap(counts, sampling.tail_fraction)
        factor[present] = np.minimum(1.0, cap / n[present])
        weight[present] = np.minimum(n[present], cap)
    elif present.any():
        alpha = sampling.exponent
        weight[present] = n[present] ** alpha
        factor[present] = n.sum() * n[present] ** (alpha - 1.0) / weight.sum()
    total = weight.sum()
    share = weight / total if total else weight
    return SamplingPlan(sampling.strategy, counts, factor, share, keys, cap)


def tail_cap(counts: np.ndarray, tail_fraction: float) -> float:
    """The smallest class count t with at least ``tail_fraction`` of the classes (with posts)
    at or below it."""
    positive = np.sort(np.asarray(counts)[np.asarray(counts) > 0])
    if not len(positive):
        return 1.0
    index = max(0, int(np.ceil(tail_fraction * len(positive))) - 1)
    return float(positive[index])


def expected_class_counts(
    offsets: np.ndarray, classes: np.ndarray, expected: np.ndarray, num_classes: int
) -> np.ndarray:
    """E_c: the sum over posts carrying class c of their expected copies."""
    per_label = np.repeat(expected, np.diff(offsets))
    return np.bincount(classes, weights=per_label, minlength=num_classes)


def class_histogram(
    offsets: np.ndarray, classes: np.ndarray, copies: np.ndarray, num_classes: int
) -> np.ndarray:
    """Rows carrying each class when post i is written ``copies[i]`` times (int64)."""
    per_label = np.repeat(np.asarray(copies, dtype=np.int64), np.diff(offsets))
    return np.bincount(classes, weights=per_label, minlength=num_classes).astype(np.int64)


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """Half the L1 distance between two histograms, each normalized to sum 1 (0 if either is
    empty)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        return 0.0
    return float(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())


def _check_layout(offsets: np.ndarray, classes: np.ndarray) -> None:
    if len(offsets) and (offsets[0] != 0 or offsets[-1] != len(classes)):
        raise ValueError("offsets must start at 0 and end at len(classes)")
    if len(offsets) > 1 and (np.diff(offsets) < 1).any():
        raise ValueError("every post needs at least one class")
