"""The column path of the JSONL reader gives exactly the strict path's posts and dead letters.

Each test builds lines, reads them both ways (``readers.jsonl_batch`` with and without
``columnar``) and compares the Arrow tables; the plain lines must also really take the column
path (``json_lines.parse_lines``), or the comparison would prove nothing.
"""

from __future__ import annotations

import json

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datagraph import json_lines
from datagraph.readers import jsonl_batch

PLAIN = [
    b'{"post_id": "1", "hashtags": ["#dog", "#cat"], "likes": 3}',
    b'{"post_id":"2","hashtags":[],"caption":"caf\xc3\xa9 \xf0\x9f\x98\x80","lang":"fr"}',
    b'{"post_id": "3", "user_id": "u1", "created_at": "2020-12-14T20:53:23Z"}',
    b'{"post_id": "4", "created_at": "2020-02-29T00:00:00", "media_phash": 18446744073709551615}',
    b'{"post_id": "5", "created_at": "1999-12-31T23:59:59+00:00", "media_sha256": "'
    + b"AB" * 32
    + b'"}',
    b'{"post_id": "6", "ok": true, "no": false, "n": null, "s": "x y", "z": -0}',
    b'{"post_id": "7", "caption": "line\\nbreak \\"quoted\\" \\u00e9 \\ud83d\\ude00"}',
    b'{"post_id": "8", "hashtags": null, "caption": null, "extra": "a key called extra"}',
    b'{"post_id": "9", "when": "2021-01-01", "when2": "2021-01-01T00:00:00"}',
    b'{ "post_id" : "10" , "hashtags" : [ "#a" ] }',
    b'{"post_id": "11", "media_uri": "s3://b/k.jpg", "big": 9223372036854775807}',
    b'{"post_id": "12", "s": "\xe7\x8c\xab"}',
]
# Lines the strict path must judge (some become posts, most dead letters).
TRICKY = [
    b'{"post_id": 42, "hashtags": ["#num-id"]}',
    b'{"post_id": " padded ", "user_id": 7}',
    b'{"post_id": "", "hashtags": ["#empty-id"]}',
    b'{"post_id": true}',
    b"{}",
    b'{"post_id": "t1", "created_at": 1600000000}',
    b'{"post_id": "t2", "created_at": 1600000000.5}',
    b'{"post_id": "t3", "created_at": "2020-02-30T00:00:00Z"}',
    b'{"post_id": "t4", "created_at": "2020-01-01T24:00:00"}',
    b'{"post_id": "t5", "created_at": "2020-01-01T23:59:60"}',
    b'{"post_id": "t6", "created_at": "2020-01-01T10:00:00.123456+05:30"}',
    b'{"post_id": "t7", "created_at": "2020-01-01 10:00:00"}',
    b'{"post_id": "t8", "created_at": "yesterday"}',
    b'{"post_id": "t9", "created_at": "0000-01-01T00:00:00"}',
    b'{"post_id": "h1", "media_phash": "0xff"}',
    b'{"post_id": "h2", "media_phash": -5}',
    b'{"post_id": "h3", "media_phash": 18446744073709551616}',
    b'{"post_id": "h4", "media_phash": 1.5}',
    b'{"post_id": "s1", "media_sha256": "not-a-hash"}',
    b'{"post_id": "l1", "hashtags": ["#dog", 7]}',
    b'{"post_id": "l2", "hashtags": ["#dog", null]}',
    b'{"post_id": "l3", "hashtags": "#dog #cat"}',
    b'{"post_id": "d1", "post_id": "d2"}',
    b'{"post_id": "d3", "post\\u005fid": "d4"}',
    b'{"post_id": "d5", "x": 1, "x": 2}',
    b'{"post_id": "n1", "x": NaN}',
    b'{"post_id": "n2", "x": Infinity}',
    b'{"post_id": "n3", "x": 1E400}',
    b'{"post_id": "f1", "x": 1.0, "y": 1e3}',
    b'{"post_id": "f2", "x": 99999999999999999999}',
    b'{"post_id": "o1", "x": {"post_id": "inner"}, "y": [1, "a"]}',
    b'{"post_id": "o2", "x": []}',
    b'{"post_id": "u1", "c": "\\ud800"}',
    b'{"post_id": "u2", "caption": "\xff\xfe"}',
    b'{"post_id": "u3", "s": "tab\\there"}',
    b'{"post_id": "u4", "a\\\\Eb": null, "q": "\\"quoted\\""}',
    b'{"post_id": "u5", "x\\u0041": null}',
    b'{"post_id": "r1", "caption": "a\rb"}',
    b'{"post_id": "r2",\r"caption": "ok"}',
    b'{"post_id": "m1"}{"post_id": "m2"}',
    b'{"post_id": "m3"} trailing',
    b'{"post_id": "bad-1", "hashtags": ["#dog", "#cat"',
    b'["not", "an", "object"]',
    b'"a string"',
    b"17",
    b'  {"post_id": "ws1"}  ',
    b'{"post_id": "ws2", "caption": "x"}\t',
]


def _both(lines: list[bytes], start: int = 1) -> tuple:
    numbered = [(start + i, raw) for i, raw in enumerate(lines)]
    fast = jsonl_batch("f.jsonl", numbered, columnar=True)
    strict = jsonl_batch("f.jsonl", numbered, columnar=False)
    return fast, strict


def _assert_same(lines: list[bytes]) -> None:
    fast, strict = _both(lines)
    assert fast.posts.schema == strict.posts.schema
    assert fast.posts.to_pylist() == strict.posts.to_pylist()
    assert fast.posts.equals(strict.posts)
    assert fast.dead_letters.to_pylist() == strict.dead_letters.to_pylist()


def test_plain_lines_take_the_column_path_and_match_the_strict_path():
    parsed = json_lines.parse_lines(PLAIN)
    assert parsed.rows.tolist() == list(range(len(PLAIN))), parsed.strict
    _assert_same(PLAIN)


def test_tricky_lines_match_the_strict_path_alone_and_among_plain_lines():
    _assert_same(TRICKY)
    mixed = [line for pair in zip(PLAIN * 4, TRICKY, strict=False) for line in pair]
    _assert_same(mixed)
    for line in TRICKY:  # one at a time: no neighbour can hide a difference
        _assert_same([PLAIN[0], line, PLAIN[1]])


def test_plain_lines_beside_tricky_ones_still_take_the_column_path():
    lines = PLAIN + TRICKY + PLAIN
    parsed = json_lines.parse_lines(lines)
    taken = set(parsed.rows.tolist())
    assert set(range(len(PLAIN))) <= taken
    assert set(range(len(PLAIN) + len(TRICKY), len(lines))) <= taken
    assert sorted(taken | set(parsed.strict.tolist())) == list(range(len(lines)))
    assert not taken & set(parsed.strict.tolist())


def test_date_like_unknown_strings_keep_their_text():
    fast, _ = _both([PLAIN[8]])
    assert json.loads(fast.posts.column("extra")[0].as_py()) == {
        "when": "2021-01-01",
        "when2": "2021-01-01T00:00:00",
    }


def test_a_chunk_of_generated_posts_is_identical(sample_dir):
    lines = (sample_dir / "posts.jsonl").read_bytes().splitlines()[:6000]
    _assert_same(lines)
    parsed = json_lines.parse_lines(lines)
    assert len(parsed.rows) > 0.98 * len(lines)


_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8
) | st.sampled_from(["", " x", "x ", "a\nb", '"q"', "\\", "é", "😀", "2021-01-01"])
_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**65), max_value=2**65)
    | st.floats(allow_nan=False)
    | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=2),
    max_leaves=4,
)
_field_values = {
    "post_id": st.one_of(_text, st.integers(-5, 10**20), st.just("p1"), st.none()),
    "user_id": st.one_of(_text, st.integers(0, 99), st.none()),
    "hashtags": st.one_of(st.lists(st.one_of(_text, st.none(), st.integers()), max_size=3), _text),
    "created_at": st.one_of(
        st.sampled_from(
            [
                "2020-12-14T20:53:23Z",
                "2020-02-30T00:00:00",
                "2021-06-01T12:00:00+00:00",
                "2021-06-01T12:00:00+02:00",
                "1970-01-01T00:00:00",
            ]
        ),
        st.integers(-(10**12), 10**12),
        _text,
    ),
    "media_sha256": st.one_of(st.sampled_from(["ab" * 32, "AB" * 32, "ab" * 31]), _text),
    "media_phash": st.one_of(st.integers(-1, 2**64), st.sampled_from(["0xff", "ff", "x"])),
    "caption": st.one_of(_text, st.integers()),
    "lang": _text,
    "extra": _value,
}
_record = st.dictionaries(
    st.sampled_from(list(_field_values)) | _text, st.none(), max_size=6
).flatmap(lambda keys: st.fixed_dictionaries({key: _field_values.get(key, _value) for key in keys}))


@st.composite
def _line(draw) -> bytes:
    record = draw(_record)
    text = json.dumps(
        record,
        ensure_ascii=draw(st.booleans()),
        separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])),
    )
    raw = text.encode("utf-8")
    if draw(st.integers(0, 9)) == 0:  # now and then a damaged line
        cut = draw(st.integers(0, len(raw)))
        raw = raw[:cut] + draw(st.binary(max_size=3)) + raw[cut:]
    return raw


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_line(), min_size=1, max_size=12))
def test_random_lines_match_the_strict_path(lines):
    lines = [raw for raw in (line.replace(b"\n", b" ") for line in lines) if raw.strip()]
    if lines:
        _assert_same(lines)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=8))
def test_random_bytes_match_the_strict_path(lines):
    lines = [raw for raw in (line.replace(b"\n", b" ") for line in lines) if raw.strip()]
    if lines:
        _assert_same(lines)


def test_many_failures_in_one_chunk_fall_back_without_losing_rows():
    lines = [b'{"post_id": "%d", "hashtags": ["#a", %d]}' % (i, i) for i in range(200)]
    lines += PLAIN
    _assert_same(lines)
    parsed = json_lines.parse_lines(lines)
    assert len(parsed.rows) + len(parsed.strict) == len(lines)


def test_posts_keep_line_order_across_both_paths():
    lines = [PLAIN[0], TRICKY[0], PLAIN[2], TRICKY[1], PLAIN[3]]
    fast, _ = _both(lines)
    assert fast.posts.column("post_id").to_pylist() == ["1", "42", "3", "padded", "4"]
    assert isinstance(fast.posts, pa.Table)


def test_deeply_nested_lines_become_dead_letters_not_a_crash():
    deep = b'{"post_id": "deep", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    fast, strict = _both([deep, PLAIN[0]])
    assert fast.dead_letters.column("error").to_pylist() == ["invalid JSON: nested too deeply"]
    assert fast.posts.equals(strict.posts)
