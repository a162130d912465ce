"""FlinkRunner failures that end in one sentence, through the real CLI in a subprocess.

Beam's Flink job-server jar is not available here (Maven Central cannot be reached), so these
tests cover the paths that end before a job server runs: the jar Beam cannot download, a jar path
that does not exist or is not a jar, no ``java``, and an unreachable Flink REST endpoint. The
download is pointed at a closed local proxy so the test fails the same way on a machine that can
reach Maven Central. What runs a pipeline the way FlinkRunner does (PortableRunner, LOOPBACK) is
tested in tests/test_build_graph.py; docs/flink.md says what was and was not verified.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.options import flink_job_server_jar_name, parse_build_graph_args

ROOT = Path(__file__).resolve().parent.parent
LVIS = ROOT / "sample_data" / "lvis_sample_categories.json"


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def posts(tmp_path: Path) -> Path:
    path = tmp_path / "posts.jsonl"
    path.write_text('{"post_id": "p1", "user_id": "u1", "hashtags": ["#dog"]}\n')
    return path


def _build_graph(posts: Path, tmp_path: Path, *flink_args: str) -> subprocess.CompletedProcess:
    """Run ``python -m pipelines.build_graph --runner FlinkRunner ...`` with an empty jar cache
    and HTTPS through a closed proxy (so no jar can be downloaded, online or not)."""
    proxy = f"http://127.0.0.1:{_closed_port()}"
    env = dict(os.environ, https_proxy=proxy, HTTPS_PROXY=proxy)
    env |= {"no_proxy": "localhost,127.0.0.1", "NO_PROXY": "localhost,127.0.0.1"}
    command = [
        sys.executable,
        "-m",
        "pipelines.build_graph",
        "--input",
        str(posts),
        "--output",
        str(tmp_path / "out"),
        "--lvis-categories",
        str(LVIS),
        "--quiet",
        "--runner",
        "FlinkRunner",
        f"--jar_cache_dir={tmp_path / 'jars'}",
        *flink_args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)


def _one_error(result: subprocess.CompletedProcess) -> str:
    """The run's only ``error:`` line, after checking exit code 2 and no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == errors[0]
    assert "docs/flink.md" in errors[0]
    return errors[0]


@pytest.mark.parametrize("flink_version", ["2.2", "1.20"])
def test_job_server_jar_that_cannot_be_downloaded(posts, tmp_path, flink_version):
    result = _build_graph(posts, tmp_path, f"--flink_version={flink_version}")
    error = _one_error(result)
    name = flink_job_server_jar_name(flink_version)
    assert f"--flink_job_server_jar=/path/to/{name}" in error
    assert "https://repo.maven.apache.org/maven2/org/apache/beam/" in error


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_job_server_jar_path_that_does_not_exist(posts, tmp_path, dry_run):
    missing = tmp_path / "nowhere" / "job-server.jar"
    extra = ["--dry-run"] if dry_run else []
    result = _build_graph(posts, tmp_path, f"--flink_job_server_jar={missing}", *extra)
    error = _one_error(result)
    assert f"--flink_job_server_jar {missing} does not exist" in error
    assert flink_job_server_jar_name("2.2") in error
    assert not (tmp_path / "out").exists()


def test_job_server_jar_that_is_not_a_jar(posts, tmp_path):
    page = tmp_path / "job-server.jar"
    page.write_text("<html>404 Not Found</html>\n")
    error = _one_error(_build_graph(posts, tmp_path, f"--flink_job_server_jar={page}"))
    assert f"{page} is not a jar (zip) file" in error


def test_cached_job_server_jar_that_is_not_a_jar(posts, tmp_path):
    cached = tmp_path / "jars" / flink_job_server_jar_name("2.2")
    cached.parent.mkdir()
    cached.write_bytes(b"PK\x03\x04 truncated")
    error = _one_error(_build_graph(posts, tmp_path))
    assert f"{cached} is not a jar (zip) file" in error


def test_no_java_for_the_job_server(posts, tmp_path):
    java = tmp_path / "no-jdk" / "java"
    error = _one_error(_build_graph(posts, tmp_path, f"--job_server_java_launcher={java}"))
    assert "which is not installed" in error
    assert "--job_server_java_launcher=" in error


def test_unreachable_flink_master_with_uber_jar(posts, tmp_path):
    master = f"localhost:{_closed_port()}"
    result = _build_graph(posts, tmp_path, f"--flink_master={master}", "--flink_submit_uber_jar")
    error = _one_error(result)
    assert f"REST endpoint http://{master}:" in error
    assert "--flink_master" in error


def test_flink_checks_leave_other_runners_alone(tmp_path):
    argv = ["--input", "posts.jsonl", "--output", str(tmp_path / "out")]
    missing = f"--flink_job_server_jar={tmp_path / 'missing.jar'}"
    _, _, beam_args = parse_build_graph_args([*argv, "--runner", "FnApiRunner", missing])
    assert beam_args == ["--runner=FnApiRunner", missing]
