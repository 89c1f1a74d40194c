#!/usr/bin/env bash
# Starts a local actorlog cluster on 127.0.0.1 for trying things out:
# a Consul dev agent (only when none answers at CONSUL_ADDR) and NODES nodes
# with data in $DATA_DIR/n1..nN (default ./data). The nodes find each other
# in Consul: each starts with --consul-addr and --bootstrap-expect NODES, and
# the lowest id bootstraps raft with all of them once they are registered.
# Ctrl-C stops everything this script started, gracefully, and leaves the
# data for the next run (which rejoins the same cluster).
#
#   NODES=3 scripts/run-cluster.sh
#
# TLS=1 turns mutual TLS and authorisation on: certificates for the nodes and
# for the clients "root" (may do everything) and "nobody" (may do nothing),
# and the policy, come from `actorlog certs` in $CERTS_DIR (default
# ./certs-dev; existing files are kept), and the script prints the client
# flags to use.
#
# Ports: node n1 takes the defaults every command uses (actors 7400, HTTP
# 7480, raft 7470), n2 the next ones (7401, 7481, 7471), and so on. Override
# the base ports with ACTOR_BASE, HTTP_BASE, RAFT_BASE and GRPC_BASE; a base of 0 lets
# the kernel pick every node's port (the addresses are printed).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

nodes=${NODES:-3}
consul_addr=${CONSUL_ADDR:-127.0.0.1:8500}
actor_base=${ACTOR_BASE:-7400}
http_base=${HTTP_BASE:-7480}
raft_base=${RAFT_BASE:-7470}
grpc_base=${GRPC_BASE:-7490}
data=${DATA_DIR:-$repo/data}
actorlog=${ACTORLOG:-$repo/bin/actorlog}
consul=${CONSUL:-$repo/bin/consul}
tls=${TLS:-}
certs_dir=${CERTS_DIR:-$repo/certs-dev}
# client_tls: the flags of a client command (root's certificate with TLS).
client_tls=()
curl_tls=()
scheme=http
if [ -n "$tls" ] && [ "$tls" != 0 ]; then
  node_names=$(seq -s, -f 'n%g' 1 "$nodes")
  "$actorlog" certs --dir "$certs_dir" --node "$node_names" >/dev/null
  client_tls=(--tls-cert "$certs_dir/root.pem" --tls-key "$certs_dir/root-key.pem" --tls-ca "$certs_dir/ca.pem")
  curl_tls=(--cacert "$certs_dir/ca.pem" --cert "$certs_dir/root.pem" --key "$certs_dir/root-key.pem")
  scheme=https
fi

pids=()
consul_pid=

stop_all() {
  local status=${1:-0}
  trap - INT TERM EXIT
  echo
  echo "stopping the cluster..."
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$consul_pid" ]; then
    kill -INT "$consul_pid" 2>/dev/null || true
    wait "$consul_pid" 2>/dev/null || true
  fi
  echo "stopped; data is kept in $data (remove it for a fresh cluster)"
  exit "$status"
}
trap 'stop_all $?' EXIT
trap 'stop_all 0' INT TERM

consul_up() { [[ "$(curl -fsS --max-time 1 "http://$consul_addr/v1/status/leader" 2>/dev/null)" == *:* ]]; }

mkdir -p "$data"
if consul_up; then
  echo "using the Consul agent already answering at $consul_addr"
else
  echo "starting a Consul dev agent at $consul_addr (log: $data/consul.log)"
  "$consul" agent -dev -bind 127.0.0.1 -client 127.0.0.1 \
    -http-port "${consul_addr##*:}" -log-level warn >"$data/consul.log" 2>&1 &
  consul_pid=$!
  for _ in $(seq 1 100); do consul_up && break; sleep 0.1; done
  consul_up || { echo "Consul did not come up; see $data/consul.log" >&2; exit 1; }
fi

# port BASE I: the port of node I for a base port (0: the kernel picks).
port() { if [ "$1" = 0 ]; then echo 0; else echo $(($1 + $2 - 1)); fi; }

start_node() {
  local i=$1; shift
  mkdir -p "$data/n$i"
  rm -f "$data/n$i/agent.out"
  local node_tls=()
  if [ "$scheme" = https ]; then
    node_tls=(--tls-cert "$certs_dir/n$i.pem" --tls-key "$certs_dir/n$i-key.pem" --tls-ca "$certs_dir/ca.pem"
      --acl-policy "$certs_dir/policy.csv")
  fi
  "$actorlog" agent --id "n$i" --data-dir "$data/n$i" "${node_tls[@]}" \
    --actor-addr "127.0.0.1:$(port "$actor_base" "$i")" \
    --http-addr "127.0.0.1:$(port "$http_base" "$i")" \
    --raft-addr "127.0.0.1:$(port "$raft_base" "$i")" \
    --grpc-addr "127.0.0.1:$(port "$grpc_base" "$i")" \
    --consul-addr "$consul_addr" --bootstrap-expect "$nodes" \
    "$@" >"$data/n$i/agent.out" 2>"$data/n$i/agent.log" &
  pids+=($!)
  echo $! >"$data/n$i/pid"
}

for i in $(seq 1 "$nodes"); do
  start_node "$i"
done

# Wait for every node's ready line, then until n1 names a leader and knows
# every member's addresses.
for i in $(seq 1 "$nodes"); do
  for _ in $(seq 1 200); do grep -q ready "$data/n$i/agent.out" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$data/n$i/agent.out" || { echo "node n$i did not start; see $data/n$i/agent.log" >&2; exit 1; }
done
n1_actor=$(grep -o 'actor=[^ ]*' "$data/n1/agent.out" | cut -d= -f2)
n1_http=$(grep -o 'http=[^ ]*' "$data/n1/agent.out" | cut -d= -f2)
n1_grpc=$(grep -o 'grpc=[^ ]*' "$data/n1/agent.out" | cut -d= -f2)
for _ in $(seq 1 300); do
  sv=$(curl -fsS --max-time 1 "${curl_tls[@]}" "$scheme://$n1_http/v1/servers" 2>/dev/null || true)
  n=$(grep -o '"actor_address":"[^"]' <<<"$sv" | wc -l || true)
  [ "$n" -ge "$nodes" ] && grep -q '"is_leader":true' <<<"$sv" && break
  sleep 0.1
done

echo
"$actorlog" servers --consul-addr "$consul_addr" "${client_tls[@]}" || true
if [ "$scheme" = https ]; then
  flags="${client_tls[*]}"
  cat <<MSG

Mutual TLS is on: every command needs a client certificate of the CA in
$certs_dir. "root" may produce, consume and administer; "nobody" may do
nothing ($certs_dir/policy.csv). Add these flags to every command below:

  $flags

and to curl: ${curl_tls[*]} (https://; /healthz, /readyz and /metrics need no certificate).
MSG
fi
cat <<MSG

actorlog is running: $nodes nodes on 127.0.0.1 (logs in $data/n*/agent.log),
registered in Consul at $consul_addr. The commands find every member from
127.0.0.1:7400 (their default; here n1 is at $n1_actor), or through Consul with
--consul-addr $consul_addr. In another shell:

  printf 'hello\nworld\n' | bin/actorlog produce --consul-addr $consul_addr
  bin/actorlog consume --from 0 --consul-addr $consul_addr
  bin/actorlog consume --from 0 --follow --servers $n1_actor
  bin/actorlog servers --consul-addr $consul_addr
  curl -s ${curl_tls[*]:+${curl_tls[*]} }$scheme://$n1_http/v1/status
  bin/grpcurl -plaintext $n1_grpc list      (gRPC; make grpcurl builds it; with TLS: -cacert, -cert, -key)

Ctrl-C here stops the cluster.
MSG
echo "cluster ready"
wait -n "${pids[@]}" || true
echo "a node exited; see $data/n*/agent.log" >&2
exit 1
