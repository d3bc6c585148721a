#!/usr/bin/env bash
# Installs what the build and the tests need. Today that is only the Rust toolchain that the
# machine already has; data sets arrive with scripts/fetch-data.sh when experiments need them.
set -euo pipefail
if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found; install Rust 1.89 or newer (https://rustup.rs)" >&2
  exit 1
fi
cargo fetch --quiet
