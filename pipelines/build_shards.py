"""build_shards: posts + a build_graph output -> a resampled, sharded training set with a manifest.

    python -m pipelines.build_shards --input 'posts/*.parquet' --graph out/graph \\
        --lvis-categories lvis_v1_val.json --sampling sqrt --num-shards 64 --seed 0 \\
        --output out/lvis1k

The format is docs/shards.md; the rules are library code (``datagraph.labels``,
``datagraph.sampling``, ``datagraph.shards``). Stages:

0. Driver: the label map (raw tag -> class of the chosen taxonomy) from the graph's mapping
   table, or from its vocabulary mapped again when the taxonomy differs; written to
   ``label_map.parquet``, which each worker loads once (a file, not a side input: Beam 2.77's
   DaskRunner drops ParDos with side inputs).
1. Read and deduplicate exactly as build_graph (same transforms, same options by default).
2. Label: per batch, posts labelled by one join with the label map; posts without a class
   dropped (``no_label``); each post's split (by user) and shard (by its seeded hash); the class
   histogram per split, summed by a combiner. With ``--noise``, the kept posts and the rows of
   the score_noise output are first routed by the same hash of post_id into ``--partitions``
   partitions and joined by a CoGroupByKey (the noise table is as large as the posts: it is
   never loaded whole into a worker), so each partition's labels get their noise scores and
   ``--noise-policy`` applies before the histograms (``drop:T``: posts left without a label
   are dropped as ``noisy_labels``).
3. Plan: the histograms, once complete, go to every shard key (a CoGroupByKey join, not a side
   input); each shard worker derives the same class list and sampling plan from them.
4. Write: per shard, classes below ``--min-class-count`` removed (``rare_classes_only``), copies
   drawn (``resampled_out`` for none), rows built, sorted and written as Parquet through a
   temporary file and a rename. Every shard is written, empty ones too. With ``--webdataset``
   the same rows also go to a WebDataset tar beside it (``datagraph.webdataset``), the same way.
5. Finalize: counts reconciled, stale shard files (Parquet and tar) of earlier runs removed,
   manifest.json last.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions

from datagraph.dedup import DROP_REASONS
from datagraph.errors import DatagraphError
from datagraph.graph_files import parquet_bytes, write_atomic
from datagraph.labels import (
    LABEL_MAP_SCHEMA,
    NOISE_SCORE_BINS,
    Labelling,
    label_map,
    label_posts_with_noise,
    remap_vocabulary,
)
from datagraph.noise_files import iter_noise_scores, open_noise_output
from datagraph.sampling import plan_sampling, total_variation
from datagraph.schema import DEAD_LETTER_SCHEMA, read_manifest
from datagraph.shards import (
    SHARD_SCHEMA,
    ClassList,
    relabel,
    shard_bytes,
    shard_examples,
    shard_keys,
    shard_path,
)
from datagraph.webdataset import tar_members, tar_path, webdataset_tar
from pipelines.build_graph import MANIFEST_FORMAT_VERSION as GRAPH_MANIFEST_VERSION
from pipelines.build_graph import READ_BATCH_SIZE, Deduplicate, ReadPostsFn, route
from pipelines.file_shuffle import CoGroupByKeyViaFiles, shuffle_for, spill_directory
from pipelines.io import WriteTable, pack_frame, unpack_frame
from pipelines.options import (
    BuildShardsConfig,
    build_shards_parser,
    parse_build_shards_args,
    runner_name,
    with_partitions,
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

MANIFEST_FORMAT_VERSION = 1
SHARD_DROP_REASONS = ("no_label", "noisy_labels", "rare_classes_only", "resampled_out")
LABEL_MAP_FILE = "label_map.parquet"
_POST_COLUMNS = {
    "post_id": pl.String,
    "media_uri": pl.String,
    "classes": pl.List(pl.Int32),
    "noise_scores": pl.List(pl.Float32),
    "source_hashtags": pl.List(pl.String),
}
_NOISE_COLUMNS = {"post_id": pl.String, "raw_tag": pl.String, "noise_score": pl.Float32}
_NOISE_COUNTS = ("labels_scored", "labels_unscored", "labels_dropped", "labels_down_weighted")


# --- 2. label --------------------------------------------------------------------------------
class LabelPostsFn(beam.DoFn):
    """A batch of kept posts (or, with ``--noise``, one partition of posts joined with its noise
    rows) -> labelled posts routed to their shard key, the class histogram of each split, and
    the counts of posts dropped and of labels scored, dropped, down-weighted."""

    def __init__(self, config: BuildShardsConfig, taxonomy_size: int):
        self.config = config
        self.taxonomy_size = taxonomy_size
        self.policy = config.noise_policy_rule()
        self.labels: pl.DataFrame | None = None

    def setup(self) -> None:
        path = Path(self.config.output) / LABEL_MAP_FILE
        self.labels = pl.from_arrow(pq.read_table(path).select(["raw_tag", "class_index"]))

    def process(self, element: Any) -> Iterator[Any]:
        posts, noise = _posts_and_noise(element)
        if posts is None:
            return
        posts = posts.select("post_id", "user_id", "media_uri", "tags")
        labelling = label_posts_with_noise(posts, self.labels, noise, self.policy)
        yield from _labelling_stats(labelling, noise is not None)
        labelled = labelling.posts
        if not labelled.height:
            return
        config = self.config
        key, val = shard_keys(
            labelled, config.seed, config.num_shards, config.val_fraction, config.val_shards
        )
        classes = labelled["classes"]
        for split, mask in (("train", ~val), ("val", val)):
            if mask.any():
                values = classes.filter(pl.Series(mask)).explode().to_numpy()
                yield ("hist", (split, np.bincount(values, minlength=self.taxonomy_size)))
        routed = labelled.select(list(_POST_COLUMNS)).with_columns(pl.Series("key", key))
        for part_key, part in _split_by_key(routed):
            yield ("rows", (part_key, pack_frame(part)))


def _posts_and_noise(element: Any) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """(posts, noise rows) of a label element: a kept batch alone (no noise pass: None), or a
    partition ``(key, {"posts": [...], "noise": [...]})`` of the noise join, whose posts are
    None when the partition holds noise rows only (posts dropped earlier, or not in the input).
    """
    if not isinstance(element, tuple):
        return _as_frame(element), None
    _, groups = element
    posts = [_as_frame(p) for p in groups["posts"]]
    noise = [_as_frame(n) for n in groups["noise"]]
    if not posts:
        return None, None
    noise_rows = pl.concat(noise) if noise else pl.DataFrame(schema=_NOISE_COLUMNS)
    return pl.concat(posts, how="vertical_relaxed"), noise_rows


def _as_frame(value: pl.DataFrame | bytes) -> pl.DataFrame:
    return value if isinstance(value, pl.DataFrame) else unpack_frame(value)


def _labelling_stats(labelling: Labelling, scored: bool) -> Iterator[Any]:
    """The labelling's counts as stats (nothing for zeros): drop reasons, and with a noise pass
    the label counts and the score histogram of the manifest's ``noise`` section."""
    if labelling.no_label:
        yield stat("dropped.no_label", labelling.no_label)
    if labelling.noisy_labels:
        yield stat("dropped.noisy_labels", labelling.noisy_labels)
    if not scored:
        return
    for name in _NOISE_COUNTS:
        if getattr(labelling, name):
            yield stat(f"noise.{name}", getattr(labelling, name))
    for index, n in enumerate(labelling.score_histogram.tolist()):
        if n:
            yield stat(f"noise.score_bin.{index}", n)


def _read_noise_part(path: str, partitions: int) -> Iterator[tuple[int, bytes]]:
    """One part of the noise output -> its scored rows (post_id, raw_tag, noise_score), in
    batches, each routed to the partition of its post (the posts' own routing)."""
    for frame in iter_noise_scores(path, READ_BATCH_SIZE):
        yield from route(frame, pl.col("post_id"), partitions)


def _route_posts(rows: pl.DataFrame | bytes, partitions: int) -> Iterator[tuple[int, bytes]]:
    """A kept batch -> its posts routed by post_id, to meet their noise rows."""
    return route(_as_frame(rows), pl.col("post_id"), partitions)


def _split_by_key(frame: pl.DataFrame) -> Iterator[tuple[int, pl.DataFrame]]:
    for (key,), part in frame.partition_by("key", as_dict=True, maintain_order=True).items():
        yield int(key), part.drop("key")


def _sum_histograms(parts: Iterable[np.ndarray]) -> np.ndarray:
    total = None
    for part in parts:
        total = part.copy() if total is None else total + part
    return total


# --- 3. plan ---------------------------------------------------------------------------------
def _broadcast(grouped: tuple[None, Iterable[tuple[str, np.ndarray]]], keys: int):
    """The complete histograms of both splits -> one copy per shard key, and one for Finalize."""
    histograms = {split: np.asarray(h, dtype=np.int64) for split, h in grouped[1]}
    for key in range(keys):
        yield (key, histograms)


# --- 4. write --------------------------------------------------------------------------------
class WriteShardFn(beam.DoFn):
    """One shard key's posts and the histograms -> the shard file, its info, its stats."""

    def __init__(self, config: BuildShardsConfig):
        self.config = config
        self.taxonomy = None
        self._classes: tuple[bytes, ClassList] | None = None

    def setup(self) -> None:
        from datagraph.taxonomy import load_taxonomy

        self.taxonomy = load_taxonomy(self.config.taxonomy, self.config.taxonomy_path)

    def class_list(self, train_histogram: np.ndarray) -> ClassList:
        """The class list of this run (the same in every worker; cached per histogram)."""
        digest = hashlib.sha256(train_histogram.tobytes()).digest()
        if self._classes is None or self._classes[0] != digest:
            classes = ClassList.select(self.taxonomy, train_histogram, self.config.min_class_count)
            self._classes = (digest, classes)
        return self._classes[1]

    def process(self, joined: tuple[int, dict]) -> Iterator[Any]:
        key, groups = joined
        (histograms,) = list(groups["plan"])
        config = self.config
        split = "train" if key < config.num_shards else "val"
        shard = key if split == "train" else key - config.num_shards
        count = config.num_shards if split == "train" else config.val_shards
        frames = [unpack_frame(b) for b in groups["rows"]]
        posts = pl.concat(frames) if frames else pl.DataFrame(schema=_POST_COLUMNS)
        classes = self.class_list(histograms["train"])
        posts, rare = relabel(posts, classes.remap(len(self.taxonomy)))
        if rare:
            yield stat("dropped.rare_classes_only", rare)
        plan = None
        if split == "train":
            counts = histograms["train"][classes.taxonomy_index]
            keys = classes.class_ids.astype(np.uint64)
            plan = plan_sampling(counts, config.sampling_strategy(), keys)
        weighted = config.noise_policy_rule().kind == "weight"
        result = shard_examples(posts, plan, classes, config.seed, shard, weighted)
        data = shard_bytes(result.table, config.row_group_size)
        path = shard_path(split, shard, count, config.with_validation)
        target = Path(config.output) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, lambda handle: handle.write(data))
        rows = result.table.num_rows
        if result.resampled_out:
            yield stat("dropped.resampled_out", result.resampled_out)
        yield stat("shard_posts", result.kept_posts)
        yield stat("repeats_added", rows - result.kept_posts)
        info = {
            "path": path,
            "split": split,
            "shard": shard,
            "rows": rows,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        if config.webdataset:
            info["webdataset"] = _write_tar(Path(config.output), path, result.table, classes)
        yield ("shard", info)
        yield ("after", (key, _sparse(result.histogram_after), _sparse(result.expected_after)))


def _write_tar(out: Path, parquet: str, table: pa.Table, classes: ClassList) -> dict[str, Any]:
    """The shard's rows as a WebDataset tar beside its Parquet file (temporary file + rename);
    returns the tar's manifest entry."""
    data = webdataset_tar(table, classes)
    path = tar_path(parquet)
    write_atomic(out / path, lambda handle: handle.write(data))
    return {
        "path": path,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "samples": table.num_rows,
        "members": tar_members(table),
    }


def _sparse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    index = np.flatnonzero(values)
    return index, values[index]


def _dense(sparse: tuple[np.ndarray, np.ndarray], size: int, dtype) -> np.ndarray:
    out = np.zeros(size, dtype=dtype)
    out[sparse[0]] = sparse[1]
    return out


# --- pipeline --------------------------------------------------------------------------------
def build_pipeline(
    pipeline: beam.Pipeline,
    config: BuildShardsConfig,
    files: list[str],
    context: dict,
    spill: str | None = None,
) -> None:
    """Add the build_shards stages to ``pipeline``; ``context`` is what the driver prepared
    (taxonomy size, label map info, graph info, inputs). With ``spill`` (a directory) the
    grouping steps of posts go through files there (``pipelines.file_shuffle``)."""
    keys = config.num_shards + (config.val_shards if config.with_validation else 0)
    size = context["taxonomy_size"]
    read = (
        pipeline
        | "Files" >> beam.Create(files)
        | "Spread files" >> beam.Reshuffle()
        | "Read" >> beam.ParDo(ReadPostsFn(READ_BATCH_SIZE, carry=("media_uri",)))
    )
    read = split_events(read, "Read", ("rows", "dead", "stats"))
    kept, dedup_stats = read["rows"] | "Deduplicate" >> Deduplicate(config, spill)
    to_label = kept
    if config.noise is not None:  # a join by key, not a side input (see the module docstring)
        parts = config.partitions
        noise = (
            pipeline
            | "Noise parts" >> beam.Create(context["noise"]["parts"])
            | "Spread noise parts" >> beam.Reshuffle()
            | "Read noise" >> beam.FlatMap(_read_noise_part, parts)
        )
        posts = kept | "Route posts by id" >> beam.FlatMap(_route_posts, parts)
        to_label = {"posts": posts, "noise": noise} | "Join noise" >> CoGroupByKeyViaFiles(
            spill, "noise"
        )
    labelled = to_label | "Label" >> beam.ParDo(LabelPostsFn(config, size))
    labelled = split_events(labelled, "Labelled", ("rows", "hist", "stats"))

    empty = [(split, np.zeros(size, dtype=np.int64)) for split in ("train", "val")]
    histograms = (
        (labelled["hist"], pipeline | "No posts" >> beam.Create(empty))
        | "All histograms" >> beam.Flatten()
        | "Sum histograms" >> beam.CombinePerKey(_sum_histograms)
        | "One plan key" >> beam.Map(lambda kv: (None, kv))
        | "Both splits" >> beam.GroupByKey()
    )
    plans = histograms | "To every shard" >> beam.FlatMap(_broadcast, keys)
    written = (
        {"plan": plans, "rows": labelled["rows"]}
        | "Join shards" >> CoGroupByKeyViaFiles(spill, "shards", inline=("plan",))
        | "Write shards" >> beam.ParDo(WriteShardFn(config))
    )
    written = split_events(written, "Written", ("shard", "after", "stats"))
    dead = read["dead"] | WriteTable(
        config.output, "dead_letters", DEAD_LETTER_SCHEMA, ["source_file", "line"]
    )
    stats = (
        (read["stats"], dedup_stats, labelled["stats"], written["stats"])
        | "All stats" >> beam.Flatten()
        | "Sum stats" >> beam.CombinePerKey(sum)
    )
    (
        (
            written["shard"] | "Tag shards" >> beam.Map(lambda s: ("shard", s)),
            written["after"] | "Tag after" >> beam.Map(lambda a: ("after", a)),
            histograms | "Tag before" >> beam.Map(lambda h: ("before", dict(h[1]))),
            dead | "Tag dead letters" >> beam.Map(lambda f: ("file", f)),
            stats | "Tag stats" >> beam.Map(lambda kv: ("stat", kv)),
        )
        | "Everything" >> beam.Flatten()
        | "One key" >> beam.Map(lambda item: (None, item))
        | "Together" >> beam.GroupByKey()
        | "Finalize" >> beam.ParDo(FinalizeFn(config, context))
    )


# --- 5. finalize -----------------------------------------------------------------------------
class FinalizeFn(beam.DoFn):
    """After every shard is written: reconcile, remove stale shards, write manifest.json last."""

    def __init__(self, config: BuildShardsConfig, context: dict):
        self.config = config
        self.context = context

    def process(self, element: tuple[None, Iterable[tuple[str, Any]]]) -> Iterator[str]:
        from datagraph import __version__
        from datagraph.taxonomy import load_taxonomy

        config = self.config
        shards, after, files, stats, before = [], [], {}, {}, None
        for kind, value in element[1]:
            if kind == "shard":
                shards.append(value)
            elif kind == "after":
                after.append(value)
            elif kind == "file":
                files[value[0]] = value
            elif kind == "before":
                before = value
            else:
                stats[value[0]] = value[1]
        shards.sort(key=lambda s: s["path"])
        counts = reconcile(stats, sum(s["rows"] for s in shards))
        taxonomy = load_taxonomy(config.taxonomy, config.taxonomy_path)
        classes = ClassList.select(taxonomy, before["train"], config.min_class_count)
        sampling = self._sampling(before, after, classes)
        out = Path(config.output)
        tars = [s["webdataset"] for s in shards if "webdataset" in s]
        _remove_stale_shards(out, {s["path"] for s in shards} | {t["path"] for t in tars})
        _, dead_file, dead_rows, dead_sha = files["dead_letters"]
        outputs = (
            [{"path": s["path"], "rows": s["rows"], "sha256": s["sha256"]} for s in shards]
            + [{"path": t["path"], "rows": t["samples"], "sha256": t["sha256"]} for t in tars]
            + [
                {"path": dead_file, "rows": dead_rows, "sha256": dead_sha},
                self.context["label_map"],
            ]
        )
        manifest = {
            "format_version": MANIFEST_FORMAT_VERSION,
            "pipeline": "build_shards",
            "config": config.manifest_config(),
            "code_version": __version__,
            "seed": config.seed,
            "taxonomy": {
                "id": taxonomy.name,
                "fingerprint": taxonomy.fingerprint,
                "classes": len(classes),
                "taxonomy_classes": len(taxonomy),
                "class_list_sha256": classes.sha256(),
            },
            "classes": classes.to_manifest(),
            "graph": self.context["graph"],
            "labels": self.context["labels"],
            "noise": self._noise(stats),
            "inputs": self.context["inputs"],
            "counts": counts,
            "sampling": sampling,
            "shard_row_group_size": config.row_group_size,
            "shards": shards,
            "outputs": sorted(outputs, key=lambda o: o["path"]),
            "schema": {
                "shards": [f"{f.name}: {f.type}" for f in SHARD_SCHEMA],
                "label_map": [f"{f.name}: {f.type}" for f in LABEL_MAP_SCHEMA],
                "dead_letters": [f"{f.name}: {f.type}" for f in DEAD_LETTER_SCHEMA],
            },
        }
        text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        write_atomic(out / "manifest.json", lambda handle: handle.write(text.encode()))
        yield str(out / "manifest.json")

    def _noise(self, stats: dict[str, int]) -> dict | None:
        """What the noise pass did (None without ``--noise``): which output, the policy, and
        the labels scored, dropped and down-weighted (counted when posts were labelled, before
        rare classes and resampling), the posts dropped, the scored labels' histogram."""
        if self.config.noise is None:
            return None
        policy = self.config.noise_policy_rule()
        counts = {name: stats.get(f"noise.{name}", 0) for name in _NOISE_COUNTS}
        return {
            "path": self.config.noise,
            "manifest_sha256": self.context["noise"]["manifest_sha256"],
            "rows": self.context["noise"]["rows"],
            "policy": policy.kind,
            "threshold": policy.threshold,
            **counts,
            "posts_dropped": stats.get("dropped.noisy_labels", 0),
            "score_histogram": [
                stats.get(f"noise.score_bin.{i}", 0) for i in range(NOISE_SCORE_BINS)
            ],
        }

    def _sampling(self, before: dict, after: list, classes: ClassList) -> dict:
        """Histograms before/after, the promise, the target, and the errors between them."""
        config = self.config
        n = len(classes)
        train_before = before["train"][classes.taxonomy_index]
        plan = plan_sampling(
            train_before, config.sampling_strategy(), classes.class_ids.astype(np.uint64)
        )
        achieved = np.zeros(n, dtype=np.int64)
        expected = np.zeros(n)
        val_rows = np.zeros(n, dtype=np.int64)
        for key, hist, promised in sorted(after, key=lambda a: a[0]):  # fixed summation order
            if key < config.num_shards:
                achieved += _dense(hist, n, np.int64)
                expected += _dense(promised, n, np.float64)
            else:
                val_rows += _dense(hist, n, np.int64)
        return {
            "strategy": config.sampling,
            "params": config.sampling_strategy().params() | {"cap_resolved": plan.cap},
            "histogram_before": train_before.tolist(),
            "histogram_after": achieved.tolist(),
            "expected_after": [round(float(x), 6) for x in expected],
            "target_share": [round(float(x), 9) for x in plan.target_share],
            "validation_histogram": val_rows.tolist(),
            "error": {
                "achieved_vs_expected_tv": round(total_variation(achieved, expected), 6),
                "achieved_vs_target_tv": round(total_variation(achieved, plan.target_share), 6),
                "expected_vs_target_tv": round(total_variation(expected, plan.target_share), 6),
            },
        }


def reconcile(stats: dict[str, int], shard_rows: int) -> dict[str, Any]:
    """The manifest's counts; raises if a post or a row is unaccounted for."""
    reasons = (*DROP_REASONS, *SHARD_DROP_REASONS)
    dropped = {reason: stats.get(f"dropped.{reason}", 0) for reason in reasons}
    counts = {
        "read": stats.get("rows_read", 0),
        "bad": stats.get("dead_letters", 0),
        "dropped": dropped,
        "kept": stats.get("shard_posts", 0),  # written at least once
        "rows": shard_rows,
        "repeats_added": stats.get("repeats_added", 0),
    }
    accounted = counts["bad"] + sum(dropped.values()) + counts["kept"]
    if accounted != counts["read"]:
        raise DatagraphError(
            f"counts do not reconcile: read {counts['read']:,} but bad + dropped + kept = "
            f"{accounted:,} ({stats})"
        )
    if counts["kept"] + counts["repeats_added"] != shard_rows:
        raise DatagraphError(
            f"rows do not reconcile: kept {counts['kept']:,} + repeats "
            f"{counts['repeats_added']:,} but the shards hold {shard_rows:,} rows"
        )
    return counts


def _remove_stale_shards(out: Path, current: set[str]) -> None:
    """Shard files (Parquet and WebDataset tars) of an earlier run into the same directory that
    this run did not write: fewer shards, no split any more, or no ``--webdataset`` this time."""
    for folder in ("", "train/", "val/"):
        for suffix in ("parquet", "tar"):
            for path in out.glob(f"{folder}part-*-of-*.{suffix}"):
                if path.relative_to(out).as_posix() not in current:
                    path.unlink()


# --- driver ----------------------------------------------------------------------------------
def read_graph_manifest(graph: str) -> tuple[dict, str]:
    """(the build_graph manifest of ``graph``, its sha256); clear errors when it is not one."""
    path = Path(graph) / "manifest.json"
    manifest = read_manifest(path, "build_graph", "build_graph output", GRAPH_MANIFEST_VERSION)
    return manifest, hashlib.sha256(path.read_bytes()).hexdigest()


def prepare_label_map(config: BuildShardsConfig, graph_manifest: dict, taxonomy) -> tuple:
    """(label map table, how it was made): the graph's mapping when it was made with this very
    taxonomy, else the graph's vocabulary mapped again under it."""
    graph = Path(config.graph)
    same = graph_manifest.get("taxonomy", {}).get("fingerprint") == taxonomy.fingerprint
    if same:
        mapping = pq.read_table(graph / "mapping.parquet")
        return label_map(mapping, taxonomy), "graph_mapping"
    tags = pq.read_table(graph / "vocabulary.parquet", columns=["raw_tag"])
    aliases = graph_manifest.get("config", {}).get("aliases", [])
    ranking = graph_ranking(graph, graph_manifest)
    mapping = remap_vocabulary(tags.column("raw_tag").to_pylist(), taxonomy, aliases, **ranking)
    return label_map(mapping, taxonomy), "vocabulary_remapped"


def graph_ranking(graph: Path, graph_manifest: dict) -> dict:
    """The sense ranking the graph was mapped with, for mapping its vocabulary again: its
    embedding model (on the CPU or a GPU, whichever torch sees) and corpus neighbours."""
    config = graph_manifest.get("config", {})
    if not config.get("embedding_model"):
        return {}
    from datagraph.corpus_context import TagNeighbours
    from datagraph.embeddings import TextEmbedder

    ranking: dict = {"embedder": TextEmbedder(config["embedding_model"])}
    if config.get("corpus_context"):
        ranking["corpus"] = TagNeighbours.read(graph / "corpus_neighbours.parquet")
    return ranking


def run(argv: list[str]) -> dict | None:
    """Parse arguments, prepare the label map, run the pipeline; returns the manifest."""
    from datagraph.readers import expand_inputs
    from datagraph.taxonomy import load_taxonomy

    first, _ = build_shards_parser().parse_known_args(argv)
    graph_manifest, graph_sha = read_graph_manifest(first.graph)
    config, args, beam_args = parse_build_shards_args(argv, graph_manifest.get("config"))
    files = expand_inputs(list(config.inputs))
    inputs = input_info(files)
    config = with_partitions(config, inputs)
    taxonomy = load_taxonomy(config.taxonomy, config.taxonomy_path)
    runner = runner_name(beam_args)
    started = time.monotonic()
    noise = open_noise_output(config.noise) if config.noise is not None else None
    labels, source = prepare_label_map(config, graph_manifest, taxonomy)
    if args.dry_run:
        scores = (
            f", noise scores {noise.rows:,} rows in {len(noise.parts)} part(s) "
            f"({config.noise_policy})"
            if noise is not None
            else ""
        )
        say(
            args,
            f"dry run: {len(files)} input file(s), taxonomy {taxonomy.name} ({len(taxonomy):,} "
            f"classes), {labels.num_rows:,} tags label into it ({source}){scores}, runner "
            f"{runner}; nothing written",
        )
        return None
    out = Path(config.output)
    prepare_output(out, ("train", "val"))
    data = parquet_bytes(labels)
    write_atomic(out / LABEL_MAP_FILE, lambda handle: handle.write(data))
    context = {
        "taxonomy_size": len(taxonomy),
        "inputs": inputs,
        "graph": {"path": config.graph, "manifest_sha256": graph_sha},
        "labels": {"source": source, "tags": labels.num_rows},
        "label_map": {
            "path": LABEL_MAP_FILE,
            "rows": labels.num_rows,
            "sha256": hashlib.sha256(data).hexdigest(),
        },
    }
    if noise is not None:
        context["noise"] = {
            "manifest_sha256": noise.manifest_sha256,
            "rows": noise.rows,
            "parts": [str(path) for path in noise.parts],
        }
    options = PipelineOptions(beam_args)
    shuffle = shuffle_for(args.shuffle, runner)
    with (
        LiveProgress(args, runner, "build_shards") as progress,
        spill_directory(out, shuffle) as spill,
    ):
        result = run_beam(
            options, lambda p: build_pipeline(p, config, files, context, spill), runner
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
    table = Table("count", "value", title=f"build_shards: {output} ({seconds:.1f} s)")
    table.add_row("rows read", f"{counts['read']:,}")
    table.add_row("bad rows (dead letters)", f"{counts['bad']:,}")
    for reason, n in counts["dropped"].items():
        table.add_row(f"dropped: {reason}", f"{n:,}")
    noise = manifest.get("noise")
    if noise:
        table.add_row(
            f"noise labels scored / unscored ({noise['policy']})",
            f"{noise['labels_scored']:,} / {noise['labels_unscored']:,}",
        )
        if noise["policy"] == "drop":
            table.add_row(
                f"noise labels dropped (>= {noise['threshold']})", f"{noise['labels_dropped']:,}"
            )
        if noise["policy"] == "weight":
            table.add_row("noise labels down-weighted", f"{noise['labels_down_weighted']:,}")
    table.add_row("kept posts", f"{counts['kept']:,}")
    table.add_row("rows written (with repeats)", f"{counts['rows']:,}")
    table.add_row("classes", f"{manifest['taxonomy']['classes']:,} ({manifest['taxonomy']['id']})")
    table.add_row("shards", f"{len(manifest['shards']):,}")
    tars = [s["webdataset"] for s in manifest["shards"] if "webdataset" in s]
    if tars:
        size = sum(t["bytes"] for t in tars)
        table.add_row("webdataset tars", f"{len(tars):,} ({size / 2**20:,.1f} MiB)")
    error = manifest["sampling"]["error"]
    table.add_row(
        f"sampling {manifest['sampling']['strategy']}: TV to target",
        f"{error['achieved_vs_target_tv']:.3f}",
    )
    Console(stderr=True).print(table)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors print one line and exit 2."""
    run_command(run, argv)


if __name__ == "__main__":
    main()
