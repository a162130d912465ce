"""The noise components against direct per-label computations (numpy loops as the reference)."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest

from datagraph.noise_components import (
    LabelBaselines,
    PromptStatistics,
    context_similarity,
    cooccurrence_npmi,
    image_similarity,
    segment_sum,
    unit_rows,
    usable_vectors,
)
from datagraph.noise_counts import CooccurrenceCounts

RNG = np.random.default_rng(0)
VECTORS = unit_rows(RNG.standard_normal((12, 8)))
# posts as lists of text rows (distinct per post); text 11 has a NaN vector
POSTS = [[0, 1, 2, 3], [4, 5], [6], [7, 8, 11], [9, 10, 0]]
CAPTIONS = np.array([-1, -1, 2, -1, -1])


def flat_context():
    post = np.array([p for p, texts in enumerate(POSTS) for _ in texts])
    text = np.array([t for texts in POSTS for t in texts])
    return post, text


def labels():
    """Every (post, text) as a label whose vector is its own text's vector."""
    post = np.array([p for p, texts in enumerate(POSTS) for _ in texts])
    own = np.array([t for texts in POSTS for t in texts])
    return post, own


def test_segment_sum_across_chunk_boundaries():
    table = RNG.standard_normal((5, 3)).astype(np.float32)
    rows = RNG.integers(0, 5, 50)
    segments = RNG.integers(0, 7, 50)
    expected = np.zeros((8, 3))
    np.add.at(expected, segments, table[rows])
    for chunk in (1, 3, 7, 64):
        assert np.allclose(segment_sum(table, rows, segments, 8, chunk=chunk), expected, atol=1e-5)


def test_context_similarity_and_coherence_match_a_loop():
    vectors = VECTORS.copy()
    vectors[11] = np.nan
    context_post, context_text = flat_context()
    label_post, own = labels()
    result = context_similarity(
        vectors=vectors,
        n_posts=len(POSTS),
        context_post=context_post,
        context_text=context_text,
        label_post=label_post,
        label_own_text=own,
        label_vectors=vectors[own],
        captions=np.where((CAPTIONS >= 0)[:, None], vectors[np.maximum(CAPTIONS, 0)], np.nan),
    )
    for i, (post, text) in enumerate(zip(label_post, own, strict=True)):
        others = [t for t in POSTS[post] if t != text and t != 11]
        items = others + ([CAPTIONS[post]] if CAPTIONS[post] >= 0 else [])
        if text == 11 or not items:
            assert np.isnan(result.similarity[i])
        else:
            context = vectors[items].sum(axis=0)
            expected = context @ vectors[text] / np.linalg.norm(context)
            assert result.similarity[i] == pytest.approx(expected, abs=1e-5)
        assert result.n_context[i] == len(items)
        if len(others) >= 2:
            pairs = [vectors[a] @ vectors[b] for a, b in itertools.combinations(others, 2)]
            assert result.coherence[i] == pytest.approx(np.mean(pairs), abs=1e-5)
        else:
            assert np.isnan(result.coherence[i])


def test_npmi_aggregates_and_coherence_match_a_loop():
    units = pa.table(
        {
            "post_id": [f"p{p}" for p, texts in enumerate(POSTS) for _ in texts],
            "unit": [f"u{t % 6}" for texts in POSTS for t in texts],
        }
    )
    counts = CooccurrenceCounts.from_post_units(units, unit="tag")
    post_units = [sorted({int(counts.codes([f"u{t % 6}"])[0]) for t in texts}) for texts in POSTS]
    unit_post = np.array([p for p, codes in enumerate(post_units) for _ in codes])
    unit_code = np.array([c for codes in post_units for c in codes])
    label_post = np.array([0, 0, 1, 2, 3, 4, 4])
    label_unit = np.array([post_units[p][0] for p in label_post])
    label_unit[1] = -1  # unknown to the counts
    result = cooccurrence_npmi(
        counts,
        label_post=label_post,
        label_unit=label_unit,
        unit_post=unit_post,
        unit_code=unit_code,
    )
    for i, (post, code) in enumerate(zip(label_post, label_unit, strict=True)):
        others = [c for c in post_units[post] if c != code]
        if code < 0 or not others:
            assert np.isnan(result.total[i]) and result.n_units[i] == 0
            continue
        values = counts.npmi(np.full(len(others), code), np.array(others))
        assert result.total[i] == pytest.approx(values.sum())
        assert result.mean[i] == pytest.approx(values.mean())
        assert result.maximum[i] == pytest.approx(values.max())
        pairs = list(itertools.combinations(others, 2))
        if pairs:
            among = counts.npmi(np.array([a for a, _ in pairs]), np.array([b for _, b in pairs]))
            assert result.coherence[i] == pytest.approx(among.mean())
        else:
            assert np.isnan(result.coherence[i])
        # post-relative: each other unit's own mean NPMI with the rest of the post
        fits = []
        for other in others:
            rest = [c for c in post_units[post] if c != other]
            fits.append(counts.npmi(np.full(len(rest), other), np.array(rest)).mean())
        assert result.post_gap[i] == pytest.approx(values.mean() - min(fits))
        assert result.post_relative[i] == pytest.approx(values.mean() - np.mean(fits))


def test_npmi_post_figures_are_the_same_bits_whatever_the_row_order():
    rng = np.random.default_rng(3)
    post_units = [sorted(rng.choice(20, size=rng.integers(2, 9), replace=False)) for _ in range(60)]
    units = pa.table(
        {
            "post_id": [f"p{p}" for p, codes in enumerate(post_units) for _ in codes],
            "unit": [f"u{c:02d}" for codes in post_units for c in codes],
        }
    )
    counts = CooccurrenceCounts.from_post_units(units, unit="tag")
    unit_post = np.array([p for p, codes in enumerate(post_units) for _ in codes])
    unit_code = counts.codes(units.column("unit"))
    results = []
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(unit_post))
        results.append(
            cooccurrence_npmi(
                counts,
                label_post=unit_post,
                label_unit=unit_code,
                unit_post=unit_post[order],
                unit_code=unit_code[order],
            )
        )
    for other in results[1:]:
        for name in ("total", "mean", "maximum", "coherence", "post_gap", "post_relative"):
            assert np.array_equal(getattr(other, name), getattr(results[0], name), equal_nan=True)


def test_image_similarity_is_a_z_score_over_the_vocabulary():
    prompts = unit_rows(RNG.standard_normal((30, 6)))
    statistics = PromptStatistics.of(prompts)
    images = np.vstack([prompts[3] + 0.1 * RNG.standard_normal(6), np.full(6, np.nan)])
    label_post = np.array([0, 0, 1])
    label_prompts = prompts[[3, 7, 3]]
    value = image_similarity(
        images=images,
        label_post=label_post,
        label_prompts=label_prompts,
        statistics=statistics,
    )
    image = images[0] / np.linalg.norm(images[0])
    sims = prompts @ image
    expected = (sims[[3, 7]] - sims.mean()) / sims.std(ddof=1)
    assert value[:2] == pytest.approx(expected, abs=1e-6)
    assert value[0] > max(value[1], 1.0)  # the image is prompt 3's: above the vocabulary
    assert np.isnan(value[2])  # no image


def test_usable_vectors():
    vectors = np.array([[1.0, 0.0], [np.nan, 1.0], [0.0, 0.0], [np.inf, 0.0]])
    assert usable_vectors(vectors).tolist() == [True, False, False, False]


def test_label_baselines_leave_each_row_out():
    keys = pa.array(["dog", "dog", "dog", "cat", "cat", "owl", None])
    values = np.array([0.9, 0.6, np.nan, 0.2, 0.4, 0.5, 0.7])
    baselines = LabelBaselines.of(keys, {"npmi_mean": values, "likes": values})
    assert baselines.names == ("npmi_mean",)  # only the components it knows
    assert baselines.keys.to_pylist() == ["cat", "dog", "owl"]
    relative = baselines.relative(keys, {"npmi_mean": values})["npmi_mean_relative"]
    expected = [0.9 - 0.6, 0.6 - 0.9, np.nan, 0.2 - 0.4, 0.4 - 0.2, np.nan, np.nan]
    assert np.allclose(relative, expected, equal_nan=True)
    # baselines from other data: the row is not in the mean, nothing is left out
    corpus = LabelBaselines.of(pa.array(["dog", "dog"]), {"npmi_mean": np.array([0.5, 0.7])})
    new = pa.array(["dog", "cat"])
    other = LabelBaselines(corpus.keys, corpus.names, corpus.sums, corpus.counts, False)
    shifted = other.relative(new, {"npmi_mean": np.array([0.1, 0.3])})["npmi_mean_relative"]
    assert shifted[0] == pytest.approx(0.1 - 0.6) and np.isnan(shifted[1])
