"""Evaluating a label noise scorer: seeded synthetic noise, AUROC, precision at a recall cut.

``inject_noise`` replaces one hashtag on a given fraction of posts with one drawn from the
global hashtag frequency distribution (tag occurrences over all posts), never a tag the post
already has. Every draw is a stable hash of the post id and the seed
(``datagraph.stable_hash``), so the same posts and seed give the same noise on any machine, in
any order:

- post chosen: ``uniform(h, 11) < fraction`` (posts without tags are never chosen);
- position replaced: ``floor(uniform(h, 12) * n_tags)`` over the post's tags in their order;
- replacement: inverse CDF of the frequency distribution at ``uniform(h, 13 + attempt)``,
  ``attempt`` = 0, 1, ... until the tag is not on the post (at most ``max_attempts``; a post
  that keeps drawing its own tags is left clean and counted).

``auroc`` is the rank statistic (Mann-Whitney U / n1 n0) with tied scores given their average
rank; ``precision_at_recall`` the precision of the rows scored at or above the threshold where
recall first reaches the cut (tied rows at the threshold included).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datagraph.errors import ConfigError
from datagraph.stable_hash import hash_strings, uniform

STREAM_CHOSEN = 11
STREAM_POSITION = 12
STREAM_DRAW = 13  # + attempt


@dataclass(frozen=True)
class InjectedNoise:
    """The noisy hashtag lists, and per post the injected and the replaced tag (or null)."""

    hashtags: pa.ListArray
    injected: pa.Array
    replaced: pa.Array
    unplaced: int  # posts chosen whose draws all hit their own tags


def inject_noise(
    post_ids: pa.Array | list[str],
    hashtags: pa.ListArray | list[list[str]],
    *,
    fraction: float = 0.2,
    seed: int = 0,
    max_attempts: int = 64,
) -> InjectedNoise:
    """Replace one tag on ``fraction`` of the posts (see the module docstring)."""
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"noise fraction must be within [0, 1], got {fraction}")
    ids = pa.array(post_ids, pa.string()) if isinstance(post_ids, list) else post_ids
    tags = pa.array(hashtags, pa.list_(pa.string())) if isinstance(hashtags, list) else hashtags
    tags = tags.cast(pa.list_(pa.string()))
    if len(ids) != len(tags):
        raise ConfigError(f"{len(ids)} post ids for {len(tags)} hashtag lists")
    n = len(ids)
    flat = pc.list_flatten(tags)
    if flat.null_count:
        raise ConfigError("inject_noise: hashtag lists hold null tags; drop them first")
    parent = pc.list_parent_indices(tags).to_numpy(zero_copy_only=False).astype(np.int64)
    vocabulary, codes = np.unique(
        np.asarray(flat.to_pylist(), dtype=object).astype(str), return_inverse=True
    )
    frequency = np.bincount(codes, minlength=len(vocabulary)).astype(np.float64)
    cumulative = np.cumsum(frequency) / max(frequency.sum(), 1.0)
    lengths = pc.list_value_length(tags).fill_null(0).to_numpy(zero_copy_only=False)
    offsets = np.r_[0, np.cumsum(lengths)]
    h = hash_strings(ids.to_pylist(), seed)
    chosen = (uniform(h, STREAM_CHOSEN) < fraction) & (lengths > 0)
    position = np.minimum((uniform(h, STREAM_POSITION) * lengths).astype(np.int64), lengths - 1)
    on_post = np.sort(parent.astype(np.uint64) << np.uint64(32) | codes.astype(np.uint64))
    drawn = np.full(n, -1, dtype=np.int64)
    pending = np.flatnonzero(chosen)
    for attempt in range(max_attempts):
        if len(pending) == 0:
            break
        u = uniform(h[pending], STREAM_DRAW + attempt)
        code = np.minimum(np.searchsorted(cumulative, u, side="right"), len(vocabulary) - 1)
        key = pending.astype(np.uint64) << np.uint64(32) | code.astype(np.uint64)
        spot = np.minimum(np.searchsorted(on_post, key), len(on_post) - 1)
        taken = on_post[spot] == key
        drawn[pending[~taken]] = code[~taken]
        pending = pending[taken]
    placed = drawn >= 0
    new_codes = codes.copy()
    where = offsets[:-1][placed] + position[placed]
    replaced_codes = codes[where]
    new_codes[where] = drawn[placed]
    values = pa.array(vocabulary[new_codes].tolist() if len(new_codes) else [], pa.string())
    noisy = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)
    injected = np.full(n, None, dtype=object)
    replaced = np.full(n, None, dtype=object)
    injected[placed] = vocabulary[drawn[placed]]
    replaced[placed] = vocabulary[replaced_codes]
    return InjectedNoise(
        hashtags=noisy,
        injected=pa.array(injected.tolist(), pa.string()),
        replaced=pa.array(replaced.tolist(), pa.string()),
        unplaced=len(pending),
    )


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    mean_rank = (starts + ends + 1) / 2.0  # ranks starts+1 .. ends, averaged
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for finding ``positive`` rows (ties averaged);
    NaN when a class is empty. Scores must be finite."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    if not np.isfinite(scores).all():
        raise ConfigError("auroc: scores must be finite (drop or fill unscored rows first)")
    n1 = int(positive.sum())
    n0 = len(positive) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = average_ranks(scores)
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def precision_at_recall(scores: np.ndarray, positive: np.ndarray, recall: float) -> float:
    """Precision among rows scored >= the threshold at which recall first reaches ``recall``."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    if not 0.0 < recall <= 1.0:
        raise ConfigError(f"recall cut must be within (0, 1], got {recall}")
    n1 = int(positive.sum())
    if n1 == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    hits = np.cumsum(positive[order])
    needed = int(np.ceil(recall * n1))
    threshold = scores[order][int(np.searchsorted(hits, needed))]
    above = scores >= threshold
    return float(positive[above].sum() / above.sum())
