"""Parse and validate a chunk of JSONL lines as Arrow columns, with the strict rules per line as
the reference: the same posts and dead letters, several times faster.

Why: parsing each line with Python's ``json`` and validating the dicts one by one cost about
15 µs a post, most of the build pipelines' reading time. Arrow's JSON reader parses a chunk in
about 2 µs a line, and the checks of ``schema.validate_post`` become whole-column operations.

How the two paths stay identical. A line takes the column path only when the column checks are
known to judge it exactly as ``validate_post`` would; every other line goes through the strict
per-line path (``readers.parse_json_line`` + ``validate_post``), which also writes every dead
letter. In order:

1. Screens send a line to the strict path: invalid UTF-8, ``NaN``/``Infinity``, a carriage
   return (Arrow would split the line there), a line that does not start with ``{`` and end with
   ``}``, more than ``_MAX_BRACKETS`` brackets (Arrow's parser recurses on nesting, and a
   100,000-deep line crashes the process), or a known field whose value does not start as its
   type must (a number for an id, a string for ``media_phash``, ...). The last one only saves
   Arrow a failed parse.
2. Arrow parses the remaining lines, in pieces of ``_PIECE`` lines, with an explicit schema for
   the known fields (unknown fields are inferred; a date-like unknown string is read again as a
   string). A parse error naming a row (wrong type, duplicate key, bad syntax, lone surrogate)
   sends that row strict and both sides are parsed again; an error without a row, or more rows
   than lines (two objects on one line), halves the piece. Arrow counts objects, not lines, so
   after a line with two objects the row it names can be a later line (even a screened one):
   harmless, as that line is only judged strictly too, and each line goes strict once.
3. Column checks send a row strict unless it is plainly valid: a post_id (and user_id) of
   printable ASCII without surrounding spaces, no null hashtag, a ``created_at`` of the form
   ``YYYY-MM-DDTHH:MM:SS`` (optionally ``Z`` or ``+00:00``) naming a real date from year 1000,
   a sha256 of 64 hex digits, and unknown fields whose JSON text is rebuilt exactly: integers,
   booleans, nulls, and strings without characters ``json.dumps`` escapes.

Escapes (``\\n``, ``\\u00e9``, surrogate pairs) are decoded by Arrow as by Python; a lone surrogate
is a parse error, so its line goes strict and becomes the same dead letter. tests/test_json_lines.py
compares both paths on planted and random lines.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from datagraph.schema import POST_FIELDS, POST_SCHEMA

# Known fields as Arrow parses them; created_at is checked and converted after parsing.
_PARSE_SCHEMA = pa.schema(
    [
        ("post_id", pa.string()),
        ("hashtags", pa.list_(pa.string())),
        ("caption", pa.string()),
        ("user_id", pa.string()),
        ("created_at", pa.string()),
        ("media_uri", pa.string()),
        ("media_sha256", pa.string()),
        ("media_phash", pa.uint64()),
        ("lang", pa.string()),
    ]
)
_STRING_FIELDS = "post_id|user_id|created_at|caption|media_uri|media_sha256|lang"
# A known field whose value cannot be of its type: the line would fail Arrow's parse.
_WRONG_TYPE = (
    rf'"(?:{_STRING_FIELDS})"\s*:\s*[^"\sn]'
    r'|"hashtags"\s*:\s*[^\[\sn]'
    r'|"media_phash"\s*:\s*[^0-9\sn]'
)
_PLAIN_ID = r"^[!-~](?:.*[!-~])?$"  # printable ASCII at both ends: str.strip() leaves it as is
_TIMESTAMP = (
    r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:Z|\+00:00)?$"
)
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"
_SHA256 = r"^[0-9a-fA-F]{64}$"
_JSON_ESCAPED = r'[\x00-\x1f"\\]'  # what json.dumps(ensure_ascii=False) escapes in a string
_ESCAPED_KEY = r'\\[^"]*"\s*:'  # a key that may hold an escape (or a value with \" before ':')
_ROW_IN_ERROR = re.compile(r" in row (\d+)$")
_MAX_BRACKETS = 256  # more '[' and '{' in a line may nest deep enough to overflow Arrow's stack
_PIECE = 4096  # lines per Arrow parse: a failed parse costs one piece again, not the chunk
_MAX_PARSES = 64  # per chunk; beyond it the rest of the chunk takes the strict path


@dataclass
class ColumnParse:
    """The lines of a chunk that parsed as plain posts, and the indices left to the strict path.

    ``posts`` is a POST_SCHEMA table whose row i came from chunk line ``rows[i]`` (ascending).
    """

    posts: pa.Table
    rows: np.ndarray
    strict: np.ndarray


def parse_lines(lines: list[bytes]) -> ColumnParse:
    """Parse non-blank JSONL lines (no line ends) into plain posts and strict-path indices."""
    if not lines:
        return ColumnParse(POST_SCHEMA.empty_table(), np.zeros(0, np.int64), np.zeros(0, np.int64))
    chunk = _Chunk(lines)
    text, screened = _as_text(chunk)
    screened |= chunk.screened()
    screened |= _matches(text, _WRONG_TYPE)
    parses = _Parses(chunk.without(screened))
    parses.run(len(lines))
    strict = [np.flatnonzero(screened), *parses.failed]
    tables, rows = [], []
    escaped_key = chunk.holding(ord("\\"))
    if escaped_key.any():
        escaped_key &= _matches(text, _ESCAPED_KEY)
    for start, stop, table in parses.tables:  # in line order
        indices = np.arange(start, stop)
        posts, plain = _validate(table, text.slice(start, stop - start), escaped_key[start:stop])
        plain &= ~screened[start:stop]  # a screened line was parsed as {} in its place
        tables.append(posts.filter(pa.array(plain)))
        rows.append(indices[plain])
        strict.append(indices[~plain & ~screened[start:stop]])
    posts = pa.concat_tables(tables) if tables else POST_SCHEMA.empty_table()
    return ColumnParse(posts, _cat(rows), np.unique(_cat(strict)))  # sorted, each line once


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(p, np.int64) for p in parts]) if parts else np.zeros(0, int)


def _as_text(chunk: _Chunk) -> tuple[pa.Array, np.ndarray]:
    """The lines as a string array over the chunk's bytes (each line but the last keeps its
    newline, which no pattern here minds), and which lines are not valid UTF-8 (blanked)."""
    offsets = np.append(chunk.starts, len(chunk.blob)).astype(np.int64)
    text = pa.Array.from_buffers(
        pa.large_string(), len(chunk.lines), [None, pa.py_buffer(offsets), pa.py_buffer(chunk.blob)]
    )
    try:
        text.validate(full=True)  # UTF-8
        return text, np.zeros(len(chunk.lines), bool)
    except pa.ArrowInvalid:
        bad = np.zeros(len(chunk.lines), bool)
        for index, raw in enumerate(chunk.lines):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                bad[index] = True
        cleaned = [b"" if flag else raw for raw, flag in zip(chunk.lines, bad, strict=True)]
        return pa.array(cleaned, pa.binary()).cast(pa.string()), bad


class _Chunk:
    """The chunk's lines joined by newlines, and byte-level screens over the whole of it."""

    def __init__(self, lines: list[bytes]):
        self.lines = lines
        self.blob = b"\n".join(lines)
        self.body = np.frombuffer(self.blob, np.uint8)
        lengths = np.fromiter(map(len, lines), np.int64, len(lines))
        self.starts = np.zeros(len(lines), np.int64)
        np.cumsum(lengths[:-1] + 1, out=self.starts[1:])
        self.ends = self.starts + lengths  # exclusive; lines are non-blank, so never empty

    def line_of(self, positions: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.starts, positions, side="right") - 1

    def holding(self, byte: int) -> np.ndarray:
        """Which lines contain ``byte``."""
        found = np.zeros(len(self.lines), bool)
        found[self.line_of(np.flatnonzero(self.body == byte))] = True
        return found

    def screened(self) -> np.ndarray:
        """Step 1 of the module docstring, except the wrong-type pattern (a regex on the text)."""
        body, n = self.body, len(self.body)
        screened = (body[self.starts] != ord("{")) | (body[self.ends - 1] != ord("}"))
        screened |= self.holding(ord("\r"))
        for word in (b"NaN", b"Infinity"):  # where the first byte is, the rest must follow
            positions = np.flatnonzero(body == word[0])
            for offset, byte in enumerate(word[1:], start=1):
                ahead = np.minimum(positions + offset, n - 1)
                positions = positions[(positions + offset < n) & (body[ahead] == byte)]
            screened[self.line_of(positions)] = True
        brackets = np.flatnonzero((body == ord("[")) | (body == ord("{")))
        per_line = np.bincount(self.line_of(brackets), minlength=len(self.lines))
        return screened | (per_line > _MAX_BRACKETS)

    def without(self, screened: np.ndarray) -> _Chunk:
        """The chunk with each screened line replaced by ``{}``: rows stay aligned with lines,
        and a piece of the chunk is one slice of its bytes."""
        if not screened.any():
            return self
        return _Chunk(
            [b"{}" if flag else raw for raw, flag in zip(self.lines, screened, strict=True)]
        )

    def data(self, start: int, stop: int) -> bytes:
        return self.blob[self.starts[start] : self.ends[stop - 1]]


def _matches(text: pa.Array | pa.ChunkedArray, pattern: str) -> np.ndarray:
    return pc.match_substring_regex(text, pattern).fill_null(False).to_numpy(zero_copy_only=False)


class _Parses:
    """Arrow parses of line ranges of a chunk: good ranges' tables in line order, failed lines."""

    def __init__(self, chunk: _Chunk):
        self.chunk = chunk
        self.tables: list[tuple[int, int, pa.Table]] = []
        self.failed: list[np.ndarray] = []
        self.budget = _MAX_PARSES

    def run(self, n_lines: int) -> None:
        starts = range(0, n_lines, _PIECE)
        pending = [(s, min(s + _PIECE, n_lines)) for s in reversed(starts)]
        while pending:  # a stack: the leftmost range comes off first, so tables are in order
            start, stop = pending.pop()
            if start >= stop:
                continue
            if self.budget == 0:
                self.failed.append(np.arange(start, stop))
                continue
            self.budget -= 1
            table, bad_row = _parse(self.chunk.data(start, stop), stop - start)
            if table is not None:
                self.tables.append((start, stop, table))
            elif bad_row is not None:
                self.failed.append(np.array([start + bad_row]))
                pending += [(start + bad_row + 1, stop), (start, start + bad_row)]
            elif stop - start == 1:
                self.failed.append(np.array([start]))
            else:
                middle = (start + stop) // 2
                pending += [(middle, stop), (start, middle)]


def _parse(data: bytes, n_lines: int) -> tuple[pa.Table | None, int | None]:
    """(table, None) when Arrow parses one row a line; else (None, the failing row or None)."""
    schema = _PARSE_SCHEMA
    for _ in range(2):  # a second parse only when an unknown field was read as a timestamp
        try:
            table = pj.read_json(
                io.BytesIO(data),
                read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 1),
                parse_options=pj.ParseOptions(
                    explicit_schema=schema, unexpected_field_behavior="infer"
                ),
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            found = _ROW_IN_ERROR.search(str(exc))
            row = int(found.group(1)) if found else None
            return None, row if row is not None and row < n_lines else None
        if table.num_rows != n_lines:
            return None, None
        dates = [f for f in table.schema if pa.types.is_timestamp(f.type)]
        if not dates:
            return table, None
        schema = pa.schema([*_PARSE_SCHEMA, *(pa.field(f.name, pa.string()) for f in dates)])
    return None, None


def _validate(
    table: pa.Table, text: pa.Array, escaped_key: np.ndarray
) -> tuple[pa.Table, np.ndarray]:
    """The piece as POST_SCHEMA rows, and which rows are plain (kept; the others go strict)."""
    plain = np.ones(table.num_rows, bool)

    def require(mask: pa.Array | pa.ChunkedArray | np.ndarray) -> None:
        if not isinstance(mask, np.ndarray):
            mask = mask.fill_null(False).to_numpy(zero_copy_only=False)
        plain[~mask] = False

    post_id = table.column("post_id")
    require(pc.match_substring_regex(post_id, _PLAIN_ID))
    user_id = table.column("user_id")
    require(pc.or_kleene(pc.is_null(user_id), pc.match_substring_regex(user_id, _PLAIN_ID)))
    require(_no_null_items(table.column("hashtags")))
    created_at = _timestamps(table.column("created_at"), require)
    sha = table.column("media_sha256")
    require(pc.or_kleene(pc.is_null(sha), pc.match_substring_regex(sha, _SHA256)))
    extra = _extra_json(table, text, escaped_key, require)
    columns = {
        "post_id": post_id,
        "hashtags": table.column("hashtags"),
        "caption": table.column("caption"),
        "user_id": user_id,
        "created_at": created_at,
        "media_uri": table.column("media_uri"),
        "media_sha256": pc.utf8_lower(sha),
        "media_phash": table.column("media_phash"),
        "lang": table.column("lang"),
        "extra": extra,
    }
    return pa.table(columns, schema=POST_SCHEMA), plain


def _no_null_items(hashtags: pa.ChunkedArray) -> np.ndarray:
    flat = pc.list_flatten(hashtags)
    ok = np.ones(len(hashtags), bool)
    if flat.null_count:
        parents = pc.list_parent_indices(hashtags).to_numpy()
        ok[parents[pc.is_null(flat).to_numpy(zero_copy_only=False)]] = False
    return ok


def _timestamps(created_at: pa.ChunkedArray, require) -> pa.ChunkedArray:
    """ISO timestamps of the plain form as UTC milliseconds; other values go strict.

    strptime rolls 30 February over to 1 March, so the parsed day must be the written day.
    """
    plain = pc.match_substring_regex(created_at, _TIMESTAMP)
    stem = pc.utf8_slice_codeunits(pc.if_else(plain, created_at, None), 0, 19)
    parsed = pc.strptime(stem, format=_TIMESTAMP_FORMAT, unit="s", error_is_null=True)
    written_day = pc.utf8_slice_codeunits(stem, 8, 10).cast(pa.int64())
    require(pc.or_kleene(pc.is_null(created_at), pc.equal(pc.day(parsed), written_day)))
    return parsed.cast(pa.timestamp("ms", tz="UTC"))


def _extra_json(
    table: pa.Table, text: pa.Array, escaped_key: np.ndarray, require
) -> pa.ChunkedArray:
    """Unknown fields as ``json.dumps(sort_keys=True, ensure_ascii=False, compact)`` text.

    A null value is written only when its key is in the line, found by a key pattern. A key
    spelled with escapes would hide from the pattern, so in a line that may hold one
    (``escaped_key``) a null sends the row strict.
    """
    names = sorted(name for name in table.column_names if name not in POST_FIELDS)
    if not names:
        return pa.nulls(table.num_rows, pa.string())
    pieces = []
    for name in names:
        column = table.column(name)
        value = _json_text(column, require)
        if column.null_count:
            missing = pc.is_null(column).to_numpy(zero_copy_only=False)
            if "\\" in name:  # no key pattern for it: a null sends the row strict
                require(~missing)
                present = pa.nulls(len(text), pa.bool_())
            else:
                require(~(missing & escaped_key))
                present = pc.match_substring_regex(text, rf'"\Q{name}\E"\s*:')
            value = pc.if_else(pc.and_(pc.is_null(column), present), "null", value)
        key = _json_key(name)
        pieces.append(pc.binary_join_element_wise(key, value, ",", "").fill_null(""))
    joined = pc.binary_join_element_wise(*pieces, "")
    inner = pc.utf8_slice_codeunits(pc.if_else(pc.equal(joined, ""), None, joined), 0, -1)
    return pc.binary_join_element_wise("{", inner, "}", "")  # inner without its last comma


def _json_key(name: str) -> str:
    return json.dumps(name, ensure_ascii=False) + ":"


def _json_text(column: pa.ChunkedArray, require) -> pa.ChunkedArray:
    """Each value's JSON text as json.dumps writes it; rows of other types go strict."""
    kind = column.type
    if pa.types.is_null(kind):
        return pa.chunked_array([pa.nulls(len(column), pa.string())])
    if pa.types.is_int64(kind):
        return column.cast(pa.string())
    if pa.types.is_boolean(kind):
        return pc.if_else(column, "true", "false")
    if pa.types.is_string(kind):
        require(pc.invert(pc.match_substring_regex(column, _JSON_ESCAPED)).fill_null(True))
        return pc.binary_join_element_wise('"', column, '"', "")
    require(pc.is_null(column))
    return pa.chunked_array([pa.nulls(len(column), pa.string())])
