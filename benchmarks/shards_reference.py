"""build_shards without an engine: the same rules on all posts at once, in one process.

Usage: python benchmarks/shards_reference.py --input posts.jsonl --graph out/graph \\
                                             --output out/ref [any option of build_shards]

The reference that ``benchmarks/pipeline.py --pipeline build_shards`` times beside the Beam
runners, and the check of their bytes. It takes build_shards' own options and its driver's
label map (``pipelines.build_shards.prepare_label_map``), then applies the library rules:

1. Read with ``datagraph.readers.read_posts`` (``pipeline_reference.read_inputs``), tags and
   media_uri by ``post_frames.post_frame``.
2. Deduplicate all posts at once (``post_frames.deduplicate_frame``).
3. Label by one join (``datagraph.labels.label_posts``), split by user, shard by seeded hash.
4. The class list and the sampling plan from the train histogram; per shard
   ``datagraph.shards.shard_examples`` and ``shard_bytes``.

Outputs in ``--output``: the shards, label_map.parquet and dead_letters.parquet with the same
bytes as the pipeline's, and reference.json with the counts, the outputs' sha256 and the
seconds of each stage.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
from pipeline_reference import StageClock, deduplicate, read_inputs, write_parquet

from datagraph.graph_files import parquet_bytes, write_atomic
from datagraph.labels import label_posts
from datagraph.post_frames import post_frame
from datagraph.readers import expand_inputs
from datagraph.sampling import plan_sampling
from datagraph.schema import DEAD_LETTER_SCHEMA
from datagraph.shards import (
    ClassList,
    relabel,
    shard_bytes,
    shard_examples,
    shard_keys,
    shard_path,
)
from datagraph.taxonomy import load_taxonomy
from pipelines.build_shards import LABEL_MAP_FILE, prepare_label_map, read_graph_manifest
from pipelines.io import table_from_rows
from pipelines.options import BuildShardsConfig, build_shards_parser, parse_build_shards_args


def build_reference(config: BuildShardsConfig, graph_manifest: dict) -> dict:
    """Run every stage and write the outputs; returns what reference.json holds."""
    clock = StageClock()
    out = Path(config.output)
    with clock.stage("label map"):
        taxonomy = load_taxonomy(config.taxonomy, config.taxonomy_path)
        labels, _ = prepare_label_map(config, graph_manifest, taxonomy)
    with clock.stage("read"):
        posts, dead, rows_read = read_inputs(expand_inputs(list(config.inputs)))
    with clock.stage("tags"):
        frame = post_frame(posts, carry=("media_uri",))
    with clock.stage("deduplicate"):
        kept, dropped = deduplicate(frame, config)
    with clock.stage("label posts"):
        columns = ["post_id", "user_id", "media_uri", "tags"]
        labelled, dropped["no_label"] = label_posts(kept.select(columns), pl.from_arrow(labels))
        dropped["noisy_labels"] = 0  # the reference runs without --noise
        key, val = shard_keys(
            labelled, config.seed, config.num_shards, config.val_fraction, config.val_shards
        )
        labelled = labelled.with_columns(pl.Series("key", key))
        train_values = labelled.filter(~pl.Series(val))["classes"].explode().to_numpy()
        histogram = np.bincount(train_values, minlength=len(taxonomy))
        classes = ClassList.select(taxonomy, histogram, config.min_class_count)
        labelled, dropped["rare_classes_only"] = relabel(labelled, classes.remap(len(taxonomy)))
        plan = plan_sampling(
            histogram[classes.taxonomy_index],
            config.sampling_strategy(),
            classes.class_ids.astype(np.uint64),
        )
    outputs, kept_posts, resampled_out, rows = [], 0, 0, 0
    with clock.stage("resample and write shards"):
        parts = labelled.partition_by("key", as_dict=True)
        keys = config.num_shards + (config.val_shards if config.with_validation else 0)
        for shard_key in range(keys):
            part = parts.get((shard_key,), labelled.clear()).drop("key", "user_id")
            train = shard_key < config.num_shards
            shard = shard_key if train else shard_key - config.num_shards
            count = config.num_shards if train else config.val_shards
            result = shard_examples(part, plan if train else None, classes, config.seed, shard)
            data = shard_bytes(result.table, config.row_group_size)
            path = shard_path("train" if train else "val", shard, count, config.with_validation)
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            write_atomic(out / path, lambda handle, data=data: handle.write(data))
            digest = hashlib.sha256(data).hexdigest()
            outputs.append({"path": path, "rows": result.table.num_rows, "sha256": digest})
            kept_posts += result.kept_posts
            resampled_out += result.resampled_out
            rows += result.table.num_rows
    dropped["resampled_out"] = resampled_out
    with clock.stage("write tables"):
        dead_table = table_from_rows(
            sorted(dead, key=lambda r: (r[0], r[1] or 0, r)), DEAD_LETTER_SCHEMA
        )
        outputs.append(write_parquet(out, "dead_letters", dead_table))
        label_bytes = parquet_bytes(labels)
        write_atomic(out / LABEL_MAP_FILE, lambda handle: handle.write(label_bytes))
        outputs.append(
            {
                "path": LABEL_MAP_FILE,
                "rows": labels.num_rows,
                "sha256": hashlib.sha256(label_bytes).hexdigest(),
            }
        )
    counts = {
        "read": rows_read,
        "bad": len(dead),
        "dropped": dropped,
        "kept": kept_posts,
        "rows": rows,
        "repeats_added": rows - kept_posts,
    }
    result = {
        "counts": counts,
        "outputs": sorted(outputs, key=lambda o: o["path"]),
        "seconds": clock.seconds,
    }
    text = json.dumps(result, indent=2, sort_keys=True) + "\n"
    write_atomic(out / "reference.json", lambda handle: handle.write(text.encode()))
    return result


def main(argv: list[str] | None = None, say: Callable[[str], object] = print) -> dict:
    """Parse build_shards' options (Beam options are ignored), run, print the counts."""
    argv = sys.argv[1:] if argv is None else argv
    first, _ = build_shards_parser().parse_known_args(argv)
    graph_manifest, _ = read_graph_manifest(first.graph)
    config, _, _ = parse_build_shards_args(argv, graph_manifest.get("config"))
    Path(config.output).mkdir(parents=True, exist_ok=True)
    result = build_reference(config, graph_manifest)
    say(json.dumps({"counts": result["counts"], "seconds": result["seconds"]}, indent=2))
    return result


if __name__ == "__main__":
    main()
