"""Readers: every row is a post or a dead letter with file and line; no exception escapes."""

from __future__ import annotations

import csv
import gzip
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datagraph.errors import InputDataError
from datagraph.readers import detect_format, expand_inputs, parse_json_line, read_posts
from datagraph.schema import posts_table


def _read(path) -> tuple[pa.Table, pa.Table]:
    batches = list(read_posts(str(path), batch_size=3))
    posts = pa.concat_tables([b.posts for b in batches])
    dead = pa.concat_tables([b.dead_letters for b in batches])
    return posts, dead


def test_jsonl_with_bom_crlf_blank_lines_and_bad_rows(tmp_path):
    path = tmp_path / "posts.jsonl"
    lines = [
        b'\xef\xbb\xbf{"post_id": "1", "hashtags": ["#dog"]}',
        b'{"post_id": "2", "caption": "hi #cat"}',
        b"",
        b'{"post_id": "3", "hashtags": ["#a"], "x": NaN}',
        b'{"post_id": "4", "post_id": "5"}',
        b'{"post_id": "6", "caption": "\xff\xfe"}',
        b'{"post_id": "7"',
        b'{"post_id": "8"}',
    ]
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    posts, dead = _read(path)
    assert posts.column("post_id").to_pylist() == ["1", "2", "8"]
    assert dead.column("line").to_pylist() == [4, 5, 6, 7]
    errors = dead.column("error").to_pylist()
    assert errors[0] == "NaN is not valid JSON"
    assert errors[1] == "duplicate key 'post_id'"
    assert errors[2].startswith("not valid UTF-8")
    assert errors[3].startswith("invalid JSON")
    assert set(dead.column("source_file").to_pylist()) == {str(path)}


def test_gzip_and_truncated_gzip(tmp_path):
    rows = [json.dumps({"post_id": str(i), "hashtags": ["#dog"]}) for i in range(2000)]
    data = gzip.compress(("\n".join(rows) + "\n").encode())
    good = tmp_path / "good.jsonl.gz"
    good.write_bytes(data)
    posts, dead = _read(good)
    assert posts.num_rows == 2000 and dead.num_rows == 0
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    posts, dead = _read(cut)
    assert 0 < posts.num_rows < 2000
    assert dead.num_rows == 1
    assert dead.column("error")[0].as_py().startswith("file breaks off")
    assert dead.column("line")[0].as_py() >= posts.num_rows


def test_parquet_rows_are_validated(tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(
        pa.table({"post_id": ["a", None, "c"], "hashtags": [["#x"], ["#y"], None], "n": [1, 2, 3]}),
        path,
    )
    posts, dead = _read(path)
    assert posts.column("post_id").to_pylist() == ["a", "c"]
    assert posts.column("extra").to_pylist() == ['{"n":1}', '{"n":3}']
    assert dead.select(["line", "field"]).to_pylist() == [{"line": 2, "field": "post_id"}]


def test_not_a_parquet_file_is_one_dead_letter(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 nope")
    posts, dead = _read(path)
    assert posts.num_rows == 0 and dead.num_rows == 1
    assert "not a Parquet file" in dead.column("error")[0].as_py()


def test_csv_with_quoted_newlines_keeps_line_numbers(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text(
        "post_id,hashtags,caption,media_phash\n"
        '1,#dog #cat,"two\nlines",255\n'
        ",#x,no id,\n"
        '3,"[""#a"", ""#b""]",,0xff\n',
        encoding="utf-8",
    )
    posts, dead = _read(path)
    assert posts.column("post_id").to_pylist() == ["1", "3"]
    assert posts.column("hashtags").to_pylist() == [["#dog", "#cat"], ["#a", "#b"]]
    assert posts.column("caption").to_pylist() == ["two\nlines", None]
    assert posts.column("media_phash").to_pylist() == [255, 255]
    assert dead.select(["line", "field"]).to_pylist() == [{"line": 4, "field": "post_id"}]


def test_empty_file_yields_nothing(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert list(read_posts(str(path))) == []


def test_unknown_format_missing_file_and_no_match(tmp_path):
    with pytest.raises(InputDataError, match="unknown input format"):
        detect_format("posts.xlsx")
    assert detect_format("a/b.JSONL.GZ") == "jsonl"
    with pytest.raises(InputDataError, match="file not found"):
        list(read_posts(str(tmp_path / "nope.jsonl")))
    with pytest.raises(InputDataError, match="no input files match"):
        expand_inputs(str(tmp_path / "*.jsonl"))


def test_glob_expansion_is_sorted(tmp_path):
    for name in ("b.jsonl", "a.jsonl", "c.txt"):
        (tmp_path / name).write_text("")
    files = expand_inputs(str(tmp_path / "*.jsonl"))
    assert [f.rsplit("/", 1)[-1] for f in files] == ["a.jsonl", "b.jsonl"]


@pytest.mark.parametrize(
    "line",
    [
        '{"a": 1, "a": 2}',
        '{"a" : 1, "b": 2, "a" :3}',
        '{"a": 1, "b": {"c": 2, "c": 3}}',
        '{"\\u0061": 1, "a": 2}',
        '{"a": "{", "a": 1}',
        '{"x": "\\"a\\"", "a": 1, "a": 1}',
    ],
)
def test_duplicate_keys_are_refused_on_every_path(line):
    with pytest.raises(ValueError, match="duplicate key"):
        parse_json_line(line.encode())


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "post_id", "é", "{", '"q"', "a\\b"]),
            st.one_of(st.integers(), st.text(max_size=5), st.lists(st.text(max_size=3))),
        ),
        max_size=5,
    )
)
def test_fast_and_strict_parsing_agree(pairs):
    """Whatever the keys and values, the C fast path and the strict decoder give the same
    object, and a repeated key is always refused."""
    line = "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in pairs) + "}"
    keys = [k for k, _ in pairs]
    if len(set(keys)) < len(keys):
        with pytest.raises(ValueError, match="duplicate key"):
            parse_json_line(line.encode())
    else:
        assert parse_json_line(line.encode()) == dict(pairs)


# --- regressions found by the bad-input corpus and the fuzz tests below (issue 8) -----------
def _rows(path, **kwargs) -> tuple[list[str], list[dict]]:
    batches = list(read_posts(str(path), **kwargs))
    posts = [pid for b in batches for pid in b.posts.column("post_id").to_pylist()]
    return posts, [d for b in batches for d in b.dead_letters.to_pylist()]


def test_csv_row_with_invalid_utf8_is_one_dead_letter_and_the_next_rows_are_read(tmp_path):
    """Was: the decoder failed on the whole 8 KB block, so the good rows before the bad byte
    and every row after it were lost, and the dead letter named the wrong line."""
    path = tmp_path / "posts.csv"
    path.write_bytes(b"post_id,caption\n1,ok\n2,caf\xe9\n3,fine\n")
    posts, dead = _rows(path)
    assert posts == ["1", "3"]
    assert [(d["line"], d["field"], d["error"]) for d in dead] == [
        (3, "caption", "not valid UTF-8 (column 2)")
    ]
    assert "caf\\udce9" in dead[0]["raw"]
    path.write_bytes(b"post_id,cap\xfftion\n1,ok\n2,\n")  # a header name that is not UTF-8
    posts, dead = _rows(path)
    assert posts == ["2"]  # its cell is empty: no field under that name
    assert [(d["line"], d["error"]) for d in dead] == [
        (2, "not valid UTF-8 in the header (column 2)")
    ]


def test_csv_line_numbers_count_blank_lines(tmp_path):
    """Was: csv.DictReader's line_num lags behind skipped blank lines."""
    path = tmp_path / "posts.csv"
    path.write_text("post_id,caption\n\n\n,no id\n5,ok\n\n,again\n", encoding="utf-8")
    posts, dead = _rows(path)
    assert posts == ["5"]
    assert [d["line"] for d in dead] == [4, 7]


def test_csv_cells_have_no_size_limit(tmp_path):
    """Was: a cell over 128 KiB stopped the file ("field larger than field limit")."""
    path = tmp_path / "posts.csv"
    path.write_text(f"post_id,caption\n1,{'x' * 1_000_000} #dog\n2,after\n", encoding="utf-8")
    batches = list(read_posts(str(path)))
    captions = [c for b in batches for c in b.posts.column("caption").to_pylist()]
    assert [len(c) for c in captions] == [1_000_005, 5]


def test_csv_bad_cells_name_their_own_field(tmp_path):
    """Was: a hashtags cell nested 100,000 deep raised RecursionError out of the reader, and a
    bad media_phash ('²', 5,000 digits) was reported as a hashtags problem."""
    path = tmp_path / "posts.csv"
    deep = "[" * 100_000
    path.write_text(
        f"post_id,hashtags,media_phash\n1,{deep},\n2,#a,\u00b2\n3,#a,{'1' * 5000}\n4,#a,12\n",
        encoding="utf-8",
    )
    posts, dead = _rows(path)
    assert posts == ["4"]
    assert [(d["line"], d["field"]) for d in dead] == [
        (2, "hashtags"),
        (3, "media_phash"),
        (4, "media_phash"),
    ]
    assert dead[0]["error"] == "bad cell: nested too deeply"


def test_csv_quoting_errors_are_dead_letters_not_merged_cells(tmp_path):
    """Was: text after a closing quote was glued on, and an unterminated quote silently turned
    every later row into part of one caption."""
    path = tmp_path / "posts.csv"
    path.write_text(
        'post_id,caption\n1,"closed"then more\n2,fine\n3,"open\n4,swallowed\n', encoding="utf-8"
    )
    posts, dead = _rows(path)
    assert posts == ["2"]
    assert [(d["line"], d["error"].split(":")[0]) for d in dead] == [
        (2, "bad quoting"),
        (4, "unterminated quote"),
    ]


def _posts_parquet(n: int, row_group_size: int, **columns) -> bytes:
    table = pa.table({"post_id": [f"p{i}" for i in range(1, n + 1)], **columns})
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        row_group_size=row_group_size,
        compression="none",
        use_dictionary=False,
        write_statistics=False,
    )
    return sink.getvalue().to_pybytes()


def test_parquet_corrupt_row_group_costs_only_its_rows(tmp_path):
    """Was: the OSError of a corrupt page escaped the reader and stopped the pipeline."""
    data = bytearray(_posts_parquet(9, 3))
    column = pq.ParquetFile(pa.py_buffer(bytes(data))).metadata.row_group(1).column(0)
    data[column.data_page_offset : column.data_page_offset + 16] = b"\xff" * 16
    path = tmp_path / "corrupt.parquet"
    path.write_bytes(bytes(data))
    posts, dead = _rows(path, batch_size=2)
    assert posts == ["p1", "p2", "p3", "p7", "p8", "p9"]
    assert [d["line"] for d in dead] == [4]
    assert dead[0]["error"].startswith("rows 4-6 (row group 2) cannot be read: ")


def test_parquet_cells_python_cannot_hold_are_dead_letters(tmp_path):
    """Was: a string cell that is not UTF-8 (UnicodeDecodeError) or a timestamp after year 9999
    (OverflowError) escaped the reader."""
    marker = b"MARKER"
    data = bytearray(
        _posts_parquet(
            3,
            10,
            caption=["a", marker.decode(), "c"],
            created_at=pa.array([0, 253_402_300_800_000, 0], pa.timestamp("ms")),
        )
    )
    at = data.index(marker)
    data[at : at + len(marker)] = b"\xff" * len(marker)
    path = tmp_path / "cells.parquet"
    path.write_bytes(bytes(data))
    posts, dead = _rows(path)
    assert posts == ["p1", "p3"]
    assert [(d["line"], d["field"], d["error"]) for d in dead] == [
        (2, "caption", "caption is not valid UTF-8 (byte 0)")
    ]
    data = _posts_parquet(2, 10, created_at=pa.array([0, 253_402_300_800_000], pa.timestamp("ms")))
    path.write_bytes(data)
    posts, dead = _rows(path)
    assert posts == ["p1"]
    assert [(d["line"], d["field"]) for d in dead] == [(2, "created_at")]
    assert dead[0]["error"].startswith("created_at cannot be read: ")


def test_parquet_unknown_columns_json_cannot_hold_are_dead_letters(tmp_path):
    """Was: a binary or timestamp column the schema does not know raised TypeError from
    json.dumps. Now the rows that hold such a value are dead letters naming the column."""
    path = tmp_path / "extra.parquet"
    path.write_bytes(
        _posts_parquet(
            3,
            10,
            thumb=pa.array([None, b"\x89PNG", None], pa.binary()),
            seen=pa.array([None, None, 0], pa.timestamp("s")),
            likes=[1, 2, 3],
        )
    )
    posts, dead = _rows(path)
    assert posts == ["p1"]
    assert [(d["line"], d["field"]) for d in dead] == [(2, "extra"), (3, "extra")]
    assert "'thumb' cannot be written as JSON" in dead[0]["error"]
    assert "'seen' cannot be written as JSON" in dead[1]["error"]


def test_parquet_in_the_posts_own_schema_is_read_back(tmp_path):
    """Was: created_at as a Parquet timestamp (POST_SCHEMA's own type) made every row a dead
    letter ("got datetime"). A timestamp without a time zone is taken as UTC, like ISO text."""
    posts = posts_table(
        [
            {"post_id": "a", "created_at": datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)},
            {"post_id": "b", "hashtags": ["#dog"]},
        ]
    )
    path = tmp_path / "own.parquet"
    pq.write_table(posts, path)
    read, dead = _read(path)
    assert dead.num_rows == 0
    assert read.equals(posts)
    naive = tmp_path / "naive.parquet"
    pq.write_table(
        pa.table({"post_id": ["c"], "created_at": pa.array([0], pa.timestamp("s"))}), naive
    )
    read, _ = _read(naive)
    assert read.column("created_at").to_pylist() == [datetime(1970, 1, 1, tzinfo=UTC)]


@pytest.mark.parametrize(
    "suffix", [".jsonl.xz", ".jsonl.bz2", ".jsonl.zst", ".csv.xz", ".jsonl.gz"]
)
def test_broken_compressed_streams_are_one_dead_letter(tmp_path, suffix):
    """Was: xz's LZMAError escaped the reader, and a zstd error gave an empty reason."""
    path = tmp_path / f"posts{suffix}"
    path.write_bytes(b"these bytes are no compressed stream at all" * 5)
    posts, dead = _rows(path)
    assert posts == []
    assert len(dead) == 1 and dead[0]["line"] == 1
    assert dead[0]["error"].startswith("file breaks off: ") and len(dead[0]["error"]) > 17


def test_a_line_after_two_objects_is_one_dead_letter(tmp_path):
    """Was: Arrow counts objects, so after a line holding two it named the wrong line, and a
    line the screens had already sent to the strict path was judged twice (two dead letters,
    one row counted twice)."""
    path = tmp_path / "posts.jsonl"
    path.write_text('{"post_id": "a"}{"post_id": "b"}\n{\'post_id\': 1}\n# comment\n')
    posts, dead = _rows(path)
    assert posts == []
    assert [d["line"] for d in dead] == [1, 2, 3]


# --- fuzzing: random input never crashes a reader -------------------------------------------
def _non_blank_lines(data: bytes) -> int:
    """The lines the JSONL reader must turn into a post or a dead letter: split on b"\\n", BOM
    removed from the first, blank = nothing but ASCII whitespace (bytes.strip())."""
    lines = data.split(b"\n")
    lines[0] = lines[0].removeprefix(b"\xef\xbb\xbf")
    return sum(1 for line in lines if line.strip())


def _read_all(path) -> tuple[int, list[dict]]:
    """(rows read, dead-letter rows) of a whole file; any exception fails the test."""
    batches = list(read_posts(str(path), batch_size=4))
    dead = [d for b in batches for d in b.dead_letters.to_pylist()]
    for row in dead:
        assert row["source_file"] == str(path)
        assert row["line"] is None or row["line"] >= 1
        assert row["error"]
    return sum(b.rows_read for b in batches), dead


_LINE_ENDS = st.sampled_from([b"\n", b"\r\n"])
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
_POSTISH = st.fixed_dictionaries(
    {},
    optional={
        name: _JSON_VALUES | st.text(max_size=10)
        for name in ("post_id", "hashtags", "caption", "user_id", "created_at", "media_phash")
    },
).map(lambda record: json.dumps(record, allow_nan=True).encode())
_JSONL_LINES = st.lists(st.one_of(st.binary(max_size=60), _POSTISH), max_size=12)


@settings(max_examples=150, deadline=None)
@given(_JSONL_LINES, _LINE_ENDS, st.booleans(), st.booleans())
def test_random_jsonl_every_non_blank_line_is_a_post_or_a_dead_letter(lines, end, bom, gz):
    data = (b"\xef\xbb\xbf" if bom else b"") + end.join(lines)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / ("posts.jsonl.gz" if gz else "posts.jsonl")
        path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
        read, _ = _read_all(path)
    assert read == _non_blank_lines(data)


@settings(max_examples=150, deadline=None)
@given(
    st.binary(max_size=600), st.sampled_from([".jsonl", ".jsonl.gz", ".csv", ".tsv", ".parquet"])
)
def test_random_bytes_never_crash_a_reader(data, suffix):
    """Any bytes under any name: posts and dead letters, never an exception (a .jsonl.gz of
    raw bytes is a broken gzip: one dead letter; random bytes are never a Parquet file)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"posts{suffix}"
        path.write_bytes(data)
        read, dead = _read_all(path)
    if suffix == ".jsonl":
        assert read == _non_blank_lines(data)
    elif suffix == ".parquet":
        assert read == 1 and dead[0]["error"].startswith("not a Parquet file")
    elif suffix == ".jsonl.gz" and data:
        assert read == 1 and dead[0]["error"].startswith("file breaks off")
    else:  # CSV: each row takes a line or more (a header it cannot read is one dead letter)
        assert read <= len(data.decode("utf-8", "surrogateescape").splitlines())


_PARQUET = _posts_parquet(40, 8, hashtags=[["#dog", "#cat"]] * 40, caption=["a caption"] * 40)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, len(_PARQUET) - 1), st.integers(0, 255)), min_size=1, max_size=6
    ),
    st.none() | st.integers(0, len(_PARQUET)),
)
def test_damaged_parquet_never_crashes_the_reader(flips, cut):
    """A valid Parquet file with bytes overwritten (and maybe cut short): whatever pyarrow
    makes of it, the reader turns into posts and dead letters."""
    data = bytearray(_PARQUET)
    for position, value in flips:
        data[position] = value
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "posts.parquet"
        path.write_bytes(bytes(data[:cut]))
        _read_all(path)


_CELL = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
_TAG = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Z", "Cc")), max_size=8)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(_CELL, st.lists(_TAG, max_size=3)), min_size=1, max_size=8),
    st.sampled_from([",", "\t"]),
)
def test_random_csv_cells_come_back_as_written(rows, delimiter):
    """Rows written by Python's csv module (quotes, delimiters, newlines, CR and NUL in the
    cells) are read back cell for cell."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / ("posts.csv" if delimiter == "," else "posts.tsv")
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter=delimiter)
            writer.writerow(["post_id", "caption", "hashtags"])
            for i, (caption, tags) in enumerate(rows):
                writer.writerow([f"p{i}", caption, " ".join("#" + t for t in tags)])
        read, _ = _read(path)
    assert read.column("post_id").to_pylist() == [f"p{i}" for i in range(len(rows))]
    assert read.column("caption").to_pylist() == [caption or None for caption, _ in rows]
    expected_tags = [[f"#{t}" for t in tags] or None for _, tags in rows]
    assert read.column("hashtags").to_pylist() == expected_tags
