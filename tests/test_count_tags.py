"""count_tags on real sample posts: the library's counts, reconciled, and what build_graph's
--corpus-context does with them."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datagraph.corpus_context import TagNeighbours, read_tag_counts
from datagraph.errors import ConfigError, InputDataError
from datagraph.mapping import HashtagMapper
from datagraph.noise_batch import prepare_batch
from datagraph.noise_counts import CooccurrenceCounts
from datagraph.normalize import default_normalizer
from datagraph.readers import read_posts
from datagraph.schema import MAPPING_SCHEMA
from pipelines.build_graph import run as run_graph
from pipelines.count_tags import run


@pytest.fixture(scope="module")
def posts_file(sample_slice):
    return sample_slice  # 3,000 sample posts, bad rows among them


@pytest.fixture(scope="module")
def counted(posts_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("tag_counts")
    manifest = run(["--input", str(posts_file), "--output", str(out), "--quiet"])
    return out, manifest


def test_counts_are_the_librarys_over_every_post_read(posts_file, counted, wn):
    out, manifest = counted
    units = []
    for batch in read_posts(str(posts_file)):
        prepared = prepare_batch(
            batch.posts, MAPPING_SCHEMA.empty_table(), wordnet=wn, normalizer=default_normalizer()
        )
        units.append(prepared.post_units())
    n_posts = sum(batch.posts.num_rows for batch in read_posts(str(posts_file)))
    expected = CooccurrenceCounts.from_post_units(
        pa.concat_tables(units), unit="tag", total_posts=n_posts
    )
    got = read_tag_counts(out)
    assert got.total_posts == manifest["counts"]["posts"] == n_posts  # a post without tags too
    assert got.names.to_pylist() == expected.names.to_pylist()
    assert (got.counts == expected.counts).all()
    assert (got.pair_keys == expected.pair_keys).all()
    assert (got.pair_counts == expected.pair_counts).all()


def test_manifest_reconciles_and_lists_its_files(counted):
    out, manifest = counted
    counts = manifest["counts"]
    assert counts["read"] == counts["bad"] + counts["posts"]
    assert counts["bad"] == pq.read_table(out / "dead_letters.parquet").num_rows > 0
    listed = {entry["path"]: entry["rows"] for entry in manifest["outputs"]}
    assert listed["tag_counts.parquet"] == pq.read_table(out / "tag_counts.parquet").num_rows
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert not (out / ".stats.json").exists()


@pytest.fixture(scope="module")
def ranked(sample_slice_of, counted, tmp_path_factory):
    """build_graph of the first 300 sample posts ranked with the 3,000 posts' tag counts (a
    model on the CPU is slow: few posts, 2 partitions), and its argument list."""
    counts, _ = counted
    posts = sample_slice_of(300)
    argv = [
        *("--input", str(posts), "--quiet", "--partitions", "2"),
        *("--corpus-context", str(counts), "--device", "cpu"),
    ]
    out = tmp_path_factory.mktemp("ranked") / "graph"
    return out, run_graph([*argv, "--output", str(out)]), argv


def test_build_graph_ranks_senses_with_the_corpus(ranked):
    out, manifest, _ = ranked
    ranking = manifest["ranking"]
    assert ranking["embedding_model"] == "all-MiniLM-L6-v2"  # implied by --corpus-context
    assert "device" not in manifest["config"]  # where the model ran is not what was made
    neighbours = TagNeighbours.read(out / "corpus_neighbours.parquet")
    assert ranking["corpus_context"]["tags_with_neighbours"] == len(neighbours) > 0
    assert "corpus_neighbours.parquet" in {o["path"] for o in manifest["outputs"]}
    # the pipeline's mapping is the library's, with the same model and neighbours
    from datagraph.embeddings import TextEmbedder

    mapping = pq.read_table(out / "mapping.parquet")
    mapper = HashtagMapper("visual", embedder=TextEmbedder(device="cpu"), corpus=neighbours)
    expected = mapper.map(mapping.column("raw_tag").to_pylist())
    assert mapping.column("synset_id").to_pylist() == expected.column("synset_id").to_pylist()


def test_same_bytes_with_a_model_on_two_workers(ranked, tmp_path):
    from digests import file_digests

    out, _, argv = ranked
    two_workers = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]
    run_graph([*argv, "--output", str(tmp_path / "two"), *two_workers])
    assert file_digests(tmp_path / "two") == file_digests(out)


def test_a_rerun_without_the_corpus_leaves_no_neighbours_file(ranked, tmp_path):
    import shutil

    out, _, argv = ranked
    shutil.copytree(out, tmp_path / "graph")
    at = argv.index("--corpus-context")
    plain = argv[:at] + argv[at + 2 :]
    manifest = run_graph([*plain, "--output", str(tmp_path / "graph")])
    assert manifest["ranking"] == {"embedding_model": None, "corpus_context": None}
    assert not (tmp_path / "graph" / "corpus_neighbours.parquet").exists()


def test_an_input_without_posts_gives_empty_counts(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    manifest = run(["--input", str(bad), "--output", str(tmp_path / "out"), "--quiet"])
    assert manifest["counts"] == {"read": 1, "bad": 1, "posts": 0}
    counts = read_tag_counts(tmp_path / "out")
    assert len(counts) == 0 and len(TagNeighbours.from_counts(counts)) == 0


def test_bad_corpus_context_is_a_clear_error(posts_file, tmp_path):
    with pytest.raises(ConfigError, match="no tag co-occurrence counts"):
        run_graph(
            [
                *("--input", str(posts_file), "--output", str(tmp_path / "g")),
                *("--corpus-context", str(tmp_path), "--dry-run", "--quiet"),
            ]
        )
    (tmp_path / "tag_counts.parquet").write_text("not parquet")
    (tmp_path / "tag_pair_counts.parquet").write_text("not parquet")
    (tmp_path / "tag_total.json").write_text('{"total_posts": "many"}')
    with pytest.raises(InputDataError, match="cannot read its tag counts"):
        read_tag_counts(tmp_path)
    (tmp_path / "tag_total.json").write_text('{"total_posts": 3}')
    with pytest.raises(InputDataError, match="cannot read its tag counts"):
        read_tag_counts(tmp_path)
    pq.write_table(pa.table({"tag": ["a"]}), tmp_path / "tag_counts.parquet")
    pq.write_table(pa.table({"tag": ["a"]}), tmp_path / "tag_pair_counts.parquet")
    with pytest.raises(InputDataError, match=str(tmp_path)):
        read_tag_counts(tmp_path)  # tables without the count columns
    with pytest.raises(InputDataError, match="cannot read corpus neighbours"):
        TagNeighbours.read(tmp_path / "tag_counts.parquet")


def test_build_shards_remaps_with_the_graphs_ranking(ranked):
    from pipelines.build_shards import graph_ranking

    out, manifest, _ = ranked
    ranking = graph_ranking(out, manifest)
    assert ranking["embedder"].model_id == "all-MiniLM-L6-v2"
    assert len(ranking["corpus"]) == manifest["ranking"]["corpus_context"]["tags_with_neighbours"]
    assert graph_ranking(out, {"config": {"embedding_model": None}}) == {}
