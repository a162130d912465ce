"""The committed WordNet 3.0 noun snapshot, read without NLTK."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from datagraph.errors import TaxonomyError
from datagraph.resources import wordnet_snapshot_dir
from datagraph.wordnet import WordNet


def test_snapshot_has_every_wordnet_noun_synset(wn):
    assert wn.wordnet_synset_count == 82_115
    assert pq.read_metadata(wordnet_snapshot_dir() / "synsets.parquet").num_rows == 82_115
    header = json.loads((wordnet_snapshot_dir() / "snapshot.json").read_text())
    assert header["wordnet_version"] == "3.0"
    assert header["counts"] == {
        "synsets": 82_115,
        "lemmas": 117_798,
        "lemma_senses": 146_312,
        "exceptions": 2_122,
        "lemmas_with_other_pos": 6_934,
    }


def test_dog_synset_and_wnid_round_trip(wn):
    dog = wn.synset("dog.n.01")
    assert dog.wnid == "n02084071"
    assert dog.offset == 2_084_071
    assert wn.by_wnid("n02084071") == "dog.n.01"
    assert dog.lexname == "noun.animal"
    assert dog.lemmas == ("dog", "domestic_dog", "Canis_familiaris")
    assert dog.lemma_counts == (42, 0, 0)
    assert set(dog.hypernyms) == {"canine.n.02", "domestic_animal.n.01"}


def test_lemma_senses_follow_wordnet_order_and_counts(wn):
    assert wn.synsets_for_lemma("dog") == [
        "dog.n.01",
        "frump.n.01",
        "dog.n.03",
        "cad.n.01",
        "frank.n.02",
        "pawl.n.01",
        "andiron.n.01",
    ]
    assert wn.synsets_for_lemma("Golden Retriever") == ["golden_retriever.n.01"]
    senses = wn.lemma_senses("tattoo")
    assert [s[0] for s in senses] == ["tattoo.n.01", "tattoo.n.02", "tattoo.n.03"]
    assert wn.synsets_for_lemma("no_such_lemma_xyz") == []


def test_instance_hypernyms_are_parents(wn):
    paris = wn.synset("paris.n.01")
    assert paris.instance_hypernyms == ("national_capital.n.01",)
    assert "national_capital.n.01" in wn.parents("paris.n.01")
    assert "city.n.01" in wn.ancestors("paris.n.01")
    assert wn.is_visual("paris.n.01")


def test_hierarchy_queries(wn):
    ancestors = wn.ancestors("dog.n.01")
    assert {"canine.n.02", "carnivore.n.01", "animal.n.01", "entity.n.01"} <= ancestors
    assert "dog.n.01" not in ancestors
    assert "golden_retriever.n.01" in wn.descendants("dog.n.01")
    assert "puppy.n.01" in wn.children("dog.n.01")
    assert wn.depth("entity.n.01") == 0
    assert wn.depth("physical_entity.n.01") == 1


def test_visual_nouns_are_physical_entity_descendants(wn):
    assert len(wn.visual_synsets) == 46_162
    assert wn.is_visual("dog.n.01") and wn.is_visual("pizza.n.01")
    assert not wn.is_visual("love.n.01")
    assert not wn.is_visual("sunset.n.01")  # noun.time in WordNet


def test_noun_exceptions_for_morphology(wn):
    assert wn.noun_exceptions["geese"] == ["goose"]
    assert wn.noun_exceptions["mice"] == ["mouse"]
    assert "puppies" not in wn.noun_exceptions  # regular: handled by rules


def test_extension_synsets_are_marked_and_reachable(wn):
    assert len(wn) == wn.wordnet_synset_count + 1
    stop = wn.synset("stop_sign.n.01")
    assert stop.wnid is None and stop.offset is None
    assert wn.is_extension("stop_sign.n.01") and not wn.is_extension("dog.n.01")
    assert wn.synsets_for_lemma("stop sign") == ["stop_sign.n.01"]
    assert "street_sign.n.01" in wn.ancestors("stop_sign.n.01")
    assert "stop_sign.n.01" not in WordNet.load(extensions=False)


def test_unknown_synset_is_a_clear_error(wn):
    with pytest.raises(TaxonomyError, match=r"unknown WordNet 3\.0 noun synset 'dgo\.n\.01'"):
        wn.synset("dgo.n.01")
    assert wn.by_wnid("n99999999") is None
    assert wn.by_wnid("dog") is None


def test_missing_or_newer_snapshot_is_a_clear_error(tmp_path):
    with pytest.raises(TaxonomyError, match="snapshot not found"):
        WordNet.load(tmp_path)
    (tmp_path / "snapshot.json").write_text('{"format_version": 99}')
    with pytest.raises(TaxonomyError, match="format version 99"):
        WordNet.load(tmp_path)


def test_pos_counts_tell_colour_words_from_nouns(wn):
    pink = wn.pos_counts("pink")
    assert (pink.noun_count, pink.adj_count) == (2, 12)
    assert pink.adjective_share > 0.8
    assert wn.pos_counts("dog").adjective_share < 0.05
    retriever = wn.pos_counts("golden retriever")  # a noun only: from the noun index
    assert retriever.verb_senses == retriever.adj_senses == 0
    assert retriever.noun_senses == 1
