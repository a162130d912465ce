"""Hashtag segmentation: real examples, cues, user hooks, and properties that always hold."""

from __future__ import annotations

import unicodedata
from importlib import resources

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


def _vocabulary() -> list[str]:
    """The 2,000 most frequent words of the segmenter's own word list: what tags are made of."""
    lines = resources.files("wordsegment").joinpath("unigrams.txt").read_text().splitlines()
    return [line.partition("\t")[0] for line in lines[:2000]]


_WORDS = _vocabulary()
# Hashtag-like: 1-4 known words, maybe digits, run together (no case cues, no separators).
_RUN_TOGETHER = st.lists(
    st.one_of(st.sampled_from(_WORDS), st.from_regex(r"[0-9]{1,4}", fullmatch=True)),
    min_size=1,
    max_size=4,
).map("".join)
# The same with case cues and separators, and any code point at all (lone surrogates too).
_DECORATED = st.lists(
    st.tuples(st.sampled_from(_WORDS), st.sampled_from(["lower", "upper", "title"])),
    min_size=1,
    max_size=4,
).map(lambda parts: "_".join(getattr(word, case)() for word, case in parts))
_ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=60)
_TAG_TEXT = st.one_of(
    _ANY_TEXT, _RUN_TOGETHER, _DECORATED, st.from_regex(r"#?[A-Za-z0-9]{1,30}", fullmatch=True)
)


@settings(max_examples=300, deadline=None)
@given(_TAG_TEXT)
def test_segment_never_raises_and_keeps_every_letter_and_digit_in_order(tag):
    """What the module promises for any string: the words are the input's letters, digits and
    their combining marks, lower-cased, in order; segmenting the words again (joined by spaces,
    which are hard cuts) keeps them too."""
    words = segment(tag)
    kept, run = [], False
    for ch in tag:  # letters and digits, and the combining marks that follow them
        run = ch.isalnum() or (run and unicodedata.category(ch) in ("Mn", "Mc"))
        if run:
            kept.append(ch)
    assert "".join(words) == "".join(kept).lower()
    assert all(words)
    assert "".join(segment(" ".join(words))) == "".join(words)


@settings(max_examples=200, deadline=None)
@given(st.one_of(_RUN_TOGETHER, st.from_regex(r"[a-z]{1,30}", fullmatch=True)))
def test_segmenting_the_output_again_changes_nothing(tag):
    """Idempotent for tags without case cues or separators: each word of the output, segmented
    on its own, stays whole. (A camelCased tag can break this: the cue that kept a word whole
    is gone once it is lower-cased, which is why ``Normalizer`` repeats its steps until its
    output stops changing.)"""
    words = segment(tag)
    assert segment(" ".join(words)) == words


def test_non_strings_give_no_words():
    for value in (None, 42, b"dog", ["dog"]):
        assert segment(value) == []  # type: ignore[arg-type]


def test_split_in_two_cuts_a_known_word_into_two_common_ones():
    from datagraph.segment import default_segmenter

    segmenter = default_segmenter()
    assert segmenter.split_in_two("streetart") == ["street", "art"]
    assert segmenter.split_in_two("longhair") == ["long", "hair"]
    assert segmenter.split_in_two("sephora") is None  # "hora" is too rare a word
    assert segmenter.split_in_two("tattooed") is None  # no cut into two common words
    assert segmenter.split_in_two("dog") is None  # too short for two 3-letter parts
    assert segmenter.split_in_two("sephora", min_log_probability=-7.0) == ["sep", "hora"]
