"""How many bytes build_graph shuffles per post, stage by stage (for docs/scaling.md).

Usage: python benchmarks/shuffle_bytes.py [--input sample_data/posts.jsonl] [--partitions 16]

build_graph moves Arrow tables: every grouping step routes each batch's rows to key-hash
partitions (``pipelines.build_graph.route``) and the runner shuffles one (partition, bytes)
element per batch and partition, the bytes a zstd-compressed Arrow IPC stream
(``pipelines.io.pack_frame``). This rebuilds those elements for each step from the input's
posts with the same library calls (each step's input is what the steps before it kept, cut
into one table per partition as the step before left it), encodes each with Beam's
FastPrimitivesCoder (what the runners use for these untyped PCollections), and prints elements
and bytes per input post.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
from apache_beam.coders.coders import FastPrimitivesCoder

from datagraph.cooccurrence import cooccurrence_counts, synset_post_counts
from datagraph.mapping import HashtagMapper
from datagraph.post_frames import (
    band_rows,
    concat_frames,
    first_per_key,
    near_duplicate_losers,
    partition_ids,
    post_frame,
    sort_by_row_order,
    tag_user_hashes,
    tagset_key,
)
from datagraph.readers import read_posts
from datagraph.taxonomy import load_taxonomy
from pipelines.build_graph import (
    HOME,
    READ_BATCH_SIZE,
    post_tags_frame,
    route,
    route_bands,
    route_home,
    route_key,
)
from pipelines.io import unpack_frame

ROOT = Path(__file__).resolve().parents[1]


def parts_of(frame: pl.DataFrame, key: pl.Expr, partitions: int) -> list[pl.DataFrame]:
    """The frame as the partitions of ``key`` left it (one table per partition)."""
    return [unpack_frame(t) for _, t in route(frame, key, partitions)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=str(ROOT / "sample_data" / "posts.jsonl"))
    parser.add_argument("--lvis", default=str(ROOT / "sample_data" / "lvis_sample_categories.json"))
    parser.add_argument("--partitions", type=int, default=16)
    args = parser.parse_args()
    parts = args.partitions
    batches = [post_frame(b.posts) for b in read_posts(args.input, READ_BATCH_SIZE)]
    rows = concat_frames(batches)
    n = rows.height
    by_id = pl.col("post_id")

    def routed(frames: Iterable[pl.DataFrame], key) -> Iterator[tuple[int, pa.Table]]:
        for frame in frames:
            yield from route(frame, route_key(key(frame)), parts)

    stages: list[tuple[str, Iterable]] = [
        ("dedup: rows by post_id", list(routed(batches, lambda f: by_id)))
    ]
    rows = first_per_key(sort_by_row_order(rows), "post_id")
    split = parts_of(rows, by_id, parts)
    stages.append(("dedup: rows by sha256", list(routed(split, lambda f: pl.col("media_sha256")))))
    rows = first_per_key(rows, "media_sha256").drop("media_sha256")
    split = parts_of(rows, by_id, parts)  # as the sha256 step left them (by sha256 or post_id)
    home = partition_ids(rows, route_key(tagset_key(rows)), parts)
    rows = rows.with_columns(pl.Series(HOME, home, dtype=pl.Int64))
    split = parts_of(rows, by_id, parts)
    stages.append(
        (
            "dedup: band rows by (band, value)",
            [e for f in split for e in route_bands(f, 4, parts)],
        )
    )
    losers = near_duplicate_losers(band_rows(rows, 4), 4)
    loser_rows = rows.filter(by_id.is_in(losers)).select("post_id", HOME)
    stages.append(("dedup: losers to their rows' partitions", list(route_home(loser_rows, parts))))
    stages.append(
        (
            "dedup: rows by user tag set",
            [e for f in split for e in route_home(f.drop("media_phash"), parts)],
        )
    )
    rows = rows.filter(~by_id.is_in(losers)).drop("media_phash", HOME)
    kept = first_per_key(rows, tagset_key(rows))
    split = parts_of(kept, route_key(tagset_key(kept)), parts)
    raw_tag = pl.col("raw_tag")
    stages.append(
        (
            "vocabulary: tag user hashes by tag",
            [e for f in split for e in route(tag_user_hashes(f), raw_tag, parts)],
        )
    )
    stages.append(
        (
            "labels: (post, tag) by tag",
            [e for f in split for e in route(post_tags_frame(f), raw_tag, parts)],
        )
    )
    mapper = HashtagMapper(load_taxonomy("lvis", args.lvis))
    tags = sorted(set(kept["tags"].explode().drop_nulls().to_list()))
    mapping = pl.from_arrow(mapper.map(tags).select(["raw_tag", "synset_id"])).drop_nulls()
    labels = (
        post_tags_frame(kept.to_arrow()).join(mapping, on="raw_tag").select("post_id", "synset_id")
    )
    by_tag = parts_of(labels, pl.col("synset_id"), parts)  # the join's output, per tag partition
    stages.append(
        ("labels: (post, synset) by post_id", [e for f in by_tag for e in route(f, by_id, parts)])
    )
    counts = []
    for part in parts_of(labels, by_id, parts):
        counts += [synset_post_counts(part.to_arrow()), cooccurrence_counts(part.to_arrow())]
    stages.append(("counts: per partition, to the writer", [("counts", t) for t in counts]))

    coder = FastPrimitivesCoder()
    print(f"{n:,} posts from {args.input}; {parts} partitions; FastPrimitivesCoder bytes\n")
    print("| stage | elements | bytes / element | bytes / post |")
    print("|---|---:|---:|---:|")
    total = 0.0
    for name, elements in stages:
        size = sum(len(coder.encode(element)) for element in elements)
        total += size / n
        print(
            f"| {name} | {len(elements):,} | {size / max(len(elements), 1):,.0f} | {size / n:.0f} |"
        )
    print(f"| **total** | | | **{total:.0f}** |")


if __name__ == "__main__":
    main()
