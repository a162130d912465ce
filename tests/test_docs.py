"""The examples in docs/ and in module docstrings are real: run them as doctests."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
MODULES = (
    "datagraph.errors",
    "datagraph.segment",
    "datagraph.normalize",
    "datagraph.text_clean",
    "datagraph.mapping",
    "datagraph.corpus_context",
    "datagraph.graph",
    "datagraph.cooccurrence",
)


@pytest.mark.parametrize("name", ["normalization.md", "mapping.md", "graph.md"])
def test_doc_examples(name):
    result = doctest.testfile(str(DOCS / name), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
