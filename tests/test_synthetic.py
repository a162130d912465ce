"""The sample generator: reproducible, and it plants what the pipeline must handle."""

from __future__ import annotations

import json
from collections import Counter

from datagraph.synthetic import PostGenerator, pluralize, write_sample


def test_committed_sample_is_reproducible_from_its_generator(tmp_path, sample_dir):
    paths = write_sample(tmp_path, n_posts=20_000, seed=0)
    for path in paths.values():
        assert path.read_bytes() == (sample_dir / path.name).read_bytes(), path.name


def test_same_seed_same_posts_other_seed_other_posts(wn):
    first, bad_first = PostGenerator(seed=3, wordnet=wn).posts(500)
    again, bad_again = PostGenerator(seed=3, wordnet=wn).posts(500)
    other, _ = PostGenerator(seed=4, wordnet=wn).posts(500)
    assert first == again and bad_first == bad_again
    assert first != other


def test_posts_contain_the_planted_phenomena(wn):
    records, malformed = PostGenerator(seed=1, wordnet=wn).posts(5000)
    assert len(records) == 5000 and len(malformed) == 5
    tags = Counter(t for r in records for t in r.get("hashtags", []))
    assert any(t[1:2].isupper() and t[2:].lower() != t[2:] for t in tags)  # camelCase
    assert any(t.endswith("sofinstagram") for t in tags)
    assert any(t.endswith("porn") for t in tags)
    assert "#instagood" in tags and "#like4like" in tags
    assert any(not t[1:].isascii() for t in tags)  # non-Latin / accented
    ids = Counter(r["post_id"] for r in records)
    assert any(n > 1 for n in ids.values())  # exact repeats
    media = Counter(r["media_sha256"] for r in records)
    assert any(n > 1 for n in media.values())  # re-uploads
    assert any("hashtags" not in r and "#" in r["caption"] for r in records)  # caption only
    counts = sorted(tags.values(), reverse=True)
    assert counts[0] > 20 * counts[len(counts) // 2]  # long tail
    for line in malformed:
        try:
            json.loads(line)
        except ValueError:
            continue


def test_pluralize_uses_wordnet_irregulars(wn):
    assert pluralize("goose", wn) == "geese"
    assert pluralize("puppy", wn) == "puppies"
    assert pluralize("golden retriever", wn) == "golden retrievers"
    assert pluralize("box", wn) == "boxes"
