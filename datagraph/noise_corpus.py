"""Corpus-learned unit vectors for the label noise score: a truncated SVD of the PPMI matrix.

The classical count-based word vectors (Levy, Goldberg and Dagan 2015), made from the same
co-occurrence counts the NPMI components read (``CooccurrenceCounts``), no model and no
training pass::

    ppmi(a, b) = max(0, ln(n_ab * N / (n_a * c_b)))     c_b = N * n_b^0.75 / sum_u n_u^0.75
    PPMI ~ U S V'   (the ``dim`` largest singular values)
    vector(a) = row a of U * sqrt(S), scaled to length 1

``c`` is the context distribution smoothed by the power 0.75 (rare contexts would otherwise
get huge PMI). Two tags that never share a post but share neighbours ("sunrise" and
"sundown") get close vectors, so a label is judged against its post's other tags even where
the pair was never counted: ``corpus_similarity`` in ``datagraph.noise``, the cosine of the
label's vector with the sum of the vectors of its post's other units.

The vocabulary is the units seen on at least ``min_count`` posts (a unit seen once has only
its own post to say what it means), at most ``max_vocabulary`` of them, most frequent first
(ties by name). Up to ``EXACT_LIMIT`` units the SVD is LAPACK's, exact; above, a randomized
SVD (Halko, Martinsson and Tropp 2011: a Gaussian test matrix from a fixed seed, four power
iterations), so the same counts always give the same vectors. Units outside the vocabulary
have no vector (NaN rows). The vectors are made once per ``CooccurrenceCounts`` (the
scorer keeps them), not per batch.

Memory and threads. The PPMI matrix is sparse (only pairs counted together can be positive):
its size follows the pair table, not the vocabulary squared, and the randomized SVD only
multiplies it by thin dense matrices. The SVD runs on one BLAS thread: every scoring worker
makes its vectors at the same time, and OpenBLAS threads competing for busy cores made the
SVD of 8,192 units take 7.2 s instead of 0.42 s on the 2-core development VM
(benchmarks/corpus_embedding.py, docs/benchmarks.md).

The counts include the scored posts; unlike NPMI, the vectors are not made leave-one-out
(that would need one SVD per post). Measured on the dev half of HARRISON, correcting each
label's vector for its own post's pairs changed the AUROC by less than 0.001 (docs/noise.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

from datagraph.errors import ConfigError
from datagraph.noise_counts import CooccurrenceCounts

DEFAULT_DIM = 32  # chosen on the dev half of HARRISON (benchmarks/noise.py --explore)
DEFAULT_MIN_COUNT = 2
DEFAULT_MAX_VOCABULARY = 65536  # 1.7 s, 199 MiB on 1M Zipf posts (benchmarks/corpus_embedding.py)
EXACT_LIMIT = 1024
CONTEXT_POWER = 0.75
SEED = 0
BLAS_THREADS = 1  # for the SVD (module docstring); None leaves OpenBLAS its own count


@dataclass(frozen=True)
class CorpusEmbedding:
    """Unit-length vectors for the codes of one ``CooccurrenceCounts`` (NaN rows: no vector)."""

    vectors: np.ndarray  # (units of the counts, dim) float32
    dim: int
    vocabulary: int  # units with a vector

    @classmethod
    def of(
        cls,
        counts: CooccurrenceCounts,
        *,
        dim: int = DEFAULT_DIM,
        min_count: int = DEFAULT_MIN_COUNT,
        max_vocabulary: int = DEFAULT_MAX_VOCABULARY,
    ) -> CorpusEmbedding:
        """Vectors from the counts (see the module docstring)."""
        if dim < 1:
            raise ConfigError(f"corpus embedding dim must be >= 1, got {dim}")
        if max_vocabulary < 2:
            raise ConfigError(f"corpus embedding max_vocabulary must be >= 2, got {max_vocabulary}")
        n_units = len(counts)
        vocabulary = _vocabulary(counts.counts, min_count, max_vocabulary)
        out = np.full((n_units, dim), np.nan, dtype=np.float32)
        if len(vocabulary) < 2:
            return cls(out, dim, 0)
        matrix = _ppmi(counts, vocabulary)
        rank = min(dim, len(vocabulary) - 1)
        with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
            u, s = _top_singular(matrix, rank)
        vectors = u * np.sqrt(s)[None, :]
        norms = np.linalg.norm(vectors, axis=1)
        usable = norms > 1e-12  # a unit with no positive PMI in the vocabulary: no vector
        rows = np.zeros((len(vocabulary), dim), dtype=np.float64)
        rows[:, :rank] = vectors / np.maximum(norms, 1e-12)[:, None]
        out[vocabulary[usable]] = rows[usable].astype(np.float32)
        return cls(out, dim, int(usable.sum()))

    def take(self, codes: np.ndarray) -> np.ndarray:
        """Vectors of unit codes (NaN rows for -1 and for units without a vector)."""
        codes = np.asarray(codes, dtype=np.int64)
        if len(self.vectors) == 0:
            return np.full((len(codes), self.dim), np.nan, dtype=np.float32)
        out = self.vectors[np.maximum(codes, 0)].copy()
        out[codes < 0] = np.nan
        return out


def _vocabulary(unit_counts: np.ndarray, min_count: int, max_vocabulary: int) -> np.ndarray:
    """Codes of the units with a vector, ascending: frequent enough, the most frequent first
    (ties by code, i.e. by name) up to ``max_vocabulary``."""
    codes = np.flatnonzero(unit_counts >= max(min_count, 1))
    if len(codes) > max_vocabulary:
        order = np.lexsort((codes, -unit_counts[codes]))
        codes = codes[order[:max_vocabulary]]
    return np.sort(codes)


def _ppmi(counts: CooccurrenceCounts, vocabulary: np.ndarray) -> sparse.csr_array:
    """The symmetric PPMI matrix over the vocabulary, sparse (float64): only pairs counted
    together can be positive, so memory follows the pair table, not vocabulary squared."""
    size = len(vocabulary)
    position = np.full(len(counts), -1, dtype=np.int64)
    position[vocabulary] = np.arange(size)
    keys = counts.pair_keys
    a = position[(keys >> np.uint64(32)).astype(np.int64)]
    b = position[(keys & np.uint64(0xFFFFFFFF)).astype(np.int64)]
    kept = (a >= 0) & (b >= 0)
    a, b, n_ab = a[kept], b[kept], counts.pair_counts[kept].astype(np.float64)
    n = counts.counts[vocabulary].astype(np.float64)
    total = float(counts.total_posts)
    smoothed = n**CONTEXT_POWER
    context = total * smoothed / smoothed.sum()
    rows, cols, pairs = np.r_[a, b], np.r_[b, a], np.r_[n_ab, n_ab]
    pmi = np.log(pairs * total / (n[rows] * context[cols]))
    positive = pmi > 0
    # each (a, b) pair key occurs once, so no entry is summed from two
    return sparse.csr_array(
        (pmi[positive], (rows[positive], cols[positive])), shape=(size, size), dtype=np.float64
    )


def _top_singular(matrix: np.ndarray | sparse.sparray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Left singular vectors and values of the ``rank`` largest singular values, each vector's
    sign fixed (its largest entry positive) so the result does not depend on the solver. The
    exact path makes the matrix dense (at most ``EXACT_LIMIT`` squared); the randomized one
    only multiplies it, dense or sparse, by thin dense matrices."""
    if matrix.shape[0] <= EXACT_LIMIT:
        dense = matrix.toarray() if sparse.issparse(matrix) else matrix
        u, s, _ = np.linalg.svd(dense, full_matrices=False)
        u, s = u[:, :rank], s[:rank]
    else:
        rng = np.random.default_rng(SEED)
        width = min(rank + 16, matrix.shape[0])
        q, _ = np.linalg.qr(matrix @ rng.standard_normal((matrix.shape[1], width)))
        for _ in range(4):
            q, _ = np.linalg.qr(matrix.T @ q)
            q, _ = np.linalg.qr(matrix @ q)
        small, s, _ = np.linalg.svd((matrix.T @ q).T, full_matrices=False)
        u, s = (q @ small)[:, :rank], s[:rank]
    largest = np.argmax(np.abs(u), axis=0)
    signs = np.where(u[largest, np.arange(u.shape[1])] < 0, -1.0, 1.0)
    return u * signs[None, :], s
