# promosim: everything a fresh machine needs, from Python >= 3.11 and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-all lint reference bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "promosim needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,cluster]"
	touch $(STAMP)

## demo: install, validate the bundled plans, run Monte Carlo replicates of the Double 11 baseline
## (500,000 simulated shoppers standing for the plan's 200 M, 12 replicates, two side by side: 15-20 s
## once numba's cache is warm; the first run compiles the kernels for about a minute more)
demo: $(STAMP)
	$(BIN)/promosim validate scenarios/*.toml
	$(BIN)/promosim run scenarios/double11_baseline.toml --replicates 12 --shoppers 500000 --out results/double11_baseline.nc

## test: install, then run the test suite (slow tests excluded; see test-all)
test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ""

lint: $(STAMP)
	$(BIN)/ruff check sim tests benchmarks
	$(BIN)/ruff format --check sim tests benchmarks
	$(BIN)/mypy

## bench: the shopper benchmark, small version (the full one: python benchmarks/shoppers.py)
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/shoppers.py --quick

## reference: regenerate docs/scenario-reference.md from the models
reference: $(STAMP)
	$(BIN)/promosim keys --out docs/scenario-reference.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
