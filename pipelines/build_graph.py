"""build_graph: posts -> deduplicated, counted, mapped vocabulary -> label graph, with a manifest.

    python -m pipelines.build_graph --input 'posts/*.jsonl.gz' --output out/graph \\
        [--taxonomy visual | --lvis-categories lvis_v1_val.json] [--runner FnApiRunner]

Stages (each a PTransform below; the rules themselves are library code in ``datagraph``):

1. ReadPosts: files -> PostRecords (``datagraph.dedup.post_records``) + dead letters.
2. Deduplicate: exact post_id, evaluation-set contamination, media sha256, near-duplicate phash
   (banded), per-user repeated tag sets; each drop counted under its reason.
3. CountVocabulary: posts and distinct users per raw tag in one combiner
   (``datagraph.distinct.DistinctSketch``); the min-posts/min-users cut.
4. MapVocabulary: distinct tags in hash buckets through ``HashtagMapper`` (one per worker).
5. LabelPosts: a CoGroupByKey join of (tag, post) with (tag, synset) -- a join rather than a side
   input because Beam 2.77's DaskRunner silently drops ParDos with side inputs -- then each
   post's capped synset set, synset counts and pair counts by combiners.
6. Write: every table by ``pipelines.io.WriteTable``; then Finalize builds and saves the
   LabelGraph from those files and writes manifest.json last.

Outputs in ``--output``: vocabulary.parquet, mapping.parquet, synset_counts.parquet,
cooccurrence.parquet, dead_letters.parquet, graph/, manifest.json. Same input + same options =
the same bytes on every runner.
"""

from __future__ import annotations

import heapq
import itertools
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq
import xxhash
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from datagraph.cooccurrence import COOCCURRENCE_SCHEMA, SYNSET_COUNT_SCHEMA, cap_post_labels
from datagraph.dedup import (
    DROP_REASONS,
    ExcludeSet,
    PostRecord,
    best_row,
    near_duplicate_losers,
    phash_bands,
    post_records,
    tagset_key,
)
from datagraph.distinct import DEFAULT_LIMIT as DEFAULT_DISTINCT_LIMIT
from datagraph.distinct import DistinctSketch
from datagraph.errors import DatagraphError
from datagraph.schema import (
    DEAD_LETTER_SCHEMA,
    MAPPING_SCHEMA,
    VOCABULARY_SCHEMA,
    vocabulary_row,
)
from pipelines.io import WriteTable
from pipelines.options import BuildGraphConfig, parse_build_graph_args, runner_name

NAMESPACE = "datagraph.build_graph"
MANIFEST_FORMAT_VERSION = 1
_LIVE: Counter[str] = Counter()  # this process's counts so far, for the progress line
TABLES = ("vocabulary", "mapping", "synset_counts", "cooccurrence", "dead_letters")


def _stat(name: str, n: int = 1) -> tuple[str, tuple[str, int]]:
    """A count on the data path (summed into the manifest) and the same Beam metrics counter."""
    Metrics.counter(NAMESPACE, name).inc(n)
    _LIVE[name] += n
    return ("stats", (name, n))


def _split(events: beam.PCollection, label: str, kinds: tuple[str, ...]) -> dict:
    """A DoFn's (kind, value) events as one PCollection per kind.

    Used instead of ``with_outputs``: Beam 2.77's DaskRunner sends tagged outputs into the main
    output, so each stage emits one stream of (kind, value) pairs and consumers filter it.
    """
    return {
        kind: events
        | f"{label}: {kind}" >> beam.FlatMap(lambda e, k=kind: [e[1]] if e[0] == k else [])
        for kind in kinds
    }


# --- 1. read ---------------------------------------------------------------------------------
class ReadPostsFn(beam.DoFn):
    """One input file -> PostRecords; dead letters (file, line, field, error, raw) tagged."""

    def process(self, path: str) -> Iterator[Any]:
        from datagraph.readers import read_posts

        for batch in read_posts(path):
            yield _stat("rows_read", batch.rows_read)
            if batch.dead_letters.num_rows:
                yield _stat("dead_letters", batch.dead_letters.num_rows)
                for row in batch.dead_letters.to_pylist():
                    yield ("dead", tuple(row[n] for n in DEAD_LETTER_SCHEMA.names))
            for record in post_records(batch.posts):
                yield ("rows", record)


# --- 2. deduplicate --------------------------------------------------------------------------
class BestRowCombine(beam.CombineFn):
    """([the best PostRecord by row_order], how many there were): one row per key survives."""

    def create_accumulator(self) -> tuple[PostRecord | None, int]:
        return (None, 0)

    def add_input(self, acc: tuple, row: PostRecord) -> tuple:
        best, n = acc
        return (row if best is None else best_row((best, row)), n + 1)

    def merge_accumulators(self, accs: Iterable[tuple]) -> tuple:
        rows = [best for best, _ in accs if best is not None]
        return (best_row(rows) if rows else None, sum(n for _, n in accs))

    def extract_output(self, acc: tuple) -> tuple:
        best, n = acc
        return ([best] if best is not None else [], n)


class BestRowsCombine(beam.CombineFn):
    """(the ``keep`` best PostRecords by row_order, how many there were)."""

    def __init__(self, keep: int):
        self.keep = keep

    def create_accumulator(self) -> tuple[list, int]:
        return ([], 0)

    def add_input(self, acc: tuple, row: PostRecord) -> tuple:
        rows, n = acc
        return (sorted([*rows, row], key=lambda r: r.row_order)[: self.keep], n + 1)

    def merge_accumulators(self, accs: Iterable[tuple]) -> tuple:
        accs = list(accs)
        rows = sorted((r for rows, _ in accs for r in rows), key=lambda r: r.row_order)
        return (rows[: self.keep], sum(n for _, n in accs))

    def extract_output(self, acc: tuple) -> tuple:
        return acc


def _keep(keyed_result: tuple[Any, tuple[list, int]], reason: str) -> Iterator[Any]:
    """The kept rows of one key, and the others counted as dropped for ``reason``."""
    _, (rows, n) = keyed_result
    if n > len(rows):
        yield _stat(f"dropped.{reason}", n - len(rows))
    for row in rows:
        yield ("rows", row)


def _best_per_key(
    rows: beam.PCollection, name: str, key: Any, combine: beam.CombineFn, reason: str
) -> tuple[beam.PCollection, beam.PCollection]:
    """(kept rows, stats): rows keyed by ``key``, the best kept by ``combine``."""
    kept = (
        rows
        | f"Key by {name}" >> beam.Map(lambda r: (key(r), r))
        | f"Best per {name}" >> beam.CombinePerKey(combine)
        | f"Drop {reason}" >> beam.FlatMap(_keep, reason)
    )
    split = _split(kept, f"After {name}", ("rows", "stats"))
    return split["rows"], split["stats"]


class DropExcludedFn(beam.DoFn):
    """Drop posts whose media is in the evaluation set (loaded once per worker)."""

    def __init__(self, path: str, max_distance: int):
        self.path = path
        self.max_distance = max_distance
        self.exclude: ExcludeSet | None = None

    def setup(self) -> None:
        self.exclude = ExcludeSet.read(self.path, self.max_distance)

    def process(self, record: PostRecord) -> Iterator[Any]:
        if self.exclude.matches(record):
            yield _stat("dropped.eval_contamination")
        else:
            yield ("rows", record)


class Deduplicate(beam.PTransform):
    """The five checks of ``datagraph.dedup`` in order; outputs kept records and stats."""

    def __init__(self, config: BuildGraphConfig):
        super().__init__()
        self.config = config

    def expand(self, records: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        k = self.config.near_duplicate_distance
        rows, id_stats = _best_per_key(
            records, "post_id", lambda r: r.post_id, BestRowCombine(), "duplicate_post_id"
        )
        stats = [id_stats]
        if self.config.exclude_media:
            excluded = rows | "Drop eval media" >> beam.ParDo(
                DropExcludedFn(self.config.exclude_media, k)
            )
            excluded = _split(excluded, "Excluded", ("rows", "stats"))
            stats.append(excluded["stats"])
            rows = excluded["rows"]

        with_sha = rows | "Has sha256" >> beam.Filter(lambda r: r.media_sha256 is not None)
        no_sha = rows | "No sha256" >> beam.Filter(lambda r: r.media_sha256 is None)
        sha_rows, sha_stats = _best_per_key(
            with_sha, "sha256", lambda r: r.media_sha256, BestRowCombine(), "duplicate_media"
        )
        stats.append(sha_stats)
        rows = (sha_rows, no_sha) | "After sha256" >> beam.Flatten()

        with_phash = rows | "Has phash" >> beam.Filter(lambda r: r.media_phash is not None)
        no_phash = rows | "No phash" >> beam.Filter(lambda r: r.media_phash is None)
        losers = (
            with_phash
            | "Bands"
            >> beam.FlatMap(
                lambda r: [
                    (band, (r.rank, r.post_id, r.media_phash))
                    for band in phash_bands(r.media_phash, k)
                ]
            )
            | "Group bands" >> beam.GroupByKey()
            | "Losers" >> beam.FlatMap(lambda kv: near_duplicate_losers(kv[1], k))
            | "Key losers" >> beam.Map(lambda post_id: (post_id, True))
        )
        near = (
            {
                "row": with_phash | "Key phash rows" >> beam.Map(lambda r: (r.post_id, r)),
                "loser": losers,
            }
            | "Join losers" >> beam.CoGroupByKey()
            | "Drop near duplicates" >> beam.FlatMap(_drop_near_duplicate)
        )
        near = _split(near, "Near", ("rows", "stats"))
        stats.append(near["stats"])
        rows = (near["rows"], no_phash) | "After phash" >> beam.Flatten()

        has_key = rows | "Has user and tags" >> beam.Filter(lambda r: r.user_id and r.tags)
        no_key = rows | "No user or tags" >> beam.Filter(lambda r: not (r.user_id and r.tags))
        spam_rows, spam_stats = _best_per_key(
            has_key,
            "user tag set",
            lambda r: tagset_key(r.user_id, r.tags),
            BestRowsCombine(self.config.keep_per_user_tagset),
            "user_spam",
        )
        stats.append(spam_stats)
        kept = (spam_rows, no_key) | "Kept" >> beam.Flatten()
        kept_stat = kept | "Count kept" >> beam.Map(lambda _: _stat("kept_posts")[1])
        all_stats = (*stats, kept_stat) | "Dedup stats" >> beam.Flatten()
        return kept, all_stats


def _drop_near_duplicate(joined: tuple[str, dict]) -> Iterator[Any]:
    _, groups = joined
    rows = list(groups["row"])
    if list(groups["loser"]):
        yield _stat("dropped.near_duplicate_media", len(rows))
    else:
        for row in rows:
            yield ("rows", row)


# --- 3-4. vocabulary -------------------------------------------------------------------------
class TagStatsCombine(beam.CombineFn):
    """(posts, distinct users) for one raw tag; a post without user_id is its own user.

    The accumulator is [posts, set of user hashes]; the set is cut back to the
    ``DistinctSketch`` limit of smallest hashes whenever it doubles, which keeps exactly what a
    sketch of all the values would keep, at one set insert per post.
    """

    limit = DEFAULT_DISTINCT_LIMIT

    def create_accumulator(self) -> list:
        return [0, set()]

    def _trim(self, hashes: set[int]) -> set[int]:
        return set(heapq.nsmallest(self.limit, hashes)) if len(hashes) > 2 * self.limit else hashes

    def add_input(self, acc: list, user: str) -> list:
        acc[0] += 1
        acc[1].add(DistinctSketch.hash(user))
        acc[1] = self._trim(acc[1])
        return acc

    def merge_accumulators(self, accs: Iterable[list]) -> list:
        merged = [0, set()]
        for n, hashes in accs:
            merged[0] += n
            merged[1] |= hashes
            merged[1] = self._trim(merged[1])
        return merged

    def extract_output(self, acc: list) -> tuple[int, int]:
        return (acc[0], DistinctSketch(acc[1], self.limit).count())


class MapVocabularyFn(beam.DoFn):
    """A bucket of (raw_tag, n_posts, n_users) -> vocabulary rows (tagged) and mapping rows."""

    def __init__(self, config: BuildGraphConfig):
        self.config = config
        self.mapper = None

    def setup(self) -> None:
        from datagraph.mapping import HashtagMapper
        from datagraph.taxonomy import load_taxonomy

        taxonomy = load_taxonomy(self.config.taxonomy, self.config.taxonomy_path)
        self.mapper = HashtagMapper(taxonomy, alias_paths=self.config.aliases)

    def process(self, bucket: tuple[int, Iterable[tuple]]) -> Iterator[Any]:
        entries = sorted(bucket[1])
        tags = [tag for tag, _, _ in entries]
        mapping = self.mapper.map(tags).to_pylist()
        for (tag, n_posts, n_users), row in zip(entries, mapping, strict=True):
            norm = self.mapper.normalizer.normalize(tag)
            yield ("vocabulary", vocabulary_row(tag, n_posts, n_users, norm))
            yield ("mapping", tuple(row[name] for name in MAPPING_SCHEMA.names))
            yield _stat("mapped_tags" if row["synset_id"] else "unmapped_tags")


# --- 5. labels -------------------------------------------------------------------------------
def _post_synsets(joined: tuple[str, dict]) -> Iterator[tuple[str, str]]:
    _, groups = joined
    synsets = list(groups["synset"])
    if not synsets:
        return
    synset = synsets[0]
    for post_id in groups["post"]:  # iterated, never collected: a hot tag streams through
        yield (post_id, synset)


def _pairs(labels: list[str]) -> Iterator[tuple[tuple[str, str], int]]:
    for a, b in itertools.combinations(labels, 2):
        yield ((a, b), 1)


# --- pipeline --------------------------------------------------------------------------------
def build_pipeline(pipeline: beam.Pipeline, config: BuildGraphConfig, files: list[str]) -> None:
    """Add the build_graph stages to ``pipeline``; outputs go to ``config.output``."""
    out = config.output
    read = (
        pipeline
        | "Files" >> beam.Create(files)
        | "Spread files" >> beam.Reshuffle()
        | "Read" >> beam.ParDo(ReadPostsFn())
    )
    read = _split(read, "Read", ("rows", "dead", "stats"))
    kept, dedup_stats = read["rows"] | "Deduplicate" >> Deduplicate(config)

    tag_users = kept | "Tag users" >> beam.FlatMap(
        lambda r: [(tag, r.user_id or f"\x00post:{r.post_id}") for tag in r.tags]
    )
    tag_stats = tag_users | "Tag stats" >> beam.CombinePerKey(TagStatsCombine())
    kept_tags = tag_stats | "Min posts and users" >> beam.Filter(
        lambda kv: kv[1][0] >= config.min_posts and kv[1][1] >= config.min_users
    )
    cut_stats = tag_stats | "Cut stats" >> beam.Map(
        lambda kv: _stat(
            "distinct_tags"
            if kv[1][0] >= config.min_posts and kv[1][1] >= config.min_users
            else "tags_below_cut"
        )[1]
    )
    buckets = config.map_buckets
    mapped = (
        kept_tags
        | "Bucket tags"
        >> beam.Map(lambda kv: (xxhash.xxh64_intdigest(kv[0].encode()) % buckets, (kv[0], *kv[1])))
        | "Group buckets" >> beam.GroupByKey()
        | "Map vocabulary" >> beam.ParDo(MapVocabularyFn(config))
    )
    mapped = _split(mapped, "Mapped", ("mapping", "vocabulary", "stats"))

    tag_synset = (
        mapped["mapping"]
        | "Mapped only" >> beam.Filter(lambda row: row[2] is not None)
        | "Tag to synset" >> beam.Map(lambda row: (row[0], row[2]))
    )
    post_tags = kept | "Post tags" >> beam.FlatMap(lambda r: [(t, r.post_id) for t in r.tags])
    cap = config.max_labels_per_post
    labels = (
        {"synset": tag_synset, "post": post_tags}
        | "Join tags" >> beam.CoGroupByKey()
        | "Post synsets" >> beam.FlatMap(_post_synsets)
        | "Group posts" >> beam.GroupByKey()
        | "Cap labels" >> beam.Map(lambda kv: cap_post_labels(kv[0], kv[1], cap))
    )
    synset_counts = (
        labels
        | "Synsets" >> beam.FlatMap(lambda ss: [(s, 1) for s in ss])
        | "Count synsets" >> beam.CombinePerKey(sum)
        | "Synset rows" >> beam.Map(lambda kv: (kv[0], kv[1]))
    )
    pair_counts = (
        labels
        | "Pairs" >> beam.FlatMap(_pairs)
        | "Count pairs" >> beam.CombinePerKey(sum)
        | "Pair rows" >> beam.Map(lambda kv: (kv[0][0], kv[0][1], kv[1]))
    )
    label_stats = labels | "Count labelled" >> beam.Map(lambda _: _stat("labelled_posts")[1])

    files_written = [
        mapped["vocabulary"]
        | WriteTable(out, "vocabulary", VOCABULARY_SCHEMA, sort_key=lambda r: r[0]),
        mapped["mapping"] | WriteTable(out, "mapping", MAPPING_SCHEMA, sort_key=lambda r: r[0]),
        synset_counts | WriteTable(out, "synset_counts", SYNSET_COUNT_SCHEMA),
        pair_counts | WriteTable(out, "cooccurrence", COOCCURRENCE_SCHEMA),
        read["dead"]
        | WriteTable(
            out, "dead_letters", DEAD_LETTER_SCHEMA, sort_key=lambda r: (r[0], r[1] or 0, r)
        ),
    ]
    stats = (
        (read["stats"], dedup_stats, cut_stats, mapped["stats"], label_stats)
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
        | "Finalize" >> beam.ParDo(FinalizeFn(config, _input_info(files)))
    )


# --- 6. finalize -----------------------------------------------------------------------------
class FinalizeFn(beam.DoFn):
    """After every table is written: check the counts, build and save the graph, write the
    manifest (last, so a directory with a manifest is complete)."""

    def __init__(self, config: BuildGraphConfig, inputs: list[dict]):
        self.config = config
        self.inputs = inputs

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


def _input_info(files: list[str]) -> list[dict]:
    import fsspec

    info = []
    for path in files:
        fs, _, (resolved,) = fsspec.get_fs_token_paths(path)
        info.append({"path": path, "size_bytes": int(fs.size(resolved))})
    return info


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
    if args.dry_run:
        _say(
            args,
            f"dry run: {len(files)} input file(s), taxonomy {taxonomy.name} "
            f"({len(taxonomy):,} classes), exclude set {len(exclude) if exclude else 0} "
            f"value(s), runner {runner}; nothing written",
        )
        return None
    Path(config.output).mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with _progress(args, runner) as progress:
        result = _run_pipeline(options, config, files, runner)
        progress()
    manifest = json.loads((Path(config.output) / "manifest.json").read_text())
    _check_metrics(result, manifest)
    if not args.quiet:
        _summary(manifest, time.monotonic() - started, config.output)
    return manifest


def _run_pipeline(options: PipelineOptions, config, files, runner: str):
    try:
        pipeline = beam.Pipeline(options=options)
        build_pipeline(pipeline, config, files)
        result = pipeline.run()
        result.wait_until_finish()
        return result
    except DatagraphError:
        raise
    except Exception as exc:
        message = _flink_hint(exc, options, runner)
        if message:
            raise DatagraphError(message) from None
        raise


def _flink_hint(exc: Exception, options: PipelineOptions, runner: str) -> str | None:
    """One sentence for the FlinkRunner failures that only show once the pipeline runs.

    Without --flink_job_server_jar, Beam 2.77 downloads its job-server jar from Maven Central (then
    a Google mirror) into ~/.apache_beam/cache/jars; offline that is a RuntimeError "Unable to
    fetch remote job server jar at URL: ...". With --flink_submit_uber_jar, an unreachable
    --flink_master is a requests ConnectionError. Settings that cannot work at all are refused
    before this, by ``pipelines.options.check_flink_options``.
    """
    if runner != "FlinkRunner":
        return None
    import requests

    marker = "Unable to fetch remote job server jar at "
    if marker in str(exc):
        url = str(exc).partition(marker)[2].split(": ", 1)[0]
        reason = getattr(exc.__context__, "reason", exc.__context__)
        if options.get_all_options().get("flink_job_server_jar"):
            return (
                f"FlinkRunner could not download --flink_job_server_jar {url} ({reason}): "
                "download it on a connected machine and pass its local path (see docs/flink.md)"
            )
        return (
            f"FlinkRunner needs Beam's Flink job-server jar and could not download it from {url} "
            f"({reason}): download it on a connected machine and pass "
            f"--flink_job_server_jar=/path/to/{url.rsplit('/', 1)[-1]} (see docs/flink.md)"
        )
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.request is not None:
        endpoint = exc.request.url.rsplit("/v1/", 1)[0]
        return (
            f"FlinkRunner could not reach the Flink cluster's REST endpoint {endpoint}: start the "
            "cluster or fix --flink_master (see docs/flink.md)"
        )
    return None


def _check_metrics(result: Any, manifest: dict) -> None:
    """Where the runner reports Beam metrics, they must agree with the manifest's counts."""
    try:
        counters = result.metrics().query()["counters"]
    except Exception:  # some runners (Dask) report none
        return
    seen: dict[str, int] = {}
    for counter in counters:
        if counter.key.metric.namespace == NAMESPACE:
            name = counter.key.metric.name
            seen[name] = seen.get(name, 0) + (counter.committed or counter.attempted or 0)
    if not seen:
        return
    counts = manifest["counts"]
    expected = {"rows_read": counts["read"], "dead_letters": counts["bad"]}
    expected |= {f"dropped.{k}": v for k, v in counts["dropped"].items() if v}
    for name, value in expected.items():
        if seen.get(name, 0) != value:
            raise DatagraphError(f"Beam metric {name}={seen.get(name, 0)} but manifest {value}")


def _say(args, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


class _progress:
    """A live line while the pipeline runs (rich, on stderr): rows read, kept, dropped, elapsed.

    The counts come from ``_LIVE``, which ``_stat`` updates in the process that runs the DoFns:
    live for in-process runners (FnApiRunner with one worker, DirectRunner, PortableRunner with
    LOOPBACK); with worker processes elsewhere (Dask, Flink, multi_processing) the line shows
    the runner and elapsed time only, and the final table has the counts.
    """

    def __init__(self, args, runner: str):
        self.quiet = args.quiet
        self.runner = runner
        self._progress = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _describe(self) -> str:
        live = dict(_LIVE)
        if not live:
            return f"build_graph on {self.runner}"
        dropped = sum(n for name, n in live.items() if name.startswith("dropped."))
        return (
            f"build_graph on {self.runner}: read {live.get('rows_read', 0):,}, "
            f"bad {live.get('dead_letters', 0):,}, dropped {dropped:,}, "
            f"kept {live.get('kept_posts', 0):,}"
        )

    def _refresh(self, task) -> None:
        while not self._stop.wait(0.25):
            self._progress.update(task, description=self._describe())

    def __enter__(self):
        _LIVE.clear()
        if not self.quiet:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            task = self._progress.add_task(self._describe())
            self._thread = threading.Thread(target=self._refresh, args=(task,), daemon=True)
            self._thread.start()
        return lambda: None

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._progress is not None:
            self._progress.stop()
        return False


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
    try:
        run(sys.argv[1:] if argv is None else argv)
    except DatagraphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
