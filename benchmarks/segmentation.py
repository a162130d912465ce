"""Hashtag segmentation: accuracy and speed of datagraph.segment beside wordsegment and wordninja.

Usage: python benchmarks/segmentation.py [--data ../shared/data/hashtag_seg] [--repeat 7]

Accuracy is exact match after lower-casing, removing apostrophes and treating underscores as
spaces (segment() returns words, so STAN's "_" tokens count as separators), with any
alternative gold accepted. Speed is distinct tags per second on one core, best of --repeat
passes over each file's (distinct) tags, model loading excluded; datagraph.segment keeps no
cache, so every pass does the full work.
"""

from __future__ import annotations

import argparse
import csv
import gc
import time
from collections.abc import Callable
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hashtag_seg"
FILES = (
    ("STAN-large train", "stan_large_train.tsv"),
    ("STAN-large dev", "stan_large_dev.tsv"),
    ("STAN-small", "stan_small_test.tsv"),
    ("BOUN dev", "boun_dev.tsv"),
    ("Stanford dev", "stan_dev_celebi.tsv"),
)


def normalize(text: str) -> str:
    text = text.lower().replace("'", "").replace("\u2019", "").replace("_", " ")
    return " ".join(text.split())


def load_gold(path: Path) -> list[tuple[str, set[str]]]:
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        for row in reader:
            golds = [row[1], *(row[2].split("|") if len(row) > 2 and row[2] else [])]
            rows.append((row[0], {normalize(g) for g in golds if g}))
    return rows


def evaluate(split: Callable[[str], list[str]], rows, repeat: int) -> tuple[float, float]:
    tags = list(dict.fromkeys(tag for tag, _ in rows))
    best = 0.0
    gc.disable()  # collector pauses are noise at this scale
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            for tag in tags:
                split(tag)
            best = max(best, len(tags) / (time.perf_counter() - start))
    finally:
        gc.enable()
    correct = sum(normalize(" ".join(split(tag))) in golds for tag, golds in rows)
    return correct / len(rows), best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"gold sets not found at {args.data}")

    import wordninja
    import wordsegment

    from datagraph.segment import default_segmenter

    wordsegment.load()
    segmenter = default_segmenter()
    systems = {
        "datagraph": segmenter.segment,
        "wordsegment": wordsegment.segment,
        "wordninja": wordninja.split,
    }
    header = " | ".join(f"{name} acc | {name} tags/s" for name in systems)
    print(f"| gold set | n | {header} |")
    print("|---|---:|" + "---:|---:|" * len(systems))
    for label, name in FILES:
        rows = load_gold(args.data / name)
        cells = []
        for split in systems.values():
            accuracy, speed = evaluate(split, rows, args.repeat)
            cells.append(f"{accuracy:.3f} | {speed:,.0f}")
        print(f"| {label} | {len(rows)} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
