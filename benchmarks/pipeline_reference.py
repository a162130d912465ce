"""build_graph without an engine: the same rules in polars and numpy, in one process.

Usage: python benchmarks/pipeline_reference.py --input posts.jsonl --output out/ref
                                               [any option of pipelines.build_graph]

The reference that ``benchmarks/pipeline.py`` times beside the Beam runners, and the check of
their counts. It takes build_graph's own options (``pipelines.options``, so the defaults are the
same) and applies the rules of ``datagraph.dedup`` as whole-column operations:

1. Read with ``datagraph.readers.read_posts`` (the same validation, so the same dead letters);
   a post's tags are its ``hashtags`` field plus its caption's hashtags, distinct, sorted, empty
   ones dropped (as ``datagraph.dedup.post_records``).
2. Sort every row once by ``PostRecord.row_order``; from then on "the first row" of any group is
   its best row, and among distinct post_ids the row position is ``PostRecord.rank``.
   - duplicate_post_id, duplicate_media: the first row per post_id / per media_sha256;
   - eval_contamination: ``ExcludeSet.matches`` (only with --exclude-media);
   - near_duplicate_media: ``near_duplicate_mask``, all pairs within max_distance bits found
     by the same pigeonhole bands as ``phash_bands``, compared vectorized in numpy;
   - user_spam: the first ``keep_per_user_tagset`` rows per (user, case-folded tag set), the
     grouping that ``tagset_key`` digests.
3. Posts and users per raw tag (users by ``DistinctSketch``, exact below its limit, so the
   estimate is the pipeline's), the min-posts/min-users cut, one ``HashtagMapper.map`` call.
4. Labels by a join, capped and counted by ``datagraph.cooccurrence`` (the cap is the one
   ``cap_post_labels`` makes), the LabelGraph built and saved as build_graph's Finalize does.

Outputs in ``--output``: the five tables of build_graph (rows built and sorted as
``pipelines.io.WriteTable`` does, so equal tables are equal bytes), graph/, and reference.json
with the manifest's ``counts``, the outputs' sha256 and the seconds of each stage.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from datagraph.cooccurrence import (
    COOCCURRENCE_SCHEMA,
    SYNSET_COUNT_SCHEMA,
    cooccurrence_counts,
    synset_post_counts,
)
from datagraph.dedup import DROP_REASONS, ExcludeSet, PostRecord, band_widths
from datagraph.distinct import DEFAULT_LIMIT, DistinctSketch
from datagraph.extract import extract_hashtags
from datagraph.graph import LabelGraph
from datagraph.graph_files import write_atomic
from datagraph.mapping import HashtagMapper
from datagraph.readers import expand_inputs, read_posts
from datagraph.schema import (
    DEAD_LETTER_SCHEMA,
    MAPPING_SCHEMA,
    VOCABULARY_SCHEMA,
    vocabulary_row,
)
from datagraph.taxonomy import load_taxonomy
from datagraph.wordnet import WordNet
from pipelines.io import table_from_rows, write_table
from pipelines.options import BuildGraphConfig, parse_build_graph_args

NO_TIME = 2**63 - 1  # PostRecord.rank: posts without created_at rank last
_TAGS = pl.List(pl.String)


class StageClock:
    """Seconds per named stage, in the order the stages ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


# --- 1. read ---------------------------------------------------------------------------------
def read_inputs(files: list[str]) -> tuple[pa.Table, list[tuple], int]:
    """(valid posts, dead-letter rows, rows read) of all files, through the pipeline's reader."""
    posts, dead, rows_read = [], [], 0
    for path in files:
        for batch in read_posts(path):
            rows_read += batch.rows_read
            posts.append(
                batch.posts.select(
                    [
                        "post_id",
                        "user_id",
                        "created_at",
                        "media_sha256",
                        "media_phash",
                        "hashtags",
                        "caption",
                    ]
                )
            )
            dead += [
                tuple(row[n] for n in DEAD_LETTER_SCHEMA.names)
                for row in batch.dead_letters.to_pylist()
            ]
    return pa.concat_tables(posts), dead, rows_read


def post_frame(posts: pa.Table) -> pl.DataFrame:
    """The PostRecord columns: created_at as UTC milliseconds and ``tags`` (distinct raw tags,
    field + caption, sorted, without the ones that are empty once stripped of space and '#')."""
    frame = pl.from_arrow(posts.set_column(2, "created_at", posts["created_at"].cast(pa.int64())))
    caption_tags = pl.Series(
        "caption_tags", [extract_hashtags(c) for c in frame["caption"].to_list()], dtype=_TAGS
    )
    empty = pl.lit([], dtype=_TAGS)
    tags = pl.concat_list(pl.col("hashtags").fill_null(empty), pl.col("caption_tags"))
    frame = frame.with_columns(caption_tags).with_columns(tags.alias("tags"))
    distinct = frame["tags"].explode().drop_nulls().unique().to_list()
    blank = [tag for tag in distinct if not tag.strip().strip("#")]  # Python's notion of space
    return frame.select(
        "post_id",
        "user_id",
        "created_at",
        "media_sha256",
        "media_phash",
        pl.col("tags")
        .list.eval(pl.element().filter(pl.element().is_not_null() & ~pl.element().is_in(blank)))
        .list.unique()
        .list.sort(),
    )


# --- 2. deduplicate --------------------------------------------------------------------------
def sort_by_row_order(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows in ``PostRecord.row_order``: (created_at or never, post_id, user_id or "", sha256 or
    "", phash or -1, tags). Strings sort by UTF-8 bytes, which is Python's code-point order; the
    tags tuple compares as its tags joined by NUL."""
    return frame.sort(
        pl.col("created_at").fill_null(NO_TIME),
        "post_id",
        pl.col("user_id").fill_null(""),
        pl.col("media_sha256").fill_null(""),
        "media_phash",  # nulls first, as -1
        pl.col("tags").list.join("\x00"),
        nulls_last=False,
        maintain_order=True,
    )


def first_per_key(frame: pl.DataFrame, key: pl.Expr | str, keep: int = 1) -> pl.DataFrame:
    """The first ``keep`` rows of each key (rows already in row_order); null keys all pass."""
    key = pl.col(key) if isinstance(key, str) else key
    position = pl.int_range(pl.len()).over(key)
    return frame.filter(key.is_null() | (position < keep))


def near_duplicate_mask(phash: np.ndarray, max_distance: int) -> np.ndarray:
    """True where an earlier element (a better-ranked post) is within ``max_distance`` bits.

    ``phash`` (uint64) is in rank order. Two hashes that close agree on at least one of the
    bands of ``datagraph.dedup.phash_bands``, so each band is sorted by (value, rank) and every
    element is compared with the ones after it in its run of equal values, one offset at a
    time for the whole array: the work is the sum of squared bucket sizes, as for
    ``near_duplicate_losers``, but in numpy.
    """
    loser = np.zeros(phash.size, dtype=bool)
    rank = np.arange(phash.size)
    shift = 0
    for width in band_widths(max_distance):
        band = (phash >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        shift += width
        order = np.lexsort((rank, band))
        band, sorted_hash = band[order], phash[order]
        active = np.arange(phash.size - 1)
        offset = 1
        while active.size:
            active = active[active + offset < phash.size]
            active = active[band[active] == band[active + offset]]
            close = np.bitwise_count(sorted_hash[active] ^ sorted_hash[active + offset])
            loser[order[active[close <= max_distance] + offset]] = True
            offset += 1
    return loser


def excluded_mask(frame: pl.DataFrame, exclude: ExcludeSet) -> np.ndarray:
    """``ExcludeSet.matches`` for each row, asked once per distinct (sha256, phash)."""
    media = frame.select("media_sha256", "media_phash")
    distinct = media.unique()
    matches = [
        exclude.matches(PostRecord("", None, None, sha, phash, ()))
        for sha, phash in distinct.iter_rows()
    ]
    verdict = distinct.with_columns(pl.Series("excluded", matches, dtype=pl.Boolean))
    joined = media.join(verdict, on=["media_sha256", "media_phash"], how="left", nulls_equal=True)
    return joined["excluded"].to_numpy()


def tagset_groups(frame: pl.DataFrame) -> pl.Expr:
    """The per-user spam key: user and case-folded distinct tags (what ``tagset_key`` digests);
    null for posts without a user or tags, which are never spam."""
    distinct = frame["tags"].explode().drop_nulls().unique().to_list()
    folded = {tag: tag.casefold().lstrip("#") for tag in distinct}
    tagset = (
        pl.col("tags")
        .list.eval(pl.element().replace_strict(folded, return_dtype=pl.String))
        .list.unique()
        .list.sort()
        .list.join("\x1f")
    )
    has_key = (pl.col("user_id").fill_null("") != "") & (pl.col("tags").list.len() > 0)
    return pl.when(has_key).then(pl.concat_str(pl.col("user_id"), pl.lit("\x1f"), tagset))


def deduplicate(frame: pl.DataFrame, config: BuildGraphConfig) -> tuple[pl.DataFrame, dict]:
    """Kept posts (in row order) and the rows dropped for each of ``DROP_REASONS``."""
    dropped = dict.fromkeys(DROP_REASONS, 0)

    def drop(reason: str, kept: pl.DataFrame) -> pl.DataFrame:
        dropped[reason] += rows.height - kept.height
        return kept

    rows = sort_by_row_order(frame)
    rows = drop("duplicate_post_id", first_per_key(rows, "post_id"))
    if config.exclude_media:
        exclude = ExcludeSet.read(config.exclude_media, config.near_duplicate_distance)
        rows = drop("eval_contamination", rows.filter(~excluded_mask(rows, exclude)))
    rows = drop("duplicate_media", first_per_key(rows, "media_sha256"))
    phash = rows["media_phash"]
    has_phash = phash.is_not_null().to_numpy()
    loser = np.zeros(rows.height, dtype=bool)
    loser[has_phash] = near_duplicate_mask(
        phash.filter(phash.is_not_null()).to_numpy(), config.near_duplicate_distance
    )
    rows = drop("near_duplicate_media", rows.filter(~loser))
    key = tagset_groups(rows)
    rows = drop("user_spam", first_per_key(rows, key, config.keep_per_user_tagset))
    return rows, dropped


# --- 3-4. vocabulary -------------------------------------------------------------------------
def tag_stats(kept: pl.DataFrame) -> pl.DataFrame:
    """raw_tag, n_posts, n_users: users as ``DistinctSketch`` counts them (a post without a
    user_id is its own user); exact counts below the sketch's limit, its estimate above."""
    users = pl.col("user_id").fill_null("")
    user = pl.when(users != "").then(users).otherwise(pl.lit("\x00post:") + pl.col("post_id"))
    long = kept.select("tags", user.alias("user")).explode("tags").drop_nulls("tags")
    stats = long.group_by("tags").agg(
        pl.len().cast(pl.Int64).alias("n_posts"),
        pl.col("user").n_unique().cast(pl.Int64).alias("n_users"),
    )
    crowded = stats.filter(pl.col("n_users") >= DEFAULT_LIMIT)["tags"]
    if crowded.len():
        estimates = (
            long.filter(pl.col("tags").is_in(crowded.implode()))
            .group_by("tags")
            .agg(pl.col("user"))
            .select(
                "tags",
                pl.col("user")
                .map_elements(lambda u: DistinctSketch.of(u).count(), return_dtype=pl.Int64)
                .alias("estimate"),
            )
        )
        stats = stats.join(estimates, on="tags", how="left").select(
            "tags", "n_posts", pl.coalesce("estimate", "n_users").alias("n_users")
        )
    return stats.rename({"tags": "raw_tag"})


def vocabulary_tables(
    stats: pl.DataFrame, mapper: HashtagMapper
) -> tuple[pa.Table, pa.Table, dict[str, int]]:
    """(vocabulary, mapping) of the tags that passed the cut, sorted by raw_tag, and the
    mapped / unmapped counts."""
    entries = sorted(stats.iter_rows())
    mapping = mapper.map([tag for tag, _, _ in entries]).to_pylist()
    vocabulary = []
    for tag, n_posts, n_users in entries:
        norm = mapper.normalizer.normalize(tag)
        vocabulary.append(vocabulary_row(tag, n_posts, n_users, norm))
    mapped = sum(1 for row in mapping if row["synset_id"])
    counts = {"mapped_tags": mapped, "unmapped_tags": len(mapping) - mapped}
    mapping_rows = [tuple(row[name] for name in MAPPING_SCHEMA.names) for row in mapping]
    return (
        table_from_rows(vocabulary, VOCABULARY_SCHEMA),
        table_from_rows(mapping_rows, MAPPING_SCHEMA),
        counts,
    )


# --- 5. labels -------------------------------------------------------------------------------
def post_synsets(kept: pl.DataFrame, mapping: pa.Table) -> pa.Table:
    """post_id, synset_id: each kept post's mapped tags (before the cap)."""
    tag_synset = pl.from_arrow(mapping.select(["raw_tag", "synset_id"])).drop_nulls("synset_id")
    return (
        kept.select("post_id", pl.col("tags").alias("raw_tag"))
        .explode("raw_tag")
        .join(tag_synset, on="raw_tag")
        .select("post_id", "synset_id")
        .to_arrow()
    )


def label_counts(labels: pa.Table, cap: int) -> tuple[pa.Table, pa.Table, int]:
    """(synset counts, pair counts) after the per-post cap, and how many posts have a label."""
    synsets = synset_post_counts(labels, max_labels_per_post=cap).to_pylist()
    pairs = cooccurrence_counts(labels, max_labels_per_post=cap).to_pylist()
    labelled = pl.from_arrow(labels.select(["post_id"]))["post_id"].n_unique()
    return (
        table_from_rows(sorted(tuple(r.values()) for r in synsets), SYNSET_COUNT_SCHEMA),
        table_from_rows(sorted(tuple(r.values()) for r in pairs), COOCCURRENCE_SCHEMA),
        labelled,
    )


# --- run -------------------------------------------------------------------------------------
def build_reference(config: BuildGraphConfig) -> dict:
    """Run every stage and write the outputs; returns what reference.json holds."""
    clock = StageClock()
    out = Path(config.output)
    with clock.stage("load taxonomy and mapper"):
        wordnet = WordNet.load()
        taxonomy = load_taxonomy(config.taxonomy, config.taxonomy_path, wordnet=wordnet)
        mapper = HashtagMapper(taxonomy, wordnet=wordnet, alias_paths=config.aliases)
    with clock.stage("read"):
        posts, dead, rows_read = read_inputs(expand_inputs(list(config.inputs)))
    with clock.stage("tags"):
        frame = post_frame(posts)
    with clock.stage("deduplicate"):
        kept, dropped = deduplicate(frame, config)
    with clock.stage("count vocabulary"):
        stats = tag_stats(kept)
        cut = (pl.col("n_posts") >= config.min_posts) & (pl.col("n_users") >= config.min_users)
        passed = stats.filter(cut)
    with clock.stage("map vocabulary"):
        vocabulary, mapping, mapped = vocabulary_tables(passed, mapper)
    with clock.stage("label posts"):
        synsets, pairs, labelled = label_counts(
            post_synsets(kept, mapping), config.max_labels_per_post
        )
    tables = {
        "vocabulary": vocabulary,
        "mapping": mapping,
        "synset_counts": synsets,
        "cooccurrence": pairs,
        "dead_letters": table_from_rows(
            sorted(dead, key=lambda r: (r[0], r[1] or 0, r)), DEAD_LETTER_SCHEMA
        ),
    }
    counts = {
        "read": rows_read,
        "bad": len(dead),
        "dropped": dropped,
        "kept": kept.height,
        "labelled_posts": labelled,
        "vocabulary": {
            "distinct_tags": passed.height,
            "tags_below_cut": stats.height - passed.height,
            **mapped,
        },
    }
    with clock.stage("write tables"):
        outputs = [write_parquet(out, name, table) for name, table in tables.items()]
    with clock.stage("build and save graph"):
        graph = LabelGraph.build(
            mapping,
            vocabulary.select(["raw_tag", "n_posts"]),
            pairs,
            synset_counts=synsets,
            total_posts=counts["kept"],
            wordnet=wordnet,
            taxonomy=taxonomy,
        )
        graph.save(out / "graph")
    header = json.loads((out / "graph" / "graph.json").read_text())
    outputs += [
        {"path": f"graph/{name}", "rows": info["rows"], "sha256": info["sha256"]}
        for name, info in sorted(header["files"].items())
    ]
    result = {
        "counts": counts,
        "graph": header["counts"],
        "outputs": sorted(outputs, key=lambda o: o["path"]),
        "seconds": clock.seconds,
    }
    write_atomic(
        out / "reference.json",
        lambda handle: handle.write((json.dumps(result, indent=2, sort_keys=True) + "\n").encode()),
    )
    return result


def write_parquet(directory: Path, name: str, table: pa.Table) -> dict:
    """``<directory>/<name>.parquet`` written as the pipeline writes it (``pipelines.io``)."""
    _, path, rows, sha256 = write_table(str(directory), name, table)
    return {"path": path, "rows": rows, "sha256": sha256}


def main(argv: list[str] | None = None, say: Callable[[str], object] = print) -> dict:
    """Parse build_graph's options (Beam options are ignored), run, print the counts."""
    config, _, _ = parse_build_graph_args(sys.argv[1:] if argv is None else argv)
    Path(config.output).mkdir(parents=True, exist_ok=True)
    result = build_reference(config)
    say(json.dumps({"counts": result["counts"], "seconds": result["seconds"]}, indent=2))
    return result


if __name__ == "__main__":
    main()
