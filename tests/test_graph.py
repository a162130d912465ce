"""The label graph on real WordNet and a small hand-made mapping: queries, files, exports, CLI."""

from __future__ import annotations

import json
import math
import random
import sys
import time
from pathlib import Path

import networkx as nx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from datagraph.cli_graph import graph_app
from datagraph.cooccurrence import cooccurrence_counts, synset_post_counts
from datagraph.errors import ConfigError, DatagraphError
from datagraph.graph import (
    GRAPH_FORMAT_VERSION,
    Alias,
    Cooccurrence,
    LabelGraph,
)
from datagraph.graph_files import remove_stale_temporaries
from datagraph.schema import MAPPING_SCHEMA
from datagraph.taxonomy import Taxonomy, TaxonomyClass

DOCS = Path(__file__).resolve().parent.parent / "docs"

# raw tag, canonical, synset, confidence, LVIS-style class id (95 dog, 20 cat) or None
MAPPING_ROWS = [
    ("#dog", "dog", "dog.n.01", 0.9, 95),
    ("#Dog", "dog", "dog.n.01", 0.9, 95),
    ("#dogs", "dog", "dog.n.01", 0.8, 95),
    ("#puppy", "puppy", "puppy.n.01", 0.95, 95),
    ("#pup", "pup", "puppy.n.01", 0.7, 95),
    ("#cat", "cat", "cat.n.01", 0.7, 20),
    ("#beach", "beach", "beach.n.01", 1.0, None),
    ("#GoldenRetriever", "golden retriever", "golden_retriever.n.01", 1.0, 95),
    ("#mouse", "mouse", "mouse.n.01", 0.6, None),
    ("#Mouse", "mouse", "mouse.n.04", 0.55, None),
    ("#instagood", "instagood", None, 0.0, None),
]
TAG_COUNTS = {
    "#dog": 50,
    "#Dog": 10,
    "#dogs": 5,
    "#puppy": 20,
    "#pup": 3,
    "#cat": 30,
    "#beach": 40,
    "#GoldenRetriever": 8,
    "#mouse": 6,
    "#Mouse": 4,
    "#instagood": 100,
}
# ten posts: dog 5, beach 5, cat 2, puppy 1, golden retriever 1, mouse 1
POST_LABELS = {
    "p1": ["dog.n.01", "beach.n.01"],
    "p2": ["dog.n.01", "beach.n.01"],
    "p3": ["dog.n.01", "puppy.n.01"],
    "p4": ["cat.n.01"],
    "p5": ["cat.n.01", "dog.n.01"],
    "p6": ["beach.n.01"],
    "p7": ["golden_retriever.n.01", "beach.n.01"],
    "p8": ["dog.n.01", "dog.n.01"],
    "p9": ["mouse.n.01"],
    "p10": ["beach.n.01"],
}


def mapping_table(rows=MAPPING_ROWS) -> pa.Table:
    class_synsets = {95: "dog.n.01", 20: "cat.n.01"}
    return pa.Table.from_pylist(
        [
            {
                "raw_tag": raw,
                "canonical": canonical,
                "synset_id": synset,
                "candidates": [] if synset is None else [{"synset_id": synset, "score": conf}],
                "confidence": conf,
                "match": None if synset is None else "lemma",
                "class_id": class_id,
                "class_name": {95: "dog", 20: "cat"}.get(class_id),
                "class_synset_id": class_synsets.get(class_id),
                "unmapped_reason": "stopword" if synset is None else None,
            }
            for raw, canonical, synset, conf, class_id in rows
        ],
        schema=MAPPING_SCHEMA,
    )


def tag_counts_table() -> pa.Table:
    return pa.table({"raw_tag": list(TAG_COUNTS), "n_posts": list(TAG_COUNTS.values())})


def post_synsets() -> pa.Table:
    rows = [(post, s) for post, synsets in POST_LABELS.items() for s in synsets]
    return pa.table({"post_id": [p for p, _ in rows], "synset_id": [s for _, s in rows]})


@pytest.fixture(scope="module")
def lvis() -> Taxonomy:
    return Taxonomy(
        name="lvis",
        classes=[
            TaxonomyClass(20, "cat", "cat.n.01", "n02121620"),
            TaxonomyClass(95, "dog", "dog.n.01", "n02084071"),
        ],
    )


@pytest.fixture(scope="module")
def graph(wn, lvis) -> LabelGraph:
    posts = post_synsets()
    return LabelGraph.build(
        mapping_table(),
        tag_counts_table(),
        cooccurrence_counts(posts),
        synset_counts=synset_post_counts(posts),
        total_posts=len(POST_LABELS),
        wordnet=wn,
        taxonomy=lvis,
    )


def _closure(wn, seeds):
    found = set(seeds)
    for seed in seeds:
        found |= wn.ancestors(seed)
    return found


# --- building -------------------------------------------------------------------------------
def test_info_counts_every_kind(graph, wn):
    synsets = _closure(wn, {row[2] for row in MAPPING_ROWS if row[2]})
    hypernyms = sum(len(wn.parents(s)) for s in synsets)
    assert graph.info() == {
        "nodes": {"synset": len(synsets), "hashtag": 7, "class": 2},
        "edges": {"hypernym": hypernyms, "alias": 8, "cooccurs": 4, "in_class": 4},
    }
    assert repr(graph) == (
        f"LabelGraph({len(synsets)} synsets, 7 hashtags, 2 classes, {hypernyms + 16} edges)"
    )


def test_hashtag_nodes_keep_raw_forms_and_summed_counts(graph):
    node = graph.node("#dog")
    assert node["kind"] == "hashtag" and node["label"] == "dog"
    assert node["raw_forms"] == ["#Dog", "#dog", "#dogs"]
    assert node["n_posts"] == 65
    assert "#instagood" not in graph  # unmapped tags make no node unless asked


def test_class_nodes_and_in_class_edges(graph):
    assert graph.node("class:lvis:95") == {
        "node_id": "class:lvis:95",
        "kind": "class",
        "label": "dog",
        "n_posts": None,
        "raw_forms": None,
        "synset_id": "dog.n.01",
        "taxonomy": "lvis",
        "class_id": 95,
    }
    in_class = graph.edges.filter(pa.compute.equal(graph.edges["kind"], "in_class"))
    assert list(
        zip(in_class["source"].to_pylist(), in_class["target"].to_pylist(), strict=True)
    ) == [
        ("cat.n.01", "class:lvis:20"),
        ("dog.n.01", "class:lvis:95"),
        ("golden_retriever.n.01", "class:lvis:95"),
        ("puppy.n.01", "class:lvis:95"),
    ]


def test_full_wordnet_has_every_synset_and_hypernym(wn):
    full = LabelGraph.build(mapping_table(), wordnet=wn, full_wordnet=True)
    assert full.info()["nodes"]["synset"] == len(wn) == 82_116
    assert full.info()["edges"]["hypernym"] == sum(len(wn.parents(s)) for s in wn.synset_ids)
    assert full.count("dog.n.01") == 0  # no counts given: every n_posts is 0
    assert full.cooccurring("dog.n.01") == []  # no co-occurrence table given


def test_counts_derived_from_tag_counts_when_no_synset_counts(wn):
    graph = LabelGraph.build(mapping_table(), tag_counts_table(), wordnet=wn)
    assert graph.count("dog.n.01", include_descendants=False) == 65  # #dog + #Dog + #dogs
    assert graph.count("puppy.n.01", include_descendants=False) == 23  # #puppy + #pup
    assert graph.build_info["synset_counts_source"] == "tag_counts via mapping"
    assert graph.build_info["total_posts"] == sum(TAG_COUNTS.values()) - 100  # not #instagood
    assert graph.build_info["total_posts_source"] == "sum of synset counts"


def test_keep_unmapped_makes_nodes_without_aliases(wn):
    graph = LabelGraph.build(mapping_table(), tag_counts_table(), wordnet=wn, keep_unmapped=True)
    assert graph.node("#instagood")["n_posts"] == 100
    assert graph.synsets_for("#instagood") == []


def test_pairs_in_either_order_are_summed(wn):
    pairs = pa.table(
        {
            "synset_a": ["dog.n.01", "beach.n.01"],
            "synset_b": ["beach.n.01", "dog.n.01"],
            "n_posts": [2, 3],
        }
    )
    graph = LabelGraph.build(mapping_table(), cooccurrence=pairs, wordnet=wn)
    assert graph.cooccurring("beach.n.01", by="count") == [Cooccurrence("dog.n.01", 5, None)]


def test_build_rejects_bad_inputs(wn, lvis):
    with pytest.raises(DatagraphError, match="mapping table lacks column\\(s\\) confidence"):
        LabelGraph.build(mapping_table().drop_columns(["confidence"]), wordnet=wn)
    twice = mapping_table([*MAPPING_ROWS, ("#dog", "dog", "dog.n.01", 0.5, None)])
    with pytest.raises(DatagraphError, match=r"raw tags on more than one row.*#dog"):
        LabelGraph.build(twice, wordnet=wn)
    unknown = mapping_table([("#zz", "zz", "zz.n.99", 1.0, None)])
    with pytest.raises(DatagraphError, match=r"zz.n.99"):
        LabelGraph.build(unknown, wordnet=wn)
    other_taxonomy = mapping_table([("#cat", "cat", "cat.n.01", 0.7, 7)])
    with pytest.raises(DatagraphError, match=r"class_id 7 .*not a class of taxonomy 'lvis'"):
        LabelGraph.build(other_taxonomy, wordnet=wn, taxonomy=lvis)
    self_pair = pa.table({"synset_a": ["dog.n.01"], "synset_b": ["dog.n.01"], "n_posts": [1]})
    with pytest.raises(DatagraphError, match="with itself"):
        LabelGraph.build(mapping_table(), cooccurrence=self_pair, wordnet=wn)
    with pytest.raises(ConfigError, match="total_posts=3"):
        LabelGraph.build(mapping_table(), tag_counts_table(), wordnet=wn, total_posts=3)


# --- queries --------------------------------------------------------------------------------
def test_synsets_for_raw_canonical_and_normalized_forms(graph):
    dog = [Alias("dog", "dog.n.01", 0.9, 65)]
    assert graph.synsets_for("#Dog") == dog  # exact raw form
    assert graph.synsets_for("Dog") == dog  # raw form without '#'
    assert graph.synsets_for("dog") == dog  # canonical form
    assert graph.synsets_for("#DOGS") == dog  # via normalize_hashtag
    assert graph.synsets_for("Golden Retriever") == [
        Alias("golden retriever", "golden_retriever.n.01", 1.0, 8)
    ]
    assert graph.synsets_for("#mouse") == [
        Alias("mouse", "mouse.n.01", 0.6, 6),
        Alias("mouse", "mouse.n.04", 0.55, 4),
    ]
    assert graph.synsets_for("#neverseen") == []


def test_hashtags_for_sorted_by_posts(graph):
    assert graph.hashtags_for("puppy.n.01") == [
        Alias("puppy", "puppy.n.01", 0.95, 20),
        Alias("pup", "puppy.n.01", 0.7, 3),
    ]
    assert graph.hashtags_for("canine.n.02") == []


def test_ancestors_and_descendants_nearest_first(graph, wn):
    assert graph.ancestors("golden_retriever.n.01") == [
        "retriever.n.01",
        "sporting_dog.n.01",
        "hunting_dog.n.01",
        "dog.n.01",
        "canine.n.02",
        "domestic_animal.n.01",
        "animal.n.01",
        "carnivore.n.01",
        "organism.n.01",
        "placental.n.01",
        "living_thing.n.01",
        "mammal.n.01",
        "vertebrate.n.01",
        "whole.n.02",
        "chordate.n.01",
        "object.n.01",
        "physical_entity.n.01",
        "entity.n.01",
    ]
    assert set(graph.ancestors("puppy.n.01")) == wn.ancestors("puppy.n.01")
    assert graph.descendants("dog.n.01") == [
        "hunting_dog.n.01",
        "puppy.n.01",
        "sporting_dog.n.01",
        "retriever.n.01",
        "golden_retriever.n.01",
    ]
    assert graph.parents("puppy.n.01") == ["dog.n.01", "pup.n.01"]
    assert graph.children("dog.n.01") == ["hunting_dog.n.01", "puppy.n.01"]


def test_count_sums_each_descendant_once(graph):
    assert graph.count("dog.n.01", include_descendants=False) == 5
    assert graph.count("dog.n.01") == 5 + 1 + 1  # + puppy + golden retriever
    assert graph.count("canine.n.02") == 7
    # puppy.n.01 is under animal twice (dog and pup) and counted once; + cat 2 + mouse 1
    assert graph.count("animal.n.01") == 10
    assert graph.count("entity.n.01") == 5 + 1 + 1 + 2 + 1 + 5  # + beach


def test_cooccurring_by_pmi_and_by_count(graph):
    puppy = Cooccurrence("puppy.n.01", 1, math.log(10 * 1 / (5 * 1)))
    cat = Cooccurrence("cat.n.01", 1, 0.0)
    beach = Cooccurrence("beach.n.01", 2, math.log(10 * 2 / (5 * 5)))
    assert graph.cooccurring("dog.n.01") == [puppy, cat, beach]
    assert graph.cooccurring("dog.n.01", by="count") == [beach, puppy, cat]
    assert graph.cooccurring("dog.n.01", k=1) == [puppy]
    assert graph.cooccurring("beach.n.01", by="count") == [
        Cooccurrence("dog.n.01", 2, math.log(0.8)),
        Cooccurrence("golden_retriever.n.01", 1, math.log(2)),
    ]
    assert graph.cooccurring("canine.n.02") == []
    assert graph.cooccurring("dog.n.01", min_posts=2) == [beach]
    with pytest.raises(ConfigError, match='"pmi" or "count"'):
        graph.cooccurring("dog.n.01", by="lift")
    with pytest.raises(ConfigError, match="min_posts"):
        graph.cooccurring("dog.n.01", min_posts=0)


def test_path_goes_through_the_lowest_common_ancestor(graph):
    assert graph.path("golden_retriever.n.01", "cat.n.01") == [
        "golden_retriever.n.01",
        "retriever.n.01",
        "sporting_dog.n.01",
        "hunting_dog.n.01",
        "dog.n.01",
        "canine.n.02",
        "carnivore.n.01",
        "feline.n.01",
        "cat.n.01",
    ]
    assert graph.path("puppy.n.01", "dog.n.01") == ["puppy.n.01", "dog.n.01"]
    assert graph.path("dog.n.01", "puppy.n.01") == ["dog.n.01", "puppy.n.01"]
    assert graph.path("cat.n.01", "cat.n.01") == ["cat.n.01"]


def test_queries_do_not_depend_on_table_chunking(graph):
    def rechunk(table: pa.Table) -> pa.Table:
        third = table.num_rows // 3
        parts = [table.slice(0, third), table.slice(third, third), table.slice(2 * third)]
        return pa.concat_tables(parts)

    chunked = LabelGraph(rechunk(graph.nodes), rechunk(graph.edges), graph.build_info)
    assert chunked.edges.column("source").num_chunks == 3
    for synset in ("dog.n.01", "beach.n.01", "puppy.n.01"):
        assert chunked.cooccurring(synset) == graph.cooccurring(synset)
        assert chunked.hashtags_for(synset) == graph.hashtags_for(synset)
        assert chunked.ancestors(synset) == graph.ancestors(synset)
    assert chunked.synsets_for("#mouse") == graph.synsets_for("#mouse")
    assert chunked._parquet_bytes() == graph._parquet_bytes()


def test_unknown_ids_raise_clear_errors(graph):
    for query in (
        graph.ancestors,
        graph.descendants,
        graph.hashtags_for,
        graph.count,
        graph.cooccurring,
    ):
        with pytest.raises(DatagraphError, match=r"synset 'dgo.n.01' is not in this label graph"):
            query("dgo.n.01")
    with pytest.raises(DatagraphError, match=r"'#dog' is not a synset"):
        graph.ancestors("#dog")
    with pytest.raises(DatagraphError, match=r"'dgo.n.01'"):
        graph.path("dog.n.01", "dgo.n.01")


def test_subgraph_keeps_the_taxonomy_part(graph, lvis):
    sub = graph.subgraph("lvis")
    assert sub.nodes.column("node_id").to_pylist() == [
        "class:lvis:20",
        "class:lvis:95",
        "#cat",
        "#dog",
        "#golden retriever",
        "#pup",
        "#puppy",
        "cat.n.01",
        "dog.n.01",
        "golden_retriever.n.01",
        "hunting_dog.n.01",
        "puppy.n.01",
        "retriever.n.01",
        "sporting_dog.n.01",
    ]
    assert sub.info()["edges"] == {"hypernym": 5, "alias": 5, "cooccurs": 2, "in_class": 4}
    assert isinstance(sub, LabelGraph)
    assert sub.subgraph(lvis).nodes.equals(sub.nodes)
    beach = Taxonomy("synsets", [TaxonomyClass(0, "geological formation", "beach.n.01", None)])
    assert graph.subgraph(beach).nodes.column("node_id").to_pylist() == ["#beach", "beach.n.01"]
    with pytest.raises(DatagraphError, match="no class nodes of taxonomy 'imagenet1k'"):
        graph.subgraph("imagenet1k")


# --- files ----------------------------------------------------------------------------------
def _files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_save_load_round_trip_is_byte_identical(graph, tmp_path):
    first = graph.save(tmp_path / "graph")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph"]  # no temp dirs left
    loaded = LabelGraph.load(first)
    assert loaded.nodes.equals(graph.nodes) and loaded.edges.equals(graph.edges)
    assert loaded.build_info == graph.build_info
    assert loaded.cooccurring("dog.n.01") == graph.cooccurring("dog.n.01")
    loaded.save(tmp_path / "again")
    assert _files(tmp_path / "again") == _files(first)
    header = json.loads((first / "graph.json").read_text())
    assert header["format_version"] == GRAPH_FORMAT_VERSION
    assert header["counts"] == graph.info()
    assert header["files"]["nodes.parquet"]["rows"] == graph.nodes.num_rows


def test_same_inputs_in_another_order_give_the_same_bytes(graph, wn, lvis, tmp_path):
    posts = post_synsets()
    reversed_posts = posts.take(pa.array(range(posts.num_rows - 1, -1, -1)))
    again = LabelGraph.build(
        mapping_table(MAPPING_ROWS[::-1]),
        tag_counts_table().take(pa.array(range(len(TAG_COUNTS) - 1, -1, -1))),
        cooccurrence_counts(reversed_posts),
        synset_counts=synset_post_counts(reversed_posts),
        total_posts=len(POST_LABELS),
        wordnet=wn,
        taxonomy=lvis,
    )
    assert _files(again.save(tmp_path / "b")) == _files(graph.save(tmp_path / "a"))


def test_save_replaces_a_graph_but_not_other_directories(graph, wn, tmp_path):
    target = graph.save(tmp_path / "graph")
    small = LabelGraph.build(mapping_table(MAPPING_ROWS[:1]), wordnet=wn)
    small.save(target)
    assert LabelGraph.load(target).info()["nodes"]["hashtag"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph"]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(DatagraphError, match="not a saved label graph; refusing"):
        graph.save(tmp_path / "notes")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"


def test_newer_format_version_is_refused(graph, tmp_path):
    path = graph.save(tmp_path / "graph")
    header = json.loads((path / "graph.json").read_text())
    header["format_version"] = GRAPH_FORMAT_VERSION + 1
    (path / "graph.json").write_text(json.dumps(header))
    with pytest.raises(DatagraphError) as error:
        LabelGraph.load(path)
    assert str(error.value) == (
        f"{path / 'graph.json'}: label graph format version {GRAPH_FORMAT_VERSION + 1}, this "
        f"datagraph reads version {GRAPH_FORMAT_VERSION}; upgrade datagraph or rebuild the graph"
    )


def test_corrupt_files_are_named(graph, tmp_path):
    path = graph.save(tmp_path / "graph")
    nodes = path / "nodes.parquet"
    data = bytearray(nodes.read_bytes())
    data[len(data) // 2] ^= 0xFF
    nodes.write_bytes(bytes(data))
    with pytest.raises(DatagraphError, match=f"corrupt graph file {nodes}: sha256"):
        LabelGraph.load(path)
    # a damaged file whose checksum was updated too is caught by the Parquet reader
    edges = path / "edges.parquet"
    edges.write_bytes(b"PAR1 not parquet at all PAR1")
    header = json.loads((path / "graph.json").read_text())
    for name in ("nodes.parquet", "edges.parquet"):
        digest = __import__("hashlib").sha256((path / name).read_bytes()).hexdigest()
        header["files"][name]["sha256"] = digest
    (path / "graph.json").write_text(json.dumps(header))
    with pytest.raises(DatagraphError, match="corrupt graph file"):
        LabelGraph.load(path)
    (path / "graph.json").write_text("{not json")
    with pytest.raises(DatagraphError, match=f"corrupt graph file {path / 'graph.json'}"):
        LabelGraph.load(path)


def test_missing_files_are_named(graph, tmp_path):
    with pytest.raises(DatagraphError, match=f"{tmp_path / 'nowhere'}: label graph directory"):
        LabelGraph.load(tmp_path / "nowhere")
    path = graph.save(tmp_path / "graph")
    (path / "edges.parquet").unlink()
    with pytest.raises(DatagraphError, match=f"{path / 'edges.parquet'}: missing"):
        LabelGraph.load(path)
    (path / "graph.json").unlink()
    with pytest.raises(DatagraphError, match=f"{path / 'graph.json'}: missing"):
        LabelGraph.load(path)


# --- exports --------------------------------------------------------------------------------
def test_to_networkx_keys_edges_by_kind(graph):
    nxg = graph.to_networkx()
    assert isinstance(nxg, nx.DiGraph)
    assert nxg.number_of_nodes() == len(graph)
    assert nxg.number_of_edges() == graph.edges.num_rows + 4  # cooccurs in both directions
    assert nxg.edges["#dog", "dog.n.01", "alias"] == {
        "kind": "alias",
        "confidence": 0.9,
        "n_posts": 65,
    }
    assert nxg.has_edge("puppy.n.01", "dog.n.01", "cooccurs")
    assert nxg.has_edge("dog.n.01", "puppy.n.01", "cooccurs")
    hypernyms = graph.to_networkx(edge_kinds=["hypernym"])
    assert nx.shortest_path(hypernyms, "puppy.n.01", "entity.n.01")[:2] == [
        "puppy.n.01",
        "dog.n.01",
    ]
    with pytest.raises(ConfigError, match="unknown edge kinds"):
        graph.to_networkx(edge_kinds=["synonym"])


def test_graphml_is_readable_by_networkx(graph, tmp_path):
    path = graph.to_graphml(tmp_path / "graph.graphml")
    back = nx.read_graphml(path)
    assert back.number_of_nodes() == len(graph)
    assert back.number_of_edges() == graph.edges.num_rows + 4
    assert json.loads(back.nodes["#dog"]["raw_forms"]) == ["#Dog", "#dog", "#dogs"]
    assert back.nodes["dog.n.01"]["n_posts"] == 5
    assert back.edges["#mouse", "mouse.n.04", "alias"]["confidence"] == 0.55


def test_to_parquet_writes_the_two_tables(graph, tmp_path):
    written = graph.to_parquet(tmp_path / "export")
    assert sorted(written) == ["edges.parquet", "nodes.parquet"]
    assert (
        pq.read_table(written["nodes.parquet"])
        .column("node_id")
        .equals(graph.nodes.column("node_id"))
    )
    assert pq.read_table(written["edges.parquet"]).num_rows == graph.edges.num_rows


# --- command line ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli():
    app = typer.Typer()
    app.add_typer(graph_app, name="graph")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["graph", *map(str, args)])


@pytest.fixture(scope="module")
def saved(graph, tmp_path_factory) -> Path:
    return graph.save(tmp_path_factory.mktemp("cli") / "graph")


def test_cli_info_and_queries(cli, saved, graph):
    result = cli("info", saved, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["nodes"] == graph.info()["nodes"]
    result = cli("query", saved, "--tag", "#Dogs", "--json")
    assert json.loads(result.output) == [
        {"hashtag": "dog", "synset_id": "dog.n.01", "confidence": 0.9, "n_posts": 65}
    ]
    result = cli("query", saved, "--tag", "#pup", "--what", "count", "--json")
    assert json.loads(result.output) == {
        "synset_id": "puppy.n.01",
        "n_posts": 1,
        "n_posts_with_descendants": 1,
    }
    result = cli("query", saved, "--synset", "dog.n.01", "--what", "path", "--to", "cat.n.01")
    assert "dog.n.01 -> canine.n.02 -> carnivore.n.01 -> feline.n.01 -> cat.n.01" in " ".join(
        result.output.split()
    )
    result = cli("query", saved, "--synset", "dog.n.01", "--what", "cooccurring", "--by", "count")
    assert result.exit_code == 0 and "beach.n.01" in result.output
    args = ("query", saved, "--synset", "dog.n.01", "--what", "cooccurring", "--json")
    result = cli(*args, "--min-posts", "2")
    assert [c["synset_id"] for c in json.loads(result.output)] == ["beach.n.01"]
    result = cli("query", saved, "--synset", "dog.n.01")
    assert result.exit_code == 0 and "n_posts_with_descendants" in result.output


def test_cli_errors_are_datagraph_errors(cli, saved, tmp_path):
    result = cli("query", saved, "--synset", "dgo.n.01")
    assert isinstance(result.exception, DatagraphError)
    result = cli("query", saved)
    assert isinstance(result.exception, ConfigError)
    result = cli("query", saved, "--synset", "dog.n.01", "--what", "path")
    assert "--to" in str(result.exception)
    result = cli("info", tmp_path / "missing")
    assert "label graph directory not found" in str(result.exception)


def test_cli_export(cli, saved, graph, tmp_path):
    result = cli("export", saved, "--format", "graphml", "--output", tmp_path / "g.graphml")
    assert result.exit_code == 0, result.output
    assert nx.read_graphml(tmp_path / "g.graphml").number_of_nodes() == len(graph)
    result = cli("export", saved, "--format", "parquet", "--output", tmp_path / "pq")
    assert sorted(p.name for p in (tmp_path / "pq").iterdir()) == [
        "edges.parquet",
        "nodes.parquet",
    ]


_SAVE_FOREVER = """
import sys
from datagraph.graph import LabelGraph
graphs = [LabelGraph.load(sys.argv[1]), LabelGraph.load(sys.argv[2])]
for turn in range(10**9):
    graphs[turn % 2].save(sys.argv[3])
"""


def _after_first_save(target: Path, delay: float):
    """A kill_midway readiness check: ``delay`` seconds after ``target`` first holds a graph."""
    moment: list[float] = []

    def ready() -> bool:
        if not moment and (target / "graph.json").exists():
            moment.append(time.monotonic() + delay)
        return bool(moment) and time.monotonic() > moment[0]

    return ready


def test_a_save_killed_at_any_moment_leaves_the_old_graph_the_new_one_or_none(
    graph, wn, tmp_path, kill_midway
):
    """SIGKILL a process that saves two graphs in turn over one path, at several moments: the
    path then holds one of the two graphs complete (it loads, with its exact bytes) or nothing,
    and what the killed save left beside it is hidden and removed by the next run's clean-up."""
    first = graph.save(tmp_path / "first")
    second = LabelGraph.build(mapping_table(MAPPING_ROWS[:1]), wordnet=wn).save(tmp_path / "two")
    complete = [_files(first), _files(second)]
    rng = random.Random(7)
    for attempt in range(4):
        folder = tmp_path / f"kill{attempt}"
        folder.mkdir()
        target = folder / "graph"
        command = [sys.executable, "-c", _SAVE_FOREVER, str(first), str(second), str(target)]
        kill_midway(command, _after_first_save(target, rng.uniform(0.0, 0.3)))
        if target.exists():
            assert _files(target) in complete
            LabelGraph.load(target)
        hidden = [p for p in folder.iterdir() if p.name != "graph"]
        assert all(p.name.startswith(".") for p in hidden)
        assert sorted(remove_stale_temporaries(folder)) == sorted(hidden)
        assert [p.name for p in folder.iterdir()] == (["graph"] if target.exists() else [])
