# OdeaDev TTS — the two commands a fresh machine needs: `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test deps release sdk-test bench

## Installs what the project needs beyond the Rust toolchain (eSpeak NG for the local engine).
deps:
	@command -v espeak-ng >/dev/null 2>&1 || { \
		echo "installing espeak-ng (Debian package) for the local speech engine"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq espeak-ng; }

release: deps
	$(CARGO) build --release --locked -p odeadev-tts

## Builds, migrates and serves on ODEADEV_BIND (default 127.0.0.1:8000) with SQLite in ./odeadev.db.
run: release
	./target/release/odeadev-tts serve

## Format check, clippy with warnings as errors, and the whole test suite.
test: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(CARGO) test --locked --workspace
	$(MAKE) sdk-test

SDK_VENV := target/sdk-venv

## The official OpenAI Python SDK against /v1/audio/speech (debug builds, loopback only).
sdk-test:
	$(CARGO) build --locked --workspace
	@[ -x $(SDK_VENV)/bin/python ] || python3 -m venv $(SDK_VENV)
	@$(SDK_VENV)/bin/pip install -q --disable-pip-version-check -r tests/openai_sdk/requirements.txt
	$(SDK_VENV)/bin/python tests/openai_sdk/test_openai_sdk.py

## Loopback benchmark: gateway vs the MiniMax simulator, SQLite (and PostgreSQL when
## BENCH_DATABASE_URL or TEST_DATABASE_URL is set); report in bench/results.md. See bench/README.md.
bench:
	bash bench/run.sh
