"""Shard assignment, the class list, and one shard's rows and bytes."""

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datagraph.sampling import Sampling, plan_sampling
from datagraph.shards import (
    SHARD_SCHEMA,
    ClassList,
    in_validation,
    label_weights,
    post_hashes,
    relabel,
    shard_bytes,
    shard_examples,
    shard_name,
    shard_of,
)
from datagraph.taxonomy import load_taxonomy


@pytest.fixture(scope="module")
def lvis(sample_dir):
    return load_taxonomy("lvis", sample_dir / "lvis_sample_categories.json")


def labelled_posts(n: int, n_classes: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    classes = [
        sorted({int(c) % n_classes for c in rng.zipf(1.6, size=rng.integers(1, 4))})
        for _ in range(n)
    ]
    return pl.DataFrame(
        {
            "post_id": [f"post{i}" for i in range(n)],
            "user_id": [f"user{i % 97}" for i in range(n)],
            "media_uri": [f"https://img/{i}.jpg" for i in range(n)],
            "classes": pl.Series(classes, dtype=pl.List(pl.Int32)),
            "source_hashtags": [[f"#t{c}" for c in cs] for cs in classes],
        }
    )


def test_shard_names_and_spread():
    assert shard_name(3, 64) == "part-00003-of-00064.parquet"
    shards = shard_of(post_hashes([f"p{i}" for i in range(64_000)], 0), 64)
    counts = np.bincount(shards, minlength=64)
    assert counts.min() > 800 and counts.max() < 1200
    assert (shard_of(post_hashes(["p1"], 0), 64) == shard_of(post_hashes(["p1"], 0), 64)).all()


def test_validation_split_is_by_user():
    posts = labelled_posts(5000, 10)
    val = in_validation(posts, 0.2)
    users_val = set(posts.filter(pl.Series(val))["user_id"])
    users_train = set(posts.filter(~pl.Series(val))["user_id"])
    assert not users_val & users_train
    assert 0.1 < val.mean() < 0.3
    assert not in_validation(posts, 0.0).any()


def test_class_list_select_remap_and_hash(lvis):
    histogram = np.zeros(len(lvis), dtype=np.int64)
    histogram[[0, 5, 7]] = [10, 1, 3]
    classes = ClassList.select(lvis, histogram, min_class_count=2)
    assert classes.taxonomy_index.tolist() == [0, 7]
    assert classes.remap(len(lvis))[[0, 5, 7]].tolist() == [0, -1, 1]
    everything = ClassList.select(lvis, histogram, min_class_count=0)
    assert len(everything) == len(lvis)
    assert classes.sha256() != everything.sha256()
    assert classes.to_manifest()[1]["class_id"] == lvis.classes[7].class_id


def test_relabel_drops_classes_outside_the_list_and_posts_left_without_any():
    posts = pl.DataFrame(
        {"post_id": ["a", "b", "c"], "classes": [[0, 5], [5], [7]]},
        schema={"post_id": pl.String, "classes": pl.List(pl.Int32)},
    )
    remap = np.array([0, -1, -1, -1, -1, -1, -1, 1], dtype=np.int32)
    relabelled, dropped = relabel(posts, remap)
    assert dropped == 1
    assert relabelled["post_id"].to_list() == ["a", "c"]
    assert relabelled["classes"].to_list() == [[0], [1]]


def test_shard_examples_rows_weights_and_order(lvis):
    posts = labelled_posts(3000, len(lvis))
    histogram = np.bincount(posts["classes"].explode().to_numpy(), minlength=len(lvis))
    classes = ClassList.select(lvis, histogram, 0)
    plan = plan_sampling(histogram, Sampling("sqrt"), classes.class_ids.astype(np.uint64))
    result = shard_examples(posts, plan, classes, seed=1, shard=2)
    table = result.table
    assert table.schema == SHARD_SCHEMA
    rows = table.to_pylist()
    assert result.kept_posts + result.resampled_out == posts.height
    assert sum(1 for r in rows if r["repeat"] == 0) == result.kept_posts
    by_post = {}
    for r in rows:
        by_post.setdefault(r["post_id"], []).append(r["repeat"])
        assert r["shard"] == 2
        assert r["label_weights"] == pytest.approx([1 / len(r["labels"])] * len(r["labels"]))
        assert r["class_ids"] == [lvis.classes[i].class_id for i in r["labels"]]
        assert r["label_synsets"] == [lvis.classes[i].synset_id for i in r["labels"]]
    assert all(sorted(v) == list(range(len(v))) for v in by_post.values())
    assert any(len(v) > 1 for v in by_post.values())  # tail posts repeated
    hist = np.zeros(len(classes), dtype=np.int64)
    for r in rows:
        hist[r["labels"]] += 1
    assert hist.tolist() == result.histogram_after.tolist()
    # shuffled: rows are not in post_id order, and copies of one post are not adjacent
    ids = [r["post_id"] for r in rows]
    assert ids != sorted(ids)


def test_shard_bytes_do_not_depend_on_input_order(lvis, tmp_path):
    posts = labelled_posts(2000, len(lvis))
    histogram = np.bincount(posts["classes"].explode().to_numpy(), minlength=len(lvis))
    classes = ClassList.select(lvis, histogram, 0)
    plan = plan_sampling(histogram, Sampling("uniform"), classes.class_ids.astype(np.uint64))
    first = shard_bytes(shard_examples(posts, plan, classes, 0, 0).table, row_group_size=100)
    shuffled = posts.sample(fraction=1.0, shuffle=True, seed=3)
    second = shard_bytes(shard_examples(shuffled, plan, classes, 0, 0).table, row_group_size=100)
    assert first == second
    other_seed = shard_bytes(shard_examples(posts, plan, classes, 1, 0).table, row_group_size=100)
    assert other_seed != first
    path = tmp_path / "s.parquet"
    path.write_bytes(first)
    meta = pq.ParquetFile(path).metadata
    assert meta.row_group(0).num_rows == 100
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_validation_shards_write_every_post_once(lvis):
    posts = labelled_posts(500, len(lvis))
    classes = ClassList.select(lvis, np.ones(len(lvis)), 0)
    result = shard_examples(posts, None, classes, 0, 0)
    assert result.table.num_rows == 500
    assert set(result.table.column("repeat").to_pylist()) == {0}
    assert set(result.table.column("sample_weight").to_pylist()) == {1.0}


def with_noise_scores(posts: pl.DataFrame, seed: int = 0) -> pl.DataFrame:
    """The posts with a noise score per label: multiples of 1/8 (exact in float32), every
    fourth label unscored (null)."""
    rng = np.random.default_rng(seed)
    scores = [
        [None if rng.random() < 0.25 else int(rng.integers(0, 9)) / 8 for _ in classes]
        for classes in posts["classes"].to_list()
    ]
    return posts.with_columns(pl.Series("noise_scores", scores, dtype=pl.List(pl.Float32)))


def test_relabel_keeps_noise_scores_aligned_with_the_classes_left():
    posts = pl.DataFrame(
        {
            "post_id": ["a", "b", "c"],
            "classes": [[0, 5, 7], [5], [7]],
            "noise_scores": [[0.5, 0.25, None], [0.75], [None]],
        },
        schema={
            "post_id": pl.String,
            "classes": pl.List(pl.Int32),
            "noise_scores": pl.List(pl.Float32),
        },
    )
    remap = np.array([0, -1, -1, -1, -1, -1, -1, 1], dtype=np.int32)
    relabelled, dropped = relabel(posts, remap)
    assert dropped == 1
    assert relabelled["classes"].to_list() == [[0, 1], [1]]
    assert relabelled["noise_scores"].to_list() == [[0.5, None], [None]]
    unscored = posts.with_columns(pl.lit(None, dtype=pl.List(pl.Float32)).alias("noise_scores"))
    assert relabel(unscored, remap)[0]["noise_scores"].to_list() == [None, None]
    misaligned = posts.with_columns(pl.Series("noise_scores", [[0.5], [0.75], [None]]))
    with pytest.raises(ValueError, match="not aligned"):
        relabel(misaligned, remap)


def test_label_weights_are_one_over_k_times_one_minus_the_score():
    lengths = np.array([2, 1, 3])
    scores = pa.array([0.5, None, 1.0, 0.25, None, 0.0], pa.float32())
    assert label_weights(lengths).to_pylist() == pytest.approx([0.5, 0.5, 1, 1 / 3, 1 / 3, 1 / 3])
    assert label_weights(lengths, scores).to_pylist() == pytest.approx(
        [0.25, 0.5, 0.0, 0.25, 1 / 3, 1 / 3]
    )


def test_shard_examples_write_noise_scores_and_weight_by_them_when_asked(lvis):
    posts = with_noise_scores(labelled_posts(800, len(lvis)))
    histogram = np.bincount(posts["classes"].explode().to_numpy(), minlength=len(lvis))
    classes = ClassList.select(lvis, histogram, 0)
    plan = plan_sampling(histogram, Sampling("sqrt"), classes.class_ids.astype(np.uint64))
    plain = shard_examples(posts.drop("noise_scores"), plan, classes, seed=1, shard=0).table
    recorded = shard_examples(posts, plan, classes, seed=1, shard=0).table
    weighted = shard_examples(posts, plan, classes, 1, 0, noise_weights=True).table
    assert plain.column("noise_scores").null_count == plain.num_rows
    others = [n for n in SHARD_SCHEMA.names if n not in ("noise_scores", "label_weights")]
    assert recorded.select(others).equals(plain.select(others))
    assert weighted.select(others).equals(plain.select(others))  # the same rows and draws
    assert recorded.column("label_weights").equals(plain.column("label_weights"))
    given = {
        post_id: scores
        for post_id, scores in zip(
            posts["post_id"].to_list(), posts["noise_scores"].to_list(), strict=True
        )
    }
    for row, weights in zip(
        recorded.to_pylist(), weighted.column("label_weights").to_pylist(), strict=True
    ):
        assert row["noise_scores"] == given[row["post_id"]]
        k = len(row["labels"])
        expected = [np.float32((1 / k) * (1 - (s or 0.0))) for s in row["noise_scores"]]
        assert weights == expected
