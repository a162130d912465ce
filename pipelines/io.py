"""Writing tables from a pipeline: our own DoFn, sorted rows, fixed Parquet bytes, atomic rename.

Beam's file sinks are not used: on Dask they lose data (temp files never finalized) and
``WriteToParquet(num_shards=N)`` is not deterministic. Instead every row of a table is brought
to one key, sorted, and written by ``WriteTableFn`` through a temporary file that is renamed
into place, so a rerun or another runner gives the same bytes. One table is held in one
worker's memory while it is written: fine for the vocabulary-sized tables of build_graph.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import apache_beam as beam
import pyarrow as pa

from datagraph.graph_files import parquet_bytes, write_atomic


def table_from_rows(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    """Row tuples (in schema order) as a table."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.Table.from_arrays(
        [pa.array(list(values), field.type) for values, field in zip(columns, schema, strict=True)],
        schema=schema,
    )


def write_table(directory: str, name: str, table: pa.Table) -> tuple[str, str, int, str]:
    """Write ``<directory>/<name>.parquet`` atomically; return (name, file, rows, sha256)."""
    data = parquet_bytes(table)
    path = Path(directory) / f"{name}.parquet"
    write_atomic(path, lambda handle: handle.write(data))
    return (name, path.name, table.num_rows, hashlib.sha256(data).hexdigest())


class WriteTable(beam.PTransform):
    """Rows (tuples in schema order) -> one sorted Parquet file; emits its file info."""

    def __init__(self, directory: str, name: str, schema: pa.Schema, sort_key: Any = None):
        super().__init__(label=f"Write {name}")
        self.directory = directory
        self.name = name
        self.schema = schema
        self.sort_key = sort_key

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        directory, name, schema, sort_key = self.directory, self.name, self.schema, self.sort_key

        def write(keyed: tuple[str, Any]) -> tuple[str, str, int, str]:
            ordered = sorted(keyed[1], key=sort_key)
            return write_table(directory, name, table_from_rows(ordered, schema))

        # An empty table is still written: an empty PCollection would give no group at all,
        # so a marker row None joins every table's rows and is removed again.
        marker = rows.pipeline | f"Marker {name}" >> beam.Create([None])
        return (
            (rows, marker)
            | f"Merge {name}" >> beam.Flatten()
            | f"Key {name}" >> beam.Map(lambda row: (name, row))
            | f"Group {name}" >> beam.GroupByKey()
            | f"Drop marker {name}"
            >> beam.Map(lambda kv: (kv[0], [r for r in kv[1] if r is not None]))
            | f"File {name}" >> beam.Map(write)
        )
