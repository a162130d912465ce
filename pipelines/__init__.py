"""Apache Beam pipelines over the datagraph library (build_graph, build_shards, score_noise).

Thin PTransforms only: the logic lives in :mod:`datagraph`. The pipelines arrive with their
issues; this package exists so ``python -m pipelines.<name>`` has a home.
"""
