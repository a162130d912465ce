"""NoiseScorer end to end with the real all-MiniLM-L6-v2 and WordNet, on tiny inputs.

The text model loads once per module; the image path uses a tiny randomly initialized CLIP
saved to a temporary directory and loaded by path (mechanics only: its vectors mean nothing).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from datagraph.embeddings import TextEmbedder
from datagraph.errors import ConfigError, InputDataError
from datagraph.graph import LabelGraph
from datagraph.mapping import map_hashtags
from datagraph.noise import (
    NOISE_SCORE_SCHEMA,
    NoiseScorer,
    TextVectors,
    prompt_text,
    score_batch,
)
from datagraph.noise_weights import DEFAULT_WEIGHTS

BEACH = ["beach", "sea", "sand", "wave", "sunset", "ocean", "surf", "sun"]
FOOD = ["pizza", "pasta", "cheese", "food", "bread", "salad", "tomato", "dinner"]


def themed_posts() -> list[tuple[str, list[str]]]:
    """Eight beach posts and eight food posts (four tags each, rotating), then one beach post
    with a pizza among its tags."""
    posts = []
    for theme, words in (("beach", BEACH), ("food", FOOD)):
        for i in range(8):
            posts.append((f"{theme}{i}", [words[(i + k) % 8] for k in range(4)]))
    posts.append(("noisy", ["beach", "sea", "sand", "pizza"]))
    return posts


def posts_table(rows: list[tuple[str, list[str]]], captions=None) -> pa.Table:
    return pa.table(
        {
            "post_id": [post for post, _ in rows],
            "hashtags": pa.array([tags for _, tags in rows], pa.list_(pa.string())),
            "caption": pa.array(captions or [None] * len(rows), pa.string()),
        }
    )


@pytest.fixture(scope="module")
def mapping() -> pa.Table:
    return map_hashtags(sorted({*BEACH, *FOOD, "dog", "cat", "park", "puppy"}))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("embeddings")


@pytest.fixture(scope="module")
def embedder(cache) -> TextEmbedder:
    return TextEmbedder(device="cpu", cache_dir=cache)


@pytest.fixture(scope="module")
def scorer(embedder, wn) -> NoiseScorer:
    return NoiseScorer(device="cpu", embedder=embedder, wordnet=wn)


@pytest.fixture(scope="module")
def themed(scorer, mapping) -> pa.Table:
    return scorer.score(posts_table(themed_posts()), mapping)


def score_of(table: pa.Table, post: str, tag: str) -> dict:
    rows = [r for r in table.to_pylist() if r["post_id"] == post and r["raw_tag"] == tag]
    assert len(rows) == 1, (post, tag)
    return rows[0]


def test_the_off_topic_label_scores_highest(themed):
    assert themed.schema == NOISE_SCORE_SCHEMA
    pizza = score_of(themed, "noisy", "pizza")
    neighbours = [score_of(themed, "noisy", t) for t in ("beach", "sea", "sand")]
    assert all(pizza["noise_score"] > n["noise_score"] + 0.1 for n in neighbours)
    assert all(pizza["context_similarity"] < n["context_similarity"] for n in neighbours)
    assert all(pizza["npmi_mean"] < n["npmi_mean"] for n in neighbours)
    clean = [r["noise_score"] for r in themed.to_pylist() if r["post_id"] != "noisy"]
    assert pizza["noise_score"] > np.quantile(clean, 0.9)
    scores = pc.drop_null(themed.column("noise_score")).to_numpy()
    assert ((scores >= 0) & (scores <= 1)).all()
    assert themed.column("unscored_reason").null_count == themed.num_rows
    assert pizza["synset_id"] == "pizza.n.01" and pizza["class_id"] is not None
    assert pizza["n_context"] == 3 and pizza["n_cooccurring"] == 3


def test_vocabulary_first_and_the_cache_makes_reruns_model_free(scorer, mapping, cache, wn):
    batch = scorer.prepare(posts_table(themed_posts()), mapping)
    texts = batch.texts()
    assert len(texts) == len(set(texts)) == len(set(BEACH) | set(FOOD))  # distinct tags only
    assert scorer.stats["texts_embedded"] <= len(texts)  # each distinct text at most once
    fresh = NoiseScorer(device="cpu", cache_dir=cache, wordnet=wn)
    again = fresh.score(posts_table(themed_posts()), mapping)
    assert fresh.embedder._model is None  # every vector came from the disk cache
    assert fresh.stats["texts_embedded"] == 0
    assert again.equals(scorer.score(posts_table(themed_posts()), mapping))


def test_the_three_steps_give_the_same_table(scorer, mapping, themed):
    batch = scorer.prepare(posts_table(themed_posts()), mapping)
    vectors, prompts = scorer.embed(batch, mapping)
    assert prompts is None
    assert scorer.score_prepared(batch, vectors).equals(themed)


def test_a_lone_tag_is_unscored_never_noise_and_a_caption_gives_context(scorer, mapping):
    table = scorer.score(
        posts_table(
            [("alone", ["dog"]), ("captioned", ["dog"]), ("twins", ["dog", "dogs"])],
            captions=[None, "my puppy running in the park", None],
        ),
        mapping,
    )
    alone = score_of(table, "alone", "dog")
    assert alone["noise_score"] is None and alone["unscored_reason"] == "no_context"
    captioned = score_of(table, "captioned", "dog")
    assert captioned["unscored_reason"] is None
    assert captioned["n_context"] == 1 and captioned["context_similarity"] > 0.3
    assert 0 <= captioned["noise_score"] <= 1
    # "dogs" normalizes to "dog": the same unit, so no context either ("dogs" is unmapped here)
    assert score_of(table, "twins", "dog")["unscored_reason"] == "no_context"


def test_captions_embedded_upstream_give_the_same_scores(scorer, embedder, mapping, wn):
    captions = ["my puppy running in the park", None]
    rows = [("captioned", ["dog"]), ("plain", ["dog", "park"])]
    by_text = scorer.score(posts_table(rows, captions=captions), mapping)
    vectors = [embedder.embed([captions[0]])[0].tolist(), None]
    posts = posts_table(rows).append_column(
        "caption_vector", pa.array(vectors, pa.list_(pa.float32()))
    )
    upstream = NoiseScorer(
        device="cpu", embedder=embedder, caption_embedding_column="caption_vector", wordnet=wn
    )
    assert captions[0] not in upstream.prepare(posts, mapping).texts()
    by_vector = upstream.score(posts, mapping)
    for column in ("noise_score", "context_similarity", "n_context", "unscored_reason"):
        assert by_vector.column(column).equals(by_text.column(column)), column


def test_empty_and_malformed_input(scorer, mapping):
    empty = posts_table([])
    assert scorer.score(empty, mapping).schema == NOISE_SCORE_SCHEMA
    assert scorer.score(empty, mapping).num_rows == 0
    no_tags = scorer.score(posts_table([("p", []), ("q", ["#", " "])]), mapping)
    assert no_tags.num_rows == 0
    with pytest.raises(InputDataError, match="lacks column"):
        scorer.score(pa.table({"post_id": ["p"]}), mapping)
    with pytest.raises(InputDataError, match="lacks column"):
        scorer.score(posts_table([("p", ["dog"])]), mapping.drop_columns(["confidence"]))
    with pytest.raises(InputDataError, match="post_id"):
        scorer.score(
            pa.table({"post_id": pa.array([None], pa.string()), "hashtags": [["dog"]]}), mapping
        )


def test_nan_vectors_are_dropped_counted_and_never_crash(scorer, mapping):
    batch = scorer.prepare(posts_table([("pair", ["sea", "beach"]), ("trio", BEACH[:3])]), mapping)
    vectors, _ = scorer.embed(batch)
    broken = vectors.matrix.copy()
    broken[vectors.rows(["sea"])[0]] = np.nan
    table, stats = score_batch(batch, TextVectors(vectors.texts, broken), None, DEFAULT_WEIGHTS)
    assert stats["nan_vectors"] == 1
    for tag in ("sea", "beach"):  # no usable vector pair, no counts: nothing to judge by
        row = score_of(table, "pair", tag)
        assert row["noise_score"] is None and row["unscored_reason"] == "nan_embedding"
    trio_beach = score_of(table, "trio", "beach")  # "sand" is still there
    assert trio_beach["unscored_reason"] is None and trio_beach["n_context"] == 1


def test_label_graph_counts_are_used_by_synset(scorer, mapping, wn):
    from datagraph.cooccurrence import cooccurrence_counts, synset_post_counts

    posts = posts_table(themed_posts())
    batch = scorer.prepare(posts, mapping)
    labels = batch.labels
    post_synsets = pa.table(
        {
            "post_id": batch.post_ids.take(labels["post"].to_arrow()),
            "synset_id": labels["synset_id"].to_arrow(),
        }
    )
    graph = LabelGraph.build(
        mapping,
        cooccurrence=cooccurrence_counts(post_synsets),
        synset_counts=synset_post_counts(post_synsets),
        total_posts=posts.num_rows,
        wordnet=wn,
    )
    by_graph = NoiseScorer(device="cpu", embedder=scorer.embedder, cooccurrence=graph, wordnet=wn)
    assert by_graph.unit == "synset"
    table = by_graph.score(posts, mapping)
    pizza = score_of(table, "noisy", "pizza")
    assert pizza["n_cooccurring"] == 3
    assert pizza["npmi_mean"] < score_of(table, "noisy", "sea")["npmi_mean"]


def test_configuration_errors(tmp_path, wn):
    with pytest.raises(ConfigError, match="no such file or directory"):
        NoiseScorer(str(tmp_path / "no-model-here"), wordnet=wn)
    with pytest.raises(ConfigError, match="image_model"):
        NoiseScorer(device="cpu", image_embedding_column="image", wordnet=wn)
    with pytest.raises(ConfigError, match="unit"):
        NoiseScorer(device="cpu", unit="word", wordnet=wn)
    with pytest.raises(ConfigError, match="label_texts"):
        NoiseScorer(device="cpu", label_texts=("title",), wordnet=wn)
    with pytest.raises(ConfigError, match="cooccurrence"):
        NoiseScorer(device="cpu", cooccurrence={"dog": 3}, wordnet=wn)


def test_cuda_requested_without_a_gpu_is_an_error_and_auto_falls_back(wn):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match=r"sees no CUDA GPU.*device='auto'"):
        NoiseScorer(device="cuda", wordnet=wn)
    assert NoiseScorer(device="auto", wordnet=wn).embedder.device == "cpu"


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> str:
    """A randomly initialized CLIP with tiny sizes, saved with a byte-level tokenizer."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessorPil,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in bytes_to_unicode().values():
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(char + "</w>", len(vocab))
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    torch.manual_seed(0)
    layers = {"intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "max_position_embeddings": 77,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
            **layers,
        },
        vision_config={"hidden_size": 32, "image_size": 32, "patch_size": 8, **layers},
        projection_dim=16,
    )
    path = tmp_path_factory.mktemp("tiny-clip")
    CLIPModel(config).save_pretrained(path)
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessorPil(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ),
        tokenizer=tokenizer,
    )
    processor.save_pretrained(path)
    return str(path)


def test_image_embeddings_add_an_image_label_similarity(tiny_clip, mapping, embedder, cache, wn):
    clip = TextEmbedder(tiny_clip, device="cpu", cache_dir=cache)
    dog, cat = clip.embed([prompt_text(wn, "dog.n.01"), prompt_text(wn, "cat.n.01")])
    posts = posts_table([("dog photo", ["dog", "cat"]), ("cat photo", ["dog", "cat"])])
    posts = posts.append_column(
        "image", pa.array([dog.tolist(), cat.tolist()], pa.list_(pa.float32()))
    )
    no_image = posts.set_column(
        posts.schema.get_field_index("image"),
        "image",
        pa.array([dog.tolist(), None], pa.list_(pa.float32())),
    )
    scorer = NoiseScorer(
        device="cpu",
        embedder=embedder,
        cache_dir=cache,
        image_embedding_column="image",
        image_model=tiny_clip,
        wordnet=wn,
    )
    table = scorer.score(posts, mapping)
    assert scorer.image_embedder.dimension == 16
    on_dog = score_of(table, "dog photo", "dog")["image_similarity"]
    assert on_dog > score_of(table, "dog photo", "cat")["image_similarity"]
    on_cat = score_of(table, "cat photo", "cat")["image_similarity"]
    assert on_cat > score_of(table, "cat photo", "dog")["image_similarity"]
    partial = scorer.score(no_image, mapping)
    assert score_of(partial, "cat photo", "cat")["image_similarity"] is None
    assert score_of(partial, "cat photo", "cat")["noise_score"] is not None  # text still works
    with pytest.raises(InputDataError, match="image embedding column"):
        scorer.score(posts.drop_columns(["image"]), mapping)


def test_import_datagraph_does_not_import_torch():
    code = (
        "import sys, datagraph; assert 'torch' not in sys.modules; "
        "assert datagraph.NoiseScorer.__name__ == 'NoiseScorer'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
