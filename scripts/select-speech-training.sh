#!/usr/bin/env bash
# Chooses the training settings of experiments/wav2letter.yaml's keyword model on the synthetic
# VALIDATION voices (data set `speech-synth-val`: 4 espeak-ng voice variants that neither train
# nor test), never on a test set. Trains each setting of a small grid in plaintext (Adam,
# batches of 32, seed 1 like the experiment) and prints one line per setting with its validation
# top-1; the best goes into the experiment's `train:` section.
#
#   scripts/select-speech-training.sh            (about 10 minutes on 2 cores)
#
# Needs scripts/fetch-data.sh speech and a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${TESTBED_BIN:-target/release/testbed}"
[ -x "$BIN" ] || { echo "error: $BIN not found; run cargo build --release" >&2; exit 1; }
printf 'epochs\tlr\tweight_decay\tval_top1\ttrain_top1\n'
for epochs in 3 6; do
  for lr in 0.001 0.0003; do
    for wd in 0 0.001; do
      json="$("$BIN" train --model wav2letter_kws --data speech-synth-val --optimizer adam --batch 32 --seed 1 \
        --epochs "$epochs" --lr "$lr" --weight-decay "$wd" --json | tail -n 1)"
      python3 -c 'import json, sys; r = json.loads(sys.argv[1]); print("\t".join(sys.argv[2:] + ["%.4f" % r["test_accuracy"], "%.4f" % r["train_accuracy"]]))' \
        "$json" "$epochs" "$lr" "$wd"
    done
  done
done
