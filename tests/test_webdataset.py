"""WebDataset tars of a shard: layout, keys, JSON round trip, fixed bytes, hostile post ids."""

from __future__ import annotations

import io
import json
import re
import tarfile

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from datagraph.errors import DatagraphError
from datagraph.sampling import Sampling, plan_sampling
from datagraph.shards import SHARD_SCHEMA, ClassList, shard_bytes, shard_examples
from datagraph.webdataset import tar_members, tar_path, webdataset_key, webdataset_tar

KEY = re.compile(r"^[0-9a-f]{32}_[0-9]+$")
NAMES = ["apple", "balloon", "beach", "boat", "mountain"]


@pytest.fixture(scope="module")
def classes() -> ClassList:
    return ClassList(
        np.arange(len(NAMES), dtype=np.int32),
        np.array([2, 4, 6, 10, 41], dtype=np.int64),
        [f"{name}.n.01" for name in NAMES],
        NAMES,
    )


def _posts(post_ids: list[str], media: list[str | None] | None = None) -> pl.DataFrame:
    """Labelled posts as build_shards hands them to ``shard_examples``: skewed classes so that
    square-root sampling repeats the rare ones."""
    rng = np.random.default_rng(0)
    labels = [sorted({int(c) % len(NAMES) for c in rng.zipf(1.8, size=3)}) for _ in post_ids]
    return pl.DataFrame(
        {
            "post_id": post_ids,
            "media_uri": media if media is not None else [f"s3://b/{i}.jpg" for i in post_ids],
            "classes": pl.Series(labels, dtype=pl.List(pl.Int32)),
            "source_hashtags": [[f"#{NAMES[c]}" for c in cs] for cs in labels],
        }
    )


def _table(posts: pl.DataFrame, classes: ClassList, sampling: str = "sqrt") -> pa.Table:
    offsets = posts["classes"].explode().to_numpy()
    counts = np.bincount(offsets, minlength=len(classes))
    plan = plan_sampling(counts, Sampling(sampling), classes.class_ids.astype(np.uint64))
    return shard_examples(posts, plan, classes, seed=7, shard=2).table


@pytest.fixture(scope="module")
def shard(classes) -> pa.Table:
    table = _table(_posts([f"post{i}" for i in range(300)]), classes)
    assert (np.asarray(table.column("repeat")) > 0).any()  # the test needs up-sampled copies
    return table


def _members(data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return [(info, tar.extractfile(info).read()) for info in tar.getmembers()]


def _samples(data: bytes) -> list[dict]:
    """WebDataset's grouping (webdataset.tariterators.group_by_keys): consecutive members whose
    names agree up to the first dot of the file name form one sample."""
    samples: list[dict] = []
    for info, payload in _members(data):
        key, extension = info.name.split(".", 1)
        if not samples or samples[-1]["__key__"] != key:
            samples.append({"__key__": key})
        assert extension not in samples[-1], f"{info.name} twice in one sample"
        samples[-1][extension] = payload
    return samples


def test_one_sample_per_row_in_shard_order(shard, classes):
    samples = _samples(webdataset_tar(shard, classes))
    rows = shard.to_pylist()
    assert len(samples) == len(rows) == shard.num_rows
    keys = [s["__key__"] for s in samples]
    assert len(set(keys)) == len(keys) and all(KEY.match(k) for k in keys)
    for sample, row in zip(samples, rows, strict=True):
        assert sample["__key__"] == webdataset_key(row["post_id"], row["repeat"])
        assert set(sample) == {"__key__", "json", "url"}
        assert sample["url"].decode("utf-8") == row["media_uri"]
        record = json.loads(sample["json"])
        assert record["label_names"] == [NAMES[i] for i in row["labels"]]
        assert record["num_classes"] == len(NAMES)
        for name in SHARD_SCHEMA.names:
            if name in ("label_weights", "sample_weight"):
                assert np.array_equal(np.float32(record[name]), np.float32(row[name]))
            else:
                assert record[name] == row[name], name


def test_floats_are_the_shortest_decimal_of_the_float32(shard, classes):
    rows = shard.to_pylist()
    samples = _samples(webdataset_tar(shard, classes))
    row, sample = next((r, s) for r, s in zip(rows, samples, strict=True) if len(r["labels"]) == 3)
    text = sample["json"].decode()
    assert '"label_weights":[0.33333334,0.33333334,0.33333334]' in text
    assert f'"sample_weight":{np.float32(row["sample_weight"])!s}' in text


def test_same_bytes_twice_and_from_the_parquet_shard(shard, classes, tmp_path):
    data = webdataset_tar(shard, classes)
    assert webdataset_tar(shard, classes) == data
    path = tmp_path / "part-00002-of-00004.parquet"
    path.write_bytes(shard_bytes(shard, row_group_size=64))
    assert webdataset_tar(pq.read_table(path), classes) == data
    assert len(data) % tarfile.RECORDSIZE == 0


def test_headers_are_fixed_ustar(shard, classes):
    data = webdataset_tar(shard, classes)
    members = _members(data)
    assert len(members) == tar_members(shard) == 2 * shard.num_rows
    offset = 0
    for info, payload in members:
        header = data[offset : offset + tarfile.BLOCKSIZE]
        assert header[257:265] == tarfile.POSIX_MAGIC  # "ustar\0" "00": no GNU or PAX headers
        assert info.type == tarfile.REGTYPE and info.mode == 0o644
        assert (info.mtime, info.uid, info.gid, info.uname, info.gname) == (0, 0, 0, "", "")
        offset += tarfile.BLOCKSIZE + -(-len(payload) // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE


HOSTILE = [
    "../../etc/passwd",
    "/etc/shadow",
    "a.b.c",
    "..",
    ".hidden",
    "",
    "東京タワー🗼.jpg",
    "line\nbreak\ttab\x00nul",
    "x" * 10_000,
    "__key__",
]


def test_hostile_post_ids_cannot_escape_or_break_the_key(classes, tmp_path):
    once = _table(_posts(HOSTILE), classes, sampling="natural")
    again = once.set_column(1, "repeat", pa.array([1] * once.num_rows, pa.int32()))
    table = pa.concat_tables([once, again])  # each post twice: copies 0 and 1
    data = webdataset_tar(table, classes)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        names = tar.getnames()
        tar.extractall(tmp_path / "x", filter="data")
    assert all(re.match(r"^[0-9a-f]{32}_[0-9]+\.(json|url)$", name) for name in names)
    folder = tmp_path / "x"
    extracted = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    assert extracted == sorted(names)  # every file directly in the folder, nothing elsewhere
    samples = _samples(data)
    assert len(samples) == table.num_rows
    ids = [json.loads(s["json"])["post_id"] for s in samples]
    assert ids == table.column("post_id").to_pylist() and sorted(ids) == sorted(HOSTILE * 2)


def test_rows_without_media_keep_their_labels_but_have_no_url(classes):
    posts = _posts(["a", "b", "c"], media=["https://x/a.jpg", None, "gs://y/c.png"])
    table = _table(posts, classes, sampling="natural")
    data = webdataset_tar(table, classes)
    samples = {json.loads(s["json"])["post_id"]: s for s in _samples(data)}
    assert "url" not in samples["b"] and json.loads(samples["b"]["json"])["media_uri"] is None
    assert samples["c"]["url"] == b"gs://y/c.png"
    assert len(_members(data)) == tar_members(table) == 5


def test_copies_of_one_post_get_distinct_keys():
    keys = {webdataset_key("p", repeat) for repeat in range(50)}
    assert len(keys) == 50 and len({k.split("_")[0] for k in keys}) == 1


@given(st.text(max_size=300), st.integers(min_value=0, max_value=10_000))
def test_any_post_id_gives_a_safe_key(post_id, repeat):
    key = webdataset_key(post_id, repeat)
    assert KEY.match(key) and key.endswith(f"_{repeat}")
    assert key == webdataset_key(post_id, repeat)


def test_empty_shard_is_an_empty_tar(shard, classes):
    data = webdataset_tar(shard.slice(0, 0), classes)
    assert data == bytes(tarfile.RECORDSIZE) and _members(data) == []


def test_bad_tables_raise(shard, classes):
    with pytest.raises(DatagraphError, match="lacks column"):
        webdataset_tar(shard.drop_columns(["label_weights"]), classes)
    twice = pa.concat_tables([shard.slice(0, 1), shard.slice(0, 1)])
    with pytest.raises(DatagraphError, match="appears twice"):
        webdataset_tar(twice, classes)
    small = ClassList(classes.taxonomy_index[:1], classes.class_ids[:1], ["x.n.01"], ["x"])
    with pytest.raises(DatagraphError, match="outside the class list"):
        webdataset_tar(shard, small)
    weights = shard.column("sample_weight").to_numpy().copy()
    weights[3] = np.nan
    nan = shard.set_column(
        shard.schema.get_field_index("sample_weight"),
        "sample_weight",
        pa.array(weights, pa.float32()),
    )
    post = shard.column("post_id")[3].as_py()
    with pytest.raises(DatagraphError, match=f"sample_weight of post '{post}' is not finite"):
        webdataset_tar(nan, classes)


def test_tar_path():
    assert tar_path("train/part-00003-of-00064.parquet") == "train/part-00003-of-00064.tar"
    with pytest.raises(DatagraphError, match="not a Parquet shard"):
        tar_path("part-00003-of-00064.tar")


def test_read_by_the_webdataset_package(shard, classes, tmp_path):
    wds = pytest.importorskip("webdataset")
    path = tmp_path / "part-00002-of-00004.tar"
    path.write_bytes(webdataset_tar(shard, classes))
    samples = list(wds.WebDataset(str(path), shardshuffle=False).decode())
    assert [s["json"]["post_id"] for s in samples] == shard.column("post_id").to_pylist()
    assert [s["url"].decode() for s in samples] == shard.column("media_uri").to_pylist()


def test_module_docstring_example():
    import doctest

    import datagraph.webdataset

    result = doctest.testmod(datagraph.webdataset)
    assert result.attempted > 0 and result.failed == 0
