"""Regenerate the committed sample (same as `datagraph sample generate`).

Usage: python sample_data/generate.py [--posts 20000] [--seed 0] [--out sample_data]

The generator itself lives in datagraph/synthetic.py so tests and benchmarks can call it;
tests/test_synthetic.py checks that this sample is byte-identical to a fresh run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from datagraph.synthetic import write_sample


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    for kind, path in write_sample(args.out, args.posts, args.seed).items():
        print(f"{kind}: {path}")


if __name__ == "__main__":
    main()
