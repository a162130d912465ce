"""Plural -> singular for the head noun of a canonical tag, checked against WordNet.

``Singularizer().singular(["golden", "retrievers"])`` returns ``(["golden", "retriever"],
"singular_rule")``; ``["geese"]`` gives ``["goose"]`` by WordNet's exception list; ``["glasses"]``
stays (a plural that names one thing).

The head is the last word. In order:
1. heads on the keep-plural list (taxonomy/keep_plural.txt: glasses, jeans, sunglasses, pants, ...)
   and multi-word plurals WordNet lists as such stay;
2. WordNet's noun exception list (noun.exc: geese -> goose, mice -> mouse, men -> man);
3. suffix rules (puppies -> puppy, knives -> knife, boxes -> box, dogs -> dog), taking the first
   candidate that WordNet knows as a noun, either alone or with the words before it
   ("golden retrievers" -> golden_retriever);
4. when the plural-shaped head is a WordNet noun itself, it stays unless its singular is used
   more often in WordNet's sense-tagged corpus: "eyes" -> "eye" (4 vs 277 tagged uses), but
   "gas" (not "ga"), "species", "news", "woods" (43 vs 24) stay; a word WordNet does not know
   stays, unless the caller's ``known_word`` says its singular is a word ("selfies" -> "selfie").
A word that is not plural-shaped, or ends in -ss/-us/-is and is a WordNet noun ("bus", "grass",
"cactus", "analysis"), stays; "broccolis" and "tofus" do not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from datagraph.resources import taxonomy_dir
from datagraph.wordnet import WordNet

# (suffix, replacement): WordNet's own detachment rules plus -ves and -oes. Every candidate
# WordNet knows is weighed; on a tie the earlier rule wins ("cookies" -> cookie, not cooky).
_SUFFIX_RULES = (
    ("s", ""),
    ("ies", "y"),
    ("ves", "f"),
    ("ves", "fe"),
    ("xes", "x"),
    ("zes", "z"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("sses", "ss"),
    ("oes", "o"),
    ("ses", "s"),
    ("men", "man"),
)
_NOT_PLURAL_ENDINGS = ("ss", "us", "is")


class Singularizer:
    """Singularize the head noun of a word list; see the module docstring for the rules."""

    def __init__(
        self,
        wordnet: WordNet | None = None,
        keep_plural: Iterable[str] | None = None,
        known_word: Callable[[str], bool] | None = None,
    ):
        self.wordnet = wordnet or WordNet.load()
        words = read_keep_plural() if keep_plural is None else keep_plural
        self.keep_plural = frozenset(" ".join(w.lower().split()) for w in words)
        self.known_word = known_word
        self._exceptions = self.wordnet.noun_exceptions

    def singular(self, words: Sequence[str]) -> tuple[list[str], str | None]:
        """The words with the head singularized, and the rule that fired (None if none did)."""
        words = list(words)
        if not words:
            return words, None
        head = words[-1]
        phrase = " ".join(words)
        if head in self.keep_plural or phrase in self.keep_plural:
            return words, None
        if not head.isalpha() or not head.isascii() or len(head) < 3:
            return words, None
        is_noun = self.wordnet.has_lemma
        exceptions = self._exceptions.get(head, ())
        if head in exceptions:
            return words, None  # WordNet lists it as its own base form (gas, genus, forceps)
        for base in exceptions:
            if is_noun(base):
                return [*words[:-1], base], "singular_exception"
        candidates = plural_candidates(head)
        if not candidates or (head.endswith(_NOT_PLURAL_ENDINGS) and is_noun(head)):
            return words, None  # not plural-shaped, or a noun like cactus, analysis, glass
        if len(words) > 1:
            if is_noun(phrase):
                return words, None  # a multi-word lemma that ends plural-shaped
            for candidate in candidates:
                if is_noun(" ".join([*words[:-1], candidate])):
                    return [*words[:-1], candidate], "singular_rule"
        nouns = [c for c in candidates if is_noun(c)]
        singular = max(nouns, key=self._weight) if nouns else None  # max keeps the first on ties
        if is_noun(head) and (singular is None or self._weight(head) >= self._weight(singular)):
            return words, None  # gas, news, species, woods: the plural-shaped form is the noun
        if singular is not None:
            return [*words[:-1], singular], "singular_rule"
        if self.known_word is not None:
            for candidate in candidates:
                if self.known_word(candidate):
                    return [*words[:-1], candidate], "singular_rule"
        return words, None

    def _weight(self, lemma: str) -> int:
        """How often WordNet's sense-tagged corpus uses the lemma as a noun."""
        return sum(count for _, _, count in self.wordnet.lemma_senses(lemma))


def plural_candidates(word: str) -> list[str]:
    """Singular forms the suffix rules propose for a plural-shaped word, in rule order.

    Words ending in -ss, -us, -is get candidates too ("broccolis" -> broccoli, "tofus" -> tofu);
    ``Singularizer`` keeps them when WordNet knows the word itself (cactus, analysis).
    """
    found: list[str] = []
    for suffix, replacement in _SUFFIX_RULES:
        if word.endswith(suffix):
            candidate = word[: -len(suffix)] + replacement
            if len(candidate) >= 2 and candidate not in found:
                found.append(candidate)
    return found


def read_keep_plural(path: Path | str | None = None) -> list[str]:
    """The project's keep-plural list (taxonomy/keep_plural.txt), '#' lines skipped."""
    path = Path(path) if path is not None else taxonomy_dir() / "keep_plural.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]
