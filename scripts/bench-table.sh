#!/usr/bin/env bash
# The benchmark table of docs/performance.md, one section per machine kind:
#   scripts/bench-table.sh [headline|ops|all]      (default: all)
# headline: each workload over TCP + TLS, plain TCP and the simulator (three processes over
#   loopback for TCP), with the TLS/TCP and TCP/sim ratios and, when CRYPTEN_JSONL names the
#   output of ../shared/tools/crypten-bench/run.sh from the same session, CrypTen's median and the
#   ratio against ours over TCP + TLS.
# ops: the other op and model rows, in the simulator.
# Every figure is the median of REPS (default 3) measured repetitions after one warm-up
# (`--warmup 1`), the dealer running ahead; "online only" is the same with the dealer's randomness
# delivered before each run (`online_wall_s`). The first line names the machine: CPU model, vector flags, cores.
# TESTBED_BIN=path runs another build (before/after a change, in one session on one machine).
set -euo pipefail
cd "$(dirname "$0")/.."
section=${1:-all}
case "$section" in headline | ops | all) ;; *) echo "usage: $0 [headline|ops|all]" >&2; exit 2 ;; esac
if [ -n "${TESTBED_BIN:-}" ]; then
  T="$TESTBED_BIN"
else
  T=target/release/testbed
  cargo build --release --quiet
fi
REPS=${REPS:-3}
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|avx512f|avx512ifma|vaes|vpclmulqdq|aes' | sort -u | xargs)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); flags: ${flags:-none}; $(nproc) cores; binary: $T; median of $REPS after 1 warm-up"
echo

# One run's JSON line (the last line of --json output).
json() { "$T" "$@" --reps "$REPS" --warmup 1 --json | tail -n 1; }

if [ "$section" != ops ]; then
  echo "| workload | CrypTen s | ours tcp+TLS s | ratio | tcp s | sim s | TLS / tcp | tcp / sim | online only, tcp+TLS s | rounds | MB sent/party |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  # label | CrypTen case (crypten-bench) | testbed arguments
  while IFS='|' read -r label crypten args; do
    [ -z "$label" ] && continue
    # shellcheck disable=SC2086
    sim=$(json $args)
    # shellcheck disable=SC2086
    tcp=$(json $args --transport tcp --no-tls)
    # shellcheck disable=SC2086
    tls=$(json $args --transport tcp)
    python3 - "$label" "$crypten" "${CRYPTEN_JSONL:-}" "$sim" "$tcp" "$tls" <<'EOF'
import json, sys
label, case, path, sim, tcp, tls = sys.argv[1:]
sim, tcp, tls = (json.loads(s) for s in (sim, tcp, tls))
crypten = None
if path:
    try:
        for line in open(path):
            if line.strip():
                r = json.loads(line)
                if r.get("case") == case:
                    crypten = r["median_s"]  # the last row of the case wins
    except FileNotFoundError:
        pass
c = "%.3f" % crypten if crypten else "—"
ratio = "%.1f×" % (crypten / tls["wall_s"]) if crypten else "—"
online = "%.3f" % tls["online_wall_s"] if tls.get("online_wall_s") else "—"
# Rounds and bytes are the same over every transport (tests assert it); the simulator's are shown.
print("| %s | %s | %.3f | %s | %.3f | %.3f | %.2f | %.2f | %s | %d | %.1f |" % (
    label, c, tls["wall_s"], ratio, tcp["wall_s"], sim["wall_s"], tls["wall_s"] / tcp["wall_s"],
    tcp["wall_s"] / sim["wall_s"], online, sim["rounds"], max(sim["bytes_sent_per_party"]) / 1e6))
EOF
  done <<'CASES'
mul 1M|mul_1M|bench op --protocol 2pc-ttp --op mul --shape 1000000 --shape 1000000
ReLU 1M|relu_1M|bench op --protocol 2pc-ttp --op relu --shape 1000000
sigmoid 100k|sigmoid_100k|bench op --protocol 2pc-ttp --op sigmoid --shape 100000
softmax 10000×10|softmax_10000x10|bench op --protocol 2pc-ttp --op softmax --shape 10000x10
LeNet batch 64|lenet_b64|bench model --model lenet --input-shape 64x1x28x28 --protocol 2pc-ttp
Wav2Letter 1 s audio (1x40x100, private model)|wav2letter_1s|bench model --model wav2letter --input-shape 1x40x100 --protocol 2pc-ttp
ResNet-18 224 (private model)|resnet18_224|bench model --model resnet18 --input-shape 1x3x224x224 --protocol 2pc-ttp
matmul 1024³|matmul_1024|bench op --protocol 2pc-ttp --op matmul --shape 1024x1024 --shape 1024x1024
conv2d 1x64x56x56, 64 3x3, pad 1|conv2d_64x56x56_k3|bench op --protocol 2pc-ttp --op conv2d --shape 1x64x56x56 --shape 64x64x3x3 --padding 1
ReLU 1M, 3pc-replicated||bench op --protocol 3pc-replicated --op relu --shape 1000000
ReLU 1M, 2pc-fss|relu_1M|bench op --protocol 2pc-fss --op relu --shape 1000000
ResNet-18 224, 2pc-fss|resnet18_224|bench model --model resnet18 --input-shape 1x3x224x224 --protocol 2pc-fss
CASES
  echo
fi

if [ "$section" != headline ]; then
  echo "| case | protocol (N) | transport | wall s | rounds | MB sent/party | offline MB | max abs err |"
  echo "|---|---|---|---|---|---|---|---|"
  row() {
    local label="$1"; shift
    json "$@" | python3 -c '
import json, sys
j = json.loads(sys.stdin.read())
mb = max(j["bytes_sent_per_party"]) / 1e6
off = j["bytes_offline_total"] / 1e6
print("| %s | %s (%d) | %s | %.4f | %d | %.2f | %.2f | %.1e |" % (sys.argv[1], j["protocol"], j["parties"], j["transport"], j["wall_s"], j["rounds"], mb, off, j["max_abs_err"]))
' "$label"
  }
  row "less-than 1M" bench op --protocol 2pc-ttp --op lt --shape 1000000 --shape 1000000
  row "exp 100k" bench op --protocol 2pc-ttp --op exp --shape 100000
  row "reciprocal 100k" bench op --protocol 2pc-ttp --op reciprocal --shape 100000
  row "mul 1M" bench op --protocol 3pc-replicated --op mul --shape 1000000 --shape 1000000
  row "sigmoid 100k" bench op --protocol 3pc-replicated --op sigmoid --shape 100000
  row "LeNet batch 1" bench model --model lenet --input-shape 1x1x28x28 --protocol 2pc-ttp
  row "ResNet-18 1x3x32x32" bench model --model resnet18 --input-shape 1x3x32x32 --protocol 2pc-ttp
  row "Wav2Letter 1x40x100 (public model)" bench model --model wav2letter --input-shape 1x40x100 --protocol 2pc-ttp --public-model
fi
