"""Split a hashtag into words: ``segment("nationalsiblingday") == ["national", "sibling", "day"]``.

A Viterbi search over a bigram word model with soft cues from the tag's own spelling.

Language model (log10 scores):
- unigram and bigram counts of the Google Web Trillion Word Corpus as shipped by the
  ``wordsegment`` package (333k words, 258k bigrams), plus the project's social-media words
  (taxonomy/social_words.txt) and users' own words (``Segmenter(extra_words=...)``);
- WordNet 3.0 noun lemmas: single words the word list lacks join it as rare words, and each
  adjacent pair of a multi-word lemma (golden_retriever, ursus_arctos; the last word also in its
  regular plurals) gets a bigram score of at least ``compound_bigram``, so compounds are strong
  candidates;
- a known word w after v scores log P(w|v) = log(count(v w)/count(v)) when the bigram is known,
  else ``backoff + log P(w)`` (stupid backoff);
- an unknown span of L letters scores ``unknown_base - unknown_char*L - unknown_char2*L^2``:
  long unknown strings become rapidly unlikely, so "ilovemydog" is four words, while short
  unknown names ("wdehd") are not shredded into fragments;
- each word costs ``word_penalty``, so fewer, longer words win close calls ("anchorman").

Cues from spelling are soft, because tags break them (in STAN-large about 15% of camelCased tags
and 20% of tags with digits have a gold cut that ignores the cue). A camelCase boundary
(``SunBear``; an upper-case run before a capitalized word, ``HTMLParser``) and a letter/digit
boundary add a bonus when cut and the same penalty when not; in a camelCased tag, cutting inside a
lower-case run costs ``camel_inner``. A digit boundary next to a letter run of 1-2 letters
("mp3", "e3expo" -> e3 expo) gets the weaker ``digit_short_bonus``. Underscores, hyphens and other
separators are hard cuts.

Weights were tuned by coordinate search on STAN-large train only (benchmarks/segmentation.py
reports every gold set). The output keeps every letter and digit of the input in order,
lower-cased, with the combining marks that follow them: ``"".join(segment(t))`` is the input's
letters, digits and marks, lower-cased.
"""

from __future__ import annotations

import itertools
import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from datagraph.resources import taxonomy_dir

TOTAL_WORDS = 1_024_908_267_229  # token count behind wordsegment's unigram file
SOCIAL_WORD_COUNT = 10_000_000
PREFIX_LENGTH = 4  # the prefix index maps each 4-letter word start to its longest known word
FUNCTION_WORDS_FILE = "function_words.txt"  # in taxonomy/: see function_words()


@dataclass(frozen=True)
class SegmenterWeights:
    """Scoring weights (log10 units); defaults tuned on STAN-large train."""

    backoff: float = -1.3
    unknown_base: float = math.log10(10 / TOTAL_WORDS) + 7.0
    unknown_char: float = 1.0
    unknown_char2: float = 0.05
    word_penalty: float = -1.0
    camel_bonus: float = 2.0
    camel_inner: float = 0.5
    digit_bonus: float = 5.0
    digit_short_bonus: float = 1.0
    max_word_length: int = 24
    max_unknown_length: int = 18  # bounds the search; 14 or 18 give the same STAN-large score
    compound_bigram: float = -0.5  # floor of log10 P(b | a) when "a_b" is a WordNet lemma
    wordnet_word_count: int = 10_000  # count given to WordNet lemmas the word list lacks


def _read_counts(text: str) -> dict[str, int]:
    counts = {}
    for line in text.splitlines():
        word, _, count = line.partition("\t")
        counts[word] = int(count)
    return counts


class Segmenter:
    """A word model plus scoring weights; ``segment(tag)`` splits one tag.

    ``extra_words`` maps words to counts (or use ``add_word``) for a user's own vocabulary:
    brand names, local places, words of a domain. ``overrides`` maps a run of letters and digits
    (lower case; a tag without separators is one run) to a fixed segmentation, for the cases a
    model will never get.
    """

    def __init__(
        self,
        weights: SegmenterWeights | None = None,
        extra_words: dict[str, int] | None = None,
        overrides: dict[str, list[str]] | None = None,
        wordnet_lemmas: bool = True,
    ):
        self.weights = weights or SegmenterWeights()
        lemmas = _wordnet_lemmas() if wordnet_lemmas else ([], [])
        package = resources.files("wordsegment")
        unigrams = _read_counts(package.joinpath("unigrams.txt").read_text())
        bigrams = _read_counts(package.joinpath("bigrams.txt").read_text())
        # second word -> {first word: log10 P(second | first)}: no string building per lookup
        self._bigram: dict[str, dict[str, float]] = {}
        for pair, count in bigrams.items():
            first, _, second = pair.partition(" ")
            if first in unigrams:
                self._bigram.setdefault(second, {})[first] = math.log10(count / unigrams[first])
        for compound in lemmas[1]:  # golden_retriever: "retriever(s)" after "golden" is likely
            pairs = list(itertools.pairwise(compound))
            first, last = pairs[-1]
            pairs += [(first, plural) for plural in _plurals(last) if plural in unigrams]
            for first, second in pairs:
                firsts = self._bigram.setdefault(second, {})
                firsts[first] = max(firsts.get(first, -math.inf), self.weights.compound_bigram)
        self._unigram: dict[str, float] = {}
        # word -> (backoff + log10 P(word), its bigram firsts or None, their best log10 P(word | v))
        self._lexicon: dict[str, tuple[float, dict[str, float] | None, float]] = {}
        self._longest_by_prefix: dict[str, int] = {}
        self._set_words({word: math.log10(count / TOTAL_WORDS) for word, count in unigrams.items()})
        for word in lemmas[0]:
            self.add_word(word, self.weights.wordnet_word_count)
        for word in _social_words():
            self.add_word(word, SOCIAL_WORD_COUNT)
        for word, count in (extra_words or {}).items():
            self.add_word(word, count)
        self.overrides = {k.lower(): list(v) for k, v in (overrides or {}).items()}

    def add_word(self, word: str, count: int = SOCIAL_WORD_COUNT) -> None:
        """Make ``word`` known with at least ``count`` occurrences (of ~1e12 words)."""
        word = word.lower()
        score = math.log10(count / TOTAL_WORDS)
        if score > self._unigram.get(word, -math.inf):
            self._set_word(word, score)

    def _set_words(self, logps: dict[str, float]) -> None:
        """``_set_word`` for many words at once (the word list at start-up), in bulk."""
        backoff, bigram = self.weights.backoff, self._bigram
        self._unigram.update(logps)
        self._lexicon.update(
            (word, (backoff + logp, firsts, max(firsts.values()) if firsts else -math.inf))
            for word, logp in logps.items()
            for firsts in (bigram.get(word),)
        )
        longest = self._longest_by_prefix
        for word in logps:
            length = len(word)
            if PREFIX_LENGTH <= length <= self.weights.max_word_length:
                key = word[:PREFIX_LENGTH]
                if length > longest.get(key, 0):
                    longest[key] = length

    def _set_word(self, word: str, logp: float) -> None:
        self._unigram[word] = logp
        firsts = self._bigram.get(word)
        best = max(firsts.values()) if firsts else -math.inf
        self._lexicon[word] = (self.weights.backoff + logp, firsts, best)
        # the prefix index bounds the search: see _viterbi
        length = len(word)
        if PREFIX_LENGTH <= length <= self.weights.max_word_length:
            key = word[:PREFIX_LENGTH]
            if length > self._longest_by_prefix.get(key, 0):
                self._longest_by_prefix[key] = length

    def knows(self, word: str) -> bool:
        return word in self._unigram

    def split_in_two(
        self, word: str, min_part: int = 3, min_log_probability: float = -5.0
    ) -> list[str] | None:
        """The likeliest cut of one known word into two known words, or None.

        ``segment`` keeps a run whole when the word list knows it as one word: web text has
        "streetart" and "longhair" as tokens of their own. A caller that finds no meaning for
        the whole word (no WordNet noun) can ask for its parts instead:

        >>> default_segmenter().split_in_two("streetart")
        ['street', 'art']

        Both parts must be common content words: not ``function_words()`` (so "anyway" is not
        "any" + "way"), at least ``min_part`` letters (so "tattooed" is not "tattoo" + "ed")
        and a log10 unigram probability of at least ``min_log_probability``
        (-5: ten occurrences a million words; "street", "hair", "nature" are near -4, while the
        web word list's fragments "hora", "tiful", "lter" are below -6, so "sephora" does not
        become a dance). The cut maximizes log P(first) + log P(second | first), with the
        segmenter's backoff to log P(second) when the pair is not in the bigram list.
        """
        letters = word.lower()
        best: tuple[float, int] | None = None
        for cut in range(min_part, len(letters) - min_part + 1):
            first, second = letters[:cut], letters[cut:]
            if first in function_words() or second in function_words():
                continue
            first_logp = self._unigram.get(first, -math.inf)
            second_logp = self._unigram.get(second, -math.inf)
            if min(first_logp, second_logp) < min_log_probability:
                continue
            firsts = self._bigram.get(second) or {}
            following = firsts.get(first, self.weights.backoff + second_logp)
            score = first_logp + following
            if best is None or score > best[0]:
                best = (score, cut)
        if best is None:
            return None
        return [letters[: best[1]], letters[best[1] :]]

    def segment(self, tag: str) -> list[str]:
        """Split one hashtag (with or without '#') into lower-case words, in order."""
        words: list[str] = []
        for chunk in _chunks(tag):
            words.extend(self._segment_chunk(chunk))
        return words

    def _segment_chunk(self, chunk: str) -> list[str]:
        letters = chunk.lower()
        if letters in self.overrides:
            return list(self.overrides[letters])
        if not letters.isascii():
            return [letters]  # no model for other scripts: keep the run whole
        cut, base = _cut_scores(chunk, self.weights)
        return self._viterbi(letters, cut, base)

    def _viterbi(self, text: str, cut: list[float], base: float) -> list[str]:
        w = self.weights
        lexicon = self._lexicon
        cut = [c + w.word_penalty for c in cut]  # every word, known or not, pays the penalty
        unknown_cost = _unknown_costs(w)
        max_unknown = len(unknown_cost) - 1
        longest = self._longest_by_prefix
        n = len(text)
        # states[j]: paths ending at j, one per last word, as (score, word, start, previous word).
        # A known word ending at j has a single start, so it appears at most once; unknown spans
        # ending at j keep only the best: unknown_score[j], unknown_from[j] = (start, previous).
        states: list[list[tuple[float, str, int, str]]] = [[] for _ in range(n + 1)]
        unknown_score = [-math.inf] * (n + 1)
        unknown_from: list[tuple[int, str]] = [(0, "")] * (n + 1)
        states[0].append((base, "<s>", -1, ""))
        for i in range(n):
            here = states[i]
            if unknown_score[i] > -math.inf:
                here.append((unknown_score[i], "<unk>", *unknown_from[i]))
            if not here:
                continue
            # Best first: a state can only beat the backoff path if its score exceeds
            # top + backoff + log P(word), because log P(word | prev) <= 0.
            here.sort(reverse=True)
            top, top_word = here[0][0], here[0][1]
            rest = n - i
            # No known word starting at i is longer than `known` letters (prefix index).
            known = min(rest, max(PREFIX_LENGTH - 1, longest.get(text[i : i + PREFIX_LENGTH], 0)))
            for j in range(i + 1, i + known + 1):
                word = text[i:j]
                entry = lexicon.get(word)
                if entry is None:
                    if j - i <= max_unknown:
                        score = top + unknown_cost[j - i] + cut[j]
                        if score > unknown_score[j]:
                            unknown_score[j] = score
                            unknown_from[j] = (i, top_word)
                    continue
                unigram_score, firsts, best_bigram = entry
                score, previous = top + unigram_score, top_word
                if firsts:
                    for state in here:
                        if state[0] + best_bigram <= score:
                            break
                        logb = firsts.get(state[1])
                        if logb is not None and state[0] + logb > score:
                            score, previous = state[0] + logb, state[1]
                states[j].append((score + cut[j], word, i, previous))
            # Longer spans are unknown words: no lookups needed.
            for j in range(i + known + 1, i + min(rest, max_unknown) + 1):
                score = top + unknown_cost[j - i] + cut[j]
                if score > unknown_score[j]:
                    unknown_score[j] = score
                    unknown_from[j] = (i, top_word)
        if unknown_score[n] > -math.inf:
            states[n].append((unknown_score[n], "<unk>", *unknown_from[n]))
        _, word, i, previous = max(states[n])
        words = [text[i:]]
        while i > 0:
            j = i
            _, word, i, previous = next(s for s in states[j] if s[1] == previous)
            words.append(text[i:j])
        return words[::-1]


@lru_cache(maxsize=8)
def _unknown_costs(w: SegmenterWeights) -> list[float]:
    """Score of an unknown span of each length 0..max_unknown_length (word penalty apart)."""
    return [
        w.unknown_base - w.unknown_char * k - w.unknown_char2 * k * k
        for k in range(w.max_unknown_length + 1)
    ]


def _chunks(tag: str) -> list[str]:
    """Runs of letters/digits, split at separators; other scripts split from Latin ones.

    A combining mark continues the run it follows: Devanagari's vowel signs and viramas, or a
    Latin letter written with a separate accent, belong to their word.
    """
    chunks: list[str] = []
    current: list[str] = []
    current_latin = True
    for ch in tag:
        if current and not ch.isascii() and unicodedata.category(ch) in _MARKS:
            current.append(ch)
        elif ch.isalnum():
            latin = ch.isascii() or _latin(ch)
            if current and latin != current_latin:
                chunks.append("".join(current))
                current = []
            current.append(ch)
            current_latin = latin
        elif current:
            chunks.append("".join(current))
            current = []
    if current:
        chunks.append("".join(current))
    return chunks


_MARKS = frozenset({"Mn", "Mc"})


def _latin(ch: str) -> bool:
    return "LATIN" in unicodedata.name(ch, "")


def _cut_scores(chunk: str, w: SegmenterWeights) -> tuple[list[float], float]:
    """Per-position bonus for ending a word there, and the baseline for cutting nowhere."""
    n = len(chunk)
    cut = [0.0] * (n + 1)
    base = 0.0
    if chunk.isalpha() and (chunk.islower() or chunk.isupper()):
        return cut, base  # no camelCase, no digits: no cues (most tags)
    camel = any(c.islower() for c in chunk) and any(
        chunk[k - 1].islower() and chunk[k].isupper() for k in range(1, n)
    )
    for k in range(1, n):
        a, b = chunk[k - 1], chunk[k]
        boundary = False
        if camel and (
            (a.islower() and b.isupper())
            or (a.isupper() and b.isupper() and k + 1 < n and chunk[k + 1].islower())
        ):
            cut[k] += 2 * w.camel_bonus
            base -= w.camel_bonus
            boundary = True
        if a.isdigit() != b.isdigit():
            bonus = w.digit_bonus if _letter_run(chunk, k, a.isdigit()) > 2 else w.digit_short_bonus
            cut[k] += 2 * bonus
            base -= bonus
            boundary = True
        if camel and not boundary and not (a.isdigit() or b.isdigit()):
            cut[k] -= w.camel_inner
    return cut, base


def _letter_run(chunk: str, k: int, after: bool) -> int:
    """Length of the letter run right after (or right before) position k."""
    if after:
        m = k
        while m < len(chunk) and chunk[m].isalpha():
            m += 1
        return m - k
    m = k - 1
    while m >= 0 and chunk[m].isalpha():
        m -= 1
    return k - 1 - m


@lru_cache(maxsize=1)
def function_words() -> frozenset[str]:
    """English closed-class words (pronouns, determiners, prepositions, conjunctions,
    auxiliaries; taxonomy/function_words.txt): never one half of ``Segmenter.split_in_two``, so
    "anyway", "everything", "himself" and "outdoor" are not "any way", "every thing", "him
    self" and "out door"."""
    path = taxonomy_dir() / FUNCTION_WORDS_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(word for line in lines if not line.startswith("#") for word in line.split())


def _social_words() -> list[str]:
    path = taxonomy_dir() / "social_words.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _plurals(word: str) -> tuple[str, ...]:
    """Regular plural spellings of a noun (the word list decides which exist)."""
    if word.endswith("y"):
        return (word + "s", word[:-1] + "ies")
    return (word + "s", word + "es")


@lru_cache(maxsize=1)
def _wordnet_lemmas() -> tuple[list[str], list[list[str]]]:
    """WordNet 3.0 noun lemmas of ASCII letters: single words (3+ letters) and compounds."""
    from datagraph.wordnet import WordNet

    words, compounds = [], []
    for lemma in WordNet.load().lemma_names:
        parts = lemma.split("_")
        if not all(part.isalpha() and part.isascii() for part in parts):
            continue
        if len(parts) == 1 and len(lemma) >= 3:
            words.append(lemma)
        elif len(parts) > 1:
            compounds.append(parts)
    return words, compounds


@lru_cache(maxsize=1)
def default_segmenter() -> Segmenter:
    """The shared default Segmenter (loaded once per process, about 2 s)."""
    return Segmenter()


def segment(tag: str) -> list[str]:
    """Split one hashtag into lower-case words with the default model.

    >>> segment("#GoldenRetriever")
    ['golden', 'retriever']
    >>> segment("nationalsiblingday")
    ['national', 'sibling', 'day']
    """
    if not isinstance(tag, str):
        return []
    return default_segmenter().segment(tag)
