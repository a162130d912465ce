"""count_tags: posts -> how many posts carry each canonical tag and each pair of them.

    python -m pipelines.count_tags --input 'posts/*.jsonl.gz' --output out/tag_counts \\
        [--runner FnApiRunner ...]

Every post read counts (a repeated post counts again; the counts describe the corpus as it is,
not the deduplicated training set). A post's units are the distinct canonical forms of its
hashtags and caption hashtags, stopwords included (#love and #instagood still say what kind of
post it is; ``datagraph.noise_batch.post_tag_units``), and every pair of them counts once,
with no per-post cap. Outputs in ``--output``: ``tag_counts.parquet``,
``tag_pair_counts.parquet``, ``tag_total.json`` (the files
``datagraph.corpus_context.read_tag_counts`` reads), ``dead_letters.parquet``, then
``manifest.json``.

The same counting runs inside score_noise's embed pass (over its graph's canonical forms, which
are the normalizer's), so a score_noise output holds the same three files. build_graph's
``--corpus-context DIR`` ranks tag senses with these counts (docs/mapping.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam
import pyarrow as pa
from apache_beam.options.pipeline_options import PipelineOptions

from datagraph.cooccurrence import COOCCURRENCE_SCHEMA, SYNSET_COUNT_SCHEMA, merge_counts
from datagraph.corpus_context import TAG_COUNTS_FILE, TAG_PAIRS_FILE, TAG_TOTAL_FILE
from datagraph.graph_files import write_atomic
from datagraph.schema import DEAD_LETTER_SCHEMA
from pipelines.io import WriteTable
from pipelines.options import RUNNER_ALIASES, _absolute, check_flink_options, runner_name
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

READ_BATCH_SIZE = 8192
TAG_COUNTS = TAG_COUNTS_FILE.removesuffix(".parquet")  # WriteTable's table names
TAG_PAIRS = TAG_PAIRS_FILE.removesuffix(".parquet")
MANIFEST_FORMAT_VERSION = 1


# --- reading (score_noise reads the same way) ----------------------------------------------
class ReadPostsFn(beam.DoFn):
    """One input file -> ("posts", Arrow table), ("dead", dead letters) and counts."""

    def process(self, path: str) -> Iterator[Any]:
        from datagraph.readers import read_posts

        for batch in read_posts(path, READ_BATCH_SIZE):
            yield stat("rows_read", batch.rows_read)
            if batch.dead_letters.num_rows:
                yield stat("dead_letters", batch.dead_letters.num_rows)
                yield ("dead", batch.dead_letters)
            if batch.posts.num_rows:
                yield stat("posts", batch.posts.num_rows)
                yield ("posts", batch.posts.select(["post_id", "hashtags", "caption"]))


def read_events(pipeline: beam.Pipeline, files: list[str], kinds: tuple[str, ...]) -> dict:
    """The input files, spread over workers, read: the ``kinds`` of events asked for."""
    events = (
        pipeline
        | "Files" >> beam.Create(files)
        | "Spread files" >> beam.Reshuffle()
        | "Read" >> beam.ParDo(ReadPostsFn())
    )
    return split_events(events, "Read", kinds)


# --- counting ------------------------------------------------------------------------------
def tag_count_events(post_units: pa.Table, n_posts: int) -> Iterator[tuple[str, Any]]:
    """A batch's (post_id, unit) rows -> its unit counts, pair counts and post count, as the
    events ``write_tag_counts`` sums (every pair of a post counts: no cap)."""
    from datagraph.cooccurrence import cooccurrence_counts, synset_post_counts

    rows = post_units.rename_columns(["post_id", "synset_id"])
    yield "unit_counts", synset_post_counts(rows, max_labels_per_post=None)
    yield "pair_counts", cooccurrence_counts(rows, max_labels_per_post=None)
    yield "n_posts", n_posts


def write_tag_counts(events: dict, output: str) -> None:
    """Sum the ``tag_count_events`` of every batch into the three tag count files (all three
    written even when no post was read: a zero joins the post counts)."""
    events["unit_counts"] | WriteTable(output, TAG_COUNTS, SYNSET_COUNT_SCHEMA, merge=merge_counts)
    events["pair_counts"] | WriteTable(output, TAG_PAIRS, COOCCURRENCE_SCHEMA, merge=merge_counts)
    zero = events["n_posts"].pipeline | "No posts yet" >> beam.Create([0])
    (
        (events["n_posts"], zero)
        | "Posts and zero" >> beam.Flatten()
        | "Key posts" >> beam.Map(lambda n: (None, n))
        | "Sum posts" >> beam.CombinePerKey(sum)
        | "Write total" >> beam.Map(_write_total, output)
    )


def _write_total(keyed: tuple[None, int], output: str) -> None:
    text = json.dumps({"total_posts": keyed[1]}) + "\n"
    write_atomic(Path(output) / TAG_TOTAL_FILE, lambda handle: handle.write(text.encode()))


class CountTagsFn(beam.DoFn):
    """A batch of posts -> tag count events (``noise_batch.post_tag_units``)."""

    def setup(self) -> None:
        from datagraph.normalize import default_normalizer

        self.normalizer = default_normalizer()

    def process(self, posts: pa.Table) -> Iterator[tuple[str, Any]]:
        from datagraph.noise_batch import post_tag_units

        yield from tag_count_events(post_tag_units(posts, self.normalizer), posts.num_rows)


def build_count_pipeline(pipeline: beam.Pipeline, files: list[str], output: str) -> None:
    """Read, count, write the tag count files and the dead letters, then count the rows."""
    read = read_events(pipeline, files, ("posts", "dead", "stats"))
    counted = split_events(
        read["posts"] | "Count tags" >> beam.ParDo(CountTagsFn()),
        "Counted",
        ("unit_counts", "pair_counts", "n_posts"),
    )
    write_tag_counts(counted, output)
    read["dead"] | WriteTable(output, "dead_letters", DEAD_LETTER_SCHEMA, ["source_file", "line"])
    zero = pipeline | "No rows yet" >> beam.Create([("rows_read", 0)])
    (
        (read["stats"], zero)
        | "Stats and zero" >> beam.Flatten()
        | "Sum stats" >> beam.CombinePerKey(sum)
        | "Stats to one key" >> beam.Map(lambda kv: (None, kv))
        | "All stats" >> beam.GroupByKey()
        | "Write stats" >> beam.Map(lambda kv: _write_stats(dict(kv[1]), output))
    )


def _write_stats(stats: dict[str, int], output: str) -> None:
    text = json.dumps(stats, sort_keys=True) + "\n"
    write_atomic(Path(output) / ".stats.json", lambda handle: handle.write(text.encode()))


# --- running -------------------------------------------------------------------------------
def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m pipelines.count_tags", description=__doc__)
    parser.add_argument("--input", action="append", required=True, help="File or glob; repeat.")
    parser.add_argument("--output", required=True, help="Output directory (local path).")
    parser.add_argument("--runner", default="FnApiRunner")
    parser.add_argument("--dry-run", action="store_true", help="Check inputs and options only.")
    parser.add_argument("--quiet", action="store_true", help="No progress line or summary.")
    args, beam_args = parser.parse_known_args(argv)
    args.output = _absolute(args.output)
    beam_args = [f"--runner={RUNNER_ALIASES.get(args.runner, args.runner)}", *beam_args]
    check_flink_options(beam_args)
    return args, beam_args


def run(argv: list[str]) -> dict | None:
    """Count the input's tags; returns the manifest (None on --dry-run)."""
    from datagraph import __version__
    from datagraph.readers import expand_inputs

    args, beam_args = parse_args(argv)
    files = expand_inputs(list(args.input))
    runner = runner_name(beam_args)
    if args.dry_run:
        say(args, f"dry run: {len(files)} input file(s), runner {runner}; nothing written")
        return None
    out = Path(args.output)
    prepare_output(out)
    started = time.monotonic()
    with LiveProgress(args, runner, "count_tags") as progress:
        result = run_beam(
            PipelineOptions(beam_args), lambda p: build_count_pipeline(p, files, str(out)), runner
        )
        progress()
    stats = json.loads((out / ".stats.json").read_text())
    (out / ".stats.json").unlink()
    total = json.loads((out / TAG_TOTAL_FILE).read_text())["total_posts"]
    counts = {"read": stats.get("rows_read", 0), "bad": stats.get("dead_letters", 0)}
    counts["posts"] = stats.get("posts", 0)
    if counts["read"] != counts["bad"] + counts["posts"] or total != counts["posts"]:
        raise RuntimeError(f"count_tags: counts do not reconcile ({stats}, total {total})")
    manifest = {
        "format_version": MANIFEST_FORMAT_VERSION,
        "pipeline": "count_tags",
        "code_version": __version__,
        "config": {"inputs": list(args.input), "unit": "tag"},
        "inputs": input_info(files),
        "counts": counts,
        "outputs": [
            file_info(out, name)
            for name in (TAG_COUNTS_FILE, TAG_PAIRS_FILE, "dead_letters.parquet")
        ],
    }
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    write_atomic(out / "manifest.json", lambda handle: handle.write(text.encode()))
    check_metrics(result, {"counts": {**counts, "dropped": {}}})
    if not args.quiet:
        say(
            args,
            f"count_tags: {counts['posts']:,} posts ({counts['bad']:,} bad rows) -> {out} "
            f"({time.monotonic() - started:.1f} s)",
        )
    return manifest


def file_info(out: Path, name: str) -> dict:
    """A Parquet output's manifest entry: path, rows, sha256."""
    import pyarrow.parquet as pq

    data = (out / name).read_bytes()
    rows = pq.ParquetFile(out / name).metadata.num_rows
    return {"path": name, "rows": rows, "sha256": hashlib.sha256(data).hexdigest()}


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors print one line and exit 2."""
    run_command(run, argv)


if __name__ == "__main__":
    main()
