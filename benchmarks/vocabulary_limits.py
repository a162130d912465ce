"""A pathological vocabulary: a million distinct random hashtags, each used once.

Usage: python benchmarks/vocabulary_limits.py [--posts 200000] [--random-tags 5]
       [--min-posts 1,2] [--workdir /tmp/datagraph-vocab]

Writes --posts posts (8 JSONL files, seeded): each carries --random-tags random lowercase tags
of 5-20 letters (so posts x random-tags distinct tags, almost all used once) and one to three
real tags. Runs build_graph (FnApiRunner, 2 workers) once per --min-posts value and prints
wall seconds, the machine's peak memory over the process tree, and the manifest's vocabulary
counts: how many tags the cut kept out (`tags_below_cut`) and how many were normalized and
mapped. The cut is applied to the counted vocabulary before any tag is normalized or mapped,
so a spam-like long tail costs a count, not a mapping.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import BEAM_OPTIONS, TreeMemory

REAL_TAGS = ("#dog", "#cat", "#beach", "#sunset", "#pizza", "#car", "#tree", "#coffee")
LETTERS = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", np.uint8)


def write_posts(folder: Path, n_posts: int, random_tags: int, seed: int = 0) -> Path:
    """The posts, cached in ``folder`` (8 files); returns the glob."""
    done = folder / "done.json"
    spec = {"posts": n_posts, "random_tags": random_tags, "seed": seed}
    if done.is_file() and json.loads(done.read_text()) == spec:
        return folder / "*.jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 21, size=n_posts * random_tags)
    letters = LETTERS[rng.integers(0, 26, size=int(lengths.sum()))].tobytes().decode()
    ends = np.cumsum(lengths)
    words = [letters[end - length : end] for end, length in zip(ends, lengths, strict=True)]
    files = [(folder / f"posts-{i:05d}.jsonl").open("w") for i in range(8)]
    for post in range(n_posts):
        own = words[post * random_tags : (post + 1) * random_tags]
        real = list(rng.choice(REAL_TAGS, size=int(rng.integers(1, 4)), replace=False))
        record = {
            "post_id": f"p{post}",
            "user_id": f"u{int(rng.integers(0, n_posts // 5 + 1))}",
            "hashtags": [*real, *(f"#{w}" for w in own)],
        }
        files[post % 8].write(json.dumps(record) + "\n")
    for handle in files:
        handle.close()
    done.write_text(json.dumps(spec))
    return folder / "*.jsonl"


def run(posts: Path, output: Path, min_posts: int) -> tuple[float, float, dict]:
    """(seconds, peak MiB of the process tree at once, manifest) of one build_graph run."""
    command = [sys.executable, "-m", "pipelines.build_graph", "--input", str(posts)]
    command += ["--output", str(output), "--min-posts", str(min_posts), "--quiet"]
    command += BEAM_OPTIONS["fnapi2"]
    start = time.perf_counter()
    log = (output.parent / f"{output.name}.log").open("wb")  # Beam's worker logs
    process = subprocess.Popen(
        command, cwd=Path(__file__).resolve().parents[1], stdout=log, stderr=log
    )
    memory = TreeMemory(process.pid)
    while process.poll() is None:
        memory.poll()
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    log.close()
    if process.returncode != 0:
        raise SystemExit(f"build_graph failed (exit {process.returncode}); see {log.name}")
    return seconds, memory.at_once, json.loads((output / "manifest.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--random-tags", type=int, default=5)
    parser.add_argument("--min-posts", default="1,2")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/datagraph-vocab"))
    args = parser.parse_args()

    posts = write_posts(args.workdir / "posts", args.posts, args.random_tags)
    print(f"{args.posts:,} posts x {args.random_tags} random tags (+1-3 real); build_graph on")
    print("FnApiRunner, 2 workers; memory = largest sum of RSS over the process tree")
    print()
    print("| --min-posts | seconds | posts/s | memory MiB | distinct tags | below cut | mapped |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for min_posts in (int(v) for v in args.min_posts.split(",")):
        seconds, mib, manifest = run(posts, args.workdir / f"out-{min_posts}", min_posts)
        vocabulary = manifest["counts"]["vocabulary"]
        print(
            f"| {min_posts} | {seconds:.1f} | {args.posts / seconds:,.0f} | {mib:,.0f} | "
            f"{vocabulary['distinct_tags']:,} | {vocabulary['tags_below_cut']:,} | "
            f"{vocabulary['mapped_tags']:,} |"
        )


if __name__ == "__main__":
    main()
