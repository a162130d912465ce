"""Taxonomy loaders: WordNet, visual, LVIS JSON, ImageNet wnid lists, synset lists."""

from __future__ import annotations

import json

import pytest

from datagraph.errors import TaxonomyError
from datagraph.taxonomy import load_taxonomy


def test_wordnet_and_visual_taxonomies(wn):
    nouns = load_taxonomy("wordnet", wordnet=wn)
    assert len(nouns) == 82_115
    dog = nouns.class_for_synset("dog.n.01")
    assert (dog.class_id, dog.name, dog.wnid) == (2_084_071, "dog", "n02084071")
    visual = load_taxonomy("visual", wordnet=wn)
    assert len(visual) == 46_162 + 1_129  # physical entities + depictable senses
    assert "dog.n.01" in visual and "smile.n.01" in visual and "love.n.01" not in visual
    assert "stop_sign.n.01" not in nouns  # project extensions are not WordNet classes


def test_lvis_v1_all_1203_synsets_resolve(shared_data, wn):
    path = shared_data / "taxonomies" / "lvis_v1_categories.json"
    lvis = load_taxonomy("lvis", path, wordnet=wn, strict=True)
    assert len(lvis) == 1203 and lvis.unresolved == []
    categories = json.loads(path.read_text())["categories"]
    assert [c.class_id for c in lvis.classes] == sorted(c["id"] for c in categories)
    assert {c.synset_id for c in lvis.classes} == {c["synset"] for c in categories}
    airplane = lvis.class_for_synset("airplane.n.01")
    assert airplane.class_id == 3 and airplane.synonyms == ("airplane", "aeroplane")
    assert airplane.frequency == "f" and airplane.wnid == "n02691156"
    assert lvis.index_of_class_id(3) == 2
    # The one LVIS synset WordNet 3.0 lacks resolves through the project's extension.
    assert lvis.class_for_synset("stop_sign.n.01").class_id == 1019
    assert sum(wn.is_extension(c.synset_id) for c in lvis.classes) == 1


def test_lvis_without_extensions_reports_the_unresolved_class(shared_data):
    from datagraph.wordnet import WordNet

    path = shared_data / "taxonomies" / "lvis_v1_categories.json"
    lvis = load_taxonomy("lvis", path, wordnet=WordNet.load(extensions=False))
    assert len(lvis) == 1202
    assert [(u.name, u.given) for u in lvis.unresolved] == [("stop_sign", "stop_sign.n.01")]
    with pytest.raises(TaxonomyError, match=r"1 classes do not resolve.*stop_sign"):
        load_taxonomy("lvis", path, wordnet=WordNet.load(extensions=False), strict=True)


def test_lvis_v0_5_resolves(shared_data, wn):
    lvis = load_taxonomy(
        "lvis", shared_data / "taxonomies" / "lvis_v0_5_categories.json", wordnet=wn
    )
    assert len(lvis) == 1230 and lvis.unresolved == []


def test_imagenet_1000_wnids_resolve(shared_data, wn):
    path = shared_data / "taxonomies" / "imagenet1k_wnids.txt"
    imagenet = load_taxonomy("imagenet1k", path, wordnet=wn, strict=True)
    assert len(imagenet) == 1000 and imagenet.unresolved == []
    assert [c.class_id for c in imagenet.classes] == list(range(1000))
    first = imagenet.classes[0]
    assert (first.wnid, first.synset_id, first.name) == ("n01440764", "tench.n.01", "tench")
    assert imagenet.class_for_synset("golden_retriever.n.01").wnid == "n02099601"
    assert len(imagenet.synset_ids) == 1000


def test_wnid_list_formats(tmp_path, wn):
    path = tmp_path / "wnids.txt"
    path.write_text("n02084071 dog, domestic dog\n\n# comment\nn02121808\n")
    taxonomy = load_taxonomy("imagenet1k", path, wordnet=wn)
    assert [(c.class_id, c.name, c.synset_id) for c in taxonomy.classes] == [
        (0, "dog", "dog.n.01"),
        (1, "domestic_cat.n.01", "domestic_cat.n.01"),
    ]
    path.write_text("n02084071\nhello\n")
    with pytest.raises(TaxonomyError, match=r"wnids.txt:2: no wnid"):
        load_taxonomy("imagenet1k", path, wordnet=wn)


def test_synset_list_reports_unknown_ids_by_name(tmp_path, wn):
    path = tmp_path / "mine.txt"
    path.write_text("dog.n.01\ncat.n.01  # a comment\nn02691156\ndgo.n.01\nbanana\n")
    taxonomy = load_taxonomy("synsets", path, wordnet=wn)
    assert [c.synset_id for c in taxonomy.classes] == ["dog.n.01", "cat.n.01", "airplane.n.01"]
    assert [u.given for u in taxonomy.unresolved] == ["dgo.n.01", "banana"]
    assert "expected a synset id" in taxonomy.unresolved[1].reason
    with pytest.raises(TaxonomyError, match=r"dgo\.n\.01"):
        load_taxonomy("synsets", path, wordnet=wn, strict=True)


def test_sample_lvis_categories_file(sample_dir, wn):
    taxonomy = load_taxonomy(
        "lvis", sample_dir / "lvis_sample_categories.json", wordnet=wn, strict=True
    )
    assert len(taxonomy) == 63
    assert taxonomy.class_for_synset("golden_retriever.n.01").name == "golden_retriever"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"categories": [', r"bad.json:1:\d+: not valid JSON"),
        ('{"images": []}', 'a JSON object with a "categories" list'),
        (
            '{"categories": [{"id": "1", "name": "x", "synset": "dog.n.01"}]}',
            r'categories\[0\]: field "id" must be int',
        ),
        ('{"categories": [{"id": 1, "name": "x"}]}', 'field "synset" must be str'),
        (
            '{"categories": [{"id": 1, "name": "a", "synset": "dog.n.01"}, '
            '{"id": 1, "name": "b", "synset": "cat.n.01"}]}',
            "class id 1 appears twice",
        ),
        ('{"categories": [{"id": 1, "name": "a", "synset": "nope.n.01"}]}', "no usable classes"),
    ],
)
def test_garbled_lvis_files_name_the_file_and_problem(tmp_path, wn, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(TaxonomyError, match=message):
        load_taxonomy("lvis", path, wordnet=wn)


def test_unknown_name_and_missing_paths(tmp_path, wn):
    with pytest.raises(TaxonomyError, match="unknown taxonomy 'lvis1k'; choose one of"):
        load_taxonomy("lvis1k", wordnet=wn)
    with pytest.raises(TaxonomyError, match="needs a path"):
        load_taxonomy("lvis", wordnet=wn)
    with pytest.raises(TaxonomyError, match="not found"):
        load_taxonomy("lvis", tmp_path / "missing.json", wordnet=wn)


def test_fingerprint_and_table(wn, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("dog.n.01\ncat.n.01\n")
    first = load_taxonomy("synsets", path, wordnet=wn)
    path.write_text("cat.n.01\ndog.n.01\n")
    second = load_taxonomy("synsets", path, wordnet=wn)
    assert first.fingerprint != second.fingerprint  # order is the label space
    table = first.to_table()
    assert table.column("synset_id").to_pylist() == ["dog.n.01", "cat.n.01"]
    assert table.column("index").to_pylist() == [0, 1]
