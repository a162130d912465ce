"""Unicode clean-up of single tags: what is kept, dropped, folded, and that nothing raises."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datagraph.text_clean import clean_tag, fold_accents, script_of


@pytest.mark.parametrize(
    ("tag", "text", "rules"),
    [
        ("#dog", "dog", ("strip_hash",)),
        ("GoldenRetriever", "GoldenRetriever", ()),
        ("＃ＤＯＧ", "DOG", ("nfkc", "strip_hash")),
        ("ﬁsh", "fish", ("nfkc",)),
        ("🐶dog❤️", "dog", ("strip_symbols",)),
        ("I❤️NY", "I NY", ("strip_symbols",)),
        ("👨\u200d👩\u200d👧family", "family", ("strip_symbols",)),
        ("brown_bear", "brown bear", ()),
        ("brown-bear", "brown bear", ()),
        ("mom's", "moms", ()),
        ("dog\ud800", "dog", ("drop_invalid",)),
        ("नमस्ते", "नमस्ते", ()),
        ("café", "café", ()),
        ("", "", ()),
        ("#", "", ("strip_hash",)),
    ],
)
def test_clean_tag(tag, text, rules):
    cleaned = clean_tag(tag)
    assert cleaned.text == text
    assert cleaned.rules == rules


def test_transliteration_is_a_setting_and_only_for_latin():
    assert clean_tag("Café", transliterate=True).text == "Cafe"
    assert clean_tag("Café", transliterate=True).rules == ("transliterate",)
    assert fold_accents("Crème brûlée straße Øresund") == "Creme brulee strasse Oresund"
    assert fold_accents("Москва東京") == "Москва東京"


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("dog", "latin"),
        ("café", "latin"),
        ("東京", "other"),
        ("Tokyo東京", "mixed"),
        ("2015", "none"),
    ],
)
def test_script_of(text, script):
    assert script_of(text) == script


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_clean_tag_never_raises_and_keeps_only_letters_digits_marks_and_single_spaces(tag):
    cleaned = clean_tag(tag).text
    assert cleaned == " ".join(cleaned.split())
    for ch in cleaned:
        category = unicodedata.category(ch)
        assert ch == " " or category[0] in "LN" or category in ("Mn", "Mc"), (ch, category)
