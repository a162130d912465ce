"""pipelines.io: the shuffle format round-trips, and written tables do not depend on part order."""

from __future__ import annotations

import random

import polars as pl
import pyarrow as pa

from pipelines.io import pack_frame, sorted_table, unpack_frame


def test_packed_frames_come_back_equal():
    frame = pl.DataFrame(
        {
            "post_id": ["a", "b", None],
            "media_phash": pl.Series([1, None, 2**64 - 1], dtype=pl.UInt64),
            "tags": [["#x", "#y"], [], None],
        }
    )
    data = pack_frame(frame)
    assert isinstance(data, bytes)
    assert unpack_frame(data).equals(frame)
    assert unpack_frame(pack_frame(frame.clear())).schema == frame.schema


def test_sorted_table_is_the_same_whatever_the_order_of_rows():
    rows = [("s", i % 3, None if i % 4 else "f", f"e{i % 5}") for i in range(40)]
    schema = pa.schema(
        [("source", pa.string()), ("line", pa.int64()), ("field", pa.string()), ("e", pa.string())]
    )
    tables = []
    for seed in range(3):
        random.Random(seed).shuffle(rows)
        table = pa.Table.from_pylist(
            [dict(zip(schema.names, r, strict=True)) for r in rows], schema
        )
        tables.append(sorted_table(table, ["source", "line"]))
    assert tables[0].equals(tables[1]) and tables[1].equals(tables[2])
    assert tables[0].column("line").to_pylist() == sorted(r[1] for r in rows)
