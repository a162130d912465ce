"""Rank the WordNet senses a hashtag could mean: ``SenseRanker.rank(candidates) -> [(synset, p)]``.

Every candidate synset s gets a score, and the scores become probabilities with a softmax, so the
top probability (the mapping's confidence) reflects the margin over the runner-up:

    z(s) = w_freq   * log((tagged(s) + 1) / (sum of tagged over candidates + n))
         + w_order  * -log(sense_number(s))
         + w_visual * [s is visual: under physical_entity.n.01 or a depictable root]
         + w_lex    * lexname_prior(s)
         + w_taxonomy * [s reaches a class of the target taxonomy]
         + w_alias  * [the tag is one of that class's own names or synonyms]
         + w_context * context(s)
         + w_embedding * cosine(tag, s)
         + w_corpus * cosine(tag's corpus neighbours, s)

- tagged(s): how often WordNet's sense-tagged corpus (SemCor) used this lemma in this sense;
  sense_number is WordNet's order for the lemma (1 = most common in WordNet's judgement).
- visual: photos show things; "love" the feeling or "tattoo" the bugle call are not photo labels.
  A curated visual taxonomy (LVIS, ImageNet, a user's list: anything but "wordnet") vouches for
  its classes: a sense that lands in one counts as visual and its lexname prior is at least 0
  (LVIS's greeting card is card.n.03, which WordNet files under noun.communication).
- lexname_prior: hashtags on photos are about animals, plants, food, objects and artifacts far
  more than about the people, acts or ideas a common word can also name ("plant" is a factory
  first in WordNet, a green plant on Instagram). Priors are in ``LEXNAME_PRIORS``; food is
  above plants, so #banana is the fruit rather than the tree. The depictable senses
  (WordNet.is_depictable: a smile, a kiss, a wedding, yoga) take ``depictable_prior`` whatever
  their lexname, when they count (``depictable``).
- taxonomy / alias: when the user targets LVIS or ImageNet, senses that land in it win ties, and
  a tag that is literally a class synonym ("mouse" in LVIS is the computer mouse) wins clearly.
- cosine(tag, s): similarity of the tag's sentence embedding to the synset's lemmas and gloss
  ("tattoo" vs "tattoo: a design on the skin made by tattooing"), when the mapper has a
  TextEmbedder (datagraph.embeddings; 0 otherwise).
- context(s): mean Wu-Palmer similarity of s to the senses already chosen for the post's other
  tags (only in the context form; 0 otherwise).
- cosine(tag's corpus neighbours, s): similarity of the PMI-weighted sum of the embeddings of the
  tags the corpus puts beside this one (datagraph.corpus_context: #model's are fashion, style,
  ootd...) to the synset's lemmas and gloss, when the mapper has a corpus (0 otherwise). It is
  meaning evidence, so it counts in ``abstract_mass`` too: #spring beside #flowers is the season.

Named entities other than places (instance synsets: "nike" the goddess, "crane" the poet) are
never candidates (HashtagMapper drops them): a photo tagged #nike shows shoes, not a deity.

Weights: see ``RankWeights`` for how they were chosen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from datagraph.wordnet import WordNet

LEXNAME_PRIORS: dict[str, float] = {
    "noun.animal": 1.0,
    "noun.plant": 0.8,
    "noun.food": 1.0,
    "noun.Tops": 1.0,
    "noun.object": 0.8,
    "noun.artifact": 0.5,
    "noun.body": 0.5,
    "noun.substance": 0.4,
    "noun.phenomenon": 0.4,
    "noun.location": 0.3,
    "noun.person": 0.1,
    "noun.group": -0.3,
    "noun.shape": -0.3,
    "noun.quantity": -0.5,
}
ABSTRACT_LEXNAMES = frozenset(
    {
        "noun.time",
        "noun.feeling",
        "noun.attribute",
        "noun.cognition",
        "noun.communication",
        "noun.state",
        "noun.motive",
        "noun.relation",
    }
)
DEFAULT_LEXNAME_PRIOR = -0.5  # act, attribute, cognition, communication, feeling, state, time...


@dataclass(frozen=True)
class RankWeights:
    """Weights of the sense score (see the module docstring).

    Chosen by hand: the structural terms (frequency, order, visual, lexname, taxonomy, alias) on
    the LVIS synonym and ImageNet lemma round trips of benchmarks/mapping.py; the embedding
    weight (2 of 2, 4, 8) and the mapper's two gates on the dev half (odd rows) of the HARRISON
    gold set; accuracy is reported on its test half (even rows) as well. The corpus-context
    weight (3 of 1, 2, 3, 4, 5, 6, 8 with embedding weights 0.5-2) on the same dev half.
    """

    frequency: float = 0.5
    order: float = 0.3
    visual: float = 2.0
    lexname: float = 2.0
    taxonomy: float = 1.5
    alias: float = 3.0
    context: float = 3.0
    embedding: float = 2.0
    corpus_context: float = 3.0
    depictable_prior: float = 0.5
    lexname_priors: dict[str, float] = field(default_factory=lambda: dict(LEXNAME_PRIORS))


@dataclass(frozen=True)
class Candidate:
    """A synset a tag may mean, with what the lookup knows about it."""

    synset_id: str
    sense_number: int = 1  # position among the lemma's senses (1 for aliases)
    tagged_count: int = 0
    alias: bool = False  # the tag is a taxonomy class name/synonym for this synset
    similarity: float = 0.0  # embedding cosine of tag and synset text (0 without embeddings)
    corpus_similarity: float = 0.0  # cosine of the tag's corpus neighbours and the synset text


class SenseRanker:
    """Scores candidate senses; ``reaches_taxonomy`` says whether a synset lands in a class."""

    def __init__(
        self,
        wordnet: WordNet,
        reaches_taxonomy: Callable[[str], bool],
        weights: RankWeights | None = None,
        taxonomy_is_visual: bool = False,
    ):
        self.wordnet = wordnet
        self.reaches_taxonomy = reaches_taxonomy
        self.weights = weights or RankWeights()
        self.taxonomy_is_visual = taxonomy_is_visual

    def rank(
        self, candidates: Sequence[Candidate], context: Sequence[str] = ()
    ) -> list[tuple[str, float]]:
        """(synset_id, probability) best first; ties keep the candidates' order."""
        if not candidates:
            return []
        w = self.weights
        total = sum(c.tagged_count for c in candidates) + len(candidates)
        scores = []
        for candidate in candidates:
            sid = candidate.synset_id
            lexname = self.wordnet.synset(sid).lexname
            reaches = self.reaches_taxonomy(sid)
            depictable = self.depictable(sid, reaches)
            visual = (
                self.wordnet.is_physical(sid) or depictable or (self.taxonomy_is_visual and reaches)
            )
            if depictable:
                prior = w.depictable_prior
            else:
                prior = w.lexname_priors.get(lexname, DEFAULT_LEXNAME_PRIOR)
            if self.taxonomy_is_visual and reaches:
                prior = max(prior, 0.0)
            score = (
                w.frequency * math.log((candidate.tagged_count + 1) / total)
                - w.order * math.log(candidate.sense_number)
                + w.visual * visual
                + w.lexname * prior
                + w.taxonomy * reaches
                + w.alias * candidate.alias
                + w.embedding * candidate.similarity
                + w.corpus_context * candidate.corpus_similarity
            )
            if context:
                score += w.context * self.context_similarity(sid, context)
            scores.append(score)
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        norm = sum(exps)
        ranked = [(c.synset_id, e / norm) for c, e in zip(candidates, exps, strict=True)]
        order = sorted(range(len(ranked)), key=lambda i: -ranked[i][1])
        return [ranked[i] for i in order]

    def abstract_mass(self, candidates: Sequence[Candidate]) -> float:
        """How likely the tag means an abstraction, from meaning evidence only.

        A softmax over the candidates of frequency, sense order, alias, embedding and corpus
        context terms (no visual, lexname or taxonomy terms), summed over the senses in
        ``ABSTRACT_LEXNAMES`` (times, feelings, attributes, ideas, messages, states). "spring"
        is mostly the season, "beauty" mostly the quality, although WordNet also lists a visible
        water spring and a beautiful person; a tag whose abstract mass is high names no thing,
        whichever visible sense would win the ranking.
        """
        if not candidates:
            return 0.0
        w = self.weights
        total = sum(c.tagged_count for c in candidates) + len(candidates)
        scores = [
            w.frequency * math.log((c.tagged_count + 1) / total)
            - w.order * math.log(c.sense_number)
            + w.alias * c.alias
            + w.embedding * c.similarity
            + w.corpus_context * c.corpus_similarity
            for c in candidates
        ]
        top = max(scores)
        exps = [math.exp(score - top) for score in scores]
        abstract = sum(e for c, e in zip(candidates, exps, strict=True) if self._abstract(c))
        return abstract / sum(exps)

    def _abstract(self, candidate: Candidate) -> bool:
        """An abstract-lexname sense that no synonym, taxonomy class or depictable root vouches
        for (see ``abstract_mass``)."""
        if candidate.alias:
            return False
        if self.wordnet.synset(candidate.synset_id).lexname not in ABSTRACT_LEXNAMES:
            return False
        reaches = self.reaches_taxonomy(candidate.synset_id)
        if self.taxonomy_is_visual and reaches:
            return False
        return not self.depictable(candidate.synset_id, reaches)

    def depictable(self, synset_id: str, reaches: bool) -> bool:
        """A depictable sense (WordNet.is_depictable) that counts as one here: always for the
        "wordnet" taxonomy, and for a curated one only when it lands in one of its classes. LVIS
        has no class for a party or a sport, so #party and #football keep their LVIS senses."""
        if not self.wordnet.is_depictable(synset_id):
            return False
        return reaches or not self.taxonomy_is_visual

    def synset_text(self, synset_id: str) -> str:
        """What a synset is embedded as: its lemmas and its gloss."""
        synset = self.wordnet.synset(synset_id)
        lemmas = ", ".join(lemma.replace("_", " ") for lemma in synset.lemmas)
        return f"{lemmas}: {synset.definition}"

    def context_similarity(self, synset_id: str, context: Sequence[str]) -> float:
        """Mean Wu-Palmer similarity of a synset to the context synsets (0..1)."""
        sims = [self.wu_palmer(synset_id, other) for other in context if other != synset_id]
        return sum(sims) / len(sims) if sims else 0.0

    def wu_palmer(self, a: str, b: str) -> float:
        """2 * depth(lcs) / (depth(a) + depth(b)), depths counted from 1 at the root."""
        common = (self.wordnet.ancestors(a) | {a}) & (self.wordnet.ancestors(b) | {b})
        if not common:
            return 0.0
        deepest = max(self.wordnet.depth(s) for s in common) + 1
        return 2 * deepest / (self.wordnet.depth(a) + self.wordnet.depth(b) + 2)
