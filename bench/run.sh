#!/usr/bin/env bash
# OdeaDev TTS benchmark harness: `make bench` (or `bash bench/run.sh`). See bench/README.md.
#
# Loopback only. Every process it starts is ended on exit (trap), every loop is bounded in count
# and time. Raw results go to bench/out/ (git-ignored); the report to stdout and bench/results.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
LIB="$BENCH/lib"
CARGO=${CARGO:-cargo}

# ---- settings (environment) ----
BENCH_SECONDS=${BENCH_SECONDS:-10}                 # each load run
BENCH_WARMUP_SECONDS=${BENCH_WARMUP_SECONDS:-1}    # warm-up before each load run (not measured)
BENCH_CONCURRENCY=${BENCH_CONCURRENCY:-"1 16 64"}  # closed-loop connection counts
BENCH_RATE=${BENCH_RATE:-1000}                     # fixed-rate run, requests/s (0 = skip)
BENCH_RATE_CONNECTIONS=${BENCH_RATE_CONNECTIONS:-64}
BENCH_TTFB_REQUESTS=${BENCH_TTFB_REQUESTS:-200}
BENCH_STREAMS=${BENCH_STREAMS:-2000}               # 0 = skip the streams test
BENCH_STREAM_HOLD_SECONDS=${BENCH_STREAM_HOLD_SECONDS:-10}
BENCH_STREAM_CHUNK_DELAY_MS=${BENCH_STREAM_CHUNK_DELAY_MS:-200}
BENCH_OHA_VERSION=${BENCH_OHA_VERSION:-1.16.0}
BENCH_OUT=${BENCH_OUT:-"$BENCH/out"}
BENCH_RESULTS=${BENCH_RESULTS:-"$BENCH/results.md"}
BENCH_BUILD=${BENCH_BUILD:-1}                      # 0 = use the existing target/release binaries
BENCH_SETTLE_SECONDS=${BENCH_SETTLE_SECONDS:-120}  # wait up to this long for a quiet machine
PG_URL=${BENCH_DATABASE_URL:-${TEST_DATABASE_URL:-}}

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

is_uint "$BENCH_SECONDS" && ((BENCH_SECONDS >= 1 && BENCH_SECONDS <= 600)) || die "BENCH_SECONDS must be 1..600"
is_uint "$BENCH_WARMUP_SECONDS" && ((BENCH_WARMUP_SECONDS <= 60)) || die "BENCH_WARMUP_SECONDS must be 0..60"
is_uint "$BENCH_RATE" && ((BENCH_RATE <= 100000)) || die "BENCH_RATE must be 0..100000"
is_uint "$BENCH_RATE_CONNECTIONS" && ((BENCH_RATE_CONNECTIONS >= 1 && BENCH_RATE_CONNECTIONS <= 1000)) || die "BENCH_RATE_CONNECTIONS must be 1..1000"
is_uint "$BENCH_TTFB_REQUESTS" && ((BENCH_TTFB_REQUESTS >= 1 && BENCH_TTFB_REQUESTS <= 100000)) || die "BENCH_TTFB_REQUESTS must be 1..100000"
is_uint "$BENCH_STREAMS" && ((BENCH_STREAMS <= 10000)) || die "BENCH_STREAMS must be 0..10000"
is_uint "$BENCH_STREAM_HOLD_SECONDS" && ((BENCH_STREAM_HOLD_SECONDS >= 1 && BENCH_STREAM_HOLD_SECONDS <= 120)) || die "BENCH_STREAM_HOLD_SECONDS must be 1..120"
is_uint "$BENCH_SETTLE_SECONDS" && ((BENCH_SETTLE_SECONDS <= 600)) || die "BENCH_SETTLE_SECONDS must be 0..600"
is_uint "$BENCH_STREAM_CHUNK_DELAY_MS" && ((BENCH_STREAM_CHUNK_DELAY_MS >= 50 && BENCH_STREAM_CHUNK_DELAY_MS <= 5000)) || die "BENCH_STREAM_CHUNK_DELAY_MS must be 50..5000"
for c in $BENCH_CONCURRENCY; do
    is_uint "$c" && ((c >= 1 && c <= 1000)) || die "BENCH_CONCURRENCY: $c is not 1..1000"
done

command -v python3 >/dev/null || die "python3 is required"
command -v curl >/dev/null || die "curl is required"

# ---- the load generator: oha, installed into bench/.tools from crates.io when missing ----
OHA=${BENCH_OHA:-"$BENCH/.tools/bin/oha"}
if [[ ! -x $OHA ]]; then
    log "installing oha $BENCH_OHA_VERSION into bench/.tools (cargo install, once)"
    "$CARGO" install oha --locked --version "$BENCH_OHA_VERSION" --root "$BENCH/.tools" >&2
fi
[[ -x $OHA ]] || die "no load generator at $OHA"

# ---- release binaries ----
if [[ $BENCH_BUILD == 1 ]]; then
    log "building release binaries"
    (cd "$ROOT" && "$CARGO" build --release --locked -p odeadev-tts -p minimax-sim --bins --example metering_ceiling) >&2
fi
TARGET_DIR=${CARGO_TARGET_DIR:-"$ROOT/target"}
GW_BIN="$TARGET_DIR/release/odeadev-tts"
SIM_BIN="$TARGET_DIR/release/minimax-sim"
CEILING_BIN="$TARGET_DIR/release/examples/metering_ceiling"
[[ -x $GW_BIN && -x $SIM_BIN && -x $CEILING_BIN ]] || die "missing $GW_BIN, $SIM_BIN or $CEILING_BIN"

# ---- workspace and cleanup ----
rm -rf "$BENCH_OUT"
mkdir -p "$BENCH_OUT"
LOGS="$BENCH_OUT/logs"
mkdir -p "$LOGS"
NOTES="$BENCH_OUT/notes.txt"
: >"$NOTES"
note() { echo "$*" >>"$NOTES"; log "note: $*"; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/odeadev-bench.XXXXXX")
PIDS=()
GW_EXTRA_ENV=()
PG_ADMIN_URL=""
PG_DB=""

stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]:-}"; do
        [[ -n $pid ]] && stop_pid "$pid"
    done
    if [[ -n $PG_DB ]]; then
        timeout 30 psql "$PG_ADMIN_URL" -q -v ON_ERROR_STOP=1 \
            -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 ||
            log "could not drop database $PG_DB"
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Raise the descriptor limit for 2,000 streams (client, gateway and simulator each hold one per
# stream, the gateway two).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < 3 * BENCH_STREAMS + 1000)); then
    note "open-file limit $(ulimit -n) is low for $BENCH_STREAMS streams"
fi

# json_get FILE EXPR: prints a field of a JSON file, e.g. json_get f.json '["user"]["id"]'.
json_get() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$1" "$2"; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

SIM_KEY="bench-sim-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"

# start_sim NAME [sim flags...]: sets SIM_PID and SIM_URL.
start_sim() {
    local name=$1 i
    shift
    : >"$LOGS/$name.out"   # exists before the background child opens it (no race with sed below)
    "$SIM_BIN" --bind 127.0.0.1:0 --api-key "$SIM_KEY" "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err" &
    SIM_PID=$!
    PIDS+=("$SIM_PID")
    SIM_URL=""
    for ((i = 0; i < 200; i++)); do
        SIM_URL=$(sed -n 's/^minimax-sim listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$LOGS/$name.out" 2>/dev/null | head -n1 || true)
        [[ -n $SIM_URL ]] && break
        kill -0 "$SIM_PID" 2>/dev/null || die "$name exited: $(tail -n 5 "$LOGS/$name.err")"
        sleep 0.1
    done
    [[ -n $SIM_URL ]] || die "$name did not start within 20 s"
    [[ $SIM_URL == http://127.* ]] || die "$name is not on loopback: $SIM_URL"
}

# gw_env DB_URL SIM_URL [BIND]: sets GW_ENV, the command prefix that gives the gateway its
# environment (settings from the caller's that would change what is measured are dropped).
gw_env() {
    GW_ENV=(env -u REDIS_URL -u ODEADEV_DEFAULT_VOICE -u MINIMAX_GROUP_ID
        DATABASE_URL="$1" MINIMAX_API_KEY="$SIM_KEY" MINIMAX_BASE_URL="$2"
        ODEADEV_BIND="${3:-127.0.0.1:0}" RUST_LOG=warn ODEADEV_LOG_FORMAT=json "${GW_EXTRA_ENV[@]}")
}

# start_gateway NAME DB_URL SIM_URL: migrates, creates the admin, serves; sets GW_PID, GW_URL,
# ADMIN_KEY.
start_gateway() {
    local name=$1 db=$2 sim=$3 port i try up
    gw_env "$db" "$sim"
    "${GW_ENV[@]}" "$GW_BIN" migrate >>"$LOGS/$name.log" 2>&1 || die "$name: migrate failed: $(tail -n 5 "$LOGS/$name.log")"
    "${GW_ENV[@]}" "$GW_BIN" create-admin "Bench Admin" "bench-admin@example.com" --json \
        >"$TMP/$name.admin.json" 2>>"$LOGS/$name.log" || die "$name: create-admin failed: $(tail -n 5 "$LOGS/$name.log")"
    ADMIN_KEY=$(json_get "$TMP/$name.admin.json" '["api_key"]')
    for try in 1 2 3; do
        port=$(free_port)
        gw_env "$db" "$sim" "127.0.0.1:$port"
        # A simple command, so $! is the gateway itself (env execs it), not a subshell.
        "${GW_ENV[@]}" "$GW_BIN" serve >>"$LOGS/$name.log" 2>&1 &
        GW_PID=$!
        PIDS+=("$GW_PID")
        GW_URL="http://127.0.0.1:$port"
        up=0
        for ((i = 0; i < 300; i++)); do
            if curl -fsS -m 2 "$GW_URL/health" >/dev/null 2>&1; then
                up=1
                break
            fi
            kill -0 "$GW_PID" 2>/dev/null || break
            sleep 0.1
        done
        if ((up)); then
            [[ $(cat "/proc/$GW_PID/comm" 2>/dev/null) == odeadev-tts ]] ||
                die "$name: pid $GW_PID is not the gateway; measurements would be wrong"
            return 0
        fi
        log "$name did not come up on port $port (try $try): $(tail -n 3 "$LOGS/$name.log")"
        stop_pid "$GW_PID"
    done
    die "$name did not start"
}

api() { # api METHOD PATH KEY [BODY] -> body on stdout, fails on a non-2xx answer
    local method=$1 path=$2 key=$3 body=${4:-}
    curl -sS -m 30 -X "$method" "$GW_URL$path" -H "Authorization: Bearer $key" \
        -H 'Content-Type: application/json' ${body:+--data "$body"} -w '\n%{http_code}' >"$TMP/api.out"
    local code
    code=$(tail -n1 "$TMP/api.out")
    sed '$d' "$TMP/api.out"
    [[ $code == 2* ]]
}

USER_SEQ=0
PATCH_NOTED=0
# new_user LABEL: a fresh enterprise user with its limits lifted; sets U_ID, U_KEY.
new_user() {
    local label=$1 f
    USER_SEQ=$((USER_SEQ + 1))
    api POST /admin/users "$ADMIN_KEY" \
        "{\"name\":\"Bench $label\",\"email\":\"bench-$USER_SEQ-$label@example.com\",\"plan\":\"enterprise\"}" \
        >"$TMP/user.json" || die "POST /admin/users failed: $(cat "$TMP/user.json")"
    U_ID=$(json_get "$TMP/user.json" '["user"]["id"]')
    U_KEY=$(json_get "$TMP/user.json" '["api_key"]')
    if ! api PATCH "/admin/users/$U_ID" "$ADMIN_KEY" \
        '{"quota_seconds": 1e9, "rpm_limit": 1000000, "max_streams": 10000}' >"$TMP/patch.json"; then
        # Lift what the gateway accepts, one field at a time.
        for f in '"quota_seconds": 1e9' '"rpm_limit": 1000000' '"max_streams": 10000'; do
            if ! api PATCH "/admin/users/$U_ID" "$ADMIN_KEY" "{$f}" >"$TMP/patch.json"; then
                if ((PATCH_NOTED == 0)); then
                    note "PATCH /admin/users rejected {$f}: $(head -c 300 "$TMP/patch.json"); runs proceed without it"
                fi
                if [[ $f == *quota_seconds* ]]; then
                    api PUT "/admin/users/$U_ID/quota" "$ADMIN_KEY" '{"quota_seconds": 1e9}' >/dev/null ||
                        note "PUT /admin/users/$U_ID/quota failed too"
                fi
            fi
        done
        PATCH_NOTED=1
    fi
}

# usage_stats KEY FILE: GET /v1/usage/stats once nothing is pending any more (at most 10 s).
usage_stats() {
    local key=$1 file=$2 i pending
    for ((i = 0; i < 50; i++)); do
        api GET /v1/usage/stats "$key" >"$file" || die "GET /v1/usage/stats failed: $(cat "$file")"
        pending=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["total_requests"]-d["successful_requests"]-d["failed_requests"])' "$file")
        [[ $pending == 0 ]] && return 0
        sleep 0.2
    done
    note "usage of $(basename "$file" .stats.json) still had $pending pending records after 10 s"
}

# ---- request bodies ----
GW_BODY='{"text":"Hello from the benchmark.","voice_name":"marcus"}'
VOICE_ID="moss_audio_a59cd561-ab87-11f0-a74c-2a7a0b4baedc"
MM_COMMON='"model":"speech-02-turbo","text":"Hello from the benchmark.","voice_setting":{"voice_id":"'$VOICE_ID'","speed":1.0,"vol":1.0,"pitch":0},"audio_setting":{"sample_rate":32000,"bitrate":128000,"format":"mp3","channel":1}'
DIRECT_BODY='{'$MM_COMMON',"stream":false,"output_format":"hex"}'
DIRECT_STREAM_BODY='{'$MM_COMMON',"stream":true,"stream_options":{"exclude_aggregated_audio":true}}'

LOADS=()
for c in $BENCH_CONCURRENCY; do LOADS+=("c$c"); done
((BENCH_RATE > 0)) && LOADS+=("q$BENCH_RATE")

# oha_args LOAD SECONDS
oha_args() {
    local ld=$1 secs=$2
    OHA_ARGS=(-z "${secs}s" --no-tui --output-format json --wait-ongoing-requests-after-deadline)
    case $ld in
    c*) OHA_ARGS+=(-c "${ld#c}") ;;
    q*) OHA_ARGS+=(-c "$BENCH_RATE_CONNECTIONS" -q "${ld#q}") ;;
    esac
}

# load_run BACKEND TARGET LOAD
load_run() {
    local backend=$1 target=$2 ld=$3 url key body pid base
    base="$BENCH_OUT/$backend/$target-$ld"
    if [[ $target == direct ]]; then
        url="$SIM_URL/v1/t2a_v2" key=$SIM_KEY body=$DIRECT_BODY pid=$SIM_PID
    else
        new_user "$backend-$ld"
        url="$GW_URL/v1/tts" key=$U_KEY body=$GW_BODY pid=$GW_PID
    fi
    if ((BENCH_WARMUP_SECONDS > 0)); then
        local wkey=$key
        [[ $target == gateway ]] && wkey=$WARM_KEY
        oha_args "$ld" "$BENCH_WARMUP_SECONDS"
        timeout $((BENCH_WARMUP_SECONDS + 60)) "$OHA" "${OHA_ARGS[@]}" -m POST -H "Authorization: Bearer $wkey" \
            -T application/json -d "$body" "$url" >"$base.warmup.json" 2>>"$LOGS/oha.err" ||
            note "$backend $target $ld: warm-up failed"
    fi
    oha_args "$ld" "$BENCH_SECONDS"
    log "$backend: $target $ld for ${BENCH_SECONDS}s"
    python3 "$LIB/procmon.py" --pid "$pid" --stdout "$base.oha.json" --timeout $((BENCH_SECONDS + 120)) -- \
        "$OHA" "${OHA_ARGS[@]}" -m POST -H "Authorization: Bearer $key" -T application/json -d "$body" "$url" \
        >"$base.mon.json" 2>>"$LOGS/oha.err" || note "$backend $target $ld: load run failed"
    if [[ $target == gateway ]]; then
        usage_stats "$U_KEY" "$BENCH_OUT/$backend/gateway-$ld.stats.json"
    fi
}

# bench_backend NAME DB_URL: one gateway on that database, the load runs and the TTFB runs.
bench_backend() {
    local backend=$1 db=$2 ld
    mkdir -p "$BENCH_OUT/$backend"
    start_sim "sim-$backend"
    start_gateway "gateway-$backend" "$db" "$SIM_URL"
    sleep 1
    echo "{\"rss_kb\": $(rss_kb "$GW_PID")}" >"$BENCH_OUT/$backend/idle.json"
    new_user "$backend-warmup"
    WARM_KEY=$U_KEY
    for ld in "${LOADS[@]}"; do
        load_run "$backend" direct "$ld"
        load_run "$backend" gateway "$ld"
    done
    log "$backend: time to first byte, $BENCH_TTFB_REQUESTS sequential requests each"
    python3 "$LIB/ttfb.py" --mode direct --url "$SIM_URL/v1/t2a_v2" --auth "$SIM_KEY" \
        --body "$DIRECT_STREAM_BODY" -n "$BENCH_TTFB_REQUESTS" --max-seconds 300 \
        >"$BENCH_OUT/$backend/ttfb-direct.json" 2>>"$LOGS/ttfb.err" || note "$backend: direct TTFB run failed"
    new_user "$backend-ttfb"
    python3 "$LIB/ttfb.py" --mode gateway --url "$GW_URL/v2/tts" --auth "$U_KEY" \
        --body "$GW_BODY" -n "$BENCH_TTFB_REQUESTS" --max-seconds 300 \
        >"$BENCH_OUT/$backend/ttfb-gateway.json" 2>>"$LOGS/ttfb.err" || note "$backend: gateway TTFB run failed"
    usage_stats "$U_KEY" "$BENCH_OUT/$backend/ttfb-gateway.stats.json"
    # Informational: the same over one reused keep-alive connection (exposes Nagle/delayed-ACK
    # stalls of a server that does not set TCP_NODELAY).
    python3 "$LIB/ttfb.py" --mode direct --connection keepalive --url "$SIM_URL/v1/t2a_v2" --auth "$SIM_KEY" \
        --body "$DIRECT_STREAM_BODY" -n "$BENCH_TTFB_REQUESTS" --max-seconds 120 \
        >"$BENCH_OUT/$backend/ttfb-direct-keepalive.json" 2>>"$LOGS/ttfb.err" || note "$backend: direct keep-alive TTFB run failed"
    new_user "$backend-ttfb-keepalive"
    python3 "$LIB/ttfb.py" --mode gateway --connection keepalive --url "$GW_URL/v2/tts" --auth "$U_KEY" \
        --body "$GW_BODY" -n "$BENCH_TTFB_REQUESTS" --max-seconds 120 \
        >"$BENCH_OUT/$backend/ttfb-gateway-keepalive.json" 2>>"$LOGS/ttfb.err" || note "$backend: gateway keep-alive TTFB run failed"
    stop_pid "$GW_PID"
    stop_pid "$SIM_PID"
}

# metering_ceiling BACKEND DB_URL: the store's reserve + settle alone, at each concurrency.
metering_ceiling() {
    local backend=$1 db=$2
    log "$backend: metering ceiling (reserve + settle alone) for ${BENCH_SECONDS}s per concurrency"
    timeout $((BENCH_SECONDS * 10 + 120)) "$CEILING_BIN" "$db" "$BENCH_SECONDS" $BENCH_CONCURRENCY \
        >"$BENCH_OUT/$backend/metering.jsonl" 2>>"$LOGS/metering.err" || note "$backend: metering ceiling run failed"
}

# ---- a quiet machine: the build above (or other work) keeps the 1-minute load average up for a
# while after it ends; wait, bounded, until it is below 0.5. The report still prints what it was.
settle_until=$((SECONDS + BENCH_SETTLE_SECONDS))
while ((SECONDS < settle_until)) && awk '{ exit !($1 >= 0.5) }' /proc/loadavg; do
    sleep 5
done
awk '{ exit !($1 >= 0.5) }' /proc/loadavg &&
    log "load average still $(cut -d' ' -f1 /proc/loadavg) after ${BENCH_SETTLE_SECONDS}s; measuring anyway"

# ---- what the machine itself costs (disk flush, loopback wake-up, one core's speed) ----
log "calibrating the machine"
timeout 120 python3 "$LIB/calibrate.py" --dir "$TMP" >"$BENCH_OUT/calibration.json" 2>>"$LOGS/calibrate.err" ||
    note "machine calibration failed: $(tail -n 2 "$LOGS/calibrate.err" | tr '\n' ' ')"

# ---- run metadata ----
python3 - "$BENCH_OUT/meta.json" <<EOF
import json, subprocess, sys
from datetime import datetime, timezone
def sh(*a):
    try:
        return subprocess.run(a, capture_output=True, text=True, timeout=30, cwd="$ROOT").stdout.strip()
    except Exception:
        return ""
head = sh("git", "rev-parse", "--short", "HEAD")
# The report this run rewrites does not count as a change to what is measured.
dirty = sh("git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results.md")
json.dump({
    "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "git": (head + (" (with uncommitted changes)" if dirty else "")) if head else "",
    "loadavg_start": " ".join(open("/proc/loadavg").read().split()[:3]),
    "bench_seconds": $BENCH_SECONDS,
    "warmup_seconds": $BENCH_WARMUP_SECONDS,
    "concurrencies": "$BENCH_CONCURRENCY",
    "rate": $BENCH_RATE,
    "rate_connections": $BENCH_RATE_CONNECTIONS,
    "ttfb_requests": $BENCH_TTFB_REQUESTS,
    "ttfb_warmup": 5,
    "streams": $BENCH_STREAMS,
    "stream_hold": $BENCH_STREAM_HOLD_SECONDS,
    "stream_chunk_delay_ms": $BENCH_STREAM_CHUNK_DELAY_MS,
    "oha": sh("$OHA", "--version"),
    "loads": "${LOADS[*]}".split(),
}, open(sys.argv[1], "w"))
EOF

# ---- SQLite ----
mkdir -p "$TMP/sqlite" "$TMP/streams"
bench_backend sqlite "sqlite://$TMP/sqlite/odeadev.db"
mkdir -p "$TMP/metering"
metering_ceiling sqlite "sqlite://$TMP/metering/odeadev.db"

# ---- PostgreSQL: a fresh database made for the run ----
# Unset: the machine's own server, when one answers on loopback (as on the development and CI
# machines), so that a plain `make bench` measures both backends.
if [[ -z $PG_URL ]] && command -v psql >/dev/null; then
    for candidate in postgres://postgres@127.0.0.1:5432/test postgres://root@127.0.0.1:5432/test; do
        if PGCONNECT_TIMEOUT=3 timeout 10 psql "$candidate" -qAtc 'SELECT 1' >/dev/null 2>&1; then
            PG_URL=$candidate
            log "PostgreSQL: using the local server, $candidate (BENCH_DATABASE_URL chooses another)"
            break
        fi
    done
fi
if [[ -z $PG_URL ]]; then
    note "PostgreSQL skipped: neither BENCH_DATABASE_URL nor TEST_DATABASE_URL is set, and no server answers at 127.0.0.1:5432"
elif ! command -v psql >/dev/null; then
    note "PostgreSQL skipped: psql is not installed (needed to create the run's database)"
else
    read -r PG_HOST PG_ADMIN_URL < <(python3 - "$PG_URL" <<'EOF'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(u.hostname or "-", urllib.parse.urlunsplit(u._replace(path="/postgres")))
EOF
)
    case $PG_HOST in
    127.* | localhost | ::1 | -) loopback=1 ;;
    *) loopback=0 ;;
    esac
    if ((loopback == 0)); then
        note "PostgreSQL skipped: $PG_HOST is not a loopback host (the benchmark stays on this machine)"
    else
        PG_NAME="odeadev_bench_$(date +%s)_$$"
        # Try the server's maintenance database first, then the URL's own.
        if ! timeout 30 psql "$PG_ADMIN_URL" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$PG_NAME\"" >>"$LOGS/psql.log" 2>&1; then
            PG_ADMIN_URL=$PG_URL
            timeout 30 psql "$PG_ADMIN_URL" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$PG_NAME\"" >>"$LOGS/psql.log" 2>&1 ||
                PG_NAME=""
        fi
        if [[ -z $PG_NAME ]]; then
            note "PostgreSQL skipped: could not create a database: $(tail -n 2 "$LOGS/psql.log" | tr '\n' ' ')"
        else
            PG_DB=$PG_NAME
            PG_RUN_URL=$(python3 -c 'import sys, urllib.parse as p; u=p.urlsplit(sys.argv[1]); print(p.urlunsplit(u._replace(path="/"+sys.argv[2])))' "$PG_URL" "$PG_NAME")
            bench_backend postgres "$PG_RUN_URL"
            metering_ceiling postgres "$PG_RUN_URL"
            timeout 30 psql "$PG_ADMIN_URL" -q -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >>"$LOGS/psql.log" 2>&1 &&
                PG_DB=""
        fi
    fi
fi

# ---- 2,000 concurrent streams against a slowly streaming simulator ----
if ((BENCH_STREAMS > 0)); then
    log "streams: $BENCH_STREAMS concurrent /v2/tts held ${BENCH_STREAM_HOLD_SECONDS}s"
    start_sim sim-streams --stream-chunk-delay-ms "$BENCH_STREAM_CHUNK_DELAY_MS"
    # Streams must outlast the ramp and the hold: the upstream timeout is raised to match.
    # Every stream comes from this one loopback address, past the gateway's default bounds
    # on open connections.
    GW_EXTRA_ENV=(MINIMAX_TIMEOUT_MS=$(((BENCH_STREAM_HOLD_SECONDS + 120) * 1000))
        ODEADEV_MAX_CONNECTIONS=$((2 * BENCH_STREAMS + 1000))
        ODEADEV_MAX_CONNECTIONS_PER_ADDRESS=$((2 * BENCH_STREAMS + 1000)))
    start_gateway gateway-streams "sqlite://$TMP/streams/odeadev.db" "$SIM_URL"
    GW_EXTRA_ENV=()
    sleep 1
    echo "{\"rss_kb\": $(rss_kb "$GW_PID")}" >"$BENCH_OUT/streams.idle.json"
    # Long enough to stream for the ramp, the hold and 30 s more: the simulator speaks 60 ms per
    # character in 250 ms chunks sent BENCH_STREAM_CHUNK_DELAY_MS apart (at most 5,000 characters).
    STREAM_TEXT=$(python3 -c 'import math,sys
hold, delay = int(sys.argv[1]), max(1, int(sys.argv[2]))
n = min(5000, max(100, math.ceil((hold + 60) / (0.060 / 0.250 * delay / 1000))))
print(("This sentence is spoken slowly for the benchmark. " * 200)[:n].strip())' "$BENCH_STREAM_HOLD_SECONDS" "$BENCH_STREAM_CHUNK_DELAY_MS")
    new_user streams-warmup
    # One stream of the same text first, so the simulator's audio cache is warm and 2,000 cold
    # requests do not all wait for the same encoding.
    curl -sS -N -m 5 -o /dev/null "$GW_URL/v2/tts" -H "Authorization: Bearer $U_KEY" \
        -H 'Content-Type: application/json' --data "$(python3 -c 'import json,sys; print(json.dumps({"text": sys.argv[1], "voice_name": "marcus"}))' "$STREAM_TEXT")" \
        2>/dev/null || true
    new_user streams
    python3 "$LIB/streams.py" --port "${GW_URL##*:}" --auth "$U_KEY" --pid "$GW_PID" -n "$BENCH_STREAMS" \
        --text "$STREAM_TEXT" --hold "$BENCH_STREAM_HOLD_SECONDS" --max-seconds $((BENCH_STREAM_HOLD_SECONDS + 150)) \
        >"$BENCH_OUT/streams.json" 2>>"$LOGS/streams.err" || note "streams test failed"
    usage_stats "$U_KEY" "$BENCH_OUT/streams.stats.json"
    stop_pid "$GW_PID"
    stop_pid "$SIM_PID"
else
    note "streams test skipped (BENCH_STREAMS=0)"
fi

# ---- report ----
python3 "$LIB/report.py" "$BENCH_OUT" >"$BENCH_OUT/results.md"
cp "$BENCH_OUT/results.md" "$BENCH_RESULTS"
cat "$BENCH_RESULTS"
