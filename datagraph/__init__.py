"""datagraph: a data engine that turns social-media hashtags into WordNet/LVIS training labels.

Public API (more is added as the pipeline stages land)::

    import datagraph as dg
    dg.extract_hashtags("walk #GoldenRetriever!")   # ['#GoldenRetriever']
    dg.segment("nationalsiblingday")               # ['national', 'sibling', 'day']
    dg.normalize_hashtag("#GoldenRetrievers").canonical   # 'golden retriever'

    wn = dg.WordNet.load()                      # WordNet 3.0 nouns, no NLTK at run time
    lvis = dg.load_taxonomy("lvis", path="lvis_v1_val.json")
    for batch in dg.read_posts("posts.jsonl.gz"): ...
    mapping = dg.map_hashtags(["#puppies", "#BrownBear"], taxonomy=lvis)
    graph = dg.LabelGraph.build(mapping, wordnet=wn)   # networkx on demand: graph.to_networkx()
    shards = dg.TrainingShards("out/lvis1k")           # a build_shards set as a torch dataset
    feed = dg.loader("out/lvis1k", batch_size=256, num_workers=2)
    scores = dg.NoiseScorer().score(posts_table, mapping)   # label noise (docs/noise.md)
"""

from datagraph.cooccurrence import (
    aggregate_batches,
    cooccurrence_counts,
    merge_counts,
    synset_post_counts,
)
from datagraph.errors import ConfigError, DatagraphError, InputDataError, TaxonomyError
from datagraph.extract import extract_hashtags
from datagraph.graph import Alias, Cooccurrence, LabelGraph
from datagraph.mapping import HashtagMapper, map_hashtags
from datagraph.normalize import NormalizedTag, Normalizer, normalize_hashtag
from datagraph.readers import PostBatch, read_posts
from datagraph.segment import Segmenter, segment
from datagraph.taxonomy import Taxonomy, TaxonomyClass, load_taxonomy
from datagraph.wordnet import Synset, WordNet

__version__ = "0.1.0"

_LAZY = {  # imported on first use: they pull in torch, which costs a second or two
    "TrainingShards": "datagraph.feed",
    "collate_examples": "datagraph.feed",
    "loader": "datagraph.feed",
    "NoiseScorer": "datagraph.noise",  # its model loads torch
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'datagraph' has no attribute {name!r}")


__all__ = [
    "Alias",
    "ConfigError",
    "Cooccurrence",
    "DatagraphError",
    "HashtagMapper",
    "InputDataError",
    "LabelGraph",
    "NoiseScorer",
    "NormalizedTag",
    "Normalizer",
    "PostBatch",
    "Segmenter",
    "Synset",
    "Taxonomy",
    "TaxonomyClass",
    "TaxonomyError",
    "TrainingShards",
    "WordNet",
    "aggregate_batches",
    "collate_examples",
    "cooccurrence_counts",
    "extract_hashtags",
    "load_taxonomy",
    "loader",
    "map_hashtags",
    "merge_counts",
    "normalize_hashtag",
    "read_posts",
    "segment",
    "synset_post_counts",
]
