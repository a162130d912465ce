"""Grouping through files: a GroupByKey whose values never pass through the runner.

FnApiRunner, the single-machine runner, keeps every grouping step's input in its driver's
memory and sends each worker a stage's whole input as one message, so its memory grows with the
number of posts (docs/benchmarks.md, "build_graph at 5M posts"). Runners for clusters (Flink)
spill their shuffles to disk themselves. ``GroupByKeyViaFiles`` does that spilling for any
runner whose workers share the output's filesystem:

1. ``Spill``: each bundle appends its (key, bytes) elements to one file per key under
   ``directory/<step>/<key>/<bundle id>`` (length-prefixed records) and, when the bundle
   finishes, emits (key, file path): a few bytes per key and bundle.
2. A ``GroupByKey`` of those paths: what the runner holds is a list of file names.
3. ``Load``: (key, ``SpilledValues``): the values of every file of the key, read in path
   order when iterated.

A bundle that fails is retried under a new bundle id and its outputs (emitted only when it
finishes) are discarded, so a partial file is never read. The values of a key arrive in an
order that depends on the bundling, as with Beam's own GroupByKey: consumers must not depend
on it (build_graph's steps sort what they group). The directory is removed by the caller when
the run ends (``spill_directory``), and like every ``.<name>.<random>.tmp`` entry by
``prepare_output`` after a killed run.
"""

from __future__ import annotations

import shutil
import struct
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

FLUSH_BYTES = 32 * 2**20  # a bundle's buffered values are appended to their files past this
_LENGTH = struct.Struct("<Q")

# Runners whose grouping steps are held in one process's memory: "auto" spills them to files.
IN_MEMORY_RUNNERS = frozenset({"FnApiRunner", "DirectRunner", "BundleBasedDirectRunner"})


def shuffle_for(requested: str, runner: str) -> str:
    """``beam`` or ``files`` for ``--shuffle auto|beam|files`` on ``runner``."""
    if requested != "auto":
        return requested
    return "files" if runner in IN_MEMORY_RUNNERS else "beam"


@contextmanager
def spill_directory(output: Path, shuffle: str) -> Iterator[str | None]:
    """A fresh hidden directory in ``output`` for the spilled groups (None for ``beam``),
    removed when the block ends, whether the run succeeded or not."""
    if shuffle != "files":
        yield None
        return
    directory = output / f".shuffle.{uuid.uuid4().hex}.tmp"
    directory.mkdir(parents=True)
    try:
        yield str(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def write_records(path: Path, values: list[bytes]) -> None:
    """Append length-prefixed ``values`` to ``path``."""
    with open(path, "ab") as handle:
        for value in values:
            handle.write(_LENGTH.pack(len(value)))
            handle.write(value)


def read_records(path: str) -> Iterator[bytes]:
    """The values ``write_records`` appended to ``path``, in order."""
    with open(path, "rb") as handle:
        while header := handle.read(_LENGTH.size):
            (size,) = _LENGTH.unpack(header)
            value = handle.read(size)
            if len(value) != size:
                raise OSError(f"{path}: truncated spill record")
            yield value


class _SpillFn(beam.DoFn):
    """(key, bytes) -> appended to this bundle's file of the key; (key, path) when it ends."""

    def __init__(self, directory: str, folder: str):
        self.directory = directory
        self.folder = folder

    def start_bundle(self) -> None:
        self.bundle = uuid.uuid4().hex
        self.buffers: dict[int, list[bytes]] = {}
        self.buffered = 0
        self.paths: dict[int, Path] = {}

    def process(self, element: tuple[int, bytes]) -> None:
        key, value = element
        self.buffers.setdefault(key, []).append(value)
        self.buffered += len(value)
        if self.buffered >= FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        for key, values in self.buffers.items():
            path = self.paths.get(key)
            if path is None:
                folder = Path(self.directory) / self.folder / str(key)
                folder.mkdir(parents=True, exist_ok=True)
                path = self.paths[key] = folder / self.bundle
            write_records(path, values)
        self.buffers, self.buffered = {}, 0

    def finish_bundle(self) -> Iterator:
        self._flush()
        for key, path in sorted(self.paths.items()):
            yield GlobalWindows.windowed_value((key, str(path)))
        self.paths = {}


class SpilledValues:
    """The values of one key: read from its files each time it is iterated. Picklable as the
    list of paths, so a runner that moves it between stages moves file names, not values."""

    def __init__(self, paths: list[str]):
        self.paths = sorted(paths)

    def __iter__(self) -> Iterator[bytes]:
        for path in self.paths:
            yield from read_records(path)


def _load(group: tuple[int, list[str]]) -> tuple[int, SpilledValues]:
    key, paths = group
    return key, SpilledValues(list(paths))


class GroupByKeyViaFiles(beam.PTransform):
    """``beam.GroupByKey`` for (int key, bytes value) elements, the values through files in
    ``directory`` (module docstring); with ``directory`` None, Beam's own GroupByKey."""

    def __init__(self, directory: str | None, step: str):
        super().__init__()
        self.directory = directory
        self.step = step

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        if self.directory is None:
            return pcoll | "Group" >> beam.GroupByKey()
        return (
            pcoll
            | "Spill" >> beam.ParDo(_SpillFn(self.directory, _safe(self.step)))
            | "Group paths" >> beam.GroupByKey()
            | "Load" >> beam.Map(_load)
        )


def _inline(element: tuple[int, Any], name: str) -> tuple[int, tuple[str, Any]]:
    key, value = element
    return key, (name, value)


def _by_input(
    group: tuple[int, Iterable[str | tuple[str, Any]]],
    names: dict[str, str],
    inline_names: tuple[str, ...],
) -> tuple[int, dict]:
    """(key, {input name: its values}) from a key's spill file paths (a path's input is its
    folder two levels up, ``<step>/<input>/<key>/<bundle>``) and inline (name, value) pairs."""
    key, items = group
    paths: dict[str, list[str]] = {name: [] for name in names.values()}
    inline: dict[str, list[Any]] = {name: [] for name in inline_names}
    for item in items:
        if isinstance(item, str):
            paths[names[Path(item).parent.parent.name]].append(item)
        else:
            inline[item[0]].append(item[1])
    return key, {**{name: SpilledValues(files) for name, files in paths.items()}, **inline}


class CoGroupByKeyViaFiles(beam.PTransform):
    """``beam.CoGroupByKey`` of a dict of (int key, value) PCollections, through files: each
    input's bytes values are spilled on their own (under ``<step>/<input>``) before anything is
    flattened, so only file paths meet in the runner. Inputs named in ``inline`` (small ones,
    values of any type) go through the runner as they are. With ``directory`` None, Beam's
    own CoGroupByKey."""

    def __init__(self, directory: str | None, step: str, inline: tuple[str, ...] = ()):
        super().__init__()
        self.directory = directory
        self.step = step
        self.inline = inline

    def expand(self, inputs: dict[str, beam.PCollection]) -> beam.PCollection:
        if self.directory is None:
            return inputs | "CoGroup" >> beam.CoGroupByKey()
        spilled = [name for name in inputs if name not in self.inline]
        names = {_safe(name): name for name in spilled}
        if len(names) != len(spilled):
            raise ValueError(f"input names {sorted(inputs)} collide as folder names")
        step = _safe(self.step)
        items = [
            inputs[name] | f"Spill {name}" >> beam.ParDo(_SpillFn(self.directory, f"{step}/{safe}"))
            for safe, name in names.items()
        ]
        inline = tuple(name for name in inputs if name in self.inline)
        items += [inputs[name] | f"Inline {name}" >> beam.Map(_inline, name) for name in inline]
        return (
            items
            | "All inputs" >> beam.Flatten()
            | "Group paths" >> beam.GroupByKey()
            | "By input" >> beam.Map(_by_input, names, inline)
        )


def _safe(step: str) -> str:
    """A step label as one path component."""
    return "".join(c if c.isalnum() else "_" for c in step) or "step"
