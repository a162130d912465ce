"""Apache Beam pipelines over the datagraph library (build_graph; build_shards and score_noise
arrive with their issues).

Thin PTransforms only: the logic lives in :mod:`datagraph`. Run one with
``python -m pipelines.<name>`` or ``datagraph run <name>``.
"""

import logging


class _DropBeamImportNoise(logging.Filter):
    """Beam logs "apitools not found ..." on the root logger at import when the optional GCP
    client is absent; it is not a problem for datagraph, so it is not shown."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


logging.getLogger().addFilter(_DropBeamImportNoise())
