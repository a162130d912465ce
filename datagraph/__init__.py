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

__all__ = [
    "Alias",
    "ConfigError",
    "Cooccurrence",
    "DatagraphError",
    "HashtagMapper",
    "InputDataError",
    "LabelGraph",
    "NormalizedTag",
    "Normalizer",
    "PostBatch",
    "Segmenter",
    "Synset",
    "Taxonomy",
    "TaxonomyClass",
    "TaxonomyError",
    "WordNet",
    "aggregate_batches",
    "cooccurrence_counts",
    "extract_hashtags",
    "load_taxonomy",
    "map_hashtags",
    "merge_counts",
    "normalize_hashtag",
    "read_posts",
    "segment",
    "synset_post_counts",
]
