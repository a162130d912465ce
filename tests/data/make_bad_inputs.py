"""Write the bad-input corpus, tests/data/bad_inputs/, and what the readers must make of it.

    python tests/data/make_bad_inputs.py           # (re)write tests/data/bad_inputs/
    python tests/data/make_bad_inputs.py --check   # exit 1 when the committed files differ

Why: issue 8 asks that every pipeline run on bad input finishes, that every bad row becomes a
dead letter with its file, line and reason, that the counts reconcile exactly and that the good
rows beside the bad ones are kept. The corpus plants each kind of bad input among good rows, in
every format the readers take; ``expected.json``, written from the same lists, says per file
which post ids are good (in file order) and, for every bad row, its line, field and a substring
of its reason. tests/test_bad_inputs.py compares the pipelines' dead letters and counts with it
and checks that the committed files are byte for byte what this script writes.

Layout: ``posts/`` holds the input files (the pipelines read ``posts/*``), ``expected.json`` and
``README.md`` (the file list) sit beside it, so no glob over the inputs picks them up.

The two large rows are lines of ``posts/big_rows.jsonl.gz``: a 1,000,000-character caption and a
post with 100,000 hashtags (10,000 distinct two-word tags, each 10 times, written in blocks
that repeat within gzip's 32 KB window), so gzip keeps the file small; ``big_cells.csv.gz`` does
the same for a 1 MB CSV cell. The whole folder stays far below 1 MB.

Deterministic: fixed seeds, gzip with ``mtime=0``, Parquet with fixed settings. Parquet bytes
carry the writer's version (pyarrow is pinned in pyproject.toml); after upgrading pyarrow, run
this script again and commit what changed. Expectations never come from datagraph's own code:
each is written down here, or (the truncated gzip) computed with zlib from the bytes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import random
import sys
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

OUT = Path(__file__).resolve().parent / "bad_inputs"
SEED = 8  # issue 8
BIG_CAPTION_CHARS = 1_000_000
BIG_TAG_COUNT = 100_000
BIG_TAG_REPEATS = 10  # 10,000 distinct tags, each 10 times
BIG_CAPTION_POST = "big-caption"
BIG_TAGS_POST = "big-tags"
DUPLICATE_POST = "dup-1"  # the same post in bom_crlf.jsonl and quoted.csv: one is dropped
DUPLICATE_RECORD = {
    "post_id": DUPLICATE_POST,
    "user_id": "u-dup",
    "hashtags": ["#cat", "#dog"],
    "created_at": "2020-01-01T00:00:00Z",
}
# Tags of the ordinary good posts: everyday visual words (and one spam tag).
POOL = ["#dog", "#cat", "#beach", "#sunset", "#flower", "#car", "#tree", "#bird", "#like4like"]
# The 100k-tag post's tags: two-word compounds of these nouns (none of them in POOL).
BIG_WORDS = (  # noqa: SIM905 (a paragraph of words reads better than 100 list items)
    "apple anchor badger banana barn basket bell bench bike boat bottle bread bridge brush "
    "bucket cake camera candle canoe carrot castle chair cheese cherry clock cloud coat "
    "cookie corn cow crab crown cup desk dolphin donkey door dragon drum duck eagle egg "
    "engine fence fish flag fork fox frog garden ghost goat grape guitar hammer hat horse "
    "house island jacket kettle key kite ladder lamp lemon lion lobster map mask melon "
    "mirror monkey moon mouse mug nest onion orange owl panda pear pencil piano pig pillow "
    "plate pumpkin rabbit river robot rocket rose saddle shark sheep shell ship shoe snail"
).split()


def _canonical_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _phash(post_id: str, bits: int = 64) -> int:
    """A phash far (in bits) from every other post's: near duplicates would be dropped."""
    return int(hashlib.sha256(post_id.encode()).hexdigest()[:16], 16) >> (64 - bits)


def _first_bad_byte(raw: bytes) -> int:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    raise AssertionError(f"{raw!r} is valid UTF-8")


@dataclass
class Expected:
    """What reading one file must give: good post ids in file order, and the bad rows."""

    about: str
    good: list[str] = field(default_factory=list)
    bad: list[dict] = field(default_factory=list)

    def bad_row(self, line: int | None, error: str, field_name: str | None = None) -> None:
        self.bad.append({"line": line, "field": field_name, "error": error})

    def as_json(self) -> dict:
        return {"about": self.about, "good": self.good, "bad": self.bad}


@dataclass
class LineFile:
    """A JSONL file being built: its lines (without ends) and its expectations."""

    expected: Expected
    lines: list[bytes] = field(default_factory=list)

    @property
    def next_line(self) -> int:
        return len(self.lines) + 1

    def good(self, record: dict) -> None:
        self.expected.good.append(str(record["post_id"]).strip())
        self.lines.append(_canonical_json(record).encode())

    def good_raw(self, raw: bytes) -> None:
        """A good line written by hand (its JSON spelling matters)."""
        self.expected.good.append(json.loads(raw)["post_id"])
        self.lines.append(raw)

    def bad(self, raw: bytes | str, error: str, field_name: str | None = None) -> None:
        self.expected.bad_row(self.next_line, error, field_name)
        self.lines.append(raw.encode() if isinstance(raw, str) else raw)

    def blank(self, raw: bytes = b"") -> None:
        self.lines.append(raw)

    def data(self, newline: bytes = b"\n", bom: bool = False) -> bytes:
        return (b"\xef\xbb\xbf" if bom else b"") + newline.join(self.lines) + newline


def _post(post_id: str, index: int, **fields: object) -> dict:
    """An ordinary good post: its own user and media, a tag or two from POOL."""
    record: dict[str, object] = {
        "post_id": post_id,
        "user_id": f"u-{post_id}",
        "hashtags": [POOL[index % len(POOL)], POOL[(index * 3 + 1) % len(POOL)]],
        "media_uri": f"s3://bucket/{post_id}.jpg",
        "media_sha256": hashlib.sha256(post_id.encode()).hexdigest(),
    }
    record.update(fields)
    return record


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


# --- JSONL ------------------------------------------------------------------------------------
def bom_crlf() -> tuple[bytes, Expected]:
    f = LineFile(Expected("UTF-8 BOM, CRLF line ends, blank and whitespace-only lines"))
    f.good(_post("crlf-1", 1, caption="first line after the BOM #beach"))
    f.blank()
    f.good(_post("crlf-2", 2, created_at="2021-06-01T12:00:00Z"))
    f.blank(b"   \t ")
    f.blank(b"\x0b\x0c")  # vertical tab and form feed: ASCII whitespace, so a blank line
    f.good(DUPLICATE_RECORD)
    f.bad('{"post_id": "crlf-bad", "hashtags": ["#dog"', "invalid JSON")
    f.good_raw(b'{"post_id": "crlf-3",\r"caption": "a carriage return is JSON whitespace"}')
    f.good(_post("crlf-4", 4))
    return f.data(b"\r\n", bom=True), f.expected


def wrong_types() -> tuple[bytes, Expected]:
    f = LineFile(Expected("JSON of the wrong types, field by field, between valid posts"))
    f.good(_post("types-1", 1))
    f.bad('{"post_id": ["types-x"]}', "post_id must be a string or integer, got list", "post_id")
    f.bad('{"hashtags": ["#dog"]}', "post_id is required", "post_id")
    f.bad('{"post_id": "   "}', "post_id is empty", "post_id")
    f.bad('{"post_id": true}', "post_id must be a string or integer, got bool", "post_id")
    f.bad('{"post_id": null, "caption": "x"}', "post_id is required", "post_id")
    f.good({"post_id": 12345, "hashtags": ["#cat"], "created_at": 1600000000})  # int id, epoch
    f.bad(
        '{"post_id": "types-h1", "hashtags": "#dog #cat"}',
        "hashtags must be a list of strings, got str",
        "hashtags",
    )
    f.bad(
        '{"post_id": "types-h2", "hashtags": ["#dog", 7]}',
        "item 1 must be a string, got int",
        "hashtags",
    )
    f.bad(
        '{"post_id": "types-h3", "hashtags": ["#dog", null]}',
        "item 1 must be a string, got NoneType",
        "hashtags",
    )
    f.bad('{"post_id": "types-c", "caption": 42}', "caption must be a string, got int", "caption")
    f.bad(
        '{"post_id": "types-u", "user_id": {"id": 1}}',
        "user_id must be a string or integer, got dict",
        "user_id",
    )
    f.good(_post("types-2", 2, created_at="2020-05-17T08:30:00+02:00", likes=3, meta={"a": [1]}))
    f.bad('{"post_id": "types-t1", "created_at": true}', "got bool", "created_at")
    f.bad(
        '{"post_id": "types-t2", "created_at": "yesterday"}',
        "not an ISO 8601 timestamp",
        "created_at",
    )
    f.bad('{"post_id": "types-t3", "created_at": 1e20}', "epoch seconds out of range", "created_at")
    f.bad(
        '{"post_id": "types-s", "media_sha256": "abc"}',
        "must be 64 hexadecimal characters",
        "media_sha256",
    )
    f.bad(
        '{"post_id": "types-p1", "media_phash": -1}',
        "out of the unsigned 64-bit range",
        "media_phash",
    )
    f.bad(
        '{"post_id": "types-p2", "media_phash": 18446744073709551616}',
        "out of the unsigned 64-bit range",
        "media_phash",
    )
    f.bad(
        '{"post_id": "types-p3", "media_phash": "0xZZ"}',
        "must be an unsigned 64-bit integer or up to 16 hex digits",
        "media_phash",
    )
    f.good(_post("types-3", 3, media_phash=f"0x{_phash('types-3'):016x}"))
    f.bad('{"post_id": "types-l", "lang": ["en"]}', "lang must be a string, got list", "lang")
    f.bad('["types-array"]', "expected a JSON object, got list")
    f.bad('"types-string"', "expected a JSON object, got str")
    f.bad("17", "expected a JSON object, got int")
    f.bad("null", "expected a JSON object, got NoneType")
    f.good(_post("types-4", 4, media_phash=_phash("types-4")))
    return f.data(), f.expected


def nan_inf_duplicate_keys() -> tuple[bytes, Expected]:
    f = LineFile(Expected("NaN, Infinity, numbers too large for a float, duplicate keys"))
    f.good(_post("nan-1", 1, caption="NaN and Infinity inside a string are just words"))
    f.bad('{"post_id": "nan-x1", "created_at": NaN}', "NaN is not valid JSON")
    f.bad('{"post_id": "nan-x2", "score": Infinity}', "Infinity is not valid JSON")
    f.bad('{"post_id": "nan-x3", "score": -Infinity}', "-Infinity is not valid JSON")
    f.bad('{"post_id": "nan-x4", "score": 1e400}', "unknown fields hold NaN or infinity", "extra")
    f.bad('{"post_id": "nan-x5", "created_at": -1e400}', "must be finite, got -inf", "created_at")
    f.good(_post("nan-2", 2, score=1e300))
    f.bad('{"post_id": "dup-x1", "post_id": "dup-x2"}', "duplicate key 'post_id'")
    f.bad('{"post_id": "dup-x3", "meta": {"a": 1, "a": 2}}', "duplicate key 'a'")
    f.bad('{"post_id": "dup-x4", "post\\u005fid": "dup-x5"}', "duplicate key 'post_id'")
    f.bad('{"post_id": "dup-x6", "hashtags": [], "hashtags": ["#cat"]}', "duplicate key")
    f.good(_post("nan-3", 3, caption='a "quoted" word and a \\ backslash'))
    return f.data(), f.expected


def invalid_utf8() -> tuple[bytes, Expected]:
    f = LineFile(Expected("bytes that are not UTF-8, and lone surrogates written as escapes"))
    f.good(_post("utf-1", 1, caption="emoji 🐶 and 東京 and café #猫"))
    for raw in (
        b'{"post_id": "utf-x1", "caption": "\xff\xfe"}',
        b'{"post_id": "utf-x2", "caption": "caf\xe9 in Latin-1"}',
        b'{"post_id": "utf-x3", "caption": "\xc0\xaf overlong"}',
        b'{"post_id": "utf-x4", "caption": "\xed\xa0\x80 an encoded surrogate"}',
        b'{"post_id": "utf-x5", "capt\x80ion": "a bad byte in a key"}',
    ):
        f.bad(raw, f"not valid UTF-8 (byte {_first_bad_byte(raw)})")
    f.good_raw(b'{"post_id": "utf-2", "caption": "two escapes, one emoji: \\ud83d\\ude00"}')
    f.bad(
        '{"post_id": "utf-x6", "caption": "\\ud800 alone"}',
        "caption contains invalid Unicode (a lone surrogate)",
        "caption",
    )
    f.bad(
        '{"post_id": "utf-x7", "hashtags": ["#ok", "#\\udfff"]}',
        "hashtags contains invalid Unicode (a lone surrogate)",
        "hashtags",
    )
    f.bad(
        '{"post_id": "utf-x8", "note": "\\udc80"}',
        "extra contains invalid Unicode (a lone surrogate)",
        "extra",
    )
    f.good(_post("utf-3", 3, caption="a NUL escape \u0000 is a character"))
    return f.data(), f.expected


def broken_syntax() -> tuple[bytes, Expected]:
    f = LineFile(Expected("lines that are not one JSON object: cut short, doubled, nested deep"))
    f.good(_post("syn-1", 1))
    f.bad('{"post_id": "syn-x1", "hashtags": ["#a"', "invalid JSON")
    f.bad('{"post_id": "syn-x2"}{"post_id": "syn-x3"}', "invalid JSON: Extra data")
    f.bad('{"post_id": "syn-x4"} trailing', "invalid JSON: Extra data")
    f.bad("not json at all", "invalid JSON: Expecting value")
    f.bad("{'post_id': 'syn-x5'}", "invalid JSON: Expecting property name")
    f.bad("# a comment line", "invalid JSON: Expecting value")
    f.bad('{"post_id": "syn-x6", "deep": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply")
    f.bad(
        b"\xff" + random.Random(SEED).randbytes(200).replace(b"\n", b"\x00"),
        "not valid UTF-8 (byte 0)",
    )
    f.good(_post("syn-2", 2))
    return f.data(), f.expected


def truncated_gzip() -> tuple[bytes, Expected]:
    """A gzip cut at 60% of its bytes: the lines complete before the cut are read, then one
    dead letter at the first line that is not. Which lines those are is computed here with
    zlib from the cut bytes themselves."""
    rng = random.Random(SEED)
    words = [
        "sun",
        "sea",
        "dog",
        "cat",
        "tree",
        "road",
        "hill",
        "lake",
        "bird",
        "boat",
        "rain",
        "snow",
        "wind",
        "leaf",
    ]
    f = LineFile(Expected("a .jsonl.gz cut short (with a BOM); the lines before the cut"))
    for i in range(400):
        caption = " ".join(rng.choice(words) + str(rng.randrange(1000)) for _ in range(12))
        if i % 50 == 7:
            raw = _canonical_json({"post_id": f"gz-x{i}", "hashtags": caption})
            f.bad(raw, "hashtags must be a list of strings, got str", "hashtags")
        else:
            f.good(_post(f"gz-{i}", i, caption=caption))
    whole = _gzip(f.data(bom=True))
    cut = whole[: len(whole) * 6 // 10]
    readable = zlib.decompressobj(wbits=31).decompress(cut)
    complete = readable.count(b"\n")  # lines whose end was decompressed
    expected = Expected(f.expected.about)
    expected.good = [
        pid
        for pid in f.expected.good
        if int(pid.removeprefix("gz-")) < complete  # gz-i is line i + 1
    ]
    expected.bad = [row for row in f.expected.bad if row["line"] <= complete]
    expected.bad_row(complete + 1, "file breaks off")
    return cut, expected


def big_rows() -> tuple[bytes, Expected]:
    """A 1 MB caption and a 100k-hashtag post (kept), and big rows that are bad."""
    f = LineFile(Expected("a 1,000,000-character caption and a post with 100,000 hashtags"))
    f.good(_post("big-1", 1))
    f.good(
        {
            "post_id": BIG_CAPTION_POST,
            "user_id": "u-big-caption",
            "caption": big_caption(),
            "media_uri": "s3://bucket/big-caption.jpg",
        }
    )
    f.good({"post_id": BIG_TAGS_POST, "user_id": "u-big-tags", "hashtags": big_tags()})
    f.bad(
        _canonical_json({"post_id": "big-x1", "caption": big_caption(), "hashtags": "#beach"}),
        "hashtags must be a list of strings, got str",
        "hashtags",
    )
    f.bad('{"post_id": "big-x2", "deep": ' + "[" * 100_000 + "]" * 100_000 + "}", "too deeply")
    stuffed = [*big_tags()[:-1], 7]
    f.bad(
        _canonical_json({"post_id": "big-x3", "hashtags": stuffed}),
        f"item {BIG_TAG_COUNT - 1} must be a string, got int",
        "hashtags",
    )
    f.good(_post("big-2", 2, hashtags=["#" + "a" * 10_000]))  # one tag of 10,000 letters
    return _gzip(f.data()), f.expected


def big_caption() -> str:
    """1,000,000 characters: a sentence repeated, ``#sunset`` first and ``#beach`` last."""
    sentence = "a long walk along the shore with my dog while the tide comes in, "
    body = "#sunset " + sentence * (BIG_CAPTION_CHARS // len(sentence) + 1)
    return body[: BIG_CAPTION_CHARS - len(" #beach")] + " #beach"


def big_tags() -> list[str]:
    """100,000 hashtags: 10,000 distinct ``#<word><word>`` compounds, each 10 times, in blocks
    of 1,000 repeated back to back (so gzip sees each repeat as one match)."""
    distinct = [f"#{a}{b}" for a in BIG_WORDS for b in BIG_WORDS]
    tags: list[str] = []
    for start in range(0, len(distinct), 1000):
        tags += distinct[start : start + 1000] * BIG_TAG_REPEATS
    assert len(tags) == BIG_TAG_COUNT and len(set(tags)) == BIG_TAG_COUNT // BIG_TAG_REPEATS
    return tags


def empty_files() -> dict[str, tuple[bytes, Expected]]:
    return {
        "empty.jsonl": (b"", Expected("0 bytes")),
        "blank_lines.jsonl": (b"\n   \n\r\n\t\n", Expected("only blank lines")),
        "empty.jsonl.gz": (_gzip(b""), Expected("a gzip of 0 bytes")),
        "empty.csv": (b"", Expected("0 bytes")),
        "header_only.csv": (b"post_id,hashtags,caption\r\n", Expected("a header, no rows")),
        "no_rows.parquet": (_parquet(_posts_table([])), Expected("a valid Parquet file, 0 rows")),
    }


# --- CSV --------------------------------------------------------------------------------------
@dataclass
class CsvFile:
    """A CSV file being built from raw row text (a row may span lines inside quotes)."""

    expected: Expected
    newline: str = "\r\n"
    text: str = ""

    @property
    def next_line(self) -> int:
        return self.text.replace("\r\n", "\n").count("\n") + 1

    def good(self, raw: str, post_id: str) -> None:
        self.expected.good.append(post_id)
        self.text += raw + self.newline

    def bad(self, raw: str, error: str, field_name: str | None = None) -> None:
        self.expected.bad_row(self.next_line, error, field_name)
        self.text += raw + self.newline

    def data(self, bom: bool = False) -> bytes:
        """The text as UTF-8; lone surrogates (``\\udce9``) become the raw bytes they escape."""
        return ("\ufeff" if bom else "").encode() + self.text.encode("utf-8", "surrogateescape")


CSV_HEADER = "post_id,user_id,hashtags,caption,created_at,media_phash,media_sha256"


def quoted_csv() -> tuple[bytes, Expected]:
    f = CsvFile(Expected("CSV with a BOM, CRLF, quoted newlines, commas and quotes, bad cells"))
    f.text = CSV_HEADER + "\r\n"
    sha = hashlib.sha256(b"csv-1").hexdigest()
    f.good(
        f'csv-1,u-csv-1,#dog #beach,"three\r\nline\r\ncaption",2020-03-01T10:00:00,'
        f"{_phash('csv-1')},{sha}",
        "csv-1",
    )
    f.good(
        'csv-2,u-csv-2,"[""#cat"", ""#bird""]","a caption, with a comma and ""quotes""",,'
        f"0x{_phash('csv-2'):x},",
        "csv-2",
    )
    f.bad(",u-nobody,#dog,no post id,,,", "post_id is required", "post_id")
    f.bad("csv-x1,u-x1,#dog,caf\udce9 in Latin-1,,,", "not valid UTF-8 (column 4)", "caption")
    f.good("csv-3,u-csv-3,#tree,the row after a bad byte is read,,,", "csv-3")
    f.text += "\r\n"  # a blank line: skipped, and the line numbers after it still right
    f.bad('csv-x2,u-x2,"[""#a"",",a broken JSON list,,,', "bad cell", "hashtags")
    f.bad("csv-x3,u-x3,#a,superscript two,,\u00b2,", "media_phash must be", "media_phash")
    f.bad("csv-x4,u-x4,#a,5000 digits,," + "1" * 5000 + ",", "media_phash must be", "media_phash")
    f.bad("csv-x5,u-x5,#a,bad date,not a date,,", "not an ISO 8601 timestamp", "created_at")
    f.bad('csv-x6,u-x6,#a,"closed"then more,,,', "bad quoting")
    f.good("csv-4,u-csv-4,#flower,more cells than the header,,,,surplus,cells", "csv-4")
    f.good("csv-5,u-csv-5,#car", "csv-5")  # fewer cells than the header
    f.good(f"{DUPLICATE_POST},u-dup,#cat #dog,,2020-01-01T00:00:00Z,,", DUPLICATE_POST)
    f.bad('csv-x7,u-x7,#a,"an unterminated quote', "unterminated quote")
    f.text += "csv-lost,u-lost,#dog,a row inside the open quote: part of its cell,,,\r\n"
    return f.data(bom=True), f.expected


def big_cells_csv() -> tuple[bytes, Expected]:
    f = CsvFile(Expected("a .csv.gz with a 1 MB cell and a cell nested 100,000 deep"), "\n")
    f.text = "post_id,user_id,hashtags,caption\n"
    f.good("cells-1,u-cells-1,#bird,small", "cells-1")
    f.good(f'cells-big,u-cells-big,#beach,"{big_caption()}"', "cells-big")
    f.bad('cells-x1,u-x,"' + "[" * 100_000 + '",deep', "nested too deeply", "hashtags")
    f.good("cells-2,u-cells-2,#tree,after the deep cell", "cells-2")
    return _gzip(f.data()), f.expected


def tsv() -> tuple[bytes, Expected]:
    f = CsvFile(Expected("tab-separated, one bad row"), "\n")
    f.text = "post_id\thashtags\tcaption\n"
    f.good("tsv-1\t#dog #cat\ta caption, with a comma", "tsv-1")
    f.bad("\t#dog\tno id", "post_id is required", "post_id")
    f.good("tsv-2\t#bird\t", "tsv-2")
    return f.data(), f.expected


# --- Parquet ----------------------------------------------------------------------------------
def _parquet(table: pa.Table, **options: object) -> bytes:
    sink = io.BytesIO()
    settings = {"compression": "none", "use_dictionary": False, "write_statistics": False}
    pq.write_table(table, sink, **(settings | options))
    return sink.getvalue()


def _posts_table(rows: list[dict]) -> pa.Table:
    """Rows with the readers' string columns (and created_at as an ISO string)."""
    schema = pa.schema(
        [
            ("post_id", pa.string()),
            ("user_id", pa.string()),
            ("hashtags", pa.list_(pa.string())),
            ("caption", pa.string()),
            ("created_at", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def other_schema_parquet() -> tuple[bytes, Expected]:
    """Another tool's schema: integer ids, hashtags as one string, a timestamp column without a
    time zone, a struct, a binary column. Rows whose values fit the post schema are kept."""
    expected = Expected("Parquet with a different schema (types, extra columns)")
    after_9999 = "10000-01-01"  # a timestamp Python's datetime cannot hold
    geo = {"lat": 1.0, "lon": 2.0}
    nan_geo = {"lat": float("nan"), "lon": 0.0}
    rows = [  # post_id, hashtags, created_at, media_phash, geo, thumbnail, (error, field)
        (101, None, datetime(2020, 1, 2, 3, 4, 5), _phash("101", 63), geo, None, None),
        (102, "#dog #cat", None, None, None, None, ("hashtags must be a list", "hashtags")),
        (None, None, None, None, None, None, ("post_id is required", "post_id")),
        (104, None, None, -3, None, None, ("out of the unsigned 64-bit range", "media_phash")),
        (105, None, None, None, nan_geo, None, ("unknown fields hold NaN", "extra")),
        (106, None, datetime(2021, 7, 8), None, None, None, None),
        (107, None, None, None, None, b"\x89PNG", ("'thumbnail' cannot be written", "extra")),
        (108, None, datetime(9999, 12, 31), None, None, None, None),
        (109, None, after_9999, None, None, None, ("created_at cannot be read", "created_at")),
        (110, None, None, _phash("110", 63), None, None, None),
    ]
    epoch = datetime(1970, 1, 1)
    millis = [
        None
        if r[2] is None
        else 253_402_300_800_000  # 10000-01-01T00:00:00 in milliseconds
        if r[2] == after_9999
        else (r[2] - epoch) // timedelta(milliseconds=1)
        for r in rows
    ]
    table = pa.table(
        {
            "post_id": pa.array([r[0] for r in rows], pa.int64()),
            "hashtags": pa.array([r[1] for r in rows], pa.string()),
            "created_at": pa.array(millis, pa.int64()).cast(pa.timestamp("ms")),
            "media_phash": pa.array([r[3] for r in rows], pa.int64()),
            "geo": pa.array(
                [r[4] for r in rows], pa.struct({"lat": pa.float64(), "lon": pa.float64()})
            ),
            "thumbnail": pa.array([r[5] for r in rows], pa.binary()),
            "likes": pa.array(range(len(rows)), pa.int32()),
        }
    )
    for line, row in enumerate(rows, start=1):
        if row[6] is None:
            expected.good.append(str(row[0]))
        else:
            expected.bad_row(line, *row[6])
    return _parquet(table, row_group_size=4), expected


def corrupt_parquet() -> tuple[bytes, Expected]:
    """Three row groups of four rows: a string cell of row 2 overwritten with bytes that are not
    UTF-8, and the first page of row group 2 overwritten with 0xff. Row groups 1 and 3 are read;
    row group 2 is one dead letter at its first row."""
    expected = Expected("Parquet with a non-UTF-8 string cell and a corrupt row group")
    marker = "NOT-UTF-8-CELL"
    rows = [
        {
            "post_id": f"pq-{i}",
            "user_id": f"u-pq-{i}",
            "hashtags": [POOL[i % 8]],
            "caption": f"row {i}",
        }
        for i in range(1, 13)
    ]
    rows[1]["caption"] = marker
    data = bytearray(_parquet(_posts_table(rows), row_group_size=4))
    assert data.count(marker.encode()) == 1
    at = data.index(marker.encode())
    data[at : at + len(marker)] = b"\xff" * len(marker)
    page = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(1).column(0)
    data[page.data_page_offset : page.data_page_offset + 16] = b"\xff" * 16
    for i, row in enumerate(rows, start=1):
        if i == 2:
            expected.bad_row(i, "caption is not valid UTF-8 (byte 0)", "caption")
        elif i == 5:
            expected.bad_row(i, "rows 5-8 (row group 2) cannot be read")
        elif not 5 <= i <= 8:
            expected.good.append(row["post_id"])
    return bytes(data), expected


def not_parquet() -> dict[str, tuple[bytes, Expected]]:
    half = _parquet(_posts_table([{"post_id": "lost-1"}, {"post_id": "lost-2"}]))
    files = {
        "not_parquet.parquet": (
            b"PAR1 this is no Parquet file PAR1",
            "text named .parquet, PAR1 at both ends",
        ),
        "cut_footer.parquet": (half[: len(half) // 2], "a Parquet file cut in half: no footer"),
    }
    out = {}
    for name, (data, about) in files.items():
        expected = Expected(about)
        expected.bad_row(None, "not a Parquet file")
        out[name] = (data, expected)
    return out


# --- the corpus -------------------------------------------------------------------------------
def build_corpus() -> dict[str, bytes]:
    """Every file of tests/data/bad_inputs/ (relative path -> bytes), expected.json included."""
    files: dict[str, tuple[bytes, Expected]] = {
        "bom_crlf.jsonl": bom_crlf(),
        "wrong_types.jsonl": wrong_types(),
        "nan_inf_duplicate_keys.jsonl": nan_inf_duplicate_keys(),
        "invalid_utf8.jsonl": invalid_utf8(),
        "broken_syntax.jsonl": broken_syntax(),
        "truncated.jsonl.gz": truncated_gzip(),
        "big_rows.jsonl.gz": big_rows(),
        "quoted.csv": quoted_csv(),
        "big_cells.csv.gz": big_cells_csv(),
        "tabs.tsv": tsv(),
        "other_schema.parquet": other_schema_parquet(),
        "corrupt.parquet": corrupt_parquet(),
        **not_parquet(),
        **empty_files(),
    }
    files = dict(sorted(files.items()))
    expected = {
        "files": {name: exp.as_json() for name, (_, exp) in files.items()},
        "dropped": {"duplicate_post_id": 1},  # DUPLICATE_POST is in two files
        "duplicate_post": DUPLICATE_POST,
        "big_caption_post": BIG_CAPTION_POST,
        "big_caption_chars": BIG_CAPTION_CHARS,
        "big_tags_post": BIG_TAGS_POST,
        "big_tag_count": BIG_TAG_COUNT,
        "big_distinct_tags": BIG_TAG_COUNT // BIG_TAG_REPEATS,
    }
    _check_unique_posts(expected["files"])
    corpus = {f"posts/{name}": data for name, (data, _) in files.items()}
    corpus["expected.json"] = (json.dumps(expected, indent=1, ensure_ascii=False) + "\n").encode()
    corpus["README.md"] = _readme(files).encode()
    return corpus


def _check_unique_posts(files: dict[str, dict]) -> None:
    """Good post ids are distinct across the corpus but for the one planted duplicate, so the
    only rows dedup may drop are the ones expected.json names."""
    seen: dict[str, str] = {}
    for name, exp in files.items():
        for post_id in exp["good"]:
            if post_id in seen and post_id != DUPLICATE_POST:
                raise AssertionError(f"{post_id} in {seen[post_id]} and {name}")
            seen[post_id] = name


def _readme(files: dict[str, tuple[bytes, Expected]]) -> str:
    lines = [
        "# Bad-input corpus (written by ../make_bad_inputs.py: do not edit by hand)",
        "",
        "Each file of `posts/` mixes good rows and bad ones; `expected.json` lists, per file, the",
        "good post ids and each bad row's line, field and reason. tests/test_bad_inputs.py runs",
        "build_graph and build_shards on `posts/*` and checks the dead letters and counts against",
        "it; docs/operations.md states the guarantees.",
        "",
        "| file | bytes | good | bad | what |",
        "|---|---|---|---|---|",
    ]
    for name, (data, exp) in files.items():
        lines.append(f"| {name} | {len(data):,} | {len(exp.good)} | {len(exp.bad)} | {exp.about} |")
    return "\n".join(lines) + "\n"


def write_corpus(directory: Path = OUT) -> list[Path]:
    """Write the corpus into ``directory`` (stale files of an older corpus are removed)."""
    corpus = build_corpus()
    wanted = {directory / name for name in corpus}
    for stale in directory.rglob("*") if directory.exists() else []:
        if stale.is_file() and stale not in wanted:
            stale.unlink()
    for name, data in corpus.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return sorted(wanted)


def differences(directory: Path = OUT) -> list[str]:
    """Files of ``directory`` that differ from what this script writes (missing, changed, extra)."""
    corpus = build_corpus()
    problems = []
    for name, data in corpus.items():
        path = directory / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif path.read_bytes() != data:
            problems.append(f"{name}: differs")
    found = {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}
    problems += [f"{name}: not written by this script" for name in sorted(found - set(corpus))]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        problems = differences()
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    for path in write_corpus():
        print(f"{path.relative_to(OUT)}\t{path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
