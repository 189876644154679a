#!/usr/bin/env bash
# gather against curl, aria2c and Python asyncio+aiohttp on the same workloads, served by
# `gather serve` on loopback; one table of wall time and peak RSS, with ratios to gather.
# Not part of CI. Installs nothing; peers that are missing are left out. Stops by itself.
#
#   bench/peers.sh                 # every workload, each tool once, interleaved
#   REPEAT=3 bench/peers.sh W1 W2  # chosen workloads, best of 3
#   bench/peers.sh H2              # 10,000 comics over HTTPS (HTTP/2, gzip) from nginx
#   bench/peers.sh H1              # the same over HTTPS with HTTP/1.1 only
#
# Output goes to /dev/shm (tmpfs) unless the workload says disk (DISK_DIR, default target/).
# H2 needs Debian's nginx (/usr/sbin/nginx) and openssl: a CA made for the run signs the
# server's certificate, and each tool is told to trust it; nginx's stub_status counts the
# connections each tool opened (aiohttp speaks HTTP/1.1 only).
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
CACERT=
STATUS=
cleanup() {
    for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -f "$SHM.nginx/nginx.pid" ]; then kill "$(cat "$SHM.nginx/nginx.pid")" 2>/dev/null || true; fi
    rm -rf "$SHM.nginx"
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

# A free loopback port.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts nginx on HTTPS with gzip, serving comics 1..COUNT (fetched from the `gather serve`
# at $w3) under a certificate signed by a CA made here, on one port with HTTP/2 and another
# with HTTP/1.1 only; sets $h2 and $h1 to their URL templates, $CACERT to the CA and $STATUS
# to its stub_status URL.
nginx_tls() {
    local count=$1 dir=$SHM.nginx port h1_port status_port
    rm -rf "$dir"; mkdir -p "$dir/www"
    "$GATHER" fetch "$w3/{id}/info.0.json" --ids "1-$count" -q --out "$dir/www" >/dev/null || true
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=peers.sh CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\n' >"$dir/san"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 1 -extfile "$dir/san" -out "$dir/server.pem" 2>/dev/null
    port=$(free_port); h1_port=$(free_port); status_port=$(free_port)
    cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
user root;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp; fastcgi_temp_path $dir/tmp;
  uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;
  types { application/json json; }
  access_log off;
  gzip on; gzip_types application/json; gzip_min_length 100;
  keepalive_requests 1000;
  server {
    listen 127.0.0.1:$port ssl http2;
    ssl_certificate $dir/server.pem; ssl_certificate_key $dir/server.key;
    root $dir/www;
  }
  server {
    listen 127.0.0.1:$h1_port ssl;
    ssl_certificate $dir/server.pem; ssl_certificate_key $dir/server.key;
    root $dir/www;
  }
  server {
    listen 127.0.0.1:$status_port;
    location = /status { stub_status; }
  }
}
CONF
    /usr/sbin/nginx -c "$dir/nginx.conf" -e "$dir/error.log"
    h2="https://127.0.0.1:$port/{id}.json"
    h1="https://127.0.0.1:$h1_port/{id}.json"
    CACERT=$dir/ca.pem
    STATUS="http://127.0.0.1:$status_port/status"
}

# Connections nginx has accepted so far (stub_status), this request's included.
accepts() {
    curl -s "$STATUS" | awk '/^server accepts/ { getline; print $1 }'
}

# run TOOL COUNT CONCURRENCY DIR URL_TEMPLATE: one fetch of ids 1..COUNT; prints "wall rss_kb",
# and the connections nginx accepted when the URL is https (nginx_tls's).
run() {
    local tool=$1 count=$2 c=$3 dir=$4 url=$5 list tls=""
    rm -rf "$dir"; mkdir -p "$dir"
    case $url in https://*) tls=1 ;; esac
    local cmd
    case $tool in
        gather) cmd=("$GATHER" fetch "$url" --ids "1-$count" -c "$c" -q --out "$dir")
                [ -z "$tls" ] || cmd+=(--cacert "$CACERT") ;;
        curl) cmd=(curl -s --fail -Z --parallel-max "$(( c < 300 ? c : 300 ))" --parallel-immediate
                   "${url/\{id\}/[1-$count]}" -o "$dir/#1.json")
              [ -z "$tls" ] || cmd+=(--compressed --cacert "$CACERT") ;;
        aria2c)
            list=$SHM.aria2.txt
            seq 1 "$count" | awk -v u="$url" '{ s=u; sub(/\{id\}/, $1, s); print s; print "  out=" $1 ".json" }' >"$list"
            cmd=(aria2c -q -i "$list" -d "$dir" -j "$c" --allow-overwrite=true
                 --auto-file-renaming=false --summary-interval=0 --file-allocation=none)
            [ -z "$tls" ] || cmd+=(--ca-certificate="$CACERT") ;;
        aiohttp) cmd=(env "SSL_CERT_FILE=${CACERT:-}" python3 bench/peers_aiohttp.py "$url" 1 "$count" "$c" "$dir")
                 [ -n "$tls" ] || cmd=("${cmd[@]:2}") ;;
    esac
    sync
    local stats before=""
    [ -z "$tls" ] || before=$(accepts)
    stats=$(timeout 600 "$TIME" -f '%e %M' "${cmd[@]}" 2>&1 >/dev/null | tail -n1)
    [ -z "$before" ] || stats="$stats $(( $(accepts) - before - 1 ))"
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

declare -A best_wall best_rss best_conns
measure() { # WORKLOAD TOOL -- command producing "wall rss [connections]"
    local w=$1 t=$2; shift 3
    local out wall rss conns
    out=$("$@") || true
    [ -n "$out" ] || return 0
    read -r wall rss conns <<<"$out"
    echo "  $t: ${wall} s, ${rss} KB${conns:+, $conns connections}" >&2
    if [ -z "${best_wall[$w.$t]:-}" ] || awk "BEGIN{exit !($wall < ${best_wall[$w.$t]})}"; then
        best_wall[$w.$t]=$wall
        [ -n "$conns" ] && best_conns[$w.$t]=$conns
    fi
    (( rss > ${best_rss[$w.$t]:-0} )) && best_rss[$w.$t]=$rss
    return 0
}

declare -A ideal=([W1]=0.10 [W2]=2.00 [W3shm]="-" [W3disk]="-" [W4]=1.0 [H2]="-" [H1]="-")
declare -A what=(
    [W1]="W1: 200 ids, 100 ms latency, all at once"
    [W2]="W2: 10,000 ids, 20 ms latency, -c 100"
    [W3shm]="W3: 100,000 ids, no latency, -c 64, to tmpfs"
    [W3disk]="W3: 100,000 ids, no latency, -c 64, to disk"
    [W4]="W4: 1,000,000 concurrent 1 s sleeps"
    [H2]="H2: 10,000 ids, nginx HTTPS h2+gzip, -c 64"
    [H1]="H1: 10,000 ids, nginx HTTPS http/1.1+gzip, -c 64"
)
mkdir -p "$SHM" "$DISK_DIR"
serve 100ms; w1=$base
serve 20ms; w2=$base
serve 0; w3=$base
if [[ " ${WORKLOADS[*]} " == *" H"[12]" "* ]]; then
    [ -x /usr/sbin/nginx ] && command -v openssl >/dev/null \
        || { echo "H1 and H2 need /usr/sbin/nginx and openssl" >&2; exit 2; }
    nginx_tls 10001
fi
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
                H2) measure H2 "$t" -- run "$t" 10001 64 "$SHM/out" "$h2" ;;
                H1) measure H1 "$t" -- run "$t" 10001 64 "$SHM/out" "$h1" ;;
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
        conns=${best_conns[$w.$t]:+ ${best_conns[$w.$t]} conn}
        if [ -n "$g" ] && [ "$t" != gather ]; then
            ratio=$(awk "BEGIN{printf \"%.1fx\", $wall / $g}")
            printf ' %30s' "${wall} s ${mb} MB$conns ($ratio)"
        else
            printf ' %30s' "${wall} s ${mb} MB$conns"
        fi
    done
    printf '\n'
done
echo "(wall time and peak RSS per whole process; best of $REPEAT; ratio = peer wall / gather wall;"
echo " conn = connections nginx accepted in the fastest run)"
