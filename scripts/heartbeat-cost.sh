#!/usr/bin/env bash
# What turning off raft's heartbeat fast path costs (docs/DESIGN.md, "Raft's
# heartbeat fast path"): a 3-node cluster on 127.0.0.1 under a produce load,
# once without the fast path (the default) and once with it
# (--unsafe-raft-heartbeat-fast-path), each on a normal disk and on a slow
# one. Reports produce throughput and latency and the elections that
# happened during the load (raft term increases): without the fast path a
# follower answers a heartbeat only after the disk write in front of it, so
# a slow disk could cost spurious elections.
#
# The slow disk is the same disk with its write IOPS throttled for the
# nodes' processes (a cgroup v1 blkio throttle; needs root). Usage:
#
#   scripts/heartbeat-cost.sh                # SLOW_IOPS=50 RECORDS=200000
#
# Each run prints one line; nothing here is part of make test.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${ACTORLOG:-$repo/bin/actorlog}
records=${RECORDS:-200000}
slow_iops=${SLOW_IOPS:-50}
work=$(mktemp -d)
cg=/sys/fs/cgroup/blkio/actorlog-heartbeat-cost
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -d "$cg" ]; then rmdir "$cg" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

dev=$(lsblk -no MAJ:MIN "$(df --output=source "$work" | tail -1)" 2>/dev/null | tr -d ' ' || true)

term_sum() {
  local sum=0 t
  for port in "$@"; do
    t=$(curl -s "127.0.0.1:$port/v1/status" | sed -n 's/.*"term":\([0-9]*\).*/\1/p')
    sum=$((sum + ${t:-0}))
  done
  echo "$sum"
}

run() { # run <label> <throttle: yes|no> [agent flags...]
  local label=$1 throttle=$2
  shift 2
  local dir=$work/$label
  mkdir -p "$dir"
  pids=()
  local https=() actors=()
  for i in 1 2 3; do
    local join=(--bootstrap)
    [ "$i" -gt 1 ] && join=(--join "${actors[0]}")
    "$bin" agent --id "n$i" --data-dir "$dir/n$i" --actor-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 \
      --raft-addr 127.0.0.1:0 --sync always "${join[@]}" "$@" >"$dir/n$i.out" 2>"$dir/n$i.log" &
    pids+=($!)
    for _ in $(seq 100); do grep -q 'ready' "$dir/n$i.out" && break; sleep 0.1; done
    actors+=("$(sed -n 's/.*actor=\([^ ]*\).*/\1/p' "$dir/n$i.out")")
    https+=("$(sed -n 's/.*http=127.0.0.1:\([0-9]*\).*/\1/p' "$dir/n$i.out")")
  done
  for _ in $(seq 200); do
    [ "$(curl -s "127.0.0.1:${https[0]}/v1/servers" | grep -o '"id"' | wc -l)" = 3 ] && break
    sleep 0.1
  done
  if [ "$throttle" = yes ]; then
    mkdir -p "$cg"
    echo "$dev $slow_iops" >"$cg/blkio.throttle.write_iops_device"
    for p in "${pids[@]}"; do echo "$p" >"$cg/cgroup.procs"; done
  fi
  local before after
  before=$(term_sum "${https[@]}")
  local out result
  if out=$("$bin" bench produce --servers "$(IFS=,; echo "${actors[*]}")" --records "$records" --json 2>"$dir/bench.err"); then
    result=$(echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); l=r["latency_us"]; print("records/s %.0f  p50 %.1f ms  p99 %.1f ms  max %.1f ms" % (r["records_per_s"], l["p50"]/1e3, l["p99"]/1e3, l["max"]/1e3))')
  else
    result="bench failed: $(tail -1 "$dir/bench.err")"
  fi
  after=$(term_sum "${https[@]}")
  # Terms of nodes that lost contact grow too; the sum over the three
  # nodes divided by three approximates the elections held.
  printf '%-28s elections ~%d  %s\n' "$label" $(((after - before) / 3)) "$result"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$throttle" = yes ]; then
    for p in $(cat "$cg/cgroup.procs"); do echo "$p" >/sys/fs/cgroup/blkio/cgroup.procs; done
  fi
}

run no-fast-path no
run fast-path no --unsafe-raft-heartbeat-fast-path
if [ -n "$dev" ] && [ -w /sys/fs/cgroup/blkio ]; then
  run "no-fast-path slow-disk" yes
  run "fast-path slow-disk" yes --unsafe-raft-heartbeat-fast-path
  run "no-fast-path slow-disk hb 2s" yes --raft-heartbeat-timeout 2s
else
  echo "no writable blkio cgroup or device for $work: slow-disk runs skipped" >&2
fi
