#!/usr/bin/env bash
# -c auto against fixed concurrency levels, on the two scenarios of issue 16, with the built-in
# server on loopback (gather bench sweep starts a fresh one per level). Not part of CI. Prints
# each sweep's table, then one comparison table; the JSON stays in $OUT. Stops by itself.
#
#   bench/sweep.sh              # the curve, then S1 and S2 (about 4 minutes on 2 cores)
#   COUNT=2000 bench/sweep.sh   # fewer comics per level
#
# S1: 50 ms latency, capacity 32 (at most 640 comics a second), COUNT comics per level.
#     Targets: -c auto's throughput >= 90% of the best fixed level's; its p50 <= 1.5x the
#     unloaded latency.
# S2: 50 ms latency, no capacity limit, 429 past 200/s. Targets: -c auto <= 1% of requests
#     answered 429 where -c 256 gets more than 30%, and done no later than the best fixed level.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-5000}
OUT=${OUT:-target/gather-sweep}
mkdir -p "$OUT"

cargo build --release --quiet
GATHER=$PWD/target/release/gather

echo "== the curve: 1..256 against capacity 32 at 50 ms"
"$GATHER" bench sweep --latency 50ms --capacity 32 --auto --json >"$OUT/curve.json"
"$GATHER" bench sweep --latency 50ms --capacity 32 --levels 1,2,4,8,16,32,64,128,256 \
    --chart "$OUT/curve.svg" | tee "$OUT/curve.txt"

echo
echo "== S1: $COUNT comics per level, capacity 32 at 50 ms"
"$GATHER" bench sweep --latency 50ms --capacity 32 --count "$COUNT" \
    --levels 16,32,64,128,256 --auto --json >"$OUT/s1.json"

echo "== S2: $COUNT comics per level, 429 past 200/s, 50 ms"
"$GATHER" bench sweep --latency 50ms --capacity none --rate-limit 200/s --count "$COUNT" \
    --levels 8,16,64,256 --auto --json >"$OUT/s2.json"

python3 - "$OUT/s1.json" "$OUT/s2.json" <<'EOF'
import json, sys

def rows(path):
    report = json.load(open(path))
    levels = report["levels"] + [report["auto"]]
    best = max(report["levels"], key=lambda l: l["throughput"])
    unloaded = min(l["latency_ms"]["p50"] for l in report["levels"])
    return report, levels, best, unloaded

for name, path in [("S1 capacity 32", sys.argv[1]), ("S2 rate limit 200/s", sys.argv[2])]:
    report, levels, best, unloaded = rows(path)
    print(f"\n{name}: {report['levels'][0]['count']} comics per level (best fixed: -c {best['concurrency']})")
    print(f"{'-c':>6} {'wall':>8} {'saved/s':>8} {'vs best':>8} {'p50':>8} {'p50/L0':>7} {'429 share':>10} {'failed':>7}  limit")
    for l in levels:
        limit = ""
        if l["concurrency"] == "auto":
            lim = l["limits"][0]
            limit = f"settled at {lim['settled']} (max {lim['max']})"
        print(f"{l['concurrency']:>6} {l['wall_secs']:>7.2f}s {l['throughput']:>8.1f} "
              f"{l['throughput'] / best['throughput']:>7.0%} {l['latency_ms']['p50']:>6.1f}ms "
              f"{l['latency_ms']['p50'] / unloaded:>6.2f}x {l['too_many_share']:>10.2%} {l['failed']:>7}  {limit}")
EOF
