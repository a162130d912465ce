"""A human-readable report of a training shard set (``datagraph report out/lvis1k``).

``write_report`` reads the set's manifest.json (format in docs/shards.md) and writes, next to it
in ``report/``: ``report.md``, ``class_histogram.png`` (the long tail before and after
resampling) and ``shard_rows.png`` (rows per shard). It reads only the manifest, never the
shards, so it takes well under a second for any size of shard set, and it checks what the
manifest promises (counts reconcile, sampling error recomputed from the histograms) so a reader
sees a broken build at the top of the report instead of in a training run.

The output is deterministic: the same manifest gives the same report.md and, with the same
matplotlib, the same PNG bytes, so a report can be committed or diffed. Plots use matplotlib's
Agg canvas directly (no pyplot, no display, no global backend switch), matplotlib's default
style whatever the user's matplotlibrc says, and PNGs without the "Software" text chunk that
would carry the matplotlib version.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datagraph.errors import DatagraphError, location
from datagraph.schema import read_manifest

MANIFEST_NAME = "manifest.json"
TOP_CLASSES = 20
SHARD_TABLE_LIMIT = 64
NAME_TICKS_LIMIT = 50  # above this many classes the x axis shows ranks, not names
FIGSIZE = (9.0, 4.5)  # inches
DPI = 100
PNG_METADATA = {"Software": None}  # no matplotlib version string in the file

# Manifest fields the report reads, with the JSON type each must have.
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "seed": int,
    "taxonomy": dict,
    "taxonomy.id": str,
    "classes": list,
    "counts": dict,
    "counts.read": int,
    "counts.bad": int,
    "counts.dropped": dict,
    "counts.kept": int,
    "counts.rows": int,
    "counts.repeats_added": int,
    "sampling": dict,
    "sampling.strategy": str,
    "sampling.params": dict,
    "sampling.histogram_before": list,
    "sampling.histogram_after": list,
    "sampling.expected_after": list,
    "sampling.error": dict,
    "shards": list,
}
_PER_CLASS = ("histogram_before", "histogram_after", "expected_after", "target_share")
_CLASS_KEYS = ("class_id", "name")
_CLASS_HEADER = ("class", "class_id", "before", "after", "expected_after")
_SHARD_KEYS = ("path", "shard", "rows", "bytes")


@dataclass(frozen=True)
class ClassStats:
    """One class of the manifest with its counts before and after resampling."""

    index: int
    class_id: int
    name: str
    before: float
    after: float
    expected_after: float


# --- reading the manifest ---------------------------------------------------------------------


def load_manifest(shard_dir: str | Path) -> dict[str, Any]:
    """``<shard_dir>/manifest.json``, checked to hold every field the report reads.

    Raises ``DatagraphError`` naming the file (and field) when it is missing, not JSON, not
    written by build_shards, or lacks a field, so the CLI prints one line instead of a traceback.
    """
    path = Path(shard_dir) / MANIFEST_NAME
    manifest = read_manifest(path, "build_shards", "shard set")
    for field, kind in _REQUIRED.items():
        _check_field(manifest, field, kind, path)
    _check_entries(manifest, path)
    return manifest


def _check_field(manifest: dict, field: str, kind: type | tuple[type, ...], path: Path) -> None:
    """Raise unless the dotted ``field`` exists and is a ``kind`` (bools are not numbers)."""
    value: Any = manifest
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        raise DatagraphError(f"{location(path, field=field)}: missing from the shard manifest")
    if not isinstance(value, kind) or isinstance(value, bool):
        expected = getattr(kind, "__name__", "number")
        raise DatagraphError(
            f"{location(path, field=field)}: expected {expected}, got {type(value).__name__}"
        )


def _check_entries(manifest: dict, path: Path) -> None:
    """Per-class lists have one number per class; classes and shards have their keys."""
    n_classes = len(manifest["classes"])
    sampling = manifest["sampling"]
    for name in _PER_CLASS:
        values = sampling.get(name)
        if values is None and name == "target_share":
            continue  # only used to recompute one error number
        field = f"sampling.{name}"
        if not isinstance(values, list) or len(values) != n_classes:
            size = len(values) if isinstance(values, list) else type(values).__name__
            raise DatagraphError(
                f"{location(path, field=field)}: {size} entries for {n_classes} classes"
            )
        if not all(_is_number(v) for v in values):
            raise DatagraphError(f"{location(path, field=field)}: entries must be numbers")
    for field, keys in (("classes", _CLASS_KEYS), ("shards", _SHARD_KEYS)):
        for i, entry in enumerate(manifest[field]):
            if not isinstance(entry, dict) or any(key not in entry for key in keys):
                raise DatagraphError(
                    f"{location(path, field=f'{field}[{i}]')}: needs keys {', '.join(keys)}"
                )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def class_stats(manifest: dict[str, Any]) -> list[ClassStats]:
    """The manifest's classes joined with their per-class sampling numbers, in index order."""
    sampling = manifest["sampling"]
    return [
        ClassStats(i, entry["class_id"], str(entry["name"]), before, after, expected)
        for i, (entry, before, after, expected) in enumerate(
            zip(
                manifest["classes"],
                sampling["histogram_before"],
                sampling["histogram_after"],
                sampling["expected_after"],
                strict=True,
            )
        )
    ]


# --- checks ---------------------------------------------------------------------------------


def count_mismatches(manifest: dict[str, Any]) -> list[str]:
    """What does not add up in ``counts`` (docs/shards.md); empty when everything reconciles.

    read = bad + sum(dropped) + kept, rows = kept + repeats_added, rows = sum of shard rows.
    """
    counts = manifest["counts"]
    dropped = sum(counts["dropped"].values())
    shard_rows = sum(shard["rows"] for shard in manifest["shards"])
    checks = [
        ("read", counts["read"], "bad + dropped + kept", counts["bad"] + dropped + counts["kept"]),
        ("rows", counts["rows"], "kept + repeats_added", counts["kept"] + counts["repeats_added"]),
        ("rows", counts["rows"], "sum of shard rows", shard_rows),
    ]
    return [
        f"{name} {fmt(value)} ≠ {what} {fmt(other)}"
        for name, value, what, other in checks
        if value != other
    ]


def total_variation(p: Sequence[float], q: Sequence[float]) -> float:
    """Half the L1 distance between ``p`` and ``q`` normalized to sum 1 (NaN if one sums to 0).

    >>> total_variation([1, 1, 0], [0, 1, 1])
    0.5
    """
    a, b = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if a.sum() <= 0 or b.sum() <= 0:
        return math.nan
    return float(0.5 * np.abs(a / a.sum() - b / b.sum()).sum())


# --- formatting -----------------------------------------------------------------------------


def fmt(value: Any, decimals: int = 1) -> str:
    """A number with thousands separators: ints as ints, floats to ``decimals`` places.

    >>> fmt(1234567), fmt(1234.0), fmt(2.25, 2), fmt(float("nan")), fmt("lvis")
    ('1,234,567', '1,234.0', '2.25', 'n/a', 'lvis')
    """
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:,.{decimals}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _whole(value: float) -> int | float:
    """``value`` as an int when it is whole (a median of ints), so it prints without decimals."""
    return int(value) if float(value).is_integer() else value


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A GitHub-flavoured Markdown table; numbers right-aligned, ``|`` in cells escaped."""
    numeric = [
        bool(rows) and all(_numeric_cell(row[i]) for row in rows) for i in range(len(header))
    ]
    align = ["---:" if right else "---" for right in numeric]
    lines = [_table_row(header), _table_row(align)]
    lines += [_table_row([fmt(cell) if _is_number(cell) else cell for cell in row]) for row in rows]
    return lines


def _numeric_cell(cell: Any) -> bool:
    """A number, or text that reads as one (``0.0123``, ``75.0%``, ``n/a``): right-aligned."""
    return _is_number(cell) or bool(re.fullmatch(r"-?[\d,]+(\.\d+)?%?|n/a", str(cell)))


def _table_row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


def _code(text: Any) -> str:
    """``text`` as a Markdown code span, so names like ``bow_(weapon)`` render verbatim."""
    return "`" + str(text).replace("`", "'") + "`"


# --- plots ----------------------------------------------------------------------------------


def _require_matplotlib() -> None:
    """Fail with what to install, before any plotting import, when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise DatagraphError("the report plots need matplotlib: pip install matplotlib") from None


def _agg_figure() -> Any:
    """A matplotlib Figure on an Agg canvas (no display needed), at the fixed size and dpi."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _save_png(figure: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=DPI, metadata=PNG_METADATA)
    return path


def _default_style() -> Any:
    """matplotlib's default style, whatever the user's matplotlibrc says (same bytes anywhere)."""
    import matplotlib.style

    return matplotlib.style.context("default")


def _positive_or_nan(values: np.ndarray) -> np.ndarray:
    """Zero counts cannot sit on a log axis: leave them out of the line (NaN draws a gap)."""
    return np.where(values > 0, values, np.nan)


def plot_class_histogram(
    before: Sequence[float],
    after: Sequence[float],
    path: str | Path,
    *,
    title: str,
    class_names: Sequence[str] | None = None,
) -> Path:
    """The long-tail plot: count per class before and after resampling, as a PNG at ``path``.

    Classes are ranked by ``before`` (descending, ties by index) and ``after`` is drawn in the
    same order, so up-sampling shows as the right-hand tail rising towards the head. The y axis
    is logarithmic; zero counts are not drawn (gaps). Class names label the x axis when there
    are at most 50 classes, ranks otherwise. Returns ``path``.
    """
    before_arr, after_arr = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if before_arr.shape != after_arr.shape or before_arr.ndim != 1:
        raise ValueError(f"before and after need one count per class: {len(before)}, {len(after)}")
    if class_names is not None and len(class_names) != len(before_arr):
        raise ValueError(f"{len(class_names)} class names for {len(before_arr)} classes")
    order = np.argsort(-before_arr, kind="stable")
    ranks = np.arange(1, len(order) + 1)
    _require_matplotlib()
    with _default_style():
        figure = _agg_figure()
        axes = figure.add_subplot()
        # "before" drawn thin and on top: where resampling keeps a class's count, both show.
        lines = ((before_arr, "before resampling", 1.2, 3), (after_arr, "after resampling", 2.5, 2))
        for values, label, width, zorder in lines:
            masked = _positive_or_nan(values[order])
            axes.step(ranks, masked, where="mid", label=label, linewidth=width, zorder=zorder)
        axes.set_yscale("log")
        if not (np.any(before_arr > 0) or np.any(after_arr > 0)):
            axes.set_ylim(1, 10)  # nothing positive to scale the log axis to
        _label_classes(axes, ranks, order, class_names)
        axes.set_ylabel("count (log scale; zero counts not drawn)")
        axes.set_title(title)
        axes.grid(True, which="major", alpha=0.3)
        axes.legend()
        figure.tight_layout()
        return _save_png(figure, path)


def _label_classes(
    axes: Any, ranks: np.ndarray, order: np.ndarray, class_names: Sequence[str] | None
) -> None:
    if class_names is not None and 0 < len(ranks) <= NAME_TICKS_LIMIT:
        axes.set_xticks(ranks, [class_names[i] for i in order], rotation=90, fontsize=7)
        axes.set_xlabel("class, by count before resampling")
    else:
        axes.set_xlabel("class rank by count before resampling")
    if len(ranks):
        axes.set_xlim(0.5, len(ranks) + 0.5)


def plot_shard_rows(shards: Sequence[dict[str, Any]], path: str | Path, *, title: str) -> Path:
    """A bar per shard (in manifest order) with its row count, coloured by split; a PNG.

    Uneven shards show at a glance (a stuck writer, a split much smaller than asked for).
    """
    _require_matplotlib()
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter

    with _default_style():
        figure = _agg_figure()
        axes = figure.add_subplot()
        positions = np.arange(len(shards))
        for colour, split in enumerate(_splits(shards)):
            where = [i for i, shard in enumerate(shards) if _split(shard) == split]
            rows = [shards[i]["rows"] for i in where]
            axes.bar(positions[where], rows, width=0.9, color=f"C{colour}", label=split)
        top = max((shard["rows"] for shard in shards), default=0)
        axes.set_ylim(0, max(top, 1) * 1.2)  # headroom for the legend
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        axes.set_xlabel("shard (manifest order)")
        axes.set_ylabel("rows")
        axes.set_title(title)
        if shards:
            axes.legend(loc="upper right", ncols=len(_splits(shards)))
        figure.tight_layout()
        return _save_png(figure, path)


def _split(shard: dict[str, Any]) -> str:
    return str(shard.get("split") or "(no split)")


def _splits(shards: Sequence[dict[str, Any]]) -> list[str]:
    """Split names in order of first appearance."""
    return list(dict.fromkeys(_split(shard) for shard in shards))


# --- report sections ------------------------------------------------------------------------


def _config_section(manifest: dict[str, Any]) -> list[str]:
    sampling, taxonomy = manifest["sampling"], manifest["taxonomy"]
    rows = [
        ["strategy", _code(sampling["strategy"])],
        ["params", _code(json.dumps(sampling["params"], sort_keys=True))],
        ["seed", manifest["seed"]],
        ["taxonomy", _code(taxonomy["id"])],
        ["classes", len(manifest["classes"])],
        ["row group size", manifest.get("shard_row_group_size", "n/a")],
        ["code version", manifest.get("code_version", "n/a")],
    ]
    options = json.dumps(manifest.get("config", {}), indent=2, sort_keys=True)
    return [
        "## Configuration",
        "",
        *markdown_table(["setting", "value"], rows),
        "",
        "All options, resolved:",
        "",
        "```json",
        options,
        "```",
    ]


def _counts_section(manifest: dict[str, Any]) -> list[str]:
    counts = manifest["counts"]
    rows: list[list[Any]] = [["read", counts["read"]], ["bad", counts["bad"]]]
    rows += [[f"dropped: {reason}", n] for reason, n in sorted(counts["dropped"].items())]
    rows += [[name, counts[name]] for name in ("kept", "rows", "repeats_added")]
    problems = count_mismatches(manifest)
    if problems:
        verdict = "**Counts do not reconcile:** " + "; ".join(problems) + "."
    else:
        verdict = (
            "**Counts reconcile:** read = bad + dropped + kept, "
            "rows = kept + repeats_added = sum of shard rows."
        )
    return ["## Counts", "", *markdown_table(["count", "posts or rows"], rows), "", verdict]


def _histogram_section(stats: list[ClassStats], image: str) -> list[str]:
    with_posts = sum(1 for s in stats if s.before > 0)
    with_rows = sum(1 for s in stats if s.after > 0)
    return [
        "## Class histogram",
        "",
        f"![classes ranked by posts before resampling, before and after]({image})",
        "",
        f"{fmt(len(stats))} classes: {fmt(with_posts)} with posts before resampling, "
        f"{fmt(with_rows)} with rows after, {fmt(len(stats) - with_posts)} with no posts.",
    ]


def _sampling_error_section(manifest: dict[str, Any]) -> list[str]:
    sampling = manifest["sampling"]
    target = sampling.get("target_share")
    series = {
        "achieved": sampling["histogram_after"],
        "expected": sampling["expected_after"],
        "target": target,
    }
    rows = []
    for key in ("achieved_vs_expected_tv", "achieved_vs_target_tv", "expected_vs_target_tv"):
        first, second = key.removesuffix("_tv").split("_vs_")
        p, q = series[first], series[second]
        recomputed = math.nan if p is None or q is None else total_variation(p, q)
        rows.append([f"{first} vs {second}", _tv(sampling["error"].get(key)), _tv(recomputed)])
    return [
        "## Sampling error",
        "",
        "Total variation distance between class distributions (0 = identical, 1 = disjoint).",
        "",
        *markdown_table(["distributions", "recorded", "recomputed from histograms"], rows),
    ]


def _tv(value: Any) -> str:
    """A total variation distance to 4 decimals; ``n/a`` when absent or undefined."""
    return f"{value:.4f}" if _is_number(value) and not math.isnan(value) else "n/a"


def _class_rows(stats: Sequence[ClassStats]) -> list[list[Any]]:
    return [
        [_code(s.name), s.class_id, _whole(s.before), _whole(s.after), float(s.expected_after)]
        for s in stats
    ]


def _classes_section(stats: list[ClassStats]) -> list[str]:
    top = sorted(stats, key=lambda s: (-s.after, s.index))[:TOP_CLASSES]
    rare = sorted((s for s in stats if s.before > 0), key=lambda s: (s.before, s.index))
    zero = sum(1 for s in stats if s.before <= 0)
    return [
        f"## Top {TOP_CLASSES} classes by rows after resampling",
        "",
        *markdown_table(_CLASS_HEADER, _class_rows(top)),
        "",
        f"## The {TOP_CLASSES} rarest classes with at least one post",
        "",
        *markdown_table(_CLASS_HEADER, _class_rows(rare[:TOP_CLASSES])),
        "",
        "## Classes with zero posts",
        "",
        f"{fmt(zero)} of {fmt(len(stats))} classes have no posts.",
    ]


def _shards_section(shards: list[dict[str, Any]], image: str) -> list[str]:
    if not shards:
        return ["## Shards", "", "The manifest lists no shards."]
    summary = [
        [what, min(values), _whole(statistics.median(values)), max(values)]
        for what, values in (
            ("rows", [s["rows"] for s in shards]),
            ("bytes", [s["bytes"] for s in shards]),
        )
    ]
    lines = [
        "## Shards",
        "",
        f"{fmt(len(shards))} shards.",
        "",
        *markdown_table(["measure", "min", "median", "max"], summary),
        "",
        f"![rows per shard]({image})",
    ]
    if len(shards) <= SHARD_TABLE_LIMIT:
        table = [[_code(s["path"]), _split(s), s["shard"], s["rows"], s["bytes"]] for s in shards]
        lines += ["", *markdown_table(["path", "split", "shard", "rows", "bytes"], table)]
    else:
        lines += ["", f"More than {SHARD_TABLE_LIMIT} shards: see manifest.json for each one."]
    return lines


def _splits_section(shards: list[dict[str, Any]]) -> list[str]:
    total = sum(s["rows"] for s in shards)
    rows = []
    for split in _splits(shards):
        members = [s for s in shards if _split(s) == split]
        split_rows = sum(s["rows"] for s in members)
        share = f"{100 * split_rows / total:.1f}%" if total else "n/a"
        rows.append([split, len(members), split_rows, sum(s["bytes"] for s in members), share])
    return ["## Splits", "", *markdown_table(["split", "shards", "rows", "bytes", "share"], rows)]


# --- the report -----------------------------------------------------------------------------


def render_report(manifest: dict[str, Any], shard_dir: str | Path) -> str:
    """report.md's text for a checked manifest (images linked by file name, no timestamps)."""
    stats = class_stats(manifest)
    sections = [
        [
            f"# Shard set report: {_code(shard_dir)}",
            "",
            f"From {_code(MANIFEST_NAME)}, format_version {manifest['format_version']}.",
        ],
        _config_section(manifest),
        _counts_section(manifest),
        _histogram_section(stats, "class_histogram.png"),
        _sampling_error_section(manifest),
        _classes_section(stats),
        _shards_section(manifest["shards"], "shard_rows.png"),
        _splits_section(manifest["shards"]),
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


def write_report(shard_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write report.md, class_histogram.png and shard_rows.png for the shard set at ``shard_dir``.

    ``out_dir`` defaults to ``<shard_dir>/report``. Returns the path of report.md. Raises
    ``DatagraphError`` when the manifest is missing or not a build_shards manifest.
    """
    manifest = load_manifest(shard_dir)
    out = Path(out_dir) if out_dir is not None else Path(shard_dir) / "report"
    out.mkdir(parents=True, exist_ok=True)
    sampling, stats = manifest["sampling"], class_stats(manifest)
    plot_class_histogram(
        sampling["histogram_before"],
        sampling["histogram_after"],
        out / "class_histogram.png",
        title=f"{manifest['taxonomy']['id']}: {len(stats):,} classes, "
        f"{sampling['strategy']} resampling",
        class_names=[s.name for s in stats],
    )
    shard_title = f"rows per shard: {shard_dir}"
    plot_shard_rows(manifest["shards"], out / "shard_rows.png", title=shard_title)
    report = out / "report.md"
    report.write_text(render_report(manifest, shard_dir), encoding="utf-8")
    return report
