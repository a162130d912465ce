"""Read posts from JSONL (optionally .gz), Parquet and CSV on any fsspec filesystem.

Each reader yields ``PostBatch`` objects: validated posts as an Arrow table plus dead-letter rows
for every record that could not be used, each naming file and line. A reader never raises on a
bad record; it raises ``InputDataError`` only when a file cannot be opened at all. A file that
breaks off in the middle (a truncated gzip, xz or bz2 stream) keeps what was read before the
break and adds one dead-letter row saying where it broke. tests/test_bad_inputs.py runs every
format's bad cases (tests/data/bad_inputs/) and tests/test_readers.py feeds random bytes.

Formats:
- JSONL: one JSON object a line; a UTF-8 BOM is ignored; blank lines are skipped; NaN/Infinity
  and duplicate keys are rejected (JSON has neither).
- Parquet: columns named as in POST_SCHEMA; line = 1-based row number. A row with a cell that
  cannot be read (a string column holding invalid UTF-8) is a dead letter; a row group that
  cannot be decoded (a corrupt page) is one dead letter at its first unread row, and the
  following row groups are still read.
- CSV: a header row; ``hashtags`` is space separated (or a JSON list); empty cells are missing;
  ``media_phash`` is decimal or 0x-prefixed hex. Quoting is strict: a row with text after a
  closing quote, or an unterminated quote (which swallows the rest of the file), is a dead
  letter rather than a silently merged cell. A row holding invalid UTF-8 is a dead letter and
  the rows after it are read; cells have no size limit (a 1 MB caption is a caption).
"""

from __future__ import annotations

import csv
import io
import json
import lzma
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from datagraph.errors import InputDataError
from datagraph.json_lines import parse_lines
from datagraph.schema import (
    dead_letter,
    dead_letter_table,
    posts_table,
    validate_records,
)

DEFAULT_BATCH_SIZE = 8192
# What a broken compressed stream raises (gzip: EOFError, BadGzipFile, zlib.error; bz2: OSError).
_STREAM_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError)
# What pyarrow raises on a corrupt Parquet file: its own errors, OSError for I/O and thrift
# failures, ValueError (UnicodeDecodeError among them) for names or cells that are not UTF-8.
_PARQUET_ERRORS = (pa.ArrowException, OSError, ValueError, OverflowError)
_CSV_FIELD_LIMIT = 2**31 - 1  # the csv module's default is 128 KiB; JSONL lines have no limit
_FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
}


@dataclass
class PostBatch:
    """Validated posts and dead letters from one slice of one input file."""

    source: str
    posts: pa.Table
    dead_letters: pa.Table

    @property
    def rows_read(self) -> int:
        return self.posts.num_rows + self.dead_letters.num_rows


def detect_format(path: str) -> str:
    """jsonl | parquet | csv | tsv from the file name (compression suffixes ignored)."""
    name = path.lower()
    for suffix in (".gz", ".bz2", ".zst", ".xz"):
        name = name.removesuffix(suffix)
    for suffix, fmt in _FORMATS.items():
        if name.endswith(suffix):
            return fmt
    raise InputDataError(
        f"{path}: unknown input format; name files *.jsonl[.gz], *.parquet or *.csv[.gz]"
    )


def expand_inputs(patterns: list[str] | str) -> list[str]:
    """Expand glob patterns on any fsspec filesystem into a sorted list of files."""
    if isinstance(patterns, str):
        patterns = [patterns]
    files: list[str] = []
    for pattern in patterns:
        fs, _, paths = fsspec.get_fs_token_paths(pattern)
        matched = sorted(p for p in paths if fs.isfile(p))
        if not matched:
            raise InputDataError(f"{pattern}: no input files match")
        protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
        prefix = "" if protocol in ("file", "local") else f"{protocol}://"
        files.extend(prefix + p for p in matched)
    return files


def read_posts(path: str, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[PostBatch]:
    """Yield validated batches of posts from one file of any supported format."""
    fmt = detect_format(path)
    try:
        handle = fsspec.open(path, mode="rb", compression="infer")
        if fmt == "jsonl":
            yield from _read_jsonl(handle, path, batch_size)
        elif fmt == "parquet":
            yield from _read_parquet(handle, path, batch_size)
        else:
            yield from _read_csv(handle, path, batch_size, "\t" if fmt == "tsv" else ",")
    except FileNotFoundError:
        raise InputDataError(f"{path}: file not found") from None
    except PermissionError:
        raise InputDataError(f"{path}: permission denied") from None


def _batch(source: str, records: list[tuple[int, object]], dead: list[dict]) -> PostBatch:
    posts, bad = validate_records(records, source)
    dead_rows = sorted(dead + bad, key=lambda row: row["line"] or 0)
    return PostBatch(source, posts_table(posts), dead_letter_table(dead_rows))


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"duplicate key {duplicate!r}")
    return result


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
_FAST_DECODER = json.JSONDecoder(parse_constant=_reject_constant)  # builds dicts in C
_KEY_END = re.compile(r'"\s*:')


def parse_json_line(raw: bytes) -> object:
    """Parse one JSONL line strictly; raises ValueError with a short reason."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid UTF-8 (byte {exc.start})") from None
    try:
        fast = _without_duplicate_keys(text)
        return fast if fast is not None else _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise ValueError("invalid JSON: nested too deeply") from None


def _without_duplicate_keys(text: str) -> dict | None:
    """The line's object when it provably has no duplicate key, else None (parse it strictly).

    The duplicate-key hook costs three times the parse, so the common line is parsed by the C
    decoder and checked instead. With no backslash in the line every '"' delimits a string, and
    with a single '{' there is one object and no nested one. Each key occurrence then ends in
    '"' + whitespace + ':', and only a string value starting with ':' adds another match; so
    as many matches as distinct keys proves that no key repeats (more sends the line to the
    strict decoder).
    """
    if "\\" in text or text.count("{") != 1:
        return None
    value = _FAST_DECODER.decode(text)
    if isinstance(value, dict) and len(_KEY_END.findall(text)) == len(value):
        return value
    return None


def _read_jsonl(handle, source: str, batch_size: int) -> Iterator[PostBatch]:
    numbered: list[tuple[int, bytes]] = []
    line_number = 0
    with handle as stream:
        try:
            for line_number, raw in enumerate(stream, start=1):
                if line_number == 1:
                    raw = raw.removeprefix(b"\xef\xbb\xbf")
                raw = raw.rstrip(b"\r\n")
                if not raw.strip():
                    continue
                numbered.append((line_number, raw))
                if len(numbered) >= batch_size:
                    yield jsonl_batch(source, numbered)
                    numbered = []
        except _STREAM_ERRORS as exc:
            broken = dead_letter(source, line_number + 1, None, _breaks_off(exc), "")
            yield jsonl_batch(source, numbered, [broken])
            return
    if numbered:
        yield jsonl_batch(source, numbered)


def jsonl_batch(
    source: str,
    numbered: list[tuple[int, bytes]],
    dead: list[dict] | None = None,
    columnar: bool = True,
) -> PostBatch:
    """One batch from ``(line number, raw line)`` pairs (non-blank, line ends stripped).

    ``columnar`` parses plain lines as Arrow columns (``json_lines.parse_lines``) and only the
    rest line by line; without it every line takes the strict path. Both give the same batch
    (tests/test_json_lines.py checks it); the strict path stays as the reference.
    """
    dead = list(dead or [])
    if columnar:
        parsed = parse_lines([raw for _, raw in numbered])
        fast_posts, fast_rows, strict = parsed.posts, parsed.rows, parsed.strict.tolist()
    else:
        fast_posts, fast_rows, strict = posts_table([]), np.zeros(0, np.int64), range(len(numbered))
    strict_posts: list[dict] = []
    strict_rows: list[int] = []
    for index in strict:
        line, raw = numbered[index]
        try:
            record = parse_json_line(raw)
        except ValueError as exc:
            text = raw.decode("utf-8", "backslashreplace")
            dead.append(dead_letter(source, line, None, str(exc), text))
            continue
        posts, bad = validate_records([(line, record)], source)
        strict_posts += posts
        strict_rows += [index] * len(posts)
        dead += bad
    posts = fast_posts
    if strict_posts:
        posts = pa.concat_tables([fast_posts, posts_table(strict_posts)])
        rows = np.concatenate([fast_rows, np.asarray(strict_rows, np.int64)])
        posts = posts.take(pa.array(np.argsort(rows, kind="stable")))
    dead_rows = sorted(dead, key=lambda row: row["line"] or 0)
    return PostBatch(source, posts, dead_letter_table(dead_rows))


def _breaks_off(exc: BaseException) -> str:
    """The dead-letter reason for a stream that stops: the exception's text, or its type when it
    has none (a zstd error can be blank)."""
    return f"file breaks off: {str(exc) or type(exc).__name__}"


def _read_parquet(handle, source: str, batch_size: int) -> Iterator[PostBatch]:
    """Row groups one at a time, so that a corrupt one costs only its own rows (one dead letter
    at its first unread row) and the rows of every other row group are still read."""
    with handle as stream:
        try:
            parquet = pq.ParquetFile(stream)
            metadata = parquet.metadata
            sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        except _PARQUET_ERRORS as exc:
            broken = dead_letter(source, None, None, f"not a Parquet file: {exc}", "")
            yield PostBatch(source, posts_table([]), dead_letter_table([broken]))
            return
        before = 0  # rows in the row groups before this one
        for group, size in enumerate(sizes):
            done = 0
            try:
                for record_batch in parquet.iter_batches(batch_size=batch_size, row_groups=[group]):
                    records, dead = _parquet_records(record_batch, source, before + done)
                    done += record_batch.num_rows
                    yield _batch(source, records, dead)
            except _PARQUET_ERRORS as exc:
                first, last = before + done + 1, before + size
                reason = f"rows {first}-{last} (row group {group + 1}) cannot be read: {exc}"
                broken = dead_letter(source, first, None, reason, "")
                yield PostBatch(source, posts_table([]), dead_letter_table([broken]))
            before += max(size, done)


def _parquet_records(
    record_batch: pa.RecordBatch, source: str, before: int
) -> tuple[list[tuple[int, object]], list[dict]]:
    """(row number, record) pairs of a batch whose first row is row ``before + 1``, and a dead
    letter for each row with a cell Python cannot hold (found row by row only when the whole
    batch fails: a string that is not UTF-8, a timestamp outside years 1-9999)."""
    try:
        rows = record_batch.to_pylist()
    except _PARQUET_ERRORS:
        rows = [_parquet_row(record_batch.slice(i, 1)) for i in range(record_batch.num_rows)]
    records, dead = [], []
    for i, row in enumerate(rows):
        if isinstance(row, dict):
            records.append((before + i + 1, _drop_nulls(row)))
        else:
            column, reason = row
            dead.append(dead_letter(source, before + i + 1, column, reason, ""))
    return records, dead


def _parquet_row(one_row: pa.RecordBatch) -> dict | tuple[str, str]:
    """A one-row batch as a dict, or (column, reason) for its first cell that cannot be read."""
    row = {}
    for name, column in zip(one_row.schema.names, one_row.columns, strict=True):
        try:
            row[name] = column.to_pylist()[0]
        except UnicodeDecodeError as exc:
            return name, f"{name} is not valid UTF-8 (byte {exc.start})"
        except _PARQUET_ERRORS as exc:
            return name, f"{name} cannot be read: {exc}"
    return row


def _drop_nulls(record: dict) -> dict:
    return {k: v for k, v in record.items() if v is not None}


class _CellError(ValueError):
    """A CSV cell that cannot become a record field (internal: becomes a dead letter)."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field


def _csv_record(header: list[str], cells: list[str]) -> dict:
    """One CSV row as a raw post record; raises _CellError for a cell that cannot be one:
    invalid UTF-8 (decoded as lone surrogates), or a hashtags cell that looks like a JSON list
    but is not one. Cells beyond the header go to ``_extra_cells`` (so to ``extra``)."""
    record: dict[str, object] = {}
    for position, (key, value) in enumerate(zip(header, cells, strict=False), start=1):
        if value == "":
            continue
        if not _is_utf8(key):  # the cell would go to ``extra`` under a name that is not text
            raise _CellError(None, f"not valid UTF-8 in the header (column {position})")
        if not _is_utf8(value):
            raise _CellError(key, f"not valid UTF-8 (column {position})")
        if key == "hashtags":
            stripped = value.strip()
            record[key] = _json_list(stripped) if stripped.startswith("[") else stripped.split()
        elif key == "media_phash":
            stripped = value.strip()
            decimal = stripped.isascii() and stripped.isdigit() and len(stripped) <= 20
            record[key] = int(stripped) if decimal else stripped  # else validation judges it
        else:
            record[key] = value
    if len(cells) > len(header):
        extra = cells[len(header) :]
        if not all(_is_utf8(cell) for cell in extra):
            raise _CellError(None, f"not valid UTF-8 (column {len(header) + 1} or later)")
        record["_extra_cells"] = extra
    return record


def _is_utf8(text: str) -> bool:
    """False when ``text`` holds lone surrogates: bytes that were not UTF-8, decoded with
    ``surrogateescape`` (valid UTF-8 never decodes to a surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_list(cell: str) -> object:
    try:
        return json.loads(cell)
    except ValueError as exc:
        raise _CellError("hashtags", f"bad cell: {exc}") from None
    except RecursionError:
        raise _CellError("hashtags", "bad cell: nested too deeply") from None


def _read_csv(handle, source: str, batch_size: int, delimiter: str) -> Iterator[PostBatch]:
    """Rows of a CSV/TSV file, each a post or a dead letter at the line it starts on.

    Bytes are decoded with ``surrogateescape`` so that a row with invalid UTF-8 becomes one
    dead letter and the next rows are still read. Quoting is strict; after a quoting error the
    reader goes on at the next line. Blank lines are skipped. A header row that cannot be read
    is one dead letter, and nothing else of the file is.
    """
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    records: list[tuple[int, object]] = []
    dead: list[dict] = []
    with handle as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
        rows = csv.reader(text, delimiter=delimiter, strict=True)
        start = 1  # the line the next row starts on
        try:
            header = next(rows, None)
            if header is None:  # an empty file
                return
            start = rows.line_num + 1
            while True:
                try:
                    cells = next(rows)
                except StopIteration:
                    break
                except csv.Error as exc:
                    dead.append(dead_letter(source, start, None, _csv_problem(exc, start), ""))
                    cells = []
                if cells:
                    try:
                        records.append((start, _csv_record(header, cells)))
                    except _CellError as exc:
                        raw = dict(zip(header, cells, strict=False))
                        dead.append(dead_letter(source, start, exc.field, str(exc), raw))
                start = rows.line_num + 1
                if len(records) + len(dead) >= batch_size:
                    yield _batch(source, records, dead)
                    records, dead = [], []
        except csv.Error as exc:  # only the header row gets here
            dead.append(dead_letter(source, start, None, f"header row: {exc}", ""))
        except _STREAM_ERRORS as exc:
            dead.append(dead_letter(source, start, None, _breaks_off(exc), ""))
    if records or dead:
        yield _batch(source, records, dead)


def _csv_problem(exc: csv.Error, start: int) -> str:
    if "unexpected end of data" in str(exc):
        return f"unterminated quote: the rest of the file from line {start} is in one cell"
    return f"bad quoting: {exc}"
