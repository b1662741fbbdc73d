#!/usr/bin/env bash
# A Redis Cluster from Debian's redis-server package: 3 masters and 3 replicas on 127.0.0.1,
# ports 7200-7205 (cluster bus 17200-17205; CHAT_REDIS_CLUSTER_PORT sets the first), no
# persistence, a 2 s node timeout so that a replica takes over a dead master within seconds.
# Usage: redis-cluster.sh up|down|status|env|check|kill-master
#   up           starts the six nodes (idempotent: restarts a node that died, which rejoins as
#                a replica), creates the cluster the first time, waits for cluster_state:ok
#   kill-master  kill -9 of one master (the one serving slot 0), for failover tests; prints its port
# shellcheck disable=SC2034  # SVC is read by lib/common.sh
SVC=redis-cluster
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

FIRST_PORT="${CHAT_REDIS_CLUSTER_PORT:-7200}"
PORTS=()
for (( i = 0; i < 6; i++ )); do PORTS+=( $(( FIRST_PORT + i )) ); done
DIR="$STATE_DIR/redis-cluster"
READY_TIMEOUT="${CHAT_REDIS_CLUSTER_TIMEOUT:-60}"
MATCH=redis-server
NODE_TIMEOUT_MS="${CHAT_REDIS_CLUSTER_NODE_TIMEOUT_MS:-2000}"

pidfile() { echo "$DIR/$1/redis.pid"; }
cli() { redis-cli -h "$HOST" -p "$1" "${@:2}"; }
ping_ok() { [[ "$(cli "$1" ping 2>/dev/null)" == PONG ]]; }
# The cluster is whole when every node says ok and knows all six.
cluster_ok() {
  local p info
  for p in "${PORTS[@]}"; do
    info="$(cli "$p" cluster info 2>/dev/null)" || return 1
    grep -q '^cluster_state:ok' <<<"$info" || return 1
    grep -q '^cluster_known_nodes:6' <<<"$info" || return 1
  done
  return 0
}

start_node() {
  local p="$1" d="$DIR/$1"
  mkdir -p "$d"
  rm -f "$(pidfile "$p")"
  require_free_port "$p"
  require_free_port $(( p + 10000 ))
  # No RDB, no AOF: a restarted node comes back empty and resyncs from its master.
  redis-server --bind "$HOST" --port "$p" --protected-mode yes \
    --cluster-enabled yes --cluster-config-file "$d/nodes.conf" --cluster-node-timeout "$NODE_TIMEOUT_MS" \
    --daemonize yes --pidfile "$(pidfile "$p")" --logfile "$d/redis.log" --dir "$d" \
    --save '' --appendonly no 9>&-
  wait_until "Redis PING on $HOST:$p" 15 "$d/redis.log" "$(pidfile "$p")" ping_ok "$p"
}

cmd_up() {
  lock redis-cluster
  ensure_apt_packages redis-server redis-tools
  local start p started=0 fresh=1
  start="$(now_s)"
  for p in "${PORTS[@]}"; do
    if running "$(pidfile "$p")" "$MATCH"; then continue; fi
    [[ -s "$DIR/$p/nodes.conf" ]] && fresh=0
    say "starting redis-server $(redis-server --version | awk '{print $3}') cluster node on $HOST:$p"
    start_node "$p" || { cmd_stop_all; return 1; }
    started=$(( started + 1 ))
  done
  (( started == 0 )) && cluster_ok && { say "already running on $HOST:${PORTS[0]}-${PORTS[5]}"; return 0; }
  if (( fresh == 1 )) && ! cli "${PORTS[0]}" cluster info 2>/dev/null | grep -q '^cluster_known_nodes:6'; then
    say "creating the cluster: 3 masters, 3 replicas"
    local addrs=()
    for p in "${PORTS[@]}"; do addrs+=("$HOST:$p"); done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/create.log" 2>&1 \
      || { warn "redis-cli --cluster create failed"; tail -20 "$DIR/create.log" >&2; return 1; }
  fi
  wait_until "cluster_state:ok on all six nodes" "$READY_TIMEOUT" "$DIR/${PORTS[0]}/redis.log" "" cluster_ok || return 1
  say "up in $(elapsed "$start") s on $HOST:${PORTS[0]}-${PORTS[5]}"
}

cmd_stop_all() {
  local p rc=0
  for p in "${PORTS[@]}"; do stop_pid "$(pidfile "$p")" "redis-server $p" 10 "$MATCH" || rc=1; done
  return "$rc"
}

# Stopping forgets the cluster (its data is not persisted anyway): the next up creates it anew.
cmd_down() {
  lock redis-cluster
  cmd_stop_all || return 1
  rm -rf "$DIR"
}

cmd_status() {
  local p alive=0
  for p in "${PORTS[@]}"; do running "$(pidfile "$p")" "$MATCH" && alive=$(( alive + 1 )); done
  if (( alive == 6 )) && cluster_ok; then
    echo "redis-cluster: running (6 nodes, cluster_state:ok) on $HOST:${PORTS[0]}-${PORTS[5]}"
  else
    echo "redis-cluster: $alive of 6 nodes running"; return 3
  fi
}

cmd_env() {
  local nodes=() p
  for p in "${PORTS[@]}"; do nodes+=("$HOST:$p"); done
  echo "export REDIS_CLUSTER_NODES=$(IFS=,; echo "${nodes[*]}")"
}

# A real client round trip through the cluster (-c follows MOVED), on keys in different slots.
cmd_check() {
  cluster_ok || die "cluster_state is not ok on every node"
  local k v got
  for k in a b c d; do
    v="hello-$$-$RANDOM"
    cli "${PORTS[0]}" -c set "chat:smoke:{$k}" "$v" ex 60 >/dev/null
    got="$(cli "${PORTS[3]}" -c get "chat:smoke:{$k}")"
    [[ "$got" == "$v" ]] || die "SET/GET round trip failed for {$k} (got '$got')"
  done
  say "ok: 6 nodes, cluster_state:ok, SET/GET across slots with redis-cli -c"
}

cmd_kill_master() {
  local p port="" pid
  # Ask any node that answers which live master serves slot 0.
  for p in "${PORTS[@]}"; do
    port="$(cli "$p" cluster nodes 2>/dev/null | awk '$3 ~ /master/ && $3 !~ /fail/ && / 0-/ { split($2, a, "[:@]"); print a[2]; exit }')" || true
    [[ -n "$port" ]] && break
  done
  [[ -n "$port" ]] || die "no live master found for slot 0"
  pid="$(read_pid "$(pidfile "$port")")"
  [[ -n "$pid" ]] || die "no pidfile for the master on $port (not started by this script?)"
  kill -KILL "$pid"
  echo "$port"
}

case "${1:-}" in
  up|down|status|env|check) "cmd_$1" ;;
  kill-master) cmd_kill_master ;;
  *) echo "usage: $0 up|down|status|env|check|kill-master" >&2; exit 2 ;;
esac
