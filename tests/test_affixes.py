"""Social-media affixes stripped to the head concept, with WordNet guarding real words."""

from __future__ import annotations

import pytest

from datagraph.affixes import strip_social_affixes
from datagraph.segment import segment


@pytest.mark.parametrize(
    ("words", "stripped", "rules"),
    [
        ("dogs of instagram", "dogs", ["affix:-ofinstagram"]),
        ("golden retriever sof instagram", "golden retrievers", ["affix:-ofinstagram"]),
        ("insta food", "food", ["affix:insta-"]),
        ("food porn", "food", ["affix:-porn"]),
        ("cat stagram", "cat", ["affix:-stagram"]),
        ("food gram", "food", ["affix:-gram"]),
        ("dog of the day", "dog", ["affix:-oftheday"]),
        ("beach life", "beach", ["affix:-life"]),
        ("sunset lovers", "sunset", ["affix:-lovers"]),
        ("do glover", "dog", ["affix:-lover"]),
        ("insta food porn", "food", ["affix:insta-", "affix:-porn"]),
        ("wildlife", "wildlife", []),
        ("still life", "still life", []),
        ("kilogram", "kilogram", []),
        ("clover", "clover", []),
        ("instant", "instant", []),
        ("insta", "insta", []),
        ("food pics", "food", ["affix:-pics"]),
        ("nature photography", "nature", ["affix:-photography"]),
        ("travel photos", "travel", ["affix:-photos"]),
        ("topics", "topics", []),  # a medium word goes only as a whole last word
        ("photography", "photography", []),
        ("food pics of the day", "food", ["affix:-oftheday", "affix:-pics"]),
    ],
)
def test_strip_social_affixes(wn, words, stripped, rules):
    result = strip_social_affixes(words.split(), wn.has_lemma, segment)
    assert result == (stripped.split(), rules)
