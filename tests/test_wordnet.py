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


def test_visual_nouns_are_physical_entities_and_depictable_senses(wn):
    physical = [s for s in wn.wordnet_synset_ids if wn.is_physical(s)]
    assert len(physical) == 46_162
    depictable = [s for s in wn.wordnet_synset_ids if wn.is_depictable(s)]
    assert len(wn.visual_synsets) == len(physical) + len(depictable)
    assert not set(physical) & set(depictable)
    assert wn.is_visual("dog.n.01") and wn.is_visual("pizza.n.01")
    for synset_id in ("smile.n.01", "wedding.n.01", "yoga.n.02", "heart.n.07", "shadow.n.01"):
        assert wn.is_visual(synset_id) and wn.is_depictable(synset_id), synset_id
        assert not wn.is_physical(synset_id), synset_id
    for synset_id in ("love.n.01", "travel.n.01", "trip.n.01", "sunset.n.01", "summer.n.01"):
        assert not wn.is_visual(synset_id), synset_id  # feelings, undertakings, times


def test_depictable_roots_can_be_turned_off_or_replaced(tmp_path):
    physical_only = WordNet.load(depictable=False)
    assert physical_only.depictable_roots == ()
    assert not physical_only.is_visual("smile.n.01")
    roots = tmp_path / "roots.tsv"
    roots.write_text("# mine\n\nkiss.n.01\ta kiss\n", encoding="utf-8")
    mine = WordNet.load(depictable=roots)
    assert mine.depictable_roots == ("kiss.n.01",)
    assert mine.is_visual("kiss.n.01") and not mine.is_visual("smile.n.01")


def test_depictable_roots_file_with_an_unknown_synset_names_the_line(tmp_path):
    roots = tmp_path / "roots.tsv"
    roots.write_text("kiss.n.01\nsmiley.n.09\twhy\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match=r"roots.tsv, line 2: .*'smiley.n.09'"):
        WordNet.load(depictable=roots)


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
    assert wn.pos_counts("daily").modifier_share > 0.9 > wn.pos_counts("daily").adjective_share
    assert wn.pos_counts("dog").modifier_share < 0.05
    retriever = wn.pos_counts("golden retriever")  # a noun only: from the noun index
    assert retriever.verb_senses == retriever.adj_senses == 0
    assert retriever.noun_senses == 1
