#!/usr/bin/env bash
# Private training benchmark for the performance log: seconds per epoch and bytes per sample of
# the MLP (digits, 64 features) and LeNet (digits zero-padded to 1x28x28) on 2pc-ttp and
# 3pc-replicated, one epoch over the 1,437 training samples, batch 32, and the plaintext run of
# the same configuration. Prints one JSON line per run (testbed train --json).
#
#   scripts/bench-train.sh [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS="${1:-1}"
BIN=target/release/testbed
[ -x "$BIN" ] || cargo build --release
for model in mlp lenet; do
  data=digits
  [ "$model" = lenet ] && data=digits-28x28
  for proto in plaintext 2pc-ttp 3pc-replicated; do
    "$BIN" train --model "$model" --data "$data" --epochs "$EPOCHS" --batch 32 --lr 0.1 \
      --protocol "$proto" --seed 1 --json | tail -n 1
  done
done
