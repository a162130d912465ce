"""Head-noun singularization against WordNet 3.0."""

from __future__ import annotations

import pytest

from datagraph.morphology import Singularizer


@pytest.fixture(scope="module")
def singularizer(wn):
    return Singularizer(wn, known_word=lambda word: word == "selfie")


@pytest.mark.parametrize(
    ("words", "singular", "rule"),
    [
        ("puppies", "puppy", "singular_rule"),
        ("dogs", "dog", "singular_rule"),
        ("boxes", "box", "singular_rule"),
        ("buses", "bus", "singular_rule"),
        ("churches", "church", "singular_rule"),
        ("cookies", "cookie", "singular_rule"),
        ("women", "woman", "singular_rule"),
        ("eyes", "eye", "singular_rule"),
        ("geese", "goose", "singular_exception"),
        ("mice", "mouse", "singular_exception"),
        ("knives", "knife", "singular_exception"),
        ("cacti", "cactus", "singular_exception"),
        ("golden retrievers", "golden retriever", "singular_rule"),
        ("hot dogs", "hot dog", "singular_rule"),
        ("selfies", "selfie", "singular_rule"),
        ("glasses", "glasses", None),
        ("sunglasses", "sunglasses", None),
        ("jeans", "jeans", None),
        ("news", "news", None),
        ("species", "species", None),
        ("gas", "gas", None),
        ("bus", "bus", None),
        ("cactus", "cactus", None),
        ("grass", "grass", None),
        ("fish", "fish", None),
        ("2015", "2015", None),
    ],
)
def test_singular(singularizer, words, singular, rule):
    assert singularizer.singular(words.split()) == (singular.split(), rule)


def test_keep_plural_list_is_replaceable(wn):
    assert Singularizer(wn, keep_plural=[]).singular(["glasses"]) == (["glass"], "singular_rule")
    assert Singularizer(wn, keep_plural=["dogs"]).singular(["dogs"]) == (["dogs"], None)
