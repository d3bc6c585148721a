#!/usr/bin/env bash
# The large audit (docs/audit.md): every shipped family on every op, plus the negative controls,
# printed as markdown rows: | protocol | op | shape | trials | tests | smallest corrected p | at | test |
# Usage: [PROTOCOLS="2pc-ttp 2pc-fss"] [CONTROLS=0] scripts/audit-bench.sh [TRIALS] [OPS...]
#        (default 100000 trials, all six ops, every file in protocols/, then the leaky controls)
# Views are kept in memory (at most 2^29 words): where an op's views at this many trials exceed
# that, the row is run at --shape 8 (or 4).
set -u
cd "$(dirname "$0")/.."
N="${1:-100000}"; shift || true
OPS="${*:-mul matmul truncation relu max softmax}"
if [ -n "${TESTBED_BIN:-}" ]; then T="$TESTBED_BIN"; else T=target/release/testbed; cargo build --release --quiet; fi
row() {
  local proto="$1" op="$2" shape="$3"
  "$T" audit --protocol "$proto" --op "$op" --shape "$shape" --trials "$N" --json 2>/dev/null | tail -1 | python3 -c '
import json, sys
line = sys.stdin.read().strip()
if not line.startswith("{"):
    sys.exit(3)
j = json.loads(line)
print("| %s | %s | %s | %s | %s | %.3g | %s | %s |" % (j["protocol"], j["op"], j["shape"], j["trials"], j["tests"], j["min_p"], j["party"], j["test"][:70]))'
}
echo "| protocol | op | shape | trials | tests | smallest corrected p | at | test |"
echo "|---|---|---|---|---|---|---|---|"
for proto in ${PROTOCOLS:-$(ls protocols | sed 's/\.yaml$//')}; do
  for op in $OPS; do
    row "$proto" "$op" 16 || row "$proto" "$op" 8 || row "$proto" "$op" 4 || echo "| $proto | $op | - | $N | - | failed | - | - |"
  done
done
[ "${CONTROLS:-1}" = 0 ] && exit 0
for c in tests/data/protocols/leaky-*.yaml; do
  row "$c" mul 16 || echo "| $c | mul | - | $N | - | failed | - | - |"
done
