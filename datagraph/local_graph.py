"""Build a label graph from post files on one machine, without Beam.

The engine-free form of the build_graph pipeline, with the same library calls and so the same
graph: read posts (dead letters counted), reduce them to ``PostRecord``s, drop duplicates by the
rules of ``datagraph.dedup`` (``deduplicate``), count posts per raw tag, map the distinct tags
once, label posts by a join with the mapping, count synsets and synset pairs per post, build the
LabelGraph with ``total_posts`` = the kept posts. It holds every post's tags in memory, so it
suits samples, tests and documentation (up to some millions of posts); the pipeline runs the same
rules at scale. It applies no min-posts/min-users cut (the pipeline's defaults keep every tag too).

A post's raw tags are its ``hashtags`` field plus the hashtags found in its caption, each
distinct raw form once per post.

>>> from datagraph.resources import sample_data_dir
>>> result = build_graph_from_posts([str(sample_data_dir() / "posts.jsonl")])
>>> result.rows_read == result.dead_letters + sum(result.dropped.values()) + result.posts
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from datagraph.cooccurrence import cooccurrence_counts, synset_post_counts
from datagraph.dedup import ExcludeSet, deduplicate, post_records
from datagraph.errors import InputDataError
from datagraph.graph import LabelGraph
from datagraph.mapping import HashtagMapper
from datagraph.readers import expand_inputs, read_posts
from datagraph.taxonomy import Taxonomy, load_taxonomy
from datagraph.wordnet import WordNet


@dataclass
class LocalGraphResult:
    """The graph and the tables it was built from, with the row counts that reconcile.

    ``rows_read == dead_letters + sum(dropped.values()) + posts``.
    """

    graph: LabelGraph
    mapping: pa.Table  # MAPPING_SCHEMA, one row per distinct raw tag
    tag_counts: pa.Table  # raw_tag, n_posts
    post_synsets: pa.Table  # post_id, synset_id: the labels of each post
    rows_read: int
    dead_letters: int
    dropped: dict[str, int]  # by reason, as in datagraph.dedup.DROP_REASONS
    posts: int  # kept
    labelled_posts: int


def build_graph_from_posts(
    patterns: Sequence[str],
    taxonomy: str | Taxonomy = "visual",
    *,
    mapper: HashtagMapper | None = None,
    wordnet: WordNet | None = None,
    exclude: ExcludeSet | None = None,
) -> LocalGraphResult:
    """Read post files (paths or globs), deduplicate, map their hashtags, build the graph.

    ``taxonomy`` gives the class nodes (a name or a loaded Taxonomy); ``mapper`` replaces the
    default HashtagMapper for that taxonomy (for aliases, an embedder, other gates);
    ``exclude`` drops posts whose media is in an evaluation set.
    """
    taxonomy = load_taxonomy(taxonomy) if isinstance(taxonomy, str) else taxonomy
    wn = wordnet or WordNet.load()
    mapper = mapper or HashtagMapper(taxonomy, wordnet=wn)
    rows_read = dead_letters = 0
    records = []
    for path in expand_inputs(list(patterns)):
        for batch in read_posts(path):
            rows_read += batch.rows_read
            dead_letters += batch.dead_letters.num_rows
            records.extend(post_records(batch.posts))
    if not records:
        raise InputDataError(
            f"{', '.join(patterns)}: no valid posts in the input "
            f"({rows_read:,} rows read, {dead_letters:,} dead letters)"
        )
    kept, dropped = deduplicate(records, exclude=exclude)
    post_tags = (
        pl.DataFrame(
            {"post_id": [r.post_id for r in kept], "raw_tag": [list(r.tags) for r in kept]},
            schema={"post_id": pl.String, "raw_tag": pl.List(pl.String)},
        )
        .explode("raw_tag")
        .drop_nulls("raw_tag")
    )
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
        total_posts=len(kept),
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
        dropped=dropped,
        posts=len(kept),
        labelled_posts=len(set(labels.column("post_id").to_pylist())),
    )
