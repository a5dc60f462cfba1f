# The README's quick start is exactly `make demo` and `make test`; everything they need is here.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Separate compile caches per checkout so that parallel runs never lock each other's cache.
export PYTENSOR_FLAGS ?= base_compiledir=$(CURDIR)/.venv/.pytensor
export MPLBACKEND ?= Agg

.PHONY: demo test test-slow docs docs-fast bench lint clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: $(VENV)/bin/python pyproject.toml
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install --quiet -e ".[test]"
	touch $@

$(VENV)/.installed-docs: $(VENV)/.installed
	$(PIP) install --quiet -e ".[docs]"
	touch $@

## demo: install pyramid in .venv, fit the reference data, print the comparison table, write Figure 4
demo: $(VENV)/.installed
	$(VENV)/bin/pyramid demo --out pyramid-output

## test: install the test extras and run the default (not slow) test suite
test: $(VENV)/.installed-test
	$(PY) -m pytest

## test-slow: the recovery and calibration tests (minutes to hours)
test-slow: $(VENV)/.installed-test
	$(PY) -m pytest -m slow

## docs: build the Sphinx site with the executed gallery into docs/_build/html
docs: $(VENV)/.installed-docs
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

## docs-fast: the same site without executing the gallery (CI builds the full site: .ci/run)
docs-fast: $(VENV)/.installed-docs
	$(VENV)/bin/sphinx-build -W --keep-going -D plot_gallery=0 -b html docs docs/_build/html

## bench: the speed benchmarks (each prints its figures and ratios; minutes, not seconds)
bench: $(VENV)/.installed-test
	$(PY) benchmarks/models_vs_bambi.py
	$(PY) benchmarks/many_fits.py
	$(PY) benchmarks/national.py --quick
	$(PY) benchmarks/checks.py

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build dist docs/_build docs/gallery pyramid-output
