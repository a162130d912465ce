"""A batch of posts in the long form the noise score needs, and text vectors by text.

``prepare_batch(posts, mapping)`` turns a posts table and a mapping into a ``NoiseBatch``
with Arrow and polars only, no model: the labels (one row per post and raw tag that maps to
a synset), each post's distinct canonical tags (its context), its co-occurrence units, and
every distinct text a model must embed (``NoiseBatch.texts``). ``TextVectors`` holds the
vectors of distinct texts and finds rows for whole Arrow columns at once (``pc.index_in``).

A post's tags are its hashtags field plus its caption's hashtags, distinct, without empty
ones (as everywhere in datagraph: ``dedup.post_records``). A tag's canonical form is the
mapping's (its ``canonical`` column) or, for tags the mapping lacks, the normalizer's.

>>> from datagraph.wordnet import WordNet
>>> prompt_text(WordNet.load(), "egg.n.02")
'a photo of an egg'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from datagraph.embeddings import TextEmbedder
from datagraph.errors import InputDataError
from datagraph.extract import extract_hashtags
from datagraph.noise_counts import Unit
from datagraph.normalize import Normalizer
from datagraph.wordnet import WordNet


def label_text(wordnet: WordNet, synset_id: str) -> str:
    """What a synset is embedded as: its lemmas and gloss, as the mapper's ranker writes it
    (``datagraph.senses``), so both share cached vectors. ``dog, domestic dog: a member...``"""
    synset = wordnet.synset(synset_id)
    lemmas = ", ".join(lemma.replace("_", " ") for lemma in synset.lemmas)
    return f"{lemmas}: {synset.definition}"


def prompt_text(wordnet: WordNet, synset_id: str) -> str:
    """The prompt form of a synset for text-image models: ``a photo of a golden retriever``."""
    lemma = wordnet.synset(synset_id).lemmas[0].replace("_", " ")
    article = "an" if lemma[:1].lower() in "aeiou" else "a"
    return f"a photo of {article} {lemma}"


@dataclass(frozen=True)
class TextVectors:
    """Vectors of distinct texts: ``texts`` (Arrow strings) and ``matrix`` rows in that order."""

    texts: pa.Array
    matrix: np.ndarray

    @classmethod
    def embed(cls, embedder: TextEmbedder, texts: Sequence[str]) -> TextVectors:
        """Each distinct text once, through the embedder (and its caches)."""
        distinct = list(dict.fromkeys(texts))
        matrix = embedder.embed(distinct) if distinct else np.zeros((0, 1), np.float32)
        return cls(pa.array(distinct, pa.string()), matrix)

    def rows(self, texts: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> np.ndarray:
        """Row index of each text (int64), -1 for null or unknown texts."""
        values = texts if isinstance(texts, pa.Array | pa.ChunkedArray) else pa.array(texts)
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if len(values) == 0:
            return np.zeros(0, dtype=np.int64)
        index = pc.index_in(values.cast(pa.string()), value_set=self.texts)
        return index.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Vectors of the given rows; NaN rows for -1."""
        if len(self.texts) == 0:
            return np.full((len(rows), max(self.matrix.shape[1], 1)), np.nan, np.float32)
        out = self.matrix[np.maximum(rows, 0)].astype(np.float32, copy=True)
        out[rows < 0] = np.nan
        return out


@dataclass
class NoiseBatch:
    """A batch of posts in the long form the score needs; made by ``NoiseScorer.prepare``.

    ``labels``: post (row number), raw_tag, canonical, synset_id, class_id, confidence, one
    row per post and mapped raw tag. ``context``: post, canonical: each post's distinct
    non-empty canonical tags. ``units``: post, unit: each post's distinct co-occurrence units.
    ``label_texts`` / ``prompts``: per synset of the labels. ``captions``, ``images`` and
    ``caption_vectors`` (captions embedded upstream, e.g. by Beam's RunInference, with the
    scorer's text model): per post, null / NaN rows where absent.
    """

    post_ids: pa.Array
    labels: pl.DataFrame
    context: pl.DataFrame
    units: pl.DataFrame
    label_texts: dict[str, str]
    prompts: dict[str, str]
    captions: pa.Array
    images: np.ndarray | None
    caption_vectors: np.ndarray | None = None  # precomputed, instead of embedding captions

    @property
    def n_posts(self) -> int:
        return len(self.post_ids)

    def post_units(self) -> pa.Table:
        """(post_id, unit) rows of this batch: feed them, batch after batch, to
        ``cooccurrence.aggregate_batches`` (unit as its synset_id column) to count a corpus."""
        return pa.table(
            {
                "post_id": self.post_ids.take(self.units["post"].to_arrow()),
                "unit": self.units["unit"].to_arrow(),
            }
        )

    def texts(self, label_texts: Sequence[str] = ("tag",)) -> list[str]:
        """Every distinct text the text model must embed for this batch: canonical tags,
        captions, and the synsets' glosses or prompts when ``label_texts`` uses them."""
        texts = dict.fromkeys(self.context["canonical"].to_list())
        if "gloss" in label_texts:
            texts.update(dict.fromkeys(self.label_texts.values()))
        if "prompt" in label_texts:
            texts.update(dict.fromkeys(self.prompts.values()))
        if self.caption_vectors is None:
            texts.update(dict.fromkeys(c for c in self.captions.to_pylist() if c))
        return list(texts)


def post_tag_units(posts: pa.Table, normalizer: Normalizer) -> pa.Table:
    """(post_id, unit) rows: each post's distinct non-empty canonical tags (its hashtags field
    and its caption's hashtags, stopwords included), each distinct raw tag normalized once.

    What co-occurrence by tag counts (pipelines.count_tags, score_noise's embed pass, the
    corpus neighbours of datagraph.corpus_context); the same units as ``prepare_batch`` with
    ``unit="tag"`` and a mapping that lacks the tags.
    """
    _require(posts, ("post_id", "hashtags"), "posts")
    post_ids = posts.column("post_id").combine_chunks().cast(pa.string())
    if post_ids.null_count:
        raise InputDataError("posts: post_id has null values; every post needs an id")
    captions = (
        posts.column("caption").combine_chunks().cast(pa.string())
        if "caption" in posts.column_names
        else pa.nulls(posts.num_rows, pa.string())
    )
    tags = _post_tags(posts.column("hashtags").combine_chunks(), captions)
    no_mapping = pa.table({"raw_tag": pa.array([], pa.string())})
    canonical = _canonical_forms(tags["raw_tag"].unique().sort(), no_mapping, normalizer)
    units = (
        tags.join(canonical, on="raw_tag", how="left")
        .filter(pl.col("canonical").is_not_null() & (pl.col("canonical") != ""))
        .select("post", "canonical")
        .unique(maintain_order=True)
    )
    return pa.table(
        {
            "post_id": post_ids.take(units["post"].to_arrow()),
            "unit": units["canonical"].to_arrow().cast(pa.string()),
        }
    )


def prepare_batch(
    posts: pa.Table,
    mapping: pa.Table,
    *,
    wordnet: WordNet,
    normalizer: Normalizer,
    unit: Unit = "tag",
    image_embedding_column: str | None = None,
    caption_embedding_column: str | None = None,
) -> NoiseBatch:
    """The long form of a posts table and a mapping (see ``NoiseBatch``); no model involved.

    A post's tags are its hashtags field plus its caption's hashtags, distinct, without the
    empty ones (as everywhere in datagraph: ``dedup.post_records``).
    """
    _require(posts, ("post_id", "hashtags"), "posts")
    _require(mapping, ("raw_tag", "synset_id", "confidence"), "mapping")
    post_ids = posts.column("post_id").combine_chunks().cast(pa.string())
    if post_ids.null_count:
        raise InputDataError("posts: post_id has null values; every post needs an id")
    n = posts.num_rows
    captions = (
        posts.column("caption").combine_chunks().cast(pa.string())
        if "caption" in posts.column_names
        else pa.nulls(n, pa.string())
    )
    tags = _post_tags(posts.column("hashtags").combine_chunks(), captions)
    canonical = _canonical_forms(tags["raw_tag"].unique().sort(), mapping, normalizer)
    tags = tags.join(canonical, on="raw_tag", how="left")
    context = (
        tags.filter(pl.col("canonical").is_not_null() & (pl.col("canonical") != ""))
        .select("post", "canonical")
        .unique(maintain_order=True)
    )
    mapped = _mapped_rows(mapping)
    labels = tags.join(mapped, on="raw_tag", how="inner").sort("post", "raw_tag")
    if unit == "tag":
        units = context.rename({"canonical": "unit"})
    else:
        units = labels.select("post", pl.col("synset_id").alias("unit")).unique(maintain_order=True)
    synsets = [s for s in labels["synset_id"].unique().sort().to_list() if s in wordnet]
    images = None
    if image_embedding_column is not None:
        images = _vector_column(posts, image_embedding_column, "image")
    caption_vectors = None
    if caption_embedding_column is not None:
        caption_vectors = _vector_column(posts, caption_embedding_column, "caption")
    return NoiseBatch(
        post_ids=post_ids,
        labels=labels,
        context=context,
        units=units,
        label_texts={s: label_text(wordnet, s) for s in synsets},
        prompts={s: prompt_text(wordnet, s) for s in synsets},
        captions=pc.if_else(pc.equal(pc.utf8_trim_whitespace(captions), ""), None, captions),
        images=images,
        caption_vectors=caption_vectors,
    )


def _require(table: pa.Table, columns: tuple[str, ...], what: str) -> None:
    if not isinstance(table, pa.Table):
        raise InputDataError(f"{what} must be a pyarrow Table, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise InputDataError(
            f"{what} table lacks column(s) {', '.join(missing)} "
            f"(has {', '.join(table.column_names) or 'none'})"
        )


def _post_tags(hashtags: pa.Array, captions: pa.Array) -> pl.DataFrame:
    """(post, raw_tag): hashtags field plus caption hashtags, distinct, non-empty."""
    if not pa.types.is_list(hashtags.type) and not pa.types.is_large_list(hashtags.type):
        raise InputDataError(f"posts: hashtags must be a list of strings, got {hashtags.type}")
    field_post = pc.list_parent_indices(hashtags).to_numpy(zero_copy_only=False)
    field_tags = pc.list_flatten(hashtags).cast(pa.string())
    caption_post, caption_tags = [], []
    for row, caption in enumerate(captions.to_pylist()):
        if caption:
            found = extract_hashtags(caption)
            caption_post.extend([row] * len(found))
            caption_tags.extend(found)
    frame = pl.DataFrame(
        {
            "post": pl.Series(np.r_[field_post, caption_post].astype(np.int64), dtype=pl.Int64),
            "raw_tag": pl.Series(
                pa.concat_arrays([field_tags, pa.array(caption_tags, pa.string())]),
                dtype=pl.String,
            ),
        }
    ).drop_nulls()
    distinct = frame["raw_tag"].unique().to_list()
    kept = [tag for tag in distinct if tag.strip().strip("#")]
    return frame.filter(pl.col("raw_tag").is_in(kept)).unique(maintain_order=True)


def _canonical_forms(
    raw_tags: pl.Series, mapping: pa.Table, normalizer: Normalizer
) -> pl.DataFrame:
    """raw_tag -> canonical: the mapping's canonical column where it has the tag, else the
    normalizer's (each distinct tag once)."""
    known = pl.DataFrame(schema={"raw_tag": pl.String, "canonical": pl.String})
    if "canonical" in mapping.column_names:
        known = (
            pl.from_arrow(mapping.select(["raw_tag", "canonical"]))
            .drop_nulls("raw_tag")
            .unique("raw_tag", keep="first", maintain_order=True)
        )
    missing = raw_tags.filter(~raw_tags.is_in(known["raw_tag"].implode()))
    if missing.len():
        normalized = normalizer.normalize_column(missing.to_arrow())
        extra = pl.from_arrow(normalized.select(["raw_tag", "canonical"]))
        known = pl.concat([known, extra.cast({"raw_tag": pl.String, "canonical": pl.String})])
    return known


def _mapped_rows(mapping: pa.Table) -> pl.DataFrame:
    columns = {
        "raw_tag": mapping.column("raw_tag"),
        "synset_id": mapping.column("synset_id"),
        "confidence": mapping.column("confidence").cast(pa.float64()),
        "class_id": (
            mapping.column("class_id").cast(pa.int64())
            if "class_id" in mapping.column_names
            else pa.nulls(mapping.num_rows, pa.int64())
        ),
    }
    return (
        pl.from_arrow(pa.table(columns))
        .drop_nulls(["raw_tag", "synset_id"])
        .unique("raw_tag", keep="first", maintain_order=True)
    )


def mapped_synsets(mapping: pa.Table) -> list[str]:
    """The distinct synsets a mapping maps to, sorted: the label vocabulary."""
    synsets = pc.unique(mapping.column("synset_id").drop_null()).to_pylist()
    return sorted(synsets)


def _vector_column(posts: pa.Table, column: str, what: str) -> np.ndarray:
    """An embedding column as a (posts x d) float32 matrix, NaN rows where null."""
    if column not in posts.column_names:
        raise InputDataError(
            f"posts: no {what} embedding column {column!r} (has {', '.join(posts.column_names)})"
        )
    values = posts.column(column).combine_chunks()
    kind = values.type
    if not (
        pa.types.is_list(kind) or pa.types.is_fixed_size_list(kind) or pa.types.is_large_list(kind)
    ):
        raise InputDataError(f"posts: {column} must be a list of floats per post, got {kind}")
    lengths = pc.list_value_length(values).fill_null(0).to_numpy(zero_copy_only=False)
    present = lengths[lengths > 0]
    if len(present) == 0:
        return np.full((len(values), 1), np.nan, np.float32)
    dimension = int(present[0])
    if (present != dimension).any():
        raise InputDataError(
            f"posts: {column} vectors differ in length ({sorted(set(present.tolist()))[:5]})"
        )
    matrix = np.full((len(values), dimension), np.nan, np.float32)
    rows = np.flatnonzero(lengths == dimension)
    flat = pc.list_flatten(values.filter(pa.array(lengths == dimension))).cast(pa.float32())
    matrix[rows] = flat.to_numpy(zero_copy_only=False).reshape(len(rows), dimension)
    return matrix
