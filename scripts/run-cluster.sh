#!/usr/bin/env bash
# Starts a local actorlog cluster on 127.0.0.1 for trying things out:
# a Consul dev agent (only when none answers at CONSUL_ADDR) and NODES nodes
# with data in ./data/n1..nN. Ctrl-C stops everything this script started,
# gracefully, and leaves the data for the next run.
#
#   NODES=3 scripts/run-cluster.sh
#
# Ports: node n1 takes the defaults every command uses (actors 7400, HTTP
# 7480, raft 7470), n2 the next ones (7401, 7481, 7471), and so on. Override
# the base ports with ACTOR_BASE, HTTP_BASE and RAFT_BASE.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

nodes=${NODES:-3}
consul_addr=${CONSUL_ADDR:-127.0.0.1:8500}
actor_base=${ACTOR_BASE:-7400}
http_base=${HTTP_BASE:-7480}
raft_base=${RAFT_BASE:-7470}
actorlog=${ACTORLOG:-$repo/bin/actorlog}
consul=${CONSUL:-$repo/bin/consul}

pids=()
consul_pid=

stop_all() {
  trap - INT TERM EXIT
  echo
  echo "stopping the cluster..."
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$consul_pid" ]; then
    kill -INT "$consul_pid" 2>/dev/null || true
    wait "$consul_pid" 2>/dev/null || true
  fi
  echo "stopped; data is kept in ./data (remove it for a fresh cluster)"
}
trap stop_all INT TERM EXIT

consul_up() { curl -fsS --max-time 1 "http://$consul_addr/v1/status/leader" 2>/dev/null | grep -q ':'; }

mkdir -p data
if consul_up; then
  echo "using the Consul agent already answering at $consul_addr"
else
  echo "starting a Consul dev agent at $consul_addr (log: data/consul.log)"
  "$consul" agent -dev -bind 127.0.0.1 -client 127.0.0.1 \
    -http-port "${consul_addr##*:}" -log-level warn >data/consul.log 2>&1 &
  consul_pid=$!
  for _ in $(seq 1 100); do consul_up && break; sleep 0.1; done
  consul_up || { echo "Consul did not come up; see data/consul.log" >&2; exit 1; }
fi

start_node() {
  local i=$1; shift
  mkdir -p "data/n$i"
  "$actorlog" agent --id "n$i" --data-dir "data/n$i" \
    --actor-addr "127.0.0.1:$((actor_base + i - 1))" \
    --http-addr "127.0.0.1:$((http_base + i - 1))" \
    --raft-addr "127.0.0.1:$((raft_base + i - 1))" \
    "$@" >"data/n$i/agent.out" 2>"data/n$i/agent.log" &
  pids+=($!)
}

start_node 1 --bootstrap
for i in $(seq 2 "$nodes"); do
  start_node "$i" --join "127.0.0.1:$actor_base"
done

# Wait for every node's ready line, then for one leader seen by all.
for i in $(seq 1 "$nodes"); do
  for _ in $(seq 1 200); do grep -q ready "data/n$i/agent.out" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "data/n$i/agent.out" || { echo "node n$i did not start; see data/n$i/agent.log" >&2; exit 1; }
done
for _ in $(seq 1 300); do
  n=$(curl -fsS --max-time 1 "127.0.0.1:$http_base/v1/servers" 2>/dev/null | grep -o '"id"' | wc -l || true)
  [ "$n" -ge "$nodes" ] && break
  sleep 0.1
done

echo
"$actorlog" servers --servers "127.0.0.1:$actor_base" || true
cat <<EOF

actorlog is running: $nodes nodes on 127.0.0.1 (logs in data/n*/agent.log).
The commands find every member from 127.0.0.1:$actor_base, their default.
In another shell:

  printf 'hello\nworld\n' | bin/actorlog produce
  bin/actorlog consume --from 0
  bin/actorlog consume --from 0 --follow
  bin/actorlog servers
  curl -s 127.0.0.1:$http_base/v1/status

Ctrl-C here stops the cluster.
EOF
wait -n "${pids[@]}" || true
echo "a node exited; see data/n*/agent.log" >&2
