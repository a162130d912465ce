"""Hashtags found in captions."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datagraph.extract import extract_hashtags


def test_hashtags_in_a_caption_in_order():
    caption = "Sunday walk with my boy 🐶☀️ #GoldenRetriever! #dog, #dog #猫 #кошка #2019."
    assert extract_hashtags(caption) == [
        "#GoldenRetriever",
        "#dog",
        "#dog",
        "#猫",
        "#кошка",
        "#2019",
    ]


def test_chained_tags_both_count():
    assert extract_hashtags("#love#instagood") == ["#love", "#instagood"]


def test_not_hashtags():
    assert extract_hashtags("see https://example.org/page#section and www.x.com/#a") == []
    assert extract_hashtags("I code in C# and F#") == []
    assert extract_hashtags("a#b &#39; ## # !") == []


def test_stops_at_punctuation_and_emoji_keeps_accents_and_underscores():
    assert extract_hashtags("#café_au_lait😀more #new-york") == ["#café_au_lait", "#new"]
    assert extract_hashtags("＃ｄｏｇ") == ["#ｄｏｇ"]


def test_empty_and_none():
    assert extract_hashtags("") == []
    assert extract_hashtags(None) == []


# Any code point (lone surrogates included), and text dense in what the finder looks at: both
# hash signs ("#" twice, so it comes more often), URL starts, '&', '/', word characters,
# combining marks, ZWNJ, emoji.
_ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=200)
_WORD_PIECES = ["a", "Z", "_", "7", "é", "猫", "\u0301", "\u200c"]
_MARK_PIECES = ["#", "＃", "#", " ", "😀", "&", "/", ".", "\n", "\ud800"]
_URL_PIECES = ["http://x.org/", "www.", "C#"]
_HASHTAG_SOUP = st.lists(
    st.sampled_from(_WORD_PIECES + _MARK_PIECES + _URL_PIECES), max_size=60
).map("".join)
_BODY = re.compile(r"[\w\u0300-\u036f\u200c]+")


@settings(max_examples=300, deadline=None)
@given(st.one_of(_ANY_TEXT, _HASHTAG_SOUP))
def test_never_raises_and_every_tag_is_in_the_text(text):
    for tag in extract_hashtags(text):
        assert tag.startswith("#") and len(tag) > 1
        assert tag[1:] in text
        assert _BODY.fullmatch(tag[1:]) and not tag.endswith("\u200c")


@settings(max_examples=300, deadline=None)
@given(st.one_of(_ANY_TEXT, _HASHTAG_SOUP))
def test_extracting_from_the_tags_gives_the_same_tags(text):
    """Idempotent: the found tags, written out one after another, are found again as they
    are, in the same order (duplicates kept)."""
    tags = extract_hashtags(text)
    assert extract_hashtags(" ".join(tags)) == tags
    assert extract_hashtags("".join(tags)) == tags  # a chain "#a#b" gives both


@pytest.mark.parametrize("value", [b"#dog", 42, ["#dog"], 3.5])
def test_not_text_gives_no_tags(value):
    assert extract_hashtags(value) == []  # type: ignore[arg-type]


def test_a_one_megabyte_caption_is_read_to_its_end():
    """Captions of any length: the tags at both ends of 1,000,000 characters are found (the
    bad-input corpus has such a post; tests/test_bad_inputs.py runs it through the pipelines),
    and so are all 200,000 tags of a megabyte of nothing but tags."""
    sentence = "a long walk along the shore with my dog, "
    caption = "#sunset " + sentence * (1_000_000 // len(sentence)) + " #beach"
    assert extract_hashtags(caption) == ["#sunset", "#beach"]
    stuffed = "#tag " * 200_000
    assert extract_hashtags(stuffed) == ["#tag"] * 200_000
    assert extract_hashtags("#" * 1_000_000) == []
