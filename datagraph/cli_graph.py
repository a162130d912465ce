"""``datagraph graph ...``: inspect, query and export a saved label graph.

Registered in datagraph/cli.py as ``app.add_typer(graph_app, name="graph")``. Commands raise
DatagraphError for problems the user can fix; ``datagraph.cli.run`` prints those as one line and
exits with code 2.

    datagraph graph info out/graph
    datagraph graph query out/graph --tag "#GoldenRetrievers"
    datagraph graph query out/graph --synset dog.n.01 --what cooccurring --by count -k 5
    datagraph graph query out/graph --synset dog.n.01 --what cooccurring --min-posts 50
    datagraph graph query out/graph --synset puppy.n.01 --what path --to cat.n.01
    datagraph graph export out/graph --format graphml --output graph.graphml
"""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from datagraph.errors import ConfigError, DatagraphError

if TYPE_CHECKING:
    from datagraph.graph import LabelGraph

graph_app = typer.Typer(help="Inspect, query and export a saved label graph.", no_args_is_help=True)
console = Console()

GraphPath = Annotated[Path, typer.Argument(help="A saved label graph directory.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


class What(StrEnum):
    summary = "summary"
    synsets = "synsets"
    ancestors = "ancestors"
    descendants = "descendants"
    hashtags = "hashtags"
    cooccurring = "cooccurring"
    count = "count"
    path = "path"


class RankBy(StrEnum):
    pmi = "pmi"
    count = "count"


class ExportFormat(StrEnum):
    graphml = "graphml"
    parquet = "parquet"


def _load(path: Path) -> LabelGraph:
    from datagraph.graph import LabelGraph

    return LabelGraph.load(path)


@graph_app.command("info")
def info(path: GraphPath, as_json: AsJson = False) -> None:
    """Counts of nodes and edges by kind, and how the graph was built."""
    graph = _load(path)
    counts = graph.info()
    if as_json:
        console.print_json(json.dumps({**counts, "build": graph.build_info}, ensure_ascii=False))
        return
    table = Table("kind", "count", title=f"label graph {path}")
    for group, kinds in counts.items():
        for kind, n in kinds.items():
            table.add_row(f"{group[:-1]} {kind}", f"{n:,}")
    console.print(table)
    build = graph.build_info
    taxonomy = build.get("taxonomy") or {}
    console.print(
        f"taxonomy: {taxonomy.get('name', 'none')}; total_posts: {build.get('total_posts')} "
        f"({build.get('total_posts_source')}); synset counts from: "
        f"{build.get('synset_counts_source')}; options: {build.get('options')}"
    )


@graph_app.command("query")
def query(
    path: GraphPath,
    synset: Annotated[str | None, typer.Option(help="A synset id, e.g. dog.n.01.")] = None,
    tag: Annotated[
        str | None, typer.Option(help="A hashtag (raw or canonical); its best synset is used.")
    ] = None,
    what: Annotated[
        What | None,
        typer.Option(help="What to show (default: synsets for --tag, summary for --synset)."),
    ] = None,
    to: Annotated[str | None, typer.Option(help="Other end for --what path.")] = None,
    k: Annotated[int, typer.Option("-k", min=0, help="How many co-occurring synsets.")] = 10,
    by: Annotated[RankBy, typer.Option(help="Rank co-occurring synsets by.")] = RankBy.pmi,
    min_posts: Annotated[
        int, typer.Option(min=1, help="Co-occurring synsets need at least this many shared posts.")
    ] = 1,
    as_json: AsJson = False,
) -> None:
    """Ask the graph about a synset or a hashtag."""
    if (synset is None) == (tag is None):
        raise ConfigError("graph query: give exactly one of --synset ID or --tag TAG")
    if what == What.path and to is None:
        raise ConfigError("graph query: --what path needs --to SYNSET")
    graph = _load(path)
    if tag is not None:
        matches = graph.synsets_for(tag)
        if what in (None, What.synsets):
            _show(
                [asdict(m) for m in matches],
                as_json,
                f"synsets for {tag}" if matches else f"no synset for {tag}",
            )
            return
        if not matches:
            raise DatagraphError(f"hashtag {tag!r} names no synset in {path}")
        synset = matches[0].synset_id
    what = what or What.summary
    result = _answer(graph, str(synset), what, to=to, k=k, by=by, min_posts=min_posts)
    title = f"{what.value} of {synset}" + (f" to {to}" if what == What.path else "")
    _show(result, as_json, title, separator=" -> " if what == What.path else ", ")


def _answer(
    graph: LabelGraph,
    synset: str,
    what: What,
    *,
    to: str | None,
    k: int,
    by: RankBy,
    min_posts: int = 1,
) -> Any:
    """The query's result as JSON-ready data: a dict, a list of dicts, or a list of ids."""
    if what == What.summary:
        total = graph.count(synset)  # raises a DatagraphError for anything but a known synset
        node = graph.node(synset)
        return {
            "synset_id": synset,
            "label": node["label"],
            "n_posts": node["n_posts"],
            "n_posts_with_descendants": total,
            "parents": graph.parents(synset),
            "children": len(graph.children(synset)),
            "hashtags": [asdict(a) for a in graph.hashtags_for(synset)[:5]],
        }
    if what == What.synsets:
        raise ConfigError("graph query: --what synsets goes with --tag")
    if what == What.ancestors:
        return graph.ancestors(synset)
    if what == What.descendants:
        return graph.descendants(synset)
    if what == What.hashtags:
        return [asdict(a) for a in graph.hashtags_for(synset)]
    if what == What.cooccurring:
        return [asdict(c) for c in graph.cooccurring(synset, k=k, by=by.value, min_posts=min_posts)]
    if what == What.count:
        return {
            "synset_id": synset,
            "n_posts": graph.count(synset, include_descendants=False),
            "n_posts_with_descendants": graph.count(synset),
        }
    return graph.path(synset, str(to))


def _show(result: Any, as_json: bool, title: str, separator: str = ", ") -> None:
    if as_json:
        console.print_json(json.dumps(result, ensure_ascii=False))
        return
    if isinstance(result, dict):
        table = Table("field", "value", title=title)
        for key, value in result.items():
            table.add_row(key, value if isinstance(value, str) else json.dumps(value))
        console.print(table)
    elif result and isinstance(result[0], dict):
        table = Table(*result[0].keys(), title=title)
        for row in result:
            table.add_row(*(_cell(v) for v in row.values()))
        console.print(table)
    else:
        console.print(f"[bold]{title}[/bold]: " + (separator.join(result) or "none"))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


@graph_app.command("export")
def export(
    path: GraphPath,
    format: Annotated[ExportFormat, typer.Option("--format", help="graphml or parquet.")],
    output: Annotated[
        Path, typer.Option(help="GraphML file, or directory for nodes/edges Parquet.")
    ],
) -> None:
    """Write the graph as GraphML (for Gephi, networkx...) or as nodes/edges Parquet."""
    graph = _load(path)
    if format == ExportFormat.graphml:
        graph.to_graphml(output)
        console.print(f"wrote {output}")
    else:
        for written in graph.to_parquet(output).values():
            console.print(f"wrote {written}")
