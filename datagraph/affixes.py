"""Strip social-media decoration from a segmented tag, down to the concept it names.

``strip_social_affixes(["dogs", "of", "instagram"], ...)`` returns ``(["dogs"],
["affix:-ofinstagram"])``; ``["insta", "food"]`` gives ``["food"]``; ``["food", "porn"]`` gives
``["food"]`` ("food porn" is food photography); ``["beach", "life"]`` gives ``["beach"]``.

Affixes (the rule recorded is ``affix:`` plus the affix):
- prefix ``insta-`` when the segmenter split it off as a word (so "instant" and "installation"
  are untouched);
- suffixes, matched on the letters of the whole tag so a segmentation that missed them still
  strips them ("doglover" segments as "do glover"): ``-ofinstagram`` (dogsofinstagram ->
  dogs, singularized later), ``-oftheday``, ``-stagram`` (catstagram), ``-gram`` (foodgram),
  ``-porn``, ``-lovers``/``-lover``, ``-life``;
- medium words as the last word the segmenter split off: ``pic(s)``, ``photo(s)``,
  ``photography`` ("food pics" -> food, "nature photography" -> nature): every post is a
  picture, so the word before says what this one shows. Whole words only, so "topics" keeps
  its letters.

Guards: nothing is stripped from a tag WordNet knows whole ("wildlife", "nightlife", "still
life", "kilogram", "diagram"), a stem must keep at least two letters ("clover" is not c + lover),
and a strip stops when the remaining stem is a WordNet noun. Affixes are stripped repeatedly
("instafoodporn" -> food).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

PREFIXES = ("insta",)
SUFFIXES = ("ofinstagram", "oftheday", "stagram", "gram", "porn", "lovers", "lover", "life")
MEDIUM_WORDS = frozenset({"pic", "pics", "photo", "photos", "photography"})
_MIN_STEM = 2
_MAX_ROUNDS = 3


def strip_social_affixes(
    tokens: Sequence[str],
    is_lemma: Callable[[str], bool],
    segment: Callable[[str], list[str]],
) -> tuple[list[str], list[str]]:
    """The tokens without social affixes, and the rules that fired.

    ``is_lemma`` says whether a phrase (words joined by spaces) is a WordNet noun; ``segment``
    re-splits a stem whose end falls inside a token.
    """
    words = list(tokens)
    rules: list[str] = []
    for _ in range(_MAX_ROUNDS):
        if len(words) == 0 or _known_whole(words, is_lemma):
            break
        stripped = _strip_once(words, segment)
        if stripped is None:
            break
        words, rule = stripped
        rules.append(rule)
    return words, rules


def _known_whole(words: list[str], is_lemma: Callable[[str], bool]) -> bool:
    return is_lemma(" ".join(words)) or (len(words) > 1 and is_lemma("".join(words)))


def _strip_once(
    words: list[str], segment: Callable[[str], list[str]]
) -> tuple[list[str], str] | None:
    if len(words) > 1 and words[0] in PREFIXES:
        return words[1:], f"affix:{words[0]}-"
    if len(words) > 1 and words[-1] in MEDIUM_WORDS:
        return words[:-1], f"affix:-{words[-1]}"
    joined = "".join(words)
    for suffix in SUFFIXES:
        stem = joined[: -len(suffix)]
        if not joined.endswith(suffix) or sum(ch.isalpha() for ch in stem) < _MIN_STEM:
            continue
        return _words_of_stem(words, len(stem), segment), f"affix:-{suffix}"
    return None


def _words_of_stem(words: list[str], length: int, segment: Callable[[str], list[str]]) -> list[str]:
    """The first ``length`` letters of the tag as words: whole tokens when a token ends there."""
    taken = 0
    for index, word in enumerate(words):
        taken += len(word)
        if taken == length:
            return words[: index + 1]
        if taken > length:
            break
    return segment("".join(words)[:length])
