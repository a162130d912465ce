"""The ``datagraph`` command: taxonomy snapshot, sample data, summaries (more as pipelines land).

Every command has --help. A problem the user can fix (bad path, unknown taxonomy, garbled file)
prints one line, ``error: ...``, and exits with code 2; nothing half-written is left behind.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from datagraph import __version__
from datagraph.cli_graph import graph_app
from datagraph.errors import DatagraphError
from datagraph.resources import sample_data_dir, wordnet_snapshot_dir

app = typer.Typer(
    help="datagraph: hashtags -> WordNet/LVIS labels -> sharded training sets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
taxonomy_app = typer.Typer(
    help="Build and inspect the WordNet snapshot and taxonomies.", no_args_is_help=True
)
sample_app = typer.Typer(help="Generate synthetic sample posts.", no_args_is_help=True)
run_app = typer.Typer(help="Run the Beam pipelines.", no_args_is_help=True)
app.add_typer(taxonomy_app, name="taxonomy")
app.add_typer(sample_app, name="sample")
app.add_typer(graph_app, name="graph")
app.add_typer(run_app, name="run")

console = Console()
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        console.print(f"datagraph {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """datagraph command line."""


def _spinner(text: str) -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn(text), TimeElapsedColumn(), console=err_console, transient=True
    )


# --- taxonomy -----------------------------------------------------------------------------
@taxonomy_app.command("build")
def taxonomy_build(
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default: taxonomy/wordnet30).")
    ] = None,
    wordnet_dir: Annotated[
        Path | None,
        typer.Option(
            help="WordNet 3.0 dict/ directory (default: NLTK data, else /usr/share/wordnet)."
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(help="Build into a temporary directory and compare with the snapshot in use."),
    ] = False,
) -> None:
    """Compile WordNet 3.0 nouns into the Parquet snapshot the library reads."""
    from datagraph.wordnet_build import build_snapshot

    if check:
        with (
            tempfile.TemporaryDirectory() as tmp,
            _spinner("building WordNet snapshot") as progress,
        ):
            progress.add_task("build")
            header = build_snapshot(Path(tmp), wordnet_dir)
        committed = json.loads((wordnet_snapshot_dir() / "snapshot.json").read_text())
        same = header["files"] == committed["files"]
        console.print(
            f"rebuilt snapshot: {header['counts']['synsets']:,} synsets; "
            f"{'identical to' if same else 'DIFFERENT from'} {wordnet_snapshot_dir()}"
        )
        raise typer.Exit(0 if same else 1)
    target = out or wordnet_snapshot_dir()
    with _spinner("building WordNet snapshot") as progress:
        progress.add_task("build")
        header = build_snapshot(target, wordnet_dir)
    counts = header["counts"]
    console.print(
        f"wrote {target}: {counts['synsets']:,} noun synsets, {counts['lemmas']:,} lemmas, "
        f"{counts['lemma_senses']:,} lemma senses, {counts['exceptions']:,} noun exceptions"
    )


@taxonomy_app.command("info")
def taxonomy_info(
    name: Annotated[
        str, typer.Argument(help="wordnet | visual | lvis | imagenet1k | synsets")
    ] = "visual",
    path: Annotated[
        Path | None, typer.Option(help="Taxonomy file (LVIS JSON, wnid list, synset list).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    show: Annotated[int, typer.Option(help="How many classes to list.")] = 10,
) -> None:
    """Load a taxonomy and report its classes, and any that do not resolve in WordNet."""
    from datagraph.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(name, path)
    info = taxonomy.summary()
    if as_json:
        info["first_classes"] = [c.__dict__ for c in taxonomy.classes[:show]]
        console.print_json(json.dumps(info, default=list))
        return
    _print_taxonomy(taxonomy, show)


def _print_taxonomy(taxonomy, show: int) -> None:
    info = taxonomy.summary()
    console.print(
        f"[bold]{info['name']}[/bold] ({info['source'] or 'WordNet 3.0 snapshot'}): "
        f"{info['classes']:,} classes, {info['unresolved']} unresolved, "
        f"fingerprint {info['fingerprint'][:12]}"
    )
    for unresolved in taxonomy.unresolved[:show]:
        console.print(f"  unresolved: {unresolved.name} ({unresolved.given}): {unresolved.reason}")
    table = Table("index", "class_id", "name", "synset", "wnid")
    for index, cls in enumerate(taxonomy.classes[:show]):
        table.add_row(str(index), str(cls.class_id), cls.name, cls.synset_id, cls.wnid or "-")
    if show:
        console.print(table)


# --- sample data --------------------------------------------------------------------------
@sample_app.command("generate")
def sample_generate(
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("sample_data"),
    posts: Annotated[int, typer.Option(min=1, help="Number of posts.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write synthetic posts (JSONL + Parquet) and a small LVIS-format categories file."""
    from datagraph.synthetic import write_sample

    with _spinner(f"generating {posts:,} posts") as progress:
        progress.add_task("generate")
        paths = write_sample(out, posts, seed)
    for kind, path in paths.items():
        console.print(f"wrote {kind}: {path}")


# --- summaries ----------------------------------------------------------------------------
@app.command("summarize")
def summarize(
    inputs: Annotated[list[str] | None, typer.Argument(help="Post files or glob patterns.")] = None,
    top: Annotated[int, typer.Option(help="How many frequent tags to list.")] = 15,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Count what is in post files: rows, dead letters, duplicates, users, hashtags."""
    from datagraph.summary import summarize_posts

    patterns = inputs or [str(sample_data_dir() / "posts.jsonl")]
    with Progress(
        SpinnerColumn(),
        TextColumn("reading posts"),
        BarColumn(bar_width=None),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("read", total=None)
        result = summarize_posts(patterns, top=top, progress=lambda n: progress.advance(task, n))
    if as_json:
        console.print_json(json.dumps(result.as_dict(), ensure_ascii=False))
        return
    _print_summary(result)


def _print_summary(result) -> None:
    table = Table("count", "value", title=f"posts in {', '.join(result.files)}")
    for key in (
        "rows_read",
        "valid",
        "dead_letters",
        "distinct_post_ids",
        "repeated_post_id_rows",
        "repeated_media_rows",
        "users",
        "posts_with_hashtags_field",
        "posts_with_caption",
        "hashtag_occurrences",
        "distinct_raw_tags",
    ):
        table.add_row(key, f"{getattr(result, key):,}")
    console.print(table)
    if result.dead_letters_by_field:
        console.print(
            "dead letters by field: "
            + ", ".join(f"{k} {v}" for k, v in result.dead_letters_by_field.items())
        )
    console.print("languages: " + ", ".join(f"{k} {v:,}" for k, v in result.languages.items()))
    console.print("top tags: " + ", ".join(f"{tag} {n:,}" for tag, n in result.top_tags[:15]))


def _print_normalization(raw_tags: list[str]) -> None:
    from collections import Counter

    from datagraph.normalize import Normalizer

    results = Normalizer().normalize_many(raw_tags)
    canonical = {r.canonical for r in results if r.usable}
    reasons = Counter(r.stop_reason for r in results if r.is_stopword)
    console.print(
        f"normalized {len(results):,} distinct raw tags -> {len(canonical):,} canonical labels; "
        "stopped: " + ", ".join(f"{k} {v:,}" for k, v in reasons.most_common())
    )
    merged = [r for r in results if r.usable and r.raw.lstrip("#").lower() != r.canonical]
    for r in merged[:8]:
        console.print(f"  {r.raw} -> {r.canonical}  ({' '.join(r.rules)})")


def _print_mapping(tag_counts: list[tuple[str, int]], lvis_path: Path) -> None:
    from collections import Counter

    from datagraph.mapping import HashtagMapper
    from datagraph.taxonomy import load_taxonomy

    mapper = HashtagMapper(load_taxonomy("lvis", lvis_path))
    rows = mapper.map([tag for tag, _ in tag_counts]).to_pylist()
    total = sum(n for _, n in tag_counts)
    mapped = sum(n for row, (_, n) in zip(rows, tag_counts, strict=True) if row["class_id"])
    reasons = Counter(row["unmapped_reason"] for row in rows if row["unmapped_reason"])
    console.print(
        f"mapped onto the sample LVIS classes: {mapped / total:.1%} of tag occurrences; "
        "distinct tags unmapped: " + ", ".join(f"{k} {v:,}" for k, v in reasons.most_common())
    )
    for row in [r for r in rows if r["class_id"]][:8]:
        console.print(
            f"  {row['raw_tag']} -> {row['synset_id']} -> {row['class_name']} "
            f"({row['confidence']:.2f})"
        )


def _build_sample_graph(output: Path) -> None:
    from datagraph.local_graph import build_graph_from_posts
    from datagraph.taxonomy import load_taxonomy

    lvis = load_taxonomy("lvis", sample_data_dir() / "lvis_sample_categories.json")
    with _spinner("building the label graph of the sample posts") as progress:
        progress.add_task("graph")
        result = build_graph_from_posts([str(sample_data_dir() / "posts.jsonl")], lvis)
        result.graph.save(output)
    console.print(
        f"label graph of {result.posts:,} kept posts ({result.labelled_posts:,} labelled; "
        f"{sum(result.dropped.values()):,} duplicates and {result.dead_letters:,} dead letters "
        f"of {result.rows_read:,} rows): {result.graph!r}; saved to {output}"
    )
    top = result.graph.cooccurring("dog.n.01", k=3, by="count")
    console.print(
        "  dog.n.01 co-occurs most with "
        + ", ".join(f"{c.synset_id} ({c.n_posts:,} posts)" for c in top)
        + f"; query it: datagraph graph query {output} --synset dog.n.01"
    )


# --- normalization ----------------------------------------------------------------------
@app.command("normalize")
def normalize(
    tags: Annotated[list[str], typer.Argument(help="Hashtags, with or without '#'.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    transliterate: Annotated[bool, typer.Option(help="Fold Latin accents (café -> cafe).")] = False,
    stoplist: Annotated[
        list[Path] | None, typer.Option(help="Extra stoplist file(s): tag<TAB>reason lines.")
    ] = None,
) -> None:
    """Canonicalize hashtags: segment, strip social affixes, singularize, stoplist."""
    from dataclasses import asdict

    from datagraph.normalize import Normalizer

    normalizer = Normalizer(transliterate=transliterate, stoplist_paths=stoplist or ())
    results = normalizer.normalize_many(tags)
    if as_json:
        for result in results:
            print(json.dumps(asdict(result), ensure_ascii=False))
        return
    table = Table("raw", "canonical", "stop reason", "rules")
    for r in results:
        table.add_row(r.raw, r.canonical, r.stop_reason or "", " ".join(r.rules))
    console.print(table)


# --- mapping ------------------------------------------------------------------------------
@app.command("map")
def map_tags(
    tags: Annotated[list[str], typer.Argument(help="Hashtags, with or without '#'.")],
    taxonomy: Annotated[
        str, typer.Option(help="wordnet, visual, lvis, imagenet1k or synsets.")
    ] = "visual",
    taxonomy_path: Annotated[
        Path | None, typer.Option("--path", help="Taxonomy file (lvis, imagenet1k, synsets).")
    ] = None,
    aliases: Annotated[
        list[Path] | None, typer.Option(help="Extra alias file(s): tag<TAB>synset_id|NONE.")
    ] = None,
    embedding_model: Annotated[
        str | None,
        typer.Option(help="Rank senses with this sentence-transformers model too ('default')."),
    ] = None,
    corpus_context: Annotated[
        Path | None,
        typer.Option(
            help="Tag counts (pipelines.count_tags output): rank by the corpus neighbours too."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """Map hashtags onto WordNet synsets and taxonomy classes, with confidence and reasons."""
    from datagraph.mapping import HashtagMapper
    from datagraph.taxonomy import load_taxonomy

    ranking = {}
    if embedding_model or corpus_context:
        from datagraph.embeddings import TextEmbedder

        ranking["embedder"] = TextEmbedder(embedding_model or "default")
    if corpus_context:
        from datagraph.corpus_context import TagNeighbours, read_tag_counts

        ranking["corpus"] = TagNeighbours.from_counts(read_tag_counts(corpus_context))
    mapper = HashtagMapper(
        load_taxonomy(taxonomy, taxonomy_path), alias_paths=aliases or (), **ranking
    )
    rows = mapper.map(tags).to_pylist()
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return
    table = Table("raw", "canonical", "synset", "conf", "class", "match / reason", "runner-up")
    for r in rows:
        runner_up = r["candidates"][1] if len(r["candidates"]) > 1 else None
        table.add_row(
            r["raw_tag"],
            r["canonical"],
            r["synset_id"] or "",
            f"{r['confidence']:.2f}",
            f"{r['class_name']} ({r['class_id']})" if r["class_id"] is not None else "",
            r["unmapped_reason"] or r["match"] or "",
            f"{runner_up['synset_id']} {runner_up['score']:.2f}" if runner_up else "",
        )
    console.print(table)


@app.command("demo")
def demo(
    output: Annotated[
        Path, typer.Option(help="Where to save the label graph of the sample posts.")
    ] = Path("out/sample_graph"),
    pipeline_output: Annotated[
        Path, typer.Option(help="Where the build_graph pipeline writes its outputs.")
    ] = Path("out/build_graph"),
    shards_output: Annotated[
        Path, typer.Option(help="Where the build_shards pipeline writes the training set.")
    ] = Path("out/build_shards"),
) -> None:
    """The main job on sample_data/: check the WordNet snapshot, summarize the sample posts,
    normalize and map their hashtags, build their label graph in one process, run the
    build_graph Beam pipeline (dedup, vocabulary, mapping, graph, manifest), then the
    build_shards pipeline (LVIS labels, square-root resampling, shards) and its report."""
    from datagraph.summary import summarize_posts
    from datagraph.taxonomy import load_taxonomy
    from datagraph.wordnet import WordNet
    from datagraph.wordnet_build import build_snapshot

    committed = json.loads((wordnet_snapshot_dir() / "snapshot.json").read_text())
    try:
        with tempfile.TemporaryDirectory() as tmp, _spinner("rebuilding WordNet snapshot") as p:
            p.add_task("build")
            header = build_snapshot(Path(tmp))
        same = header["files"] == committed["files"]
        console.print(
            f"WordNet 3.0 snapshot rebuilt from source: {header['counts']['synsets']:,} noun "
            f"synsets, {'byte-identical to' if same else 'DIFFERENT from'} the committed one"
        )
    except DatagraphError as exc:
        console.print(f"WordNet source not installed ({exc}); using the committed snapshot")
    wn = WordNet.load()
    console.print(
        f"snapshot {wordnet_snapshot_dir()}: {wn.wordnet_synset_count:,} WordNet noun synsets "
        f"+ {len(wn) - wn.wordnet_synset_count} project extension(s)"
    )
    summary = summarize_posts([str(sample_data_dir() / "posts.jsonl")], top=10**9)
    _print_summary(summary)
    _print_normalization([tag for tag, _ in summary.top_tags])
    _print_mapping(summary.top_tags, sample_data_dir() / "lvis_sample_categories.json")
    _build_sample_graph(output)
    console.print("running the build_graph Beam pipeline on the sample (FnApiRunner):")
    from pipelines.build_graph import run as run_pipeline

    sample = sample_data_dir()
    run_pipeline(
        [
            "--input", str(sample / "posts.jsonl"),
            "--lvis-categories", str(sample / "lvis_sample_categories.json"),
            "--output", str(pipeline_output),
        ]
    )  # fmt: skip
    for name, path in (
        ("visual", None),
        ("lvis", sample_data_dir() / "lvis_sample_categories.json"),
    ):
        _print_taxonomy(load_taxonomy(name, path), show=5)
    console.print("running the build_shards Beam pipeline on the sample (FnApiRunner):")
    from datagraph.report import write_report
    from pipelines.build_shards import run as run_shards

    run_shards(_sample_shards_args([], pipeline_output, shards_output))
    console.print(f"shard set report: {write_report(shards_output)}")


def _sample_shards_args(args: list[str], graph: Path, output: Path) -> list[str]:
    """build_shards arguments with the sample's defaults filled in where ``args`` has none."""

    def given(name: str) -> bool:
        return any(a == name or a.startswith(f"{name}=") for a in args)

    sample = sample_data_dir()
    args = list(args)
    if not given("--input"):
        args += ["--input", str(sample / "posts.jsonl")]
    if not given("--graph"):
        args += ["--graph", str(graph)]
    if not given("--output"):
        args += ["--output", str(output)]
    if not given("--sampling"):
        args += ["--sampling", "sqrt"]
    if not given("--num-shards"):
        args += ["--num-shards", "8"]
    return args


@run_app.command(
    "build-graph",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def run_build_graph(ctx: typer.Context) -> None:
    """posts -> deduplicated, mapped vocabulary -> label graph + manifest (Beam).

    Takes the options of ``python -m pipelines.build_graph`` (see --help). Without --input it
    runs on sample_data/posts.jsonl with the sample LVIS classes into out/build_graph.
    """
    from pipelines.build_graph import run as run_pipeline
    from pipelines.options import build_graph_parser

    args = list(ctx.args)
    if "--help" in args or "-h" in args:
        build_graph_parser().print_help()
        return
    if not any(a == "--input" or a.startswith("--input=") for a in args):
        sample = sample_data_dir()
        args += ["--input", str(sample / "posts.jsonl")]
        if not any(a.startswith(("--taxonomy", "--lvis-categories")) for a in args):
            args += ["--lvis-categories", str(sample / "lvis_sample_categories.json")]
    if not any(a == "--output" or a.startswith("--output=") for a in args):
        args += ["--output", "out/build_graph"]
    run_pipeline(args)


@run_app.command(
    "build-shards",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def run_build_shards(ctx: typer.Context) -> None:
    """posts + build_graph output -> resampled, sharded training set + manifest (Beam).

    Takes the options of ``python -m pipelines.build_shards`` (see --help). Without --input it
    runs on sample_data/posts.jsonl with the graph in out/build_graph (built first if missing),
    square-root sampling and 8 shards, into out/build_shards.
    """
    from pipelines.build_graph import run as run_graph
    from pipelines.build_shards import run as run_shards
    from pipelines.options import build_shards_parser

    args = list(ctx.args)
    if "--help" in args or "-h" in args:
        build_shards_parser().print_help()
        return
    if not any(a == "--input" or a.startswith("--input=") for a in args):
        graph = Path("out/build_graph")
        no_graph = not any(a == "--graph" or a.startswith("--graph=") for a in args)
        if no_graph and not (graph / "manifest.json").is_file():
            sample = sample_data_dir()
            run_graph(
                [
                    "--input", str(sample / "posts.jsonl"),
                    "--lvis-categories", str(sample / "lvis_sample_categories.json"),
                    "--output", str(graph),
                ]
            )  # fmt: skip
        args = _sample_shards_args(args, graph, Path("out/build_shards"))
    run_shards(args)


@app.command("report")
def report(
    shard_dir: Annotated[Path, typer.Argument(help="A build_shards output directory.")],
    out: Annotated[
        Path | None, typer.Option(help="Where to write report.md and its plots.")
    ] = None,
) -> None:
    """A Markdown report of a shard set: long-tail plot before/after resampling, top classes,
    drop reasons, shard sizes (report.md + PNG plots, in SHARD_DIR/report by default)."""
    from datagraph.report import write_report

    console.print(f"report: {write_report(shard_dir, out)}")


def run() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        app()
    except DatagraphError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    run()
