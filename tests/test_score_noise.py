"""pipelines.score_noise on real Beam runners with the real MiniLM model: the vocabulary is
embedded by RunInference once, every part holds what the library scorer gives for its posts,
counts reconcile, and the same bytes come out with other parallelism."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from digests import file_digests

from datagraph.corpus_context import read_tag_counts
from datagraph.errors import ConfigError
from datagraph.noise import NoiseScorer
from datagraph.noise_files import (
    noise_part_of,
    noise_part_paths,
    read_noise_manifest,
    read_noise_scores,
)
from datagraph.readers import read_posts
from pipelines.build_graph import run as run_graph
from pipelines.score_noise import one_post_per_id, run


@pytest.fixture(scope="module")
def sample_slice(sample_slice_of) -> Path:
    """1,500 sample posts: half the other pipeline tests' slice, as every caption is embedded."""
    return sample_slice_of(1500)


@pytest.fixture(scope="module")
def graph(sample_slice, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("graph") / "graph"
    run_graph(["--input", str(sample_slice), "--output", str(output), "--quiet"])
    return output


@pytest.fixture(scope="module")
def scored(sample_slice, graph, tmp_path_factory) -> tuple[dict, Path]:
    output = tmp_path_factory.mktemp("noise") / "out"
    args = ["--input", str(sample_slice), "--graph", str(graph), "--output", str(output)]
    return run([*args, "--parts", "4", "--quiet"]), output


def test_counts_reconcile_and_the_vocabulary_was_embedded_first(scored):
    manifest, output = scored
    counts = manifest["counts"]
    assert counts["read"] == 1500
    assert counts["read"] == counts["bad"] + counts["posts"] > counts["bad"] > 0
    assert counts["posts"] == counts["posts_scored"] + counts["dropped"]["repeated_post_id"]
    assert counts["labels"] == counts["labels_scored"] + sum(counts["labels_unscored"].values())
    assert counts["labels_scored"] > 0.9 * counts["labels"]
    # every text scoring needed was embedded by the RunInference pipeline, none while scoring
    assert manifest["model"]["texts_embedded"] > 100
    assert counts["texts_embedded_late"] == 0
    assert read_noise_manifest(output) == manifest
    assert manifest["cooccurrence"]["unit"] == "tag"
    assert manifest["cooccurrence"]["total_posts"] == counts["posts"]
    paths = noise_part_paths(output)
    assert [p.name for p in paths] == [f"part-0000{i}-of-00004.parquet" for i in range(4)]
    for part, path in zip(manifest["parts"], paths, strict=True):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == part["sha256"]
        assert pq.ParquetFile(path).metadata.num_rows == part["rows"]
    assert sum(p["rows"] for p in manifest["parts"]) == counts["labels"]


def test_each_part_is_the_library_scorer_on_that_partitions_posts(scored, sample_slice, graph):
    _, output = scored
    posts = pa.concat_tables(b.posts for b in read_posts(str(sample_slice)))
    posts = posts.select(["post_id", "hashtags", "caption"])
    part = noise_part_of(posts.column("post_id"), 4)
    mapping = pq.read_table(graph / "mapping.parquet")
    scorer = NoiseScorer(cache_dir=output / "embeddings", cooccurrence=read_tag_counts(output))
    mine, _ = one_post_per_id(posts.filter(pa.array(part == 2)))
    expected = scorer.score(mine, mapping).sort_by(
        [("post_id", "ascending"), ("raw_tag", "ascending")]
    )
    written = pq.read_table(output / "part-00002-of-00004.parquet")
    assert written.to_pylist() == expected.cast(written.schema).to_pylist()
    assert scorer.embedder.encoded == 0  # the pipeline's cache held every text
    scores = read_noise_scores(output).column("noise_score").drop_null().to_numpy()
    assert ((scores >= 0) & (scores <= 1)).all()


def test_same_bytes_with_two_worker_processes(scored, sample_slice, graph, tmp_path):
    manifest, output = scored
    again = tmp_path / "again"
    args = ["--input", str(sample_slice), "--graph", str(graph), "--output", str(again)]
    args += ["--parts", "4", "--cache-dir", str(output / "embeddings"), "--quiet"]
    args += ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]
    rerun = run(args)
    assert file_digests(again, "part-*.parquet") == file_digests(output, "part-*.parquet")
    assert rerun["model"]["texts_embedded"] == 0  # all cached: nothing to embed again
    assert rerun["counts"] == manifest["counts"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--parts", "0"], "--parts must be >= 1"),
        (["--device", "cuda"], "sees no CUDA GPU"),
        (["--model", "./no/such/model"], "no such file or directory"),
    ],
)
def test_bad_options_are_clear_errors(extra, message, sample_slice, graph, tmp_path):
    import torch

    if extra == ["--device", "cuda"] and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    args = ["--input", str(sample_slice), "--graph", str(graph), "--output", str(tmp_path)]
    with pytest.raises(ConfigError, match=message):
        run([*args, *extra, "--quiet"])
    assert not (tmp_path / "manifest.json").exists()


def test_build_shards_reads_the_output_and_drops_noisy_labels(
    scored, sample_slice, graph, tmp_path
):
    """End to end: score_noise's output is what build_shards --noise takes."""
    from pipelines.build_shards import run as run_shards

    _, output = scored
    args = ["--input", str(sample_slice), "--graph", str(graph), "--quiet", "--num-shards", "2"]
    plain = run_shards([*args, "--output", str(tmp_path / "plain")])
    # a low cut, so that some post loses every label on this small sample (on it, 5 labels
    # score above 0.5 and 70 above 0.2)
    noise = ["--noise", str(output), "--noise-policy", "drop:0.2"]
    noisy = run_shards([*args, "--output", str(tmp_path / "noisy"), *noise])
    section = noisy["noise"]
    assert section["policy"] == "drop" and section["threshold"] == 0.2
    assert section["labels_scored"] > 0 and section["labels_dropped"] > 0
    assert noisy["counts"]["dropped"]["noisy_labels"] == section["posts_dropped"]
    assert noisy["counts"]["rows"] < plain["counts"]["rows"]
