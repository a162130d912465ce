"""Where the project's own data lives: the taxonomy/ snapshot and sample_data/.

datagraph is run from a checkout (``pip install -e .``); its data directories sit beside the
package. ``DATAGRAPH_TAXONOMY_DIR`` and ``DATAGRAPH_SAMPLE_DIR`` point elsewhere when needed
(a wheel install, a shared read-only copy on a cluster).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def taxonomy_dir() -> Path:
    """Directory holding the WordNet snapshot, stoplists and alias overrides."""
    return Path(os.environ.get("DATAGRAPH_TAXONOMY_DIR", PROJECT_ROOT / "taxonomy"))


def wordnet_snapshot_dir() -> Path:
    """Directory of the compiled WordNet 3.0 noun snapshot (Parquet files)."""
    return taxonomy_dir() / "wordnet30"


def sample_data_dir() -> Path:
    """Directory of the committed sample posts and the sample LVIS-format categories file."""
    return Path(os.environ.get("DATAGRAPH_SAMPLE_DIR", PROJECT_ROOT / "sample_data"))
