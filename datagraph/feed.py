"""The trainer feed: a build_shards shard set read as a PyTorch ``IterableDataset``.

A shard set (docs/shards.md) is a directory of Parquet shards plus ``manifest.json``. The unit of
work is one row group of one shard, known from the Parquet footers without reading any rows, so
ranks and DataLoader workers split the work without coordination, duplicates or gaps: each epoch
the units are permuted by a generator seeded from ``(seed, epoch)`` -- the same permutation on
every rank -- and global worker ``g`` of ``W`` takes units ``g, g + W, g + 2W, ...``. Each worker
reads its units one row group at a time and mixes rows in a seeded shuffle buffer, so memory
stays at one row group plus the buffer whatever the size of the split.

    import datagraph as dg

    feed = dg.loader("out/lvis1k", batch_size=256, num_workers=4, rank=rank, world_size=world)
    for epoch in range(start_epoch, epochs):
        feed.dataset.set_epoch(epoch)  # before iterating: workers copy the dataset at start
        for batch in feed:
            batch["labels_padded"], batch["label_weights_padded"], batch["sample_weight"]
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from datagraph.errors import ConfigError, DatagraphError
from datagraph.schema import read_manifest

SHARDS_FORMAT_VERSION = 1
LABEL_FORMATS = ("indices", "multi_hot")
# Always read: what every example needs.
CORE_COLUMNS = ("post_id", "repeat", "labels", "label_weights", "sample_weight")
# May be read on request (``columns=``) and are passed through as Python values.
EXTRA_COLUMNS = (
    "media_uri",
    "class_ids",
    "label_synsets",
    "noise_scores",
    "source_hashtags",
    "shard",
)
DEFAULT_COLUMNS = ("media_uri",)
# Last entropy word of the two seed sequences, so the unit order and the row order never share a
# stream (SeedSequence([s, e]) equals SeedSequence([s, e, 0]): a nonzero tag keeps them apart).
_UNIT_ORDER_TAG, _ROW_ORDER_TAG = 1, 2
_DRAW_BLOCK = 4096

T = TypeVar("T")
LabelFormat = Literal["indices", "multi_hot"]


class WorkUnit(NamedTuple):
    """One non-empty row group of one shard file: what a worker reads at a time."""

    shard: int  # position in ``TrainingShards.shard_paths``
    row_group: int
    rows: int


def read_shards_manifest(path: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    """``(shard set directory, manifest)`` for a shard set directory or its manifest.json, checked.

    Checks what the reader relies on (pipeline, format version, classes, shards, row-group
    size) and names the file and what to do when something is off.
    """
    given = Path(path)
    file = given if given.is_file() else given / "manifest.json"
    manifest = read_manifest(file, "build_shards", "shard set", SHARDS_FORMAT_VERSION)
    classes = manifest.get("classes")
    if not isinstance(classes, list) or any(
        not isinstance(c, dict) or c.get("index") != i for i, c in enumerate(classes)
    ):
        raise DatagraphError(
            f"corrupt shard manifest {file}: 'classes' must list dicts with index 0, 1, 2, ..."
        )
    shards = manifest.get("shards")
    keys = {"path": str, "split": str, "shard": int, "rows": int}
    if not isinstance(shards, list) or any(
        not isinstance(s, dict) or any(not isinstance(s.get(k), t) for k, t in keys.items())
        for s in shards
    ):
        raise DatagraphError(
            f"corrupt shard manifest {file}: 'shards' must list dicts with path, split, shard, rows"
        )
    size = manifest.get("shard_row_group_size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise DatagraphError(f"corrupt shard manifest {file}: shard_row_group_size {size!r}")
    return file.parent, manifest


def shuffled(items: Iterable[T], buffer_size: int, rng: np.random.Generator) -> Iterator[T]:
    """``items`` in a seeded random order, holding at most ``buffer_size`` of them at a time.

    The classic shuffle buffer: fill the buffer, then each new item takes the place of a
    uniformly drawn buffered one, which is yielded; the rest leave in random order at the end.
    An item can come out arbitrarily late but at most ``buffer_size - 1`` places early, so the
    mixing reaches about one buffer's width -- enough because shards are already shuffled
    within (docs/shards.md) and units arrive in a random order. ``buffer_size`` 0 or 1: in order.
    """
    if buffer_size <= 1:
        yield from items
        return
    buffer: list[T] = []
    draws: Iterator[int] = iter(())
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        slot = next(draws, None)
        if slot is None:  # drawing in blocks: one numpy call per block, not per row
            draws = iter(rng.integers(buffer_size, size=_DRAW_BLOCK).tolist())
            slot = next(draws)
        buffer[slot], item = item, buffer[slot]
        yield item
    for slot in rng.permutation(len(buffer)).tolist():
        yield buffer[slot]


class TrainingShards(IterableDataset):
    """One split of a build_shards shard set as a stream of training examples.

    Every example is a dict: ``post_id`` (str), ``repeat`` (int), ``labels`` (long tensor of
    0-based class indices, ascending), ``label_weights`` (float tensor aligned with ``labels``),
    ``sample_weight`` (float), the ``columns`` asked for (default ``media_uri``: str or None)
    as Python values, and with ``label_format="multi_hot"`` also ``target``: a float tensor of
    ``num_classes`` holding each label's weight at its index and 0 elsewhere.

    Work split: each epoch the (shard, row group) units are permuted with a generator seeded
    from ``(seed, epoch)``, identical on every rank, and global worker ``g = rank * num_workers
    + worker_id`` of ``W = world_size * num_workers`` takes units ``g, g + W, ...``: every row
    exactly once per epoch over all ranks and workers. There is no padding: units per worker
    differ by at most one, so rows per worker differ by about one row group (more when several
    short last-row-groups of shards land on one worker), and a worker past the number of units
    yields nothing. A trainer that needs the same number of steps on every rank uses
    ``drop_last`` with the smallest count of ``rows_for`` over ranks, or stops all ranks at it.

    Order: rows pass a shuffle buffer of ``shuffle_buffer`` rows per global worker, seeded from
    ``(seed, epoch, g)``; 0 or 1 reads in unit order. The same seed, epoch, ``world_size`` and
    ``num_workers`` give the same sequence on every run. Call ``set_epoch`` before each epoch
    (like ``DistributedSampler``); DataLoader workers copy the dataset when an iteration starts,
    which is why persistent workers would keep an old epoch.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        split: str | None = "train",
        *,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        shuffle_buffer: int = 10_000,
        label_format: LabelFormat = "indices",
        columns: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.root, self.manifest = read_shards_manifest(path)
        self._manifest_file = self.root / "manifest.json"
        _check_options(rank, world_size, seed, shuffle_buffer, label_format)
        self.split, self.rank, self.world_size = split, rank, world_size
        self.seed, self.shuffle_buffer, self.label_format = seed, shuffle_buffer, label_format
        self.columns = tuple(DEFAULT_COLUMNS if columns is None else columns)
        unknown = sorted(set(self.columns) - set(EXTRA_COLUMNS))
        if unknown:
            raise ConfigError(
                f"columns {unknown}: not readable extras; choose from {EXTRA_COLUMNS}"
            )
        self.epoch = 0
        entries = [s for s in self.manifest["shards"] if split is None or s["split"] == split]
        if not entries:
            splits = sorted({s["split"] for s in self.manifest["shards"]})
            raise ConfigError(
                f"{self._manifest_file}: no shards for split {split!r}; it has splits {splits} "
                "(split=None reads them all)"
            )
        self._entries = sorted(entries, key=lambda s: (s["split"], s["shard"], s["path"]))
        self._paths = [self.root / s["path"] for s in self._entries]
        self._units = [unit for i in range(len(self._paths)) for unit in self._shard_units(i)]

    @property
    def classes(self) -> list[dict[str, Any]]:
        """The manifest's classes: ``{"index", "class_id", "name", "synset_id"}`` per index."""
        return self.manifest["classes"]

    @property
    def num_classes(self) -> int:
        return len(self.manifest["classes"])

    @property
    def num_rows(self) -> int:
        """Rows of the chosen split: one epoch over all ranks and workers."""
        return sum(s["rows"] for s in self._entries)

    @property
    def shard_paths(self) -> list[Path]:
        """The split's shard files, empty ones included, in shard order."""
        return list(self._paths)

    @property
    def units(self) -> list[WorkUnit]:
        """The split's non-empty row groups, in shard order (before the epoch's permutation)."""
        return list(self._units)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch the next iteration reads; call it before every epoch."""
        if not isinstance(epoch, int) or epoch < 0:
            raise ConfigError(f"epoch {epoch!r}: must be an integer >= 0")
        self.epoch = epoch

    def state_dict(self) -> dict[str, Any]:
        """What resuming at an epoch boundary needs: the epoch set now, the seed, the shard set.

        Saved after finishing epoch ``e``, resume with ``load_state_dict(state)`` then
        ``set_epoch(state["epoch"] + 1)``; the resumed dataset yields what an uninterrupted one
        yields at that epoch (with the same ``world_size`` and ``num_workers``).
        """
        return {
            "epoch": self.epoch,
            "seed": self.seed,
            "split": self.split,
            "shard_set": self._fingerprint(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore epoch and seed from ``state_dict()``; refuse a state of another shard set."""
        if state.get("split") != self.split or state.get("shard_set") != self._fingerprint():
            raise ConfigError(
                f"state was saved for split {state.get('split')!r} of another shard set; this is "
                f"split {self.split!r} of {self.root} -- resume with the shards it was saved for"
            )
        seed = state.get("seed")
        if not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"state seed {seed!r}: must be an integer >= 0")
        self.set_epoch(state.get("epoch"))  # checked there
        self.seed = seed

    def rows_for(self, rank: int, *, num_workers: int = 1) -> list[int]:
        """Rows each of ``rank``'s DataLoader workers reads this epoch (``num_workers=0``: one).

        For equal steps on all ranks: ``min(sum(n // batch_size for n in ds.rows_for(r,
        num_workers=k)) for r in range(world_size))`` batches with ``drop_last=True``.
        """
        workers = max(num_workers, 1)
        total = self.world_size * workers
        return [
            sum(unit.rows for unit in self._units_for(rank * workers + w, total))
            for w in range(workers)
        ]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        num_workers, worker_id = (1, 0) if info is None else (info.num_workers, info.id)
        worker = self.rank * num_workers + worker_id
        units = self._units_for(worker, self.world_size * num_workers)
        rows = (row for unit in units for row in self._read_unit(unit, threads=info is None))
        rng = np.random.default_rng([self.seed, self.epoch, worker, _ROW_ORDER_TAG])
        for example in shuffled(rows, self.shuffle_buffer, rng):
            if self.label_format == "multi_hot":  # after the buffer: it holds no dense targets
                target = torch.zeros(self.num_classes, dtype=torch.float32)
                target[example["labels"]] = example["label_weights"]
                example["target"] = target
            yield example

    def _units_for(self, worker: int, total_workers: int) -> list[WorkUnit]:
        """Global worker ``worker``'s units this epoch: every ``total_workers``-th of the order."""
        rng = np.random.default_rng([self.seed, self.epoch, _UNIT_ORDER_TAG])
        order = rng.permutation(len(self._units))
        return [self._units[i] for i in order[worker::total_workers].tolist()]

    def _shard_units(self, index: int) -> list[WorkUnit]:
        """A shard's non-empty row groups, from its footer, checked against the manifest."""
        path, entry = self._paths[index], self._entries[index]
        if not path.is_file():
            raise DatagraphError(
                f"{path}: missing, listed in {self._manifest_file}; the shard set is incomplete "
                "(copy all of it or rerun build_shards)"
            )
        try:
            with pq.ParquetFile(path) as parquet:
                meta = parquet.metadata
                names = set(parquet.schema_arrow.names)
        except (pa.ArrowException, OSError) as exc:
            raise DatagraphError(f"{path}: not a readable Parquet shard ({exc})") from None
        if meta.num_rows != entry["rows"]:
            raise DatagraphError(
                f"{path}: {meta.num_rows} rows, {self._manifest_file} says {entry['rows']}; the "
                "shard was changed after the build (rerun build_shards)"
            )
        missing = [c for c in (*CORE_COLUMNS, *self.columns) if c not in names]
        if missing:
            raise DatagraphError(f"{path}: no column(s) {missing}; not a build_shards shard")
        sizes = (meta.row_group(g).num_rows for g in range(meta.num_row_groups))
        return [WorkUnit(index, g, n) for g, n in enumerate(sizes) if n > 0]

    def _read_unit(self, unit: WorkUnit, *, threads: bool) -> Iterator[dict[str, Any]]:
        """The examples of one row group, before shuffling and without dense targets.

        Labels become one tensor per row group, sliced and cloned per row, so a buffered row
        keeps no reference to the row group it came from.
        """
        path = self._paths[unit.shard]
        where = f"{path} (row group {unit.row_group})"
        with pq.ParquetFile(path) as parquet:
            table = parquet.read_row_group(
                unit.row_group, columns=[*CORE_COLUMNS, *self.columns], use_threads=threads
            )
        offsets, labels = _list_parts(table.column("labels"), np.int64, where, "labels")
        weight_offsets, weights = _list_parts(
            table.column("label_weights"), np.float32, where, "label_weights"
        )
        if not np.array_equal(offsets, weight_offsets):
            raise DatagraphError(f"{where}: label_weights not aligned with labels")
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            bad = int(labels.min() if labels.min() < 0 else labels.max())
            raise DatagraphError(
                f"{where}: label index {bad} outside the {self.num_classes} classes "
                f"of {self._manifest_file}; shards and manifest do not belong together"
            )
        sample_weight = table.column("sample_weight")
        if sample_weight.null_count:
            raise DatagraphError(f"{where}: null sample_weight")
        labels_t, weights_t = torch.from_numpy(labels), torch.from_numpy(weights)
        extras = {name: table.column(name).to_pylist() for name in self.columns}
        columns = zip(
            table.column("post_id").to_pylist(),
            table.column("repeat").to_pylist(),
            sample_weight.to_pylist(),
            offsets[:-1].tolist(),
            offsets[1:].tolist(),
            strict=True,
        )
        for row, (post_id, repeat, weight, start, end) in enumerate(columns):
            example = {
                "post_id": post_id,
                "repeat": repeat,
                "labels": labels_t[start:end].clone(),
                "label_weights": weights_t[start:end].clone(),
                "sample_weight": weight,
            }
            for name, values in extras.items():
                example[name] = values[row]
            yield example

    def _fingerprint(self) -> str:
        """sha256 of the split's shard list (path, rows, sha256): what a saved state belongs to."""
        listing = [[s["path"], s["rows"], s.get("sha256")] for s in self._entries]
        return hashlib.sha256(json.dumps(listing).encode()).hexdigest()

    def __repr__(self) -> str:
        return (
            f"TrainingShards({str(self.root)!r}, split={self.split!r}, rows={self.num_rows}, "
            f"units={len(self._units)}, rank={self.rank}/{self.world_size}, epoch={self.epoch})"
        )


def _check_options(
    rank: int, world_size: int, seed: int, shuffle_buffer: int, label_format: str
) -> None:
    """Raise ConfigError for an option the feed cannot honour, naming the option."""
    if not isinstance(world_size, int) or world_size < 1:
        raise ConfigError(f"world_size {world_size!r}: must be an integer >= 1")
    if not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ConfigError(f"rank {rank!r}: must be an integer in [0, world_size={world_size})")
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed {seed!r}: must be an integer >= 0")
    if not isinstance(shuffle_buffer, int) or shuffle_buffer < 0:
        raise ConfigError(f"shuffle_buffer {shuffle_buffer!r}: must be an integer >= 0")
    if label_format not in LABEL_FORMATS:
        raise ConfigError(f"label_format {label_format!r}: must be one of {LABEL_FORMATS}")


def _list_parts(
    column: pa.ChunkedArray, dtype: type[np.generic], where: str, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets, values)`` of a list column: row i holds ``values[offsets[i]:offsets[i + 1]]``.

    A null list counts as empty; a null inside a list is an error (nothing to train on).
    """
    array = column.combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False)
    offsets = np.zeros(len(array) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = pc.list_flatten(array)
    if values.null_count:
        raise DatagraphError(f"{where}: null entries inside {name}")
    return offsets, np.array(values.to_numpy(zero_copy_only=False), dtype=dtype)  # writable


class TensorList(list):
    """A list of 1-d tensors held as views of one flat tensor, pickled as that tensor.

    Why: a DataLoader worker sends every tensor of a batch through its own shared-memory file,
    so one small label tensor per example runs out of file descriptors ("Too many open files")
    and costs ~20 us per tensor in the main process. Views of one tensor share one storage, and
    pickling ``(flat, lengths)`` rebuilds the views in one step. It is an ordinary list otherwise;
    once changed it pickles item by item.
    """

    def __init__(self, tensors: Iterable[torch.Tensor] = ()) -> None:
        items = list(tensors)
        flat = torch.cat(items) if items else torch.empty(0)
        self._hold(flat, [len(t) for t in items])

    @classmethod
    def from_flat(cls, flat: torch.Tensor, lengths: list[int]) -> TensorList:
        """The list of ``flat``'s consecutive slices of the given lengths."""
        made = cls.__new__(cls)
        made._hold(flat, lengths)
        return made

    def _hold(self, flat: torch.Tensor, lengths: list[int]) -> None:
        views = flat.split(lengths)
        super().__init__(views)
        self.flat, self.lengths, self._views = flat, lengths, views

    def __reduce__(self) -> tuple[Any, ...]:
        unchanged = len(self) == len(self._views) and all(
            mine is view for mine, view in zip(self, self._views, strict=True)
        )
        if unchanged:
            return (TensorList.from_flat, (self.flat, self.lengths))
        return (TensorList, (list(self),))


def collate_examples(examples: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch from ``TrainingShards`` examples, labels both as a list and padded.

    Keys: ``post_ids`` (list of str), ``repeat`` (long tensor), ``labels`` and ``label_weights``
    (``TensorList``: lists of 1-d tensors), ``labels_padded`` (long, ``[batch, most labels]``,
    padded with -1) and ``label_weights_padded`` (float, padded with 0, so padding adds nothing
    to a weighted loss), ``sample_weight`` (float tensor), ``target`` (stacked, with multi_hot)
    and every other column as a list (``media_uri``, extras).
    """
    if not examples:
        raise ValueError("collate_examples: no examples to batch")
    labels = TensorList(e["labels"].long() for e in examples)
    weights = TensorList(e["label_weights"].float() for e in examples)
    lengths = torch.tensor(labels.lengths, dtype=torch.long)
    if labels.lengths != weights.lengths:
        raise ValueError("collate_examples: label_weights not aligned with labels")
    width = max(labels.lengths)
    rows = torch.repeat_interleave(torch.arange(len(examples)), lengths)
    starts = torch.repeat_interleave(torch.cumsum(lengths, 0) - lengths, lengths)
    cols = torch.arange(len(labels.flat)) - starts  # position of each label within its row
    labels_padded = torch.full((len(examples), width), -1, dtype=torch.long)
    labels_padded[rows, cols] = labels.flat
    weights_padded = torch.zeros((len(examples), width), dtype=torch.float32)
    weights_padded[rows, cols] = weights.flat
    batch: dict[str, Any] = {
        "post_ids": [e["post_id"] for e in examples],
        "repeat": torch.tensor([e["repeat"] for e in examples], dtype=torch.long),
        "labels": labels,
        "label_weights": weights,
        "labels_padded": labels_padded,
        "label_weights_padded": weights_padded,
        "sample_weight": torch.tensor([e["sample_weight"] for e in examples], dtype=torch.float32),
    }
    if "target" in examples[0]:
        batch["target"] = torch.stack([e["target"] for e in examples])
    done = {"post_id", *batch}
    for key in examples[0]:
        if key not in done:
            batch[key] = [e[key] for e in examples]
    return batch


def loader(
    path: str | os.PathLike[str],
    *,
    batch_size: int = 256,
    num_workers: int = 0,
    split: str | None = "train",
    rank: int = 0,
    world_size: int = 1,
    seed: int = 0,
    shuffle_buffer: int = 10_000,
    label_format: LabelFormat = "indices",
    epoch: int = 0,
    columns: Sequence[str] | None = None,
    **dataloader_kwargs: Any,
) -> DataLoader:
    """A DataLoader over ``TrainingShards`` batched by ``collate_examples``.

    Workers are started afresh for every epoch (``persistent_workers=False``) because they
    copy the dataset, epoch included, when they start; ``loader(...).dataset.set_epoch(e)``
    before iterating chooses the epoch. The multiprocessing context is the platform default
    (fork on Linux); the dataset pickles, so ``multiprocessing_context="spawn"`` works too.
    Other keywords (``pin_memory``, ``drop_last``, ``prefetch_factor`` ...) go to DataLoader.
    """
    if dataloader_kwargs.get("persistent_workers"):
        raise ConfigError(
            "persistent_workers=True: workers would keep the epoch they started with and repeat "
            "its order every epoch; leave it off"
        )
    dataset = TrainingShards(
        path,
        split,
        rank=rank,
        world_size=world_size,
        seed=seed,
        shuffle_buffer=shuffle_buffer,
        label_format=label_format,
        columns=columns,
    )
    dataset.set_epoch(epoch)
    options: dict[str, Any] = {"batch_size": batch_size, "num_workers": num_workers}
    if num_workers > 0:
        options["persistent_workers"] = False
    return DataLoader(dataset, collate_fn=collate_examples, **options, **dataloader_kwargs)
