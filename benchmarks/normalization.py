"""Hashtag normalization: distinct tags per second and what happens to them.

Usage: python benchmarks/normalization.py [--data ../shared/data] [--repeat 5]

For each vocabulary (the sample posts' distinct tags; with ../shared/data, HARRISON's 996
Instagram hashtags and the 5,486 distinct tags of the segmentation gold sets), a fresh
Normalizer (empty caches, data already loaded) normalizes every distinct tag once; best of
--repeat passes. The table also says how many tags are stopped, by reason, and how many change.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections import Counter
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def vocabularies(data: Path) -> dict[str, list[str]]:
    from datagraph.readers import read_posts
    from datagraph.resources import sample_data_dir

    sample: set[str] = set()
    for batch in read_posts(str(sample_data_dir() / "posts.jsonl")):
        for tags in batch.posts.column("hashtags").to_pylist():
            sample.update(tags or [])
    found = {"sample_data posts": sorted(sample)}
    harrison = data / "harrison" / "harrison_posts_dev.tsv"
    if harrison.is_file():
        lines = harrison.read_text(encoding="utf-8").splitlines()[1:]
        found["HARRISON (Instagram)"] = sorted(
            {t for line in lines for t in line.split("\t")[2].split()}
        )
    gold = sorted((data / "hashtag_seg").glob("*.tsv")) if (data / "hashtag_seg").is_dir() else []
    if gold:
        tags = {line.split("\t")[0] for path in gold for line in path.read_text().splitlines()[1:]}
        found["segmentation gold sets"] = sorted(tags)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from datagraph.normalize import Normalizer

    Normalizer()  # load the word model and WordNet once, outside the timings
    print("| vocabulary | distinct tags | tags/s | usable | changed | stopped (by reason) |")
    print("|---|---:|---:|---:|---:|---|")
    for name, tags in vocabularies(args.data).items():
        best = 0.0
        for _ in range(args.repeat):
            normalizer = Normalizer()
            gc.disable()
            start = time.perf_counter()
            results = normalizer.normalize_many(tags)
            best = max(best, len(tags) / (time.perf_counter() - start))
            gc.enable()
        usable = sum(r.usable for r in results)
        changed = sum(r.usable and r.raw.lstrip("#").lower() != r.canonical for r in results)
        reasons = Counter(r.stop_reason for r in results if r.is_stopword)
        stopped = ", ".join(f"{k} {v}" for k, v in reasons.most_common())
        print(f"| {name} | {len(tags):,} | {best:,.0f} | {usable:,} | {changed:,} | {stopped} |")


if __name__ == "__main__":
    main()
