"""Corpus embeddings: PPMI-SVD vectors from co-occurrence counts (datagraph.noise_corpus)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from datagraph.errors import ConfigError
from datagraph.noise_corpus import CorpusEmbedding
from datagraph.noise_counts import CooccurrenceCounts

BEACH = ["beach", "sea", "sand", "wave", "sunset", "ocean", "surf", "sun"]
FOOD = ["pizza", "pasta", "cheese", "tomato", "dinner", "lunch", "yummy", "food"]


def themed_counts() -> CooccurrenceCounts:
    """Two themes; "sunrise" and "sunset" never share a post but share their neighbours."""
    posts = []
    for theme, words in (("beach", BEACH), ("food", FOOD)):
        for i in range(16):
            posts.append((f"{theme}{i}", [words[(i + k) % 8] for k in range(4)]))
    posts += [(f"dawn{i}", ["sunrise", BEACH[i % 3], BEACH[3 + i % 3]]) for i in range(6)]
    posts.append(("once", ["beach", "onlyonce"]))
    rows = [(post, tag) for post, tags in posts for tag in tags]
    table = pa.table({"post_id": [p for p, _ in rows], "unit": [t for _, t in rows]})
    return CooccurrenceCounts.from_post_units(table, unit="tag")


def vector(counts, embedding, tag):
    return embedding.take(counts.codes([tag]))[0].astype(np.float64)


def test_vectors_put_related_tags_together():
    counts = themed_counts()
    embedding = CorpusEmbedding.of(counts, dim=4)
    beach, sea, pizza = (vector(counts, embedding, t) for t in ("beach", "sea", "pizza"))
    assert np.linalg.norm(beach) == pytest.approx(1.0, abs=1e-5)
    assert beach @ sea > beach @ pizza + 0.5
    # never counted together, yet close: what NPMI alone cannot see
    sunrise, sunset = vector(counts, embedding, "sunrise"), vector(counts, embedding, "sunset")
    assert sunrise @ sunset > sunrise @ pizza + 0.5


def test_rare_and_unknown_units_have_no_vector():
    counts = themed_counts()
    embedding = CorpusEmbedding.of(counts, dim=4)
    assert np.isnan(vector(counts, embedding, "onlyonce")).all()  # seen on one post
    assert np.isnan(embedding.take(np.array([-1]))).all()
    assert embedding.vocabulary == len(BEACH) + len(FOOD) + 1


def test_the_same_counts_give_the_same_bits():
    counts = themed_counts()
    first, again = CorpusEmbedding.of(counts, dim=3), CorpusEmbedding.of(counts, dim=3)
    assert np.array_equal(first.vectors, again.vectors, equal_nan=True)


def test_the_randomized_svd_finds_the_exact_top_vectors(monkeypatch):
    import datagraph.noise_corpus as corpus

    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.standard_normal((60, 5)))[0]
    matrix = basis @ np.diag([9.0, 7.0, 5.0, 3.0, 2.0]) @ basis.T
    matrix += 0.01 * rng.standard_normal((60, 60))
    u_exact, s_exact = corpus._top_singular(matrix, 4)
    monkeypatch.setattr(corpus, "EXACT_LIMIT", 2)  # the path for large vocabularies
    u_fast, s_fast = corpus._top_singular(matrix, 4)
    assert s_fast == pytest.approx(s_exact, rel=1e-6)
    assert np.abs(u_exact.T @ u_fast) == pytest.approx(np.eye(4), abs=1e-4)
    assert np.array_equal(u_fast, corpus._top_singular(matrix, 4)[0])  # fixed seed


def test_the_sparse_randomized_path_gives_the_exact_vectors(monkeypatch):
    """Vocabularies above EXACT_LIMIT keep the PPMI matrix sparse: same vectors as dense."""
    import datagraph.noise_corpus as corpus

    counts = themed_counts()
    exact = CorpusEmbedding.of(counts, dim=2)
    assert corpus.sparse.issparse(corpus._ppmi(counts, np.arange(len(counts))))
    monkeypatch.setattr(corpus, "EXACT_LIMIT", 2)
    fast = CorpusEmbedding.of(counts, dim=2)
    assert np.array_equal(np.isnan(exact.vectors), np.isnan(fast.vectors))
    usable = ~np.isnan(exact.vectors[:, 0])
    assert fast.vectors[usable] == pytest.approx(exact.vectors[usable], abs=1e-4)


def test_vocabulary_cap_keeps_the_most_frequent():
    counts = themed_counts()
    embedding = CorpusEmbedding.of(counts, dim=2, max_vocabulary=4)
    assert embedding.vocabulary <= 4
    kept = np.flatnonzero(~np.isnan(embedding.vectors[:, 0]))
    assert counts.counts[kept].min() >= np.sort(counts.counts)[-4]


def test_tiny_or_bad_inputs():
    table = pa.table({"post_id": ["a"], "unit": ["x"]})
    counts = CooccurrenceCounts.from_post_units(table, unit="tag")
    assert CorpusEmbedding.of(counts).vocabulary == 0
    with pytest.raises(ConfigError):
        CorpusEmbedding.of(counts, dim=0)
