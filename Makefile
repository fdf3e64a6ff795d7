.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python

.PHONY: help
help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "} {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

.PHONY: install-dev
install-dev: ## Install the package (editable, release build) with test and lint dependencies
	$(PYTHON) -m pip install -e '.[test,lint]'

.PHONY: build-dev
build-dev: ## Rebuild the extension in place after Rust changes (release profile)
	maturin develop --release

.PHONY: fmt
fmt: ## Format Rust and Python code
	cargo fmt --all
	ruff format .
	ruff check --fix .

.PHONY: lint
lint: ## cargo fmt --check, clippy -D warnings, the core's docs (missing_docs), ruff, mypy --strict, stubtest
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc -p otlp --no-deps --locked -q
	ruff check .
	mypy
	$(PYTHON) -m mypy.stubtest otlp._native --allowlist .stubtest-allowlist

.PHONY: test-rust
test-rust: ## Rust unit and integration tests, and the core's three-signal example against the embedded receiver
	cargo test --workspace --locked
	cargo run --locked -q -p otlp --example three_signals

.PHONY: test-python
test-python: ## pytest (hypothesis profile from HYPOTHESIS_PROFILE, default "dev"); no tests collected is a failure
	@$(PYTHON) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; exit $$rc

.PHONY: test
test: lint test-rust test-python ## Everything CI runs: lint, Rust tests, Python tests

.PHONY: check
check: test ## Same as test

.PHONY: supply-chain
supply-chain: ## cargo-deny bans, licenses and sources (offline; deny.toml) and the extension's crate count (ceiling 80)
	@cargo deny --version >/dev/null 2>&1 || cargo install --locked cargo-deny
	cargo deny --offline check bans licenses sources
	$(PYTHON) scripts/crates.py count --ceiling 80

.PHONY: wheels
wheels: ## Build and check the sdist and the manylinux/musllinux wheels (scripts/build-wheels), then test the installed manylinux wheel without Rust (scripts/test-wheel)
	scripts/build-wheels
	scripts/test-wheel

# Line coverage floors (percent): the figures `make coverage` measured, rounded down (the
# full Rust figure, 96.1%, one more point: it moves by a few lines from run to run), so
# that a real drop fails the run. rust/otlp counts the Rust tests and the Python suite; the quick
# `coverage-rust` check counts the Rust tests alone, hence its lower floor.
COVERAGE_FLOOR_RUST ?= 95
COVERAGE_FLOOR_PYTHON ?= 93
COVERAGE_FLOOR_RUST_TESTS ?= 85

.PHONY: coverage
coverage: ## Line coverage with floors: rust/otlp (Rust tests + Python suite) and python/otlp; leaves an instrumented extension (make build-dev rebuilds the normal one)
	RUST_FLOOR=$(COVERAGE_FLOOR_RUST) PYTHON_FLOOR=$(COVERAGE_FLOOR_PYTHON) PYTHON=$(PYTHON) scripts/coverage full

.PHONY: coverage-rust
coverage-rust: ## Line coverage of rust/otlp over the Rust tests alone, with its own floor (a few minutes)
	RUST_TESTS_FLOOR=$(COVERAGE_FLOOR_RUST_TESTS) PYTHON=$(PYTHON) scripts/coverage rust

.PHONY: bench
bench: ## Side-by-side benchmarks against the official exporter
	$(PYTHON) benches/e2e_traces.py

.PHONY: demo
demo: ## python -m otlp demo
	$(PYTHON) -m otlp demo
