"""How a label graph is stored: the node and edge schemas, and deterministic, checked files.

A saved graph is a directory of ``nodes.parquet``, ``edges.parquet`` and ``graph.json`` (format,
version, counts, each file's sha256, how the graph was built). Rows are sorted and the Parquet
writer settings fixed, so the same graph gives the same bytes; files are written to a
temporary place and renamed, so a crash never leaves half a graph. See docs/graph.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datagraph.errors import DatagraphError

GRAPH_FORMAT = "datagraph.label_graph"
GRAPH_FORMAT_VERSION = 1
NODE_KINDS = ("synset", "hashtag", "class")
EDGE_KINDS = ("hypernym", "alias", "cooccurs", "in_class")
FILES = ("nodes.parquet", "edges.parquet")
NODE_SORT_KEY = ("kind", "node_id")
EDGE_SORT_KEY = ("kind", "source", "target")

NODES_SCHEMA = pa.schema(
    [
        ("node_id", pa.string()),
        ("kind", pa.string()),
        ("label", pa.string()),  # synset: first lemma; hashtag: canonical; class: class name
        ("n_posts", pa.int64()),  # synset: own posts; hashtag: summed over raw forms; class: null
        ("raw_forms", pa.list_(pa.string())),  # hashtag only, sorted
        ("synset_id", pa.string()),  # synset: itself; class: the class's synset
        ("taxonomy", pa.string()),  # class only
        ("class_id", pa.int64()),  # class only
    ]
)
EDGES_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("target", pa.string()),
        ("kind", pa.string()),
        ("confidence", pa.float32()),  # alias
        ("n_posts", pa.int64()),  # alias, cooccurs
        ("pmi", pa.float64()),  # cooccurs: ln(n_ab * N / (n_a * n_b)); null when unknown
    ]
)
_PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "row_group_size": 1 << 20,
    "data_page_size": 1 << 20,
    "version": "2.6",
}


def sorted_table(table: pa.Table, key: tuple[str, ...]) -> pa.Table:
    """The table sorted by string key columns (code-point order), stable for equal keys.

    Each key column is dictionary-encoded and its distinct values ranked, so the row sort is
    an integer lexsort: several times faster than sorting millions of strings directly.
    """
    if table.num_rows == 0:
        return table.combine_chunks()
    ranks = [_ranks(table.column(name)) for name in key]
    return table.take(pa.array(np.lexsort(ranks[::-1]))).combine_chunks()


def _ranks(column: pa.ChunkedArray) -> np.ndarray:
    """Each value's rank among the column's distinct values (code-point order)."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    dictionary = encoded.dictionary
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[pc.sort_indices(dictionary).to_numpy()] = np.arange(len(dictionary))
    return rank[encoded.indices.to_numpy(zero_copy_only=False)]


def conform_table(table: pa.Table, schema: pa.Schema, what: str) -> pa.Table:
    """The table cast to ``schema`` (same column names required); key columns must be non-null."""
    if table.schema.names != schema.names:
        raise DatagraphError(
            f"label graph {what}: expected columns {schema.names}, got {table.schema.names}"
        )
    # Always cast: Parquet reads lists back as list<element: ...>, which compares equal to
    # list<item: ...> but would change the bytes of a re-saved file.
    table = table.cast(schema)
    for name in ("node_id", "source", "target", "kind"):
        if name in schema.names and table.column(name).null_count:
            raise DatagraphError(f"label graph {what}: column {name} has nulls")
    return table


def parquet_bytes(table: pa.Table, row_group_size: int | None = None) -> bytes:
    """The table as Parquet bytes with fixed writer settings (deterministic output);
    ``row_group_size`` overrides the default of 2**20 rows."""
    sink = io.BytesIO()
    options = dict(_PARQUET_OPTIONS)
    if row_group_size is not None:
        options["row_group_size"] = row_group_size
    pq.write_table(table.replace_schema_metadata(None), sink, **options)
    return sink.getvalue()


def read_header(path: Path) -> dict:
    """graph.json, checked: format name, a version this code reads, a files section."""
    if not path.is_file():
        raise DatagraphError(f"{path}: missing; {path.parent} is not a saved label graph")
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatagraphError(f"corrupt graph file {path}: not valid JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != GRAPH_FORMAT:
        raise DatagraphError(f"{path}: not a label graph header (format is not {GRAPH_FORMAT!r})")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DatagraphError(f"corrupt graph file {path}: format_version {version!r}")
    if version > GRAPH_FORMAT_VERSION:
        raise DatagraphError(
            f"{path}: label graph format version {version}, this datagraph reads version "
            f"{GRAPH_FORMAT_VERSION}; upgrade datagraph or rebuild the graph"
        )
    if not isinstance(header.get("files"), dict):
        raise DatagraphError(f"corrupt graph file {path}: no files section")
    return header


def read_parquet(path: Path, expected_sha256: str | None) -> pa.Table:
    """One graph table, after checking its bytes against the sha256 in graph.json."""
    if not path.is_file():
        raise DatagraphError(f"{path}: missing from the label graph directory")
    if expected_sha256 is None:
        raise DatagraphError(
            f"corrupt graph file {path.parent / 'graph.json'}: no sha256 for {path.name}"
        )
    # Read into Arrow-owned memory: parsing Parquet from a Python bytes object made the
    # interpreter abort at exit now and then (pyarrow 25 with polars loaded).
    try:
        with pa.OSFile(str(path), "rb") as stream:
            data = stream.read_buffer()
    except OSError as exc:
        raise DatagraphError(f"{path}: cannot read ({exc})") from None
    if hashlib.sha256(data).hexdigest() != expected_sha256:
        raise DatagraphError(
            f"corrupt graph file {path}: sha256 does not match graph.json (changed or truncated)"
        )
    try:
        return pq.read_table(pa.BufferReader(data))
    except (OSError, pa.ArrowException) as exc:
        raise DatagraphError(f"corrupt graph file {path}: {exc}") from None


def write_atomic(path: Path, write: Callable[[Any], Any]) -> None:
    """Write one file through a temporary file beside it, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(temp, 0o644)  # mkstemp makes 0600; outputs are meant to be read by others
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Remove what killed writers left in ``directory``: the hidden ``.<name>.<random>.tmp``
    files and directories of ``write_atomic`` / ``replace_directory`` and the ``.<name>.<hex>.old``
    directories a replaced graph is moved to. Returns what was removed.

    Call it only on an output directory no other run is writing into: a live writer's temporary
    file looks the same as a dead one's.
    """
    removed = []
    if not directory.is_dir():
        return removed
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if not (name.startswith(".") and name.endswith((".tmp", ".old"))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def replace_directory(path: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into a fresh directory beside ``path`` and rename it into place.

    An existing label graph at ``path`` is moved aside first and removed after; a crash leaves
    either the old graph, nothing, or the new one complete, plus at most a hidden temp dir.
    """
    is_graph = (path / "graph.json").is_file()
    if path.exists() and not is_graph and (not path.is_dir() or any(path.iterdir())):
        raise DatagraphError(
            f"{path}: exists and is not a saved label graph; refusing to replace it"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        os.chmod(temp, 0o755)
        for name, data in files.items():  # graph.json is last: a directory without it is no graph
            with open(temp / name, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
        _fsync_dir(temp)
        if path.exists():
            old = path.parent / f".{path.name}.{uuid.uuid4().hex}.old"
            os.replace(path, old)
            os.replace(temp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(temp, path)
        _fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
