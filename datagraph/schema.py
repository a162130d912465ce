"""The one place that owns datagraph's table schemas, and post validation.

Tables: posts, dead letters, vocabulary, mapping, training examples; the manifest is JSON with
the required keys in ``MANIFEST_FIELDS``. ``validate_post`` turns one raw record into either a
typed post row or a dead-letter row naming file, line, field and what is wrong; nothing raises
on bad input.

Post fields (all but post_id optional): post_id, hashtags (list of strings), caption, user_id,
created_at (ISO 8601 string, epoch seconds, or a datetime as a Parquet timestamp column reads;
stored as UTC milliseconds, a datetime without a time zone taken as UTC), media_uri,
media_sha256 (64 hex chars), media_phash (unsigned 64-bit: integer, or 16 hex chars), lang.
Fields the schema does not know pass through untouched as one JSON object in ``extra``; a
record whose unknown fields JSON cannot hold (NaN, infinity, or a Parquet column read as bytes,
a datetime or a decimal) is a dead letter naming the field.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from datagraph.errors import DatagraphError

POST_FIELDS = (
    "post_id",
    "hashtags",
    "caption",
    "user_id",
    "created_at",
    "media_uri",
    "media_sha256",
    "media_phash",
    "lang",
)
POST_SCHEMA = pa.schema(
    [
        pa.field("post_id", pa.string(), nullable=False),
        ("hashtags", pa.list_(pa.string())),
        ("caption", pa.string()),
        ("user_id", pa.string()),
        ("created_at", pa.timestamp("ms", tz="UTC")),
        ("media_uri", pa.string()),
        ("media_sha256", pa.string()),
        ("media_phash", pa.uint64()),
        ("lang", pa.string()),
        ("extra", pa.string()),
    ]
)

DEAD_LETTER_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("line", pa.int64()),  # 1-based line (JSONL/CSV) or row number (Parquet)
        ("field", pa.string()),
        ("error", pa.string()),
        ("raw", pa.string()),  # the offending record, cut to RAW_LIMIT characters
    ]
)
RAW_LIMIT = 65_536

VOCABULARY_SCHEMA = pa.schema(
    [
        ("raw_tag", pa.string()),
        ("n_posts", pa.int64()),
        ("n_users", pa.int64()),
        ("canonical", pa.string()),
        ("tokens", pa.list_(pa.string())),
        ("is_stopword", pa.bool_()),
        ("stop_reason", pa.string()),
    ]
)


def vocabulary_row(raw_tag: str, n_posts: int, n_users: int, normalized: Any) -> tuple:
    """One VOCABULARY_SCHEMA row (a tuple in column order) from a tag's counts and its
    ``NormalizedTag``: how build_graph and its engine-free reference both make the table."""
    return (
        raw_tag,
        n_posts,
        n_users,
        normalized.canonical,
        list(normalized.tokens),
        normalized.is_stopword,
        normalized.stop_reason,
    )


NORMALIZED_TAG_SCHEMA = pa.schema(
    [
        ("raw_tag", pa.string()),
        ("canonical", pa.string()),
        ("tokens", pa.list_(pa.string())),
        ("is_stopword", pa.bool_()),
        ("stop_reason", pa.string()),
        ("rules", pa.list_(pa.string())),
        ("script", pa.string()),
    ]
)

CANDIDATE_TYPE = pa.struct([("synset_id", pa.string()), ("score", pa.float32())])
MAPPING_SCHEMA = pa.schema(
    [
        ("raw_tag", pa.string()),
        ("canonical", pa.string()),
        ("synset_id", pa.string()),
        ("candidates", pa.list_(CANDIDATE_TYPE)),
        ("confidence", pa.float32()),
        ("match", pa.string()),  # how the synset was found: lemma, head_noun, alias, override
        ("class_id", pa.int64()),
        ("class_name", pa.string()),
        ("class_synset_id", pa.string()),  # the taxonomy class's synset (itself or a hypernym)
        ("unmapped_reason", pa.string()),
    ]
)

TRAINING_EXAMPLE_SCHEMA = pa.schema(
    [
        pa.field("post_id", pa.string(), nullable=False),
        ("repeat", pa.int32()),  # 0 for a post's first copy, 1, 2, ... for up-sampled copies
        ("media_uri", pa.string()),
        ("labels", pa.list_(pa.int32())),  # 0-based indices into the manifest's class list
        ("class_ids", pa.list_(pa.int64())),  # the taxonomy's own ids (e.g. LVIS ids)
        ("label_synsets", pa.list_(pa.string())),
        ("label_weights", pa.list_(pa.float32())),
        ("noise_scores", pa.list_(pa.float32())),
        ("sample_weight", pa.float32()),
        ("source_hashtags", pa.list_(pa.string())),
        ("shard", pa.int32()),
    ]
)

# Manifest (manifest.json): required top-level keys and their JSON types.
MANIFEST_FIELDS: dict[str, type | tuple[type, ...]] = {
    "format_version": int,
    "config": dict,
    "code_version": str,
    "seed": int,
    "taxonomy": dict,  # id, fingerprint, classes
    "inputs": list,  # [{path, size_bytes}]
    "counts": dict,  # read, bad, dropped{reason}, kept
    "outputs": list,  # [{path, rows, sha256}]
    "schema": dict,
}

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_HEX64 = re.compile(r"^(0x)?[0-9a-fA-F]{1,16}$")
_STRING_FIELDS = ("caption", "media_uri", "lang")
_ID_FIELDS = ("post_id", "user_id")


@dataclass(frozen=True)
class FieldError(Exception):
    """A single field of a record is invalid (internal: becomes a dead-letter row)."""

    field: str | None
    message: str


def dead_letter(source: str, line: int | None, field: str | None, error: str, raw: object) -> dict:
    """One dead-letter row (see DEAD_LETTER_SCHEMA)."""
    if not isinstance(raw, str):
        try:
            raw = json.dumps(raw, ensure_ascii=False, default=str, allow_nan=True)
        except (TypeError, ValueError):
            raw = repr(raw)
    raw = raw.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(raw) > RAW_LIMIT:
        raw = raw[:RAW_LIMIT] + f"... [{len(raw) - RAW_LIMIT} more characters]"
    return {"source_file": source, "line": line, "field": field, "error": error, "raw": raw}


def _check_text(value: str, field: str) -> str:
    if value.isascii():  # the common case, checked in C; only non-ASCII text can hold a surrogate
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise FieldError(field, "contains invalid Unicode (a lone surrogate)") from None
    return value


def _as_id(value: object, field: str, required: bool) -> str | None:
    if value is None:
        if required:
            raise FieldError(field, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise FieldError(field, f"must be a string or integer, got {type(value).__name__}")
    text = _check_text(str(value), field).strip()
    if not text:
        if required:
            raise FieldError(field, "is empty")
        return None
    return text


def _as_text(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FieldError(field, f"must be a string, got {type(value).__name__}")
    return _check_text(value, field)


def _as_hashtags(value: object) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise FieldError("hashtags", f"must be a list of strings, got {type(value).__name__}")
    try:
        joined = "".join(value)  # the common case in one C call: all strings
    except TypeError:
        joined = None
    if joined is not None and joined.isascii():
        return value
    for position, tag in enumerate(value):
        if not isinstance(tag, str):
            raise FieldError(
                "hashtags", f"item {position} must be a string, got {type(tag).__name__}"
            )
        _check_text(tag, "hashtags")
    return value


def _as_timestamp(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise FieldError("created_at", "must be an ISO 8601 string or epoch seconds, got bool")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise FieldError("created_at", f"must be finite, got {value}")
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise FieldError("created_at", f"epoch seconds out of range: {value}") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise FieldError("created_at", f"not an ISO 8601 timestamp: {value[:40]!r}") from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if isinstance(value, datetime):  # a Parquet timestamp column, POST_SCHEMA's own type
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    raise FieldError(
        "created_at", f"must be an ISO 8601 string or epoch seconds, got {type(value).__name__}"
    )


def _as_sha256(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256.match(value):
        raise FieldError("media_sha256", "must be 64 hexadecimal characters")
    return value.lower()


def _as_phash(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise FieldError("media_phash", "must be an unsigned 64-bit integer or hex string")
    if isinstance(value, int):
        if not 0 <= value < 1 << 64:
            raise FieldError("media_phash", f"out of the unsigned 64-bit range: {value}")
        return value
    if isinstance(value, str) and _HEX64.match(value.strip()):
        return int(value.strip().removeprefix("0x"), 16)
    raise FieldError("media_phash", "must be an unsigned 64-bit integer or up to 16 hex digits")


def validate_post(record: object) -> dict:
    """Check and type one raw post record; raises FieldError naming the bad field.

    >>> validate_post({"post_id": 7, "hashtags": ["#dog"], "likes": 3})["extra"]
    '{"likes":3}'
    """
    if not isinstance(record, dict):
        raise FieldError(None, f"expected a JSON object, got {type(record).__name__}")
    post = {
        "post_id": _as_id(record.get("post_id"), "post_id", required=True),
        "hashtags": _as_hashtags(record.get("hashtags")),
        "user_id": _as_id(record.get("user_id"), "user_id", required=False),
        "created_at": _as_timestamp(record.get("created_at")),
        "media_sha256": _as_sha256(record.get("media_sha256")),
        "media_phash": _as_phash(record.get("media_phash")),
    }
    for name in _STRING_FIELDS:
        post[name] = _as_text(record.get(name), name)
    extra = {key: value for key, value in record.items() if key not in POST_FIELDS}
    if extra:
        try:
            post["extra"] = json.dumps(
                extra, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            )
        except ValueError:
            raise FieldError("extra", "unknown fields hold NaN or infinity") from None
        except TypeError:
            raise FieldError("extra", _not_json(extra)) from None
        _check_text(post["extra"], "extra")
    else:
        post["extra"] = None
    return post


def _not_json(extra: dict) -> str:
    """Why ``extra`` has no JSON form: the first unknown field (in key order) whose value JSON
    cannot hold, e.g. a Parquet binary, timestamp or decimal column read as bytes, datetime or
    Decimal. Turning such values into text would be a guess, so the record is a dead letter."""
    for key in sorted(extra):
        try:
            json.dumps(extra[key], allow_nan=True)
        except TypeError as exc:
            return f"unknown field {key!r} cannot be written as JSON ({exc})"
    return "unknown fields cannot be written as JSON"


def validate_records(
    records: list[tuple[int, object]], source: str
) -> tuple[list[dict], list[dict]]:
    """Validate ``(line, record)`` pairs; return (post rows, dead-letter rows)."""
    posts, dead = [], []
    for line, record in records:
        try:
            posts.append(validate_post(record))
        except FieldError as exc:
            field = exc.field
            message = f"{field} {exc.message}" if field else exc.message
            dead.append(dead_letter(source, line, field, message, record))
    return posts, dead


def posts_table(rows: list[dict]) -> pa.Table:
    """Arrow table of validated post rows (POST_SCHEMA column order)."""
    return pa.Table.from_pylist(rows, schema=POST_SCHEMA)


def dead_letter_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=DEAD_LETTER_SCHEMA)


def validate_manifest(manifest: object, source: str = "manifest.json") -> list[str]:
    """Problems with a manifest's required keys and types (empty list when valid)."""
    if not isinstance(manifest, dict):
        return [f"{source}: expected a JSON object"]
    problems = []
    for key, kind in MANIFEST_FIELDS.items():
        if key not in manifest:
            problems.append(f"{source}: missing key {key!r}")
        elif not isinstance(manifest[key], kind) or isinstance(manifest[key], bool):
            problems.append(f"{source}: key {key!r} must be {getattr(kind, '__name__', kind)}")
    return problems


def read_manifest(file: Path, pipeline: str, what: str, format_version: int = 1) -> dict:
    """A pipeline's manifest.json, read and checked to be ``pipeline``'s of ``format_version``.

    Every reader of a manifest (the shard feed, the report, build_shards reading its graph)
    gets the same one-line errors naming the file: missing (the pipeline writes the manifest
    last, so an interrupted run has none), not JSON (with line and column), another pipeline's,
    another format version. ``what`` names the directory for the user ("shard set").
    """
    if not file.is_file():
        raise DatagraphError(
            f"{file}: missing; {file.parent} is not a complete {what} ({pipeline} writes "
            "manifest.json last, so an interrupted run has none: rerun it)"
        )
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatagraphError(
            f"{file}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatagraphError(f"{file}: cannot read as JSON ({exc})") from None
    found = manifest.get("pipeline") if isinstance(manifest, dict) else None
    if found != pipeline:
        raise DatagraphError(
            f"{file}: not a {pipeline} manifest (pipeline is {found!r}); pass the directory "
            f"{pipeline} wrote"
        )
    version = manifest.get("format_version")
    if version != format_version or isinstance(version, bool):
        raise DatagraphError(
            f"{file}: {pipeline} manifest format_version {version!r}, this datagraph reads "
            f"{format_version}; use a matching datagraph or rerun {pipeline}"
        )
    return manifest
