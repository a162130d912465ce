"""The on-disk form of label noise scores: what ``pipelines.score_noise`` writes and
``pipelines.build_shards --noise`` reads.

A noise directory holds ``part-00000-of-00016.parquet`` ... and ``manifest.json``:

- **Parts**: rows of ``noise.NOISE_SCORE_SCHEMA``, one per post and raw tag that maps to a
  synset. All rows of a post are in one part, ``noise_part_of``: ``mix(xxh64(post_id, 0),
  STREAM_NOISE_PART) mod N`` (``datagraph.stable_hash``), so a consumer that needs a post's
  scores together reads one part. Within a part rows are sorted by post_id, raw_tag, then every
  other column, and written with fixed Parquet settings (``graph_files.parquet_bytes``, row
  groups of ``NOISE_ROW_GROUP_SIZE``): the same rows give the same bytes, in whatever order
  they arrived. Every part is written, empty ones too, each through a temporary file and a
  rename.
- **manifest.json**, written last (a directory without one is incomplete): pipeline
  ``score_noise``, format_version 1, ``parts`` [{path, rows, sha256}] in part order, the
  writer's ``config`` and whatever else it records (counts, inputs).

Writing: ``write_noise_output`` (a whole table, one process), or for a pipeline the same three
steps it is made of: ``noise_part_of`` to route rows, ``write_noise_part`` per part,
``write_noise_manifest`` once every part is written. Reading: ``open_noise_output`` (manifest
and each part's footer checked, no data read), ``iter_noise_scores`` (one part in batches, the
scored (post_id, raw_tag, noise_score) rows a consumer joins on), ``read_noise_scores`` (all of
it, for small outputs and tests).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datagraph.errors import DatagraphError, InputDataError
from datagraph.graph_files import parquet_bytes, write_atomic
from datagraph.noise import NOISE_SCORE_SCHEMA  # light: the scorer loads its model when used
from datagraph.schema import read_manifest
from datagraph.stable_hash import STREAM_NOISE_PART, hash_strings, mix

NOISE_FORMAT_VERSION = 1
NOISE_PIPELINE = "score_noise"
JOIN_COLUMNS = ("post_id", "raw_tag", "noise_score")
NOISE_PART_SEED = 0  # the part of a post does not depend on any run's seed
NOISE_ROW_GROUP_SIZE = 1 << 16  # rows per row group: readers stream a part in pieces this big
_RESERVED = ("format_version", "pipeline", "code_version", "config", "parts", "rows", "schema")


# --- writing ---------------------------------------------------------------------------------
def noise_part_name(part: int, num_parts: int) -> str:
    """``part-00003-of-00016.parquet``."""
    return f"part-{part:05d}-of-{num_parts:05d}.parquet"


def noise_part_of(post_ids: pa.Array | pa.ChunkedArray | Sequence[str], num_parts: int):
    """The part (int64, 0..num_parts-1) each post's rows go to: a stable hash of the post id,
    the same on every machine and run (never Python's ``hash()``).

    >>> noise_part_of(["p1", "p1", "p2"], 4).tolist()
    [2, 2, 1]
    """
    if num_parts < 1:
        raise DatagraphError(f"a noise output needs at least one part, not {num_parts}")
    values = post_ids.to_pylist() if isinstance(post_ids, pa.Array | pa.ChunkedArray) else post_ids
    hashes = mix(hash_strings(list(values), NOISE_PART_SEED), STREAM_NOISE_PART)
    return (hashes % np.uint64(num_parts)).astype(np.int64)


def conform_noise_table(table: pa.Table) -> pa.Table:
    """The table as ``NOISE_SCORE_SCHEMA`` (its columns, in order, cast), checked: every post_id
    present, every noise_score null or in [0, 1] (NaN is not a score)."""
    names = NOISE_SCORE_SCHEMA.names
    missing = [name for name in names if name not in table.column_names]
    if missing:
        raise DatagraphError(f"noise scores lack column(s) {', '.join(missing)}")
    if table.column("post_id").null_count:
        raise DatagraphError("noise scores: post_id is null in some rows")
    table = table.select(names).cast(NOISE_SCORE_SCHEMA)
    _check_scores(table.column("noise_score"), "noise scores")
    return table


def _check_scores(scores: pa.Array | pa.ChunkedArray, where: str) -> None:
    """Raise when a score is NaN or outside [0, 1]: a broken scorer, never a label's score."""
    valid = pc.drop_null(scores)
    bad = pc.or_(pc.is_nan(valid), pc.or_(pc.less(valid, 0), pc.greater(valid, 1)))
    if pc.any(bad).as_py():
        value = pc.filter(valid, bad)[0].as_py()
        raise InputDataError(f"{where}: noise_score {value} is not in [0, 1]")


def sorted_noise_rows(table: pa.Table) -> pa.Table:
    """Rows in part order: post_id, raw_tag, then every other column (nulls first), so the
    order never depends on the order rows arrived in."""
    keys = [(name, "ascending", "at_start") for name in table.column_names]
    return table.sort_by(keys).combine_chunks()


def write_noise_part(directory: Path | str, part: int, num_parts: int, table: pa.Table) -> dict:
    """Write part ``part`` of ``num_parts`` (rows in any order; each must belong to this part)
    atomically; returns its manifest entry {path, rows, sha256}."""
    table = conform_noise_table(table)
    if table.num_rows and not (noise_part_of(table.column("post_id"), num_parts) == part).all():
        raise DatagraphError(
            f"rows given for noise part {part} of {num_parts} belong to other parts "
            "(route rows with noise_part_of)"
        )
    data = parquet_bytes(sorted_noise_rows(table), row_group_size=NOISE_ROW_GROUP_SIZE)
    name = noise_part_name(part, num_parts)
    write_atomic(Path(directory) / name, lambda handle: handle.write(data))
    return {"path": name, "rows": table.num_rows, "sha256": hashlib.sha256(data).hexdigest()}


def write_noise_manifest(
    directory: Path | str,
    parts: Sequence[Mapping[str, Any]],
    config: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> dict:
    """After every part is written: remove part files of an earlier run that this run did not
    write, then write manifest.json (last) and return it.

    ``parts`` are ``write_noise_part``'s entries, one for each part 0..N-1 (any order);
    ``config`` is the writer's options; ``extra`` adds top-level sections (counts, inputs).
    """
    from datagraph import __version__

    directory = Path(directory)
    entries = sorted((dict(p) for p in parts), key=lambda p: p["path"])
    num_parts = len(entries)
    expected = [noise_part_name(i, num_parts) for i in range(num_parts)]
    if not entries or [p["path"] for p in entries] != expected:
        raise DatagraphError(
            f"{directory}: a noise manifest needs parts 0..{num_parts - 1} once each, got "
            f"{', '.join(p['path'] for p in entries[:4])}"
        )
    clash = sorted(set(extra or {}) & set(_RESERVED))
    if clash:
        raise DatagraphError(f"noise manifest: extra sections may not replace {clash}")
    for stale in directory.glob("part-*-of-*.parquet"):
        if stale.name not in expected:
            stale.unlink()
    manifest = {
        "format_version": NOISE_FORMAT_VERSION,
        "pipeline": NOISE_PIPELINE,
        "code_version": __version__,
        "config": dict(config),
        "parts": entries,
        "rows": sum(p["rows"] for p in entries),
        "schema": {"parts": [f"{f.name}: {f.type}" for f in NOISE_SCORE_SCHEMA]},
        **dict(extra or {}),
    }
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    write_atomic(directory / "manifest.json", lambda handle: handle.write(text.encode()))
    return manifest


def noise_counts(table: pa.Table) -> dict[str, Any]:
    """Rows, scored rows and unscored rows by reason: the counts a noise manifest records."""
    reasons = pc.value_counts(pc.drop_null(table.column("unscored_reason"))).to_pylist()
    unscored = {r["values"]: r["counts"] for r in sorted(reasons, key=lambda r: r["values"])}
    scored = table.num_rows - table.column("noise_score").null_count
    return {"rows": table.num_rows, "scored": scored, "unscored": unscored}


def write_noise_output(
    directory: Path | str,
    table: pa.Table,
    config: Mapping[str, Any],
    num_parts: int = 1,
    extra: Mapping[str, Any] | None = None,
) -> dict:
    """Write a whole noise score table (``NoiseScorer.score``'s) as a noise output directory:
    its manifest removed first (the directory is incomplete until the new one is written), the
    rows split into ``num_parts`` parts by post, each part written, manifest.json last with
    ``counts`` (``noise_counts``). Returns the manifest."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "manifest.json").unlink(missing_ok=True)
    table = conform_noise_table(table)
    part = noise_part_of(table.column("post_id"), num_parts)
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(num_parts + 1))
    entries = [
        write_noise_part(directory, i, num_parts, table.take(order[bounds[i] : bounds[i + 1]]))
        for i in range(num_parts)
    ]
    return write_noise_manifest(
        directory, entries, config, {"counts": noise_counts(table), **dict(extra or {})}
    )


# --- reading ---------------------------------------------------------------------------------
def read_noise_manifest(directory: Path | str) -> dict:
    """The manifest of a score_noise output, checked (clear one-line errors naming the file)."""
    file = Path(directory) / "manifest.json"
    return read_manifest(file, NOISE_PIPELINE, "noise score output", NOISE_FORMAT_VERSION)


def noise_part_paths(directory: Path | str, manifest: dict | None = None) -> list[Path]:
    """The part files a noise manifest lists, each checked to exist inside the directory."""
    directory = Path(directory)
    manifest = manifest if manifest is not None else read_noise_manifest(directory)
    parts = manifest.get("parts", [])
    if not isinstance(parts, list) or not all(isinstance(p, dict) and "path" in p for p in parts):
        raise DatagraphError(f"{directory / 'manifest.json'}: parts is not a list of {{path, ...}}")
    for part in parts:
        relative = PurePosixPath(str(part["path"]))
        if relative.is_absolute() or ".." in relative.parts:
            raise DatagraphError(
                f"{directory / 'manifest.json'}: part path {part['path']!r} leaves the directory"
            )
    paths = [directory / part["path"] for part in parts]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DatagraphError(
            f"{directory}: noise output is incomplete, missing {', '.join(missing[:3])}"
        )
    return paths


@dataclass(frozen=True)
class NoiseOutput:
    """A checked noise output: its manifest (and the manifest file's sha256, which names
    exactly this output) and its parts."""

    directory: Path
    manifest: dict
    manifest_sha256: str
    parts: tuple[Path, ...]
    rows: int


_JOIN_TYPES = {"post_id": pa.string(), "raw_tag": pa.string(), "noise_score": pa.float32()}


def open_noise_output(directory: Path | str) -> NoiseOutput:
    """The noise output in ``directory``, checked without reading its rows: manifest, every part
    present, each part's footer agreeing with the manifest's row count and holding the join
    columns with their types. Every problem is one line naming the file."""
    directory = Path(directory)
    manifest = read_noise_manifest(directory)
    paths = noise_part_paths(directory, manifest)
    if not paths:
        raise DatagraphError(f"{directory / 'manifest.json'}: lists no parts; rerun score_noise")
    for path, entry in zip(paths, manifest["parts"], strict=True):
        try:
            meta = pq.read_metadata(path)
            schema = meta.schema.to_arrow_schema()
        except (OSError, pa.ArrowException) as exc:
            raise DatagraphError(f"{path}: not a readable Parquet file ({exc})") from None
        if meta.num_rows != entry.get("rows"):
            raise DatagraphError(
                f"{path}: {meta.num_rows:,} rows but the noise manifest says {entry.get('rows')}; "
                "the output was changed after it was written: rerun score_noise"
            )
        for name, wanted in _JOIN_TYPES.items():
            found = schema.field(name).type if name in schema.names else None
            if found != wanted:
                raise DatagraphError(
                    f"{path}: column {name} is {found or 'missing'}, a noise part needs {wanted}"
                )
    digest = hashlib.sha256((directory / "manifest.json").read_bytes()).hexdigest()
    rows = sum(int(p["rows"]) for p in manifest["parts"])
    return NoiseOutput(directory, manifest, digest, tuple(paths), rows)


def iter_noise_scores(path: Path | str, batch_size: int = 65_536) -> Iterator[pl.DataFrame]:
    """One part's scored rows in batches: post_id, raw_tag, noise_score (Float32, not null).

    Unscored rows (null noise_score) are left out: to a consumer they say the same as no row.
    A score that is NaN or outside [0, 1] raises, naming the file.
    """
    file = pq.ParquetFile(path)
    for batch in file.iter_batches(batch_size=batch_size, columns=list(JOIN_COLUMNS)):
        _check_scores(batch.column("noise_score"), str(path))
        frame = pl.from_arrow(pa.Table.from_batches([batch]))
        frame = frame.drop_nulls(list(JOIN_COLUMNS))
        if frame.height:
            yield frame.cast({"noise_score": pl.Float32})


def read_noise_scores(directory: Path | str, columns: tuple[str, ...] = JOIN_COLUMNS) -> pa.Table:
    """Every part's ``columns`` as one table (for small outputs and tests; pipelines read the
    parts one by one)."""
    paths = noise_part_paths(directory)
    tables = [pq.read_table(path, columns=list(columns)) for path in paths]
    if not tables:
        return NOISE_SCORE_SCHEMA.empty_table().select(list(columns))
    return pa.concat_tables(tables)
