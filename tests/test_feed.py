"""The trainer feed (datagraph.feed) on small real shard sets written here per docs/shards.md."""

from __future__ import annotations

import hashlib
import json
import pickle
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import xxhash

from datagraph.errors import ConfigError, DatagraphError
from datagraph.feed import (
    TensorList,
    TrainingShards,
    collate_examples,
    loader,
    read_shards_manifest,
    shuffled,
)
from datagraph.schema import TRAINING_EXAMPLE_SCHEMA

NUM_CLASSES = 12
ROW_GROUP_SIZE = 7
SHARD_SCHEMA = TRAINING_EXAMPLE_SCHEMA  # what build_shards writes
CLASSES = [
    {"index": i, "class_id": 10 + i, "name": f"class_{i}", "synset_id": f"thing{i}.n.01"}
    for i in range(NUM_CLASSES)
]

Key = tuple[str, int]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(posts: int, seed: int) -> list[dict[str, Any]]:
    """Training rows: 1-3 labels per post, 1/k weights, 1-3 copies (repeat 0, 1, 2)."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(posts):
        k = int(rng.integers(1, 4))
        labels = sorted(rng.choice(NUM_CLASSES, size=k, replace=False).tolist())
        copies = int(rng.integers(1, 4))
        for repeat in range(copies):
            rows.append(
                {
                    "post_id": f"p{p:04d}",
                    "repeat": repeat,
                    "media_uri": None if p % 10 == 3 else f"s3://img/p{p:04d}.jpg",
                    "labels": labels,
                    "class_ids": [CLASSES[i]["class_id"] for i in labels],
                    "label_synsets": [CLASSES[i]["synset_id"] for i in labels],
                    "label_weights": [1.0 / k] * k,
                    "noise_scores": None,
                    "sample_weight": copies - 0.25,
                    "source_hashtags": sorted(f"#tag{i}" for i in labels),
                }
            )
    return rows


def write_shard_set(
    root: Path, *, posts: int = 60, shards: int = 5, val_posts: int = 6, seed: int = 0
) -> dict[Key, dict[str, Any]]:
    """Write a build_shards-style shard set (train/ with shard 1 empty, val/) and its manifest.

    Rows go to shard ``xxh64 % (shards - 1)``, skipping shard 1 so one train shard is empty, and
    are ordered within a shard by ``xxh64(seed, post_id, repeat)``. Returns the train rows by
    ``(post_id, repeat)``.
    """
    root.mkdir(parents=True, exist_ok=True)
    train = _rows(posts, seed)
    val = [dict(r, post_id="v" + r["post_id"]) for r in _rows(val_posts, seed + 1)]
    entries, outputs = [], []

    def order(row: dict[str, Any]) -> tuple[int, str, int]:
        text = f"{row['post_id']}\t{row['repeat']}".encode()
        return xxhash.xxh64_intdigest(text, seed=seed), row["post_id"], row["repeat"]

    def write(split: str, number: int, of: int, rows: list[dict[str, Any]]) -> None:
        rel = f"{split}/part-{number:05d}-of-{of:05d}.parquet"
        (root / split).mkdir(exist_ok=True)
        rows = [dict(r, shard=number) for r in sorted(rows, key=order)]
        table = pa.Table.from_pylist(rows, schema=SHARD_SCHEMA)
        pq.write_table(
            table,
            root / rel,
            row_group_size=ROW_GROUP_SIZE,
            compression="zstd",
            compression_level=3,
        )
        size, sha = (root / rel).stat().st_size, _sha256(root / rel)
        entry = {"path": rel, "split": split, "shard": number, "rows": len(rows)}
        entries.append(entry | {"bytes": size, "sha256": sha})
        outputs.append({"path": rel, "rows": len(rows), "sha256": sha})

    buckets: list[list[dict[str, Any]]] = [[] for _ in range(shards)]
    for row in train:
        bucket = order(row)[0] % (shards - 1)
        buckets[bucket + (bucket >= 1)].append(row)
    for number, rows in enumerate(buckets):
        write("train", number, shards, rows)
    write("val", 0, 1, val)

    for name, table in {
        "label_map.parquet": pa.table({"raw_tag": ["#tag0"], "classes": [[0]]}),
        "dead_letters.parquet": pa.table(
            {n: pa.array([], pa.string()) for n in ("source_file", "field", "error", "raw")}
            | {"line": pa.array([], pa.int64())}
        ),
    }.items():
        pq.write_table(table, root / name, compression="zstd")
        outputs.append({"path": name, "rows": table.num_rows, "sha256": _sha256(root / name)})

    all_rows = train + val
    # histograms: train posts (before) and train rows (after) per class
    before = [sum(c["index"] in r["labels"] for r in train if r["repeat"] == 0) for c in CLASSES]
    after = [sum(c["index"] in r["labels"] for r in train) for c in CLASSES]
    kept = sum(r["repeat"] == 0 for r in all_rows)
    class_lines = "".join(
        f"{c['index']}\t{c['class_id']}\t{c['synset_id']}\t{c['name']}\n" for c in CLASSES
    )
    manifest = {
        "format_version": 1,
        "pipeline": "build_shards",
        "config": {"row_group_size": ROW_GROUP_SIZE, "shards": shards, "val_fraction": 0.1},
        "code_version": "0.1.0",
        "seed": seed,
        "taxonomy": {
            "id": "lvis",
            "fingerprint": "0" * 64,
            "classes": NUM_CLASSES,
            "class_list_sha256": hashlib.sha256(class_lines.encode()).hexdigest(),
        },
        "classes": CLASSES,
        "graph": {"path": "out/graph", "manifest_sha256": "1" * 64},
        "inputs": [{"path": "posts.jsonl", "size_bytes": 1234}],
        "counts": {
            "read": kept + 2,
            "bad": 1,
            "dropped": {"no_labels": 1},
            "kept": kept,
            "rows": len(all_rows),
            "repeats_added": len(all_rows) - kept,
        },
        "sampling": {
            "strategy": "sqrt",
            "params": {},
            "histogram_before": before,
            "histogram_after": after,
            "expected_after": [float(n) for n in after],
            "target_share": [1 / NUM_CLASSES] * NUM_CLASSES,
            "error": {
                "achieved_vs_expected_tv": 0.0,
                "achieved_vs_target_tv": 0.1,
                "expected_vs_target_tv": 0.1,
            },
        },
        "shard_row_group_size": ROW_GROUP_SIZE,
        "shards": entries,
        "outputs": sorted(outputs, key=lambda o: o["path"]),
        "schema": {"shards": [f"{f.name}: {f.type}" for f in SHARD_SCHEMA]},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return {(r["post_id"], r["repeat"]): r for r in train}


@pytest.fixture(scope="module")
def shard_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[Key, dict]]:
    root = tmp_path_factory.mktemp("shards")
    return root, write_shard_set(root)


def keys(examples: list[dict[str, Any]]) -> list[Key]:
    return [(e["post_id"], e["repeat"]) for e in examples]


def batch_keys(batches: list[dict[str, Any]]) -> list[Key]:
    return [(p, int(r)) for b in batches for p, r in zip(b["post_ids"], b["repeat"], strict=True)]


def test_fixture_is_a_shard_set_with_an_empty_shard_and_many_row_groups(shard_set) -> None:
    root, rows = shard_set
    dataset = TrainingShards(root)
    assert dataset.num_rows == len(rows) and dataset.num_classes == NUM_CLASSES
    assert dataset.classes == CLASSES
    assert [p.name for p in dataset.shard_paths] == [
        f"part-0000{i}-of-00005.parquet" for i in range(5)
    ]
    assert pq.ParquetFile(dataset.shard_paths[1]).metadata.num_rows == 0
    assert len(dataset.units) > 10
    assert {u.shard for u in dataset.units} == {0, 2, 3, 4}
    assert TrainingShards(root, "val").num_rows == sum(
        e["rows"] for e in read_shards_manifest(root)[1]["shards"] if e["split"] == "val"
    )


def test_dataloader_ranks_and_workers_read_every_row_once_per_epoch(shard_set) -> None:
    root, rows = shard_set
    seen: dict[int, list[list[Key]]] = {}
    for epoch in (0, 1):
        per_rank = []
        for rank in (0, 1):
            feed = loader(root, batch_size=5, num_workers=2, rank=rank, world_size=2, seed=3)
            feed.dataset.set_epoch(epoch)
            batches = list(feed)
            assert all(isinstance(b["labels"], TensorList) for b in batches)
            got = batch_keys(batches)
            assert len(got) == sum(feed.dataset.rows_for(rank, num_workers=2))
            per_rank.append(got)
        assert not set(per_rank[0]) & set(per_rank[1])
        both = per_rank[0] + per_rank[1]
        assert Counter(both) == Counter(rows.keys())  # each row exactly once
        seen[epoch] = per_rank
    assert seen[0][0] != seen[1][0]
    again = loader(root, batch_size=5, num_workers=2, rank=0, world_size=2, seed=3)
    assert batch_keys(list(again)) == seen[0][0]  # same seed and epoch: same order


def test_order_depends_on_epoch_and_seed_and_nothing_else(shard_set) -> None:
    root, rows = shard_set

    def run(seed: int, epoch: int, buffer: int = 10) -> list[Key]:
        dataset = TrainingShards(root, seed=seed, shuffle_buffer=buffer)
        dataset.set_epoch(epoch)
        return keys(list(dataset))

    first = run(0, 0)
    assert sorted(first) == sorted(rows)
    assert run(0, 0) == first
    assert run(0, 1) != first
    assert run(1, 0) != first
    dataset = TrainingShards(root, shuffle_buffer=10)
    assert keys(list(dataset)) == keys(list(dataset)) == first  # iterating again: same epoch
    clone = pickle.loads(pickle.dumps(dataset))  # what spawn / forkserver workers receive
    assert keys(list(clone)) == first


def test_without_buffer_rows_come_in_whole_row_groups(shard_set) -> None:
    root, _ = shard_set
    dataset = TrainingShards(root, shuffle_buffer=0, seed=5)
    where = {}
    for shard, path in enumerate(dataset.shard_paths):
        parquet = pq.ParquetFile(path)
        for group in range(parquet.metadata.num_row_groups):
            table = parquet.read_row_group(group, columns=["post_id", "repeat"])
            for i, row in enumerate(table.to_pylist()):
                where[(row["post_id"], row["repeat"])] = (shard, group, i)
    got = [where[k] for k in keys(list(dataset))]
    runs = []  # (shard, group) of each maximal run, checking positions count up from 0
    for shard, group, i in got:
        if i == 0:
            runs.append((shard, group))
        assert runs[-1] == (shard, group)
    expected = [(u.shard, u.row_group) for u in dataset._units_for(0, 1)]
    assert runs == expected
    assert expected != [(u.shard, u.row_group) for u in dataset.units]  # permuted
    assert keys(list(TrainingShards(root, shuffle_buffer=1, seed=5))) == keys(list(dataset))


def test_resume_from_state_dict_matches_an_uninterrupted_run(shard_set) -> None:
    root, _ = shard_set
    uninterrupted = TrainingShards(root, seed=7, shuffle_buffer=16, world_size=2, rank=1)
    epochs = []
    for epoch in (0, 1, 2):
        uninterrupted.set_epoch(epoch)
        epochs.append(keys(list(uninterrupted)))
        if epoch == 1:
            state = json.loads(json.dumps(uninterrupted.state_dict()))  # as a checkpoint would
    assert state["epoch"] == 1 and state["seed"] == 7
    resumed = TrainingShards(root, shuffle_buffer=16, world_size=2, rank=1)  # seed 0 until load
    resumed.load_state_dict(state)
    assert keys(list(resumed)) == epochs[1]
    resumed.set_epoch(state["epoch"] + 1)
    assert keys(list(resumed)) == epochs[2]
    with pytest.raises(ConfigError, match="another shard set"):
        TrainingShards(root, "val").load_state_dict(state)


def test_examples_carry_the_shard_rows_and_multi_hot_targets(shard_set) -> None:
    root, rows = shard_set
    dataset = TrainingShards(root, label_format="multi_hot", shuffle_buffer=20)
    examples = list(dataset)
    assert len(examples) == len(rows)
    for example in examples:
        row = rows[(example["post_id"], example["repeat"])]
        assert example["labels"].dtype == torch.long
        assert example["labels"].tolist() == row["labels"]
        assert example["label_weights"].dtype == torch.float32
        assert example["label_weights"].tolist() == pytest.approx(row["label_weights"])
        assert example["sample_weight"] == pytest.approx(row["sample_weight"])
        assert example["media_uri"] == row["media_uri"]
        target = example["target"]
        assert target.shape == (NUM_CLASSES,) and target.dtype == torch.float32
        expected = torch.zeros(NUM_CLASSES)
        expected[example["labels"]] = example["label_weights"]
        assert torch.equal(target, expected)
        assert target.sum().item() == pytest.approx(1.0)  # 1/k weights


def test_columns_choose_the_extra_values(shard_set) -> None:
    root, rows = shard_set
    example = next(iter(TrainingShards(root, columns=("class_ids", "shard", "source_hashtags"))))
    row = rows[(example["post_id"], example["repeat"])]
    assert "media_uri" not in example and "target" not in example
    assert example["class_ids"] == row["class_ids"]
    assert example["source_hashtags"] == row["source_hashtags"]
    assert example["shard"] in (0, 2, 3, 4)
    bare = next(iter(TrainingShards(root, columns=())))
    assert set(bare) == {"post_id", "repeat", "labels", "label_weights", "sample_weight"}
    with pytest.raises(ConfigError, match="caption"):
        TrainingShards(root, columns=("caption",))


def test_collate_pads_labels_and_stacks_targets() -> None:
    def example(post: str, labels: list[int]) -> dict[str, Any]:
        weights = torch.full((len(labels),), 1 / max(len(labels), 1))
        target = torch.zeros(5)
        target[torch.tensor(labels, dtype=torch.long)] = weights
        return {
            "post_id": post,
            "repeat": 0,
            "media_uri": None,
            "labels": torch.tensor(labels, dtype=torch.long),
            "label_weights": weights,
            "sample_weight": 1.5,
            "target": target,
        }

    batch = collate_examples([example("a", [1, 3]), example("b", []), example("c", [0, 2, 4])])
    assert batch["post_ids"] == ["a", "b", "c"]
    assert batch["labels_padded"].tolist() == [[1, 3, -1], [-1, -1, -1], [0, 2, 4]]
    assert batch["labels_padded"].dtype == torch.long
    third = pytest.approx(1 / 3)
    assert batch["label_weights_padded"].tolist() == [
        [0.5, 0.5, 0.0],
        [0.0, 0.0, 0.0],
        [third, third, third],
    ]
    assert [t.tolist() for t in batch["labels"]] == [[1, 3], [], [0, 2, 4]]
    assert batch["target"].shape == (3, 5)
    assert batch["target"][2].tolist() == pytest.approx([third, 0, third, 0, third])
    assert batch["sample_weight"].dtype == torch.float32 and batch["sample_weight"].shape == (3,)
    assert batch["repeat"].tolist() == [0, 0, 0]
    assert batch["media_uri"] == [None, None, None]
    only_empty = collate_examples([example("b", [])])
    assert only_empty["labels_padded"].shape == (1, 0)


def test_label_lists_cross_processes_as_one_tensor() -> None:
    """One shared-memory tensor per batch, not one per example (which runs out of fds)."""
    labels = TensorList(
        [torch.tensor([1, 3]), torch.tensor([], dtype=torch.long), torch.tensor([4])]
    )
    restored = pickle.loads(pickle.dumps(labels))
    assert isinstance(restored, TensorList) and restored.lengths == [2, 0, 1]
    assert [t.tolist() for t in restored] == [[1, 3], [], [4]]
    assert len({t.untyped_storage().data_ptr() for t in restored}) == 1
    labels.append(torch.tensor([5, 6]))  # changed: pickled item by item, nothing lost
    assert [t.tolist() for t in pickle.loads(pickle.dumps(labels))] == [[1, 3], [], [4], [5, 6]]


def test_loader_batches_match_the_dataset(shard_set) -> None:
    root, _ = shard_set
    batches = list(loader(root, batch_size=8, label_format="multi_hot", shuffle_buffer=30))
    assert batch_keys(batches) == keys(list(TrainingShards(root, shuffle_buffer=30)))
    for batch in batches:
        assert batch["target"].shape == (len(batch["post_ids"]), NUM_CLASSES)
        for padded, labels in zip(batch["labels_padded"], batch["labels"], strict=True):
            assert padded[: len(labels)].tolist() == labels.tolist()
            assert (padded[len(labels) :] == -1).all()


def test_more_workers_than_units_still_reads_every_row_once(shard_set) -> None:
    root, rows = shard_set
    units = len(TrainingShards(root).units)
    world = units // 2 + 2  # 2 workers per rank: more global workers than units
    got = []
    for rank in range(world):
        got += batch_keys(list(loader(root, num_workers=2, rank=rank, world_size=world, seed=1)))
    assert Counter(got) == Counter(rows.keys())
    many = units + 5
    single = []
    for rank in range(many):
        dataset = TrainingShards(root, rank=rank, world_size=many)
        single.append(keys(list(dataset)))
        assert len(single[-1]) == sum(dataset.rows_for(rank))
    assert sum(not s for s in single) == 5
    assert Counter(k for s in single for k in s) == Counter(rows.keys())


def test_shuffled_is_a_seeded_permutation() -> None:
    items = list(range(1000))
    out = list(shuffled(items, 64, np.random.default_rng(1)))
    assert sorted(out) == items and out != items
    assert out == list(shuffled(items, 64, np.random.default_rng(1)))
    assert list(shuffled(items, 1, np.random.default_rng(1))) == items
    # an item comes out at most buffer_size - 1 places early
    assert all(position >= item - 63 for position, item in enumerate(out))


def _edit_manifest(root: Path, **changes: Any) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    manifest.update(changes)
    (root / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda root: (root / "manifest.json").unlink(), r"manifest\.json: missing"),
        (lambda root: (root / "manifest.json").write_text("{not json"), "not valid JSON"),
        (lambda root: _edit_manifest(root, pipeline="build_graph"), "not a build_shards manifest"),
        (lambda root: _edit_manifest(root, format_version=2), "format_version 2"),
        (lambda root: _edit_manifest(root, shards=[{"path": 1}]), "'shards' must list"),
        (lambda root: (root / "train/part-00002-of-00005.parquet").unlink(), "missing, listed"),
        (
            lambda root: (root / "train/part-00003-of-00005.parquet").write_bytes(b"nope"),
            "not a readable Parquet shard",
        ),
    ],
)
def test_clear_errors_name_the_file(tmp_path: Path, damage, message: str) -> None:
    write_shard_set(tmp_path, posts=20)
    damage(tmp_path)
    with pytest.raises(DatagraphError, match=message) as error:
        TrainingShards(tmp_path)
    assert str(tmp_path) in str(error.value)


def test_a_build_graph_output_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(
        json.dumps({"format_version": 1, "pipeline": "build_graph", "outputs": []})
    )
    with pytest.raises(DatagraphError, match="pipeline is 'build_graph'"):
        TrainingShards(tmp_path)
    with pytest.raises(DatagraphError, match="missing"):
        TrainingShards(tmp_path / "nowhere")


def test_shards_that_do_not_match_the_manifest_are_refused(tmp_path: Path) -> None:
    write_shard_set(tmp_path, posts=20)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["shards"][0]["rows"] += 1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatagraphError, match=r"rows, .*manifest\.json says"):
        TrainingShards(tmp_path)
    manifest["shards"][0]["rows"] -= 1
    manifest["classes"] = manifest["classes"][:2]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatagraphError, match="outside the 2 classes"):
        list(TrainingShards(tmp_path))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"split": "test"}, r"no shards for split 'test'.*\['train', 'val'\]"),
        ({"rank": 2, "world_size": 2}, "rank 2"),
        ({"seed": -1}, "seed -1"),
        ({"label_format": "one_hot"}, "label_format 'one_hot'"),
        ({"shuffle_buffer": -5}, "shuffle_buffer -5"),
    ],
)
def test_bad_options_are_config_errors(shard_set, options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainingShards(shard_set[0], **options)


def test_persistent_workers_are_refused(shard_set) -> None:
    with pytest.raises(ConfigError, match="persistent_workers"):
        loader(shard_set[0], num_workers=2, persistent_workers=True)
