# `make test` is the README's test command and what CI runs (.ci/run).
PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: test test-deps dev check lint bench clean

test-deps:
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet ".[test]"

test: test-deps
	cargo test
	cd tests && $(PYTHON) -m pytest -q -p no:cacheprovider --rootdir=.. -c ../pyproject.toml .
	cd tests && $(PYTHON) -m pytest -q -p no:cacheprovider --rootdir=.. -c ../pyproject.toml --doctest-modules --pyargs iuvs

dev:
	$(PIP) install -e ".[test,plot,dev]"

# the developer's fast loop after `make dev` (Python edits are live; rerun `make dev`
# after a Rust change): the core's unit tests and the suite less the slow tests
check:
	cargo test --lib -q
	cd tests && $(PYTHON) -m pytest -q -x -p no:cacheprovider --rootdir=.. -c ../pyproject.toml -m "not slow" .

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings
	ruff check python tests benches
	ruff format --check python tests benches
	mypy

bench:
	$(PIP) install --quiet ".[test]"
	$(PYTHON) benches/bench_vs_reference.py
	$(PYTHON) benches/bench_median.py
	$(PYTHON) benches/bench_combine.py
	$(PYTHON) benches/bench_read.py
	$(PYTHON) benches/bench_survey.py --quick

clean:
	rm -rf target build dist .pytest_cache .mypy_cache .ruff_cache
