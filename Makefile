# Everything a developer or CI needs, from a machine with only python3, pip and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
# Everything `make test` exercises: tools, benchmark contenders (smoke mode), frameworks, docs.
DEV_EXTRAS := test,bench,frameworks,docs

.PHONY: demo test lint typecheck pytest bench docs test-matrix clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# A stamp per install; editing pyproject.toml reinstalls.
$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[$(DEV_EXTRAS)]'
	touch $@

demo: $(VENV)/.installed-base
	$(BIN)/python examples/quickstart.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

pytest: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

test: lint typecheck pytest

# The full benchmark suite (minutes); results land in docs/performance.md.
bench: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks.run

docs: $(VENV)/.installed-dev
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build *.egg-info site
