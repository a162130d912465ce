"""How many bytes build_graph shuffles per post, stage by stage (for docs/scaling.md).

Usage: python benchmarks/shuffle_bytes.py [--input sample_data/posts.jsonl]

For every GroupByKey / CombinePerKey / CoGroupByKey input of pipelines/build_graph.py, this
builds the same keyed elements from the input's posts with the same library calls, encodes
each with Beam's FastPrimitivesCoder (what the runners use for these untyped PCollections), and
prints elements and bytes per input post. CombinePerKey inputs are counted before combiner
lifting: a runner pre-combines within a bundle, so their real shuffle is smaller (down to one
element per distinct key per bundle); the table gives the upper bound, and the vocabulary-keyed
rows show how much lifting can save (distinct keys per post).
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable, Iterable
from pathlib import Path

from apache_beam.coders.coders import FastPrimitivesCoder

from datagraph.cooccurrence import cap_post_labels
from datagraph.dedup import phash_bands, post_records, tagset_key
from datagraph.mapping import HashtagMapper
from datagraph.readers import read_posts
from datagraph.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=str(ROOT / "sample_data" / "posts.jsonl"))
    parser.add_argument("--lvis", default=str(ROOT / "sample_data" / "lvis_sample_categories.json"))
    args = parser.parse_args()
    records = [r for batch in read_posts(args.input) for r in post_records(batch.posts)]
    n = len(records)
    coder = FastPrimitivesCoder()
    mapper = HashtagMapper(load_taxonomy("lvis", args.lvis))
    tags = sorted({t for r in records for t in r.tags})
    synset_of = dict(zip(tags, mapper.map(tags).column("synset_id").to_pylist(), strict=True))
    labels = {
        r.post_id: cap_post_labels(r.post_id, [synset_of[t] for t in r.tags if synset_of[t]], 64)
        for r in records
    }
    stages: list[tuple[str, Callable[[], Iterable]]] = [
        ("dedup: post_id -> record (CombinePerKey)", lambda: ((r.post_id, r) for r in records)),
        (
            "dedup: sha256 -> record (CombinePerKey)",
            lambda: ((r.media_sha256, r) for r in records if r.media_sha256),
        ),
        (
            "dedup: phash band -> (rank, id, phash) (GroupByKey)",
            lambda: (
                (band, (r.rank, r.post_id, r.media_phash))
                for r in records
                if r.media_phash is not None
                for band in phash_bands(r.media_phash, 4)
            ),
        ),
        (
            "dedup: post_id -> record, loser join (CoGroupByKey)",
            lambda: ((r.post_id, r) for r in records if r.media_phash is not None),
        ),
        (
            "dedup: user tag set -> record (CombinePerKey)",
            lambda: ((tagset_key(r.user_id, r.tags), r) for r in records if r.user_id and r.tags),
        ),
        (
            "vocabulary: tag -> user (CombinePerKey)",
            lambda: ((t, r.user_id or r.post_id) for r in records for t in r.tags),
        ),
        (
            "labels: tag -> post_id (CoGroupByKey)",
            lambda: ((t, r.post_id) for r in records for t in r.tags),
        ),
        (
            "labels: post_id -> synset (GroupByKey)",
            lambda: ((p, s) for p, ss in labels.items() for s in ss),
        ),
        (
            "counts: synset -> 1 (CombinePerKey)",
            lambda: ((s, 1) for ss in labels.values() for s in ss),
        ),
        (
            "counts: (synset, synset) -> 1 (CombinePerKey)",
            lambda: (
                ((a, b), 1) for ss in labels.values() for a, b in itertools.combinations(ss, 2)
            ),
        ),
    ]
    print(f"{n:,} posts from {args.input}; bytes with Beam's FastPrimitivesCoder\n")
    print("| stage | elements / post | bytes / element | bytes / post |")
    print("|---|---:|---:|---:|")
    total = 0.0
    for name, make in stages:
        count = size = 0
        for element in make():
            count += 1
            size += len(coder.encode(element))
        per_post = size / n
        total += per_post
        print(f"| {name} | {count / n:.2f} | {size / max(count, 1):.0f} | {per_post:.0f} |")
    print(f"| **total (before combiner lifting)** | | | **{total:.0f}** |")


if __name__ == "__main__":
    main()
