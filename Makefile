# The README's two commands. Each creates .venv with what it needs, then runs.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
OUT    ?= reports

.PHONY: run test quick bench clean

$(BIN)/handgrad: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,sklearn,serve]'
	touch $@

## run: reproduce every published experiment and write the reports to $(OUT)/
run: $(BIN)/handgrad
	$(BIN)/handgrad reproduce all --out $(OUT)

## quick: the same pipeline on reduced budgets (a few minutes)
quick: $(BIN)/handgrad
	$(BIN)/handgrad reproduce all --quick --out $(OUT)-quick

## test: the test suite (tests on the real data run when HANDGRAD_DATA is set)
test: $(BIN)/handgrad
	$(BIN)/python -m pytest -q

## bench: handgrad against PyTorch on the CPU, and the surnames models against scikit-learn (installs the bench extra)
bench: $(BIN)/handgrad
	$(BIN)/python -m pip install --quiet -e '.[dev,sklearn,serve,bench]'
	$(BIN)/python benchmarks/bench_linear.py
	$(BIN)/python benchmarks/bench_mlp.py
	$(BIN)/python benchmarks/bench_bn.py
	$(BIN)/python benchmarks/bench_conv_variants.py
	$(BIN)/python benchmarks/bench_convnet_torch.py
	$(BIN)/python benchmarks/bench_sklearn.py
	$(BIN)/python benchmarks/bench_surnames.py
	$(BIN)/python benchmarks/bench_rnn.py

clean:
	rm -rf $(VENV) .pytest_cache
