"""Unicode clean-up of one hashtag before it is segmented: the first step of normalization.

``clean_tag("#Café☕️")`` returns ``CleanTag(text="Café", rules=("strip_hash", "strip_symbols"))``.

What it does, in order, and why:
- drops invalid code points (lone surrogates, private use, unassigned), which some crawlers
  produce from broken UTF-16 and which no later step can use;
- applies NFKC, so full-width ``＃ＤＯＧ``, ligatures (``ﬁ``) and compatibility digits become the
  plain letters every word list uses;
- strips leading ``#`` marks;
- removes emoji and symbols (each is a word boundary: ``I❤️NY`` -> ``I NY``), variation
  selectors, zero-width joiners and other format characters (removed without a boundary),
  keeping letters, combining marks (Indic and other scripts need them), digits, separators;
- folds separators (space, ``_``, ``-``, other punctuation) into single spaces, and removes
  apostrophes inside words (``mom's`` -> ``moms``);
- optionally (``transliterate=True``) folds Latin accents: ``café`` -> ``cafe``, ``straße`` ->
  ``strasse``. Other scripts are never transliterated.

Case is kept: the segmenter reads camelCase as a cue, and lower-cases itself.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Letters that NFKD does not decompose into base + accent.
_LATIN_FOLDS = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "þ": "th",
        "Þ": "TH",
        "ı": "i",
    }
)
_APOSTROPHES = frozenset("'\u2019\u02bc")
_DROPPED_CATEGORIES = frozenset({"Cs", "Co", "Cn"})  # surrogates, private use, unassigned
_KEPT_MARKS = frozenset({"Mn", "Mc"})  # combining marks; "Me" (enclosing keycaps) is a symbol


@dataclass(frozen=True)
class CleanTag:
    """A hashtag after Unicode clean-up: words separated by single spaces, case kept."""

    text: str
    rules: tuple[str, ...]


def clean_tag(tag: str, transliterate: bool = False) -> CleanTag:
    """Clean one hashtag (see the module docstring); never raises on any ``str``."""
    if tag.isascii() and tag.lstrip("#").isalnum():  # most tags: nothing to clean but '#'
        stripped = tag.lstrip("#")
        return CleanTag(stripped, ("strip_hash",) if stripped != tag else ())
    rules: list[str] = []
    valid = "".join(ch for ch in tag if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    if valid != tag:
        rules.append("drop_invalid")
    text = unicodedata.normalize("NFKC", valid)
    if text != valid:
        rules.append("nfkc")
    stripped = text.lstrip("#")
    if stripped != text:
        rules.append("strip_hash")
    text = stripped
    if transliterate:
        folded = fold_accents(text)
        if folded != text:
            rules.append("transliterate")
        text = folded
    kept: list[str] = []
    symbols = False
    for ch in text:
        category = unicodedata.category(ch)
        if category[0] in "LN" or (category in _KEPT_MARKS and not _is_variation_selector(ch)):
            kept.append(ch)
        elif ch in _APOSTROPHES:
            continue
        elif category[0] in "PZ" or ch in "\t\n\r":
            kept.append(" ")
        elif category[0] in "SC" and category != "Cf":
            symbols = True  # emoji, symbols, controls: a word boundary ("I❤️NY" -> "I NY")
            kept.append(" ")
        else:
            symbols = True  # variation selectors, joiners, other format characters: nothing
    if symbols:
        rules.append("strip_symbols")
    return CleanTag(" ".join("".join(kept).split()), tuple(rules))


def fold_accents(text: str) -> str:
    """Remove accents from Latin letters (``Crème brûlée`` -> ``Creme brulee``)."""
    out = []
    for ch in text.translate(_LATIN_FOLDS):
        if ch.isascii() or "LATIN" not in unicodedata.name(ch, ""):
            out.append(ch)
            continue
        base = unicodedata.normalize("NFKD", ch)
        out.append("".join(c for c in base if not unicodedata.combining(c)))
    return "".join(out)


def script_of(text: str) -> str:
    """``latin``, ``other``, ``mixed`` or ``none``: which scripts the letters of ``text`` use.

    Digits count as neither; a tag of digits only is ``none``.
    """
    latin = other = False
    for ch in text:
        if not ch.isalpha():
            continue
        if ch.isascii() or "LATIN" in unicodedata.name(ch, ""):
            latin = True
        else:
            other = True
    if latin and other:
        return "mixed"
    if latin:
        return "latin"
    return "other" if other else "none"


def _is_variation_selector(ch: str) -> bool:
    code = ord(ch)
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF
