#!/usr/bin/env bash
# The gRPC Log service against the actor remote: one node, one run, the
# same `actorlog bench` workloads through each door (--transport actor and
# --transport grpc), alternated round by round so that both see the same
# machine. Prints a markdown table of the median of ROUNDS rounds, for
# docs/BENCHMARKS.md ("gRPC Log service versus the actor remote").
#
#   make bench-grpc                 # ROUNDS=3 by default
#   ROUNDS=5 RECORDS=100000 make bench-grpc
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
AL=${ACTORLOG:-$repo/bin/actorlog}
rounds=${ROUNDS:-3}
records=${RECORDS:-50000}   # batched workloads
single=${SINGLE:-3000}      # one-at-a-time workloads
sync=${SYNC:-none}

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$AL" agent --id bench --data-dir "$work/data" --bootstrap --sync "$sync" --log-level warn \
  --actor-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --raft-addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 \
  >"$work/ready.out" 2>"$work/agent.log" &
pid=$!
for _ in $(seq 1 300); do grep -q '^actorlog agent ready' "$work/ready.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^actorlog agent ready' "$work/ready.out" || { echo "the node did not start; see $work/agent.log" >&2; exit 1; }
actor=$(grep -o 'actor=[^ ]*' "$work/ready.out" | cut -d= -f2)
grpc=$(grep -o 'grpc=[^ ]*' "$work/ready.out" | cut -d= -f2)
http=$(grep -o 'http=[^ ]*' "$work/ready.out" | cut -d= -f2)
for _ in $(seq 1 300); do curl -fsS "http://$http/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

# Records to read: written once, untimed, before the first round.
"$AL" bench produce --servers "$actor" --records "$records" --json >/dev/null

# run TRANSPORT WORKLOAD: one bench, its JSON on stdout.
run() {
  local t=$1 w=$2 s=$actor
  [ "$t" = grpc ] && s=$grpc
  case $w in
  produce-batched) "$AL" bench produce --transport "$t" --servers "$s" --records "$records" --batch 100 --inflight 8 --json ;;
  produce-single) "$AL" bench produce --transport "$t" --servers "$s" --records "$single" --batch 1 --inflight 1 --json ;;
  consume-batched) "$AL" bench consume --transport "$t" --servers "$s" --from 0 --records "$records" --batch 1000 --inflight 1 --json ;;
  consume-single) "$AL" bench consume --transport "$t" --servers "$s" --from 0 --records "$single" --batch 1 --inflight 1 --json ;;
  esac
}

workloads=${WORKLOADS:-"produce-batched produce-single consume-batched consume-single"}
for r in $(seq 1 "$rounds"); do
  for w in $workloads; do
    for t in actor grpc; do
      run "$t" "$w" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["records_per_s"], d["latency_us"]["p50"], d["latency_us"]["p99"])' \
        >>"$work/$t-$w"
    done
  done
  echo "round $r of $rounds done" >&2
done

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| workload | actor remote records/s | gRPC records/s | gRPC/actor | actor p50 | gRPC p50 | gRPC/actor p50 | actor p99 | gRPC p99 |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for w in $workloads; do
  ar=$(cut -d' ' -f1 "$work/actor-$w" | median); gr=$(cut -d' ' -f1 "$work/grpc-$w" | median)
  ap=$(cut -d' ' -f2 "$work/actor-$w" | median); gp=$(cut -d' ' -f2 "$work/grpc-$w" | median)
  a9=$(cut -d' ' -f3 "$work/actor-$w" | median); g9=$(cut -d' ' -f3 "$work/grpc-$w" | median)
  awk -v w="$w" -v ar="$ar" -v gr="$gr" -v ap="$ap" -v gp="$gp" -v a9="$a9" -v g9="$g9" 'BEGIN {
    printf "| %s | %.0f | %.0f | %.2f | %.0f µs | %.0f µs | %.2f | %.0f µs | %.0f µs |\n", w, ar, gr, gr/ar, ap, gp, gp/ap, a9, g9 }'
done
echo
echo "($rounds rounds, medians; batched: $records x 1 KiB records, 100 per produce request with 8 in flight, 1000 per read; one at a time: $single records, one per request, one in flight; --sync $sync; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
