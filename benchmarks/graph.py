"""How fast the label graph is aggregated, built, saved and loaded, and how much memory it takes.

Usage: python benchmarks/graph.py [--posts 1000000] [--hashtags 100000] [--batches 4]
                                  [--repeat 3] [--seed 0] [--stages one-call,batches,graph]

Synthetic data over the real WordNet snapshot, deterministic for a given seed and --batches:

- post_synsets: ``--posts`` posts with 1-8 labels each (uniform), drawn Zipf-like (weight 1/rank)
  from the 46,162 visual synsets in a fixed random order, plus a duplicate of one row in ten
  (#dog and #doggo on one post). With the defaults: 5.0M rows and 9.9M (post, synset pair)
  incidences, the "10M pairs" of the table. It is written to Parquet first, one row group per
  batch, cut at post boundaries.
- a mapping of ``--hashtags`` canonical tags (a third with a second raw form), each aliasing a
  random visual synset, with Zipf-like post counts.

Each stage runs in its own process and reads its input from those files, so "peak RSS" is that
stage's own high-water mark (VmHWM); the "input" row is the table read before counting. Stages:
``one-call``: co-occurrence and synset counts over the whole table; ``batches``: the same with
``aggregate_batches`` reading one row group at a time (the route to 100M pairs: memory is one
batch plus the running pair totals); ``graph``: building over the full WordNet noun graph
(82,116 synsets with the project extension) plus the hashtags, with and without the
co-occurrence edges, saving, and loading in a fresh process (median of ``--repeat``), alone and
with the first query of each kind, which builds the lookup dictionaries.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datagraph.cooccurrence import aggregate_batches, cooccurrence_counts, synset_post_counts
from datagraph.graph import LabelGraph
from datagraph.wordnet import WordNet

Row = tuple[str, str, float | None, float]

LOAD = """
import json, resource, sys, time
from datagraph.graph import LabelGraph
t = time.perf_counter()
g = LabelGraph.load(sys.argv[1])
loaded = time.perf_counter() - t
g.synsets_for("#tag000001"); g.hashtags_for("dog.n.01"); g.ancestors("dog.n.01")
g.cooccurring("dog.n.01"); g.count("dog.n.01")
queried = time.perf_counter() - t
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(json.dumps([loaded, queried, int(hwm) / 1024]))
"""


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited on exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def post_synsets(wn: WordNet, first: int, posts: int, rng: np.random.Generator) -> pa.Table:
    """post_synsets rows for posts first .. first+posts-1, grouped by post."""
    visual = np.array(sorted(wn.visual_synsets))
    np.random.default_rng(0).shuffle(visual)  # the same Zipf ranking in every chunk
    weights = 1.0 / np.arange(1, visual.size + 1)
    sizes = rng.integers(1, 9, posts)
    post = np.repeat(np.arange(first, first + posts), sizes)
    synset = rng.choice(visual.size, size=post.size, p=weights / weights.sum())
    extra = rng.random(post.size) < 0.1
    post = np.concatenate([post, post[extra]])
    synset = np.concatenate([synset, synset[extra]])
    order = np.argsort(post, kind="stable")
    return pa.table(
        {
            "post_id": pc.cast(pa.array(post[order]), pa.string()),
            "synset_id": pa.array(visual.tolist(), pa.string()).take(pa.array(synset[order])),
        }
    )


def mapping_tables(wn: WordNet, hashtags: int, rng: np.random.Generator) -> tuple[pa.Table, ...]:
    """A mapping of synthetic tags onto random visual synsets, and their post counts."""
    visual = np.array(sorted(wn.visual_synsets))
    canonical = np.array([f"tag{i:06d}" for i in range(hashtags)])
    synset = visual[rng.integers(0, visual.size, hashtags)]
    confidence = rng.uniform(0.3, 1.0, hashtags).astype(np.float32)
    second = np.arange(hashtags) % 3 == 0
    raw = np.concatenate(["#" + canonical, "#Tag" + np.char.lstrip(canonical[second], "tag")])
    rows = np.concatenate([np.arange(hashtags), np.flatnonzero(second)])
    mapping = pa.table(
        {
            "raw_tag": raw,
            "canonical": canonical[rows],
            "synset_id": synset[rows],
            "confidence": pa.array(confidence[rows], pa.float32()),
        }
    )
    counts = (1_000_000 / (1 + rng.permutation(rows.size))).astype(np.int64) + 1
    return mapping, pa.table({"raw_tag": raw, "n_posts": counts})


def write_inputs(args: argparse.Namespace, folder: Path) -> None:
    """The synthetic inputs as Parquet; post_synsets is made and written one batch (row
    group) at a time, so any size fits in memory."""
    wn = WordNet.load()
    rng = np.random.default_rng(args.seed)
    bounds = np.linspace(0, args.posts, args.batches + 1).astype(np.int64).tolist()
    writer = None
    for start, stop in itertools.pairwise(bounds):
        chunk = post_synsets(wn, start, stop - start, rng)
        if writer is None:
            writer = pq.ParquetWriter(folder / "post_synsets.parquet", chunk.schema)
        writer.write_table(chunk, row_group_size=1 << 30)
    writer.close()
    mapping, tag_counts = mapping_tables(wn, args.hashtags, rng)
    pq.write_table(mapping, folder / "mapping.parquet")
    pq.write_table(tag_counts, folder / "tag_counts.parquet")


def stage_one_call(args: argparse.Namespace) -> list[Row]:
    labels = pq.read_table(args.input / "post_synsets.parquet")
    rows: list[Row] = [("input", f"{labels.num_rows:,} post_synsets rows", None, peak_rss_mib())]
    (pairs, counts), seconds = timed(
        lambda: (cooccurrence_counts(labels), synset_post_counts(labels))
    )
    incidences = pc.sum(pairs["n_posts"]).as_py()
    rows.append(
        (
            "co-occurrence + synset counts, one call",
            f"{args.posts:,} posts, {incidences:,} pair incidences → {pairs.num_rows:,} pairs, "
            f"{counts.num_rows:,} synsets",
            seconds,
            peak_rss_mib(),
        )
    )
    pq.write_table(pairs, args.input / "pairs.parquet")
    pq.write_table(counts, args.input / "synset_counts.parquet")
    return rows


def stage_batches(args: argparse.Namespace) -> list[Row]:
    source = pq.ParquetFile(args.input / "post_synsets.parquet")
    batches = (source.read_row_group(i) for i in range(source.num_row_groups))
    (counts, pairs), seconds = timed(lambda: aggregate_batches(batches))
    incidences = pc.sum(pairs["n_posts"]).as_py()
    pq.write_table(pairs, args.input / "pairs.parquet")
    pq.write_table(counts, args.input / "synset_counts.parquet")
    return [
        (
            f"the same, streamed in {source.num_row_groups} batches (aggregate_batches)",
            f"{incidences:,} pair incidences → {pairs.num_rows:,} pairs, "
            f"{counts.num_rows:,} synsets",
            seconds,
            peak_rss_mib(),
        )
    ]


def stage_graph(args: argparse.Namespace) -> list[Row]:
    wn = WordNet.load()
    mapping = pq.read_table(args.input / "mapping.parquet")
    tag_counts = pq.read_table(args.input / "tag_counts.parquet")
    pairs = pq.read_table(args.input / "pairs.parquet")
    counts = pq.read_table(args.input / "synset_counts.parquet")
    rows: list[Row] = []
    graph, seconds = timed(
        lambda: LabelGraph.build(mapping, tag_counts, wordnet=wn, full_wordnet=True)
    )
    info = graph.info()
    rows.append(
        (
            "build: WordNet + hashtags",
            f"{info['nodes']['synset']:,} synsets, {info['nodes']['hashtag']:,} hashtags, "
            f"{info['edges']['hypernym']:,} hypernym + {info['edges']['alias']:,} alias edges",
            seconds,
            peak_rss_mib(),
        )
    )
    with_pairs, seconds = timed(
        lambda: LabelGraph.build(
            mapping, tag_counts, pairs, synset_counts=counts, wordnet=wn, full_wordnet=True
        )
    )
    cooccurs = with_pairs.info()["edges"]["cooccurs"]
    rows.append(
        ("build: + co-occurrence", f"+ {cooccurs:,} cooccurs edges", seconds, peak_rss_mib())
    )
    for name, g in (("WordNet + hashtags", graph), ("+ co-occurrence", with_pairs)):
        target = args.input / name.replace(" ", "_")
        _, seconds = timed(lambda g=g, target=target: g.save(target))
        size = sum(p.stat().st_size for p in target.iterdir()) / 2**20
        rows.append((f"save: {name}", f"{size:.1f} MiB on disk", seconds, peak_rss_mib()))
        loaded, queried, rss = load_times(target, args.repeat)
        rows.append((f"load: {name}", "fresh process, after imports", loaded, rss))
        rows.append((f"load + first queries: {name}", "builds the indices", queried, rss))
    return rows


def load_times(path: Path, repeat: int) -> tuple[float, float, float]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", LOAD, str(path)], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    loaded, queried, rss = zip(*runs, strict=True)
    return statistics.median(loaded), statistics.median(queried), max(rss)


STAGES = {"one-call": stage_one_call, "batches": stage_batches, "graph": stage_graph}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--hashtags", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset")
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(STAGES[args.stage](args)))
        return
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        write_inputs(args, Path(tmp))
        for stage in args.stages.split(","):
            command = [sys.executable, __file__, *sys.argv[1:], "--stage", stage, "--input", tmp]
            out = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.extend(tuple(row) for row in json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"seed {args.seed}; load times: median of {args.repeat} fresh processes\n")
    print("| step | data | seconds | peak RSS MiB |")
    print("|---|---|---:|---:|")
    for step, data, seconds, rss in rows:
        shown = "" if seconds is None else f"{seconds:.2f}"
        print(f"| {step} | {data} | {shown} | {rss:,.0f} |")


if __name__ == "__main__":
    main()
