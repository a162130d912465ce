"""Read posts from JSONL (optionally .gz), Parquet and CSV on any fsspec filesystem.

Each reader yields ``PostBatch`` objects: validated posts as an Arrow table plus dead-letter rows
for every record that could not be used, each naming file and line. A reader never raises on a
bad record; it raises ``InputDataError`` only when a file cannot be opened at all. A file that
breaks off in the middle (a truncated gzip) keeps what was read before the break and adds one
dead-letter row saying where it broke.

Formats:
- JSONL: one JSON object a line; a UTF-8 BOM is ignored; blank lines are skipped; NaN/Infinity
  and duplicate keys are rejected (JSON has neither).
- Parquet: columns named as in POST_SCHEMA; line = 1-based row number.
- CSV: a header row; ``hashtags`` is space separated (or a JSON list); empty cells are missing;
  ``media_phash`` is decimal or 0x-prefixed hex.
"""

from __future__ import annotations

import csv
import io
import json
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
        except (EOFError, OSError, zlib.error) as exc:
            broken = dead_letter(source, line_number + 1, None, f"file breaks off: {exc}", "")
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


def _read_parquet(handle, source: str, batch_size: int) -> Iterator[PostBatch]:
    with handle as stream:
        try:
            parquet = pq.ParquetFile(stream)
        except (pa.ArrowInvalid, OSError) as exc:
            yield PostBatch(
                source,
                posts_table([]),
                dead_letter_table(
                    [dead_letter(source, None, None, f"not a Parquet file: {exc}", "")]
                ),
            )
            return
        row = 0
        for record_batch in parquet.iter_batches(batch_size=batch_size):
            rows = record_batch.to_pylist()
            records = [(row + i + 1, _drop_nulls(r)) for i, r in enumerate(rows)]
            row += len(rows)
            yield _batch(source, records, [])


def _drop_nulls(record: dict) -> dict:
    return {k: v for k, v in record.items() if v is not None}


def _csv_record(row: dict[str, str]) -> dict:
    record: dict[str, object] = {}
    for key, value in row.items():
        if key is None:  # more cells than header columns
            record["_extra_cells"] = value
            continue
        if value is None or value == "":
            continue
        if key == "hashtags":
            stripped = value.strip()
            record[key] = json.loads(stripped) if stripped.startswith("[") else stripped.split()
        elif key == "media_phash":
            stripped = value.strip()
            record[key] = int(stripped) if stripped.isdigit() else stripped
        else:
            record[key] = value
    return record


def _read_csv(handle, source: str, batch_size: int, delimiter: str) -> Iterator[PostBatch]:
    records: list[tuple[int, object]] = []
    dead: list[dict] = []
    with handle as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline="")
        reader = csv.DictReader(text, delimiter=delimiter)
        start = 2
        try:
            for row in reader:
                try:
                    records.append((start, _csv_record(row)))
                except ValueError as exc:
                    dead.append(dead_letter(source, start, "hashtags", f"bad cell: {exc}", row))
                start = reader.line_num + 1
                if len(records) + len(dead) >= batch_size:
                    yield _batch(source, records, dead)
                    records, dead = [], []
        except UnicodeDecodeError as exc:
            dead.append(
                dead_letter(
                    source,
                    start,
                    None,
                    f"not valid UTF-8 (byte {exc.start}); the rest of the file is skipped",
                    "",
                )
            )
        except (csv.Error, EOFError, OSError, zlib.error) as exc:
            dead.append(dead_letter(source, start, None, f"file breaks off: {exc}", ""))
    if records or dead:
        yield _batch(source, records, dead)
