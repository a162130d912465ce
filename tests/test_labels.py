"""Labelling posts by lookup in a label map."""

import polars as pl
import pyarrow as pa

from datagraph.labels import LABEL_MAP_SCHEMA, label_map, label_posts
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
