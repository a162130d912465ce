"""Rebuilding the snapshot from WordNet 3.0 gives the committed bytes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from datagraph.errors import TaxonomyError
from datagraph.resources import wordnet_snapshot_dir
from datagraph.wordnet_build import (
    DEBIAN_WORDNET_DIR,
    LEXNAMES,
    SNAPSHOT_FILES,
    build_snapshot,
    lexnames_file_text,
)


def test_lexnames_file_has_the_45_wordnet_lines():
    lines = lexnames_file_text().splitlines()
    assert len(lines) == 45 == len(LEXNAMES)
    assert lines[0] == "00\tadj.all\t3"
    assert lines[5] == "05\tnoun.animal\t1"
    assert lines[44] == "44\tadj.ppl\t3"


@pytest.mark.skipif(
    not (DEBIAN_WORDNET_DIR / "index.sense").is_file(),
    reason="WordNet 3.0 source not installed (apt-get install wordnet-base wordnet-sense-index)",
)
def test_rebuild_matches_committed_snapshot(tmp_path):
    header = build_snapshot(tmp_path, DEBIAN_WORDNET_DIR)
    committed = json.loads((wordnet_snapshot_dir() / "snapshot.json").read_text())
    assert header == committed
    for name in (*SNAPSHOT_FILES, "snapshot.json"):
        assert (tmp_path / name).read_bytes() == (wordnet_snapshot_dir() / name).read_bytes()


def test_missing_wordnet_source_is_a_clear_error_and_writes_nothing(tmp_path):
    source = tmp_path / "dict"
    source.mkdir()
    out = tmp_path / "out"
    missing = r"missing index\.noun, data\.noun, noun\.exc, index\.sense"
    with pytest.raises(TaxonomyError, match=missing):
        build_snapshot(out, source)
    assert not out.exists()


@pytest.mark.skipif(not (DEBIAN_WORDNET_DIR / "index.sense").is_file(), reason="no WordNet source")
def test_source_missing_sense_index_is_named(tmp_path):
    source = tmp_path / "dict"
    shutil.copytree(
        DEBIAN_WORDNET_DIR, source, ignore=shutil.ignore_patterns("index.sense", "*.gz")
    )
    with pytest.raises(TaxonomyError, match=r"index\.sense"):
        build_snapshot(tmp_path / "out", Path(source))
