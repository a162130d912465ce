"""Rebuild taxonomy/wordnet30/ from WordNet 3.0 (same as `datagraph taxonomy build`).

Usage: python taxonomy/build_wordnet.py [--wordnet-dir DIR] [--out DIR]

Reads WordNet 3.0 with NLTK's reader from NLTK data if present, else from Debian's
wordnet-base + wordnet-sense-index under /usr/share/wordnet. The output is byte-identical for
the same WordNet files and library versions (tests/test_wordnet_build.py checks it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from datagraph.resources import wordnet_snapshot_dir
from datagraph.wordnet_build import build_snapshot


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wordnet-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=wordnet_snapshot_dir())
    args = parser.parse_args(argv)
    print(json.dumps(build_snapshot(args.out, args.wordnet_dir), indent=2))


if __name__ == "__main__":
    main()
