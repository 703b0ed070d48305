# The two commands a new user needs: `make train` and `make test`. Both build .venv first when it
# is missing or older than pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: help venv train test test-fast lint format bench sweep gpu-check

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## build .venv (python -m venv, torch, this package with its dev extra); then: source .venv/bin/activate
venv: $(STAMP)

## train the default experiment on the built-in data set (extra Hydra overrides: make train ARGS="...")
train: venv
	$(BIN)/python -m emotion_lab.train $(ARGS)

## lint, then the whole test suite (unit + end-to-end)
test: venv
	$(BIN)/ruff check emotion_lab hydra_plugins tests
	$(BIN)/python -m pytest -q

## the tests not marked slow (seconds to a few minutes)
test-fast: venv
	$(BIN)/python -m pytest -q -m "not slow"

## ruff check of the package and the tests
lint: venv
	$(BIN)/ruff check emotion_lab hydra_plugins tests

## ruff format and the fixable lint rules, applied in place
format: venv
	$(BIN)/ruff format emotion_lab hydra_plugins tests
	$(BIN)/ruff check --fix emotion_lab hydra_plugins tests

## throughput of our Lightning pipeline against a plain PyTorch loop (and sweep overheads)
bench: venv
	$(BIN)/python -m emotion_lab.bench $(ARGS)
	$(BIN)/python -m emotion_lab.bench.data
	$(BIN)/python -m emotion_lab.bench.ddp --ranks 2
	$(BIN)/python -m emotion_lab.bench.sweep --trials 3

## the GPU path measured on a CUDA machine (says so and exits 0 without one); see docs/performance.md
gpu-check: venv
	$(BIN)/python -m emotion_lab.bench.gpu_check $(ARGS)

SWEEP ?= default
SWEEPER ?=
WORKERS ?= 1
## a named sweep from sweeps/ (make sweep SWEEP=vire_hyperopt SWEEPER=hyperopt WORKERS=2)
## Ctrl-C stops every worker and its trials (recorded as interrupted; re-run to resume)
sweep: venv
	$(BIN)/python -m hydra_plugins.emotion_lab_sweeper.workers $(WORKERS) -- \
	  $(BIN)/python -m emotion_lab.train -m --config-dir sweeps --config-name $(SWEEP) \
	  $(if $(SWEEPER),hydra/sweeper=$(SWEEPER)) $(ARGS)

## this list: every target with the ## comment above it
help:
	@awk '/^## /{doc = doc (doc == "" ? "" : "\n                ") substr($$0, 4); next} \
	  /^[a-z][a-z-]*:/{if (doc != "") printf "  %-14s%s\n", substr($$1, 1, length($$1) - 1), doc} \
	  {doc = ""}' $(firstword $(MAKEFILE_LIST))
