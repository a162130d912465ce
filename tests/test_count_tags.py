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


def test_build_graph_ranks_senses_with_the_corpus(posts_file, counted, tmp_path):
    counts, _ = counted
    out = tmp_path / "graph"
    cache = tmp_path / "embeddings"
    manifest = run_graph(
        [
            *("--input", str(posts_file), "--output", str(out), "--quiet"),
            *("--corpus-context", str(counts), "--embedding-cache", str(cache)),
            *("--device", "cpu"),
        ]
    )
    ranking = manifest["ranking"]
    assert ranking["embedding_model"] == "all-MiniLM-L6-v2"  # implied by --corpus-context
    neighbours = TagNeighbours.read(out / "corpus_neighbours.parquet")
    assert ranking["corpus_context"]["tags_with_neighbours"] == len(neighbours) > 0
    assert "corpus_neighbours.parquet" in {o["path"] for o in manifest["outputs"]}
    # the pipeline's mapping is the library's, with the same embedder and neighbours
    from datagraph.embeddings import TextEmbedder

    mapping = pq.read_table(out / "mapping.parquet")
    mapper = HashtagMapper(
        "visual", embedder=TextEmbedder(device="cpu", cache_dir=cache), corpus=neighbours
    )
    expected = mapper.map(mapping.column("raw_tag").to_pylist())
    assert mapping.column("synset_id").to_pylist() == expected.column("synset_id").to_pylist()
    plain = run_graph(["--input", str(posts_file), "--output", str(tmp_path / "plain"), "--quiet"])
    assert plain["ranking"] == {"embedding_model": None, "corpus_context": None}


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
    (tmp_path / "tag_total.json").write_text('{"total_posts": 3}')
    with pytest.raises(InputDataError, match="cannot read its tag counts"):
        read_tag_counts(tmp_path)
    with pytest.raises(InputDataError, match="cannot read corpus neighbours"):
        TagNeighbours.read(tmp_path / "tag_counts.parquet")
