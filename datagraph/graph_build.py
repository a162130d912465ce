"""Building a label graph's node and edge tables from a mapping and post counts.

One method per node or edge family (synsets and their hypernyms, hashtags and their aliases,
co-occurrence with PMI, taxonomy classes). Aggregation is done in polars, so the Python code
here runs once per distinct tag or synset, never per post.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from datagraph.errors import ConfigError, DatagraphError
from datagraph.graph_files import (
    EDGE_SORT_KEY,
    EDGES_SCHEMA,
    NODE_SORT_KEY,
    NODES_SCHEMA,
    sorted_table,
)
from datagraph.graph_walk import reachable
from datagraph.taxonomy import Taxonomy
from datagraph.wordnet import WordNet

_MAPPING_COLUMNS = pa.schema(  # the MAPPING_SCHEMA columns the graph reads
    [
        ("raw_tag", pa.string()),
        ("canonical", pa.string()),
        ("synset_id", pa.string()),
        ("confidence", pa.float32()),
        ("class_id", pa.int64()),
        ("class_synset_id", pa.string()),
    ]
)


class GraphBuilder:
    """Turns the input tables into node and edge tables (one method per node/edge family)."""

    def __init__(self, wn: WordNet, taxonomy: Taxonomy | None):
        self.wn = wn
        self.taxonomy = taxonomy

    def build(
        self,
        mapping: pa.Table,
        tag_counts: pa.Table | None,
        cooccurrence: pa.Table | None,
        *,
        synset_counts: pa.Table | None,
        total_posts: int | None,
        full_wordnet: bool,
        keep_unmapped: bool,
    ) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
        """The sorted node and edge tables and the build record (see LabelGraph.build)."""
        rows = self._mapping_rows(mapping, tag_counts)
        mapped = rows.filter(pl.col("synset_id").is_not_null())
        pairs = self._pairs(cooccurrence)
        seeds = set(mapped["synset_id"].to_list())
        seeds.update(pairs["synset_a"].unique().to_list())
        seeds.update(pairs["synset_b"].unique().to_list())
        self._check_synsets(seeds, "mapping or cooccurrence")
        synsets = self._synset_closure(seeds, full_wordnet)
        if synset_counts is not None:
            counts = _count_table(synset_counts, "synset_id", "synset_counts")
            counts_source = "synset_counts"
        else:
            counts = mapped.group_by("synset_id").agg(pl.col("n_posts").sum())
            counts_source = "tag_counts via mapping" if tag_counts is not None else "none"
        count_of = dict(
            zip(counts["synset_id"].to_list(), counts["n_posts"].to_list(), strict=True)
        )
        if total_posts is None:
            total = sum(count_of.values())
            total_source = "sum of synset counts"
        else:
            total, total_source = total_posts, "given"
            biggest = max(count_of.values(), default=0)
            if total_posts < biggest:
                raise ConfigError(
                    f"total_posts={total_posts:,} is smaller than a synset's count ({biggest:,})"
                )
        class_nodes, class_edges = self._classes(mapped)
        nodes = [
            self._synset_nodes(synsets, count_of),
            self._hashtag_nodes(rows, mapped, keep_unmapped),
            class_nodes,
        ]
        edges = [
            self._hypernym_edges(synsets),
            self._alias_edges(mapped),
            _cooccurrence_edges(pairs, count_of, total),
            class_edges,
        ]
        info = {
            "datagraph_version": _version(),
            "wordnet": {
                "version": self.wn.header.get("wordnet_version"),
                "snapshot_files": self.wn.header.get("files"),
                "extensions": len(self.wn) - self.wn.wordnet_synset_count,
            },
            "taxonomy": None
            if self.taxonomy is None
            else {
                "name": self.taxonomy.name,
                "fingerprint": self.taxonomy.fingerprint,
                "classes": len(self.taxonomy),
            },
            "options": {"full_wordnet": full_wordnet, "keep_unmapped": keep_unmapped},
            "synset_counts_source": counts_source,
            "total_posts": total,
            "total_posts_source": total_source,
            "pmi": "ln(n_ab * total_posts / (n_a * n_b))",
            "inputs": {
                "mapping_rows": mapping.num_rows,
                "mapped_rows": mapped.height,
                "tag_count_rows": None if tag_counts is None else tag_counts.num_rows,
                "cooccurrence_rows": None if cooccurrence is None else cooccurrence.num_rows,
                "synset_count_rows": None if synset_counts is None else synset_counts.num_rows,
            },
        }
        return (
            sorted_table(pa.concat_tables(nodes), NODE_SORT_KEY),
            sorted_table(pa.concat_tables(edges), EDGE_SORT_KEY),
            info,
        )

    # --- inputs ----------------------------------------------------------------------------
    def _mapping_rows(self, mapping: pa.Table, tag_counts: pa.Table | None) -> pl.DataFrame:
        """Mapping rows with a canonical form, joined with their post counts (0 if none)."""
        _require_columns(mapping, ("raw_tag", "canonical", "synset_id", "confidence"), "mapping")
        columns = {}
        for field in _MAPPING_COLUMNS:
            if field.name not in mapping.column_names:  # class columns are optional
                columns[field.name] = pa.nulls(mapping.num_rows, field.type)
                continue
            try:
                columns[field.name] = mapping.column(field.name).cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DatagraphError(
                    f"mapping table column {field.name}: expected {field.type} ({exc})"
                ) from None
        frame = pl.from_arrow(pa.table(columns, schema=_MAPPING_COLUMNS))
        duplicated = frame.filter(pl.col("raw_tag").is_duplicated())["raw_tag"].unique().sort()
        if duplicated.len():
            raise DatagraphError(
                f"mapping table has {duplicated.len():,} raw tags on more than one row "
                f"(first: {duplicated.head(3).to_list()}); keep one row per raw tag"
            )
        if tag_counts is not None:
            counts = _count_table(tag_counts, "raw_tag", "tag_counts")
            frame = frame.join(counts, on="raw_tag", how="left")
        else:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Int64).alias("n_posts"))
        return frame.with_columns(pl.col("n_posts").fill_null(0)).filter(
            pl.col("canonical").is_not_null() & (pl.col("canonical") != "")
        )

    def _pairs(self, cooccurrence: pa.Table | None) -> pl.DataFrame:
        """Pair counts with synset_a < synset_b (rows given the other way round are swapped)."""
        if cooccurrence is None:
            return pl.DataFrame(
                schema={"synset_a": pl.String, "synset_b": pl.String, "n_posts": pl.Int64}
            )
        _require_columns(cooccurrence, ("synset_a", "synset_b", "n_posts"), "cooccurrence")
        frame = pl.from_arrow(cooccurrence.select(["synset_a", "synset_b", "n_posts"]))
        same = frame.filter(pl.col("synset_a") == pl.col("synset_b"))
        if same.height:
            raise DatagraphError(
                f"cooccurrence table pairs a synset with itself ({same['synset_a'][0]!r}); "
                "pairs must name two different synsets"
            )
        low = pl.min_horizontal("synset_a", "synset_b")
        high = pl.max_horizontal("synset_a", "synset_b")
        return (
            frame.drop_nulls()
            .select(low.alias("synset_a"), high.alias("synset_b"), pl.col("n_posts").cast(pl.Int64))
            .group_by("synset_a", "synset_b")
            .agg(pl.col("n_posts").sum())
        )

    def _check_synsets(self, synset_ids: Iterable[str], where: str) -> None:
        unknown = sorted(s for s in synset_ids if s not in self.wn)
        if unknown:
            raise DatagraphError(
                f"{where} names {len(unknown):,} synset(s) that are not WordNet 3.0 nouns in "
                f"the snapshot (first: {unknown[:3]}); rebuild the mapping with this snapshot"
            )

    # --- synsets ---------------------------------------------------------------------------
    def _synset_closure(self, seeds: set[str], full_wordnet: bool) -> pa.Table:
        """WordNet's synsets table cut to the seeds and their ancestors (or all of it)."""
        table = self.wn.table.select(["synset_id", "lemmas", "hypernyms", "instance_hypernyms"])
        if full_wordnet:
            return table
        keep = reachable(sorted(seeds), lambda s: self.wn.parents(s))
        return table.filter(pc.is_in(table["synset_id"], pa.array(sorted(keep), pa.string())))

    def _synset_nodes(self, synsets: pa.Table, count_of: dict[str, int]) -> pa.Table:
        ids = synsets.column("synset_id")
        return _table(
            NODES_SCHEMA,
            node_id=ids,
            kind=pa.repeat("synset", len(ids)),
            label=pc.list_element(synsets.column("lemmas"), 0),
            n_posts=pa.array([count_of.get(s, 0) for s in ids.to_pylist()], pa.int64()),
            synset_id=ids,
        )

    def _hypernym_edges(self, synsets: pa.Table) -> pa.Table:
        sources, targets = [], []
        for column in ("hypernyms", "instance_hypernyms"):
            lists = synsets.column(column).combine_chunks()
            parents = pc.list_parent_indices(lists)
            sources.append(synsets.column("synset_id").combine_chunks().take(parents))
            targets.append(pc.list_flatten(lists))
        source = pa.concat_arrays(sources)
        return _table(
            EDGES_SCHEMA,
            source=source,
            target=pa.concat_arrays(targets),
            kind=pa.repeat("hypernym", len(source)),
        )

    # --- hashtags --------------------------------------------------------------------------
    def _hashtag_nodes(
        self, rows: pl.DataFrame, mapped: pl.DataFrame, keep_unmapped: bool
    ) -> pa.Table:
        if not keep_unmapped:
            rows = rows.filter(pl.col("canonical").is_in(mapped["canonical"].unique().implode()))
        tags = rows.group_by("canonical").agg(
            pl.col("raw_tag").unique().sort().alias("raw_forms"),
            pl.col("n_posts").sum(),
        )
        return _table(
            NODES_SCHEMA,
            node_id=("#" + tags["canonical"]).to_arrow(),
            kind=pa.repeat("hashtag", tags.height),
            label=tags["canonical"].to_arrow(),
            n_posts=tags["n_posts"].to_arrow(),
            raw_forms=tags["raw_forms"].to_arrow(),
        )

    def _alias_edges(self, mapped: pl.DataFrame) -> pa.Table:
        aliases = mapped.group_by("canonical", "synset_id").agg(
            pl.col("confidence").max(), pl.col("n_posts").sum()
        )
        return _table(
            EDGES_SCHEMA,
            source=("#" + aliases["canonical"]).to_arrow(),
            target=aliases["synset_id"].to_arrow(),
            kind=pa.repeat("alias", aliases.height),
            confidence=aliases["confidence"].to_arrow(),
            n_posts=aliases["n_posts"].to_arrow(),
        )

    # --- taxonomy classes ------------------------------------------------------------------
    def _classes(self, mapped: pl.DataFrame) -> tuple[pa.Table, pa.Table]:
        """Class nodes and in_class edges (mapped synset -> class, class synset -> class)."""
        if self.taxonomy is None:
            return NODES_SCHEMA.empty_table(), EDGES_SCHEMA.empty_table()
        taxonomy = self.taxonomy
        links: set[tuple[str, int]] = set()
        rows = (  # one row per distinct projection, with a raw tag to name in errors
            mapped.group_by("synset_id", "class_id", "class_synset_id")
            .agg(pl.col("raw_tag").min())
            .sort("raw_tag")
            .select("raw_tag", "synset_id", "class_id", "class_synset_id")
        )
        for raw_tag, synset_id, class_id, class_synset in rows.iter_rows():
            if class_id is None:
                cls = taxonomy.class_for_synset(synset_id)
                if cls is None:
                    continue
            else:
                index = taxonomy.index_of_class_id(class_id)
                cls = None if index is None else taxonomy.classes[index]
                if cls is None or (class_synset is not None and class_synset != cls.synset_id):
                    given = "" if class_synset is None else f" ({class_synset})"
                    raise DatagraphError(
                        f"mapping row {raw_tag!r}: class_id {class_id}{given} is not a class of "
                        f"taxonomy {taxonomy.name!r} ({taxonomy.source or 'built in'}); was the "
                        "mapping made with another taxonomy?"
                    )
            links.add((synset_id, cls.class_id))
            links.add((cls.synset_id, cls.class_id))
        class_ids = sorted({class_id for _, class_id in links})
        classes = [taxonomy.classes[taxonomy.index_of_class_id(c)] for c in class_ids]
        nodes = _table(
            NODES_SCHEMA,
            node_id=[_class_node(taxonomy.name, c.class_id) for c in classes],
            kind=["class"] * len(classes),
            label=[c.name for c in classes],
            synset_id=[c.synset_id for c in classes],
            taxonomy=[taxonomy.name] * len(classes),
            class_id=[c.class_id for c in classes],
        )
        ordered = sorted(links)
        edges = _table(
            EDGES_SCHEMA,
            source=[s for s, _ in ordered],
            target=[_class_node(taxonomy.name, c) for _, c in ordered],
            kind=["in_class"] * len(ordered),
        )
        return nodes, edges


def _cooccurrence_edges(pairs: pl.DataFrame, count_of: dict[str, int], total: int) -> pa.Table:
    """cooccurs edges with PMI = ln(n_ab * N / (n_a * n_b)), null when a count is unknown."""
    counts = pl.DataFrame(
        {"synset": list(count_of), "n": list(count_of.values())},
        schema={"synset": pl.String, "n": pl.Int64},
    )
    frame = (
        pairs.join(counts.rename({"synset": "synset_a", "n": "n_a"}), on="synset_a", how="left")
        .join(counts.rename({"synset": "synset_b", "n": "n_b"}), on="synset_b", how="left")
        .with_columns(
            pl.when((pl.col("n_a") > 0) & (pl.col("n_b") > 0) & (pl.col("n_posts") > 0))
            .then(
                (
                    pl.col("n_posts").cast(pl.Float64)
                    * float(total)
                    / (pl.col("n_a").cast(pl.Float64) * pl.col("n_b").cast(pl.Float64))
                ).log()
            )
            .otherwise(None)
            .alias("pmi")
        )
    )
    return _table(
        EDGES_SCHEMA,
        source=frame["synset_a"].to_arrow(),
        target=frame["synset_b"].to_arrow(),
        kind=pa.repeat("cooccurs", frame.height),
        n_posts=frame["n_posts"].to_arrow(),
        pmi=frame["pmi"].to_arrow(),
    )


def _table(schema: pa.Schema, **columns: Any) -> pa.Table:
    """A table of ``schema`` from the given columns; the others are all null."""
    length = len(next(iter(columns.values())))
    arrays = []
    for field in schema:
        value = columns.get(field.name)
        if value is None:
            arrays.append(pa.nulls(length, field.type))
        elif isinstance(value, pa.ChunkedArray | pa.Array):
            arrays.append(value.cast(field.type))
        else:
            arrays.append(pa.array(value, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _require_columns(table: pa.Table, required: Iterable[str], what: str) -> None:
    """A clear error naming the missing columns of an input table."""
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise DatagraphError(
            f"{what} table lacks column(s) {', '.join(missing)} "
            f"(has {', '.join(table.column_names) or 'none'})"
        )


def _count_table(table: pa.Table, key: str, what: str) -> pl.DataFrame:
    """(key, n_posts) summed by key, so partial count tables may be passed as they are."""
    _require_columns(table, (key, "n_posts"), what)
    frame = pl.from_arrow(table.select([key, "n_posts"]))
    if not frame.schema["n_posts"].is_integer():
        raise DatagraphError(f"{what}.n_posts must be integers, got {frame.schema['n_posts']}")
    return frame.drop_nulls().group_by(key).agg(pl.col("n_posts").cast(pl.Int64).sum())


def _class_node(taxonomy: str, class_id: int) -> str:
    """The node id of a taxonomy class: ``class:lvis:95``."""
    return f"class:{taxonomy}:{class_id}"


def _version() -> str:
    """The installed datagraph version, recorded in the build info."""
    try:
        return metadata.version("datagraph")
    except metadata.PackageNotFoundError:
        return "unknown"
