#!/usr/bin/env bash
# Runs the headline benchmarks of docs/performance.md and prints them as markdown rows:
# | case | protocol | transport | wall s (median) | rounds | MB sent per party | offline MB | max abs err |
set -euo pipefail
cd "$(dirname "$0")/.."
# TESTBED_BIN=path runs another build (e.g. before/after a change, in one session on one machine).
if [ -n "${TESTBED_BIN:-}" ]; then
  T="$TESTBED_BIN"
else
  T=target/release/testbed
  cargo build --release --quiet
fi
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(grep -o -m1 'avx512f' /proc/cpuinfo || echo 'no avx512'), $(nproc) cores; binary: $T" >&2
row() {
  local label="$1"; shift
  "$T" "$@" --json | python3 -c '
import json, sys
j = json.loads(sys.stdin.read().splitlines()[-1])
mb = max(j["bytes_sent_per_party"]) / 1e6
off = j["bytes_offline_total"] / 1e6
print("| %s | %s (%d) | %s | %.4f | %d | %.2f | %.2f | %.1e |" % (sys.argv[1], j["protocol"], j["parties"], j["transport"], j["wall_s"], j["rounds"], mb, off, j["max_abs_err"]))
' "$label"
}
echo "| case | protocol (N) | transport | wall s | rounds | MB sent/party | offline MB | max abs err |"
echo "|---|---|---|---|---|---|---|---|"
row "mul 1M" bench op --protocol 2pc-ttp --op mul --shape 1000000 --shape 1000000 --reps 5
row "matmul 1024^3" bench op --protocol 2pc-ttp --op matmul --shape 1024x1024 --shape 1024x1024 --reps 3
row "conv2d 1x64x56x56, 64 3x3, pad 1" bench op --protocol 2pc-ttp --op conv2d --shape 1x64x56x56 --shape 64x64x3x3 --padding 1 --reps 5
row "ReLU 1M" bench op --protocol 2pc-ttp --op relu --shape 1000000 --reps 3
row "ReLU 1M" bench op --protocol 3pc-replicated --op relu --shape 1000000 --reps 3
row "less-than 1M" bench op --protocol 2pc-ttp --op lt --shape 1000000 --shape 1000000 --reps 3
row "exp 100k" bench op --protocol 2pc-ttp --op exp --shape 100000 --reps 5
row "reciprocal 100k" bench op --protocol 2pc-ttp --op reciprocal --shape 100000 --reps 5
row "sigmoid 100k" bench op --protocol 2pc-ttp --op sigmoid --shape 100000 --reps 5
row "softmax 10000x10" bench op --protocol 2pc-ttp --op softmax --shape 10000x10 --reps 3
row "matmul 1024^3" bench op --protocol 2pc-ttp --op matmul --shape 1024x1024 --shape 1024x1024 --reps 3 --transport tcp --no-tls
row "ReLU 1M" bench op --protocol 2pc-ttp --op relu --shape 1000000 --reps 3 --transport tcp --no-tls
row "ReLU 1M (TLS)" bench op --protocol 2pc-ttp --op relu --shape 1000000 --reps 3 --transport tcp
row "LeNet batch 1" bench model --model lenet --input-shape 1x1x28x28 --protocol 2pc-ttp --reps 3
row "LeNet batch 64" bench model --model lenet --input-shape 64x1x28x28 --protocol 2pc-ttp --reps 3
row "ResNet-18 1x3x32x32" bench model --model resnet18 --input-shape 1x3x32x32 --protocol 2pc-ttp
row "Wav2Letter 1x40x100 (public model)" bench model --model wav2letter --input-shape 1x40x100 --protocol 2pc-ttp --public-model --reps 3
row "Wav2Letter 1x40x100 (private model)" bench model --model wav2letter --input-shape 1x40x100 --protocol 2pc-ttp
