# Everything a developer or CI needs, from a machine with only python3, pip and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
# A plain path entry rather than setuptools' import hook, so that mypy (which cannot
# follow the hook) finds the package and its py.typed from any directory.
EDITABLE := --config-settings editable_mode=compat -e
# Everything `make test` exercises: tools, benchmark contenders (smoke mode), frameworks, docs,
# and the release build (tests/test_packaging.py builds the sdist and the wheel).
DEV_EXTRAS := test,bench,frameworks,docs,dist

.PHONY: demo test lint typecheck pytest bench docs screenshots dist test-matrix clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# A stamp per install; editing pyproject.toml reinstalls.
$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(PIP) install $(EDITABLE) .
	touch $@

$(VENV)/.installed-dist: pyproject.toml | $(BIN)/python
	$(PIP) install $(EDITABLE) '.[dist]'
	touch $@

# The docs site needs the package and the `docs` extra only, not the development tools.
$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(PIP) install $(EDITABLE) '.[docs]'
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

# The whole suite on the default loop (uvloop, installed by the test extra), then the
# reliability tests and the engine's own on the stock asyncio loop.
STOCK_LOOP_TESTS := tests/reliability tests/test_run_async_task.py tests/test_timeouts.py \
	tests/test_interrupts.py tests/test_lifecycle.py tests/test_threads_and_context.py \
	tests/test_decorators.py tests/test_async_generators.py tests/test_logging.py
pytest: $(VENV)/.installed-dev
	$(BIN)/python -m pytest
	SINCPRO_TEST_LOOP=asyncio $(BIN)/python -m pytest -q $(STOCK_LOOP_TESTS)

test: lint typecheck pytest

# The full benchmark suite (about 15 minutes on two cores); results land in
# docs/performance.md. It measures the default Python and, when one is found under pyenv or
# on PATH, Python 3.12 too, in its own .venv-3.12 with what its benchmark children import.
# Extra options for benchmarks.run: make bench BENCH_ARGS=--split
BENCH_ARGS ?=
bench: $(VENV)/.installed-dev
	@set -e; pythons="--python $(BIN)/python"; \
	py=$$(ls -d $(PYENV_ROOT)/versions/3.12.*/bin/python 2>/dev/null | tail -n 1); \
	[ -n "$$py" ] || py=$$(command -v python3.12 || true); \
	if $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] == (3, 12))' \
	    && [ -n "$$py" ] && "$$py" -c '' 2>/dev/null; then \
	  [ -x .venv-3.12/bin/python ] || "$$py" -m venv .venv-3.12; \
	  [ .venv-3.12/.installed-bench -nt pyproject.toml ] || { \
	    .venv-3.12/bin/python -m pip --disable-pip-version-check -q install \
	      $(EDITABLE) '.[bench,uvloop]' && touch .venv-3.12/.installed-bench; }; \
	  pythons="$$pythons --python .venv-3.12/bin/python"; \
	else echo "== Python 3.12: not found, or the default; measuring one Python"; fi; \
	$(BIN)/python -m benchmarks.run $$pythons $(BENCH_ARGS)

docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Checks every page of the site at 1280 px for a cut-off table or code block, and shoots
# the index, reference and performance pages into docs/img/screenshots/ (described in
# docs/README.md). Installs Debian's chromium if it is missing; not part of `make test`.
# Re-run it after `make bench` regenerates docs/performance.md.
screenshots: docs
	@command -v chromium >/dev/null 2>&1 || { apt-get update && apt-get install -y chromium; }
	$(BIN)/python docs/screenshots.py site docs/img/screenshots

# The release files, as an upload to the package index needs them: the sdist and the wheel
# in dist/, built in an isolated environment from the declared build requirements only,
# then checked by twine. Stale build/ and egg-info are removed first: setuptools would
# otherwise reuse an old file list.
dist: $(VENV)/.installed-dist
	rm -rf dist build *.egg-info
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*

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
	    --deselect tests/test_docs.py::TestTheBuiltSite; \
	done; [ $$found = 1 ]

clean:
	rm -rf $(VENV) .venv-3.* .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist *.egg-info site
