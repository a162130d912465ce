"""How long loading the WordNet snapshot and the taxonomies takes (cold, fresh process each).

Usage: python benchmarks/taxonomy_load.py [--repeat 5]

Each measurement runs in a new Python process so nothing is cached; the table shows the median
and the fastest of --repeat runs. ../shared/data taxonomies are measured when present.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "taxonomies"
_LOAD = "from datagraph.taxonomy import load_taxonomy"
CASES = {
    "WordNet.load() (snapshot only)": "from datagraph.wordnet import WordNet; WordNet.load()",
    "WordNet.load() + lemma index": (
        "from datagraph.wordnet import WordNet; WordNet.load().synsets_for_lemma('dog')"
    ),
    "load_taxonomy('visual')": f"{_LOAD}; load_taxonomy('visual')",
    "load_taxonomy('wordnet')": f"{_LOAD}; load_taxonomy('wordnet')",
    "load_taxonomy('lvis', LVIS v1)": (
        "from datagraph.taxonomy import load_taxonomy; "
        f"load_taxonomy('lvis', {str(SHARED / 'lvis_v1_categories.json')!r})"
    ),
    "load_taxonomy('imagenet1k')": (
        "from datagraph.taxonomy import load_taxonomy; "
        f"load_taxonomy('imagenet1k', {str(SHARED / 'imagenet1k_wnids.txt')!r})"
    ),
}
TIMER = "import time, datagraph; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"


def measure(code: str, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", TIMER.format(code=code)],
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"| what (after `import datagraph`) | median s | min s |  (n={args.repeat})")
    print("|---|---:|---:|")
    for name, code in CASES.items():
        if "shared" in code and not SHARED.is_dir():
            continue
        times = measure(code, args.repeat)
        print(f"| {name} | {statistics.median(times):.3f} | {min(times):.3f} |")


if __name__ == "__main__":
    main()
