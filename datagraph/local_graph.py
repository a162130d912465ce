"""Build a label graph from post files on one machine, without Beam.

This is the library path the Beam pipeline (pipelines/build_graph) distributes: read posts,
collect each post's raw tags, count posts per raw tag, map the distinct tags once, label posts
by a join with the mapping, count synsets and synset pairs per post, build the LabelGraph. It
keeps every post's tags in memory, so it suits samples, tests and documentation (up to some
millions of posts), not billions.

A post's raw tags are its ``hashtags`` field plus the hashtags found in its caption
(``extract_hashtags``), each distinct raw form counted once per post. Posts are distinct by
``post_id`` (the first row of a repeated id is kept). ``total_posts`` (N in PMI) is the number
of distinct posts read, labelled or not.

>>> from datagraph.resources import sample_data_dir
>>> result = build_graph_from_posts([str(sample_data_dir() / "posts.jsonl")])
>>> result.posts, result.labelled_posts
(2000, 1744)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from datagraph.cooccurrence import cooccurrence_counts, synset_post_counts
from datagraph.errors import InputDataError
from datagraph.extract import extract_hashtags
from datagraph.graph import LabelGraph
from datagraph.mapping import HashtagMapper
from datagraph.readers import expand_inputs, read_posts
from datagraph.taxonomy import Taxonomy, load_taxonomy
from datagraph.wordnet import WordNet


@dataclass
class LocalGraphResult:
    """The graph and the tables it was built from, with the row counts that reconcile.

    ``rows_read == posts + repeated_post_rows + dead_letters``.
    """

    graph: LabelGraph
    mapping: pa.Table  # MAPPING_SCHEMA, one row per distinct raw tag
    tag_counts: pa.Table  # raw_tag, n_posts
    post_synsets: pa.Table  # post_id, synset_id: the labels of each post
    rows_read: int
    dead_letters: int
    repeated_post_rows: int
    posts: int
    labelled_posts: int


def build_graph_from_posts(
    patterns: Sequence[str],
    taxonomy: str | Taxonomy = "visual",
    *,
    mapper: HashtagMapper | None = None,
    wordnet: WordNet | None = None,
) -> LocalGraphResult:
    """Read post files (paths or globs), map their hashtags and build the label graph.

    ``taxonomy`` gives the class nodes (a name or a loaded Taxonomy); ``mapper`` replaces the
    default HashtagMapper for that taxonomy (for aliases, an embedder, other gates).
    """
    taxonomy = load_taxonomy(taxonomy) if isinstance(taxonomy, str) else taxonomy
    wn = wordnet or WordNet.load()
    mapper = mapper or HashtagMapper(taxonomy, wordnet=wn)
    rows_read = dead_letters = 0
    frames = []
    for path in expand_inputs(list(patterns)):
        for batch in read_posts(path):
            rows_read += batch.rows_read
            dead_letters += batch.dead_letters.num_rows
            frames.append(batch.posts.select(["post_id", "hashtags", "caption"]))
    if not any(frame.num_rows for frame in frames):
        raise InputDataError(
            f"{', '.join(patterns)}: no valid posts in the input "
            f"({rows_read:,} rows read, {dead_letters:,} dead letters)"
        )
    posts = pl.from_arrow(pa.concat_tables(frames)).unique("post_id", keep="first")
    posts = posts.sort("post_id", maintain_order=True)
    post_tags = _post_tags(posts)
    tag_counts = (
        post_tags.group_by("raw_tag")
        .agg(pl.len().cast(pl.Int64).alias("n_posts"))
        .sort("raw_tag")
        .to_arrow()
    )
    mapping = mapper.map(tag_counts.column("raw_tag").to_pylist())
    labels = (
        post_tags.join(
            pl.from_arrow(mapping.select(["raw_tag", "synset_id"])), on="raw_tag", how="inner"
        )
        .drop_nulls("synset_id")
        .select("post_id", "synset_id")
        .unique()
        .sort("post_id", "synset_id")
        .to_arrow()
    )
    graph = LabelGraph.build(
        mapping,
        tag_counts,
        cooccurrence_counts(labels),
        synset_counts=synset_post_counts(labels),
        total_posts=posts.height,
        wordnet=wn,
        taxonomy=taxonomy,
    )
    return LocalGraphResult(
        graph=graph,
        mapping=mapping,
        tag_counts=tag_counts,
        post_synsets=labels,
        rows_read=rows_read,
        dead_letters=dead_letters,
        repeated_post_rows=rows_read - dead_letters - posts.height,
        posts=posts.height,
        labelled_posts=len(set(labels.column("post_id").to_pylist())),
    )


def _post_tags(posts: pl.DataFrame) -> pl.DataFrame:
    """(post_id, raw_tag), one row per distinct raw tag of a post: field tags + caption tags."""
    from_field = posts.select("post_id", pl.col("hashtags").alias("raw_tag")).explode("raw_tag")
    captions = posts.filter(pl.col("caption").is_not_null())
    from_caption = pl.DataFrame(
        {
            "post_id": captions["post_id"],
            "raw_tag": [extract_hashtags(text) for text in captions["caption"].to_list()],
        },
        schema={"post_id": pl.String, "raw_tag": pl.List(pl.String)},
    ).explode("raw_tag")
    return (
        pl.concat([from_field, from_caption])
        .drop_nulls("raw_tag")
        .filter(pl.col("raw_tag").str.strip_chars().str.strip_chars("#") != "")
        .unique()
    )
