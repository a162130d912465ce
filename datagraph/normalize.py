"""Canonicalize hashtags: #GoldenRetrievers -> "golden retriever".

One tag goes through, in order (each step that changes something records a rule):

1. Unicode clean-up (datagraph.text_clean): drop invalid code points, NFKC, strip ``#``, emoji,
   symbols, variation selectors and joiners; optional accent folding (``transliterate=True``).
2. Segmentation into lower-case words (datagraph.segment), camelCase and digits as cues; a lone
   "s" the model split off a word it knows only in the singular is put back ("selfie s" ->
   "selfies", singularized in step 5). Tags in other scripts are not segmented: their canonical
   form is the cleaned, casefolded text.
3. Stoplist on the tag as written (datagraph.stoplist): "instagood", "like4like", "2015".
4. Social affixes (datagraph.affixes): insta-, -ofinstagram, -oftheday, -stagram, -gram, -porn,
   -lover(s), -life.
5. Singular head noun (datagraph.morphology): "puppies" -> "puppy", "glasses" stays.
6. Spelling variants (taxonomy/spelling_variants.tsv): "colour" -> "color".
7. Stoplist again on the canonical form ("#InstaLove" -> "love" is non_visual), then length:
   Latin tags of fewer than ``min_length`` letters/digits are ``too_short``.

Unusable input never raises: None or a non-string is ``not_text``, a tag with nothing left after
clean-up (``""``, ``"#"``, emoji only) is ``empty``, a tag longer than ``max_length`` characters
is ``too_long``; all three have an empty canonical form.

Normalization is idempotent: with ``c = normalize(t).canonical``, ``normalize(c).canonical == c``.
Segmenting a canonical form again can, rarely, split a word the first pass kept (a word the model
only accepts in context), so the steps are re-applied to their own output until it stops
changing (at most three passes; the extra pass costs little because segmentation is cached).

>>> tag = normalize_hashtag("#DogsOfInstagram")
>>> tag.canonical, tag.rules
('dog', ('strip_hash', 'segment', 'lowercase', 'affix:-ofinstagram', 'singular_rule'))
>>> normalize_hashtag("like4like").stop_reason
'spam'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from datagraph.affixes import strip_social_affixes
from datagraph.errors import ConfigError, location
from datagraph.morphology import Singularizer
from datagraph.resources import taxonomy_dir
from datagraph.schema import NORMALIZED_TAG_SCHEMA
from datagraph.segment import Segmenter, default_segmenter
from datagraph.stoplist import Stoplist, compact, read_stoplist
from datagraph.text_clean import clean_tag, script_of
from datagraph.wordnet import WordNet

_MAX_PASSES = 3


@dataclass(frozen=True)
class NormalizedTag:
    """One hashtag after normalization.

    raw: the input as given (None for None). canonical: words joined by one space, singular
    head noun ("" when nothing usable is left). tokens: the canonical words. is_stopword /
    stop_reason: whether and why the tag is not a label (spam, meta, non_visual, numeric,
    too_short, too_long, empty, not_text, or a reason from a user's stoplist). rules: the steps
    that changed the tag, in order. script: latin, other, mixed or none (digits only).
    """

    raw: str | None
    canonical: str
    tokens: tuple[str, ...]
    is_stopword: bool
    stop_reason: str | None
    rules: tuple[str, ...]
    script: str

    @property
    def usable(self) -> bool:
        """True when the tag may become a label: something is left and it is not stopped."""
        return bool(self.canonical) and not self.is_stopword


class Normalizer:
    """Hashtag normalization with its data and settings; see the module docstring.

    Users extend it with their own data: ``stopwords`` (tag -> reason) and ``stoplist_paths``
    (``tag<TAB>reason`` files) add to the project's stoplist; ``keep_plural`` replaces the
    keep-plural list; ``spelling_variants`` adds variant -> canonical pairs; ``segmenter`` takes a
    ``Segmenter`` with the user's words and overrides. Results are cached by tag
    (``cache_size`` distinct tags; the cache is cleared when full).
    """

    def __init__(
        self,
        *,
        segmenter: Segmenter | None = None,
        wordnet: WordNet | None = None,
        stopwords: Mapping[str, str] | None = None,
        stoplist_paths: Sequence[Path | str] = (),
        use_default_stoplist: bool = True,
        keep_plural: Iterable[str] | None = None,
        spelling_variants: Mapping[str, str] | None = None,
        transliterate: bool = False,
        min_length: int = 2,
        max_length: int = 100,
        cache_size: int = 1_000_000,
    ):
        if min_length < 0 or max_length < 1:
            raise ConfigError("min_length must be >= 0 and max_length >= 1")
        self.segmenter = segmenter or default_segmenter()
        self.wordnet = wordnet or WordNet.load()
        self.stoplist = Stoplist.default() if use_default_stoplist else Stoplist()
        for path in stoplist_paths:
            self.stoplist.update(read_stoplist(path))
        self.stoplist.update(stopwords or {})
        self.singularizer = Singularizer(
            self.wordnet, keep_plural=keep_plural, known_word=self.segmenter.knows
        )
        self.spelling = read_spelling_variants()
        self.spelling.update({k.lower(): v.lower() for k, v in (spelling_variants or {}).items()})
        self.transliterate = transliterate
        self.min_length = min_length
        self.max_length = max_length
        self.cache_size = cache_size
        self._cache: dict[str, NormalizedTag] = {}
        self._segment = lru_cache(maxsize=1 << 17)(self._segment_uncached)

    def normalize(self, tag: object) -> NormalizedTag:
        """Normalize one hashtag (with or without '#'); never raises."""
        if not isinstance(tag, str):
            raw = None if tag is None else str(tag)
            return NormalizedTag(raw, "", (), True, "not_text", (), "none")
        cached = self._cache.get(tag)
        if cached is not None:
            return cached
        result = self._normalize(tag)
        if len(self._cache) >= self.cache_size:
            self._cache.clear()
        self._cache[tag] = result
        return result

    def normalize_many(self, tags: Iterable[object]) -> list[NormalizedTag]:
        return [self.normalize(tag) for tag in tags]

    def normalize_column(self, column: object) -> pa.Table:
        """Normalize a column of tags (pyarrow Array/ChunkedArray, polars Series or a list).

        Each distinct value is normalized once (dictionary encoding), then results are spread
        back to every row, so the table has one row per input row, in order, with the columns
        of ``datagraph.schema.NORMALIZED_TAG_SCHEMA``.
        """
        array = _as_string_array(column)
        encoded = pc.dictionary_encode(array, null_encoding="encode")
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        distinct = self.normalize_many(encoded.dictionary.to_pylist())
        table = tags_to_table(distinct)
        return table.take(encoded.indices)

    # --- one tag ------------------------------------------------------------------------
    def _normalize(self, tag: str) -> NormalizedTag:
        result = self._pass(tag)
        rules = list(result.rules)
        for _ in range(_MAX_PASSES - 1):
            if not result.canonical:
                break
            again = self._pass(result.canonical)
            if again.canonical == result.canonical and again.stop_reason == result.stop_reason:
                break
            rules.extend(rule for rule in again.rules if rule not in rules)
            result = again
        return NormalizedTag(
            tag,
            result.canonical,
            result.tokens,
            result.is_stopword,
            result.stop_reason,
            tuple(rules),
            result.script,
        )

    def _pass(self, tag: str) -> NormalizedTag:
        cleaned = clean_tag(tag, transliterate=self.transliterate)
        rules = list(cleaned.rules)
        text = cleaned.text
        script = script_of(text)
        if not text:
            return NormalizedTag(tag, "", (), True, "empty", tuple(rules), script)
        if len(text) > self.max_length:
            return NormalizedTag(tag, "", (), True, "too_long", tuple(rules), script)
        if script == "other":
            words = text.casefold().split()
            rules.append("other_script")
        else:
            words = [w.casefold() for chunk in text.split() for w in self._segment(chunk)]
            if len(words) > len(text.split()):
                rules.append("segment")
            merged = _merge_plural_s(words)
            if merged != words:
                rules.append("merge_plural_s")
                words = merged
        if text != text.casefold():
            rules.append("lowercase")
        reason = self.stoplist.reason(text)
        if reason is None and script != "other":
            words = self._canonical_words(words, rules)
            reason = self.stoplist.reason(" ".join(words))
        if (
            reason is None
            and script in ("latin", "none")
            and len(compact("".join(words))) < self.min_length
        ):
            reason = "too_short"
        if reason is not None:
            rules.append("stop")
        return NormalizedTag(
            tag, " ".join(words), tuple(words), reason is not None, reason, tuple(rules), script
        )

    def _canonical_words(self, words: list[str], rules: list[str]) -> list[str]:
        words, affix_rules = strip_social_affixes(words, self.wordnet.has_lemma, self._segment)
        rules.extend(affix_rules)
        words, rule = self.singularizer.singular(words)
        if rule:
            rules.append(rule)
        spelled = [self.spelling.get(word, word) for word in words]
        if spelled != words:
            rules.append("spelling")
        return spelled

    def _segment_uncached(self, chunk: str) -> list[str]:
        return self.segmenter.segment(chunk)


def _merge_plural_s(words: list[str]) -> list[str]:
    """Glue a lone "s" back onto the alphabetic word before it ("selfie", "s" -> "selfies")."""
    merged: list[str] = []
    for word in words:
        if word == "s" and merged and merged[-1].isalpha() and merged[-1].isascii():
            merged[-1] += "s"
        else:
            merged.append(word)
    return merged


def tags_to_table(tags: Sequence[NormalizedTag]) -> pa.Table:
    """NormalizedTag objects as a table with NORMALIZED_TAG_SCHEMA."""
    return pa.table(
        {
            "raw_tag": [t.raw for t in tags],
            "canonical": [t.canonical for t in tags],
            "tokens": [list(t.tokens) for t in tags],
            "is_stopword": [t.is_stopword for t in tags],
            "stop_reason": [t.stop_reason for t in tags],
            "rules": [list(t.rules) for t in tags],
            "script": [t.script for t in tags],
        },
        schema=NORMALIZED_TAG_SCHEMA,
    )


def read_spelling_variants(path: Path | str | None = None) -> dict[str, str]:
    """``variant<TAB>canonical`` lines ('#' comments); errors name file and line."""
    path = Path(path) if path is not None else taxonomy_dir() / "spelling_variants.tsv"
    variants: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = [field.strip().lower() for field in line.split("\t")]
        if len(fields) != 2 or not all(fields):
            raise ConfigError(f"{location(str(path), number)}: expected 'variant<TAB>canonical'")
        variants[fields[0]] = fields[1]
    return variants


def _as_string_array(column: object) -> pa.Array | pa.ChunkedArray:
    if isinstance(column, pa.ChunkedArray | pa.Array):
        array = column
    elif hasattr(column, "to_arrow"):  # polars Series
        array = column.to_arrow()
    else:
        try:
            array = pa.array(list(column), type=pa.string())  # type: ignore[call-overload]
        except (TypeError, pa.ArrowException) as error:
            raise ConfigError(f"expected a column of strings: {error}") from error
    if pa.types.is_large_string(array.type) or pa.types.is_string_view(array.type):
        array = array.cast(pa.string())
    if not pa.types.is_string(array.type):
        raise ConfigError(f"expected a column of strings, got {array.type}")
    return array


@lru_cache(maxsize=1)
def default_normalizer() -> Normalizer:
    """The shared default Normalizer (built once per process)."""
    return Normalizer()


def normalize_hashtag(tag: str) -> NormalizedTag:
    """Normalize one hashtag with the default settings (see the module docstring)."""
    return default_normalizer().normalize(tag)
