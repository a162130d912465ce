"""score_noise: posts + a build_graph output -> a noise score per (post, mapped hashtag).

    python -m pipelines.score_noise --input 'posts/*.jsonl' --graph out/graph --output out/noise
        [--model default] [--device auto] [--batch-size 256] [--cache-dir DIR] [--parts 16]
        [Beam options: --runner, --direct_num_workers, ...]

The score is ``datagraph.NoiseScorer``'s (docs/noise.md); this module only runs it at scale,
in two Beam pipelines the driver runs one after the other:

1. **Embed** (vocabulary first): each batch of posts gives its distinct texts (canonical tags,
   captions); texts already in the embedding cache are skipped; the rest are made distinct
   across the whole input, embedded by ``RunInference`` with ``SentenceEmbeddingHandler``
   (keyed by the text's sha256, batched, one model per worker process, CUDA when present) and
   written into the cache (``--cache-dir``, default ``<output>/embeddings``) by our own DoFn.
   The model is called once per distinct text of the whole input. The same pass counts posts
   per canonical tag and per pair of them (``tag_counts.parquet``, ``tag_pair_counts.parquet``,
   summed by a combiner) for the score's co-occurrence NPMI.
2. **Score**: posts are read again and routed by a stable hash of post_id into ``--parts``
   partitions. Each partition (its posts sorted by post_id, the first row per post_id kept) is
   scored from the cached vectors and those tag counts, and written as
   ``part-0000p-of-0000P.parquet`` (``datagraph.noise.NOISE_SCORE_SCHEMA``, sorted by post_id
   and raw tag). The label baselines are each partition's own, so a partition's rows are a
   function of its posts: the same bytes on any runner and any number of workers, given the
   cache. ``manifest.json`` is written last (``datagraph.noise_files`` reads the output).

Dead letters (rows the readers reject) go to ``dead_letters.parquet``; counts reconcile:
``read = bad + posts``, ``posts = posts_scored + repeated_post_id`` (a post_id seen again),
``labels = labels_scored + labels_unscored``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import polars as pl
import pyarrow as pa
from apache_beam.ml.inference.base import (
    KeyedModelHandler,
    ModelHandler,
    PredictionResult,
    RunInference,
)
from apache_beam.options.pipeline_options import PipelineOptions

from datagraph.corpus_context import (
    TAG_COUNTS_FILE,
    TAG_PAIRS_FILE,
    TAG_TOTAL_FILE,
    read_tag_counts,
)
from datagraph.embeddings import (
    DEFAULT_MODEL,
    TextEmbedder,
    cache_directory,
    cached_keys,
    model_id,
    text_key,
    write_cached_vectors,
)
from datagraph.errors import ConfigError
from datagraph.noise import NOISE_SCORE_SCHEMA
from datagraph.noise_files import (
    NOISE_FORMAT_VERSION,
    noise_part_name,
    noise_part_of,
    write_noise_manifest,
    write_noise_part,
)
from datagraph.schema import DEAD_LETTER_SCHEMA
from pipelines.build_shards import read_graph_manifest
from pipelines.count_tags import file_info, read_events, tag_count_events, write_tag_counts
from pipelines.file_shuffle import GroupByKeyViaFiles, shuffle_for, spill_directory
from pipelines.io import WriteTable
from pipelines.options import (
    RUNNER_ALIASES,
    _absolute,
    add_shuffle_argument,
    check_flink_options,
    model_path,
    runner_name,
)
from pipelines.running import (
    LiveProgress,
    check_metrics,
    input_info,
    prepare_output,
    run_beam,
    run_command,
    say,
    split_events,
    stat,
)

DEFAULT_PARTS = 16
MANIFEST_FORMAT_VERSION = NOISE_FORMAT_VERSION


@dataclass(frozen=True)
class ScoreNoiseConfig:
    """What score_noise was asked to do (recorded in the manifest)."""

    inputs: tuple[str, ...]
    graph: str
    output: str
    cache_dir: str
    model: str = DEFAULT_MODEL
    device: str = "auto"
    batch_size: int = 256
    parts: int = DEFAULT_PARTS

    def check(self) -> None:
        if self.parts < 1:
            raise ConfigError(f"--parts must be >= 1, got {self.parts}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")


def parse_args(argv: list[str]) -> tuple[ScoreNoiseConfig, argparse.Namespace, list[str]]:
    """(config, parsed args, Beam arguments)."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.score_noise", description=__doc__)
    parser.add_argument("--input", action="append", required=True, help="File or glob; repeat.")
    parser.add_argument("--graph", required=True, help="A build_graph output directory.")
    parser.add_argument("--output", required=True, help="Output directory (local path).")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="sentence-transformers model.")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--batch-size", type=int, default=256, help="Texts per model call.")
    parser.add_argument("--cache-dir", help="Embedding cache (default: <output>/embeddings).")
    parser.add_argument("--parts", type=int, default=DEFAULT_PARTS, help="Output part files.")
    parser.add_argument("--runner", default="FnApiRunner")
    add_shuffle_argument(parser)
    parser.add_argument("--dry-run", action="store_true", help="Check inputs and options only.")
    parser.add_argument("--quiet", action="store_true", help="No progress line or summary.")
    args, beam_args = parser.parse_known_args(argv)
    output = _absolute(args.output)
    config = ScoreNoiseConfig(
        inputs=tuple(args.input),
        graph=_absolute(args.graph),
        output=output,
        cache_dir=_absolute(args.cache_dir) or str(Path(output) / "embeddings"),
        model=model_path(args.model),
        device=args.device,
        batch_size=args.batch_size,
        parts=args.parts,
    )
    config.check()
    beam_args = [f"--runner={RUNNER_ALIASES.get(args.runner, args.runner)}", *beam_args]
    check_flink_options(beam_args)
    return config, args, beam_args


# --- 1. embed ------------------------------------------------------------------------------
class TextsToEmbedFn(beam.DoFn):
    """A batch of posts -> (key, text) of each distinct text it needs that the cache lacks."""

    def __init__(self, config: ScoreNoiseConfig):
        self.config = config

    def setup(self) -> None:
        from datagraph.noise import NoiseScorer

        # the scorer's own preparation, so the texts are exactly those scoring will look up;
        # only the cache's keys are read (preparing calls no model and needs no vector)
        self.cached = cached_keys(cache_directory(self.config.cache_dir, self.config.model))
        self.scorer = NoiseScorer(embedder=_embedder(self.config, cache=False))
        self.mapping = _read_mapping(self.config.graph)

    def process(self, posts: pa.Table) -> Iterator[tuple[str, Any]]:
        batch = self.scorer.prepare(posts, self.mapping)
        for text in batch.texts(self.scorer.label_texts):
            key = text_key(text)
            if key not in self.cached:
                yield "text", (key, text)
        # tag co-occurrence over the corpus: every pair of a post counts (no cap), so that
        # scoring can leave each label's own post out exactly
        yield from tag_count_events(batch.post_units(), posts.num_rows)


class SentenceEmbeddingHandler(ModelHandler[str, PredictionResult, TextEmbedder]):
    """Beam's RunInference contract for a sentence-transformers model: the model loads once
    per worker process (RunInference shares it), texts arrive in batches of up to
    ``batch_size``, each result is the text's unit-length float32 vector."""

    def __init__(self, model: str, device: str, batch_size: int):
        super().__init__()
        self.model = model
        self.device = device
        self.batch_size = batch_size

    def load_model(self) -> TextEmbedder:
        embedder = TextEmbedder(self.model, device=self.device, batch_size=self.batch_size)
        _ = embedder.model  # load now, not inside the first timed batch
        return embedder

    def run_inference(
        self, batch: Sequence[str], model: TextEmbedder, inference_args: dict | None = None
    ) -> Iterable[PredictionResult]:
        vectors = model.embed(list(batch))
        return [PredictionResult(text, vector) for text, vector in zip(batch, vectors, strict=True)]

    def batch_elements_kwargs(self) -> dict[str, int]:
        return {"min_batch_size": 1, "max_batch_size": self.batch_size}

    def get_metrics_namespace(self) -> str:
        return "datagraph"


class WriteVectorsFn(beam.DoFn):
    """Groups of (key, vector) -> one cache part file each, in the TextEmbedder cache format."""

    def __init__(self, config: ScoreNoiseConfig):
        self.config = config

    def process(self, group: tuple[int, Iterable[tuple[bytes, np.ndarray]]]) -> Iterator[Any]:
        vectors = dict(group[1])
        finite = {key: v for key, v in vectors.items() if np.isfinite(v).all()}
        if len(finite) < len(vectors):
            yield stat("nan_vectors", len(vectors) - len(finite))
        if finite:
            directory = cache_directory(self.config.cache_dir, self.config.model)
            write_cached_vectors(directory, finite)
            yield stat("texts_embedded", len(finite))


def _embedder(config: ScoreNoiseConfig, cache: bool = True) -> TextEmbedder:
    """The configured embedder; with ``cache``, every cached vector is loaded into it."""
    return TextEmbedder(
        config.model,
        device=config.device,
        batch_size=config.batch_size,
        cache_dir=config.cache_dir if cache else None,
    )


def build_embed_pipeline(pipeline: beam.Pipeline, config: ScoreNoiseConfig, files: list[str]):
    """Pipeline 1: the distinct texts of every post that the cache lacks, embedded and cached."""
    read = read_events(pipeline, files, ("posts",))
    handler = KeyedModelHandler(
        SentenceEmbeddingHandler(config.model, config.device, config.batch_size)
    )
    prepared = split_events(
        read["posts"] | "Prepare" >> beam.ParDo(TextsToEmbedFn(config)),
        "Prepared",
        ("text", "unit_counts", "pair_counts", "n_posts"),
    )
    write_tag_counts(prepared, config.output)
    (
        prepared["text"]
        | "Distinct texts" >> beam.CombinePerKey(min)
        | "Embed" >> RunInference(handler)
        | "Vectors" >> beam.Map(lambda kv: (kv[0], np.asarray(kv[1].inference, np.float32)))
        | "Spread vectors" >> beam.Map(lambda kv: (kv[0][0] % 16, kv))
        | "Group vectors" >> beam.GroupByKey()
        | "Write cache" >> beam.ParDo(WriteVectorsFn(config))
    )


# --- 2. score ------------------------------------------------------------------------------
def route_posts(posts: pa.Table, parts: int) -> Iterator[tuple[int, bytes]]:
    """(part, that part's posts as Arrow IPC bytes) by ``noise_files.noise_part_of``."""
    part = noise_part_of(posts.column("post_id"), parts)
    for number in np.unique(part):
        rows = posts.filter(pa.array(part == number))
        yield int(number), _pack(rows)


def _pack(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _unpack(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


def one_post_per_id(posts: pa.Table) -> tuple[pa.Table, int]:
    """The posts sorted by post_id (then content, so the order is the same on every runner),
    the first row per post_id kept; and how many repeats were dropped."""
    frame = pl.from_arrow(posts)
    frame = frame.with_columns(
        pl.col("hashtags").list.join("\u0001").fill_null("").alias("_tags"),
        pl.col("caption").fill_null("").alias("_caption"),
    ).sort(["post_id", "_tags", "_caption"])
    first = frame.unique(subset=["post_id"], keep="first", maintain_order=True)
    return first.drop(["_tags", "_caption"]).to_arrow(), frame.height - first.height


class ScoreFn(beam.DoFn):
    """One partition's posts -> its part file of noise scores, and counts."""

    def __init__(self, config: ScoreNoiseConfig):
        self.config = config

    def setup(self) -> None:
        from datagraph.noise import NoiseScorer

        self.mapping = _read_mapping(self.config.graph)
        self.scorer = NoiseScorer(
            embedder=_embedder(self.config), cooccurrence=read_tag_counts(self.config.output)
        )

    def process(self, group: tuple[int, Iterable[bytes]]) -> Iterator[Any]:
        part, packed = group
        tables = [_unpack(data) for data in packed]
        posts, repeats = one_post_per_id(pa.concat_tables(tables))
        if repeats:
            yield stat("dropped.repeated_post_id", repeats)
        before = self.scorer.embedder.encoded
        scores = self.scorer.score(posts, self.mapping)
        if self.scorer.embedder.encoded > before:  # texts the embed pipeline did not cache
            yield stat("texts_embedded_late", self.scorer.embedder.encoded - before)
        yield from _score_stats(posts.num_rows, scores)
        yield "part", write_noise_part(self.config.output, part, self.config.parts, scores)


def _score_stats(n_posts: int, scores: pa.Table) -> Iterator[Any]:
    yield stat("posts_scored", n_posts)
    yield stat("labels", scores.num_rows)
    reasons = scores.column("unscored_reason").to_pylist()
    yield stat("labels_scored", sum(reason is None for reason in reasons))
    for reason in sorted({r for r in reasons if r is not None}):
        yield stat(f"labels_unscored_{reason}", reasons.count(reason))


def _read_mapping(graph: str) -> pa.Table:
    import pyarrow.parquet as pq

    return pq.read_table(Path(graph) / "mapping.parquet")


class FinalizeFn(beam.DoFn):
    """Every part's info, the dead letters' file and the counts -> manifest.json, last."""

    def __init__(self, config: ScoreNoiseConfig, context: dict):
        self.config = config
        self.context = context

    def process(self, group: tuple[None, Iterable[tuple[str, Any]]]) -> Iterator[str]:
        parts, stats, files = [], {}, {}
        for kind, value in group[1]:
            if kind == "part":
                parts.append(value)
            elif kind == "stat":
                stats[value[0]] = stats.get(value[0], 0) + value[1]
            else:
                files[value[0]] = value
        written = {p["path"] for p in parts}
        empty = NOISE_SCORE_SCHEMA.empty_table()
        for part in range(self.config.parts):  # a partition with no posts: an empty part
            if noise_part_name(part, self.config.parts) not in written:
                parts.append(write_noise_part(self.config.output, part, self.config.parts, empty))
        counts = reconcile(stats)
        _, dead_file, dead_rows, dead_sha = files["dead_letters"]
        cooccurrence = self.context["cooccurrence"]
        extra = {
            "inputs": self.context["inputs"],
            "graph": self.context["graph"],
            "model": self.context["model"],
            "cooccurrence": cooccurrence,
            "counts": counts,
            "outputs": [
                *({k: p[k] for k in ("path", "rows", "sha256")} for p in parts),
                {"path": dead_file, "rows": dead_rows, "sha256": dead_sha},
                *cooccurrence["files"],
            ],
        }
        write_noise_manifest(self.config.output, parts, _manifest_config(self.config), extra)
        yield str(Path(self.config.output) / "manifest.json")


def _manifest_config(config: ScoreNoiseConfig) -> dict:
    """The options that decide the scores (paths of where things are written left out)."""
    recorded = asdict(config)
    for key in ("output", "cache_dir", "device", "batch_size"):
        recorded.pop(key)
    return recorded


def reconcile(stats: dict[str, int]) -> dict[str, Any]:
    """The manifest's counts; raises if a row or a label is unaccounted for."""
    counts = {
        "read": stats.get("rows_read", 0),
        "bad": stats.get("dead_letters", 0),
        "posts": stats.get("posts", 0),
        "dropped": {"repeated_post_id": stats.get("dropped.repeated_post_id", 0)},
        "posts_scored": stats.get("posts_scored", 0),
        "labels": stats.get("labels", 0),
        "labels_scored": stats.get("labels_scored", 0),
        "labels_unscored": {
            key.removeprefix("labels_unscored_"): n
            for key, n in sorted(stats.items())
            if key.startswith("labels_unscored_")
        },
        "texts_embedded_late": stats.get("texts_embedded_late", 0),
    }
    problems = []
    if counts["read"] != counts["bad"] + counts["posts"]:
        problems.append("read != bad + posts")
    if counts["posts"] != counts["posts_scored"] + counts["dropped"]["repeated_post_id"]:
        problems.append("posts != posts_scored + repeated_post_id")
    if counts["labels"] != counts["labels_scored"] + sum(counts["labels_unscored"].values()):
        problems.append("labels != scored + unscored")
    if problems:
        raise RuntimeError(f"score_noise counts do not reconcile: {'; '.join(problems)} {counts}")
    return counts


def build_score_pipeline(
    pipeline: beam.Pipeline,
    config: ScoreNoiseConfig,
    files: list[str],
    context: dict,
    spill: str | None = None,
) -> None:
    """Pipeline 2: posts by partition -> scored part files, dead letters, manifest. With
    ``spill`` (a directory) the partitions are gathered through files there
    (``pipelines.file_shuffle``)."""
    read = read_events(pipeline, files, ("posts", "dead", "stats"))
    parts = config.parts
    scored = split_events(
        read["posts"]
        | "Route posts" >> beam.FlatMap(route_posts, parts)
        | "Gather partitions" >> GroupByKeyViaFiles(spill, "partitions")
        | "Score" >> beam.ParDo(ScoreFn(config)),
        "Scored",
        ("part", "stats"),
    )
    dead = read["dead"] | WriteTable(
        config.output, "dead_letters", DEAD_LETTER_SCHEMA, ["source_file", "line"]
    )
    stats = (
        (read["stats"], scored["stats"])
        | "All stats" >> beam.Flatten()
        | "Sum stats" >> beam.CombinePerKey(sum)
    )
    (
        (
            scored["part"] | "Tag parts" >> beam.Map(lambda p: ("part", p)),
            dead | "Tag dead letters" >> beam.Map(lambda f: ("file", f)),
            stats | "Tag stats" >> beam.Map(lambda kv: ("stat", kv)),
        )
        | "Everything" >> beam.Flatten()
        | "One key" >> beam.Map(lambda item: (None, item))
        | "Together" >> beam.GroupByKey()
        | "Finalize" >> beam.ParDo(FinalizeFn(config, context))
    )


# --- running -------------------------------------------------------------------------------
def run(argv: list[str]) -> dict | None:
    """Parse arguments, embed the vocabulary, score; returns the manifest (None on --dry-run)."""
    from datagraph.embeddings import check_model_path, resolve_device
    from datagraph.readers import expand_inputs

    config, args, beam_args = parse_args(argv)
    _, graph_sha = read_graph_manifest(config.graph)
    files = expand_inputs(list(config.inputs))
    if config.model != DEFAULT_MODEL:
        check_model_path(config.model)
    device = resolve_device(config.device)  # a clear error for CUDA without a GPU, here
    runner = runner_name(beam_args)
    if args.dry_run:
        say(
            args,
            f"dry run: {len(files)} input file(s), model {config.model} on {device}, "
            f"runner {runner}; nothing written",
        )
        return None
    out = Path(config.output)
    prepare_output(out)
    context = {
        "inputs": input_info(files),
        "graph": {"path": config.graph, "manifest_sha256": graph_sha},
        "model": {"model": config.model, "id": model_id(config.model)},
    }
    options = PipelineOptions(beam_args)
    started = time.monotonic()
    with LiveProgress(args, runner, "score_noise") as progress:
        cache = cache_directory(config.cache_dir, config.model)
        cached_before = len(cached_keys(cache))
        run_beam(options, lambda p: build_embed_pipeline(p, config, files), runner)
        context["model"]["texts_embedded"] = len(cached_keys(cache)) - cached_before
        context["model"]["texts_cached_before"] = cached_before
        context["cooccurrence"] = {
            "unit": "tag",
            **json.loads((out / TAG_TOTAL_FILE).read_text()),
            "files": [file_info(out, name) for name in (TAG_COUNTS_FILE, TAG_PAIRS_FILE)],
        }
        with spill_directory(out, shuffle_for(args.shuffle, runner)) as spill:
            result = run_beam(
                options, lambda p: build_score_pipeline(p, config, files, context, spill), runner
            )
        progress()
    manifest = json.loads((out / "manifest.json").read_text())
    check_metrics(result, manifest)
    if not args.quiet:
        _summary(manifest, time.monotonic() - started, config.output)
    return manifest


def _summary(manifest: dict, seconds: float, output: str) -> None:
    from rich.console import Console
    from rich.table import Table

    counts = manifest["counts"]
    table = Table(title=f"score_noise -> {output} ({seconds:.1f} s)", show_header=False)
    table.add_row("rows read", f"{counts['read']:,}")
    table.add_row("bad rows (dead letters)", f"{counts['bad']:,}")
    table.add_row("posts scored", f"{counts['posts_scored']:,}")
    table.add_row("labels", f"{counts['labels']:,}")
    table.add_row("labels scored", f"{counts['labels_scored']:,}")
    for reason, n in counts["labels_unscored"].items():
        table.add_row(f"labels unscored: {reason}", f"{n:,}")
    table.add_row("texts embedded (cache misses)", f"{manifest['model']['texts_embedded']:,}")
    Console().print(table)


def main(argv: list[str] | None = None) -> None:
    run_command(run, argv)


if __name__ == "__main__":
    main()
