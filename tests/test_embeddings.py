"""TextEmbedder with the real all-MiniLM-L6-v2 weights: vectors, the disk cache, its errors."""

from __future__ import annotations

import numpy as np
import pytest

from datagraph.embeddings import TextEmbedder
from datagraph.errors import ConfigError


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    return TextEmbedder(cache_dir=tmp_path_factory.mktemp("cache"), device="cpu")


def test_vectors_are_unit_length_and_meaningful(embedder):
    vectors = embedder.embed(["dog", "puppy", "tax return", "dog"])
    assert vectors.shape == (4, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors[0], vectors[3])
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert embedder.embed([]).shape == (0, 384)


def test_disk_cache_is_reused_without_the_model(embedder):
    texts = ["golden retriever", "a design on the skin made by tattooing"]
    first = embedder.embed(texts)
    reread = TextEmbedder(cache_dir=embedder.cache_dir.parent, device="cpu")
    assert len(reread) >= 2
    assert np.array_equal(reread.embed(texts), first)
    assert reread._model is None  # everything came from the cache files


def test_a_corrupt_cache_file_is_a_clear_error(embedder):
    embedder.embed(["something to cache"])
    victim = sorted(embedder.cache_dir.glob("part-*.parquet"))[0]
    victim.write_bytes(b"not parquet at all")
    with pytest.raises(ConfigError, match="corrupt embedding cache file"):
        TextEmbedder(cache_dir=embedder.cache_dir.parent, device="cpu")


def test_an_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot load sentence-transformers model"):
        TextEmbedder(str(tmp_path / "no-such-model"), device="cpu").embed(["x"])


def test_a_texts_vector_does_not_depend_on_its_batch():
    texts = [
        "spring",
        "model",
        "dog",
        "golden retriever",
        "tattoo: a design on the skin made by pricking and staining",
        "spring, springtime: the season of growth",
    ]
    alone = np.stack([TextEmbedder(device="cpu").embed([t])[0] for t in texts])
    together = TextEmbedder(device="cpu", batch_size=256).embed(texts[::-1])[::-1]
    in_pairs = TextEmbedder(device="cpu", batch_size=2).embed(texts)
    assert np.array_equal(alone, together)  # bit for bit, not approximately
    assert np.array_equal(alone, in_pairs)
