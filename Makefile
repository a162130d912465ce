# Two commands on a fresh machine: `make demo` (set up + run the main job on sample_data/)
# and `make test` (set up + run the tests). Setup is idempotent and offline apart from PyPI/apt.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench wordnet clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock scripts/setup.sh
	VENV=$(VENV) PYTHON=$(PYTHON) sh scripts/setup.sh
	touch $@

demo: setup
	$(BIN)/datagraph demo

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python benchmarks/taxonomy_load.py
	$(BIN)/python benchmarks/segmentation.py
	$(BIN)/python benchmarks/normalization.py
	$(BIN)/python benchmarks/mapping.py
	$(BIN)/python benchmarks/graph.py
	$(BIN)/python benchmarks/readers.py
	$(BIN)/python benchmarks/shuffle_bytes.py
	$(BIN)/python benchmarks/corpus_embedding.py
	$(BIN)/python benchmarks/pipeline.py --sizes 100000

wordnet: setup
	$(BIN)/datagraph taxonomy build

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
