# `make test` is the README's test command and what CI runs (.ci/run).
PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: test test-deps dev check lint bench wheel wheel-test test-portable-core docs clean

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
# after a Rust change): the core's unit tests and the suite less the slow tests, on one
# pytest worker per CPU when pytest-xdist (the dev extra) is installed
check:
	cargo test --lib -q
	cd tests && $(PYTHON) -m pytest -q -x -p no:cacheprovider --rootdir=.. -c ../pyproject.toml -m "not slow" \
		$$($(PYTHON) -c "import xdist" 2>/dev/null && echo "-n auto") .

# a stripped abi3 wheel tagged manylinux_2_17 (zig from PyPI links it against an old glibc)
# and an sdist, in dist/
wheel:
	$(PIP) install --quiet "maturin>=1.7,<2" ziglang
	$(PYTHON) -m maturin build --release --strip --zig --compatibility manylinux_2_17 -o dist
	$(PYTHON) -m maturin sdist -o dist

# the wheel installed into a fresh virtual environment with no Rust toolchain on PATH,
# and the test suite run against it, with the wheel's portable kernels run on emulated
# processors without AVX (test_portable.py: needs qemu-x86_64, else it is skipped)
wheel-test: wheel
	rm -rf build/wheel-venv
	$(PYTHON) -m venv build/wheel-venv
	build/wheel-venv/bin/pip install --quiet "$$(ls dist/iuvs-*manylinux*.whl | head -1)[test]"
	cd tests && env PATH=$(CURDIR)/build/wheel-venv/bin:/usr/bin:/bin \
		python -c "import shutil, sys; sys.exit(shutil.which('cargo') is not None)" && \
		env PATH=$(CURDIR)/build/wheel-venv/bin:/usr/bin:/bin \
		python -m pytest -q -p no:cacheprovider --rootdir=.. -c ../pyproject.toml -m "not slow" . && \
		env PATH=$(CURDIR)/build/wheel-venv/bin:/usr/bin:/bin \
		python -m pytest -q -p no:cacheprovider --rootdir=.. -c ../pyproject.toml test_portable.py

# the core's unit tests (the debug build `cargo test` made) on emulated processors (qemu-user):
# the x86-64 baseline (qemu64: SSE2 only) and AVX without AVX2/FMA (SandyBridge); the cpu test
# asserts the build of the kernels that ran (IUVS_EXPECT_KERNEL); -x2apic,-tsc-deadline: two
# flags of the model that qemu's emulator lacks and would warn about
test-portable-core:
	exe=$$(cargo test --lib --no-run --message-format=json 2>/dev/null | $(PYTHON) -c \
		"import json, sys; print([m['executable'] for m in map(json.loads, sys.stdin) if m.get('executable')][-1])") && \
		IUVS_EXPECT_KERNEL=baseline qemu-x86_64 -cpu qemu64 $$exe -q && \
		IUVS_EXPECT_KERNEL=avx qemu-x86_64 -cpu SandyBridge,-x2apic,-tsc-deadline $$exe -q

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

# the documentation site in docs/_build/html, warnings as errors; its figures are drawn at build
# time from synthetic files (the API pages are generated into docs/api/generated). The docs extra
# goes into its own environment, build/docs-venv, which sees the packages already installed
# (iuvs after `make test`, numpy, astropy, matplotlib ...): Sphinx needs a newer docutils than
# some system tools pin (awscli 1.x), so it is not installed beside them. docs/install_env.py
# installs the docs extra there, and the package only when it is not importable yet.
DOCS_VENV := build/docs-venv
docs:
	$(PYTHON) -m venv --system-site-packages $(DOCS_VENV)
	$(DOCS_VENV)/bin/python docs/install_env.py
	rm -rf docs/api/generated
	$(DOCS_VENV)/bin/python -m sphinx -E -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf target build dist .pytest_cache .mypy_cache .ruff_cache docs/_build docs/api/generated
