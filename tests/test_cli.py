"""The datagraph command: help, real output, one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "datagraph.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_help_lists_commands():
    result = _run("--help")
    assert result.returncode == 0
    for command in ("taxonomy", "sample", "summarize", "normalize", "map", "graph", "demo"):
        assert command in result.stdout


def test_taxonomy_info_json_for_lvis(sample_dir):
    result = _run(
        "taxonomy",
        "info",
        "lvis",
        "--path",
        str(sample_dir / "lvis_sample_categories.json"),
        "--json",
        "--show",
        "2",
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["classes"] == 63 and info["unresolved"] == 0
    assert [c["name"] for c in info["first_classes"]] == ["airplane", "apple"]


def test_bad_arguments_give_one_line_and_exit_2(tmp_path):
    result = _run("taxonomy", "info", "lvis1k")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown taxonomy 'lvis1k'; "
        "choose one of: wordnet, visual, lvis, imagenet1k, synsets"
    ]
    garbled = tmp_path / "lvis.json"
    garbled.write_text('{"categories": [}')
    result = _run("taxonomy", "info", "lvis", "--path", str(garbled))
    assert result.returncode == 2
    assert f"error: {garbled}:1:17: not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr
    result = _run("summarize", str(tmp_path / "*.parquet"))
    assert result.returncode == 2 and "no input files match" in result.stderr
    result = _run("sample", "generate", "--posts", "0")
    assert result.returncode == 2


def test_sample_generate_then_summarize(tmp_path):
    result = _run("sample", "generate", "--out", str(tmp_path), "--posts", "300", "--seed", "5")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "posts.parquet").is_file()
    result = _run("summarize", str(tmp_path / "posts.jsonl"), "--json")
    summary = json.loads(result.stdout)
    assert summary["rows_read"] == 300 + 1 and summary["dead_letters"] == 1


def test_normalize_command_prints_json_lines():
    result = _run("normalize", "#DogsOfInstagram", "like4like", "", "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["canonical"] for r in rows] == ["dog", "like 4 like", ""]
    assert [r["stop_reason"] for r in rows] == [None, "spam", "empty"]


def test_normalize_command_reports_a_bad_stoplist_in_one_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("no tab here\n", encoding="utf-8")
    result = _run("normalize", "dog", "--stoplist", str(bad))
    assert result.returncode == 2
    assert "bad.tsv:1" in result.stderr
    assert "Traceback" not in result.stderr


def test_map_command_prints_json_lines(sample_dir):
    result = _run(
        "map",
        "#GoldenRetrievers",
        "like4like",
        "--taxonomy",
        "lvis",
        "--path",
        str(sample_dir / "lvis_sample_categories.json"),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0]["synset_id"] == "golden_retriever.n.01"
    assert rows[0]["class_name"] == "golden_retriever"
    assert rows[1]["unmapped_reason"] == "stopword"


def test_map_command_reports_a_bad_alias_file_in_one_line(tmp_path):
    bad = tmp_path / "aliases.tsv"
    bad.write_text("dog\tdog.n.99\n", encoding="utf-8")
    result = _run("map", "dog", "--aliases", str(bad))
    assert result.returncode == 2
    assert "aliases.tsv:1" in result.stderr and "not a WordNet 3.0 noun synset" in result.stderr


def test_map_command_with_the_corpus_context(tmp_path):
    from pipelines.count_tags import run as count_tags

    posts = tmp_path / "posts.jsonl"
    rows = [(str(i), ["#spring", "#flower", "#blossom"]) for i in (1, 2, 3)]
    rows += [("4", ["#dog"]), ("5", ["#cat"])]
    lines = [json.dumps({"post_id": post_id, "hashtags": tags}) for post_id, tags in rows]
    posts.write_text("\n".join(lines) + "\n")
    count_tags(["--input", str(posts), "--output", str(tmp_path / "counts"), "--quiet"])
    # in this process (the model is loaded once for the whole test run), not a subprocess
    from typer.testing import CliRunner

    from datagraph.cli import app

    argv = ["map", "spring", "--corpus-context", str(tmp_path / "counts"), "--json"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["unmapped_reason"] == "abstract_sense"  # the season
    result = _run("map", "spring", "--corpus-context", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "no tag co-occurrence counts" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_build_graph(tmp_path):
    posts = tmp_path / "posts.jsonl"
    posts.write_text('{"post_id": "1", "hashtags": ["#dog", "#beach"]}\n')
    result = _run("run", "build-graph", "--input", str(posts), "--output", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"]["kept"] == 1
    assert "apitools" not in result.stderr
