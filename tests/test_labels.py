"""Labelling posts by lookup in a label map."""

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from datagraph.errors import ConfigError
from datagraph.labels import (
    DEFAULT_DROP_THRESHOLD,
    LABEL_MAP_SCHEMA,
    NoisePolicy,
    label_map,
    label_posts,
    label_posts_with_noise,
)
from datagraph.schema import MAPPING_SCHEMA
from datagraph.taxonomy import load_taxonomy


def mapping_rows(rows):
    """A MAPPING_SCHEMA table from (raw_tag, synset_id, class_id, confidence) rows."""
    data = {name: [None] * len(rows) for name in MAPPING_SCHEMA.names}
    for i, (tag, synset, class_id, confidence) in enumerate(rows):
        data["raw_tag"][i] = tag
        data["synset_id"][i] = synset
        data["class_id"][i] = class_id
        data["confidence"][i] = confidence
    return pa.Table.from_pydict(data, schema=MAPPING_SCHEMA)


def test_label_map_keeps_tags_that_reach_a_class_of_the_taxonomy(sample_dir):
    lvis = load_taxonomy("lvis", sample_dir / "lvis_sample_categories.json")
    dog = lvis.class_for_synset("dog.n.01")
    mapping = mapping_rows(
        [
            ("#puppy", "puppy.n.01", dog.class_id, 0.9),
            ("#dog", "dog.n.01", dog.class_id, 1.0),
            ("#love", None, None, 0.0),
            ("#ghost", "ghost.n.01", 999_999, 0.8),  # a class id this taxonomy lacks
        ]
    )
    table = label_map(mapping, lvis)
    assert table.schema == LABEL_MAP_SCHEMA
    assert table.column("raw_tag").to_pylist() == ["#dog", "#puppy"]
    assert set(table.column("class_index").to_pylist()) == {lvis.index_of_class_id(dog.class_id)}


def test_label_posts_gives_distinct_sorted_classes_and_counts_unlabelled():
    labels = pl.DataFrame(
        {"raw_tag": ["#dog", "#puppy", "#cat"], "class_index": [3, 3, 1]},
        schema={"raw_tag": pl.String, "class_index": pl.Int32},
    )
    posts = pl.DataFrame(
        {
            "post_id": ["a", "b", "c", "d"],
            "tags": [["#dog", "#puppy", "#cat"], ["#love"], [], ["#puppy", "#sky"]],
            "media_uri": ["ua", "ub", "uc", "ud"],
        }
    )
    labelled, unlabelled = label_posts(posts, labels)
    assert unlabelled == 2
    assert labelled["post_id"].to_list() == ["a", "d"]
    assert labelled["classes"].to_list() == [[1, 3], [3]]
    assert labelled["source_hashtags"].to_list() == [["#cat", "#dog", "#puppy"], ["#puppy"]]
    assert labelled["media_uri"].to_list() == ["ua", "ud"]
    assert "tags" not in labelled.columns


LABELS = pl.DataFrame(
    {"raw_tag": ["#dog", "#puppy", "#cat", "#sky"], "class_index": [3, 3, 1, 7]},
    schema={"raw_tag": pl.String, "class_index": pl.Int32},
)
POSTS = pl.DataFrame(
    {
        "post_id": ["a", "b", "c", "d", "e"],
        "tags": [["#dog", "#puppy", "#sky"], ["#cat"], ["#love"], ["#cat", "#puppy"], ["#sky"]],
        "media_uri": ["ua", "ub", "uc", "ud", "ue"],
    }
)
NOISE = pl.DataFrame(
    {  # rows of other posts and repeated (post, tag) rows are fine; null = unscored
        "post_id": ["a", "a", "b", "d", "d", "zz", "a", "e"],
        "raw_tag": ["#puppy", "#dog", "#cat", "#cat", "#puppy", "#dog", "#dog", "#sky"],
        "noise_score": [0.75, 0.25, 0.875, None, 0.9375, 0.125, 0.5, 1.0],  # exact in float32
    },
    schema={"post_id": pl.String, "raw_tag": pl.String, "noise_score": pl.Float32},
)


def test_noise_policy_parses_what_the_command_line_accepts():
    assert NoisePolicy.parse("none") == NoisePolicy()
    assert NoisePolicy.parse(" weight ") == NoisePolicy("weight")
    assert NoisePolicy.parse("drop:1") == NoisePolicy("drop", 1.0)
    assert str(NoisePolicy.parse("drop:0.80")) == "drop:0.8"
    assert str(NoisePolicy.parse("drop:0.123456789")) == "drop:0.123456789"  # never rounded
    assert NoisePolicy.parse("drop") == NoisePolicy("drop", DEFAULT_DROP_THRESHOLD)
    assert str(NoisePolicy.parse("drop")) == "drop:0.5"
    for bad in ("drop:", "drop:0", "drop:1.5", "drop:x", "drop:nan", "weight:0.5", "cut:0.5"):
        with pytest.raises(ConfigError, match=r"noise policy|threshold"):
            NoisePolicy.parse(bad)


def test_a_label_scores_as_the_best_of_its_tags_and_none_changes_nothing():
    labelling = label_posts_with_noise(POSTS, LABELS, NOISE, NoisePolicy.parse("none"))
    posts = labelling.posts
    assert posts["post_id"].to_list() == ["a", "b", "d", "e"]
    assert posts["classes"].to_list() == [[3, 7], [1], [1, 3], [7]]
    # a: class 3 from #dog (0.25 and 0.5: its rows' minimum) and #puppy (0.75) -> 0.25; #sky
    # has no row -> null. d: #cat's only row is null -> null.
    assert posts["noise_scores"].to_list() == [[0.25, None], [0.875], [None, 0.9375], [1.0]]
    assert posts["source_hashtags"].to_list() == [
        ["#dog", "#puppy", "#sky"],
        ["#cat"],
        ["#cat", "#puppy"],
        ["#sky"],
    ]
    plain, no_label = label_posts(POSTS, LABELS)
    assert plain.equals(posts.drop("noise_scores")) and no_label == labelling.no_label == 1
    assert (labelling.labels_scored, labelling.labels_unscored) == (4, 2)
    assert labelling.labels_dropped == labelling.labels_down_weighted == 0
    assert labelling.noisy_labels == 0
    # 0.25 -> bin 2, 0.875 and 0.9375 -> bins 8 and 9, 1.0 -> the last bin
    assert labelling.score_histogram.tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 1, 2]


def test_drop_removes_labels_at_or_above_the_threshold_before_anything_counts_them():
    labelling = label_posts_with_noise(POSTS, LABELS, NOISE, NoisePolicy.parse("drop:0.875"))
    posts = labelling.posts
    # b (0.875: at the threshold) and e (1.0) lose their only label; d keeps #cat (unscored)
    assert posts["post_id"].to_list() == ["a", "d"]
    assert posts["classes"].to_list() == [[3, 7], [1]]
    assert posts["noise_scores"].to_list() == [[0.25, None], [None]]
    assert posts["source_hashtags"].to_list() == [["#dog", "#puppy", "#sky"], ["#cat"]]
    assert (labelling.no_label, labelling.noisy_labels) == (1, 2)
    assert labelling.labels_dropped == 3
    assert (labelling.labels_scored, labelling.labels_unscored) == (4, 2)  # before the policy


def test_weight_keeps_every_label_and_counts_the_ones_it_will_scale():
    noise = NOISE.with_columns(pl.col("noise_score").fill_null(0.0))  # d's #cat: scored 0
    labelling = label_posts_with_noise(POSTS, LABELS, noise, NoisePolicy.parse("weight"))
    assert labelling.posts["classes"].to_list() == [[3, 7], [1], [1, 3], [7]]
    assert labelling.labels_down_weighted == 4  # scored above 0; a score of 0 changes nothing
    assert (labelling.labels_scored, labelling.labels_dropped) == (5, 0)


def test_without_a_noise_pass_scores_are_null_and_with_an_empty_one_unscored():
    without = label_posts_with_noise(POSTS, LABELS)
    assert without.posts["noise_scores"].to_list() == [None] * 4
    assert (without.labels_scored, without.labels_unscored) == (0, 6)
    empty = label_posts_with_noise(POSTS, LABELS, NOISE.clear(), NoisePolicy.parse("drop:0.1"))
    assert empty.posts["noise_scores"].to_list() == [[None, None], [None], [None, None], [None]]
    assert (empty.labels_unscored, empty.labels_dropped, empty.noisy_labels) == (6, 0, 0)
    nothing = label_posts_with_noise(POSTS.clear(), LABELS, NOISE, NoisePolicy.parse("weight"))
    assert nothing.posts.height == nothing.no_label == 0
    assert np.array_equal(nothing.score_histogram, np.zeros(10))
