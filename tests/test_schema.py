"""Post validation turns bad records into dead letters naming field and problem."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from datagraph.schema import (
    DEAD_LETTER_SCHEMA,
    MAPPING_SCHEMA,
    POST_SCHEMA,
    TRAINING_EXAMPLE_SCHEMA,
    VOCABULARY_SCHEMA,
    FieldError,
    posts_table,
    validate_manifest,
    validate_post,
    validate_records,
)


def test_valid_post_is_typed():
    post = validate_post(
        {
            "post_id": 12,
            "hashtags": ["#dog"],
            "user_id": "u1",
            "created_at": "2019-05-01T10:00:00Z",
            "media_sha256": "AB" * 32,
            "media_phash": "0xff",
            "lang": "en",
            "likes": 3,
        }
    )
    assert post["post_id"] == "12"
    assert post["created_at"] == datetime(2019, 5, 1, 10, tzinfo=UTC)
    assert post["media_sha256"] == "ab" * 32
    assert post["media_phash"] == 255
    assert post["extra"] == '{"likes":3}'
    table = posts_table([post])
    assert table.schema == POST_SCHEMA
    assert table.column("media_phash").type == pa.uint64()


def test_epoch_and_naive_timestamps_are_utc():
    assert validate_post({"post_id": "a", "created_at": 0})["created_at"] == datetime(
        1970, 1, 1, tzinfo=UTC
    )
    naive = validate_post({"post_id": "a", "created_at": "2020-01-01 00:00:00"})["created_at"]
    assert naive.tzinfo == UTC


@pytest.mark.parametrize(
    ("record", "field", "message"),
    [
        ({"hashtags": []}, "post_id", "is required"),
        ({"post_id": "  "}, "post_id", "is empty"),
        ({"post_id": True}, "post_id", "must be a string or integer"),
        ({"post_id": 1.5}, "post_id", "must be a string or integer"),
        ({"post_id": "a", "hashtags": "#dog"}, "hashtags", "must be a list"),
        ({"post_id": "a", "hashtags": ["#dog", None]}, "hashtags", "item 1 must be a string"),
        ({"post_id": "a", "caption": 5}, "caption", "must be a string"),
        ({"post_id": "a", "caption": "\ud800"}, "caption", "lone surrogate"),
        ({"post_id": "a", "created_at": "tuesday"}, "created_at", "not an ISO 8601"),
        ({"post_id": "a", "created_at": float("nan")}, "created_at", "must be finite"),
        ({"post_id": "a", "media_sha256": "abc"}, "media_sha256", "64 hexadecimal"),
        (
            {"post_id": "a", "media_phash": 1 << 64},
            "media_phash",
            "out of the unsigned 64-bit range",
        ),
        ({"post_id": "a", "media_phash": "xyz"}, "media_phash", "hex digits"),
        ({"post_id": "a", "score": float("inf")}, "extra", "NaN or infinity"),
        ("just text", None, "expected a JSON object"),
    ],
)
def test_bad_fields_are_named(record, field, message):
    with pytest.raises(FieldError) as caught:
        validate_post(record)
    assert caught.value.field == field
    assert message in caught.value.message


def test_validate_records_splits_posts_and_dead_letters():
    posts, dead = validate_records(
        [(1, {"post_id": "a"}), (2, {"post_id": None}), (3, {"post_id": "b", "hashtags": [1]})],
        "in.jsonl",
    )
    assert [p["post_id"] for p in posts] == ["a"]
    assert [(d["source_file"], d["line"], d["field"]) for d in dead] == [
        ("in.jsonl", 2, "post_id"),
        ("in.jsonl", 3, "hashtags"),
    ]
    assert dead[0]["error"] == "post_id is required"
    assert dead[1]["raw"] == '{"post_id": "b", "hashtags": [1]}'
    assert pa.Table.from_pylist(dead, schema=DEAD_LETTER_SCHEMA).num_rows == 2


def test_huge_raw_records_are_cut_in_dead_letters():
    _, dead = validate_records([(1, {"post_id": None, "caption": "x" * 200_000})], "f")
    assert len(dead[0]["raw"]) < 70_000
    assert dead[0]["raw"].endswith("more characters]")


def test_table_schemas_have_the_design_columns():
    assert VOCABULARY_SCHEMA.names == [
        "raw_tag",
        "n_posts",
        "n_users",
        "canonical",
        "tokens",
        "is_stopword",
        "stop_reason",
    ]
    assert {
        "raw_tag",
        "canonical",
        "synset_id",
        "candidates",
        "confidence",
        "match",
        "class_id",
        "class_name",
        "class_synset_id",
        "unmapped_reason",
    } <= set(MAPPING_SCHEMA.names)
    assert {"post_id", "labels", "class_ids", "label_weights", "sample_weight", "shard"} <= set(
        TRAINING_EXAMPLE_SCHEMA.names
    )


def test_manifest_validation_names_missing_and_mistyped_keys():
    problems = validate_manifest({"format_version": 1, "seed": "0"}, "m.json")
    assert "m.json: missing key 'config'" in problems
    assert "m.json: key 'seed' must be int" in problems
    assert validate_manifest([]) == ["manifest.json: expected a JSON object"]
