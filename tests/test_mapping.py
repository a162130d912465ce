"""map_hashtags / HashtagMapper on real WordNet, the visual taxonomy and an LVIS-format file."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from datagraph import HashtagMapper, load_taxonomy, map_hashtags
from datagraph.errors import ConfigError, TaxonomyError
from datagraph.mapping import read_aliases
from datagraph.schema import MAPPING_SCHEMA
from datagraph.wordnet import WordNet


@pytest.fixture(scope="module")
def visual(wn):
    return HashtagMapper("visual", wordnet=wn)


@pytest.fixture(scope="module")
def lvis_sample(wn, sample_dir):
    taxonomy = load_taxonomy("lvis", sample_dir / "lvis_sample_categories.json", wordnet=wn)
    return HashtagMapper(taxonomy, wordnet=wn)


def _rows(mapper, tags):
    return {row["raw_tag"]: row for row in mapper.map(tags).to_pylist()}


@pytest.mark.parametrize(
    ("tag", "synset"),
    [
        ("#GoldenRetrievers", "golden_retriever.n.01"),
        ("tattoo", "tattoo.n.02"),  # the skin design, not the bugle call (tattoo.n.01)
        ("sneaker", "gym_shoe.n.01"),  # not the sneaky person (fink.n.01)
        ("sunset", "sunset.n.02"),  # the sky at sunset, not the time of day
        ("plant", "plant.n.02"),  # a green plant, not a factory (plant.n.01, WordNet's first)
        ("dog", "dog.n.01"),
        ("puppies", "puppy.n.01"),
        ("glasses", "spectacles.n.01"),
        ("icecream", "ice_cream.n.01"),
        ("blackandwhite", "black_and_white.n.02"),
        ("dogsofinstagram", "dog.n.01"),
        ("foodporn", "food.n.01"),
        ("selfie", "self-portrait.n.01"),  # taxonomy/hashtag_aliases.tsv
        ("foodpics", "food.n.01"),  # a medium word after the subject is dropped
        ("banana", "banana.n.02"),  # the fruit (food) before the plant
        ("moon", "moon.n.01"),  # an instance, but a natural object one sees, like a place
        ("europe", "europe.n.01"),
        # depictable senses outside physical_entity.n.01 (taxonomy/depictable.tsv)
        ("smile", "smile.n.01"),  # WordNet files it under noun.communication
        ("wedding", "wedding.n.01"),
        ("kiss", "kiss.n.01"),  # the act, not the candy (kiss.n.02)
        ("yoga", "yoga.n.02"),
        ("hiking", "hike.n.01"),
        ("rainbow", "rainbow.n.01"),  # an arc: noun.shape
    ],
)
def test_vocabulary_only_mapping(visual, tag, synset):
    row = _rows(visual, [tag])[tag]
    assert row["synset_id"] == synset
    assert row["unmapped_reason"] is None
    assert 0 < row["confidence"] <= 1
    assert row["class_synset_id"] == synset  # every visual synset is its own class


@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        ("like4like", "stopword"),
        ("love", "stopword"),
        ("", "empty"),
        ("🐶", "empty"),
        ("pewdiepie", "no_noun_sense"),
        ("justinbieber", "stopword"),  # listed as a celebrity
        ("summer", "abstract_sense"),  # WordNet's summer is a time, not a thing one sees
        ("travel", "outside_taxonomy"),  # an undertaking: neither physical nor depictable
        ("pink", "adjective"),  # 12 of 14 tagged uses are adjectives
        ("black", "adjective"),
        ("daily", "adjective"),  # 37 adverb uses, no noun use; WordNet's noun is a newspaper
        ("nike", "stopword"),  # listed as a brand; WordNet's only Nike is the goddess
        ("hermes", "named_entity"),  # WordNet's Hermes is the god, an instance
    ],
)
def test_unmapped_tags_say_why(visual, tag, reason):
    row = _rows(visual, [tag])[tag]
    assert row["synset_id"] is None
    assert row["class_id"] is None
    assert row["unmapped_reason"] == reason


def test_head_noun_fallback_is_flagged_and_less_confident(visual):
    row = _rows(visual, ["redlips"])["redlips"]
    assert row["canonical"] == "red lip"
    assert row["synset_id"] == "lip.n.01"
    assert row["match"] == "head_noun"
    assert row["confidence"] <= visual.head_noun_factor


@pytest.mark.parametrize(
    ("tag", "synset"),
    [("streetart", "art.n.01"), ("longhair", "hair.n.01"), ("menswear", "clothing.n.01")],
)
def test_a_word_with_no_noun_sense_is_cut_in_two(visual, tag, synset):
    row = _rows(visual, [tag])[tag]
    assert row["canonical"] == tag  # the word list knows the run as one word
    assert (row["synset_id"], row["match"]) == (synset, "head_noun")
    assert row["confidence"] <= visual.head_noun_factor


@pytest.mark.parametrize("tag", ["anyway", "everything", "himself", "yourself", "outdoor"])
def test_function_words_are_not_cut_off(visual, tag):
    assert visual.normalizer.segmenter.split_in_two(tag) is None
    assert _rows(visual, [tag])[tag]["synset_id"] is None


def test_rare_word_fragments_are_not_cut_off(visual):
    # "sephora" is "sep" + "hora" (a dance) to a web word list; "hora" is too rare a word
    assert visual.normalizer.segmenter.split_in_two("sephora") is None
    assert visual.normalizer.segmenter.split_in_two("tattooed") is None  # no 2-letter "ed"
    assert _rows(visual, ["pewdiepie"])["pewdiepie"]["unmapped_reason"] == "no_noun_sense"


def test_table_shape_order_and_candidates(visual):
    tags = ["plant", None, "plant", "#Plants"]
    table = visual.map(tags)
    assert table.schema == MAPPING_SCHEMA
    assert table.column("raw_tag").to_pylist() == tags
    rows = table.to_pylist()
    assert rows[0]["synset_id"] == rows[2]["synset_id"] == rows[3]["synset_id"]
    scores = [c["score"] for c in rows[0]["candidates"]]
    assert scores == sorted(scores, reverse=True)
    assert rows[0]["confidence"] == pytest.approx(scores[0], abs=1e-6)
    assert rows[0]["candidates"][1]["synset_id"] == "plant.n.01"


def test_lvis_projection_climbs_to_the_nearest_class(lvis_sample):
    rows = _rows(
        lvis_sample, ["goldenretriever", "labradorretriever", "bulldog", "tattoo", "hiking"]
    )
    assert rows["goldenretriever"]["class_name"] == "golden_retriever"
    assert rows["goldenretriever"]["class_id"] == 29
    for tag in ("labradorretriever", "bulldog"):  # no class of their own: up to dog.n.01
        assert rows[tag]["class_name"] == "dog"
        assert rows[tag]["class_synset_id"] == "dog.n.01"
    assert rows["tattoo"]["class_id"] == 58
    assert rows["hiking"]["unmapped_reason"] == "outside_taxonomy"


def test_depictable_senses_count_only_in_taxonomies_that_have_them(visual, lvis_sample):
    # visual: a smile is a label; LVIS has no class for it, so it stays an abstraction there
    # and does not outrank senses that land in LVIS
    assert _rows(visual, ["smile"])["smile"]["synset_id"] == "smile.n.01"
    assert _rows(lvis_sample, ["smile"])["smile"]["unmapped_reason"] == "abstract_sense"
    physical_only = HashtagMapper("visual", wordnet=WordNet.load(depictable=False))
    assert _rows(physical_only, ["smile"])["smile"]["synset_id"] is None


def test_lvis_synonyms_are_aliases(lvis_sample, wn):
    # LVIS names hamburger.n.01 "burger"; handbag is bag.n.04 ("handbag" is a WordNet lemma
    # of bag.n.04 too, but "burger" also means the burger.n.01 patty)
    rows = _rows(lvis_sample, ["burger", "burgers", "Handbag"])
    assert rows["burger"]["class_id"] == 14
    assert rows["burgers"]["class_id"] == 14
    assert rows["Handbag"]["class_id"] == 32


def test_projection_limits(wn, sample_dir):
    taxonomy = load_taxonomy("lvis", sample_dir / "lvis_sample_categories.json", wordnet=wn)
    strict = HashtagMapper(taxonomy, wordnet=wn, max_climb=1)
    row = strict.map(["goldenretriever", "labradorretriever"]).to_pylist()
    assert row[0]["class_name"] == "golden_retriever"
    assert (
        row[1]["unmapped_reason"] == "outside_taxonomy"
    )  # labrador retriever -> ... -> dog: 3 steps


def test_context_steers_ambiguous_tags(visual):
    tag = visual.normalizer.normalize("crane")
    as_bird = visual.map_in_context(tag, ["bird", "wildlife", "heron"])
    assert as_bird.synset_id == "crane.n.05"
    table = visual.map(["crane"], context=[["bird", "heron"]])
    assert table.column("synset_id").to_pylist() == ["crane.n.05"]
    with pytest.raises(ConfigError, match="context has 2 entries for 1 tags"):
        visual.map(["crane"], context=[[], []])


def test_user_aliases_and_their_errors(wn, tmp_path):
    path = tmp_path / "aliases.tsv"
    path.write_text("# mine\nmybrandshoe\tgym_shoe.n.01\nplant\tNONE\n", encoding="utf-8")
    mapper = HashtagMapper("visual", wordnet=wn, alias_paths=[path], aliases={"doggy": "dog.n.01"})
    rows = _rows(mapper, ["mybrandshoe", "plant", "doggy"])
    assert rows["mybrandshoe"]["synset_id"] == "gym_shoe.n.01"
    assert rows["mybrandshoe"]["match"] == "override"
    assert rows["plant"]["unmapped_reason"] == "override"
    assert rows["doggy"]["synset_id"] == "dog.n.01"
    bad = tmp_path / "bad.tsv"
    bad.write_text("dog\tdog.n.01\ncat\tcat.n.99\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match=r"bad\.tsv:2: 'cat\.n\.99' is not a WordNet"):
        read_aliases(bad, wn)
    bad.write_text("just one field\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.tsv:1"):
        read_aliases(bad, wn)
    with pytest.raises(TaxonomyError, match="aliases argument"):
        HashtagMapper("visual", wordnet=wn, aliases={"x": "not_a_synset"})


def test_the_project_alias_file_is_valid(wn):
    from datagraph.resources import taxonomy_dir

    aliases = read_aliases(taxonomy_dir() / "hashtag_aliases.tsv", wn)
    assert len(aliases) >= 20


def test_map_hashtags_accepts_names_and_loaded_taxonomies(sample_dir):
    table = map_hashtags(["#GoldenRetrievers", "tattoo", "like4like"])
    assert table.column("synset_id").to_pylist() == ["golden_retriever.n.01", "tattoo.n.02", None]
    lvis = load_taxonomy("lvis", sample_dir / "lvis_sample_categories.json")
    table = map_hashtags(pa.array(["puppy"]).to_pylist(), lvis)
    assert table.column("class_id").to_pylist() == [45]


def test_imagenet_round_trip_on_the_real_class_list(shared_data, wn):
    taxonomy = load_taxonomy("imagenet1k", shared_data / "taxonomies" / "imagenet1k_wnids.txt")
    mapper = HashtagMapper(taxonomy, wordnet=wn)
    tags = ["goldfish", "greatwhiteshark", "crane", "mouse", "tabbycat"]
    wnids = [
        wn.synset(s).wnid if s else None for s in mapper.map(tags).column("synset_id").to_pylist()
    ]
    assert wnids[:2] == ["n01443537", "n01484850"]
    assert wnids[2] in {"n02012849", "n03126707"}  # the bird or the machine: both are classes
    assert wnids[3] in {"n03793489"}  # ImageNet's only mouse is the computer mouse
    assert wnids[4] == "n02123045"


def test_embedding_similarity_joins_the_ranking(wn, tmp_path):
    from datagraph.embeddings import TextEmbedder

    embedder = TextEmbedder(cache_dir=tmp_path, device="cpu")
    mapper = HashtagMapper("visual", wordnet=wn, embedder=embedder)
    rows = _rows(mapper, ["tattoo", "sneaker", "dog", "like4like"])
    assert rows["tattoo"]["synset_id"] == "tattoo.n.02"
    assert rows["sneaker"]["synset_id"] == "gym_shoe.n.01"
    assert rows["dog"]["synset_id"] == "dog.n.01"
    similarity = mapper._similarity
    assert similarity[("tattoo", "tattoo.n.02")] > similarity[("tattoo", "tattoo.n.01")]
    cached = len(embedder)
    mapper.map(["tattoo", "dog"])  # nothing new to embed
    assert len(embedder) == cached


def test_corpus_neighbours_steer_the_senses(wn, tmp_path):
    from datagraph.corpus_context import TagNeighbours
    from datagraph.embeddings import TextEmbedder

    posts = (
        [["model", "fashion", "runway", "dress"]] * 3
        + [["spring", "flower", "blossom"]] * 3
        + [["dog"], ["cat"], ["beach"]]
    )
    corpus = TagNeighbours.from_tag_lists(posts)
    embedder = TextEmbedder(cache_dir=tmp_path, device="cpu")
    plain_mapper = HashtagMapper("visual", wordnet=wn, embedder=embedder)
    plain = _rows(plain_mapper, ["model", "spring", "dog"])
    mapper = HashtagMapper("visual", wordnet=wn, embedder=embedder, corpus=corpus)
    steered = _rows(mapper, ["model", "spring", "dog"])
    # spring beside flowers and blossom is the season, a time: no thing to label
    assert plain["spring"]["synset_id"] == "spring.n.03"  # the coil
    assert steered["spring"]["unmapped_reason"] == "abstract_sense"

    def probability(row, synset):
        return next(c["score"] for c in row["candidates"] if c["synset_id"] == synset)

    # model beside fashion, runway and dress: the fashion model gains on the scale model
    assert probability(steered["model"], "model.n.03") > probability(plain["model"], "model.n.03")
    similarity = mapper._corpus_similarity
    assert similarity[("model", "model.n.03")] > similarity[("model", "model.n.04")]
    assert steered["dog"] == plain["dog"]  # no neighbours: the vocabulary-only ranking
    with pytest.raises(ConfigError, match="needs an embedder"):
        HashtagMapper("visual", wordnet=wn, corpus=corpus)
    # a text's vector does not depend on what it was embedded with: the same mapping bits
    alone = HashtagMapper("visual", wordnet=wn, embedder=TextEmbedder(device="cpu"), corpus=corpus)
    assert _rows(alone, ["spring"])["spring"] == steered["spring"]
    # a broken (NaN) vector of one neighbour is left out of the context, never into the scores
    from datagraph.embeddings import text_key

    embedder._vectors[text_key("flower")] = np.full(embedder.dimension, np.nan, np.float32)
    context = mapper._context_vectors(["spring"])["spring"]
    assert np.isfinite(context).all()
    assert context == pytest.approx(
        (lambda v: v / np.linalg.norm(v))(
            sum(w * embedder.embed([n])[0] for n, w in corpus.of("spring") if n != "flower")
        ),
        abs=1e-6,
    )


def test_the_hand_checked_gold_file_is_well_formed_and_beats_the_baseline(wn):
    from pathlib import Path

    gold_path = Path(__file__).parent / "data" / "harrison_gold.tsv"
    rows = []
    for line in gold_path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or line.startswith("tag\t") or not line.strip():
            continue
        tag, acceptable, _note = line.split("\t")
        rows.append((tag, None if acceptable == "NONE" else set(acceptable.split("|"))))
    assert len(rows) >= 150
    assert len({tag for tag, _ in rows}) == len(rows)
    assert all(s in wn for _, ok in rows if ok for s in ok)
    mapper = HashtagMapper("visual", wordnet=wn)
    got = mapper.map([tag for tag, _ in rows]).column("synset_id").to_pylist()
    right = sum(
        (g is None) if ok is None else (g in ok) for (_, ok), g in zip(rows, got, strict=True)
    )
    assert right / len(rows) >= 0.88  # 0.911 (0.822 when written); see benchmarks/mapping.py
