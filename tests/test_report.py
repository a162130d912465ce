"""datagraph.report on a small but realistic shard-set manifest (format: docs/shards.md)."""

from __future__ import annotations

import doctest
import hashlib
import json
import re
from pathlib import Path

import pytest

import datagraph.report as report_module
from datagraph.errors import DatagraphError
from datagraph.report import (
    count_mismatches,
    load_manifest,
    markdown_table,
    plot_class_histogram,
    total_variation,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N_CLASSES = 30
ZERO_CLASSES = (7, 19, 28)  # class indices with no posts


def _histograms() -> tuple[list[int], list[int], list[float], list[float]]:
    """A long tail spread over class indices (rank order != index order), and its flattening.

    Class index i has rank (i * 7) % 30 + 1 (a permutation); posts fall off as 5000 / rank^1.5.
    Resampling is repeat-factor style: a class of share f gets max(1, sqrt(t / f)) copies per
    post (t = 0.05), so the head keeps its count and the tail rises (one label per post).
    """
    before = [
        0 if i in ZERO_CLASSES else int(5000 / ((i * 7) % 30 + 1) ** 1.5) + 1 for i in range(30)
    ]
    total = sum(before)
    expected = [round(b * max(1.0, (0.05 * total / b) ** 0.5), 2) if b else 0.0 for b in before]
    after = [round(x) for x in expected]
    after[4] += 1  # sampling noise: achieved differs a little from expected
    target = [x / sum(expected) for x in expected]
    return before, after, expected, target


def _shards(split_rows: dict[str, list[int]]) -> list[dict]:
    entries = []
    for split, rows in split_rows.items():
        for shard, n in enumerate(rows):
            path = f"{split}/part-{shard:05d}-of-{len(rows):05d}.parquet"
            digest = hashlib.sha256(path.encode()).hexdigest()
            entries.append(
                {
                    "path": path,
                    "split": split,
                    "shard": shard,
                    "rows": n,
                    "bytes": 1000 + 37 * n,
                    "sha256": digest,
                }
            )
    return entries


def make_manifest(**overrides) -> dict:
    """A build_shards manifest laid out exactly as docs/shards.md describes."""
    before, after, expected, target = _histograms()
    rows = sum(after)  # one label per post here, so rows carrying a class sum to all rows
    kept = sum(before)
    dropped = {"no_labels": 1234, "duplicate_media": 321, "no_media": 12}
    shard_rows = [rows // 4, rows // 4, rows // 4]
    shards = _shards({"train": [*shard_rows], "val": [rows - sum(shard_rows)]})
    classes = [
        {
            "index": i,
            "class_id": 100 + i,
            "name": f"class_{i:02d}",
            "synset_id": f"thing.n.{i + 1:02d}",
        }
        for i in range(N_CLASSES)
    ]
    classes[0]["name"] = "bow_(weapon)"
    manifest = {
        "format_version": 1,
        "pipeline": "build_shards",
        "config": {
            "strategy": "sqrt",
            "seed": 7,
            "shards": 3,
            "val_fraction": 0.25,
            "row_group_size": 4096,
        },
        "code_version": "0.1.0",
        "seed": 7,
        "taxonomy": {
            "id": "lvis",
            "fingerprint": "ab" * 32,
            "classes": N_CLASSES,
            "class_list_sha256": "cd" * 32,
        },
        "classes": classes,
        "graph": {"path": "out/graph", "manifest_sha256": "ef" * 32},
        "inputs": [{"path": "posts/part-0.jsonl.gz", "size_bytes": 123456}],
        "counts": {
            "read": 17 + sum(dropped.values()) + kept,
            "bad": 17,
            "dropped": dropped,
            "kept": kept,
            "rows": rows,
            "repeats_added": rows - kept,
        },
        "sampling": {
            "strategy": "sqrt",
            "params": {"power": 0.5},
            "histogram_before": before,
            "histogram_after": after,
            "expected_after": expected,
            "target_share": target,
            "error": {
                "achieved_vs_expected_tv": total_variation(after, expected),
                "achieved_vs_target_tv": total_variation(after, target),
                "expected_vs_target_tv": 0.0,
            },
        },
        "shard_row_group_size": 4096,
        "shards": shards,
        "outputs": [{"path": s["path"], "rows": s["rows"], "sha256": s["sha256"]} for s in shards],
        "schema": {"shards": ["post_id: string", "repeat: int32"]},
    }
    manifest.update(overrides)
    return manifest


def write_shard_set(directory: Path, manifest: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return directory


@pytest.fixture
def shard_dir(tmp_path: Path) -> Path:
    return write_shard_set(tmp_path / "lvis1k", make_manifest())


def section(text: str, heading: str) -> str:
    """The body of the ``## heading`` section of a report."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no section {heading!r}"
    return match.group(1)


def table_rows(body: str) -> list[list[str]]:
    """The cells of the first Markdown table in ``body``, header and separator left out."""
    lines = [line for line in body.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]


def test_write_report_writes_files(shard_dir):
    report = write_report(shard_dir)
    assert report == shard_dir / "report" / "report.md"
    for name in ("class_histogram.png", "shard_rows.png"):
        assert (report.parent / name).read_bytes().startswith(PNG_MAGIC)
    text = report.read_text(encoding="utf-8")
    assert text.startswith(f"# Shard set report: `{shard_dir}`")
    assert "![classes ranked by posts" in text and "(class_histogram.png)" in text


def test_report_is_byte_identical_across_runs(shard_dir, tmp_path):
    first = write_report(shard_dir, tmp_path / "a").parent
    second = write_report(shard_dir, tmp_path / "b").parent
    for name in ("report.md", "class_histogram.png", "shard_rows.png"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert b"Matplotlib" not in (first / "class_histogram.png").read_bytes()


def test_plot_class_histogram_is_deterministic(tmp_path):
    before, after, _, _ = _histograms()
    names = [f"c{i}" for i in range(len(before))]
    a = plot_class_histogram(before, after, tmp_path / "a.png", title="t", class_names=names)
    b = plot_class_histogram(before, after, tmp_path / "b.png", title="t", class_names=names)
    assert a.read_bytes().startswith(PNG_MAGIC)
    assert a.read_bytes() == b.read_bytes()
    many = plot_class_histogram(before * 10, after * 10, tmp_path / "many.png", title="ranks")
    assert many.read_bytes().startswith(PNG_MAGIC)


def test_plot_class_histogram_handles_zero_counts(tmp_path):
    all_zero = plot_class_histogram([0, 0, 0], [0, 0, 0], tmp_path / "zero.png", title="empty")
    assert all_zero.read_bytes().startswith(PNG_MAGIC)
    no_classes = plot_class_histogram([], [], tmp_path / "none.png", title="none")
    assert no_classes.read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(ValueError, match="one count per class"):
        plot_class_histogram([1, 2], [1], tmp_path / "bad.png", title="bad")


def test_report_counts_and_reconcile_line(shard_dir):
    manifest = make_manifest()
    counts = manifest["counts"]
    text = write_report(shard_dir).read_text(encoding="utf-8")
    cells = dict((row[0], row[1]) for row in table_rows(section(text, "Counts")))
    assert cells["read"] == f"{counts['read']:,}"
    assert "," in cells["read"]  # thousands separators
    assert cells["bad"] == "17"
    assert cells["dropped: no_labels"] == "1,234"
    assert cells["dropped: duplicate_media"] == "321"
    assert cells["kept"] == f"{counts['kept']:,}"
    assert cells["rows"] == f"{counts['rows']:,}"
    assert cells["repeats_added"] == f"{counts['repeats_added']:,}"
    assert "**Counts reconcile:**" in text


def test_report_says_when_counts_do_not_reconcile(tmp_path):
    manifest = make_manifest()
    manifest["counts"]["kept"] -= 5
    manifest["shards"][0]["rows"] += 2
    assert len(count_mismatches(manifest)) == 3
    text = write_report(write_shard_set(tmp_path / "s", manifest)).read_text(encoding="utf-8")
    assert "**Counts do not reconcile:**" in text
    assert "read " in text and "≠ bad + dropped + kept" in text and "≠ sum of shard rows" in text


def test_report_classes_in_order(shard_dir):
    manifest = make_manifest()
    names = [c["name"] for c in manifest["classes"]]
    before, after = (
        manifest["sampling"]["histogram_before"],
        manifest["sampling"]["histogram_after"],
    )
    text = write_report(shard_dir).read_text(encoding="utf-8")

    top = table_rows(section(text, "Top 20 classes by rows after resampling"))
    expected_top = sorted(range(N_CLASSES), key=lambda i: (-after[i], i))[:20]
    assert [row[0] for row in top] == [f"`{names[i]}`" for i in expected_top]
    assert top[0][1:4] == [
        str(100 + expected_top[0]),
        f"{before[expected_top[0]]:,}",
        f"{after[expected_top[0]]:,}",
    ]
    assert top[0][0] == "`bow_(weapon)`"  # class 0 has rank 1

    rare = table_rows(section(text, "The 20 rarest classes with at least one post"))
    with_posts = [i for i in range(N_CLASSES) if before[i] > 0]
    expected_rare = sorted(with_posts, key=lambda i: (before[i], i))[:20]
    assert [row[0] for row in rare] == [f"`{names[i]}`" for i in expected_rare]
    assert all(int(row[2].replace(",", "")) > 0 for row in rare)

    assert f"{len(ZERO_CLASSES)} of {N_CLASSES} classes have no posts." in text


def test_report_config_sampling_shards_and_splits(shard_dir):
    manifest = make_manifest()
    text = write_report(shard_dir).read_text(encoding="utf-8")
    config = dict(table_rows(section(text, "Configuration")))
    assert config["strategy"] == "`sqrt`"
    assert config["params"] == '`{"power": 0.5}`'
    assert config["seed"] == "7" and config["taxonomy"] == "`lvis`" and config["classes"] == "30"

    error = table_rows(section(text, "Sampling error"))
    recorded = manifest["sampling"]["error"]["achieved_vs_expected_tv"]
    assert error[0] == ["achieved vs expected", f"{recorded:.4f}", f"{recorded:.4f}"]

    shards = section(text, "Shards")
    assert "4 shards." in shards and "(shard_rows.png)" in shards
    rows = [s["rows"] for s in manifest["shards"]]
    assert f"| rows | {min(rows):,} |" in shards
    assert "`val/part-00000-of-00001.parquet`" in shards

    splits = {row[0]: row for row in table_rows(section(text, "Splits"))}
    assert list(splits) == ["train", "val"]
    assert splits["train"][1:3] == ["3", f"{sum(rows[:3]):,}"]
    assert splits["val"][1:3] == ["1", f"{rows[3]:,}"]


def test_report_markdown_tables_are_valid(shard_dir):
    text = write_report(shard_dir).read_text(encoding="utf-8")
    blocks = re.findall(r"(?:^\|.*\|\n)+", text, re.M)
    assert len(blocks) >= 8
    for block in blocks:
        lines = block.splitlines()
        widths = {line.count(" | ") for line in lines}
        assert len(widths) == 1, block  # every row has as many cells as the header
        assert re.fullmatch(r"\|( -{3,}:? \|)+", lines[1]), block
        assert len(lines) >= 3, block


def test_many_shards_are_summarized(tmp_path):
    manifest = make_manifest()
    rows = manifest["counts"]["rows"]
    per_shard = [rows // 100] * 99 + [rows - 99 * (rows // 100)]
    manifest["shards"] = _shards({"train": per_shard})
    text = write_report(write_shard_set(tmp_path / "big", manifest)).read_text(encoding="utf-8")
    shards = section(text, "Shards")
    assert "100 shards." in shards and "More than 64 shards" in shards
    assert "part-00050-of-00100" not in shards
    assert "**Counts reconcile:**" in text


def test_markdown_table_escapes_pipes():
    assert markdown_table(["a", "n"], [["x|y", 1234]]) == [
        "| a | n |",
        "| --- | ---: |",
        "| x\\|y | 1,234 |",
    ]


def test_missing_manifest(tmp_path):
    with pytest.raises(
        DatagraphError, match=r"manifest\.json: missing; .* not a complete shard set"
    ):
        write_report(tmp_path / "nowhere")


def test_manifest_not_json(tmp_path):
    (tmp_path / "manifest.json").write_text(
        '{"pipeline": "build_shards",\n  oops}', encoding="utf-8"
    )
    with pytest.raises(DatagraphError, match=r"manifest\.json:2:3: not valid JSON"):
        write_report(tmp_path)


@pytest.mark.parametrize("content", [[1, 2], {"pipeline": "build_graph", "format_version": 1}])
def test_not_a_build_shards_manifest(tmp_path, content):
    write_shard_set(tmp_path, content)
    with pytest.raises(DatagraphError, match=r"manifest\.json: not a build_shards manifest"):
        load_manifest(tmp_path)


def test_manifest_missing_field(tmp_path):
    manifest = make_manifest()
    del manifest["counts"]["kept"]
    write_shard_set(tmp_path, manifest)
    with pytest.raises(DatagraphError, match=r"manifest\.json \(field counts\.kept\): missing"):
        write_report(tmp_path)
    assert not (tmp_path / "report").exists()


def test_manifest_bad_histogram_and_version(tmp_path):
    manifest = make_manifest()
    manifest["sampling"]["histogram_after"] = manifest["sampling"]["histogram_after"][:-1]
    write_shard_set(tmp_path, manifest)
    with pytest.raises(DatagraphError, match=r"histogram_after\): 29 entries for 30 classes"):
        load_manifest(tmp_path)
    write_shard_set(tmp_path, make_manifest(format_version=2))
    with pytest.raises(DatagraphError, match="format_version 2"):
        load_manifest(tmp_path)


def test_docstring_examples():
    result = doctest.testmod(report_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
