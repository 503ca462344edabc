# The README's two commands, `make run` and `make test`. Each creates .venv with what it needs (the
# versions in requirements/constraints.txt, which the suite last passed with), then runs.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
OUT    ?= reports
LOCK    = requirements/constraints.txt
EXTRAS  = dev,docs,sklearn,serve
BUDGET ?= full

.PHONY: run test quick docs bench fuzz test-latest lock clean

$(BIN)/handgrad: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip -c $(LOCK)
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[$(EXTRAS)]'
	touch $@

## run: reproduce every published experiment and write the reports to $(OUT)/ (about 105 minutes on 2 cores)
run: $(BIN)/handgrad
	$(BIN)/handgrad reproduce all --out $(OUT)

## quick: the same pipeline on reduced budgets (about 4 minutes: 216 s on 2 cores)
quick: $(BIN)/handgrad
	$(BIN)/handgrad reproduce all --quick --out $(OUT)-quick

## test: the test suite (tests on the real data run when HANDGRAD_DATA is set)
test: $(BIN)/handgrad
	$(BIN)/python -m pytest -q

## docs: the documentation site in site/ (executes the tutorials at BUDGET=full, about 10 minutes on
## 2 cores; make docs BUDGET=reduced for a quick look; executed notebooks are cached in .cache/docs)
docs: $(BIN)/handgrad
	@# (the two variables silence a banner about a future MkDocs 2, which this site does not use)
	HANDGRAD_BUDGET=$(BUDGET) NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(BIN)/mkdocs build --strict

## fuzz: the randomised fuzzing of the file readers, many examples (the default suite runs fixed ones)
fuzz: $(BIN)/handgrad
	$(BIN)/python -m pytest -q -m fuzz tests/test_fuzz_readers.py

## test-latest: the suite against the newest versions pyproject.toml allows, in .venv-latest, so that
## drift shows here before a user meets it (run it on a schedule; `make lock` then records them)
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --upgrade pip
	.venv-latest/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[$(EXTRAS)]'
	.venv-latest/bin/python -m pytest -q

## lock: record the versions of .venv-latest (after test-latest passed) as the tested lock
lock:
	test -x .venv-latest/bin/python || { echo "run make test-latest first"; exit 1; }
	{ sed -n '1,3p' $(LOCK); echo "pip==$$(.venv-latest/bin/python -m pip --version | cut -d' ' -f2)"; \
	  .venv-latest/bin/python -m pip freeze --exclude-editable | grep -v '^-e'; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)

## bench: handgrad against PyTorch on the CPU, and the surnames models against scikit-learn (installs the bench extra)
bench: $(BIN)/handgrad
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[$(EXTRAS),bench]'
	$(BIN)/python benchmarks/bench_linear.py
	$(BIN)/python benchmarks/bench_mlp.py
	$(BIN)/python benchmarks/bench_bn.py
	$(BIN)/python benchmarks/bench_conv_variants.py
	$(BIN)/python benchmarks/bench_convnet_torch.py
	$(BIN)/python benchmarks/bench_sklearn.py
	$(BIN)/python benchmarks/bench_surnames.py
	$(BIN)/python benchmarks/bench_rnn.py

clean:
	rm -rf $(VENV) .venv-latest .pytest_cache site .cache/docs
