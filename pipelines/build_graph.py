"""build_graph: posts -> deduplicated, counted, mapped vocabulary -> label graph, with a manifest.

    python -m pipelines.build_graph --input 'posts/*.jsonl.gz' --output out/graph \\
        [--taxonomy visual | --lvis-categories lvis_v1_val.json] [--runner FnApiRunner]

Posts travel as Arrow tables (batches of up to ``READ_BATCH_SIZE`` posts), never one element per
post. Every grouping step routes each batch's rows to ``--partitions`` key-hash partitions,
groups the parts of a partition, and applies a rule of ``datagraph.post_frames`` to the whole
partition; each rule is local to its key, so the partitions' results together are the result
on all posts. Shuffled parts are zstd-compressed Arrow IPC bytes (``pipelines.io.pack_frame``);
on single-machine runners they are grouped through spill files in the output directory, not
through the runner's memory (``pipelines.file_shuffle``, ``--shuffle``).
Stages:

1. Read: files -> batches of PostRecord columns (``post_frames.post_frame``) + dead letters.
2. Deduplicate: exact post_id, evaluation-set contamination, media sha256, near-duplicate phash
   (losers found per band bucket, each sent to the last step's partition of its row), per-user
   repeated tag sets; each drop counted under its reason.
3. CountVocabulary: per batch, posts and the smallest user hashes per raw tag; merged per tag
   partition by a combiner (``pipelines.merge.MergeCombine``; ``DistinctSketch`` counts); the
   min-posts/min-users cut.
4. MapVocabulary: each tag partition through ``HashtagMapper`` (one per worker).
5. LabelPosts: (post, tag) rows joined with the same tag partition's (tag, synset) rows by a
   CoGroupByKey -- a join rather than a side input because Beam 2.77's DaskRunner silently
   drops ParDos with side inputs -- then routed by post_id; capped synset and pair counts per
   partition, summed when written.
6. Write: every table by ``pipelines.io.WriteTable``; then Finalize builds and saves the
   LabelGraph from those files and writes manifest.json last.

Outputs in ``--output``: vocabulary.parquet, mapping.parquet, synset_counts.parquet,
cooccurrence.parquet, dead_letters.parquet, graph/, manifest.json. Same input + same options =
the same bytes on every runner.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apache_beam as beam
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions

from datagraph.cooccurrence import (
    COOCCURRENCE_SCHEMA,
    SYNSET_COUNT_SCHEMA,
    cooccurrence_counts,
    merge_counts,
    synset_post_counts,
)
from datagraph.corpus_context import TAG_TOTAL_FILE
from datagraph.dedup import DROP_REASONS, ExcludeSet
from datagraph.errors import DatagraphError
from datagraph.post_frames import (
    band_rows,
    concat_frames,
    excluded_mask,
    first_per_key,
    merge_tag_hashes,
    near_duplicate_losers,
    partition_ids,
    post_frame,
    sort_by_rank,
    sort_by_row_order,
    split_by_column,
    split_by_partition,
    tag_counts,
    tag_user_hashes,
    tagset_key,
    with_band_values,
)
from datagraph.schema import (
    DEAD_LETTER_SCHEMA,
    MAPPING_SCHEMA,
    VOCABULARY_SCHEMA,
    vocabulary_row,
)
from pipelines.count_tags import file_info
from pipelines.file_shuffle import (
    CoGroupByKeyViaFiles,
    GroupByKeyViaFiles,
    shuffle_for,
    spill_directory,
)
from pipelines.io import WriteTable, pack_frame, table_from_rows, unpack_frame
from pipelines.merge import MergeCombine
from pipelines.options import (
    BuildGraphConfig,
    parse_build_graph_args,
    runner_name,
    with_partitions,
)
from pipelines.running import (
    LiveProgress,
    check_metrics,
    input_info,
    prepare_output,
    release_memory,
    run_beam,
    run_command,
    say,
    split_events,
    stat,
)

MANIFEST_FORMAT_VERSION = 1
HOME = "home"  # column: the partition of the spam step a row goes to
READ_BATCH_SIZE = 65536  # posts per read batch: the unit every later step moves
TABLES = ("vocabulary", "mapping", "synset_counts", "cooccurrence", "dead_letters")
CORPUS_NEIGHBOURS = "corpus_neighbours.parquet"  # with --corpus-context: each tag's neighbours


# --- partitions ------------------------------------------------------------------------------
def _frame(value: pl.DataFrame | bytes | pa.Table) -> pl.DataFrame:
    """A stage's element as a frame: shuffled elements are packed bytes, fused ones frames."""
    if isinstance(value, bytes):
        return unpack_frame(value)
    return value if isinstance(value, pl.DataFrame) else pl.from_arrow(value)


def route(frame: pl.DataFrame, key: pl.Expr, partitions: int) -> Iterator[tuple[int, bytes]]:
    """(partition, the frame's rows in it, packed): the elements of a grouping step."""
    ids = partition_ids(frame, key, partitions)
    return _packed(split_by_partition(frame, ids, partitions))


def route_home(frame: pl.DataFrame, partitions: int) -> Iterator[tuple[int, bytes]]:
    """``route`` by the partition number each row already carries in its ``home`` column, which
    its part then leaves out (the same number in every row of it)."""
    parts = split_by_column(frame, HOME, partitions)
    return _packed((partition, part.drop(HOME)) for partition, part in parts)


def _packed(parts: Iterable[tuple[int, pl.DataFrame]]) -> Iterator[tuple[int, bytes]]:
    return ((partition, pack_frame(part)) for partition, part in parts)


def _concat_posts(tables: Iterable[bytes]) -> pl.DataFrame:
    """The post tables of one partition as one frame (in whatever order the runner gave them; every
    step sorts before it decides anything)."""
    return concat_frames([_frame(t) for t in tables])


# --- 1. read ---------------------------------------------------------------------------------
class ReadPostsFn(beam.DoFn):
    """One input file -> batches of posts (PostRecord columns) and of dead letters."""

    def __init__(self, batch_size: int, carry: tuple[str, ...] = ()):
        self.batch_size = batch_size
        self.carry = carry  # post columns to keep beside the PostRecord ones

    def process(self, path: str) -> Iterator[Any]:
        from datagraph.readers import read_posts

        for batch in read_posts(path, self.batch_size):
            yield stat("rows_read", batch.rows_read)
            if batch.dead_letters.num_rows:
                yield stat("dead_letters", batch.dead_letters.num_rows)
                yield ("dead", batch.dead_letters)
            if batch.posts.num_rows:
                yield ("rows", post_frame(batch.posts, self.carry))


# --- 2. deduplicate --------------------------------------------------------------------------
def route_key(key: pl.Expr | pl.Series) -> pl.Expr:
    """Where a row goes: its key, or its post_id when it has none (such rows always pass, and
    sending them all to one partition would make that one the largest)."""
    return pl.coalesce(pl.lit(key) if isinstance(key, pl.Series) else key, pl.col("post_id"))


@dataclass(frozen=True)
class _Step:
    """One keep-the-first-rows-per-key step of Deduplicate."""

    name: str
    key: Callable[[pl.DataFrame], pl.Expr | pl.Series]  # the key of each row of a frame
    reason: str  # the drop reason its dropped rows count under
    keep: int = 1
    order: Callable[[pl.DataFrame], pl.DataFrame] = sort_by_rank  # once post_ids are distinct
    drop: tuple[str, ...] = ()  # columns no later step reads
    count_kept: bool = False  # the last step counts the kept posts


def _route_by_key(rows: pl.DataFrame, key, partitions: int) -> Iterator[tuple[int, bytes]]:
    frame = _frame(rows)
    return route(frame, route_key(key(frame)), partitions)


def _keep_first(frame: pl.DataFrame, step: _Step) -> Iterator[Any]:
    """One partition's rows -> the first ``step.keep`` rows per key in row order; the rest
    counted as dropped for ``step.reason``."""
    frame = step.order(frame)
    kept = first_per_key(frame, step.key(frame), step.keep).drop(step.drop)
    if frame.height > kept.height:
        yield stat(f"dropped.{step.reason}", frame.height - kept.height)
    if step.count_kept:
        yield stat("kept_posts", kept.height)
    if kept.height:
        yield ("rows", kept)


def _keep_first_of_group(group: tuple[int, Iterable[bytes]], step: _Step) -> Iterator[Any]:
    yield from _keep_first(_concat_posts(group[1]), step)
    release_memory()


def _best_per_key(
    rows: beam.PCollection, step: _Step, partitions: int, spill: str | None
) -> tuple[beam.PCollection, beam.PCollection]:
    """(kept rows, stats): rows grouped by the hash of ``step.key`` into ``partitions``, the
    first ``step.keep`` per key kept."""
    kept = (
        rows
        | f"Route by {step.name}" >> beam.FlatMap(_route_by_key, step.key, partitions)
        | f"Group by {step.name}" >> GroupByKeyViaFiles(spill, step.name)
        | f"Drop {step.reason}" >> beam.FlatMap(_keep_first_of_group, step)
    )
    split = split_events(kept, f"After {step.name}", ("rows", "stats"))
    return split["rows"], split["stats"]


class DropExcludedFn(beam.DoFn):
    """Drop posts whose media is in the evaluation set (loaded once per worker)."""

    def __init__(self, path: str, max_distance: int):
        self.path = path
        self.max_distance = max_distance
        self.exclude: ExcludeSet | None = None

    def setup(self) -> None:
        self.exclude = ExcludeSet.read(self.path, self.max_distance)

    def process(self, rows: pl.DataFrame) -> Iterator[Any]:
        frame = _frame(rows)
        excluded = excluded_mask(frame, self.exclude)
        if excluded.any():
            yield stat("dropped.eval_contamination", int(excluded.sum()))
        if not excluded.all():
            yield ("rows", frame.filter(~pl.Series(excluded)))


def _by_sha256(frame: pl.DataFrame) -> pl.Expr:
    return pl.col("media_sha256")


def _by_post_id(frame: pl.DataFrame) -> pl.Expr:
    return pl.col("post_id")


def route_bands(rows: pl.DataFrame, max_distance: int, partitions: int):
    """A batch's band rows routed by band bucket (band, value); the parts leave out the value,
    which ``with_band_values`` recomputes from the phash (fewer bytes to shuffle)."""
    bands = band_rows(_frame(rows), max_distance, (HOME,))
    ids = partition_ids(bands, pl.struct("band", "value"), partitions)
    return _packed(split_by_partition(bands.drop("value"), ids, partitions))


def _near_duplicate_ids(group: tuple[int, Iterable[bytes]], max_distance: int):
    """One partition of phash band buckets -> (post_id, home) of each post in it with a
    better-ranked near duplicate."""
    rows = with_band_values(_concat_any(group[1]), max_distance)
    losers = near_duplicate_losers(rows, max_distance)
    if losers:
        yield rows.filter(pl.col("post_id").is_in(losers)).select("post_id", HOME).unique()
    release_memory()


def _concat_any(tables: Iterable[bytes]) -> pl.DataFrame:
    """Parts of one partition of any frame (band rows, labels) as one frame."""
    return pl.concat([_frame(t) for t in tables], how="vertical_relaxed")


def _with_home(rows: pl.DataFrame, partitions: int) -> pl.DataFrame:
    """The rows with their spam-step partition (of the user tag set, or of the post_id)."""
    frame = _frame(rows)
    home = partition_ids(frame, route_key(tagset_key(frame)), partitions)
    return frame.with_columns(pl.Series(HOME, home, dtype=pl.Int64))


def _drop_losers_keep_first(joined: tuple[int, dict], step: _Step) -> Iterator[Any]:
    """One partition of the last step's rows and the near-duplicate losers among them: the
    losers dropped (counted), then the step applied to the rest."""
    _, groups = joined
    rows = list(groups["rows"])
    if rows:  # a loser's home is its row's partition, so a partition without rows has none
        losers = [pid for t in groups["losers"] for pid in _frame(t)["post_id"].to_list()]
        frame = _concat_posts(rows)
        loser = frame["post_id"].is_in(losers)
        n = int(loser.sum())
        if n:
            yield stat("dropped.near_duplicate_media", n)
        yield from _keep_first(frame.filter(~loser), step)
        release_memory()


class Deduplicate(beam.PTransform):
    """The five checks of ``datagraph.dedup`` in order on partitions of post batches (each rule
    applied by ``datagraph.post_frames``); outputs kept post batches and stats."""

    def __init__(self, config: BuildGraphConfig, spill: str | None = None):
        super().__init__()
        self.config = config
        self.spill = spill

    def expand(self, rows: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        k = self.config.near_duplicate_distance
        parts = self.config.partitions
        spill = self.spill
        rows, id_stats = _best_per_key(
            rows,
            _Step("post_id", _by_post_id, "duplicate_post_id", order=sort_by_row_order),
            parts,
            spill,
        )
        stats = [id_stats]
        if self.config.exclude_media:
            excluded = rows | "Drop eval media" >> beam.ParDo(
                DropExcludedFn(self.config.exclude_media, k)
            )
            excluded = split_events(excluded, "Excluded", ("rows", "stats"))
            stats.append(excluded["stats"])
            rows = excluded["rows"]
        sha_step = _Step("sha256", _by_sha256, "duplicate_media", drop=("media_sha256",))
        rows, sha_stats = _best_per_key(rows, sha_step, parts, spill)
        stats.append(sha_stats)

        # Near duplicates: losers found per band bucket. Each row first gets its "home", the
        # partition of the spam step its user tag set goes to, so that each loser is sent to
        # the one partition that will hold its row, which drops it before its own rule.
        rows = rows | "Home partition" >> beam.Map(_with_home, parts)
        losers = (
            rows
            | "Bands" >> beam.FlatMap(route_bands, k, parts)
            | "Group bands" >> GroupByKeyViaFiles(spill, "bands")
            | "Near duplicates" >> beam.FlatMap(_near_duplicate_ids, k)
            | "Losers home" >> beam.FlatMap(route_home, parts)
        )
        spam_step = _Step(
            "user tag set",
            tagset_key,
            "user_spam",
            keep=self.config.keep_per_user_tagset,
            count_kept=True,
        )
        spam = (
            {  # the phash is not shuffled again: no later step reads it
                "rows": rows
                | "Route by user tag set"
                >> beam.FlatMap(lambda f: route_home(_frame(f).drop("media_phash"), parts)),
                "losers": losers,
            }
            | "Join losers" >> CoGroupByKeyViaFiles(spill, "losers")
            | "Drop near duplicates and spam" >> beam.FlatMap(_drop_losers_keep_first, spam_step)
        )
        spam = split_events(spam, "After user tag set", ("rows", "stats"))
        all_stats = (*stats, spam["stats"]) | "Dedup stats" >> beam.Flatten()
        return spam["rows"], all_stats


# --- 3-4. vocabulary -------------------------------------------------------------------------
class MapVocabularyFn(beam.DoFn):
    """A partition of per-tag partial counts -> the vocabulary rows of its tags that pass the
    cut, their mapping rows, and (partition, raw_tag -> synset_id) for the label join."""

    def __init__(self, config: BuildGraphConfig):
        self.config = config
        self.mapper = None

    def setup(self) -> None:
        from datagraph.mapping import HashtagMapper
        from datagraph.taxonomy import load_taxonomy

        taxonomy = load_taxonomy(self.config.taxonomy, self.config.taxonomy_path)
        self.mapper = HashtagMapper(
            taxonomy, alias_paths=self.config.aliases, **_ranking(self.config)
        )

    def process(self, merged: tuple[int, pl.DataFrame]) -> Iterator[Any]:
        partition, tag_hashes = merged
        counts = tag_counts(tag_hashes)
        passes = (pl.col("n_posts") >= self.config.min_posts) & (
            pl.col("n_users") >= self.config.min_users
        )
        entries = counts.filter(passes).sort("raw_tag")
        if counts.height > entries.height:
            yield stat("tags_below_cut", counts.height - entries.height)
        if not entries.height:
            return
        yield stat("distinct_tags", entries.height)
        tags = entries["raw_tag"].to_list()
        mapping = self.mapper.map(tags)
        vocabulary = [
            vocabulary_row(tag, n_posts, n_users, self.mapper.normalizer.normalize(tag))
            for tag, n_posts, n_users in entries.iter_rows()
        ]
        yield ("vocabulary", table_from_rows(vocabulary, VOCABULARY_SCHEMA))
        yield ("mapping", mapping.select(MAPPING_SCHEMA.names).cast(MAPPING_SCHEMA))
        synsets = mapping.select(["raw_tag", "synset_id"]).filter(
            pc.is_valid(mapping.column("synset_id"))
        )
        if synsets.num_rows:
            yield stat("mapped_tags", synsets.num_rows)
        if synsets.num_rows < len(tags):
            yield stat("unmapped_tags", len(tags) - synsets.num_rows)
        if synsets.num_rows:
            yield ("synsets", (partition, pack_frame(pl.from_arrow(synsets))))


def _ranking(config: BuildGraphConfig) -> dict[str, Any]:
    """The mapper's embedder and corpus neighbours, when the config asks for them."""
    if config.embedding_model is None:
        return {}
    from datagraph.corpus_context import TagNeighbours
    from datagraph.embeddings import TextEmbedder

    embedder = TextEmbedder(config.embedding_model, device=config.device)
    if config.corpus_context is None:
        return {"embedder": embedder}
    corpus = TagNeighbours.read(Path(config.output) / CORPUS_NEIGHBOURS)
    return {"embedder": embedder, "corpus": corpus}


# --- 5. labels -------------------------------------------------------------------------------
def post_tags_frame(rows: pl.DataFrame) -> pl.DataFrame:
    """(post_id, raw_tag) rows: one per tag of each post."""
    return (
        _frame(rows)
        .select("post_id", pl.col("tags").alias("raw_tag"))
        .explode("raw_tag")
        .drop_nulls("raw_tag")
    )


def _label_rows(joined: tuple[int, dict], partitions: int) -> Iterator[tuple[int, bytes]]:
    """One tag partition's (post, tag) rows joined with its tags' synsets -> (post_id,
    synset_id) rows, routed by post_id."""
    _, groups = joined
    synsets = list(groups["synsets"])
    if synsets:  # else no tag of this partition is mapped: its posts have no labels here
        tag_synset = _concat_any(synsets)
        posts = _concat_any(groups["posts"])
        labels = posts.join(tag_synset, on="raw_tag").select("post_id", "synset_id")
        yield from route(labels, pl.col("post_id"), partitions)
        release_memory()


def _label_counts(group: tuple[int, Iterable[bytes]], cap: int) -> Iterator[Any]:
    """All labels of one partition's posts -> capped synset and pair counts of those posts."""
    frame = _concat_any(group[1])
    labels = frame.to_arrow()
    yield ("synset_counts", synset_post_counts(labels, max_labels_per_post=cap))
    yield ("cooccurrence", cooccurrence_counts(labels, max_labels_per_post=cap))
    yield stat("labelled_posts", frame["post_id"].n_unique())
    release_memory()


# --- pipeline --------------------------------------------------------------------------------
def build_pipeline(
    pipeline: beam.Pipeline,
    config: BuildGraphConfig,
    files: list[str],
    spill: str | None = None,
    ranking: dict | None = None,
) -> None:
    """Add the build_graph stages to ``pipeline``; outputs go to ``config.output``. Without
    ``config.partitions`` the input's size decides (``options.partitions_for_inputs``). With
    ``spill`` (a directory) the grouping steps of posts go through files there
    (``pipelines.file_shuffle``), else through the runner. ``ranking``: what the manifest
    records of the sense ranking (``ranking_info``; ``run`` makes it, with the corpus
    neighbours it wrote into the output)."""
    inputs = input_info(files)
    config = with_partitions(config, inputs)
    out = config.output
    parts = config.partitions
    if config.corpus_context and not (Path(out) / CORPUS_NEIGHBOURS).is_file():
        raise DatagraphError(
            f"{Path(out) / CORPUS_NEIGHBOURS} is missing: with --corpus-context, run() writes "
            "the corpus neighbours there before the pipeline (call run, not build_pipeline)"
        )
    read = (
        pipeline
        | "Files" >> beam.Create(files)
        | "Spread files" >> beam.Reshuffle()
        | "Read" >> beam.ParDo(ReadPostsFn(READ_BATCH_SIZE))
    )
    read = split_events(read, "Read", ("rows", "dead", "stats"))
    kept, dedup_stats = read["rows"] | "Deduplicate" >> Deduplicate(config, spill)

    mapped = (
        kept
        | "Tag users"
        >> beam.FlatMap(lambda t: route(tag_user_hashes(_frame(t)), pl.col("raw_tag"), parts))
        | "Merge tags" >> beam.CombinePerKey(MergeCombine(merge_tag_hashes, decode=unpack_frame))
        | "Map vocabulary" >> beam.ParDo(MapVocabularyFn(config))
    )
    mapped = split_events(mapped, "Mapped", ("mapping", "vocabulary", "synsets", "stats"))

    post_tags = kept | "Post tags" >> beam.FlatMap(
        lambda t: route(post_tags_frame(t), pl.col("raw_tag"), parts)
    )
    labels = (
        {"synsets": mapped["synsets"], "posts": post_tags}
        | "Join tags" >> CoGroupByKeyViaFiles(spill, "tags")
        | "Post synsets" >> beam.FlatMap(_label_rows, parts)
        | "Group posts" >> GroupByKeyViaFiles(spill, "labels")
        | "Count labels" >> beam.FlatMap(_label_counts, config.max_labels_per_post)
    )
    labels = split_events(labels, "Labels", ("synset_counts", "cooccurrence", "stats"))

    files_written = [
        mapped["vocabulary"] | WriteTable(out, "vocabulary", VOCABULARY_SCHEMA, ["raw_tag"]),
        mapped["mapping"] | WriteTable(out, "mapping", MAPPING_SCHEMA, ["raw_tag"]),
        labels["synset_counts"]
        | WriteTable(out, "synset_counts", SYNSET_COUNT_SCHEMA, merge=merge_counts),
        labels["cooccurrence"]
        | WriteTable(out, "cooccurrence", COOCCURRENCE_SCHEMA, merge=merge_counts),
        read["dead"] | WriteTable(out, "dead_letters", DEAD_LETTER_SCHEMA, ["source_file", "line"]),
    ]
    stats = (
        (read["stats"], dedup_stats, mapped["stats"], labels["stats"])
        | "All stats" >> beam.Flatten()
        | "Sum stats" >> beam.CombinePerKey(sum)
    )
    (
        (
            files_written[0] | "Tag vocabulary file" >> beam.Map(lambda f: ("file", f)),
            files_written[1] | "Tag mapping file" >> beam.Map(lambda f: ("file", f)),
            files_written[2] | "Tag synset file" >> beam.Map(lambda f: ("file", f)),
            files_written[3] | "Tag pair file" >> beam.Map(lambda f: ("file", f)),
            files_written[4] | "Tag dead-letter file" >> beam.Map(lambda f: ("file", f)),
            stats | "Tag summed stats" >> beam.Map(lambda kv: ("stat", kv)),
        )
        | "Everything" >> beam.Flatten()
        | "One key" >> beam.Map(lambda item: (None, item))
        | "Together" >> beam.GroupByKey()
        | "Finalize" >> beam.ParDo(FinalizeFn(config, inputs, ranking or ranking_info(config)))
    )


# --- 6. finalize -----------------------------------------------------------------------------
class FinalizeFn(beam.DoFn):
    """After every table is written: check the counts, build and save the graph, write the
    manifest (last, so a directory with a manifest is complete)."""

    def __init__(self, config: BuildGraphConfig, inputs: list[dict], ranking: dict):
        self.config = config
        self.inputs = inputs
        self.ranking = ranking

    def process(self, element: tuple[None, Iterable[tuple[str, Any]]]) -> Iterator[str]:
        from datagraph import __version__
        from datagraph.graph import LabelGraph
        from datagraph.taxonomy import load_taxonomy
        from datagraph.wordnet import WordNet

        files: dict[str, tuple] = {}
        stats: dict[str, int] = {}
        for kind, value in element[1]:
            if kind == "file":
                files[value[0]] = value
            else:
                stats[value[0]] = value[1]
        counts = reconcile(stats)
        out = Path(self.config.output)
        tables = {name: pq.read_table(out / files[name][1]) for name in TABLES}
        taxonomy = load_taxonomy(self.config.taxonomy, self.config.taxonomy_path)
        graph = LabelGraph.build(
            tables["mapping"],
            tables["vocabulary"].select(["raw_tag", "n_posts"]),
            tables["cooccurrence"],
            synset_counts=tables["synset_counts"],
            total_posts=counts["kept"],
            wordnet=WordNet.load(),
            taxonomy=taxonomy,
        )
        graph.save(out / "graph")
        header = json.loads((out / "graph" / "graph.json").read_text())
        outputs = [
            {"path": file, "rows": rows, "sha256": sha} for _, file, rows, sha in files.values()
        ]
        outputs += [
            {"path": f"graph/{name}", "rows": info["rows"], "sha256": info["sha256"]}
            for name, info in sorted(header["files"].items())
        ]
        if self.config.corpus_context:
            outputs.append(file_info(out, CORPUS_NEIGHBOURS))
        manifest = {
            "format_version": MANIFEST_FORMAT_VERSION,
            "pipeline": "build_graph",
            "config": self.config.manifest_config(),
            "code_version": __version__,
            "seed": 0,  # build_graph draws nothing at random
            "taxonomy": {
                "id": taxonomy.name,
                "fingerprint": taxonomy.fingerprint,
                "classes": len(taxonomy),
            },
            "inputs": self.inputs,
            "counts": counts,
            "outputs": sorted(outputs, key=lambda o: o["path"]),
            "schema": {
                name: [f"{f.name}: {f.type}" for f in tables[name].schema] for name in TABLES
            },
            "graph": header["counts"],
            "ranking": self.ranking,
        }
        text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        from datagraph.graph_files import write_atomic

        write_atomic(out / "manifest.json", lambda handle: handle.write(text.encode()))
        yield str(out / "manifest.json")


def reconcile(stats: dict[str, int]) -> dict[str, Any]:
    """The manifest's counts from the summed stats; raises if rows went missing."""
    dropped = {reason: stats.get(f"dropped.{reason}", 0) for reason in DROP_REASONS}
    counts = {
        "read": stats.get("rows_read", 0),
        "bad": stats.get("dead_letters", 0),
        "dropped": dropped,
        "kept": stats.get("kept_posts", 0),
        "labelled_posts": stats.get("labelled_posts", 0),
        "vocabulary": {
            "distinct_tags": stats.get("distinct_tags", 0),
            "tags_below_cut": stats.get("tags_below_cut", 0),
            "mapped_tags": stats.get("mapped_tags", 0),
            "unmapped_tags": stats.get("unmapped_tags", 0),
        },
    }
    accounted = counts["bad"] + sum(dropped.values()) + counts["kept"]
    if accounted != counts["read"]:
        raise DatagraphError(
            f"counts do not reconcile: read {counts['read']:,} but bad + dropped + kept = "
            f"{accounted:,} ({stats})"
        )
    return counts


# --- running ---------------------------------------------------------------------------------
def run(argv: list[str]) -> dict | None:
    """Parse arguments, check them, run the pipeline; returns the manifest (None on --dry-run)."""
    from datagraph.readers import expand_inputs
    from datagraph.taxonomy import load_taxonomy

    config, args, beam_args = parse_build_graph_args(argv)
    files = expand_inputs(list(config.inputs))
    taxonomy = load_taxonomy(config.taxonomy, config.taxonomy_path)
    exclude = (
        ExcludeSet.read(config.exclude_media, config.near_duplicate_distance)
        if config.exclude_media
        else None
    )
    options = PipelineOptions(beam_args)
    runner = runner_name(beam_args)
    neighbours = _check_ranking(config)
    if args.dry_run:
        partitions = with_partitions(config, input_info(files)).partitions
        say(
            args,
            f"dry run: {len(files)} input file(s), {partitions} partitions, taxonomy "
            f"{taxonomy.name} ({len(taxonomy):,} classes), exclude set "
            f"{len(exclude) if exclude else 0} value(s), runner {runner}; nothing written",
        )
        return None
    prepare_output(Path(config.output))
    (Path(config.output) / CORPUS_NEIGHBOURS).unlink(missing_ok=True)  # an earlier run's
    if neighbours is not None:
        neighbours.write(Path(config.output) / CORPUS_NEIGHBOURS)
    ranking = ranking_info(config, neighbours)
    started = time.monotonic()
    shuffle = shuffle_for(args.shuffle, runner)
    with (
        LiveProgress(args, runner, "build_graph") as progress,
        spill_directory(Path(config.output), shuffle) as spill,
    ):
        result = run_beam(
            options, lambda p: build_pipeline(p, config, files, spill, ranking), runner
        )
        progress()
    manifest = json.loads((Path(config.output) / "manifest.json").read_text())
    check_metrics(result, manifest)
    if not args.quiet:
        _summary(manifest, time.monotonic() - started, config.output)
    return manifest


def _check_ranking(config: BuildGraphConfig):
    """Before anything runs: the model and device exist, and the corpus counts read; returns
    the corpus neighbours (None without --corpus-context)."""
    if config.embedding_model is None:
        return None
    from datagraph.corpus_context import TagNeighbours, read_tag_counts
    from datagraph.embeddings import DEFAULT_MODEL, check_model_path, resolve_device

    if config.embedding_model != DEFAULT_MODEL:
        check_model_path(config.embedding_model)
    resolve_device(config.device)  # a clear error for CUDA without a GPU, here
    if config.corpus_context is None:
        return None
    return TagNeighbours.from_counts(read_tag_counts(config.corpus_context))


def ranking_info(config: BuildGraphConfig, neighbours=None) -> dict:
    """What the manifest records of the sense ranking: vocabulary-only, or with which model
    and which corpus."""
    from datagraph.embeddings import model_id

    info: dict[str, Any] = {
        "embedding_model": model_id(config.embedding_model) if config.embedding_model else None,
        "corpus_context": None,
    }
    if config.corpus_context is not None:
        total = json.loads((Path(config.corpus_context) / TAG_TOTAL_FILE).read_text())
        info["corpus_context"] = {
            "total_posts": total["total_posts"],
            "tags_with_neighbours": len(neighbours) if neighbours is not None else None,
            "neighbours_per_tag": neighbours.k if neighbours is not None else None,
            "file": CORPUS_NEIGHBOURS,
        }
    return info


def _summary(manifest: dict, seconds: float, output: str) -> None:
    from rich.console import Console
    from rich.table import Table

    counts = manifest["counts"]
    table = Table("count", "value", title=f"build_graph: {output} ({seconds:.1f} s)")
    table.add_row("rows read", f"{counts['read']:,}")
    table.add_row("bad rows (dead letters)", f"{counts['bad']:,}")
    for reason, n in counts["dropped"].items():
        table.add_row(f"dropped: {reason}", f"{n:,}")
    table.add_row("kept posts", f"{counts['kept']:,}")
    table.add_row("labelled posts", f"{counts['labelled_posts']:,}")
    for name, n in counts["vocabulary"].items():
        table.add_row(name.replace("_", " "), f"{n:,}")
    nodes = manifest["graph"]["nodes"]
    table.add_row("graph", f"{nodes['synset']:,} synsets, {nodes['hashtag']:,} hashtags")
    Console(stderr=True).print(table)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors print one line and exit 2."""
    run_command(run, argv)


if __name__ == "__main__":
    main()
