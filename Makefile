# `make demo` and `make test` do all set-up on a fresh machine: a virtual environment with the
# pinned CPU build of PyTorch (constraints.txt), the package, and the data sets they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install data demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

data: install
	$(BIN)/vaekit data fetch all

demo: install
	$(BIN)/vaekit data fetch mnist
	rm -rf runs/demo
	$(BIN)/vaekit train --data mnist --model vae --backbone mlp --latent-dim 20 --epochs 10 --out runs/demo
	$(BIN)/vaekit sample runs/demo -n 64
	$(BIN)/vaekit reconstruct runs/demo -n 32
	@echo "demo done: samples in runs/demo/sample.png, per-epoch grids in runs/demo/grids/"

test: data
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests benchmarks

bench: install
	$(BIN)/python benchmarks/speed.py

clean:
	rm -rf $(VENV) runs build *.egg-info
