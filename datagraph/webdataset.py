"""A shard's training examples as a WebDataset tar: one sample per row, for webdataset users.

``webdataset_tar(table, classes)`` turns one shard's rows (``TRAINING_EXAMPLE_SCHEMA``, as
``datagraph.shards.shard_examples`` makes them) into the bytes of one uncompressed tar. Each row
becomes one sample, in shard order, made of adjacent members that share a key:

- ``<key>.json``: the row as a JSON object (every schema column, plus ``label_names`` and
  ``num_classes`` from the class list), UTF-8;
- ``<key>.url``: the row's ``media_uri`` as UTF-8 text, absent when the row has none.

WebDataset groups consecutive members by the part of the file name before its first dot, so a
key must hold no dot, must not contain ``/`` (a directory), and must differ between the rows of
one tar, including the copies resampling adds of one post. Post ids are user data (any
characters, any length), so the key is derived, not copied:

    key = sha256(post_id as UTF-8).hexdigest()[:32] + "_" + str(repeat)

e.g. post ``"../../etc/passwd"``, copy 1 -> ``"3754d6cb3a38e1185e5b382d5f3ef3f1_1"``. It is a
function of the post alone (not of the seed or the shard), so a post has the same key in every
run; the JSON keeps the original ``post_id``.

The bytes are a function of the rows and the class list: USTAR headers with mtime 0, uid/gid 0,
empty user and group names, mode 0644, members in row order, floats written as the shortest
decimal that reads back as the same float32. The format is docs/shards.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from datagraph.errors import DatagraphError
from datagraph.shards import SHARD_SCHEMA, ClassList

KEY_DIGITS = 32  # hex digits of sha256 kept: 128 bits, so distinct posts never meet in a tar
TAR_FORMAT = tarfile.USTAR_FORMAT  # names are short ASCII: one 512-byte header per member
MEMBER_MODE = 0o644
_FLOAT_COLUMNS = ("label_weights", "noise_scores", "sample_weight")


def webdataset_key(post_id: str, repeat: int) -> str:
    """The sample key of one copy of a post: hex digits, ``_``, the copy number.

    >>> webdataset_key("p1", 0) == webdataset_key("p1", 0) != webdataset_key("p1", 1)
    True
    >>> webdataset_key("a.b/../c", 2).endswith("_2") and "." not in webdataset_key("a.b", 0)
    True
    """
    digest = hashlib.sha256(post_id.encode("utf-8")).hexdigest()[:KEY_DIGITS]
    return f"{digest}_{int(repeat)}"


def tar_path(shard_path: str) -> str:
    """The tar beside a Parquet shard: ``train/part-00003-of-00064.parquet`` ->
    ``train/part-00003-of-00064.tar``."""
    if not shard_path.endswith(".parquet"):
        raise DatagraphError(f"{shard_path}: not a Parquet shard path (expected *.parquet)")
    return shard_path.removesuffix(".parquet") + ".tar"


def tar_members(table: pa.Table) -> int:
    """How many files ``webdataset_tar`` writes for ``table``: a .json per row, plus a .url
    per row with a media_uri."""
    return 2 * table.num_rows - table.column("media_uri").null_count


def webdataset_tar(table: pa.Table, classes: ClassList) -> bytes:
    """One shard's rows as the bytes of a WebDataset tar (see the module docstring).

    ``classes`` is the shard set's class list (the manifest's ``classes``); its names become
    each sample's ``label_names``. Raises ``DatagraphError`` when a column is missing, a label
    is outside the class list, a float is not finite (JSON has no NaN), or two rows share a
    key (the same post and copy number twice).
    """
    missing = [name for name in SHARD_SCHEMA.names if name not in table.column_names]
    if missing:
        raise DatagraphError(f"webdataset: the shard table lacks column(s) {', '.join(missing)}")
    table = table.select(SHARD_SCHEMA.names).cast(SHARD_SCHEMA)
    columns = {
        name: table.column(name).to_pylist()
        for name in SHARD_SCHEMA.names
        if name not in _FLOAT_COLUMNS
    }
    for name in _FLOAT_COLUMNS:
        columns[name] = _shortest_float32(table.column(name), name, columns["post_id"])
    names = list(classes.names)
    buffer = io.BytesIO()
    seen: set[str] = set()
    with tarfile.open(fileobj=buffer, mode="w", format=TAR_FORMAT, encoding="ascii") as tar:
        for row in range(table.num_rows):
            record = {name: columns[name][row] for name in SHARD_SCHEMA.names}
            if record["repeat"] is None:
                raise DatagraphError(f"webdataset: post {record['post_id']!r} has no repeat")
            key = webdataset_key(record["post_id"], record["repeat"])
            if key in seen:
                raise DatagraphError(
                    f"webdataset: post {record['post_id']!r} copy {record['repeat']} appears "
                    "twice in one shard; keys must be unique within a tar"
                )
            seen.add(key)
            labels = record["labels"] or []
            record["label_names"] = _label_names(labels, names, record["post_id"])
            record["num_classes"] = len(names)
            text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            _add_member(tar, f"{key}.json", text.encode("utf-8"))
            if record["media_uri"] is not None:
                _add_member(tar, f"{key}.url", record["media_uri"].encode("utf-8"))
    return buffer.getvalue()


def _label_names(labels: Sequence[int], names: Sequence[str], post_id: str) -> list[str]:
    """The class names of ``labels``; a label outside the class list is an error, not a skip."""
    for label in labels:
        if not 0 <= label < len(names):
            raise DatagraphError(
                f"webdataset: post {post_id!r} has label {label}, outside the class list "
                f"(0..{len(names) - 1})"
            )
    return [names[label] for label in labels]


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    """One regular file with every header field that could vary between runs fixed."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = MEMBER_MODE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    tar.addfile(info, io.BytesIO(data))


def _shortest_float32(column: pa.ChunkedArray, name: str, post_ids: list[str]) -> list:
    """A float32 or list<float32> column as Python floats that print as the shortest decimal
    reading back as the same float32 (``0.33333334``, not ``0.3333333432674408``); nulls stay
    None. A non-finite value raises: strict JSON cannot hold it."""
    array = column.combine_chunks()
    is_list = pa.types.is_list(array.type)
    if is_list:
        offsets = array.offsets.to_numpy().astype(np.int64)
        flat = array.values.slice(offsets[0], offsets[-1] - offsets[0])
        offsets = offsets - offsets[0]
    else:
        offsets, flat = np.arange(len(array) + 1), array
    values = flat.fill_null(0).to_numpy(zero_copy_only=False).astype(np.float32)
    valid = flat.is_valid().to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(~np.isfinite(values) & valid)
    if len(bad):
        row = int(np.searchsorted(offsets, bad[0], side="right") - 1)
        raise DatagraphError(
            f"webdataset: {name} of post {post_ids[row]!r} is not finite ({values[bad[0]]}); "
            "JSON cannot hold it"
        )
    shortest = [
        float(text) if ok else None
        for text, ok in zip(values.astype(str).tolist(), valid.tolist(), strict=True)
    ]
    if not is_list:
        return shortest
    rows = array.is_valid().to_numpy(zero_copy_only=False).tolist()
    return [
        shortest[offsets[row] : offsets[row + 1]] if ok else None for row, ok in enumerate(rows)
    ]
