"""pipelines.build_shards on real Beam runners: labels, counts, manifest, same bytes everywhere."""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from digests import file_digests

from datagraph.errors import ConfigError, DatagraphError
from datagraph.feed import TrainingShards
from datagraph.noise_files import read_noise_scores, write_noise_output
from datagraph.shards import ClassList
from datagraph.taxonomy import load_taxonomy
from datagraph.webdataset import webdataset_tar
from pipelines.build_graph import run as run_graph
from pipelines.build_shards import run

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_LVIS = ROOT / "sample_data" / "lvis_sample_categories.json"
LVIS_V1 = ROOT.parent / "shared" / "data" / "taxonomies" / "lvis_v1_categories.json"
SHARD_ARGS = [
    *("--sampling", "sqrt", "--num-shards", "4", "--val-fraction", "0.2", "--seed", "3"),
    "--webdataset",  # so every same-bytes test below compares the tars too
]
NOISE_THRESHOLD = 0.2  # drops a few percent of the sample's labels, and some whole posts


@pytest.fixture(scope="module")
def graph(sample_slice, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("graph") / "graph"
    lvis = ["--lvis-categories", str(SAMPLE_LVIS)]
    run_graph(["--input", str(sample_slice), *lvis, "--output", str(output), "--quiet"])
    return output


def _run(posts: Path, graph: Path, output: Path, *extra: str) -> dict:
    args = ["--input", str(posts), "--graph", str(graph), "--output", str(output), "--quiet"]
    return run([*args, *extra])


@pytest.fixture(scope="module")
def reference(sample_slice, graph, tmp_path_factory) -> tuple[dict, Path]:
    output = tmp_path_factory.mktemp("shards") / "out"
    return _run(sample_slice, graph, output, *SHARD_ARGS), output


@pytest.fixture(scope="module")
def noise_output(sample_slice, graph, tmp_path_factory) -> Path:
    """The slice's label noise scores from the real scorer (MiniLM, offline), as a noise output
    of two parts. Captions are left out of the scoring (embedding 1,700 captions takes half a
    minute on two cores): the caption hashtags then have no score rows, so the runs below also
    meet labels that are unscored for want of a row, besides those scored null."""
    from datagraph import NoiseScorer
    from datagraph.readers import read_posts

    posts = pa.concat_tables([batch.posts for batch in read_posts(str(sample_slice))])
    captions = posts.schema.get_field_index("caption")
    posts = posts.set_column(captions, "caption", pa.nulls(posts.num_rows, pa.string()))
    base = tmp_path_factory.mktemp("noise")
    mapping = pq.read_table(graph / "mapping.parquet")
    scores = NoiseScorer(cache_dir=base / "embeddings").score(posts, mapping)
    write_noise_output(base / "noise", scores, {"captions": False}, num_parts=2)
    return base / "noise"


def _noise_args(noise_output: Path, policy: str | None) -> list[str]:
    return ["--noise", str(noise_output), *(["--noise-policy", policy] if policy else [])]


@pytest.fixture(scope="module")
def noise_reference(sample_slice, graph, noise_output, tmp_path_factory) -> tuple[dict, Path]:
    """The reference run again with ``--noise-policy drop:NOISE_THRESHOLD``."""
    output = tmp_path_factory.mktemp("noisy_shards") / "out"
    policy = f"drop:{NOISE_THRESHOLD}"
    args = [*SHARD_ARGS, *_noise_args(noise_output, policy)]
    return _run(sample_slice, graph, output, *args), output


def test_counts_reconcile_and_files_match_the_manifest(reference):
    manifest, output = reference
    counts = manifest["counts"]
    assert counts["read"] == 3000
    assert counts["read"] == counts["bad"] + sum(counts["dropped"].values()) + counts["kept"]
    assert counts["rows"] == counts["kept"] + counts["repeats_added"]
    assert counts["rows"] == sum(s["rows"] for s in manifest["shards"])
    assert counts["dropped"]["resampled_out"] > 0 and counts["repeats_added"] > 0
    paths = [s["path"] for s in manifest["shards"]]
    assert paths == [f"train/part-0000{i}-of-00004.parquet" for i in range(4)] + [
        "val/part-00000-of-00001.parquet"
    ]
    for entry in manifest["outputs"]:
        data = (output / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert not list(output.rglob("*.tmp*"))


def test_rows_carry_lvis_labels_and_the_split_is_by_user(reference, sample_slice):
    manifest, output = reference
    classes = manifest["classes"]
    lvis = load_taxonomy("lvis", SAMPLE_LVIS)
    assert [c["class_id"] for c in classes] == [c.class_id for c in lvis.classes]
    users = {}
    for line in sample_slice.read_text().splitlines():
        try:
            post = json.loads(line)
            users[post["post_id"]] = post.get("user_id") or post["post_id"]
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    split_users = {"train": set(), "val": set()}
    for shard in manifest["shards"]:
        table = pq.read_table(output / shard["path"])
        assert pq.ParquetFile(output / shard["path"]).metadata.num_rows == shard["rows"]
        for row in table.to_pylist():
            assert row["labels"] == sorted(set(row["labels"]))
            assert row["class_ids"] == [classes[i]["class_id"] for i in row["labels"]]
            assert row["label_weights"] == pytest.approx(
                [1 / len(row["labels"])] * len(row["labels"])
            )
            assert row["shard"] == shard["shard"]
            split_users[shard["split"]].add(users[row["post_id"]])
    assert split_users["val"] and not split_users["train"] & split_users["val"]


def test_webdataset_tars_hold_the_parquet_rows_one_to_one(reference):
    manifest, output = reference
    classes = manifest["classes"]
    class_list = ClassList(
        np.array([c["index"] for c in classes], dtype=np.int32),
        np.array([c["class_id"] for c in classes], dtype=np.int64),
        [c["synset_id"] for c in classes],
        [c["name"] for c in classes],
    )
    outputs = {o["path"]: o for o in manifest["outputs"]}
    for shard in manifest["shards"]:
        entry = shard["webdataset"]
        assert entry["path"] == shard["path"].removesuffix(".parquet") + ".tar"
        data = (output / entry["path"]).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["bytes"], entry["sha256"])
        assert outputs[entry["path"]] == {
            "path": entry["path"],
            "rows": shard["rows"],
            "sha256": entry["sha256"],
        }
        table = pq.read_table(output / shard["path"])
        assert data == webdataset_tar(table, class_list)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]
        assert entry["members"] == len(members)
        records = [json.loads(payload) for name, payload in members if name.endswith(".json")]
        assert entry["samples"] == len(records) == shard["rows"]
        for record, row in zip(records, table.to_pylist(), strict=True):
            assert (record["post_id"], record["repeat"]) == (row["post_id"], row["repeat"])
            assert (record["labels"], record["class_ids"]) == (row["labels"], row["class_ids"])
            assert record["label_names"] == [classes[i]["name"] for i in row["labels"]]
            assert record["shard"] == shard["shard"]
        urls = [payload.decode() for name, payload in members if name.endswith(".url")]
        assert urls == [u for u in table.column("media_uri").to_pylist() if u is not None]


def test_sampling_section_reports_histograms_and_errors(reference):
    manifest, output = reference
    sampling = manifest["sampling"]
    n = len(manifest["classes"])
    for key in ("histogram_before", "histogram_after", "expected_after", "target_share"):
        assert len(sampling[key]) == n
    achieved = np.zeros(n, dtype=int)
    for shard in manifest["shards"]:
        if shard["split"] == "train":
            for labels in pq.read_table(output / shard["path"]).column("labels").to_pylist():
                achieved[labels] += 1
    assert achieved.tolist() == sampling["histogram_after"]
    assert 0 <= sampling["error"]["achieved_vs_expected_tv"] < 0.05
    before = np.array(sampling["histogram_before"], dtype=float)
    after = np.array(sampling["histogram_after"], dtype=float)
    present = before > 0
    # square-root sampling flattens the tail: the rarest classes gain share
    rare = present & (before <= np.quantile(before[present], 0.25))
    assert (after[rare].sum() / after.sum()) > (before[rare].sum() / before.sum())


@pytest.mark.parametrize(
    ("runner_args", "noisy"),
    [
        (["--runner", "FnApiRunner"], False),
        (
            [
                *("--runner", "FnApiRunner", "--direct_num_workers=2", "--partitions", "3"),
                *("--shuffle", "beam"),
            ],
            False,
        ),
        (["--runner", "FnApiRunner", "--direct_num_workers=2", "--partitions", "5"], True),
        (
            ["--runner", "PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"],
            False,
        ),
    ],
    ids=[
        "fnapi-rerun",
        "fnapi-other-partitions-beam-shuffle",
        "fnapi-noise-other-partitions",
        "portable",
    ],
)
def test_same_bytes_on_every_runner(runner_args, noisy, sample_slice, graph, request, tmp_path):
    reference = request.getfixturevalue("noise_reference" if noisy else "reference")
    args = [*SHARD_ARGS, *runner_args]
    if noisy:
        args += _noise_args(request.getfixturevalue("noise_output"), f"drop:{NOISE_THRESHOLD}")
    manifest = _run(sample_slice, graph, tmp_path / "out", *args)
    same = {k: v for k, v in file_digests(reference[1]).items() if k != "manifest.json"}
    assert {k: v for k, v in file_digests(tmp_path / "out").items() if k != "manifest.json"} == same
    assert manifest["shards"] == reference[0]["shards"]
    assert manifest["sampling"] == reference[0]["sampling"]
    assert manifest["noise"] == reference[0]["noise"]


def test_same_bytes_on_dask_with_noise(
    sample_slice, graph, noise_output, noise_reference, tmp_path
):
    """DaskRunner with ``--noise``: the noise join included (the pipeline without it is the
    same transforms minus that join; the other runners compare both forms)."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
    )
    client = Client(cluster)
    try:
        _run(
            sample_slice,
            graph,
            tmp_path / "out",
            *SHARD_ARGS,
            *_noise_args(noise_output, f"drop:{NOISE_THRESHOLD}"),
            "--runner",
            "DaskRunner",
            f"--dask_client_address={cluster.scheduler_address}",
        )
    finally:
        client.close()
        cluster.close()
    assert file_digests(tmp_path / "out") == file_digests(noise_reference[1])


def _rows_by_post(manifest: dict, output: Path) -> dict[str, list[dict]]:
    """Every shard row of a run, by post_id."""
    rows: dict[str, list[dict]] = {}
    for shard in manifest["shards"]:
        for row in pq.read_table(output / shard["path"]).to_pylist():
            rows.setdefault(row["post_id"], []).append(row | {"split": shard["split"]})
    return rows


def _label_scores(row: dict, tag_class: dict[str, int], scores: dict) -> list[float | None]:
    """What each label of a shard row should score, computed here from the noise rows: the
    minimum over the row's source hashtags that map to the label's class, None if none is
    scored."""
    expected = []
    for class_id in row["class_ids"]:
        found = [
            scores[(row["post_id"], tag)]
            for tag in row["source_hashtags"]
            if tag_class[tag] == class_id and (row["post_id"], tag) in scores
        ]
        expected.append(min(found) if found else None)
    return expected


@pytest.fixture(scope="module")
def noise_truth(noise_output, reference) -> tuple[dict, dict]:
    """(raw_tag -> class_id of the label map, (post_id, raw_tag) -> best score) from the files."""
    labels = pq.read_table(reference[1] / "label_map.parquet").to_pylist()
    tag_class = {row["raw_tag"]: row["class_id"] for row in labels}
    scores: dict = {}
    for row in read_noise_scores(noise_output).to_pylist():
        key, score = (row["post_id"], row["raw_tag"]), row["noise_score"]
        if score is not None:
            scores[key] = min(score, scores.get(key, score))
    return tag_class, scores


def test_drop_removes_the_labels_scoring_at_or_above_the_threshold(
    noise_reference, reference, noise_truth, noise_output
):
    manifest, output = noise_reference
    tag_class, scores = noise_truth
    noise = manifest["noise"]
    digest = hashlib.sha256((noise_output / "manifest.json").read_bytes()).hexdigest()
    assert (noise["path"], noise["manifest_sha256"]) == (str(noise_output), digest)
    assert (noise["policy"], noise["threshold"], noise["labels_down_weighted"]) == (
        "drop",
        NOISE_THRESHOLD,
        0,
    )
    counts = manifest["counts"]
    assert counts["read"] == counts["bad"] + sum(counts["dropped"].values()) + counts["kept"]
    assert noise["posts_dropped"] == counts["dropped"]["noisy_labels"] > 0
    assert noise["labels_unscored"] > 0 and noise["labels_dropped"] > noise["posts_dropped"]
    assert sum(noise["score_histogram"]) == noise["labels_scored"]
    assert sum(noise["score_histogram"][2:]) == noise["labels_dropped"]  # bins of s >= 0.2
    ref_rows = _rows_by_post(*reference[0:2])
    rows = _rows_by_post(manifest, output)
    left_without = 0
    for post_id, ref in ref_rows.items():
        ref_scores = _label_scores(ref[0], tag_class, scores)
        kept = [
            label
            for label, score in zip(ref[0]["labels"], ref_scores, strict=True)
            if score is None or score < NOISE_THRESHOLD
        ]
        if not kept:
            left_without += 1
            assert post_id not in rows
        elif ref[0]["split"] == "val":  # no resampling there: every post is written
            assert [r["labels"] for r in rows[post_id]] == [kept]
        elif post_id in rows:
            assert rows[post_id][0]["labels"] == kept
    # the reference's posts left without a label are dropped (the posts it resampled out may
    # be among the others)
    assert 0 < left_without <= noise["posts_dropped"]
    for post_rows in rows.values():
        row = post_rows[0]
        assert row["noise_scores"] == _label_scores(row, tag_class, scores)
        k = len(row["labels"])
        assert row["label_weights"] == pytest.approx([1 / k] * k)
    before = np.array(manifest["sampling"]["histogram_before"])
    assert before.sum() < np.array(reference[0]["sampling"]["histogram_before"]).sum()


@pytest.mark.parametrize("policy", [None, "weight"])
def test_none_records_the_scores_and_weight_scales_the_label_weights(
    policy, sample_slice, graph, reference, noise_reference, noise_truth, noise_output, tmp_path
):
    """Nothing is dropped, so the rows are the reference's; only the noise columns differ."""
    args = [*SHARD_ARGS, *_noise_args(noise_output, policy)]
    manifest = _run(sample_slice, graph, tmp_path / "out", *args)
    noise = manifest["noise"]
    assert (noise["policy"], noise["threshold"]) == (policy or "none", None)
    assert manifest["config"]["noise_policy"] == (policy or "none")
    assert (noise["labels_dropped"], noise["posts_dropped"]) == (0, 0)
    labels_found = ("labels_scored", "labels_unscored", "score_histogram")
    assert {k: noise[k] for k in labels_found} == {
        k: noise_reference[0]["noise"][k] for k in labels_found
    }
    assert manifest["counts"] == reference[0]["counts"]
    assert manifest["sampling"] == reference[0]["sampling"]
    tag_class, scores = noise_truth
    down_weighted = set()
    for shard, ref_shard in zip(manifest["shards"], reference[0]["shards"], strict=True):
        table = pq.read_table(tmp_path / "out" / shard["path"])
        ref_table = pq.read_table(reference[1] / ref_shard["path"])
        others = [n for n in table.column_names if n not in ("noise_scores", "label_weights")]
        assert table.select(others).equals(ref_table.select(others))
        for row in table.to_pylist():
            assert row["noise_scores"] == _label_scores(row, tag_class, scores)
            k = len(row["labels"])
            if policy == "weight":
                weights = [np.float32((1 / k) * (1 - (s or 0.0))) for s in row["noise_scores"]]
                down_weighted.update(
                    (row["post_id"], label)
                    for label, s in zip(row["labels"], row["noise_scores"], strict=True)
                    if s
                )
            else:
                weights = [np.float32(1 / k)] * k
            assert row["label_weights"] == weights
    if policy == "weight":  # counted when labelled: resampled-out posts' labels too
        assert 0 < len(down_weighted) <= noise["labels_down_weighted"] <= noise["labels_scored"]
    else:
        assert noise["labels_down_weighted"] == 0


def test_seed_changes_the_draws_but_not_the_split(sample_slice, graph, reference, tmp_path):
    other = [a if a != "3" else "4" for a in SHARD_ARGS]
    manifest = _run(sample_slice, graph, tmp_path / "out", *other)
    assert manifest["shards"][0]["sha256"] != reference[0]["shards"][0]["sha256"]
    val = pq.read_table(tmp_path / "out" / "val" / "part-00000-of-00001.parquet")
    ref_val = pq.read_table(reference[1] / "val" / "part-00000-of-00001.parquet")
    assert sorted(val.column("post_id").to_pylist()) == sorted(
        ref_val.column("post_id").to_pylist()
    )


def test_min_class_count_and_stale_shards(sample_slice, graph, reference, tmp_path):
    out = tmp_path / "out"
    fewer = ("--num-shards", "2", "--min-class-count", "100")
    _run(sample_slice, graph, out, "--num-shards", "6", "--webdataset")
    _run(sample_slice, graph, out, *fewer, "--webdataset")
    assert sorted(p.name for p in out.glob("part-*")) == [
        "part-00000-of-00002.parquet",
        "part-00000-of-00002.tar",
        "part-00001-of-00002.parquet",
        "part-00001-of-00002.tar",
    ]
    manifest = _run(sample_slice, graph, out, *fewer)  # without --webdataset: no tars left
    assert sorted(p.name for p in out.glob("part-*")) == [
        "part-00000-of-00002.parquet",
        "part-00001-of-00002.parquet",
    ]
    assert not any("webdataset" in s for s in manifest["shards"])
    assert manifest["config"]["webdataset"] is False
    before = manifest["sampling"]["histogram_before"]
    assert min(before) >= 100
    assert len(manifest["classes"]) < len(reference[0]["classes"])
    assert manifest["counts"]["dropped"]["rare_classes_only"] > 0


@pytest.mark.skipif(not LVIS_V1.is_file(), reason="../shared/data LVIS v1 categories not present")
def test_lvis_v1_shards_from_a_graph_mapped_with_another_taxonomy(sample_slice, graph, tmp_path):
    manifest = _run(
        sample_slice,
        graph,
        tmp_path / "out",
        "--lvis-categories",
        str(LVIS_V1),
        "--num-shards",
        "2",
    )
    assert manifest["labels"]["source"] == "vocabulary_remapped"
    lvis_ids = {c.class_id for c in load_taxonomy("lvis", LVIS_V1).classes}
    assert manifest["taxonomy"]["classes"] == len(lvis_ids) == 1203
    seen = set()
    for shard in manifest["shards"]:
        for ids in pq.read_table(tmp_path / "out" / shard["path"]).column("class_ids").to_pylist():
            seen.update(ids)
    assert seen and seen <= lvis_ids


def test_clear_errors(sample_slice, graph, tmp_path):
    with pytest.raises(DatagraphError, match="build_graph output"):
        _run(sample_slice, tmp_path / "nograph", tmp_path / "out")
    with pytest.raises(ConfigError, match="balanced sampling needs"):
        _run(sample_slice, graph, tmp_path / "out", "--sampling", "balanced")
    with pytest.raises(ConfigError, match="unknown sampling"):
        _run(sample_slice, graph, tmp_path / "out", "--sampling", "cubic")
    assert _run(sample_slice, graph, tmp_path / "dry", "--dry-run") is None
    assert not (tmp_path / "dry").exists()
    with pytest.raises(ConfigError, match=r"--noise-policy drop:0\.5 needs --noise"):
        _run(sample_slice, graph, tmp_path / "out", "--noise-policy", "drop:0.5")
    with pytest.raises(ConfigError, match=r"--noise-policy drop:0\.5 needs --noise"):
        _run(sample_slice, graph, tmp_path / "out", "--noise-policy", "drop")  # the default T
    with pytest.raises(ConfigError, match="needs a threshold in"):
        _run(sample_slice, graph, tmp_path / "out", *_noise_args(graph, "drop:2"))
    with pytest.raises(DatagraphError, match="not a score_noise manifest"):
        _run(sample_slice, graph, tmp_path / "out", *_noise_args(graph, "weight"))
    assert not (tmp_path / "out").exists()


def test_trainer_feed_reads_every_train_row_once(reference):
    from datagraph.feed import loader

    manifest, output = reference
    seen = []
    for rank in range(2):
        for batch in loader(output, batch_size=64, num_workers=2, rank=rank, world_size=2):
            seen += list(zip(batch["post_ids"], batch["repeat"].tolist(), strict=True))
    train_rows = sum(s["rows"] for s in manifest["shards"] if s["split"] == "train")
    assert len(seen) == len(set(seen)) == train_rows


def test_a_killed_run_leaves_no_complete_looking_set_and_a_rerun_gives_the_same_bytes(
    sample_slice, graph, tmp_path, kill_midway
):
    """SIGKILL while shards are being written, over an older complete set with more shards: no
    manifest (so no reader takes the mix for a shard set), and the rerun writes exactly the
    files of an uninterrupted run, old shards and temporary files gone."""
    many = [*SHARD_ARGS, "--num-shards", "64"]
    expected = tmp_path / "uninterrupted"
    _run(sample_slice, graph, expected, *many)
    out = tmp_path / "out"
    _run(sample_slice, graph, out, *many, "--num-shards", "80", "--seed", "9")
    started = time.time_ns()

    def writing_shards() -> bool:
        return any(p.stat().st_mtime_ns > started for p in out.rglob("*part-*") if p.exists())

    command = [sys.executable, "-m", "pipelines.build_shards", "--input", str(sample_slice)]
    command += ["--graph", str(graph), "--output", str(out), "--quiet", *many]
    kill_midway(command, writing_shards)
    assert not (out / "manifest.json").exists()
    with pytest.raises(DatagraphError, match="manifest"):
        TrainingShards(out)
    # what a writer killed between its temporary file and the rename leaves (the kill above
    # may or may not land there)
    (out / "train" / ".part-00003-of-00064.parquet.k1ll3d.tmp").write_bytes(b"PAR1 half")
    (out / ".label_map.parquet.k1ll3d.tmp").write_bytes(b"")
    _run(sample_slice, graph, out, *many)
    assert file_digests(out) == file_digests(expected)
