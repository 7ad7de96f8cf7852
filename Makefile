# OdeaDev TTS — the two commands a fresh machine needs: `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test deps build release fmt clippy unit bench

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
