"""Reading JSONL posts: the Arrow column path against the strict per-line path.

Usage: python benchmarks/readers.py [--posts FILE] [--lines 200000] [--repeat 3]

Reads the first --lines lines of a JSONL file (default: the sample posts; pass a bigger file
such as the pipeline benchmark's posts.jsonl) in chunks of 8,192 lines, both ways, best of
--repeat passes each; checks that both give the same posts and dead letters, and prints µs per
line and how many lines each path took. A third row adds the escapes a writer with
``ensure_ascii=True`` puts in (every non-ASCII character as ``\\uXXXX``), which the column path
also handles.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path

CHUNK = 8192


def _numbered(lines: list[bytes]) -> list[tuple[int, bytes]]:
    return [(i + 1, raw) for i, raw in enumerate(lines) if raw.strip()]


def _read(numbered: list[tuple[int, bytes]], columnar: bool) -> list:
    from datagraph.readers import jsonl_batch

    return [
        jsonl_batch("bench.jsonl", numbered[start : start + CHUNK], columnar=columnar)
        for start in range(0, len(numbered), CHUNK)
    ]


def _best(numbered: list[tuple[int, bytes]], columnar: bool, repeat: int) -> tuple[float, list]:
    best, batches = float("inf"), []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        start = time.perf_counter()
        batches = _read(numbered, columnar)
        best = min(best, time.perf_counter() - start)
        gc.enable()
    return best, batches


def _ascii_escaped(lines: list[bytes]) -> list[bytes]:
    out = []
    for raw in lines:
        try:
            out.append(json.dumps(json.loads(raw), ensure_ascii=True).encode())
        except ValueError:
            out.append(raw)  # the planted malformed lines stay as they are
    return out


def main() -> None:
    from datagraph.json_lines import parse_lines
    from datagraph.resources import sample_data_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=Path, default=sample_data_dir() / "posts.jsonl")
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with args.posts.open("rb") as handle:
        lines = [raw.rstrip(b"\r\n") for _, raw in zip(range(args.lines), handle, strict=False)]
    inputs = {"as written": lines, "ensure_ascii escapes": _ascii_escaped(lines)}
    print(f"{args.posts}, {len(lines):,} lines, chunks of {CHUNK:,}, best of {args.repeat}")
    print()
    print("| lines | path | µs/line | lines/s | column path | strict path | same output |")
    print("|---|---|---:|---:|---:|---:|---|")
    for name, raw_lines in inputs.items():
        numbered = _numbered(raw_lines)
        strict_seconds, strict = _best(numbered, False, args.repeat)
        column_seconds, column = _best(numbered, True, args.repeat)
        same = all(
            a.posts.equals(b.posts) and a.dead_letters.equals(b.dead_letters)
            for a, b in zip(column, strict, strict=True)
        )
        taken = sum(
            len(parse_lines([raw for _, raw in numbered[s : s + CHUNK]]).rows)
            for s in range(0, len(numbered), CHUNK)
        )
        n = len(numbered)
        for path, seconds, fast in (
            ("strict (json + validate_post)", strict_seconds, 0),
            ("columns (Arrow)", column_seconds, taken),
        ):
            print(
                f"| {name} | {path} | {seconds / n * 1e6:.1f} | {n / seconds:,.0f} | "
                f"{fast:,} | {n - fast:,} | {'yes' if same else 'NO'} |"
            )


if __name__ == "__main__":
    main()
