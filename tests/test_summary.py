"""Summaries of post files reconcile: rows read = valid + dead letters."""

from __future__ import annotations

import pytest

from datagraph.errors import InputDataError
from datagraph.summary import summarize_posts


def test_sample_summary_reconciles(sample_dir):
    summary = summarize_posts([str(sample_dir / "posts.jsonl")])
    assert summary.rows_read == summary.valid + summary.dead_letters == 20_020
    assert summary.dead_letters == 20
    assert sum(summary.dead_letters_by_field.values()) == 20
    assert summary.repeated_post_id_rows == summary.valid - summary.distinct_post_ids > 0
    assert summary.repeated_media_rows > summary.repeated_post_id_rows
    assert summary.distinct_raw_tags > 1000
    assert summary.top_tags[0][1] >= summary.top_tags[-1][1]


def test_parquet_and_jsonl_samples_hold_the_same_posts(sample_dir):
    jsonl = summarize_posts([str(sample_dir / "posts.jsonl")])
    parquet = summarize_posts([str(sample_dir / "posts.parquet")])
    assert parquet.dead_letters == 0
    assert parquet.valid == jsonl.valid
    assert parquet.top_tags == jsonl.top_tags
    assert parquet.distinct_raw_tags == jsonl.distinct_raw_tags


def test_empty_input_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(InputDataError, match="no rows in the input"):
        summarize_posts([str(path)])
