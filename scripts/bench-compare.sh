#!/usr/bin/env bash
# bench-compare.sh: actorlog and NATS JetStream side by side, on this machine,
# in one run.
#
# For each setup -- one server (R1) and three clustered servers (R3), each with
# an fsync before every acknowledgement and with the default periodic fsync --
# it starts fresh servers of both systems on 127.0.0.1 with temporary data
# directories, runs the same workloads against each, and stops them again:
#
#   produce 128 B and 1 KiB records, batched/async and one at a time;
#   consume 1 KiB records just written (cached).
#
# It prints one table with both systems and the ratio actorlog/JetStream per
# row, and writes it, with the date, the machine and its load, to the section
# "## actorlog versus NATS JetStream" of docs/BENCHMARKS.md, keeping the
# sections around it.
#
# Environment:
#   MSGS=N         records per batched run and per consume (default 200000,
#                  QUICK: 20000)
#   SYNC_MSGS=N    records per one-at-a-time run (default MSGS/40)
#   QUICK=1        a fast smoke run with small counts; it leaves the doc
#                  alone unless WRITE_DOC=1, and then says what it was
#   WRITE_DOC=0|1  whether to write the table into docs/BENCHMARKS.md
#   KEEP_LOGS=DIR  copy the servers' and the benches' logs to DIR at the end
#   NOTE="..."     a paragraph to add to the doc about this run
#   QUIET_WAIT=S   wait up to S seconds (default 180) for the 1-minute load
#                  average to fall below 0.5 before measuring
#   SYSTEMS="nats actorlog", REPLICAS="1 3"
#                  run a subset (the table shows the rest as "-")
#
# NATS is a benchmark peer only: nats-server and the nats CLI are built into
# bin/ at pinned versions, never used by the build. Every process the script
# starts is stopped on exit, on failure and on Ctrl-C, and its temporary
# directory is removed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/bin
DOC=$ROOT/docs/BENCHMARKS.md
SECTION="## actorlog versus NATS JetStream"
NATS_SERVER_VERSION=v2.15.2
NATSCLI_VERSION=v0.5.0

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  MSGS=${MSGS:-20000}
else
  MSGS=${MSGS:-200000}
fi
SYNC_MSGS=${SYNC_MSGS:-$(( MSGS / 40 > 100 ? MSGS / 40 : 100 ))}
# A smoke run does not replace measured numbers unless asked to.
WRITE_DOC=${WRITE_DOC:-$([ "$QUICK" = 1 ] && echo 0 || echo 1)}
# Bound every single measurement, so a stuck server cannot hang the run.
# (timeout --foreground keeps the tool in our process group, so Ctrl-C
# reaches it at once.)
RUN_TIMEOUT=${RUN_TIMEOUT:-600}

# The workload shapes. JetStream's async publisher keeps --batch publishes
# outstanding; actorlog keeps AL_INFLIGHT requests of AL_BATCH records.
NATS_ASYNC_BATCH=500
AL_BATCH=100
AL_INFLIGHT=8
CONSUME_BATCH=1000

log() { echo "bench-compare: $*" >&2; }
die() { log "$*"; exit 1; }

# --- processes and cleanup ---------------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-compare.XXXXXX")
PIDS=()

stop_pids() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}

# settle DIR: after a setup has stopped, delete its data (the logs stay) and
# flush the page cache to disk, so that the next setup does not pay for the
# writeback of this one's data: with periodic fsync a setup leaves hundreds
# of megabytes dirty, and the kernel writes them back while whatever runs
# next is being measured.
settle() {
  find "$1" -type f \( -path '*/data/*' -o -path '*/store*' \) -delete 2>/dev/null || true
  sync
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pids
  if [ -n "${KEEP_LOGS:-}" ]; then
    mkdir -p "$KEEP_LOGS" &&
      (cd "$TMP" && find . -type f \( -name '*.log' -o -name '*.out' -o -name '*.json' -o -name '*.csv' -o -name '*.conf' \) \
        -not -path '*/data/*' -not -path '*/store*' -print0 | xargs -0 -r cp --parents -t "$KEEP_LOGS") || true
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# free_ports N prints N ports that the kernel considers free right now.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# wait_for DESCRIPTION SECONDS CMD...: poll CMD until it succeeds.
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || { log "timed out waiting for $what"; return 1; }
    sleep 0.2
  done
}

# --- tools ---------------------------------------------------------------------

build_tools() {
  mkdir -p "$BIN"
  log "building bin/actorlog"
  (cd "$ROOT" && go build -o "$BIN/actorlog" ./cmd/actorlog)
  # Run a private copy: a rebuild of bin/actorlog during the run must not
  # mix two builds in one table.
  cp "$BIN/actorlog" "$TMP/actorlog"
  AL=$TMP/actorlog
  if [ "$("$BIN/nats-server" --version 2>/dev/null)" != "nats-server: $NATS_SERVER_VERSION" ]; then
    log "building bin/nats-server $NATS_SERVER_VERSION (a few minutes the first time)"
    (cd "$TMP" && GOBIN=$BIN go install "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION")
  fi
  if [ "$("$BIN/nats" --version 2>/dev/null)" != "$NATSCLI_VERSION" ]; then
    log "building bin/nats $NATSCLI_VERSION"
    (cd "$TMP" && GOBIN=$BIN go install "github.com/nats-io/natscli/nats@$NATSCLI_VERSION")
  fi
}

# --- NATS JetStream ----------------------------------------------------------

NATS_URLS=""

# start_nats REPLICAS DURABILITY (always|default)
start_nats() {
  local r=$1 dur=$2 dir="$TMP/nats-r$1-$2" i
  local ports; read -r -a ports <<<"$(free_ports $(( 3 * r )))"
  mkdir -p "$dir"
  local routes="" urls=""
  for ((i = 0; i < r; i++)); do
    routes+="nats-route://127.0.0.1:${ports[$((r + i))]},"
    urls+="nats://127.0.0.1:${ports[$i]},"
  done
  NATS_URLS=${urls%,}
  for ((i = 0; i < r; i++)); do
    local conf="$dir/s$i.conf" sync=""
    [ "$dur" = always ] && sync="sync_interval: always"
    cat >"$conf" <<EOF
server_name: s$i
listen: 127.0.0.1:${ports[$i]}
http: 127.0.0.1:${ports[$((2 * r + i))]}
jetstream { store_dir: "$dir/store$i", $sync }
EOF
    if [ "$r" -gt 1 ]; then
      cat >>"$conf" <<EOF
cluster { name: bench, listen: 127.0.0.1:${ports[$((r + i))]}, routes: [${routes%,}] }
EOF
    fi
    "$BIN/nats-server" -c "$conf" >"$dir/s$i.log" 2>&1 &
    PIDS+=($!)
  done
  for ((i = 0; i < r; i++)); do
    wait_for "nats-server s$i" 30 curl -sf "http://127.0.0.1:${ports[$((2 * r + i))]}/healthz" || return 1
  done
  # JetStream answers once the cluster has a meta leader.
  wait_for "the JetStream meta leader" 30 "$BIN/nats" -s "$NATS_URLS" account info
}

# nats_bench OUT_CSV ARGS...: one `nats bench` run; prints "records/s p99_us".
nats_bench() {
  local csv=$1; shift
  timeout --foreground "$RUN_TIMEOUT" "$BIN/nats" -s "$NATS_URLS" bench "$@" --no-progress --csv "$csv" \
    >"${csv%.csv}.log" 2>&1 || { tail -5 "${csv%.csv}.log" >&2; return 1; }
  # columns: ...,MsgsPerSec(5),...,P50LatencyMicroSecs(11),...,P99LatencyMicroSecs(13),...
  # printed as "records/s p99 - p50" (the third field is actorlog's first offset)
  awk -F, 'NR == 2 { print $5, ($13 == "" ? "-" : $13), "-", ($11 == "" ? "-" : $11) }' "$csv"
}

# run_nats REPLICAS DURABILITY: every workload; results into RES.
run_nats() {
  local r=$1 dur=$2 key="nats|r$1|$2" d="$TMP/nats-r$1-$2"
  log "JetStream R$r, sync $dur"
  if ! start_nats "$r" "$dur"; then
    log "JetStream R$r ($dur) did not start"; stop_pids; return
  fi
  local common=(--create --purge --storage file --replicas "$r")
  RES["$key|sync128"]=$(nats_bench "$d/sync128.csv" js pub sync bench.x "${common[@]}" --size 128B --msgs "$SYNC_MSGS") || RES["$key|sync128"]="error"
  RES["$key|sync1k"]=$(nats_bench "$d/sync1k.csv" js pub sync bench.x "${common[@]}" --size 1KB --msgs "$SYNC_MSGS") || RES["$key|sync1k"]="error"
  RES["$key|async128"]=$(nats_bench "$d/async128.csv" js pub async bench.x "${common[@]}" --batch "$NATS_ASYNC_BATCH" --size 128B --msgs "$MSGS") || RES["$key|async128"]="error"
  RES["$key|async1k"]=$(nats_bench "$d/async1k.csv" js pub async bench.x "${common[@]}" --batch "$NATS_ASYNC_BATCH" --size 1KB --msgs "$MSGS") || RES["$key|async1k"]="error"
  # reads back the stream the last run left: MSGS records of 1 KiB
  RES["$key|consume1k"]=$(nats_bench "$d/consume1k.csv" js fetch --batch "$CONSUME_BATCH" --size 1KB --msgs "$MSGS") || RES["$key|consume1k"]="error"
  stop_pids
  settle "$d"
}

# --- actorlog ----------------------------------------------------------------

AL_SERVERS=""
AGENT_ADDR=""
AL=$BIN/actorlog # the copy build_tools makes

# start_agent ID DATADIR SYNC EXTRA...: starts one agent, waits for its ready
# line and sets AGENT_ADDR to its actor address. (Not run in $(...): the
# agent's pid must reach PIDS in this shell.)
start_agent() {
  local id=$1 dir=$2 sync=$3; shift 3
  mkdir -p "$dir"
  "$AL" agent --id "$id" --data-dir "$dir/data" --actor-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 \
    --sync "$sync" --log-level warn "$@" >"$dir/ready.out" 2>"$dir/agent.log" &
  PIDS+=($!)
  local pid=$! deadline=$(( $(date +%s) + 30 ))
  until grep -q '^actorlog agent ready' "$dir/ready.out" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { log "agent $id exited:"; tail -5 "$dir/agent.log" >&2; return 1; }
    [ "$(date +%s)" -lt "$deadline" ] || { log "agent $id not ready after 30s"; return 1; }
    sleep 0.1
  done
  AGENT_ADDR=$(sed -n 's/.* actor=\([^ ]*\).*/\1/p' "$dir/ready.out")
}

# agents_alive reports agents of the current setup that are gone.
agents_alive() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || echo "bench-compare: agent pid $pid has exited"
  done
}

# agent_has FLAG: whether this build's agent has --FLAG. (Not `| grep -q`:
# under pipefail, grep quitting early fails the pipeline with SIGPIPE.)
agent_has() { [[ "$("$AL" agent --help 2>&1)" == *"--$1 "* ]]; }

# start_actorlog REPLICAS SYNC (always|interval)
start_actorlog() {
  local r=$1 sync=$2 dir="$TMP/actorlog-r$1-$2" i
  if [ "$r" -eq 1 ]; then
    local extra=()
    if agent_has bootstrap; then
      extra=(--bootstrap --raft-addr "127.0.0.1:$(free_ports 1)")
    fi
    start_agent n1 "$dir/n1" "$sync" "${extra[@]}" || return 1
    AL_SERVERS=$AGENT_ADDR
    return 0
  fi
  local rports; read -r -a rports <<<"$(free_ports "$r")"
  start_agent n1 "$dir/n1" "$sync" --bootstrap --raft-addr "127.0.0.1:${rports[0]}" || return 1
  AL_SERVERS=$AGENT_ADDR
  for ((i = 1; i < r; i++)); do
    start_agent "n$((i + 1))" "$dir/n$((i + 1))" "$sync" --join "${AL_SERVERS%%,*}" \
      --raft-addr "127.0.0.1:${rports[$i]}" || return 1
    AL_SERVERS+=",$AGENT_ADDR"
  done
  # The cluster is formed when a node lists every member and a leader.
  al_formed() {
    local out; out=$("$AL" servers --servers "$AL_SERVERS" --timeout 2s) || return 1
    [ "$(grep -c '^n[0-9]' <<<"$out")" -eq "$r" ] && grep -q ' true ' <<<"$out"
  }
  wait_for "an actorlog cluster of $r" 60 al_formed
}

# al_bench OUT_JSON ARGS...: one `actorlog bench` run; prints
# "records/s p99_us first_offset p50_us".
al_bench() {
  local out=$1; shift
  timeout --foreground "$RUN_TIMEOUT" "$AL" bench "$@" --servers "$AL_SERVERS" --json \
    >"$out" 2>"${out%.json}.log" || { tail -5 "${out%.json}.log" >&2; agents_alive >&2; return 1; }
  jq -r '"\(.records_per_s) \(.latency_us.p99) \(.first_offset) \(.latency_us.p50)"' "$out"
}

run_actorlog() {
  local r=$1 sync=$2 key="actorlog|r$1|$2" d="$TMP/actorlog-r$1-$2"
  local w
  if [ "$r" -gt 1 ] && ! { agent_has bootstrap && agent_has join; }; then
    log "actorlog R$r: not available in this build (agent has no --bootstrap/--join)"
    for w in sync128 sync1k async128 async1k consume1k; do RES["$key|$w"]="n/a"; done
    return
  fi
  log "actorlog R$r, --sync $sync"
  if ! start_actorlog "$r" "$sync"; then
    log "actorlog R$r ($sync) did not start"
    for w in sync128 sync1k async128 async1k consume1k; do RES["$key|$w"]="error"; done
    stop_pids; return
  fi
  mkdir -p "$d"
  RES["$key|sync128"]=$(al_bench "$d/sync128.json" produce --size 128 --records "$SYNC_MSGS" --batch 1 --inflight 1) || RES["$key|sync128"]="error"
  RES["$key|sync1k"]=$(al_bench "$d/sync1k.json" produce --size 1024 --records "$SYNC_MSGS" --batch 1 --inflight 1) || RES["$key|sync1k"]="error"
  RES["$key|async128"]=$(al_bench "$d/async128.json" produce --size 128 --records "$MSGS" --batch "$AL_BATCH" --inflight "$AL_INFLIGHT") || RES["$key|async128"]="error"
  RES["$key|async1k"]=$(al_bench "$d/async1k.json" produce --size 1024 --records "$MSGS" --batch "$AL_BATCH" --inflight "$AL_INFLIGHT") || RES["$key|async1k"]="error"
  # reads back what the last run wrote, from its first offset
  local first
  first=$(awk '{ print $3 }' <<<"${RES[$key|async1k]}")
  if [[ "$first" =~ ^[0-9]+$ ]]; then
    RES["$key|consume1k"]=$(al_bench "$d/consume1k.json" consume --from "$first" --records "$MSGS" --batch "$CONSUME_BATCH" --inflight 1) || RES["$key|consume1k"]="error"
  else
    RES["$key|consume1k"]="error"
  fi
  stop_pids
  settle "$TMP/actorlog-r$r-$sync"
}

# --- the table ---------------------------------------------------------------

# fmt_rate N: 61234.5 -> 61,235
fmt_rate() { awk -v n="$1" 'BEGIN { s = sprintf("%.0f", n); o = ""; while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) } print s o }'; }
fmt_ms() { awk -v n="$1" 'BEGIN { printf (n >= 10000 ? "%.0f ms" : (n >= 1000 ? "%.1f ms" : "%.2f ms")), n / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# cell VALUE FIELD FORMATTER: "-"/"n/a"/"error" pass through.
is_num() { [[ "$1" =~ ^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$ ]]; }

table() {
  echo "| setup | durability | workload | JetStream rec/s | actorlog rec/s | ratio | JetStream p50 | actorlog p50 | ratio | JetStream p99 | actorlog p99 | ratio |"
  echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  local r dur wl
  for r in 1 3; do
    for dur in always default; do
      local alsync=$([ "$dur" = always ] && echo always || echo interval)
      local durtxt=$([ "$dur" = always ] && echo "fsync before ack" || echo "periodic fsync")
      for wl in async128 async1k sync128 sync1k consume1k; do
        local n=${RES["nats|r$r|$dur|$wl"]:-"-"} a=${RES["actorlog|r$r|$alsync|$wl"]:-"-"}
        local nr=${n%% *} np="-" nm="-" ar=${a%% *} ap="-" am="-"
        # JetStream's fetch latency is the time to issue a fetch, not to
        # receive its messages: not comparable, so left out.
        [[ "$n" == *" "* && $wl != consume1k ]] && { np=$(awk '{ print $2 }' <<<"$n"); nm=$(awk '{ print $4 }' <<<"$n"); }
        [[ "$a" == *" "* ]] && { ap=$(awk '{ print $2 }' <<<"$a"); am=$(awk '{ print $4 }' <<<"$a"); }
        local nrf=$nr arf=$ar npf=$np apf=$ap nmf=$nm amf=$am rr="-" pr="-" mr="-"
        is_num "$nr" && nrf=$(fmt_rate "$nr")
        is_num "$ar" && arf=$(fmt_rate "$ar")
        is_num "$np" && npf=$(fmt_ms "$np")
        is_num "$ap" && apf=$(fmt_ms "$ap")
        is_num "$nm" && nmf=$(fmt_ms "$nm")
        is_num "$am" && amf=$(fmt_ms "$am")
        is_num "$nr" && is_num "$ar" && rr=$(ratio "$ar" "$nr")
        is_num "$np" && is_num "$ap" && pr=$(ratio "$ap" "$np")
        is_num "$nm" && is_num "$am" && mr=$(ratio "$am" "$nm")
        [ "$ar" = "n/a" ] && arf="not available in this build"
        echo "| R$r | $durtxt | ${WORKLOAD_NAME[$wl]} | $nrf | $arf | $rr | $nmf | $amf | $mr | $npf | $apf | $pr |"
      done
    done
  done
}

declare -A WORKLOAD_NAME=(
  [async128]="produce 128 B, batched"
  [async1k]="produce 1 KiB, batched"
  [sync128]="produce 128 B, one at a time"
  [sync1k]="produce 1 KiB, one at a time"
  [consume1k]="consume 1 KiB, cached"
)

write_doc() {
  local table=$1 when=$2 disk=$3 load0=$4 load1=$5
  local shared="" quick=""
  if awk -v l="$load0" 'BEGIN { exit !(l > 0.5) }'; then
    shared="**The machine was busy when this run started** (load average $load0),
so these numbers are not a measurement: retake them on a quiet machine."
  else
    shared="The machine was otherwise idle at the start of the run."
  fi
  [ "$QUICK" = 1 ] && quick="**This was a QUICK=1 smoke run** ($MSGS records per batched run, $SYNC_MSGS
one at a time): it shows that the script works end to end; runs this short
measure nothing."
  local tmpdoc="$TMP/BENCHMARKS.md" rest="$TMP/BENCHMARKS.rest"
  # The sections after this one are kept as they are.
  awk -v s="$SECTION" 'found && /^## / { on = 1 } $0 == s { found = 1 } on { print }' "$DOC" >"$rest"
  if grep -qxF "$SECTION" "$DOC"; then
    awk -v s="$SECTION" '$0 == s { exit } { print }' "$DOC" >"$tmpdoc"
  else
    cat "$DOC" >"$tmpdoc"
    echo >>"$tmpdoc"
  fi
  # drop trailing blank lines, then one blank line before the section
  sed -i -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$tmpdoc"
  cat >>"$tmpdoc" <<EOF

$SECTION

Written by \`scripts/bench-compare.sh\` (\`make bench-compare\`); rerun it to
replace this section. Each setup starts fresh servers of both systems on
127.0.0.1 with temporary data directories on the same disk, runs the
workloads below one after the other, and stops them. Compare only numbers
taken in the same run on the same machine.

- **Durability.** "fsync before ack": JetStream \`sync_interval: always\`,
  actorlog \`--sync always\`. "periodic fsync": JetStream's default (fsync
  every 2 minutes), actorlog \`--sync interval\` (every 100 ms).
- **Batched:** JetStream \`nats bench js pub async --batch $NATS_ASYNC_BATCH\`
  ($NATS_ASYNC_BATCH publishes outstanding); actorlog
  \`bench produce --batch $AL_BATCH --inflight $AL_INFLIGHT\` ($AL_INFLIGHT requests of $AL_BATCH records
  outstanding). $MSGS records per run.
- **One at a time:** \`nats bench js pub sync\`; actorlog
  \`bench produce --batch 1 --inflight 1\`. $SYNC_MSGS records per run.
- **Consume:** the $MSGS records of 1 KiB that the batched run just wrote,
  read back: \`nats bench js fetch --batch $CONSUME_BATCH\` (a durable pull consumer) and
  actorlog \`bench consume --batch $CONSUME_BATCH --inflight 1\`.
- **p50 and p99** are per request as each tool measures it: one publish in
  JetStream's sync runs, one batch of async publishes (first publish to last
  ack) in its batched runs; one produce or consume request for actorlog.
  \`nats bench js fetch\` times only the issuing of a fetch, not the arrival
  of its messages, so consume has no JetStream latency.
- **Ratios** are actorlog/JetStream: above 1 means actorlog is faster in
  records/s, and slower in p50 or p99.
- **Between setups** the data of the one that ran is deleted and the page
  cache flushed (\`sync\`), so that no system is measured while the kernel
  writes back another's data.

**Date:** $when. **Machine:** $(nproc) cores, $(go env GOOS)/$(go env GOARCH), $(go version | awk '{ print $3 }'),
nats-server $NATS_SERVER_VERSION, natscli $NATSCLI_VERSION.
actorlog built from $BUILD.
Disk: \`dd bs=1M count=256 conv=fdatasync\` in the data directories' file
system measured $disk. Load average (1 min): $load0 at the start, $load1 at
the end (which is mostly the run's own servers and tools).

$shared
${quick:+
$quick
}${NOTE:+
$NOTE
}
$table
EOF
  if [ -s "$rest" ]; then
    echo >>"$tmpdoc"
    cat "$rest" >>"$tmpdoc"
  fi
  cp "$tmpdoc" "$DOC"
}

# --- main ----------------------------------------------------------------------

command -v jq >/dev/null || die "jq is required (apt-get install jq)"
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required (to ask the kernel for free ports)"
build_tools

declare -A RES
BUILD=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo "unknown")
if [[ "$BUILD" == *-dirty ]]; then
  BUILD="commit ${BUILD%-dirty} plus uncommitted changes"
else
  BUILD="commit $BUILD"
fi
WHEN=$(date -u '+%Y-%m-%d %H:%M UTC')
# Other work on the machine skews every number: wait (up to QUIET_WAIT
# seconds) for the 1-minute load average to settle below 0.5 first.
quiet_deadline=$(( $(date +%s) + ${QUIET_WAIT:-180} ))
until awk '{ exit !($1 < 0.5) }' /proc/loadavg || [ "$(date +%s)" -ge "$quiet_deadline" ]; do
  log "waiting for a quiet machine (load average $(awk '{ print $1 }' /proc/loadavg))"
  sleep 15
done
LOAD0=$(awk '{ print $1 }' /proc/loadavg)
DISK=$(dd if=/dev/zero of="$TMP/dd.tmp" bs=1M count=256 conv=fdatasync 2>&1 | awk -F', ' '/copied/ { print $NF }')
rm -f "$TMP/dd.tmp"
log "$(nproc) cores, disk $DISK, load average $LOAD0; MSGS=$MSGS SYNC_MSGS=$SYNC_MSGS"

for r in ${REPLICAS:-1 3}; do
  for sys in ${SYSTEMS:-nats actorlog}; do
    case $sys in
      nats) for dur in always default; do run_nats "$r" "$dur"; done ;;
      actorlog) for sync in always interval; do run_actorlog "$r" "$sync"; done ;;
      *) die "SYSTEMS: unknown system $sys (nats, actorlog)" ;;
    esac
  done
done

LOAD1=$(awk '{ print $1 }' /proc/loadavg)
TABLE=$(table)
echo "$TABLE"
if [ "$WRITE_DOC" = 1 ]; then
  write_doc "$TABLE" "$WHEN" "$DISK" "$LOAD0" "$LOAD1"
  log "wrote the table to ${DOC#"$ROOT"/}"
fi
