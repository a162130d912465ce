"""The evidence components of the label noise score: numpy over cached vectors and counts.

Nothing here calls a model. Every function takes whole arrays for a batch of labels: a label
row is one (post, tag that maps to a synset); context rows are the distinct other units of the
posts. See ``datagraph.noise`` for how the components are combined.

- ``context_similarity``: cosine of the label's vector with its post's context vector, the sum
  of the post's tag vectors *minus the label's own* (so each post's sum is computed once, not
  once per label), plus the caption's vector when there is one; and the mean cosine among the
  other tags, from the same sum (no pairs).
- ``cooccurrence_npmi``: sum, mean and max over the post's other units of the leave-one-out
  smoothed NPMI (``datagraph.noise_counts``), the mean NPMI among those other units (the
  post's own coherence), and the label's mean NPMI against the other units' own mean NPMI
  (the lowest and the average: does it fit the post worse than the rest?), from one
  self-join of each post's units, summed in a fixed order (the same bits on every run).
- ``image_similarity``: how much better the label's prompt matches the post's image than an
  average label of the vocabulary does, in standard deviations of that vocabulary:
  ``(i.t - i.mu) / sqrt(i' S i)`` with mu and S the mean and covariance of the vocabulary's
  prompt vectors, so a CLIP model whose cosines all sit near 0.25 still gives comparable
  values from image to image (and i.mu, i' S i cost one matrix product per post, not one per
  vocabulary label).
- ``LabelBaselines.relative``: each of those values minus the same label's mean on its other
  posts, so generic tags are judged against themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from datagraph.noise_counts import DEFAULT_ALPHA, CooccurrenceCounts

_TINY = 1e-12


def usable_vectors(vectors: np.ndarray) -> np.ndarray:
    """Rows that can be used: all finite and not all zero (NaN vectors are dropped, counted)."""
    if len(vectors) == 0:
        return np.zeros(0, dtype=bool)
    finite = np.isfinite(vectors).all(axis=1)
    norms = np.linalg.norm(np.where(finite[:, None], vectors, 0.0), axis=1)
    return finite & (norms > _TINY)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (zero rows stay zero), as float32."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, _TINY)).astype(np.float32, copy=False)


def segment_sum(
    table: np.ndarray,
    rows: np.ndarray,
    segments: np.ndarray,
    n_segments: int,
    chunk: int = 1 << 16,
) -> np.ndarray:
    """``out[s] = sum of table[rows[i]] over i with segments[i] == s`` (float32).

    One sort by segment, then ``np.add.reduceat`` over chunks of at most ``chunk`` rows, so
    no more than a chunk of gathered vectors is ever in memory (a batch of a million posts
    has some ten million context rows). A segment cut by a chunk boundary is summed in parts.
    """
    out = np.zeros((n_segments, table.shape[1]), dtype=np.float32)
    if len(segments) == 0:
        return out
    order = np.argsort(segments, kind="stable")
    ordered, ordered_rows = segments[order], rows[order]
    for begin in range(0, len(ordered), chunk):
        ids = ordered[begin : begin + chunk]
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        values = table[ordered_rows[begin : begin + chunk]]
        out[ids[starts]] += np.add.reduceat(values, starts, axis=0)
    return out


@dataclass(frozen=True)
class ContextResult:
    """Per label: the cosine (NaN without context or vector) and the context items used."""

    similarity: np.ndarray  # float64
    n_context: np.ndarray  # int64: other tags with a usable vector, plus 1 for a caption
    coherence: np.ndarray  # float64: mean cosine among the other tags (NaN: fewer than 2)


def context_similarity(
    *,
    vectors: np.ndarray,
    n_posts: int,
    context_post: np.ndarray,
    context_text: np.ndarray,
    label_post: np.ndarray,
    label_own_text: np.ndarray,
    label_vectors: np.ndarray,
    captions: np.ndarray | None = None,
    caption_weight: float = 1.0,
) -> ContextResult:
    """Cosine of each label's vector with its post's context (see the module docstring).

    ``vectors``: unit text vectors (rows may be NaN: unusable). ``context_post`` /
    ``context_text``: each post's distinct context texts (indices into ``vectors``), which
    must include the label's own text when ``label_own_text`` >= 0. ``label_vectors``: one
    row per label (NaN rows: no similarity). ``captions``: a caption vector per post (NaN
    rows: no caption).
    """
    ok = usable_vectors(vectors)
    clean = np.where(ok[:, None], vectors, 0.0).astype(np.float32)
    used = (context_text >= 0) & ok[np.maximum(context_text, 0)]
    post_sum = segment_sum(clean, context_text[used], context_post[used], n_posts)
    post_n = np.bincount(context_post[used], minlength=n_posts).astype(np.int64)
    own = (label_own_text >= 0) & ok[np.maximum(label_own_text, 0)]
    context = post_sum[label_post] - np.where(own[:, None], clean[np.maximum(label_own_text, 0)], 0)
    n_context = post_n[label_post] - own.astype(np.int64)
    # unit vectors: |sum|^2 = n + 2 * (sum of pairwise cosines), so the mean pairwise cosine
    # of the other tags needs no pairs: (|c|^2 - n) / (n (n - 1))
    squared = np.einsum("ij,ij->i", context, context)
    pairs = n_context * (n_context - 1)
    coherence = np.where(n_context >= 2, (squared - n_context) / np.maximum(pairs, 1), np.nan)
    if captions is not None:
        caption_ok = usable_vectors(captions)
        caption = np.where(caption_ok[:, None], np.nan_to_num(captions), 0.0).astype(np.float32)
        context = context + caption_weight * caption[label_post]
        n_context = n_context + caption_ok[label_post].astype(np.int64)
    norms = np.linalg.norm(context, axis=1)
    label_ok = usable_vectors(label_vectors)
    label_clean = np.where(label_ok[:, None], label_vectors, 0.0)
    similarity = np.einsum("ij,ij->i", context / np.maximum(norms, _TINY)[:, None], label_clean)
    similarity = np.where((n_context > 0) & (norms > _TINY) & label_ok, similarity, np.nan)
    return ContextResult(similarity=similarity, n_context=n_context, coherence=coherence)


@dataclass(frozen=True)
class NpmiResult:
    """Per label: sum, mean and max NPMI over the other units with known counts (NaN: none),
    and the coherence of those other units: their mean NPMI among themselves (NaN: < 2)."""

    total: np.ndarray
    mean: np.ndarray
    maximum: np.ndarray
    coherence: np.ndarray
    n_units: np.ndarray  # int64: other units with known counts
    post_gap: np.ndarray  # mean NPMI minus the lowest mean NPMI of the post's other units
    post_relative: np.ndarray  # mean NPMI minus the average mean NPMI of the other units


def cooccurrence_npmi(
    counts: CooccurrenceCounts,
    *,
    label_post: np.ndarray,
    label_unit: np.ndarray,
    unit_post: np.ndarray,
    unit_code: np.ndarray,
    alpha: float = DEFAULT_ALPHA,
) -> NpmiResult:
    """NPMI of each label's unit with every other unit of its post, aggregated per label.

    ``label_unit`` and ``unit_code`` are codes of ``counts`` (-1: unknown to the counts; such
    a label gets NaN, such a context unit is skipped). ``unit_post``/``unit_code`` list each
    post's distinct units. Leave-one-out follows ``counts.includes_scored_posts``.

    Every pair of units within a post is valued once (a self-join on the post: k(k-1)/2 pairs
    for k units), then summed per (post, unit) and per post; a label's figures are lookups,
    and the coherence of its post's *other* units is (post sum - the label's sum) / (post
    pairs - the label's pairs), with no second join.
    """
    units = (
        pl.DataFrame(
            {
                "post": pl.Series(unit_post, dtype=pl.Int64),
                "code": pl.Series(unit_code, dtype=pl.Int64),
            }
        )
        .filter(pl.col("code") >= 0)
        .unique()
    )
    pairs = (
        units.join(units, on="post", suffix="_b")
        .filter(pl.col("code") < pl.col("code_b"))
        .sort("post", "code", "code_b")  # sums in a fixed order: the same bits on every run
    )
    value = counts.npmi(pairs["code"].to_numpy(), pairs["code_b"].to_numpy(), alpha=alpha)
    ok = ~np.isnan(value)
    post = pairs["post"].to_numpy()[ok]
    code_a, code_b, value = pairs["code"].to_numpy()[ok], pairs["code_b"].to_numpy()[ok], value[ok]
    # per (post, unit): both directions of every pair, ordered by post, unit, other unit
    unit_post, unit_code = np.r_[post, post], np.r_[code_a, code_b]
    order = np.lexsort((np.r_[code_b, code_a], unit_code, unit_post))
    unit_post, unit_code = unit_post[order], unit_code[order]
    unit_value = np.r_[value, value][order]
    starts = _starts(unit_post, unit_code)
    per_unit = pl.DataFrame(
        {
            "post": pl.Series(unit_post[starts], dtype=pl.Int64),
            "code": pl.Series(unit_code[starts], dtype=pl.Int64),
            "total": _reduce(np.add, unit_value, starts),
            "maximum": _reduce(np.maximum, unit_value, starts),
            "n": np.diff(np.r_[starts, len(unit_value)]).astype(np.int64),
        }
    )
    post_starts = _starts(post)
    per_post = pl.DataFrame(
        {
            "post": pl.Series(post[post_starts], dtype=pl.Int64),
            "post_total": _reduce(np.add, value, post_starts),
            "post_n": np.diff(np.r_[post_starts, len(value)]).astype(np.int64),
        }
    )
    # each unit's own fit to its post (its mean NPMI with the others), for comparing a label
    # with the post's other units: the lowest two fits and their sum per post
    fit_post = per_unit["post"].to_numpy()
    fit = per_unit["total"].to_numpy() / np.maximum(per_unit["n"].to_numpy(), 1)
    fit_starts = _starts(fit_post)
    fit_n = np.diff(np.r_[fit_starts, len(fit)]).astype(np.int64)
    ranked = fit[np.lexsort((fit, fit_post))]
    second = np.minimum(fit_starts + 1, len(fit) - 1)
    fits = pl.DataFrame(
        {
            "post": pl.Series(fit_post[fit_starts], dtype=pl.Int64),
            "fit_min": ranked[fit_starts],
            "fit_second": np.where(fit_n >= 2, ranked[second], ranked[fit_starts]),
            "fit_total": _reduce(np.add, fit, fit_starts),
            "fit_n": fit_n,
        }
    )
    labels = (
        pl.DataFrame(
            {
                "post": pl.Series(label_post, dtype=pl.Int64),
                "code": pl.Series(label_unit, dtype=pl.Int64),
            }
        )
        .with_row_index("row")
        .join(per_unit, on=["post", "code"], how="left")
        .join(per_post, on="post", how="left")
        .join(fits, on="post", how="left")
        .sort("row")
    )
    known = (labels["code"] >= 0).to_numpy()
    n = labels["n"].fill_null(0).to_numpy().astype(np.int64)
    n = np.where(known, n, 0)
    total = labels["total"].fill_null(np.nan).to_numpy().astype(np.float64)
    maximum = labels["maximum"].fill_null(np.nan).to_numpy().astype(np.float64)
    has = known & (n > 0)
    post_total = labels["post_total"].fill_null(0.0).to_numpy().astype(np.float64)
    post_n = labels["post_n"].fill_null(0).to_numpy().astype(np.int64)
    other_n = post_n - n
    other_total = post_total - np.where(has, total, 0.0)
    coherence = np.where(known & (other_n > 0), other_total / np.maximum(other_n, 1), np.nan)
    mean = np.where(has, total / np.maximum(n, 1), np.nan)
    fit_min = labels["fit_min"].fill_null(np.nan).to_numpy().astype(np.float64)
    fit_second = labels["fit_second"].fill_null(np.nan).to_numpy().astype(np.float64)
    fit_total = labels["fit_total"].fill_null(np.nan).to_numpy().astype(np.float64)
    fit_n = labels["fit_n"].fill_null(0).to_numpy().astype(np.int64)
    # the lowest fit among the *other* units: the second lowest when the label is the lowest
    other_min = np.where(mean <= fit_min, fit_second, fit_min)
    other_mean = (fit_total - mean) / np.maximum(fit_n - 1, 1)
    return NpmiResult(
        total=np.where(has, total, np.nan),
        mean=mean,
        maximum=np.where(has, maximum, np.nan),
        coherence=coherence,
        n_units=n,
        post_gap=np.where(has & (fit_n >= 2), mean - other_min, np.nan),
        post_relative=np.where(has & (fit_n >= 2), mean - other_mean, np.nan),
    )


def _starts(*keys: np.ndarray) -> np.ndarray:
    """Where each run of equal keys begins, for arrays sorted by those keys."""
    if len(keys[0]) == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.zeros(len(keys[0]), dtype=bool)
    change[0] = True
    for key in keys:
        change[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(change)


def _reduce(ufunc: np.ufunc, values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``ufunc.reduceat`` that allows no rows (in a fixed order: the same bits every run)."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.float64)
    return ufunc.reduceat(values.astype(np.float64), starts)


@dataclass(frozen=True)
class PromptStatistics:
    """Mean and covariance of a label vocabulary's prompt vectors (for ``image_similarity``)."""

    mean: np.ndarray
    covariance: np.ndarray

    @classmethod
    def of(cls, prompts: np.ndarray) -> PromptStatistics:
        """From the usable rows of ``prompts`` (at least one row needed)."""
        rows = prompts[usable_vectors(prompts)].astype(np.float64)
        if len(rows) == 0:
            dimension = prompts.shape[1] if prompts.ndim == 2 else 0
            return cls(np.zeros(dimension), np.zeros((dimension, dimension)))
        mean = rows.mean(axis=0)
        centered = rows - mean
        return cls(mean, centered.T @ centered / max(len(rows) - 1, 1))


def image_similarity(
    *,
    images: np.ndarray,
    label_post: np.ndarray,
    label_prompts: np.ndarray,
    statistics: PromptStatistics,
) -> np.ndarray:
    """Standardized image-prompt similarity per label (NaN without a usable image/prompt)."""
    image_ok = usable_vectors(images)
    unit_images = np.where(image_ok[:, None], unit_rows(np.nan_to_num(images)), 0.0).astype(
        np.float64
    )
    baseline = unit_images @ statistics.mean
    spread = np.sqrt(np.einsum("ij,jk,ik->i", unit_images, statistics.covariance, unit_images))
    prompt_ok = usable_vectors(label_prompts)
    prompts = np.where(prompt_ok[:, None], np.nan_to_num(label_prompts), 0.0)
    raw = np.einsum("ij,ij->i", unit_images[label_post], prompts)
    value = (raw - baseline[label_post]) / np.maximum(spread[label_post], 1e-6)
    return np.where(image_ok[label_post] & prompt_ok & (spread[label_post] > 0), value, np.nan)


RELATIVE_TO_LABEL: tuple[str, ...] = (
    "context_similarity",
    "corpus_similarity",
    "npmi_sum",
    "npmi_mean",
    "npmi_max",
)


@dataclass(frozen=True)
class LabelBaselines:
    """Per label (canonical tag): the sum and count of each component over its rows, so a
    label's value on one post can be compared with its value on its *other* posts.

    Generic tags ("love", "friend", "girl") fit every post a little and none well; specific
    ones ("surfboard") fit their posts well. ``relative`` gives value minus the label's mean
    elsewhere (leave-one-out when ``includes_scored_rows``: the row's own value is taken out
    of the sum), NaN when the label has no other row. Sums merge by addition, so baselines
    over a corpus are a combiner's output (see docs/noise.md).
    """

    keys: pa.Array  # sorted distinct label keys
    names: tuple[str, ...]
    sums: np.ndarray  # (keys, names) float64
    counts: np.ndarray  # (keys, names) int64: rows with a value
    includes_scored_rows: bool = True

    @classmethod
    def of(cls, keys: pa.Array, components: dict[str, np.ndarray]) -> LabelBaselines:
        """From one value per row and component (NaN: no value) and each row's label key."""
        names = tuple(n for n in RELATIVE_TO_LABEL if n in components)
        distinct = pc.unique(keys.drop_null()).sort()
        codes = pc.index_in(keys, value_set=distinct).fill_null(-1).to_numpy(zero_copy_only=False)
        sums = np.zeros((len(distinct), len(names)))
        counts = np.zeros((len(distinct), len(names)), dtype=np.int64)
        for j, name in enumerate(names):
            values = np.asarray(components[name], dtype=np.float64)
            ok = (codes >= 0) & ~np.isnan(values)
            sums[:, j] = np.bincount(codes[ok], weights=values[ok], minlength=len(distinct))
            counts[:, j] = np.bincount(codes[ok], minlength=len(distinct))
        return cls(distinct, names, sums, counts)

    def relative(self, keys: pa.Array, components: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``<name>_relative`` per row: value minus the label's mean over its other rows."""
        codes = pc.index_in(keys, value_set=self.keys).fill_null(-1).to_numpy(zero_copy_only=False)
        known = codes >= 0
        safe = np.where(known, codes, 0)
        out = {}
        for j, name in enumerate(self.names):
            if name not in components:
                continue
            values = np.asarray(components[name], dtype=np.float64)
            own = ~np.isnan(values) & known if self.includes_scored_rows else np.zeros_like(known)
            total = self.sums[safe, j] - np.where(own, values, 0.0)
            count = self.counts[safe, j] - own.astype(np.int64)
            mean = np.where(known & (count > 0), total / np.maximum(count, 1), np.nan)
            out[f"{name}_relative"] = values - mean
        return out
