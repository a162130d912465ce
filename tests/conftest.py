"""Shared fixtures: the WordNet snapshot, the external data in ../shared/data (optional), and
killing a pipeline process midway (the crash tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from datagraph.wordnet import WordNet

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def wn() -> WordNet:
    return WordNet.load()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip: the project must run without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"external data not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return PROJECT_ROOT / "sample_data"


def sample_slice_file(directory: Path, n_lines: int) -> Path:
    """The first ``n_lines`` lines of sample_data/posts.jsonl (duplicates, re-uploads, spam and
    bad rows included) as ``directory/posts.jsonl``: the pipeline tests' input."""
    lines = (PROJECT_ROOT / "sample_data" / "posts.jsonl").read_text().splitlines()[:n_lines]
    path = directory / "posts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def sample_slice_of(tmp_path_factory) -> Callable[[int], Path]:
    """``sample_slice_of(n)``: a new file of the first n sample posts (``sample_slice_file``)."""
    return lambda n_lines: sample_slice_file(tmp_path_factory.mktemp("slice"), n_lines)


@pytest.fixture(scope="session")
def sample_slice(sample_slice_of) -> Path:
    """The first 3,000 sample posts, shared by the pipeline tests."""
    return sample_slice_of(3000)


def _kill_midway(argv: list[str], ready: Callable[[], bool], timeout: float = 180.0) -> None:
    """Start ``argv`` in its own process group, SIGKILL the group as soon as ``ready()`` holds.

    Fails the test when the process ends before ``ready()`` held (it was not killed midway)."""
    process = subprocess.Popen(
        argv,
        cwd=PROJECT_ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if process.poll() is not None:
                pytest.fail(
                    f"{argv[2]} ended (exit {process.returncode}) before it could be killed "
                    f"midway: {process.stderr.read().decode()[-2000:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"{argv[2]} did not reach the point to kill it within {timeout} s")
            time.sleep(0.002)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL


@pytest.fixture
def kill_midway() -> Callable[[list[str], Callable[[], bool]], None]:
    """``kill_midway(argv, ready)``: run a pipeline command, SIGKILL it when ``ready()``."""
    return _kill_midway
