"""Security rules across the package: user files are data, outputs stay in their directory,
and configuration files that are wrong are one clear error naming the file.

- No module of datagraph/ or pipelines/ can unpickle, eval or exec: the source is scanned, so a
  new ``import pickle`` or ``eval(`` fails here.
- Post ids become file names nowhere: a run over posts whose ids are paths writes only inside
  its output directory.
- Names derived from user values (the embedding cache's model key, WebDataset keys) are safe.
- Each configuration file a pipeline reads, when malformed, stops the run before any work with
  an error that names the file.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from datagraph.embeddings import _model_key
from datagraph.errors import DatagraphError
from datagraph.webdataset import webdataset_key
from pipelines.build_graph import run as run_graph
from pipelines.build_shards import run as run_shards

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*(ROOT / "datagraph").rglob("*.py"), *(ROOT / "pipelines").rglob("*.py")])
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"}
UNSAFE_CALLS = {"eval", "exec", "compile", "__import__"}
UNSAFE_ATTRIBUTES = {("yaml", "load"), ("yaml", "unsafe_load"), ("torch", "load")}


def _unsafe_uses(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if isinstance(node, ast.ImportFrom) and node.module:
                names.append(node.module)
            found += [f"imports {n}" for n in names if n.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Name) and function.id in UNSAFE_CALLS:
                found.append(f"calls {function.id}()")
            if (
                isinstance(function, ast.Attribute)
                and isinstance(function.value, ast.Name)
                and (function.value.id, function.attr) in UNSAFE_ATTRIBUTES
            ):
                found.append(f"calls {function.value.id}.{function.attr}()")
    return [f"{path.relative_to(root)}:{use}" for use in found]


def test_no_module_can_unpickle_eval_or_exec():
    assert len(SOURCES) > 40
    assert [use for path in SOURCES for use in _unsafe_uses(path)] == []


def test_the_scan_finds_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import pickle\nfrom yaml import load\nyaml.load(x)\neval('1')\n")
    assert _unsafe_uses(bad, tmp_path) == [
        "bad.py:imports pickle",
        "bad.py:calls yaml.load()",
        "bad.py:calls eval()",
    ]


HOSTILE_IDS = ["../../etc/passwd", "/tmp/owned", "..", "a/../../b", "C:\\x", "~root", ".hidden"]


def test_post_ids_that_look_like_paths_never_leave_the_output_directory(tmp_path):
    posts = tmp_path / "in" / "posts.jsonl"
    posts.parent.mkdir()
    lines = [
        {"post_id": post_id, "user_id": f"u{i}", "hashtags": ["#dog", "#cat"]}
        for i, post_id in enumerate(HOSTILE_IDS)
    ]
    posts.write_text("".join(json.dumps(line) + "\n" for line in lines))
    before = set(tmp_path.rglob("*"))
    graph = tmp_path / "work" / "graph"
    run_graph(["--input", str(posts), "--output", str(graph), "--quiet"])
    shards = tmp_path / "work" / "shards"
    args = ["--input", str(posts), "--graph", str(graph), "--output", str(shards), "--quiet"]
    manifest = run_shards([*args, "--num-shards", "2", "--webdataset"])
    assert manifest["counts"]["kept"] == len(HOSTILE_IDS)
    written = set(tmp_path.rglob("*")) - before
    assert written and all(path.is_relative_to(tmp_path / "work") for path in written)
    assert not Path("/tmp/owned").exists()


@pytest.mark.parametrize("value", [*HOSTILE_IDS, "x" * 500, "sentence-transformers/../.."])
def test_names_made_from_user_values_are_plain_file_names(value):
    for name in (_model_key(value), webdataset_key(value, 3)):
        assert "/" not in name and "\\" not in name
        assert name not in {"", ".", ".."} and not name.startswith(".")
        assert len(name) <= 64


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("option", "text"),
    [
        ("--lvis-categories", "{not json"),
        ("--lvis-categories", '{"categories": [{"id": "x"}]}'),
        ("--lvis-categories", "[]"),
        ("--aliases", "dog\n"),
        ("--exclude-media", "not-a-hash\n"),
    ],
    ids=["lvis-not-json", "lvis-bad-category", "lvis-wrong-shape", "aliases", "exclude-media"],
)
def test_malformed_configuration_files_are_one_error_naming_the_file(option, text, tmp_path):
    posts = _write(tmp_path / "posts.jsonl", '{"post_id": "1", "hashtags": ["#dog"]}\n')
    config = _write(tmp_path / "config.txt", text)
    out = tmp_path / "out"
    with pytest.raises(DatagraphError) as caught:
        run_graph(["--input", str(posts), "--output", str(out), "--quiet", option, str(config)])
    assert str(config) in str(caught.value) or config.name in str(caught.value)
    assert not (out / "manifest.json").exists()
