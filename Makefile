# Everything a developer or CI needs, from a machine with only python3, pip and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
# A plain path entry rather than setuptools' import hook, so that mypy (which cannot
# follow the hook) finds the package and its py.typed from any directory.
EDITABLE := --config-settings editable_mode=compat -e
# Everything `make test` exercises: tools, benchmark contenders (smoke mode), frameworks, docs.
DEV_EXTRAS := test,bench,frameworks,docs

.PHONY: demo test lint typecheck pytest bench docs test-matrix clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# A stamp per install; editing pyproject.toml reinstalls.
$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(PIP) install $(EDITABLE) .
	touch $@

# `pyright --version` makes pyright fetch its npm package now, not in the middle of a test.
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install $(EDITABLE) '.[$(DEV_EXTRAS)]'
	$(BIN)/pyright --version
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

# Every Python from 3.10 to 3.13 found on PATH or under pyenv, each in its own .venv-3.X.
# The docs site is built by `make test` only: its plugins resolve to mismatched releases
# on older interpreters, and the site does not depend on the Python version.
PYENV_ROOT ?= $(HOME)/.pyenv
test-matrix:
	@set -e; found=0; for v in 3.10 3.11 3.12 3.13; do \
	  py=$$(ls -d $(PYENV_ROOT)/versions/$$v.*/bin/python 2>/dev/null | tail -n 1); \
	  [ -n "$$py" ] || py=$$(command -v python$$v || true); \
	  if [ -z "$$py" ] || ! "$$py" -c '' 2>/dev/null; then echo "== Python $$v: not found, skipped"; continue; fi; \
	  found=1; echo "== Python $$v: $$py"; \
	  [ -x .venv-$$v/bin/python ] || "$$py" -m venv .venv-$$v; \
	  .venv-$$v/bin/python -m pip --disable-pip-version-check -q install $(EDITABLE) '.[$(DEV_EXTRAS)]'; \
	  .venv-$$v/bin/python -m pytest -q -p no:cacheprovider \
	    --deselect tests/test_docs.py::test_the_site_builds_with_no_warning; \
	done; [ $$found = 1 ]

clean:
	rm -rf $(VENV) .venv-3.* .mypy_cache .ruff_cache .pytest_cache .hypothesis build *.egg-info site
