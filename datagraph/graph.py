"""The label graph: WordNet synsets, the hashtags that name them, taxonomy classes, and counts.

Nodes (``kind``):

- ``synset``: a WordNet noun synset, id ``dog.n.01``; ``n_posts`` = posts carrying it.
- ``hashtag``: one per canonical tag form, id ``"#" + canonical`` (``#golden retriever``), with
  the raw forms that normalize to it in ``raw_forms`` and their post counts summed.
- ``class``: a taxonomy class that the mapping projects onto, id ``class:<taxonomy>:<class_id>``
  (``class:lvis:95``).

Edges (``kind``, source -> target):

- ``hypernym``: synset -> parent synset (class and instance hypernyms), for every synset in the
  graph; the synsets are the mapped ones and all their ancestors, or the whole WordNet noun
  graph with ``full_wordnet=True``.
- ``alias``: hashtag -> synset, with the best ``confidence`` of its raw forms and ``n_posts``
  of the raw forms mapped to that synset.
- ``cooccurs``: synset_a -> synset_b (a < b; the relation is symmetric), with ``n_posts`` and
  ``pmi``.
- ``in_class``: synset -> class node: the mapped synset and the class's own synset.

Everything is two Arrow tables (``nodes``, ``edges``) plus dictionaries built when first needed;
aggregation happens in polars before this module sees a row, and ``to_networkx()`` builds a
networkx graph only when asked. ``save``/``load`` use a directory of two Parquet files and
``graph.json`` (see docs/graph.md for the format and the query API).

>>> from datagraph.wordnet import WordNet
>>> mapping = pa.table({"raw_tag": ["#Puppy", "#puppies"], "canonical": ["puppy", "puppy"],
...     "synset_id": ["puppy.n.01", "puppy.n.01"], "confidence": [0.9, 0.8]})
>>> graph = LabelGraph.build(mapping, wordnet=WordNet.load())
>>> graph.synsets_for("puppies")
[Alias(hashtag='puppy', synset_id='puppy.n.01', confidence=0.9, n_posts=0)]
>>> graph.path("puppy.n.01", "dog.n.01")
['puppy.n.01', 'dog.n.01']
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import networkx as nx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datagraph.errors import ConfigError, DatagraphError
from datagraph.graph_build import GraphBuilder
from datagraph.graph_files import (
    EDGE_KINDS,
    EDGE_SORT_KEY,
    EDGES_SCHEMA,
    FILES,
    GRAPH_FORMAT,
    GRAPH_FORMAT_VERSION,
    NODE_KINDS,
    NODE_SORT_KEY,
    NODES_SCHEMA,
    conform_table,
    parquet_bytes,
    read_header,
    read_parquet,
    replace_directory,
    sorted_table,
    write_atomic,
)
from datagraph.graph_walk import adjacency, bfs, by_distance, chain, reachable
from datagraph.taxonomy import Taxonomy
from datagraph.wordnet import WordNet

__all__ = ["GRAPH_FORMAT", "GRAPH_FORMAT_VERSION", "Alias", "Cooccurrence", "LabelGraph"]


@dataclass(frozen=True)
class Alias:
    """A hashtag (canonical form) naming a synset: the mapping's confidence and its posts."""

    hashtag: str
    synset_id: str
    confidence: float
    n_posts: int


@dataclass(frozen=True)
class Cooccurrence:
    """A synset that shares posts with the one asked about."""

    synset_id: str
    n_posts: int
    pmi: float | None


class LabelGraph:
    """The semantic label graph: ``build`` it from a mapping, or ``load`` a saved one.

    ``nodes`` and ``edges`` are Arrow tables (NODES_SCHEMA, EDGES_SCHEMA), sorted by
    (kind, node_id) and (kind, source, target). ``build_info`` records how the graph was made.
    """

    def __init__(self, nodes: pa.Table, edges: pa.Table, build_info: dict | None = None):
        self.nodes = conform_table(nodes, NODES_SCHEMA, "nodes")
        self.edges = conform_table(edges, EDGES_SCHEMA, "edges")
        self.build_info = dict(build_info or {})
        self._ids: list[str] = self.nodes.column("node_id").to_pylist()
        self._row: dict[str, int] = {node_id: i for i, node_id in enumerate(self._ids)}
        if len(self._row) != len(self._ids):
            raise DatagraphError("label graph nodes: node_id values are not unique")
        self._kinds: list[str] = self.nodes.column("kind").to_pylist()

    # --- building --------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        mapping: pa.Table,
        tag_counts: pa.Table | None = None,
        cooccurrence: pa.Table | None = None,
        *,
        synset_counts: pa.Table | None = None,
        total_posts: int | None = None,
        wordnet: WordNet | None = None,
        taxonomy: Taxonomy | None = None,
        full_wordnet: bool = False,
        keep_unmapped: bool = False,
    ) -> LabelGraph:
        """Build the graph from a mapping table (MAPPING_SCHEMA columns) and optional counts.

        - ``tag_counts`` (raw_tag, n_posts): posts per raw tag; gives hashtag and alias counts.
        - ``cooccurrence`` (synset_a, synset_b, n_posts): posts per synset pair, aggregated
          already (datagraph.cooccurrence); pairs in either order are accepted.
        - ``synset_counts`` (synset_id, n_posts): posts per synset, for synset counts and PMI.
          Without it they are derived from ``tag_counts`` through the mapping, which counts a
          post twice when two of its tags map to one synset (#dog #doggo).
        - ``total_posts``: N in PMI. Without it, N = the sum of all synset counts, i.e. the
          number of (post, synset) labels, which equals the labelled posts when each carries
          one synset and exceeds them otherwise.
        - ``taxonomy``: adds class nodes and ``in_class`` edges from the mapping's class_id
          (checked against the taxonomy); a mapped synset without class_id gets one only when
          it is itself a class of the taxonomy.
        - ``full_wordnet``: every WordNet noun synset and hypernym edge, not only the mapped
          synsets and their ancestors. ``keep_unmapped``: also make nodes for canonical tags
          none of whose raw forms maps to a synset.
        """
        wn = wordnet or WordNet.load()
        nodes, edges, info = GraphBuilder(wn, taxonomy).build(
            mapping,
            tag_counts,
            cooccurrence,
            synset_counts=synset_counts,
            total_posts=total_posts,
            full_wordnet=full_wordnet,
            keep_unmapped=keep_unmapped,
        )
        return cls(nodes, edges, info)

    # --- basic access ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._row

    def __repr__(self) -> str:
        nodes = self.info()["nodes"]
        return (
            f"LabelGraph({nodes['synset']:,} synsets, {nodes['hashtag']:,} hashtags, "
            f"{nodes['class']:,} classes, {self.edges.num_rows:,} edges)"
        )

    def info(self) -> dict[str, dict[str, int]]:
        """Counts by node kind and edge kind (every kind listed, zeros included)."""
        return {
            "nodes": _count_kinds(self.nodes, NODE_KINDS),
            "edges": _count_kinds(self.edges, EDGE_KINDS),
        }

    @property
    def synset_ids(self) -> list[str]:
        """The synset node ids, sorted."""
        return [i for i, kind in zip(self._ids, self._kinds, strict=True) if kind == "synset"]

    def node(self, node_id: str) -> dict[str, Any]:
        """One node's row as a dict (any kind); raises DatagraphError for an unknown id."""
        row = self._row.get(node_id)
        if row is None:
            raise DatagraphError(f"node {node_id!r} is not in this label graph")
        return self.nodes.slice(row, 1).to_pylist()[0]

    # --- queries ---------------------------------------------------------------------------
    def synsets_for(self, tag: str) -> list[Alias]:
        """Synsets a hashtag names, best confidence first ([] for a tag the graph lacks).

        ``tag`` may be a raw form with or without '#' or a canonical form; an exact raw form
        is tried first, then the canonical form from ``normalize_hashtag``.
        """
        node = self._find_hashtag(tag)
        if node is None:
            return []
        aliases = [_alias(row) for row in self._aliases_by_tag.rows(node)]
        return sorted(aliases, key=lambda a: (-a.confidence, -a.n_posts, a.synset_id))

    def hashtags_for(self, synset_id: str) -> list[Alias]:
        """Canonical hashtags aliasing a synset, most posts first (ties by tag)."""
        self._require_synset(synset_id)
        aliases = [_alias(row) for row in self._aliases_by_synset.rows(synset_id)]
        return sorted(aliases, key=lambda a: (-a.n_posts, a.hashtag))

    def parents(self, synset_id: str) -> list[str]:
        """Direct hypernyms (class and instance) of a synset within the graph, sorted."""
        self._require_synset(synset_id)
        return list(self._parents.get(synset_id, ()))

    def children(self, synset_id: str) -> list[str]:
        """Direct hyponyms of a synset within the graph, sorted."""
        self._require_synset(synset_id)
        return list(self._children.get(synset_id, ()))

    def ancestors(self, synset_id: str) -> list[str]:
        """Every synset above this one through hypernym edges, nearest first (ties by id)."""
        self._require_synset(synset_id)
        return by_distance(bfs(synset_id, self._parents)[0], synset_id)

    def descendants(self, synset_id: str) -> list[str]:
        """Every synset below this one through hypernym edges, nearest first (ties by id)."""
        self._require_synset(synset_id)
        return by_distance(bfs(synset_id, self._children)[0], synset_id)

    def count(self, synset_id: str, include_descendants: bool = True) -> int:
        """Posts of a synset: its own ``n_posts``, plus, when asked, the ``n_posts`` of every
        distinct descendant in the graph (each synset once, however many paths lead to it).

        A post labelled with two synsets of the subtree (#dog and #puppy) is counted once for
        each, so the sum is an upper bound on distinct posts under the synset.
        """
        row = self._require_synset(synset_id)
        total = self._n_posts[row] or 0
        if include_descendants:
            for other in self.descendants(synset_id):
                total += self._n_posts[self._row[other]] or 0
        return total

    def cooccurring(
        self,
        synset_id: str,
        k: int | None = 10,
        by: Literal["pmi", "count"] = "pmi",
        min_posts: int = 1,
    ) -> list[Cooccurrence]:
        """The ``k`` synsets sharing most posts with this one (``by="count"``) or with the
        highest PMI (``by="pmi"``; unknown PMI last); ties by the other measure, then id.

        ``min_posts`` drops pairs seen in fewer posts: PMI favours rare pairs (one shared post
        of two rare synsets scores high), so ranking by PMI wants a floor on the evidence.
        """
        self._require_synset(synset_id)
        if by not in ("pmi", "count"):
            raise ConfigError(f'cooccurring: by must be "pmi" or "count", got {by!r}')
        if k is not None and k < 0:
            raise ConfigError(f"cooccurring: k must be >= 0, got {k}")
        if min_posts < 1:
            raise ConfigError(f"cooccurring: min_posts must be >= 1, got {min_posts}")
        by_first, by_second = self._cooccurrence
        rows = [
            Cooccurrence(row["target"], row["n_posts"] or 0, row["pmi"])
            for row in by_first.rows(synset_id)
        ] + [
            Cooccurrence(row["source"], row["n_posts"] or 0, row["pmi"])
            for row in by_second.rows(synset_id)
        ]

        rows = [c for c in rows if c.n_posts >= min_posts]

        def pmi_key(c: Cooccurrence) -> float:
            return -c.pmi if c.pmi is not None else math.inf

        if by == "pmi":
            ranked = sorted(rows, key=lambda c: (pmi_key(c), -c.n_posts, c.synset_id))
        else:
            ranked = sorted(rows, key=lambda c: (-c.n_posts, pmi_key(c), c.synset_id))
        return ranked if k is None else ranked[:k]

    def path(self, a: str, b: str) -> list[str]:
        """Shortest hypernym path from ``a`` up to a lowest common ancestor and down to ``b``.

        The common ancestor minimizes the path length (ties: the smaller synset id); within
        equal lengths, parents are followed in id order. ``path(x, x) == [x]``.
        """
        self._require_synset(a)
        self._require_synset(b)
        dist_a, pred_a = bfs(a, self._parents)
        dist_b, pred_b = bfs(b, self._parents)
        common = dist_a.keys() & dist_b.keys()
        if not common:
            raise DatagraphError(f"{a} and {b} have no common hypernym in this label graph")
        lca = min(common, key=lambda s: (dist_a[s] + dist_b[s], s))
        up = chain(lca, pred_a)  # lca ... a
        down = chain(lca, pred_b)  # lca ... b
        return up[::-1] + down[1:]

    # --- derived graphs and exports --------------------------------------------------------
    def subgraph(self, taxonomy: Taxonomy | str) -> LabelGraph:
        """The part of the graph inside a taxonomy, as a new LabelGraph.

        Kept: synsets that are classes of the taxonomy or lie below one through hypernym edges
        (the mapping's projection without its climb limit), the hashtags aliasing them, and
        the class nodes of that taxonomy; edges whose ends are both kept. ``taxonomy`` is a
        Taxonomy, or the name of one whose class nodes the graph holds (built with it).
        """
        if isinstance(taxonomy, str):
            name = taxonomy
            classes = self.nodes.filter(
                pc.and_(
                    pc.equal(self.nodes["kind"], "class"), pc.equal(self.nodes["taxonomy"], name)
                )
            )
            if classes.num_rows == 0:
                raise DatagraphError(
                    f"this label graph has no class nodes of taxonomy {name!r}; pass a Taxonomy "
                    "(datagraph.load_taxonomy) instead of its name"
                )
            class_synsets = set(classes.column("synset_id").to_pylist())
        else:
            name = taxonomy.name
            class_synsets = set(taxonomy.synset_ids)
        roots = [s for s in class_synsets if s in self._row and self._is_synset(s)]
        keep = reachable(roots, self._children)
        alias = self._edges_of("alias")
        keep.update(
            source
            for source, target in zip(alias["source"], alias["target"], strict=True)
            if target in keep
        )
        keep.update(
            node_id
            for node_id, kind, tax in zip(
                self._ids, self._kinds, self.nodes.column("taxonomy").to_pylist(), strict=True
            )
            if kind == "class" and tax == name
        )
        keep_array = pa.array(sorted(keep), pa.string())
        nodes = self.nodes.filter(pc.is_in(self.nodes["node_id"], keep_array))
        edges = self.edges.filter(
            pc.and_(
                pc.is_in(self.edges["source"], keep_array),
                pc.is_in(self.edges["target"], keep_array),
            )
        )
        info = dict(self.build_info)
        info["subgraph"] = {"taxonomy": name}
        if isinstance(taxonomy, Taxonomy):
            info["subgraph"]["fingerprint"] = taxonomy.fingerprint
        return LabelGraph(nodes, edges, info)

    def to_networkx(self, edge_kinds: Iterable[str] | None = None) -> nx.MultiDiGraph:
        """A networkx MultiDiGraph (a DiGraph subclass): nodes with their non-null columns as
        attributes, edges keyed by kind. ``cooccurs`` edges appear in both directions (the
        relation is symmetric); the others as stored. ``edge_kinds`` picks edge kinds."""
        kinds = set(EDGE_KINDS if edge_kinds is None else edge_kinds)
        unknown = kinds.difference(EDGE_KINDS)
        if unknown:
            raise ConfigError(f"unknown edge kinds {sorted(unknown)}; known: {EDGE_KINDS}")
        graph = nx.MultiDiGraph()
        for row in self.nodes.to_pylist():
            node_id = row.pop("node_id")
            graph.add_node(node_id, **{k: v for k, v in row.items() if v is not None})
        for row in self.edges.to_pylist():
            if row["kind"] not in kinds:
                continue
            source, target, kind = row.pop("source"), row.pop("target"), row["kind"]
            attributes = {k: v for k, v in row.items() if v is not None}
            if "confidence" in attributes:
                attributes["confidence"] = _round_confidence(attributes["confidence"])
            graph.add_edge(source, target, key=kind, **attributes)
            if kind == "cooccurs":
                graph.add_edge(target, source, key=kind, **attributes)
        return graph

    def to_graphml(self, path: Path | str) -> Path:
        """Write GraphML (written to a temporary file, then renamed). Lists such as
        ``raw_forms`` become JSON strings, since GraphML has no list type."""
        graph = self.to_networkx()
        for _, data in graph.nodes(data=True):
            if "raw_forms" in data:
                data["raw_forms"] = json.dumps(data["raw_forms"], ensure_ascii=False)
        path = Path(path)
        write_atomic(path, lambda handle: nx.write_graphml(graph, handle))
        return path

    def to_parquet(self, directory: Path | str) -> dict[str, Path]:
        """Write ``nodes.parquet`` and ``edges.parquet`` (each atomically) for other tools.

        No graph.json: use ``save`` for a graph that ``load`` can read back.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = {}
        for name, data in self._parquet_bytes().items():
            path = directory / name
            write_atomic(path, lambda handle, data=data: handle.write(data))
            written[name] = path
        return written

    # --- persistence -----------------------------------------------------------------------
    def save(self, path: Path | str) -> Path:
        """Save as a directory: nodes.parquet, edges.parquet and graph.json (written last).

        The files are written into a temporary directory beside ``path`` and renamed into
        place, replacing an existing label graph there; a directory that holds something else
        is refused. Same graph, same bytes: rows are sorted (NODE_SORT_KEY, EDGE_SORT_KEY) and
        the Parquet settings are fixed; no timestamps are written.
        """
        path = Path(path)
        files = self._parquet_bytes()
        header = {
            "format": GRAPH_FORMAT,
            "format_version": GRAPH_FORMAT_VERSION,
            "counts": self.info(),
            "files": {
                name: {
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "bytes": len(data),
                    "rows": (self.nodes if name == "nodes.parquet" else self.edges).num_rows,
                }
                for name, data in files.items()
            },
            "sort_order": {"nodes": list(NODE_SORT_KEY), "edges": list(EDGE_SORT_KEY)},
            "build": self.build_info,
        }
        text = json.dumps(header, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        replace_directory(path, {**files, "graph.json": text.encode()})
        return path

    @classmethod
    def load(cls, path: Path | str) -> LabelGraph:
        """Load a saved graph, checking format, version and each file's sha256."""
        path = Path(path)
        if not path.is_dir():
            raise DatagraphError(f"{path}: label graph directory not found")
        header = read_header(path / "graph.json")
        tables = {}
        for name in FILES:
            expected = header["files"].get(name, {}).get("sha256")
            tables[name] = read_parquet(path / name, expected)
        return cls(tables["nodes.parquet"], tables["edges.parquet"], header.get("build") or {})

    # --- internals -------------------------------------------------------------------------
    def _parquet_bytes(self) -> dict[str, bytes]:
        return {
            "nodes.parquet": parquet_bytes(sorted_table(self.nodes, NODE_SORT_KEY)),
            "edges.parquet": parquet_bytes(sorted_table(self.edges, EDGE_SORT_KEY)),
        }

    def _is_synset(self, node_id: str) -> bool:
        return self._kinds[self._row[node_id]] == "synset"

    def _require_synset(self, synset_id: str) -> int:
        row = self._row.get(synset_id)
        if row is None or self._kinds[row] != "synset":
            what = "is not a synset" if row is not None else "is not in this label graph"
            raise DatagraphError(
                f"synset {synset_id!r} {what} ({self.info()['nodes']['synset']:,} synsets; "
                "ids look like dog.n.01)"
            )
        return row

    def _find_hashtag(self, tag: str) -> str | None:
        if not isinstance(tag, str):
            raise ConfigError(f"a hashtag must be a string, got {type(tag).__name__}")
        bare = tag.strip().removeprefix("#")
        for raw in (tag, "#" + bare, bare):
            node = self._raw_index.get(raw)
            if node is not None:
                return node
        if self._is_hashtag("#" + bare):
            return "#" + bare
        from datagraph.normalize import normalize_hashtag

        canonical = normalize_hashtag(tag).canonical
        return "#" + canonical if canonical and self._is_hashtag("#" + canonical) else None

    def _is_hashtag(self, node_id: str) -> bool:
        row = self._row.get(node_id)
        return row is not None and self._kinds[row] == "hashtag"

    def _edge_table(self, kind: str) -> pa.Table:
        return self.edges.filter(pc.equal(self.edges["kind"], kind))

    def _edges_of(self, kind: str) -> dict[str, list]:
        table = self._edge_table(kind)
        return {name: table.column(name).to_pylist() for name in table.column_names}

    @cached_property
    def _n_posts(self) -> list[int | None]:
        return self.nodes.column("n_posts").to_pylist()

    @cached_property
    def _parents(self) -> dict[str, list[str]]:
        return adjacency(self._edges_of("hypernym"), "source", "target")

    @cached_property
    def _children(self) -> dict[str, list[str]]:
        return adjacency(self._edges_of("hypernym"), "target", "source")

    @cached_property
    def _raw_index(self) -> dict[str, str]:
        index = {}
        for node_id, kind, forms in zip(
            self._ids, self._kinds, self.nodes.column("raw_forms").to_pylist(), strict=True
        ):
            if kind == "hashtag":
                for form in forms or ():
                    index.setdefault(form, node_id)
        return index

    @cached_property
    def _aliases_by_tag(self) -> _KeyIndex:
        return _KeyIndex(self._edge_table("alias"), "source")

    @cached_property
    def _aliases_by_synset(self) -> _KeyIndex:
        return _KeyIndex(self._edge_table("alias"), "target")

    @cached_property
    def _cooccurrence(self) -> tuple[_KeyIndex, _KeyIndex]:
        """Pairs by their first synset and by their second (stored once, asked both ways)."""
        edges = self._edge_table("cooccurs").select(["source", "target", "n_posts", "pmi"])
        return _KeyIndex(edges, "source"), _KeyIndex(edges, "target")


class _KeyIndex:
    """The rows of a table grouped by one key column, found without a Python object per row.

    The key column is dictionary-encoded and the row numbers ordered by key code once (numpy);
    a dictionary maps each key to its run of row numbers, and ``rows(key)`` turns only those
    rows into Python values.
    """

    def __init__(self, table: pa.Table, key: str):
        self.table = table
        encoded = pc.dictionary_encode(table.column(key)).combine_chunks()
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        self._order = np.argsort(codes, kind="stable")
        sizes = np.bincount(codes, minlength=len(encoded.dictionary))
        ends = np.cumsum(sizes)
        starts = ends - sizes
        self._span = dict(
            zip(
                encoded.dictionary.to_pylist(),
                zip(starts.tolist(), ends.tolist(), strict=True),
                strict=True,
            )
        )

    def rows(self, key: str) -> list[dict[str, Any]]:
        span = self._span.get(key)
        if span is None:
            return []
        return self.table.take(pa.array(self._order[span[0] : span[1]])).to_pylist()


def _count_kinds(table: pa.Table, kinds: tuple[str, ...]) -> dict[str, int]:
    found = {row["values"]: row["counts"] for row in pc.value_counts(table["kind"]).to_pylist()}
    return {kind: int(found.get(kind, 0)) for kind in kinds} | {
        k: int(v) for k, v in sorted(found.items()) if k not in kinds
    }


def _alias(edge: dict[str, Any]) -> Alias:
    return Alias(
        edge["source"][1:],
        edge["target"],
        _round_confidence(edge["confidence"]),
        edge["n_posts"] or 0,
    )


def _round_confidence(value: float | None) -> float:
    """float32 confidence as the short decimal it was written as (0.9, not 0.8999999761)."""
    return 0.0 if value is None else round(float(value), 6)
