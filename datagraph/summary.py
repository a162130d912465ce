"""Summaries of post files and taxonomies: what the CLI prints before any pipeline runs.

``summarize_posts`` streams the files once and reports counts a user checks first: rows read,
rows that went to the dead-letter output (by field), repeated post ids and media hashes, users,
hashtag occurrences and the most frequent raw tags. Counting is done with Arrow compute and
polars on whole batches, not per row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from datagraph.errors import InputDataError
from datagraph.readers import expand_inputs, read_posts


@dataclass
class PostSummary:
    """Counts over a set of post files (see ``summarize_posts``)."""

    files: list[str]
    rows_read: int = 0
    valid: int = 0
    dead_letters: int = 0
    dead_letters_by_field: dict[str, int] = field(default_factory=dict)
    distinct_post_ids: int = 0
    repeated_post_id_rows: int = 0
    repeated_media_rows: int = 0
    users: int = 0
    posts_with_hashtags_field: int = 0
    posts_with_caption: int = 0
    hashtag_occurrences: int = 0
    distinct_raw_tags: int = 0
    top_tags: list[tuple[str, int]] = field(default_factory=list)
    languages: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def summarize_posts(
    patterns: list[str], top: int = 20, progress: Callable[[int], None] | None = None
) -> PostSummary:
    """Read every file matching ``patterns`` and count what is in them."""
    files = expand_inputs(patterns)
    summary = PostSummary(files=files)
    dead_fields: Counter[str] = Counter()
    columns = ("post_id", "user_id", "media_sha256", "lang", "caption", "hashtags")
    frames = []
    for path in files:
        for batch in read_posts(path):
            summary.rows_read += batch.rows_read
            summary.dead_letters += batch.dead_letters.num_rows
            for name in batch.dead_letters.column("field").to_pylist():
                dead_fields[name or "(record)"] += 1
            frames.append(batch.posts.select(columns))
            if progress:
                progress(batch.rows_read)
    if summary.rows_read == 0:
        raise InputDataError(f"{', '.join(files)}: no rows in the input")
    posts = pa.concat_tables(frames)
    summary.valid = posts.num_rows
    summary.dead_letters_by_field = dict(sorted(dead_fields.items()))
    frame = pl.from_arrow(posts.drop_columns(["hashtags"]))
    summary.distinct_post_ids = frame["post_id"].n_unique()
    summary.repeated_post_id_rows = summary.valid - summary.distinct_post_ids
    media = frame["media_sha256"].drop_nulls()
    summary.repeated_media_rows = media.len() - media.n_unique()
    summary.users = frame["user_id"].drop_nulls().n_unique()
    summary.posts_with_caption = frame["caption"].drop_nulls().len()
    summary.posts_with_hashtags_field = posts.num_rows - posts.column("hashtags").null_count
    tags = pc.list_flatten(posts.column("hashtags"))
    summary.hashtag_occurrences = len(tags)
    counts = pl.from_arrow(pa.table({"tag": tags}))["tag"].value_counts(sort=True)
    summary.distinct_raw_tags = counts.height
    ordered = counts.sort(["count", "tag"], descending=[True, False]).head(top)
    summary.top_tags = list(zip(ordered["tag"].to_list(), ordered["count"].to_list(), strict=True))
    langs = frame["lang"].drop_nulls().value_counts().sort("lang")
    summary.languages = dict(zip(langs["lang"].to_list(), langs["count"].to_list(), strict=True))
    return summary
