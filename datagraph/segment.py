"""Split a hashtag into words: ``segment("nationalsiblingday") == ["national", "sibling", "day"]``.

A Viterbi search over a bigram word model with soft cues from the tag's own spelling.

Language model (log10 scores):
- unigram and bigram counts of the Google Web Trillion Word Corpus as shipped by the
  ``wordsegment`` package (333k words, 258k bigrams), plus the project's social-media words
  (taxonomy/social_words.txt) and users' own words (``Segmenter(extra_words=...)``);
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
lower-cased: ``"".join(segment(t)) == the input's letters and digits, lower-cased``.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from datagraph.resources import taxonomy_dir

TOTAL_WORDS = 1_024_908_267_229  # token count behind wordsegment's unigram file
SOCIAL_WORD_COUNT = 10_000_000


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
    ):
        self.weights = weights or SegmenterWeights()
        package = resources.files("wordsegment")
        unigrams = _read_counts(package.joinpath("unigrams.txt").read_text())
        bigrams = _read_counts(package.joinpath("bigrams.txt").read_text())
        self._unigram: dict[str, float] = {}
        for word, count in unigrams.items():
            self._unigram[word] = math.log10(count / TOTAL_WORDS)
        for word in _social_words():
            self.add_word(word, SOCIAL_WORD_COUNT)
        for word, count in (extra_words or {}).items():
            self.add_word(word, count)
        # second word -> {first word: log10 P(second | first)}: no string building per lookup
        self._bigram: dict[str, dict[str, float]] = {}
        for pair, count in bigrams.items():
            first, _, second = pair.partition(" ")
            if first in unigrams:
                self._bigram.setdefault(second, {})[first] = math.log10(count / unigrams[first])
        self.overrides = {k.lower(): list(v) for k, v in (overrides or {}).items()}

    def add_word(self, word: str, count: int = SOCIAL_WORD_COUNT) -> None:
        """Make ``word`` known with at least ``count`` occurrences (of ~1e12 words)."""
        word = word.lower()
        score = math.log10(count / TOTAL_WORDS)
        if score > self._unigram.get(word, -math.inf):
            self._unigram[word] = score

    def knows(self, word: str) -> bool:
        return word in self._unigram

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
        unigram, bigram = self._unigram, self._bigram
        backoff, penalty, max_unknown = w.backoff, w.word_penalty, w.max_unknown_length
        unknown_cost = _unknown_costs(w)
        n = len(text)
        # best[j]: last known word -> (score, its start, previous word); unknown spans ending at
        # j keep only the best one, in unknown_best[j] = (score, start, previous word).
        best: list[dict[str, tuple[float, int, str]]] = [{} for _ in range(n + 1)]
        unknown_best: list[tuple[float, int, str] | None] = [None] * (n + 1)
        best[0]["<s>"] = (base, -1, "")
        for i in range(n):
            states = best[i]
            if unknown_best[i] is not None:
                states["<unk>"] = unknown_best[i]
            if not states:
                continue
            # Best first: a state can only beat the backoff path if its score exceeds
            # top + backoff + log P(word), because log P(word | prev) <= 0.
            ordered = sorted(((state[0], word) for word, state in states.items()), reverse=True)
            top, top_word = ordered[0]
            for j in range(i + 1, min(n, i + w.max_word_length) + 1):
                word = text[i:j]
                logp = unigram.get(word)
                if logp is None:
                    if j - i <= max_unknown:
                        score = top + unknown_cost[j - i] + cut[j]
                        old = unknown_best[j]
                        if old is None or score > old[0]:
                            unknown_best[j] = (score, i, top_word)
                    continue
                score, previous = top + backoff + logp, top_word
                firsts = bigram.get(word)
                if firsts:
                    for prev_score, prev_word in ordered:
                        if prev_score <= score:
                            break
                        logb = firsts.get(prev_word)
                        if logb is not None and prev_score + logb > score:
                            score, previous = prev_score + logb, prev_word
                score += cut[j] + penalty
                ending = best[j]
                old = ending.get(word)
                if old is None or score > old[0]:
                    ending[word] = (score, i, previous)
        if unknown_best[n] is not None:
            best[n]["<unk>"] = unknown_best[n]
        final = best[n]
        key = max(final, key=lambda k: final[k][0])
        words = []
        j = n
        while j > 0:
            _, i, previous = best[j][key]
            words.append(text[i:j])
            j, key = i, previous
        return words[::-1]


@lru_cache(maxsize=8)
def _unknown_costs(w: SegmenterWeights) -> list[float]:
    """Score of an unknown span of each length 0..max_unknown_length, word penalty included."""
    return [
        w.unknown_base - w.unknown_char * k - w.unknown_char2 * k * k + w.word_penalty
        for k in range(w.max_unknown_length + 1)
    ]


def _chunks(tag: str) -> list[str]:
    """Runs of letters/digits, split at separators; other scripts split from Latin ones."""
    chunks: list[str] = []
    current: list[str] = []
    current_latin = True
    for ch in tag:
        if ch.isalnum():
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


def _latin(ch: str) -> bool:
    return "LATIN" in unicodedata.name(ch, "")


def _cut_scores(chunk: str, w: SegmenterWeights) -> tuple[list[float], float]:
    """Per-position bonus for ending a word there, and the baseline for cutting nowhere."""
    n = len(chunk)
    cut = [0.0] * (n + 1)
    base = 0.0
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


def _social_words() -> list[str]:
    path = taxonomy_dir() / "social_words.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@lru_cache(maxsize=1)
def default_segmenter() -> Segmenter:
    """The shared default Segmenter (loaded once per process, ~0.5 s)."""
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
