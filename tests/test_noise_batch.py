"""prepare_batch: labels, context tags, units and texts of a posts table (no model)."""

from __future__ import annotations

import doctest

import numpy as np
import pyarrow as pa
import pytest

import datagraph.noise_batch
from datagraph.errors import InputDataError
from datagraph.noise_batch import (
    TextVectors,
    label_text,
    post_tag_units,
    prepare_batch,
    prompt_text,
)
from datagraph.normalize import default_normalizer

MAPPING = pa.table(
    {
        "raw_tag": ["#Dogs", "park", "#cat", "sunset"],
        "canonical": ["dog", "park", "cat", "sunset"],
        "synset_id": ["dog.n.01", "park.n.02", "cat.n.01", None],
        "confidence": pa.array([0.9, 0.8, 0.7, 0.0], pa.float32()),
        "class_id": pa.array([1, 2, 3, None], pa.int64()),
    }
)


def posts() -> pa.Table:
    return pa.table(
        {
            "post_id": ["a", "b", "c"],
            "hashtags": pa.array(
                [["#Dogs", "park", "park", "Sunset"], [], ["lovely", "#"]], pa.list_(pa.string())
            ),
            "caption": ["walk with my #cat", None, "  "],
            "image": pa.array([[1.0, 0.0], None, [0.0, 2.0]], pa.list_(pa.float32())),
        }
    )


def test_labels_context_units_and_texts(wn):
    batch = prepare_batch(posts(), MAPPING, wordnet=wn, normalizer=default_normalizer(), unit="tag")
    labels = batch.labels.to_dicts()
    assert [(r["post"], r["raw_tag"], r["synset_id"]) for r in labels] == [
        (0, "#Dogs", "dog.n.01"),
        (0, "#cat", "cat.n.01"),  # from the caption
        (0, "park", "park.n.02"),  # once, though listed twice
    ]
    assert labels[0]["class_id"] == 1 and labels[0]["confidence"] == pytest.approx(0.9)
    context = sorted(map(tuple, batch.context.rows()))
    # "Sunset" is not in the mapping: the normalizer gives its canonical form
    assert context == [(0, "cat"), (0, "dog"), (0, "park"), (0, "sunset"), (2, "lovely")]
    assert (
        batch.units.rename({"unit": "canonical"})
        .sort("post", "canonical")
        .equals(batch.context.sort("post", "canonical"))
    )
    assert batch.captions.to_pylist() == ["walk with my #cat", None, None]  # blank is none
    assert set(batch.texts()) == {"cat", "dog", "park", "sunset", "lovely", "walk with my #cat"}
    assert label_text(wn, "dog.n.01") in batch.texts(("tag", "gloss"))
    assert "a photo of a dog" in batch.texts(("tag", "prompt"))
    assert batch.post_units().column("post_id").to_pylist()[:1] == ["a"]


def _pairs(units: pa.Table) -> list[tuple[str, str]]:
    return sorted(
        zip(units.column("post_id").to_pylist(), units.column("unit").to_pylist(), strict=True)
    )


def test_post_tag_units_are_the_tag_units_without_a_mapping(wn):
    normalizer = default_normalizer()
    rows = _pairs(post_tag_units(posts(), normalizer))
    # hashtags field and caption, each post's canonical forms once, stopwords ("lovely") kept
    assert rows == [("a", "cat"), ("a", "dog"), ("a", "park"), ("a", "sunset"), ("c", "lovely")]
    empty = pa.table({"raw_tag": pa.array([], pa.string()), "synset_id": pa.array([], pa.string())})
    empty = empty.append_column("confidence", pa.array([], pa.float32()))
    batch = prepare_batch(posts(), empty, wordnet=wn, normalizer=normalizer, unit="tag")
    assert _pairs(batch.post_units()) == rows
    with pytest.raises(InputDataError, match="post_id has null"):
        post_tag_units(pa.table({"post_id": [None], "hashtags": [["dog"]]}), normalizer)


def test_synset_units_and_images(wn):
    batch = prepare_batch(
        posts(),
        MAPPING,
        wordnet=wn,
        normalizer=default_normalizer(),
        unit="synset",
        image_embedding_column="image",
    )
    assert sorted(batch.units["unit"].to_list()) == ["cat.n.01", "dog.n.01", "park.n.02"]
    assert batch.images.shape == (3, 2)
    assert np.isnan(batch.images[1]).all() and batch.images[2].tolist() == [0.0, 2.0]


def test_bad_image_columns(wn):
    table = posts().set_column(
        3, "image", pa.array([[1.0], None, [0.0, 2.0]], pa.list_(pa.float32()))
    )
    with pytest.raises(InputDataError, match="differ in length"):
        prepare_batch(
            table,
            MAPPING,
            wordnet=wn,
            normalizer=default_normalizer(),
            image_embedding_column="image",
        )
    with pytest.raises(InputDataError, match="list of floats"):
        prepare_batch(
            posts().set_column(3, "image", pa.array(["x", "y", "z"])),
            MAPPING,
            wordnet=wn,
            normalizer=default_normalizer(),
            image_embedding_column="image",
        )


def test_text_vectors_rows_and_take():
    vectors = TextVectors(pa.array(["a", "b"]), np.eye(2, dtype=np.float32))
    assert vectors.rows(pa.array(["b", None, "z", "a"])).tolist() == [1, -1, -1, 0]
    taken = vectors.take(np.array([1, -1]))
    assert taken[0].tolist() == [0.0, 1.0] and np.isnan(taken[1]).all()


def test_prompt_articles_and_docstring(wn):
    assert prompt_text(wn, "dog.n.01") == "a photo of a dog"
    assert prompt_text(wn, "apple.n.01") == "a photo of an apple"
    assert doctest.testmod(datagraph.noise_batch).failed == 0
