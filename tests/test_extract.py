"""Hashtags found in captions."""

from __future__ import annotations

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


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_never_raises_and_every_tag_is_in_the_text(text):
    for tag in extract_hashtags(text):
        assert tag.startswith("#") and len(tag) > 1
        assert tag[1:] in text
