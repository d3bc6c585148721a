#!/usr/bin/env bash
# Validates the network cost model (docs/network-model.md) against real shaped links: every
# endpoint of a session (parties and dealer) runs `testbed party` in a network namespace of its
# own; every pair of endpoints has its own veth link, shaped with `tc ... tbf` for bandwidth, and a
# delay relay (examples/delay_relay.rs) on the link adds the one-way latency (these kernels have no
# netem). Then it compares, per workload and profile, the measured wall time (median over
# repetitions of the slowest party) with the prediction of `testbed run` on the simulator (wall
# time in the simulator + the model), and writes results/network-validation/validation.{md,json}.
#
#   sudo scripts/netem-validate.sh [PROTOCOL] [REPS]       (default 2pc-ttp, 5 repetitions)
#
# Needs root (ip netns, tc). Not run in CI. Binds only inside the namespaces it creates (and their
# loopback), and removes them on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
PROTOCOL="${1:-2pc-ttp}"
REPS="${2:-5}"
PREFIX=tbv
OUT=results/network-validation
mkdir -p "$OUT"
[ "$(id -u)" = 0 ] || { echo "error: needs root (ip netns, tc)" >&2; exit 2; }

cargo build --release --quiet --bin testbed --example delay_relay
TESTBED="$PWD/target/release/testbed"
RELAY="$PWD/target/release/examples/delay_relay"
WORK="$(mktemp -d)"

# Endpoints: the protocol's parties, plus the dealer where it has one.
ENDPOINTS=$(python3 - "$PROTOCOL" <<'EOF'
import re, sys
name = sys.argv[1]
path = name if "/" in name or name.endswith(".yaml") else f"protocols/{name}.yaml"
text = open(path).read()
fam = re.search(r"^family:\s*(\S+)", text, re.M).group(1)
parties = int(re.search(r"^parties:\s*(\d+)", text, re.M).group(1))
dealer = re.search(r"^dealer:\s*(\S+)", text, re.M)
has_dealer = fam != "3pc-replicated" and (dealer is None or dealer.group(1) == "ttp")
print(parties + (1 if has_dealer else 0))
EOF
)
PARTIES=$(grep -E '^parties:' "$( [[ "$PROTOCOL" == */* || "$PROTOCOL" == *.yaml ]] && echo "$PROTOCOL" || echo "protocols/$PROTOCOL.yaml")" | awk '{print $2}')

cleanup() {
  for ((e = 0; e < ENDPOINTS; e++)); do ip netns del "$PREFIX-$e" 2>/dev/null || true; done
  jobs -p | xargs -r kill 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Link index of the pair (i < j), and its /30 subnet 10.213.K.0.
link() { echo $(( $1 * ENDPOINTS + $2 )); }

for ((e = 0; e < ENDPOINTS; e++)); do
  ip netns add "$PREFIX-$e"
  ip -n "$PREFIX-$e" link set lo up
done
for ((i = 0; i < ENDPOINTS; i++)); do
  for ((j = i + 1; j < ENDPOINTS; j++)); do
    k=$(link "$i" "$j")
    ip link add "v$i-$j" netns "$PREFIX-$i" type veth peer name "v$j-$i" netns "$PREFIX-$j"
    ip -n "$PREFIX-$i" addr add "10.213.$k.1/30" dev "v$i-$j"
    ip -n "$PREFIX-$j" addr add "10.213.$k.2/30" dev "v$j-$i"
    ip -n "$PREFIX-$i" link set "v$i-$j" up
    ip -n "$PREFIX-$j" link set "v$j-$i" up
  done
done

# shape RATE BURST: the same tbf on both ends of every link.
shape() {
  for ((i = 0; i < ENDPOINTS; i++)); do
    for ((j = 0; j < ENDPOINTS; j++)); do
      [ "$i" = "$j" ] && continue
      ip netns exec "$PREFIX-$i" tc qdisc replace dev "v$i-$j" root tbf rate "$1" burst "$2" latency 400ms
    done
  done
}

unshape() {
  for ((i = 0; i < ENDPOINTS; i++)); do
    for ((j = 0; j < ENDPOINTS; j++)); do
      [ "$i" = "$j" ] && continue
      ip netns exec "$PREFIX-$i" tc qdisc del dev "v$i-$j" root 2>/dev/null || true
    done
  done
}

# Workloads: name, session job (JSON), experiment task (YAML).
WORKLOADS=(relu-100k matmul-256 mul-1m lenet softmax-1k)
job() {
  case "$1" in
    relu-100k) echo "{\"kind\":\"bench-op\",\"op\":\"relu\",\"shapes\":[[100000]],\"conv\":[1,0,1,1],\"reps\":$REPS,\"input_seed\":1}" ;;
    matmul-256) echo "{\"kind\":\"bench-op\",\"op\":\"matmul\",\"shapes\":[[256,256],[256,256]],\"conv\":[1,0,1,1],\"reps\":$REPS,\"input_seed\":1}" ;;
    mul-1m) echo "{\"kind\":\"bench-op\",\"op\":\"mul\",\"shapes\":[[1000000],[1000000]],\"conv\":[1,0,1,1],\"reps\":$REPS,\"input_seed\":1}" ;;
    softmax-1k) echo "{\"kind\":\"bench-op\",\"op\":\"softmax\",\"shapes\":[[100,10]],\"conv\":[1,0,1,1],\"reps\":$REPS,\"input_seed\":1}" ;;
    lenet) echo "{\"kind\":\"model\",\"model\":\"lenet\",\"input_shape\":[1,1,28,28],\"input\":null,\"weights\":null,\"model_seed\":1,\"input_seed\":1,\"public_model\":false,\"reps\":$REPS}" ;;
  esac
}
task() {
  case "$1" in
    relu-100k) printf '  - { name: relu-100k, kind: op, op: relu, shapes: [[100000]] }\n' ;;
    matmul-256) printf '  - { name: matmul-256, kind: op, op: matmul, shapes: [[256, 256], [256, 256]] }\n' ;;
    mul-1m) printf '  - { name: mul-1m, kind: op, op: mul, shapes: [[1000000], [1000000]] }\n' ;;
    softmax-1k) printf '  - { name: softmax-1k, kind: op, op: softmax, shapes: [[100, 10]] }\n' ;;
    lenet) printf '  - { name: lenet, kind: latency, model: lenet, input_shape: [1, 1, 28, 28] }\n' ;;
  esac
}

# Predictions: the same workloads on the simulator, priced on lan and wan.
{
  echo "name: network-validation"
  echo "tasks:"
  for w in "${WORKLOADS[@]}"; do task "$w"; done
  echo "protocols: [$PROTOCOL]"
  echo "networks: [none, lan, wan]"
  echo "network_profiles: { none: { bandwidth_mbit: 1.0e9, latency_ms: 0 } }"
  echo "repetitions: $REPS"
  echo "outputs: { plots: false }"
} > "$WORK/predict.yaml"
"$TESTBED" run "$WORK/predict.yaml" --out "$WORK/predicted" > /dev/null

# measure PROFILE LATENCY_MS WORKLOAD: one session over the shaped links; prints nothing, leaves
# each endpoint's JSON line in $WORK/PROFILE-WORKLOAD-E.json.
measure() {
  local profile="$1" delay="$2" w="$3" pids=() relays=()
  for ((i = 0; i < ENDPOINTS; i++)); do
    for ((j = i + 1; j < ENDPOINTS; j++)); do
      k=$(link "$i" "$j")
      ip netns exec "$PREFIX-$i" "$RELAY" --listen "10.213.$k.1:$((9000 + j))" --connect 127.0.0.1:7000 \
        --delay-ms "$delay" --max-connections 1 --seconds 900 &
      relays+=($!)
    done
  done
  sleep 0.3
  for ((e = 0; e < ENDPOINTS; e++)); do
    {
      echo "session_id: 4711"
      echo "protocol: $PROTOCOL"
      echo "timeout_s: 120"
      echo "seed: 1"
      echo "endpoints:"
      for ((x = 0; x < ENDPOINTS; x++)); do
        if ((x < e)); then
          echo "  - { address: \"10.213.$(link "$x" "$e").1:$((9000 + e))\" }"
        else
          echo "  - { address: \"127.0.0.1:7000\" }"
        fi
      done
      echo "job: $(job "$w")"
    } > "$WORK/session-$e.yaml"
  done
  for ((e = 0; e < ENDPOINTS; e++)); do
    ip netns exec "$PREFIX-$e" "$TESTBED" party --id "$e" --session "$WORK/session-$e.yaml" \
      > "$WORK/$profile-$w-$e.json" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  for r in "${relays[@]}"; do wait "$r" 2>/dev/null || true; done
}

# Profiles: name, tbf rate, tbf burst, one-way latency (ms): `none` (no shaping, no delay: the
# floor of the software stack and the relay), then the built-in lan and wan.
for spec in "none - - 0" "lan 3gbit 4mb 0.3" "wan 400mbit 1mb 40"; do
  read -r profile rate burst delay <<< "$spec"
  if [ "$rate" = - ]; then unshape; else shape "$rate" "$burst"; fi
  for w in "${WORKLOADS[@]}"; do
    echo "measuring $w on $profile ..." >&2
    measure "$profile" "$delay" "$w"
  done
done

python3 - "$WORK" "$OUT" "$PROTOCOL" "$PARTIES" "${WORKLOADS[@]}" <<'EOF'
import json, os, statistics, sys
work, out, protocol, parties, workloads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
summary = json.load(open(os.path.join(work, "predicted", "summary.json")))
rows = []
for profile in ["none", "lan", "wan"]:
    for w in workloads:
        walls = []
        for e in range(parties):
            line = open(os.path.join(work, f"{profile}-{w}-{e}.json")).read().strip().splitlines()[-1]
            walls.append(json.loads(line)["party"]["output"]["wall"])
        measured = statistics.median(max(ws[r] for ws in walls) for r in range(len(walls[0])))
        c = next(c for c in summary["configurations"] if c["task"] == w and c["params"]["network"] == profile)
        err = (c["predicted_s"] - measured) / measured
        rows.append({"workload": w, "network": profile, "rounds": c["rounds"],
                     "mb_per_party": c["bytes_sent_per_party"] / 1e6, "offline_mb": c["bytes_offline_total"] / 1e6,
                     "sim_wall_s": c["wall_s"], "predicted_s": c["predicted_s"],
                     "predicted_dealer_s": c["predicted_dealer_s"], "measured_s": measured, "error": err})
json.dump({"protocol": protocol, "rows": rows}, open(os.path.join(out, "validation.json"), "w"), indent=1)
md = [f"Protocol {protocol}; medians over repetitions; predicted = wall time in the simulator + network model.", "",
      "| workload | network | rounds | MB/party | offline MB | simulator wall (s) | predicted (s) | of which dealer (s) | measured (s) | error |",
      "|---|---|---|---|---|---|---|---|---|---|"]
for r in rows:
    md.append(f"| {r['workload']} | {r['network']} | {r['rounds']:.0f} | {r['mb_per_party']:.3f} | {r['offline_mb']:.3f} | "
              f"{r['sim_wall_s']:.4f} | {r['predicted_s']:.4f} | {r['predicted_dealer_s']:.4f} | {r['measured_s']:.4f} | {100 * r['error']:+.1f}% |")
open(os.path.join(out, "validation.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
EOF
