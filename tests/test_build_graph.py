"""pipelines.build_graph on real Beam runners: counts, outputs, and the same bytes everywhere."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from digests import file_digests

from datagraph.errors import ConfigError, InputDataError
from datagraph.graph import LabelGraph
from pipelines.build_graph import run

ROOT = Path(__file__).resolve().parent.parent
SHA_A = "a" * 64
SHA_B = "b" * 64
SHA_EVAL = "e" * 64

# Planted cases, one reason each (created_at in seconds; phashes differ in the low bits).
POSTS = [
    {
        "post_id": "p01",
        "user_id": "u1",
        "created_at": 100,
        "hashtags": ["#dog", "#beach"],
        "media_sha256": SHA_A,
        "media_phash": 0,
    },
    {
        "post_id": "p01",
        "user_id": "u1",
        "created_at": 100,
        "hashtags": ["#dog", "#beach"],
        "media_sha256": SHA_A,
        "media_phash": 0,
    },  # duplicate_post_id
    {
        "post_id": "p02",
        "user_id": "u2",
        "created_at": 200,
        "hashtags": ["#cat"],
        "media_sha256": SHA_A,
    },  # duplicate_media (p01 is earlier)
    {
        "post_id": "p03",
        "user_id": "u3",
        "created_at": 300,
        "hashtags": ["#puppy", "#dog"],
        "media_phash": 0b111,
    },  # near_duplicate_media: 3 bits from p01
    {
        "post_id": "p04",
        "user_id": "u4",
        "created_at": 400,
        "hashtags": ["#cat", "#Kitten"],
        "media_phash": 0x00FF00FF00FF00FF,
    },
    {
        "post_id": "p05",
        "user_id": "u4",
        "created_at": 500,
        "hashtags": ["#kitten", "#CAT"],
        "media_phash": 0xFF00FF00FF00FF00,
    },  # user_spam: same user, same tag set as p04
    {
        "post_id": "p06",
        "user_id": "u5",
        "created_at": 600,
        "caption": "walk #GoldenRetriever",
        "media_sha256": SHA_EVAL,
    },  # eval_contamination
    {"post_id": "p07", "created_at": 700, "caption": "sunny #beach day #like4like"},
    {"post_id": "p08", "user_id": "u6", "hashtags": ["#instagood"]},  # kept, no label
]
BAD_LINES = ['{"post_id": "p09", "hashtags": "#notalist"}', "not json at all"]


@pytest.fixture(scope="module")
def posts_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("posts") / "posts.jsonl"
    lines = [json.dumps(p) for p in POSTS] + BAD_LINES
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def exclude_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("eval") / "eval_media.txt"
    path.write_text(f"# evaluation set\n{SHA_EVAL}\n0xffff000000000000\n")
    return path


def _run(posts: Path | str, output: Path, *extra: str) -> dict:
    return run(["--input", str(posts), "--output", str(output), "--quiet", *extra])


@pytest.fixture(scope="module")
def built(posts_file, exclude_file, tmp_path_factory) -> tuple[dict, Path]:
    output = tmp_path_factory.mktemp("built") / "out"
    manifest = _run(posts_file, output, "--exclude-media", str(exclude_file))
    return manifest, output


def test_every_row_is_counted_under_one_reason(built):
    manifest, _ = built
    counts = manifest["counts"]
    assert counts["read"] == len(POSTS) + len(BAD_LINES)
    assert counts["bad"] == 2
    assert counts["dropped"] == {
        "duplicate_post_id": 1,
        "eval_contamination": 1,
        "duplicate_media": 1,
        "near_duplicate_media": 1,
        "user_spam": 1,
    }
    assert counts["kept"] == 4  # p01 p04 p07 p08
    assert counts["labelled_posts"] == 3
    assert counts["read"] == counts["bad"] + sum(counts["dropped"].values()) + counts["kept"]


def test_outputs_and_graph(built):
    manifest, output = built
    vocabulary = pq.read_table(output / "vocabulary.parquet").to_pylist()
    by_tag = {row["raw_tag"]: row for row in vocabulary}
    assert sorted(by_tag) == ["#Kitten", "#beach", "#cat", "#dog", "#instagood", "#like4like"]
    assert by_tag["#beach"]["n_posts"] == 2 and by_tag["#beach"]["n_users"] == 2
    assert by_tag["#like4like"]["stop_reason"] == "spam"
    mapping = {
        r["raw_tag"]: r["synset_id"] for r in pq.read_table(output / "mapping.parquet").to_pylist()
    }
    assert mapping["#dog"] == "dog.n.01" and mapping["#instagood"] is None
    dead = pq.read_table(output / "dead_letters.parquet").to_pylist()
    assert [(d["line"], d["field"]) for d in dead] == [(10, "hashtags"), (11, None)]
    assert all(d["source_file"].endswith("posts.jsonl") for d in dead)
    graph = LabelGraph.load(output / "graph")
    assert graph.count("dog.n.01", include_descendants=False) == 1
    pairs = {c.synset_id: c.n_posts for c in graph.cooccurring("dog.n.01", k=None)}
    assert pairs == {"beach.n.01": 1}
    for entry in manifest["outputs"]:
        data = (output / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert manifest["taxonomy"]["id"] == "visual"
    assert "output" not in manifest["config"]


@pytest.fixture(scope="module")
def reference(sample_slice, tmp_path_factory) -> tuple[dict, dict[str, str]]:
    output = tmp_path_factory.mktemp("ref") / "out"
    lvis = ROOT / "sample_data" / "lvis_sample_categories.json"
    manifest = _run(sample_slice, output, "--lvis-categories", str(lvis))
    return manifest, file_digests(output)


def test_sample_slice_counts_reconcile(reference):
    manifest, digests = reference
    counts = manifest["counts"]
    assert counts["read"] == 3000
    assert all(n > 0 for reason, n in counts["dropped"].items() if reason != "eval_contamination")
    assert set(digests) == {
        "cooccurrence.parquet",
        "dead_letters.parquet",
        "graph/edges.parquet",
        "graph/graph.json",
        "graph/nodes.parquet",
        "manifest.json",
        "mapping.parquet",
        "synset_counts.parquet",
        "vocabulary.parquet",
    }


@pytest.mark.parametrize(
    "runner_args",
    [
        ["--runner", "FnApiRunner"],
        ["--runner", "DirectRunner"],
        ["--runner", "PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"],
        [
            *("--runner", "FnApiRunner", "--shuffle", "beam"),
            *("--direct_num_workers", "2", "--direct_running_mode", "multi_processing"),
        ],
        [
            *("--runner", "PortableRunner", "--job_endpoint=embed"),
            *("--environment_type=LOOPBACK", "--shuffle", "files"),
        ],
    ],
    ids=["fnapi-rerun", "direct", "portable", "fnapi-2-workers-beam-shuffle", "portable-files"],
)
def test_same_bytes_on_every_runner(runner_args, sample_slice, reference, tmp_path):
    lvis = ROOT / "sample_data" / "lvis_sample_categories.json"
    _run(sample_slice, tmp_path / "out", "--lvis-categories", str(lvis), *runner_args)
    assert file_digests(tmp_path / "out") == reference[1]


def test_same_bytes_on_dask(sample_slice, reference, tmp_path):
    from distributed import Client, LocalCluster

    lvis = ROOT / "sample_data" / "lvis_sample_categories.json"
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
    )
    client = Client(cluster)
    try:
        _run(
            sample_slice,
            tmp_path / "out",
            "--lvis-categories",
            str(lvis),
            "--runner",
            "DaskRunner",
            f"--dask_client_address={cluster.scheduler_address}",
        )
    finally:
        client.close()
        cluster.close()
    assert file_digests(tmp_path / "out") == reference[1]


def test_partitions_follow_the_input_size_unless_given(posts_file, exclude_file, built, tmp_path):
    """Without --partitions the input's size picks the count (recorded in the manifest); any
    count gives the same tables."""
    from pipelines.options import PARTITION_INPUT_BYTES, partitions_for_inputs

    manifest = built[0]
    assert manifest["config"]["partitions"] == 16  # a small input: the fewest

    def size(*files: tuple[str, float]) -> int:
        return partitions_for_inputs(
            [{"path": path, "size_bytes": int(n * PARTITION_INPUT_BYTES)} for path, n in files]
        )

    assert size(("posts-0.jsonl", 40), ("posts-1.csv", 40)) == 80
    assert size(("posts.jsonl", 80.5)) == 81
    assert size(("posts.jsonl.gz", 20)) == size(("posts.parquet", 20)) == 80
    assert size(("posts.parquet", 1)) == 16
    assert size(("posts.jsonl", 10_000)) == 4096  # parts of a read batch stay rows, not crumbs

    three = _run(
        posts_file, tmp_path / "out", "--exclude-media", str(exclude_file), "--partitions", "3"
    )
    assert three["config"]["partitions"] == 3
    assert three["counts"] == manifest["counts"]
    tables = {o["path"]: o["sha256"] for o in three["outputs"]}
    assert tables == {o["path"]: o["sha256"] for o in manifest["outputs"]}


def test_release_memory_is_harmless():
    """Trimming the C allocator's free memory (after each partition) keeps live data intact."""
    from pipelines.running import release_memory

    kept = [bytes(range(256)) * 4096 for _ in range(64)]
    freed = [bytearray(1 << 20) for _ in range(64)]
    del freed
    release_memory()
    release_memory()
    assert all(k == bytes(range(256)) * 4096 for k in kept)


def test_dry_run_checks_and_writes_nothing(posts_file, tmp_path):
    assert _run(posts_file, tmp_path / "out", "--dry-run") is None
    assert not (tmp_path / "out").exists()


def test_bad_options_and_inputs_are_clear_errors(posts_file, tmp_path):
    with pytest.raises(InputDataError, match="no input files match"):
        _run(tmp_path / "missing*.jsonl", tmp_path / "out")
    with pytest.raises(ConfigError, match="needs its file"):
        _run(posts_file, tmp_path / "out", "--taxonomy", "lvis")
    with pytest.raises(ConfigError, match="min-posts"):
        _run(posts_file, tmp_path / "out", "--min-posts", "0")
    bad_exclude = tmp_path / "eval.txt"
    bad_exclude.write_text("not-a-hash\n")
    with pytest.raises(InputDataError, match=r"eval\.txt:1"):
        _run(posts_file, tmp_path / "out", "--exclude-media", str(bad_exclude))


def test_command_line_error_is_one_line(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.build_graph",
            "--input",
            str(tmp_path / "none.jsonl"),
            "--output",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


def test_reads_fsspec_urls_and_globs(posts_file, built, tmp_path):
    """A file:// URL glob reads the same posts as the plain path."""
    url = f"file://{posts_file.parent}/*.jsonl"
    manifest = _run(url, tmp_path / "out")
    assert manifest["counts"]["read"] == built[0]["counts"]["read"]
    assert manifest["inputs"][0]["size_bytes"] == posts_file.stat().st_size


def test_engine_free_path_keeps_the_same_posts_and_graph(
    posts_file, exclude_file, built, sample_slice, reference
):
    """datagraph.local_graph (no Beam) applies the same rules: same counts, same graph bytes."""
    from datagraph.dedup import ExcludeSet
    from datagraph.local_graph import build_graph_from_posts
    from datagraph.taxonomy import load_taxonomy

    manifest, output = built
    local = build_graph_from_posts([str(posts_file)], exclude=ExcludeSet.read(exclude_file))
    assert local.dropped == manifest["counts"]["dropped"]
    assert (local.posts, local.labelled_posts) == (
        manifest["counts"]["kept"],
        manifest["counts"]["labelled_posts"],
    )

    lvis = load_taxonomy("lvis", ROOT / "sample_data" / "lvis_sample_categories.json")
    saved = build_graph_from_posts([str(sample_slice)], lvis).graph.save(
        output.parent / "local_graph"
    )
    digests = {f"graph/{k}": v for k, v in file_digests(saved).items()}
    assert digests == {k: v for k, v in reference[1].items() if k.startswith("graph/")}


def test_a_killed_run_leaves_no_complete_looking_output_and_a_rerun_gives_the_same_bytes(
    posts_file, sample_slice, reference, tmp_path, kill_midway
):
    """SIGKILL once the rerun has begun writing its tables over an older complete output: no
    manifest is left (the directory does not look complete), and the next run removes what
    killed writers leave and writes exactly the bytes of an uninterrupted run."""
    out = tmp_path / "out"
    _run(posts_file, out)  # an older, different, complete output in the same directory
    lvis = ROOT / "sample_data" / "lvis_sample_categories.json"
    args = ["--input", str(sample_slice), "--output", str(out), "--quiet"]
    args += ["--lvis-categories", str(lvis)]
    started = time.time_ns()

    def writing_tables() -> bool:
        return any(p.stat().st_mtime_ns > started for p in out.glob("*.parquet") if p.exists())

    kill_midway([sys.executable, "-m", "pipelines.build_graph", *args], writing_tables)
    assert not (out / "manifest.json").exists()
    leftovers = [out / ".vocabulary.parquet.k1ll3d.tmp", out / ".graph.k1ll3d.tmp"]
    leftovers[0].write_bytes(b"PAR1 half")
    leftovers[1].mkdir()
    (leftovers[1] / "nodes.parquet").write_bytes(b"half")
    run(args)
    assert file_digests(out) == reference[1]
