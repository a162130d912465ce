"""normalize_hashtag and Normalizer: real tags, unusable input, properties, the batch form."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datagraph import Normalizer, Segmenter, normalize_hashtag
from datagraph.normalize import default_normalizer
from datagraph.schema import NORMALIZED_TAG_SCHEMA


@pytest.mark.parametrize(
    ("tag", "canonical"),
    [
        ("#GoldenRetriever", "golden retriever"),
        ("#GoldenRetrievers", "golden retriever"),
        ("goldenretrievers", "golden retriever"),
        ("#BrownBears", "brown bear"),
        ("nationalsiblingday", "national sibling day"),
        ("puppies", "puppy"),
        ("geese", "goose"),
        ("glasses", "glasses"),
        ("jeans", "jeans"),
        ("sunglasses", "sunglasses"),
        ("#DogsOfInstagram", "dog"),
        ("goldenretrieversofinstagram", "golden retriever"),
        ("instafood", "food"),
        ("foodporn", "food"),
        ("skyporn", "sky"),
        ("catstagram", "cat"),
        ("carsoftheday", "car"),
        ("beachlife", "beach"),
        ("doglover", "dog"),
        ("naturelovers", "nature"),
        ("selfies", "selfie"),
        ("wildlife", "wildlife"),
        ("#ColourfulSunsets", "colorful sunset"),
        ("ＤＯＧ", "dog"),
        ("🐶dog❤️", "dog"),
        ("東京タワー", "東京タワー"),
        ("Tokyo東京", "tokyo 東京"),
        ("Café", "café"),
    ],
)
def test_canonical_forms(tag, canonical):
    result = normalize_hashtag(tag)
    assert result.canonical == canonical
    assert result.tokens == tuple(canonical.split())
    assert result.usable


def test_rules_say_what_happened():
    result = normalize_hashtag("#DogsOfInstagram")
    assert result.raw == "#DogsOfInstagram"
    assert result.rules == (
        "strip_hash",
        "segment",
        "lowercase",
        "affix:-ofinstagram",
        "singular_rule",
    )
    assert normalize_hashtag("geese").rules == ("singular_exception",)
    assert normalize_hashtag("東京タワー").rules == ("other_script",)
    assert normalize_hashtag("dog").rules == ()


@pytest.mark.parametrize(
    ("tag", "reason", "canonical"),
    [
        ("instagood", "meta", "instagood"),
        ("#tbt", "meta", "tbt"),
        ("like4like", "spam", "like 4 like"),
        ("Like4Like", "spam", "like 4 like"),
        ("followme", "spam", "follow me"),
        ("#InstaLove", "non_visual", "love"),
        ("2015", "numeric", "2015"),
        ("a", "too_short", "a"),
        ("", "empty", ""),
        ("#", "empty", ""),
        ("🐶🐶", "empty", ""),
        ("x" * 10_000, "too_long", ""),
        (None, "not_text", ""),
        (42, "not_text", ""),
    ],
)
def test_unusable_tags_say_why(tag, reason, canonical):
    result = normalize_hashtag(tag)
    assert result.is_stopword
    assert not result.usable
    assert result.stop_reason == reason
    assert result.canonical == canonical


def test_invalid_surrogates_are_dropped():
    result = normalize_hashtag("\ud800dog\udfff")
    assert result.canonical == "dog"
    assert "drop_invalid" in result.rules


def test_settings_and_user_data(tmp_path):
    stoplist = tmp_path / "brands.tsv"
    stoplist.write_text("acme\tbrand\n", encoding="utf-8")
    normalizer = Normalizer(
        transliterate=True,
        stopwords={"sale": "spam"},
        stoplist_paths=[stoplist],
        spelling_variants={"doggo": "dog"},
        keep_plural=["dogs"],
        segmenter=Segmenter(extra_words={"doggo": 10**8}),
    )
    assert normalizer.normalize("Café").canonical == "cafe"
    assert normalizer.normalize("#ACME").stop_reason == "brand"
    assert normalizer.normalize("sale").stop_reason == "spam"
    assert normalizer.normalize("happydoggo").canonical == "happy dog"
    assert normalizer.normalize("dogs").canonical == "dogs"
    assert normalizer.normalize("glasses").canonical == "glass"  # keep_plural was replaced
    assert Normalizer(use_default_stoplist=False).normalize("instagood").usable


def test_batch_form_over_arrow_and_polars_keeps_rows_and_order():
    tags = ["#Puppies", None, "puppies", "like4like", "#Puppies", "東京"]
    expected = [default_normalizer().normalize(tag) for tag in tags]
    for column in (pa.array(tags), pa.chunked_array([tags[:2], tags[2:]]), pl.Series(tags), tags):
        table = default_normalizer().normalize_column(column)
        assert table.schema == NORMALIZED_TAG_SCHEMA
        assert table.num_rows == len(tags)
        assert table.column("canonical").to_pylist() == [r.canonical for r in expected]
        assert table.column("stop_reason").to_pylist() == [r.stop_reason for r in expected]
        assert table.column("raw_tag").to_pylist() == tags
    assert default_normalizer().normalize_column(pa.array([], pa.string())).num_rows == 0


_ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)  # lone surrogates too
_TAG_LIKE = st.from_regex(r"#?[A-Za-z0-9_]{0,30}", fullmatch=True)
# Real words run together with what the steps act on: social affixes, plurals, digits, case
# cues, separators. Here a second pass of segmentation is most likely to split differently.
_PIECES = [
    *("dog", "golden", "retriever", "beach", "sunset", "cat", "puppies", "glasses", "new"),
    *("york", "city", "food", "life", "love", "colour", "selfie", "geese", "es", "s", "a"),
    *("insta", "ofinstagram", "oftheday", "stagram", "gram", "porn", "lover", "lovers"),
    *("2019", "4", "_", "-", "é", "東京", "🐶"),
]
_HASHTAG = st.lists(
    st.tuples(st.sampled_from(_PIECES), st.sampled_from(["lower", "upper", "title"])),
    min_size=1,
    max_size=5,
).map(lambda parts: "#" + "".join(getattr(piece, case)() for piece, case in parts))


@settings(max_examples=300, deadline=None)
@given(st.one_of(_ANY_TEXT, _TAG_LIKE, _HASHTAG))
def test_normalization_is_idempotent_and_never_raises(tag):
    first = normalize_hashtag(tag)
    again = normalize_hashtag(first.canonical)
    assert again.canonical == first.canonical
    assert again.is_stopword == first.is_stopword
    assert first.tokens == tuple(first.canonical.split())
    assert first.is_stopword == (first.stop_reason is not None)
    if first.canonical:  # "" is "empty" again, whatever emptied it the first time
        assert (again.tokens, again.stop_reason) == (first.tokens, first.stop_reason)


def test_huge_tags_are_too_long_not_slow():
    """A megabyte-long tag (a tag-stuffed post can carry one) stops at the length check."""
    for tag in ("#" + "a" * 1_000_000, "#" + "dog🐶" * 200_000):
        result = normalize_hashtag(tag)
        assert (result.canonical, result.stop_reason) == ("", "too_long")


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.binary(max_size=10), st.text(max_size=200)))
def test_anything_is_accepted(value):
    result = normalize_hashtag(value)
    assert result.usable == (bool(result.canonical) and not result.is_stopword)
