#!/usr/bin/env bash
# gather against curl, aria2c and Python asyncio+aiohttp on the same workloads, served by
# `gather serve` on loopback; one table of wall time and peak RSS, with ratios to gather.
# Not part of CI. Installs nothing; peers that are missing are left out. Stops by itself.
#
#   bench/peers.sh                 # every workload, each tool once, interleaved
#   REPEAT=3 bench/peers.sh W1 W2  # chosen workloads, best of 3
#
# Output goes to /dev/shm (tmpfs) unless the workload says disk (DISK_DIR, default target/).
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=${REPEAT:-1}
SHM=${SHM:-/dev/shm/gather-peers}
DISK_DIR=${DISK_DIR:-$PWD/target/gather-peers}
WORKLOADS=("$@")
[ ${#WORKLOADS[@]} -gt 0 ] || WORKLOADS=(W1 W2 W3shm W3disk W4)

cargo build --release --quiet
GATHER=$PWD/target/release/gather
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "peers.sh needs GNU time (/usr/bin/time)" >&2; exit 2; }

tools=(gather)
command -v curl >/dev/null && tools+=(curl)
command -v aria2c >/dev/null && tools+=(aria2c)
python3 -c 'import aiohttp' 2>/dev/null && tools+=(aiohttp)

servers=()
cleanup() {
    for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$SHM" "$DISK_DIR"
}
trap cleanup EXIT

# Starts `gather serve` with LATENCY; sets $base to its URL.
serve() {
    local out
    out=$(mktemp)
    "$GATHER" serve --port 0 --max-id 1000000 --latency "$1" >"$out" 2>/dev/null &
    servers+=($!)
    for _ in $(seq 100); do
        base=$(head -n1 "$out" 2>/dev/null || true)
        [ -n "$base" ] && break
        sleep 0.05
    done
    rm -f "$out"
    [ -n "$base" ] || { echo "gather serve did not start" >&2; exit 2; }
}

# run TOOL COUNT CONCURRENCY DIR URL_TEMPLATE: one fetch of ids 1..COUNT; prints "wall rss_kb".
run() {
    local tool=$1 count=$2 c=$3 dir=$4 url=$5 list
    rm -rf "$dir"; mkdir -p "$dir"
    local cmd
    case $tool in
        gather) cmd=("$GATHER" fetch "$url" --ids "1-$count" -c "$c" -q --out "$dir") ;;
        curl) cmd=(curl -s --fail -Z --parallel-max "$(( c < 300 ? c : 300 ))" --parallel-immediate
                   "${url/\{id\}/[1-$count]}" -o "$dir/#1.json") ;;
        aria2c)
            list=$SHM.aria2.txt
            seq 1 "$count" | awk -v u="$url" '{ s=u; sub(/\{id\}/, $1, s); print s; print "  out=" $1 ".json" }' >"$list"
            cmd=(aria2c -q -i "$list" -d "$dir" -j "$c" --allow-overwrite=true
                 --auto-file-renaming=false --summary-interval=0 --file-allocation=none) ;;
        aiohttp) cmd=(python3 bench/peers_aiohttp.py "$url" 1 "$count" "$c" "$dir") ;;
    esac
    sync
    local stats
    stats=$(timeout 600 "$TIME" -f '%e %M' "${cmd[@]}" 2>&1 >/dev/null | tail -n1)
    local saved
    saved=$(find "$dir" -maxdepth 1 -name '*.json' | wc -l)
    # Comic 404 is a 404, as on xkcd: every tool should save all the others.
    local expected=$(( count >= 404 ? count - 1 : count ))
    [ "$saved" -eq "$expected" ] || echo "  ($tool saved $saved of $expected)" >&2
    rm -rf "$dir"
    echo "$stats"
}

# sleeps TOOL TASKS: N concurrent 1 s sleeps; prints "wall rss_kb", or nothing if unsupported.
sleeps() {
    case $1 in
        gather) "$GATHER" bench sleep --help >/dev/null 2>&1 || return 0
                timeout 600 "$TIME" -f '%e %M' "$GATHER" bench sleep --tasks "$2" 2>&1 >/dev/null | tail -n1 ;;
        aiohttp) timeout 600 "$TIME" -f '%e %M' python3 bench/peers_sleep.py "$2" 2>&1 >/dev/null | tail -n1 ;;
    esac
}

declare -A best_wall best_rss
measure() { # WORKLOAD TOOL -- command producing "wall rss"
    local w=$1 t=$2; shift 3
    local out wall rss
    out=$("$@") || true
    [ -n "$out" ] || return 0
    read -r wall rss <<<"$out"
    if [ -z "${best_wall[$w.$t]:-}" ] || awk "BEGIN{exit !($wall < ${best_wall[$w.$t]})}"; then
        best_wall[$w.$t]=$wall
    fi
    (( rss > ${best_rss[$w.$t]:-0} )) && best_rss[$w.$t]=$rss
    return 0
}

declare -A ideal=([W1]=0.10 [W2]=2.00 [W3shm]="-" [W3disk]="-" [W4]=1.0)
declare -A what=(
    [W1]="W1: 200 ids, 100 ms latency, all at once"
    [W2]="W2: 10,000 ids, 20 ms latency, -c 100"
    [W3shm]="W3: 100,000 ids, no latency, -c 64, to tmpfs"
    [W3disk]="W3: 100,000 ids, no latency, -c 64, to disk"
    [W4]="W4: 1,000,000 concurrent 1 s sleeps"
)
mkdir -p "$SHM" "$DISK_DIR"
serve 100ms; w1=$base
serve 20ms; w2=$base
serve 0; w3=$base
for ((r = 1; r <= REPEAT; r++)); do
    for w in "${WORKLOADS[@]}"; do
        echo "round $r: ${what[$w]}" >&2
        for t in "${tools[@]}"; do
            case $w in
                W1) measure W1 "$t" -- run "$t" 200 200 "$SHM/out" "$w1/{id}/info.0.json" ;;
                W2) measure W2 "$t" -- run "$t" 10000 100 "$SHM/out" "$w2/{id}/info.0.json" ;;
                W3shm) measure W3shm "$t" -- run "$t" 100000 64 "$SHM/out" "$w3/{id}/info.0.json" ;;
                W3disk) measure W3disk "$t" -- run "$t" 100000 64 "$DISK_DIR/out" "$w3/{id}/info.0.json" ;;
                W4) measure W4 "$t" -- sleeps "$t" 1000000 ;;
            esac
        done
    done
done

printf '\n%-46s %6s' workload ideal
for t in "${tools[@]}"; do printf ' %24s' "$t"; done
printf '\n'
for w in "${WORKLOADS[@]}"; do
    printf '%-46s %6s' "${what[$w]}" "${ideal[$w]}"
    g=${best_wall[$w.gather]:-}
    for t in "${tools[@]}"; do
        wall=${best_wall[$w.$t]:-}
        if [ -z "$wall" ]; then printf ' %24s' "-"; continue; fi
        mb=$(awk "BEGIN{printf \"%.0f\", ${best_rss[$w.$t]} / 1024}")
        if [ -n "$g" ] && [ "$t" != gather ]; then
            ratio=$(awk "BEGIN{printf \"%.1fx\", $wall / $g}")
            printf ' %24s' "${wall} s ${mb} MB ($ratio)"
        else
            printf ' %24s' "${wall} s ${mb} MB"
        fi
    done
    printf '\n'
done
echo "(wall time and peak RSS per whole process; best of $REPEAT; ratio = peer wall / gather wall)"
