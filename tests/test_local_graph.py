"""build_graph_from_posts: real readers, mapper, WordNet snapshot and graph, on small files."""

from __future__ import annotations

import json

import pytest

from datagraph.errors import InputDataError
from datagraph.local_graph import build_graph_from_posts
from datagraph.taxonomy import load_taxonomy

POSTS = [
    {"post_id": "1", "hashtags": ["#dog", "#Beach"], "caption": "walk #puppies"},
    {"post_id": "2", "hashtags": ["#dogs", "#cat", "#instagood"]},
    {"post_id": "2", "hashtags": ["#dog"]},  # repeated id: the first row is kept
    {"post_id": "3", "caption": "sleepy #cat #cat #CAT"},  # tags from the caption only
    {"post_id": "4", "hashtags": ["#likeforlike"]},  # no label
    {"hashtags": ["#dog"]},  # no post_id: dead letter
]


@pytest.fixture
def posts_file(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in POSTS) + "not json\n")
    return path


def test_counts_reconcile(posts_file):
    result = build_graph_from_posts([str(posts_file)])
    assert result.rows_read == 7
    assert result.dead_letters == 2
    assert result.dropped["duplicate_post_id"] == 1
    assert sum(result.dropped.values()) == 1
    assert result.posts == 4
    assert result.labelled_posts == 3
    assert result.rows_read == result.posts + sum(result.dropped.values()) + result.dead_letters
    assert result.graph.build_info["total_posts"] == 4


def test_tags_labels_and_counts(posts_file):
    result = build_graph_from_posts([str(posts_file)])
    counts = dict(zip(*result.tag_counts.to_pydict().values(), strict=True))
    # caption tags count once per post whatever their repeats and case
    assert counts == {
        "#Beach": 1,
        "#CAT": 1,
        "#cat": 2,
        "#dog": 1,
        "#dogs": 1,
        "#instagood": 1,
        "#likeforlike": 1,
        "#puppies": 1,
    }
    graph = result.graph
    assert graph.count("dog.n.01", include_descendants=False) == 2  # posts 1 and 2
    assert graph.count("dog.n.01") == 3  # + puppy on post 1 (a post per label)
    assert [a.hashtag for a in graph.hashtags_for("cat.n.01")] == ["cat"]
    assert graph.hashtags_for("cat.n.01")[0].n_posts == 3  # #cat twice + #CAT once
    pairs = {c.synset_id: c.n_posts for c in graph.cooccurring("dog.n.01", k=None)}
    assert pairs == {"beach.n.01": 1, "cat.n.01": 1, "puppy.n.01": 1}
    labels = result.post_synsets.to_pydict()
    assert sorted(zip(labels["post_id"], labels["synset_id"], strict=True)) == [
        ("1", "beach.n.01"),
        ("1", "dog.n.01"),
        ("1", "puppy.n.01"),
        ("2", "cat.n.01"),
        ("2", "dog.n.01"),
        ("3", "cat.n.01"),
    ]


def test_same_input_same_bytes(posts_file, tmp_path):
    first = build_graph_from_posts([str(posts_file)]).graph.save(tmp_path / "a")
    second = build_graph_from_posts([str(posts_file)]).graph.save(tmp_path / "b")
    for name in ("nodes.parquet", "edges.parquet", "graph.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_taxonomy_classes(posts_file, sample_dir):
    lvis = load_taxonomy("lvis", sample_dir / "lvis_sample_categories.json")
    graph = build_graph_from_posts([str(posts_file)], lvis).graph
    assert graph.info()["nodes"]["class"] > 0
    assert "dog.n.01" in graph.subgraph("lvis").synset_ids


def test_no_valid_posts_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("not json\n")
    with pytest.raises(InputDataError, match="no valid posts"):
        build_graph_from_posts([str(path)])
