"""Shared fixtures: the WordNet snapshot and the external data in ../shared/data (optional)."""

from __future__ import annotations

from pathlib import Path

import pytest

from datagraph.wordnet import WordNet

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def wn() -> WordNet:
    return WordNet.load()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip: the project must run without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"external data not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return PROJECT_ROOT / "sample_data"
