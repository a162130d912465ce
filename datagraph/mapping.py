"""Map hashtags onto WordNet synsets and a taxonomy's classes: ``map_hashtags(tags, "visual")``.

For each tag (vocabulary first: each distinct canonical form is looked up and ranked once):

1. Normalize (datagraph.normalize). Stopped or empty tags are unmapped (``stopword``, ``empty``).
2. Candidates, the first step that finds any wins, recorded in ``match``:
   - ``override``: the project's (and the user's) alias file, taxonomy/hashtag_aliases.tsv,
     on the compact raw tag or the canonical form; its synset may be NONE (``unmapped_reason``
     ``override``);
   - ``lemma``: the WordNet noun senses of the canonical form ("golden retriever" ->
     golden_retriever.n.01), of its letters run together ("black and white" ->
     black_and_white), and, when the taxonomy has them, its class names and synonyms
     (LVIS "mouse" -> the computer mouse), which are added as alias candidates;
   - ``head_noun``: for a modifier + noun tag that is no lemma, the senses of the longest
     trailing word run that is ("red lip" -> lip), with confidence scaled by
     ``head_noun_factor``. A one-word tag with no noun sense is first cut in two common words
     (``Segmenter.split_in_two``: the segmenter keeps "streetart" and "longhair" whole because
     web text has them as words), so "streetart" -> art and "longhair" -> hair.
   Named entities other than places (instance synsets: "nike" the goddess, "crane" the poet,
   "grus" the constellation) are dropped: ``named_entity`` when nothing else is left. Places
   (japan.n.01) stay. No sense at all: ``no_noun_sense``.
3. Rank the candidates (datagraph.senses.SenseRanker); confidence = the top probability. With
   an ``embedder`` (datagraph.embeddings.TextEmbedder), the ranking also uses the cosine of the
   tag and each candidate's lemmas + gloss; every distinct tag and synset text of a ``map`` call
   is embedded once, in one batch, and cached (on disk too, with the embedder's cache_dir).
   With a ``corpus`` (datagraph.corpus_context.TagNeighbours, which needs the embedder), each
   candidate is also compared with the tag's corpus neighbours: still one mapping per distinct
   tag, now by how the corpus uses it (#model beside #fashion is a fashion model).
   Below ``min_confidence``: ``low_confidence``.
4. Project the synset onto the taxonomy (``project``): itself if it is a class, else the nearest
   class among its hypernym ancestors, climbing at most ``max_climb`` steps and never to a class
   of WordNet depth below ``min_class_depth`` (entity, physical_entity, abstraction... would
   swallow everything). No class: ``outside_taxonomy``.

The result is an Arrow table with MAPPING_SCHEMA, one row per input tag, in input order.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from datagraph.corpus_context import TagNeighbours
from datagraph.embeddings import TextEmbedder, cosine
from datagraph.errors import ConfigError, TaxonomyError, location
from datagraph.morphology import plural_candidates
from datagraph.normalize import NormalizedTag, Normalizer, default_normalizer
from datagraph.resources import taxonomy_dir
from datagraph.schema import MAPPING_SCHEMA
from datagraph.senses import Candidate, RankWeights, SenseRanker
from datagraph.stoplist import compact
from datagraph.taxonomy import Taxonomy, TaxonomyClass, load_taxonomy
from datagraph.wordnet import WordNet

MAX_CANDIDATES_KEPT = 5  # candidates listed per row (all are ranked)
SEEN_INSTANCE_LEXNAMES = frozenset({"noun.location", "noun.object"})  # places, the Moon, the Alps


@dataclass(frozen=True)
class TagMapping:
    """The mapping of one canonical form (shared by every raw tag that normalizes to it)."""

    synset_id: str | None
    confidence: float
    candidates: tuple[tuple[str, float], ...]
    match: str | None
    cls: TaxonomyClass | None
    unmapped_reason: str | None


class HashtagMapper:
    """Maps tags to synsets and taxonomy classes; see the module docstring.

    ``taxonomy`` is a name ("visual", "wordnet", "imagenet1k" needs a path...) or a loaded
    Taxonomy. ``aliases`` (tag -> synset id or "NONE") and ``alias_paths`` add to the project's
    alias file.
    """

    def __init__(
        self,
        taxonomy: str | Taxonomy = "visual",
        *,
        wordnet: WordNet | None = None,
        normalizer: Normalizer | None = None,
        aliases: dict[str, str] | None = None,
        alias_paths: Sequence[Path | str] = (),
        weights: RankWeights | None = None,
        max_climb: int = 6,
        min_class_depth: int = 2,
        min_confidence: float = 0.2,
        head_noun_factor: float = 0.7,
        embedder: TextEmbedder | None = None,
        max_abstract_mass: float = 0.7,
        max_adjective_share: float = 0.7,
        corpus: TagNeighbours | None = None,
    ):
        if corpus is not None and embedder is None:
            raise ConfigError(
                "a corpus context needs an embedder: HashtagMapper(corpus=..., "
                "embedder=TextEmbedder(...))"
            )
        self.wordnet = wordnet or WordNet.load()
        self.taxonomy = (
            load_taxonomy(taxonomy, wordnet=self.wordnet) if isinstance(taxonomy, str) else taxonomy
        )
        self.normalizer = normalizer or default_normalizer()
        self.max_climb = max_climb
        self.min_class_depth = min_class_depth
        self.min_confidence = min_confidence
        self.head_noun_factor = head_noun_factor
        self.max_abstract_mass = max_abstract_mass
        self.max_adjective_share = max_adjective_share
        self.overrides: dict[str, str | None] = {}
        for path in [taxonomy_dir() / "hashtag_aliases.tsv", *alias_paths]:
            self.overrides.update(read_aliases(path, self.wordnet))
        for tag, synset in (aliases or {}).items():
            self.overrides[compact(tag)] = _check_alias(synset, self.wordnet, "aliases argument")
        self._class_names = self._taxonomy_names()
        self._compact_lemmas = self._compact_lemma_index()
        self._projection: dict[str, TaxonomyClass | None] = {}
        self.ranker = SenseRanker(
            self.wordnet,
            self._reaches,
            weights,
            taxonomy_is_visual=self.taxonomy.name != "wordnet",
        )
        self._cache: dict[str, TagMapping] = {}
        self.embedder = embedder
        self.corpus = corpus
        self._similarity: dict[tuple[str, str], float] = {}
        self._corpus_similarity: dict[tuple[str, str], float] = {}

    # --- public ---------------------------------------------------------------------------
    def map(
        self, tags: Iterable[object], context: Sequence[Sequence[str]] | None = None
    ) -> pa.Table:
        """Map tags; ``context`` (optional) gives each tag's co-occurring tags in its post."""
        tags = list(tags)
        if context is not None and len(context) != len(tags):
            raise ConfigError(f"context has {len(context)} entries for {len(tags)} tags")
        normalized = self.normalizer.normalize_many(tags)
        if self.embedder is not None:
            self._embed_pending(normalized)
        rows = []
        for index, tag in enumerate(normalized):
            if context is None:
                mapping = self.map_normalized(tag)
            else:
                mapping = self.map_in_context(tag, context[index])
            rows.append((tag, mapping))
        return _to_table(rows)

    def map_normalized(self, tag: NormalizedTag) -> TagMapping:
        """The mapping of one normalized tag (cached by canonical form and raw compact form)."""
        if not tag.usable:
            reason = "empty" if not tag.canonical else "stopword"
            return TagMapping(None, 0.0, (), None, None, reason)
        key = tag.canonical + "\t" + self._override_key(tag)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._map(tag, ())
            self._cache[key] = cached
        return cached

    def map_in_context(self, tag: NormalizedTag, others: Sequence[str]) -> TagMapping:
        """Map with the post's other tags as context: their top senses steer the ranking."""
        if not tag.usable:
            return self.map_normalized(tag)
        context = []
        for other in self.normalizer.normalize_many(others):
            if other.usable and other.canonical != tag.canonical:
                top = self.map_normalized(other).synset_id
                if top is not None:
                    context.append(top)
        return self._map(tag, tuple(context))

    def _embed_pending(self, tags: Sequence[NormalizedTag]) -> None:
        """Embed, in one batch, every distinct tag and candidate synset not yet compared."""
        pairs: dict[tuple[str, str], None] = {}
        for tag in tags:
            if not tag.usable or tag.canonical + "\t" + self._override_key(tag) in self._cache:
                continue
            for candidate in self._candidates(tag)[0]:
                pair = (tag.canonical, candidate.synset_id)
                if pair not in self._similarity:
                    pairs[pair] = None
        if not pairs:
            return
        texts = [canonical for canonical, _ in pairs]
        texts += [self.ranker.synset_text(synset) for _, synset in pairs]
        vectors = self.embedder.embed(texts)
        tag_vectors, synset_vectors = vectors[: len(pairs)], vectors[len(pairs) :]
        similarities = cosine(tag_vectors, synset_vectors)
        for pair, value in zip(pairs, similarities.tolist(), strict=True):
            self._similarity[pair] = value if math.isfinite(value) else 0.0  # a broken vector
        if self.corpus is not None:
            context = self._context_vectors(sorted({canonical for canonical, _ in pairs}))
            for index, (canonical, synset) in enumerate(pairs):
                vector = context.get(canonical)
                value = 0.0 if vector is None else float(vector @ synset_vectors[index])
                self._corpus_similarity[(canonical, synset)] = (
                    value if math.isfinite(value) else 0.0
                )

    def _context_vectors(self, canonicals: list[str]) -> dict[str, np.ndarray]:
        """Unit vector of the PMI-weighted sum of each tag's corpus neighbours' embeddings
        (a neighbour whose vector is not finite is left out of the sum)."""
        neighbours = {c: self.corpus.of(c) for c in canonicals}
        texts = sorted({name for found in neighbours.values() for name, _ in found})
        if not texts:
            return {}
        vectors = self.embedder.embed(texts)
        finite = np.isfinite(vectors).all(axis=1)
        by_text = {text: vectors[i] for i, text in enumerate(texts) if finite[i]}
        context = {}
        for canonical, found in neighbours.items():
            usable = [(name, weight) for name, weight in found if name in by_text]
            if not usable:
                continue
            total = sum(weight * by_text[name] for name, weight in usable)
            norm = float(np.linalg.norm(total))
            if norm > 0 and math.isfinite(norm):
                context[canonical] = total / norm
        return context

    def project(self, synset_id: str) -> TaxonomyClass | None:
        """The class of the taxonomy a synset lands in (itself or a near hypernym), or None."""
        if synset_id not in self._projection:
            self._projection[synset_id] = self._climb(synset_id)
        return self._projection[synset_id]

    # --- one canonical form ---------------------------------------------------------------
    def _map(self, tag: NormalizedTag, context: tuple[str, ...]) -> TagMapping:
        override_key = self._override_key(tag)
        if override_key in self.overrides or compact(tag.canonical) in self.overrides:
            synset = self.overrides.get(override_key, self.overrides.get(compact(tag.canonical)))
            if synset is None:
                return TagMapping(None, 0.0, (), "override", None, "override")
            cls = self.project(synset)
            reason = None if cls is not None else "outside_taxonomy"
            return TagMapping(
                synset if cls else None, 1.0, ((synset, 1.0),), "override", cls, reason
            )
        candidates, match = self._candidates(tag)
        if not candidates:
            return TagMapping(None, 0.0, (), None, None, match)
        if self.embedder is not None:
            if any((tag.canonical, c.synset_id) not in self._similarity for c in candidates):
                self._embed_pending([tag])
            candidates = [
                replace(
                    c,
                    similarity=self._similarity[(tag.canonical, c.synset_id)],
                    corpus_similarity=self._corpus_similarity.get(
                        (tag.canonical, c.synset_id), 0.0
                    ),
                )
                for c in candidates
            ]
        ranked = self.ranker.rank(candidates, context)
        gate = self._gate(tag, candidates, match)
        if gate is not None:
            return TagMapping(
                None, ranked[0][1], tuple(ranked[:MAX_CANDIDATES_KEPT]), match, None, gate
            )
        best, confidence = ranked[0]
        if match == "head_noun":
            confidence *= self.head_noun_factor
        kept = tuple(ranked[:MAX_CANDIDATES_KEPT])
        cls = self.project(best)
        if cls is None:
            return TagMapping(None, confidence, kept, match, None, "outside_taxonomy")
        if confidence < self.min_confidence:
            return TagMapping(None, confidence, kept, match, cls, "low_confidence")
        return TagMapping(best, confidence, kept, match, cls, None)

    def _gate(self, tag: NormalizedTag, candidates: list[Candidate], match: str) -> str | None:
        """Why a tag with noun senses still names no thing: ``adjective`` or ``abstract_sense``."""
        if match != "lemma" or any(c.alias for c in candidates):
            return None
        if len(tag.tokens) == 1:
            share = self.wordnet.pos_counts(tag.canonical).modifier_share
            if share > self.max_adjective_share:
                return "adjective"
        if self.ranker.abstract_mass(candidates) > self.max_abstract_mass:
            return "abstract_sense"
        return None

    def _candidates(self, tag: NormalizedTag) -> tuple[list[Candidate], str | None]:
        """Candidate senses and how they were found; ([], reason) when there are none."""
        tokens = tag.tokens
        found = self._lemma_candidates(" ".join(tokens))
        if not found and len(tokens) > 1:
            found = self._lemma_candidates("".join(tokens))
        aliases = self._aliases(tag)
        if found or aliases:
            merged = self._merge(found, aliases)
            return merged, "lemma" if merged else "named_entity"
        if len(tokens) == 1:  # no lemma, and the compact lemma index found no "a_b" either
            tokens = tuple(self.normalizer.segmenter.split_in_two(tokens[0]) or tokens)
        for start in range(1, len(tokens)):
            head = " ".join(tokens[start:])
            found = self._lemma_candidates(head)
            aliases = self._class_names.get(compact(head), [])
            merged = self._merge(found, aliases)
            if merged:
                return merged, "head_noun"
        return [], "no_noun_sense"

    def _aliases(self, tag: NormalizedTag) -> list[str]:
        """Taxonomy classes named by the tag: canonical, raw, or a singular of the raw head."""
        if not self._class_names:
            return []
        raw = compact(tag.raw or "")
        for key in (compact(tag.canonical), raw, *plural_candidates(raw)):
            found = self._class_names.get(key)
            if found:
                return found
        return []

    def _lemma_candidates(self, phrase: str) -> list[Candidate]:
        senses = self.wordnet.lemma_senses(phrase)
        if not senses:
            lemmas = self._compact_lemmas.get(compact(phrase), ())
            senses = [sense for lemma in lemmas for sense in self.wordnet.lemma_senses(lemma)]
        return [Candidate(sid, number, count) for sid, number, count in senses]

    def _merge(self, found: list[Candidate], aliases: list[str]) -> list[Candidate]:
        by_id = {c.synset_id: c for c in found}
        for sid in aliases:
            old = by_id.get(sid)
            by_id[sid] = Candidate(
                sid, old.sense_number if old else 1, old.tagged_count if old else 0, True
            )
        return [c for c in by_id.values() if not self._named_entity(c.synset_id)]

    def _named_entity(self, synset_id: str) -> bool:
        """An instance synset that is neither a place nor a natural object: a person, deity,
        constellation, ship... (Paris, the Moon, Europe and the Alps stay: a photo shows them)."""
        synset = self.wordnet.synset(synset_id)
        return bool(synset.instance_hypernyms) and synset.lexname not in SEEN_INSTANCE_LEXNAMES

    def _override_key(self, tag: NormalizedTag) -> str:
        return compact(tag.raw or "")

    # --- taxonomy -------------------------------------------------------------------------
    def _reaches(self, synset_id: str) -> bool:
        return self.project(synset_id) is not None

    def _climb(self, synset_id: str) -> TaxonomyClass | None:
        """Breadth-first up the hypernyms: the nearest class, ties broken by class order."""
        direct = self.taxonomy.class_for_synset(synset_id)
        if direct is not None:
            return direct
        frontier = deque([(synset_id, 0)])
        seen = {synset_id}
        best: tuple[int, int] | None = None  # (steps, class index)
        while frontier:
            current, steps = frontier.popleft()
            if best is not None and steps >= best[0]:
                break
            if steps >= self.max_climb:
                continue
            for parent in self.wordnet.parents(current):
                if parent in seen:
                    continue
                seen.add(parent)
                index = self.taxonomy.index_of_synset(parent)
                if (
                    index is not None
                    and self.wordnet.depth(parent) >= self.min_class_depth
                    and (best is None or (steps + 1, index) < best)
                ):
                    best = (steps + 1, index)
                frontier.append((parent, steps + 1))
        return None if best is None else self.taxonomy.classes[best[1]]

    def _taxonomy_names(self) -> dict[str, list[str]]:
        """compact class name/synonym -> class synsets, for taxonomies that name their classes.

        The WordNet-wide taxonomies (wordnet, visual) have no names of their own beyond WordNet's
        lemmas, which the lemma lookup already covers.
        """
        if self.taxonomy.name in ("wordnet", "visual"):
            return {}
        names: dict[str, list[str]] = {}
        for cls in self.taxonomy.classes:
            for name in (cls.name, *cls.synonyms):
                key = compact(name)
                if key and cls.synset_id not in names.setdefault(key, []):
                    names[key].append(cls.synset_id)
        return names

    def _compact_lemma_index(self) -> dict[str, list[str]]:
        """compact lemma ("blackandwhite") -> WordNet lemmas, for run-together multi-word tags."""
        index: dict[str, list[str]] = {}
        for lemma in self.wordnet.lemma_names:
            if "_" in lemma or "-" in lemma:
                index.setdefault(compact(lemma), []).append(lemma)
        return index


def read_aliases(path: Path | str, wordnet: WordNet) -> dict[str, str | None]:
    """``tag<TAB>synset_id|NONE`` lines ('#' comments) -> compact tag -> synset (None = NONE)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read alias file {path}: {error}") from error
    aliases: dict[str, str | None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) < 2 or not compact(fields[0]) or not fields[1]:
            raise ConfigError(f"{location(str(path), number)}: expected 'tag<TAB>synset_id|NONE'")
        aliases[compact(fields[0])] = _check_alias(fields[1], wordnet, location(str(path), number))
    return aliases


def _check_alias(synset: str, wordnet: WordNet, where: str) -> str | None:
    if synset.upper() == "NONE":
        return None
    if synset not in wordnet:
        raise TaxonomyError(f"{where}: {synset!r} is not a WordNet 3.0 noun synset id")
    return synset


def _to_table(rows: list[tuple[NormalizedTag, TagMapping]]) -> pa.Table:
    def rounded(value: float) -> float:
        return float(f"{value:.6f}") if math.isfinite(value) else 0.0

    return pa.table(
        {
            "raw_tag": [t.raw for t, _ in rows],
            "canonical": [t.canonical for t, _ in rows],
            "synset_id": [m.synset_id for _, m in rows],
            "candidates": [
                [{"synset_id": s, "score": rounded(p)} for s, p in m.candidates] for _, m in rows
            ],
            "confidence": [rounded(m.confidence) for _, m in rows],
            "match": [m.match for _, m in rows],
            "class_id": [m.cls.class_id if m.cls and m.synset_id else None for _, m in rows],
            "class_name": [m.cls.name if m.cls and m.synset_id else None for _, m in rows],
            "class_synset_id": [
                m.cls.synset_id if m.cls and m.synset_id else None for _, m in rows
            ],
            "unmapped_reason": [m.unmapped_reason for _, m in rows],
        },
        schema=MAPPING_SCHEMA,
    )


_DEFAULT_MAPPERS: dict[str, HashtagMapper] = {}


def map_hashtags(
    tags: Iterable[object],
    taxonomy: str | Taxonomy = "visual",
    context: Sequence[Sequence[str]] | None = None,
) -> pa.Table:
    """Map tags onto synsets and ``taxonomy`` classes (see the module docstring).

    >>> table = map_hashtags(["#GoldenRetrievers", "tattoo", "like4like"])
    >>> table.column("synset_id").to_pylist()
    ['golden_retriever.n.01', 'tattoo.n.02', None]
    >>> table.column("unmapped_reason").to_pylist()
    [None, None, 'stopword']
    """
    if isinstance(taxonomy, str):
        mapper = _DEFAULT_MAPPERS.get(taxonomy)
        if mapper is None:
            mapper = _DEFAULT_MAPPERS[taxonomy] = HashtagMapper(taxonomy)
    else:
        key = f"{taxonomy.name}:{taxonomy.fingerprint}"
        mapper = _DEFAULT_MAPPERS.get(key)
        if mapper is None:
            mapper = _DEFAULT_MAPPERS[key] = HashtagMapper(taxonomy)
    return mapper.map(tags, context)
