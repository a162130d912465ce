"""Labelling posts by lookup: raw tag -> taxonomy class, then each post's distinct classes.

Vocabulary first: the graph's mapping table already says, once per distinct raw tag, which
synset and class the tag means. ``label_map`` turns it into a small lookup table (only tags that
reach a class of the chosen taxonomy); ``label_posts`` labels a whole frame of posts with one
join, never a model call or a Python loop per post.

When the shard set's taxonomy is not the one the graph was mapped with, the graph's vocabulary
is mapped again under the new taxonomy (``remap_vocabulary``): the ranking of senses depends on
the taxonomy (a sense that reaches an LVIS class is preferred when labelling for LVIS), so
re-projecting the old synsets would not give the same labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from datagraph.taxonomy import Taxonomy

LABEL_MAP_SCHEMA = pa.schema(
    [
        ("raw_tag", pa.string()),
        ("class_index", pa.int32()),  # 0-based position in the taxonomy's class list
        ("class_id", pa.int64()),  # the taxonomy's own id
        ("synset_id", pa.string()),  # the tag's synset (the class's synset or below it)
        ("confidence", pa.float32()),
    ]
)


def label_map(mapping: pa.Table, taxonomy: Taxonomy) -> pa.Table:
    """The rows of a mapping table (``schema.MAPPING_SCHEMA``, made with ``taxonomy``) whose
    class is one of the taxonomy's, as LABEL_MAP_SCHEMA sorted by raw_tag."""
    mapped = mapping.filter(
        pc.and_(pc.is_valid(mapping.column("synset_id")), pc.is_valid(mapping.column("class_id")))
    )
    rows = []
    for raw_tag, class_id, synset_id, confidence in zip(
        mapped.column("raw_tag").to_pylist(),
        mapped.column("class_id").to_pylist(),
        mapped.column("synset_id").to_pylist(),
        mapped.column("confidence").to_pylist(),
        strict=True,
    ):
        index = taxonomy.index_of_class_id(class_id)
        if index is not None:
            rows.append((raw_tag, index, class_id, synset_id, confidence))
    rows.sort()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(LABEL_MAP_SCHEMA)
    return pa.Table.from_arrays(
        [pa.array(list(c), f.type) for c, f in zip(columns, LABEL_MAP_SCHEMA, strict=True)],
        schema=LABEL_MAP_SCHEMA,
    )


def remap_vocabulary(tags: Sequence[str], taxonomy: Taxonomy, aliases: Sequence[str] = ()):
    """The mapping table of ``tags`` under ``taxonomy`` (a HashtagMapper, one call)."""
    from datagraph.mapping import HashtagMapper

    return HashtagMapper(taxonomy, alias_paths=aliases).map(list(tags))


def label_posts(posts: pl.DataFrame, labels: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """(labelled posts, number of posts without a label).

    ``posts`` has post_id and ``tags`` (a post's distinct raw tags) and any other columns;
    ``labels`` is a label map (raw_tag, class_index, ...). The result keeps the posts that have
    at least one class, in their order, with ``classes`` (distinct class indices, ascending)
    and ``source_hashtags`` (the raw tags that gave them, sorted) in place of ``tags``.
    """
    row = pl.int_range(pl.len(), dtype=pl.UInt32).alias("row")
    long = (
        posts.select(row, pl.col("tags").alias("raw_tag"))
        .explode("raw_tag")
        .join(labels.select("raw_tag", "class_index"), on="raw_tag", how="inner")
    )
    per_post = long.group_by("row").agg(
        pl.col("class_index").unique().sort().alias("classes"),
        pl.col("raw_tag").unique().sort().alias("source_hashtags"),
    )
    labelled = (
        posts.with_columns(row)
        .join(per_post, on="row", how="inner")
        .sort("row")
        .drop("row", "tags")
    )
    return labelled, posts.height - labelled.height
