"""Corpus embedding (PPMI-SVD, datagraph.noise_corpus): seconds and memory by vocabulary size.

Usage: python benchmarks/corpus_embedding.py [--posts 1000000] [--tags-per-post 6]
       [--max-vocabulary 2048,8192,65536] [--threads-too]

Makes a seeded synthetic corpus of --posts posts with --tags-per-post tags each, drawn from a
Zipf(1.3) distribution over 300,000 tag ids (a long tail like real hashtags), counts its tag
co-occurrence once (``CooccurrenceCounts``, not timed), then builds ``CorpusEmbedding.of`` at
each --max-vocabulary and prints the units given a vector, the pairs inside that vocabulary,
wall seconds and the peak of memory allocated by the build (tracemalloc, which numpy and scipy
report their arrays to). This is what every score_noise worker does once per set of counts.
``--threads-too`` repeats each build with the BLAS thread count left to OpenBLAS (the library
pins it to one thread), to show what the pin is for on a busy machine.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import pyarrow as pa

TAG_IDS = 300_000
ZIPF = 1.3


def synthetic_counts(posts: int, per_post: int, seed: int = 0):
    """Co-occurrence counts of a seeded Zipf-tagged corpus."""
    from datagraph.noise_counts import CooccurrenceCounts

    rng = np.random.default_rng(seed)
    tags = np.minimum(rng.zipf(ZIPF, size=posts * per_post), TAG_IDS) - 1
    post_ids = np.repeat(np.arange(posts), per_post).astype(str)
    table = pa.table({"post_id": post_ids, "unit": np.char.add("t", tags.astype(str))})
    return CooccurrenceCounts.from_post_units(table, unit="tag")


def build(counts, max_vocabulary: int, pin_threads: bool) -> tuple[int, float, float]:
    """(units with a vector, seconds, peak MiB allocated) of one CorpusEmbedding.of."""
    import datagraph.noise_corpus as corpus

    pinned = corpus.BLAS_THREADS
    corpus.BLAS_THREADS = pinned if pin_threads else None
    try:
        tracemalloc.start()
        start = time.perf_counter()
        embedding = corpus.CorpusEmbedding.of(counts, max_vocabulary=max_vocabulary)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    finally:
        corpus.BLAS_THREADS = pinned
    return embedding.vocabulary, seconds, peak


def pairs_inside(counts, max_vocabulary: int) -> int:
    from datagraph.noise_corpus import DEFAULT_MIN_COUNT, _vocabulary

    inside = np.zeros(len(counts), dtype=bool)
    inside[_vocabulary(counts.counts, DEFAULT_MIN_COUNT, max_vocabulary)] = True
    keys = counts.pair_keys
    a = (keys >> np.uint64(32)).astype(np.int64)
    b = (keys & np.uint64(0xFFFFFFFF)).astype(np.int64)
    return int((inside[a] & inside[b]).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--tags-per-post", type=int, default=6)
    parser.add_argument("--max-vocabulary", default="2048,8192,65536")
    parser.add_argument("--threads-too", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    counts = synthetic_counts(args.posts, args.tags_per_post)
    print(
        f"{args.posts:,} posts x {args.tags_per_post} Zipf({ZIPF}) tags: {len(counts):,} "
        f"distinct tags, {len(counts.pair_keys):,} pairs (counted in "
        f"{time.perf_counter() - start:.1f} s)"
    )
    print()
    print("| max_vocabulary | BLAS threads | vectors | pairs inside | seconds | peak MiB |")
    print("|---:|---|---:|---:|---:|---:|")
    for size in (int(x) for x in args.max_vocabulary.split(",")):
        pairs = pairs_inside(counts, size)
        for pinned in (True, False) if args.threads_too else (True,):
            vectors, seconds, peak = build(counts, size, pinned)
            threads = "1 (pinned)" if pinned else "OpenBLAS default"
            row = f"| {size:,} | {threads} | {vectors:,} | {pairs:,} | {seconds:.2f} |"
            print(f"{row} {peak:,.0f} |")


if __name__ == "__main__":
    main()
