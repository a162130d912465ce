"""build_graph without an engine: the same rules on all posts at once, in one process.

Usage: python benchmarks/pipeline_reference.py --input posts.jsonl --output out/ref
                                               [any option of pipelines.build_graph]

The reference that ``benchmarks/pipeline.py`` times beside the Beam runners, and the check of
their counts. It takes build_graph's own options (``pipelines.options``, so the defaults are the
same) and applies the rules of ``datagraph.dedup`` as whole-column operations:

1. Read with ``datagraph.readers.read_posts`` (the same validation, so the same dead letters);
   a post's tags are its ``hashtags`` field plus its caption's hashtags, distinct, sorted, empty
   ones dropped (as ``datagraph.dedup.post_records``).
2. Deduplicate all posts at once with ``datagraph.post_frames.deduplicate_frame``: the
   pipeline applies the same functions to partitions of the posts, so this checks that
   partitioning changes nothing (``tests/test_post_frames.py`` checks the functions against
   the per-record rules of ``datagraph.dedup``).
3. Posts and users per raw tag (users by ``DistinctSketch``, exact below its limit, so the
   estimate is the pipeline's), the min-posts/min-users cut, one ``HashtagMapper.map`` call.
4. Labels by a join, capped and counted by ``datagraph.cooccurrence`` (the cap is the one
   ``cap_post_labels`` makes), the LabelGraph built and saved as build_graph's Finalize does.

Outputs in ``--output``: the five tables of build_graph (rows built and sorted as
``pipelines.io.WriteTable`` does, so equal tables are equal bytes), graph/, and reference.json
with the manifest's ``counts``, the outputs' sha256 and the seconds of each stage.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pyarrow as pa

from datagraph.cooccurrence import (
    COOCCURRENCE_SCHEMA,
    SYNSET_COUNT_SCHEMA,
    cooccurrence_counts,
    synset_post_counts,
)
from datagraph.dedup import ExcludeSet
from datagraph.distinct import DEFAULT_LIMIT, DistinctSketch
from datagraph.graph import LabelGraph
from datagraph.graph_files import write_atomic
from datagraph.mapping import HashtagMapper
from datagraph.post_frames import deduplicate_frame, post_frame
from datagraph.readers import expand_inputs, read_posts
from datagraph.schema import (
    DEAD_LETTER_SCHEMA,
    MAPPING_SCHEMA,
    VOCABULARY_SCHEMA,
    vocabulary_row,
)
from datagraph.taxonomy import load_taxonomy
from datagraph.wordnet import WordNet
from pipelines.io import table_from_rows, write_table
from pipelines.options import BuildGraphConfig, parse_build_graph_args


class StageClock:
    """Seconds per named stage, in the order the stages ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


# --- 1. read ---------------------------------------------------------------------------------
def read_inputs(files: list[str]) -> tuple[pa.Table, list[tuple], int]:
    """(valid posts, dead-letter rows, rows read) of all files, through the pipeline's reader."""
    posts, dead, rows_read = [], [], 0
    for path in files:
        for batch in read_posts(path):
            rows_read += batch.rows_read
            posts.append(
                batch.posts.select(
                    [
                        "post_id",
                        "user_id",
                        "created_at",
                        "media_sha256",
                        "media_phash",
                        "hashtags",
                        "caption",
                        "media_uri",  # build_shards' reference carries it
                    ]
                )
            )
            dead += [
                tuple(row[n] for n in DEAD_LETTER_SCHEMA.names)
                for row in batch.dead_letters.to_pylist()
            ]
    return pa.concat_tables(posts), dead, rows_read


# --- 2. deduplicate --------------------------------------------------------------------------
def deduplicate(frame: pl.DataFrame, config) -> tuple[pl.DataFrame, dict[str, int]]:
    """``deduplicate_frame`` with a pipeline config's options (build_graph's or build_shards')."""
    exclude = None
    if config.exclude_media:
        exclude = ExcludeSet.read(config.exclude_media, config.near_duplicate_distance)
    return deduplicate_frame(
        frame,
        exclude=exclude,
        max_distance=config.near_duplicate_distance,
        keep_per_user_tagset=config.keep_per_user_tagset,
    )


# --- 3-4. vocabulary -------------------------------------------------------------------------
def tag_stats(kept: pl.DataFrame) -> pl.DataFrame:
    """raw_tag, n_posts, n_users: users as ``DistinctSketch`` counts them (a post without a
    user_id is its own user); exact counts below the sketch's limit, its estimate above."""
    users = pl.col("user_id").fill_null("")
    user = pl.when(users != "").then(users).otherwise(pl.lit("\x00post:") + pl.col("post_id"))
    long = kept.select("tags", user.alias("user")).explode("tags").drop_nulls("tags")
    stats = long.group_by("tags").agg(
        pl.len().cast(pl.Int64).alias("n_posts"),
        pl.col("user").n_unique().cast(pl.Int64).alias("n_users"),
    )
    crowded = stats.filter(pl.col("n_users") >= DEFAULT_LIMIT)["tags"]
    if crowded.len():
        estimates = (
            long.filter(pl.col("tags").is_in(crowded.implode()))
            .group_by("tags")
            .agg(pl.col("user"))
            .select(
                "tags",
                pl.col("user")
                .map_elements(lambda u: DistinctSketch.of(u).count(), return_dtype=pl.Int64)
                .alias("estimate"),
            )
        )
        stats = stats.join(estimates, on="tags", how="left").select(
            "tags", "n_posts", pl.coalesce("estimate", "n_users").alias("n_users")
        )
    return stats.rename({"tags": "raw_tag"})


def vocabulary_tables(
    stats: pl.DataFrame, mapper: HashtagMapper
) -> tuple[pa.Table, pa.Table, dict[str, int]]:
    """(vocabulary, mapping) of the tags that passed the cut, sorted by raw_tag, and the
    mapped / unmapped counts."""
    entries = sorted(stats.iter_rows())
    mapping = mapper.map([tag for tag, _, _ in entries]).to_pylist()
    vocabulary = []
    for tag, n_posts, n_users in entries:
        norm = mapper.normalizer.normalize(tag)
        vocabulary.append(vocabulary_row(tag, n_posts, n_users, norm))
    mapped = sum(1 for row in mapping if row["synset_id"])
    counts = {"mapped_tags": mapped, "unmapped_tags": len(mapping) - mapped}
    mapping_rows = [tuple(row[name] for name in MAPPING_SCHEMA.names) for row in mapping]
    return (
        table_from_rows(vocabulary, VOCABULARY_SCHEMA),
        table_from_rows(mapping_rows, MAPPING_SCHEMA),
        counts,
    )


# --- 5. labels -------------------------------------------------------------------------------
def post_synsets(kept: pl.DataFrame, mapping: pa.Table) -> pa.Table:
    """post_id, synset_id: each kept post's mapped tags (before the cap)."""
    tag_synset = pl.from_arrow(mapping.select(["raw_tag", "synset_id"])).drop_nulls("synset_id")
    return (
        kept.select("post_id", pl.col("tags").alias("raw_tag"))
        .explode("raw_tag")
        .join(tag_synset, on="raw_tag")
        .select("post_id", "synset_id")
        .to_arrow()
    )


def label_counts(labels: pa.Table, cap: int) -> tuple[pa.Table, pa.Table, int]:
    """(synset counts, pair counts) after the per-post cap, and how many posts have a label."""
    synsets = synset_post_counts(labels, max_labels_per_post=cap).to_pylist()
    pairs = cooccurrence_counts(labels, max_labels_per_post=cap).to_pylist()
    labelled = pl.from_arrow(labels.select(["post_id"]))["post_id"].n_unique()
    return (
        table_from_rows(sorted(tuple(r.values()) for r in synsets), SYNSET_COUNT_SCHEMA),
        table_from_rows(sorted(tuple(r.values()) for r in pairs), COOCCURRENCE_SCHEMA),
        labelled,
    )


# --- run -------------------------------------------------------------------------------------
def build_reference(config: BuildGraphConfig) -> dict:
    """Run every stage and write the outputs; returns what reference.json holds."""
    clock = StageClock()
    out = Path(config.output)
    with clock.stage("load taxonomy and mapper"):
        wordnet = WordNet.load()
        taxonomy = load_taxonomy(config.taxonomy, config.taxonomy_path, wordnet=wordnet)
        mapper = HashtagMapper(taxonomy, wordnet=wordnet, alias_paths=config.aliases)
    with clock.stage("read"):
        posts, dead, rows_read = read_inputs(expand_inputs(list(config.inputs)))
    with clock.stage("tags"):
        frame = post_frame(posts)
    with clock.stage("deduplicate"):
        kept, dropped = deduplicate(frame, config)
    with clock.stage("count vocabulary"):
        stats = tag_stats(kept)
        cut = (pl.col("n_posts") >= config.min_posts) & (pl.col("n_users") >= config.min_users)
        passed = stats.filter(cut)
    with clock.stage("map vocabulary"):
        vocabulary, mapping, mapped = vocabulary_tables(passed, mapper)
    with clock.stage("label posts"):
        synsets, pairs, labelled = label_counts(
            post_synsets(kept, mapping), config.max_labels_per_post
        )
    tables = {
        "vocabulary": vocabulary,
        "mapping": mapping,
        "synset_counts": synsets,
        "cooccurrence": pairs,
        "dead_letters": table_from_rows(
            sorted(dead, key=lambda r: (r[0], r[1] or 0, r)), DEAD_LETTER_SCHEMA
        ),
    }
    counts = {
        "read": rows_read,
        "bad": len(dead),
        "dropped": dropped,
        "kept": kept.height,
        "labelled_posts": labelled,
        "vocabulary": {
            "distinct_tags": passed.height,
            "tags_below_cut": stats.height - passed.height,
            **mapped,
        },
    }
    with clock.stage("write tables"):
        outputs = [write_parquet(out, name, table) for name, table in tables.items()]
    with clock.stage("build and save graph"):
        graph = LabelGraph.build(
            mapping,
            vocabulary.select(["raw_tag", "n_posts"]),
            pairs,
            synset_counts=synsets,
            total_posts=counts["kept"],
            wordnet=wordnet,
            taxonomy=taxonomy,
        )
        graph.save(out / "graph")
    header = json.loads((out / "graph" / "graph.json").read_text())
    outputs += [
        {"path": f"graph/{name}", "rows": info["rows"], "sha256": info["sha256"]}
        for name, info in sorted(header["files"].items())
    ]
    result = {
        "counts": counts,
        "graph": header["counts"],
        "outputs": sorted(outputs, key=lambda o: o["path"]),
        "seconds": clock.seconds,
    }
    write_atomic(
        out / "reference.json",
        lambda handle: handle.write((json.dumps(result, indent=2, sort_keys=True) + "\n").encode()),
    )
    return result


def write_parquet(directory: Path, name: str, table: pa.Table) -> dict:
    """``<directory>/<name>.parquet`` written as the pipeline writes it (``pipelines.io``)."""
    _, path, rows, sha256 = write_table(str(directory), name, table)
    return {"path": path, "rows": rows, "sha256": sha256}


def main(argv: list[str] | None = None, say: Callable[[str], object] = print) -> dict:
    """Parse build_graph's options (Beam options are ignored), run, print the counts."""
    config, _, _ = parse_build_graph_args(sys.argv[1:] if argv is None else argv)
    Path(config.output).mkdir(parents=True, exist_ok=True)
    result = build_reference(config)
    say(json.dumps({"counts": result["counts"], "seconds": result["seconds"]}, indent=2))
    return result


if __name__ == "__main__":
    main()
