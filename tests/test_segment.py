"""Hashtag segmentation: real examples, cues, user hooks, and properties that always hold."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datagraph.segment import Segmenter, default_segmenter, segment


@pytest.mark.parametrize(
    ("tag", "words"),
    [
        ("GoldenRetriever", ["golden", "retriever"]),
        ("#GoldenRetriever", ["golden", "retriever"]),
        ("nationalsiblingday", ["national", "sibling", "day"]),
        ("brownbear", ["brown", "bear"]),
        ("goldenretrievers", ["golden", "retrievers"]),
        ("dogsofinstagram", ["dogs", "of", "instagram"]),
        ("ilovemydog", ["i", "love", "my", "dog"]),
        ("throwbackthursday", ["throwback", "thursday"]),
        ("brown_bear", ["brown", "bear"]),
        ("NewYorkCity", ["new", "york", "city"]),
        ("newyorkcity", ["new", "york", "city"]),
        ("beachweek2009", ["beach", "week", "2009"]),
        ("sunglasses", ["sunglasses"]),
        ("instagood", ["instagood"]),
        ("anchorman", ["anchorman"]),
        ("wdehd", ["wdehd"]),
        ("mp3", ["mp3"]),
        ("e3expo", ["e3", "expo"]),
        ("dog", ["dog"]),
    ],
)
def test_real_hashtags(tag, words):
    assert segment(tag) == words


def test_camel_case_is_a_cue():
    assert segment("SunBear") == ["sun", "bear"]
    assert segment("BrownBear") == segment("brownbear") == ["brown", "bear"]


def test_combining_marks_stay_with_their_word():
    assert segment("नमस्ते") == ["नमस्ते"]


def test_other_scripts_pass_through_whole():
    assert segment("東京") == ["東京"]
    assert segment("東京tokyo") == ["東京", "tokyo"]
    assert segment("кошка") == ["кошка"]


def test_empty_and_unusable_input():
    assert segment("") == []
    assert segment("#") == []
    assert segment("🐶✨") == []
    assert segment(None) == []  # type: ignore[arg-type]


def test_user_words_and_overrides():
    segmenter = Segmenter(
        extra_words={"sunbear": 10**9}, overrides={"penisland": ["pen", "island"]}
    )
    assert segmenter.segment("sunbearcub") == ["sunbear", "cub"]
    assert default_segmenter().segment("sunbearcub") == ["sun", "bear", "cub"]  # sun_bear.n.01
    assert segmenter.segment("PenIsland") == ["pen", "island"]


def test_words_added_later_are_found_even_when_longer_than_any_known_word_with_their_start():
    segmenter = Segmenter()
    word = "qxzvkorbaphantasmagoria"  # no known word starts with "qxzv"
    assert segmenter.segment(word + "cat") != [word, "cat"]
    segmenter.add_word(word, 10**9)
    assert segmenter.segment(word + "cat") == [word, "cat"]


def test_very_long_tag_is_linear_and_keeps_letters():
    tag = "dog" * 3000
    words = segment(tag)
    assert "".join(words) == tag


_TAG_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(_TAG_TEXT)
def test_segment_keeps_every_letter_and_digit_in_order(tag):
    words = segment(tag)
    kept, run = [], False
    for ch in tag:  # letters and digits, and the combining marks that follow them
        run = ch.isalnum() or (run and unicodedata.category(ch) in ("Mn", "Mc"))
        if run:
            kept.append(ch)
    assert "".join(words) == "".join(kept).lower()
    assert all(words)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[a-z]{1,30}", fullmatch=True))
def test_segmenting_the_output_again_changes_nothing(tag):
    words = segment(tag)
    assert [w for word in words for w in segment(word)] == words or len(words) == 1
