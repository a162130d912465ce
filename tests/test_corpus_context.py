"""TagNeighbours: each canonical tag's strongest corpus neighbours by positive PMI."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from datagraph.corpus_context import TagNeighbours
from datagraph.errors import ConfigError
from datagraph.noise_counts import CooccurrenceCounts

POSTS = [
    ["cake", "chocolate", "birthday"],
    ["cake", "chocolate"],
    ["cake", "birthday", "candle"],
    ["cake", "dog"],
    ["dog", "park"],
    ["dog", "park", "ball"],
    ["beach"],
    ["beach", "sunset"],
]


def test_neighbours_are_positive_pmi_over_posts_strongest_first():
    neighbours = TagNeighbours.from_tag_lists(POSTS, min_pair_posts=2)
    n = len(POSTS)
    # cake: 4 posts; chocolate 2, birthday 2, both always beside cake; dog 3, once with cake
    assert neighbours.of("cake") == [
        ("birthday", pytest.approx(math.log(2 * n / (4 * 2)))),
        ("chocolate", pytest.approx(math.log(2 * n / (4 * 2)))),
    ]  # equal weights: ordered by name
    assert neighbours.of("park") == [("dog", pytest.approx(math.log(2 * n / (2 * 3))))]
    assert neighbours.of("beach") == []  # one shared post with sunset is below min_pair_posts
    assert neighbours.of("unknown") == []


def test_one_shared_post_counts_when_allowed_and_k_caps_the_list():
    everything = TagNeighbours.from_tag_lists(POSTS, min_pair_posts=1)
    assert [name for name, _ in everything.of("beach")] == ["sunset"]
    # a pair seen less often than chance (cake and dog: 1 post against 4 * 3 / 8) is left out
    assert "dog" not in [name for name, _ in everything.of("cake")]
    capped = TagNeighbours.from_tag_lists(POSTS, min_pair_posts=1, k=1)
    assert len(capped.of("cake")) == 1
    assert capped.of("cake")[0] == everything.of("cake")[0]


def test_repeated_tags_on_a_post_count_once_and_order_does_not_matter():
    once = TagNeighbours.from_tag_lists(POSTS, min_pair_posts=1)
    repeated = TagNeighbours.from_tag_lists(
        [list(reversed(post)) + post for post in reversed(POSTS)], min_pair_posts=1
    )
    assert once.table.equals(repeated.table)


def test_from_counts_reads_the_count_tables(tmp_path):
    # 10 posts: a on 4, b on 2, c on 5; a+b on 2 posts, a+c on 1, b+c on 2
    counts = CooccurrenceCounts.from_tables(
        pa.table({"synset_id": ["a", "b", "c"], "n_posts": [4, 2, 5]}),
        pa.table({"synset_a": ["a", "a", "b"], "synset_b": ["b", "c", "c"], "n_posts": [2, 1, 2]}),
        10,
        unit="tag",
    )
    neighbours = TagNeighbours.from_counts(counts, min_pair_posts=1)
    assert neighbours.of("a") == [("b", pytest.approx(math.log(2 * 10 / (4 * 2))))]  # a+c: 0.5
    assert neighbours.of("b") == [
        ("a", pytest.approx(math.log(2.5))),
        ("c", pytest.approx(math.log(2 * 10 / (2 * 5)))),
    ]
    path = tmp_path / "neighbours.parquet"
    neighbours.write(path)
    again = TagNeighbours.read(path)
    assert again.table.equals(neighbours.table) and again.k == 2  # the longest list
    neighbours.write(tmp_path / "again.parquet")
    assert path.read_bytes() == (tmp_path / "again.parquet").read_bytes()


def test_empty_corpus_and_bad_settings():
    assert len(TagNeighbours.from_tag_lists([])) == 0
    assert len(TagNeighbours.from_tag_lists([[], ["dog"]])) == 0
    with pytest.raises(ConfigError, match="neighbours per tag"):
        TagNeighbours.from_tag_lists(POSTS, k=0)
    with pytest.raises(ConfigError, match="min_pair_posts"):
        TagNeighbours.from_tag_lists(POSTS, min_pair_posts=0)
