"""Readers: every row is a post or a dead letter with file and line; no exception escapes."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datagraph.errors import InputDataError
from datagraph.readers import detect_format, expand_inputs, parse_json_line, read_posts


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
