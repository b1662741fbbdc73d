#!/usr/bin/env bash
# A local production-shaped cluster on 127.0.0.1: the four services (deploy/services.sh),
# migrations, two gateways, two routers and one api node, each a plain `node dist/nodes/<role>.js`.
#   deploy/cluster.sh up     (after `make build`) -> .cluster/endpoints.json
#   deploy/cluster.sh down   stops the nodes and the services; no process is left behind.
#   deploy/cluster.sh down-nodes   stops only the nodes (`up` again restarts them on new code).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=.cluster
# CLUSTER_PORT_BASE (default 8100) places the cluster's ports, so two checkouts on one box can
# each run a cluster: api = base, gateways base+1 and base+2 (gRPC base-999 and base-998),
# routers base+101 and base+102. CLUSTER_NAME (default none) gives the cluster its own log
# topic and Cassandra keyspace (chat-log-<name>, chat_<name>) on the shared services.
BASE=${CLUSTER_PORT_BASE:-8100}
[[ "$BASE" =~ ^[0-9]+$ ]] && [ "$BASE" -ge 2000 ] && [ "$BASE" -le 60000 ] || { echo "CLUSTER_PORT_BASE must be a number from 2000 to 60000, got '$BASE'" >&2; exit 2; }
NAME=${CLUSTER_NAME:-}
[[ -z "$NAME" || "$NAME" =~ ^[a-z][a-z0-9_]{0,20}$ ]] || { echo "CLUSTER_NAME must be a lower-case identifier (a-z, 0-9, _; up to 21 characters), got '$NAME'" >&2; exit 2; }
API_PORT=$BASE
GW_PORTS=($((BASE + 1)) $((BASE + 2)))
GW_GRPC=($((BASE - 999)) $((BASE - 998)))
RT_PORTS=($((BASE + 101)) $((BASE + 102)))
# REGIONS=2 (issue 12; docs/OPERATIONS.md "Regions"): two regions r0 and r1 on this box, each
# with its own api, two gateways, two routers and a relay, its own log topic
# (chat-log-<name>r<i>), Cassandra keyspace (chat_<name>r<i>) and session keys; the directory
# (PostgreSQL schema chat_<name>, or chat_regions) and the gateway registry are shared. Region
# i's ports start at base + 100 × i: api +0, gateways +1 and +2 (gRPC −999 and −998), routers
# +51 and +52, relay +60. Users are homed in r0 unless they choose at sign-up.
REGION_COUNT=${REGIONS:-1}
[[ "$REGION_COUNT" =~ ^[1-9]$ ]] || { echo "REGIONS must be a number of regions from 1 to 9, got '$REGION_COUNT'" >&2; exit 2; }
# The nodes' own REGIONS is a map (name=host:port,...): never let them inherit this count.
unset REGIONS

wait_healthy() { # url what
  local url=$1 what=$2
  echo "waiting for $what at $url/healthz (up to 90 s)"
  for _ in $(seq 1 180); do
    if curl -fsS "$url/healthz" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "$what did not become healthy; its log:" >&2
  tail -n 40 "$DIR/$what.log" >&2 || true
  return 1
}

start() { # name script env...
  local name=$1 script=$2; shift 2
  # Two malloc arenas: glibc's default (8 per core) kept ~300 MiB that V8's threads had freed (docs/OPERATIONS.md).
  # CLUSTER_NODE_FLAGS: extra node flags for every node process (e.g. --cpu-prof, which NODE_OPTIONS refuses).
  # shellcheck disable=SC2086
  env MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" "$@" setsid node ${CLUSTER_NODE_FLAGS:-} "dist/nodes/$script.js" >"$DIR/$name.log" 2>&1 < /dev/null &
  echo $! >"$DIR/$name.pid"
}

up() {
  if [ "$REGION_COUNT" -gt 1 ]; then up_regions; return; fi
  mkdir -p "$DIR"
  stop_nodes
  [ -f dist/nodes/gateway.js ] || { echo "dist/ is missing: run 'make build' first" >&2; exit 1; }
  start_services
  eval "$(deploy/services.sh env)"
  [ -f "$DIR/secret" ] || head -c 48 /dev/urandom | base64 | tr -d '/+=\n' >"$DIR/secret"
  local common=(SECRET="$(cat "$DIR/secret")" LOG_LEVEL=info GATEWAYS="gw-0=127.0.0.1:${GW_GRPC[0]},gw-1=127.0.0.1:${GW_GRPC[1]}" MEDIA_DIR="$DIR/media")
  [ -z "$NAME" ] || common+=(LOG_TOPIC="chat-log-$NAME" CASSANDRA_KEYSPACE="chat_$NAME")
  # What each node was started with (secret aside), for the fault runs that restart nodes.
  node -e 'const [dir, api, gw0, gw1, g0, g1, r0, r1, ...common] = process.argv.slice(1);
    const env = Object.fromEntries(common.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]).filter(([k]) => k !== "SECRET"));
    const nodes = { "gw-0": { script: "gateway", env: { GATEWAY_ID: "gw-0", PORT: gw0, GRPC_PORT: g0 } }, "gw-1": { script: "gateway", env: { GATEWAY_ID: "gw-1", PORT: gw1, GRPC_PORT: g1 } },
      "router-0": { script: "router", env: { ROUTER_ID: "router-0", PORT: r0 } }, "router-1": { script: "router", env: { ROUTER_ID: "router-1", PORT: r1 } }, api: { script: "api", env: { PORT: api } } };
    require("fs").writeFileSync(dir + "/nodes.json", JSON.stringify({ common: env, nodes }, null, 1) + "\n");' \
    "$DIR" "$API_PORT" "${GW_PORTS[0]}" "${GW_PORTS[1]}" "${GW_GRPC[0]}" "${GW_GRPC[1]}" "${RT_PORTS[0]}" "${RT_PORTS[1]}" "${common[@]}"
  env "${common[@]}" node dist/nodes/migrate.js
  for i in 0 1; do
    start "gw-$i" gateway "${common[@]}" GATEWAY_ID="gw-$i" PORT="${GW_PORTS[$i]}" GRPC_PORT="${GW_GRPC[$i]}"
    start "router-$i" router "${common[@]}" ROUTER_ID="router-$i" PORT="${RT_PORTS[$i]}"
  done
  start api api "${common[@]}" PORT="$API_PORT"
  wait_healthy "http://127.0.0.1:$API_PORT" api
  for i in 0 1; do
    wait_healthy "http://127.0.0.1:${GW_PORTS[$i]}" "gw-$i"
    wait_healthy "http://127.0.0.1:${RT_PORTS[$i]}" "router-$i"
  done
  printf '{"api": "http://127.0.0.1:%s", "gateways": ["ws://127.0.0.1:%s/ws", "ws://127.0.0.1:%s/ws"]}\n' "$API_PORT" "${GW_PORTS[0]}" "${GW_PORTS[1]}" >"$DIR/endpoints.json"
  warm_up
  echo "cluster up: $(cat "$DIR/endpoints.json")"
}

region_base() { echo $((BASE + 100 * $1)); }

up_regions() {
  mkdir -p "$DIR"
  stop_nodes
  [ -f dist/nodes/relay.js ] || { echo "dist/ is missing or old: run 'make build' first" >&2; exit 1; }
  start_services
  eval "$(deploy/services.sh env)"
  [ -f "$DIR/secret" ] || head -c 48 /dev/urandom | base64 | tr -d '/+=\n' >"$DIR/secret"
  local n=$REGION_COUNT i b regions="" topics="" gateways=""
  for ((i = 0; i < n; i++)); do
    b=$(region_base "$i")
    regions+="${regions:+,}r$i=127.0.0.1:$((b + 60))"
    topics+="${topics:+,}r$i=chat-log-${NAME}r$i"
    gateways+="${gateways:+,}r$i-gw-0=127.0.0.1:$((b - 999)),r$i-gw-1=127.0.0.1:$((b - 998))"
  done
  local common=(SECRET="$(cat "$DIR/secret")" LOG_LEVEL=info MEDIA_DIR="$DIR/media" REGIONS="$regions" REGION_LOG_TOPICS="$topics"
    HOME_REGION_DEFAULT=r0 GATEWAYS="$gateways" GATEWAY_REGISTRY="gateways.regions${NAME:+.$NAME}" DATABASE_SCHEMA="chat_${NAME:-regions}")
  # What each node was started with (secret aside), for the fault runs that restart nodes.
  node -e 'const [dir, n, base, name, ...common] = process.argv.slice(1);
    const env = Object.fromEntries(common.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]).filter(([k]) => k !== "SECRET"));
    const nodes = {};
    for (let i = 0; i < Number(n); i++) {
      const b = Number(base) + 100 * i, r = { REGION: `r${i}`, LOG_TOPIC: env.REGION_LOG_TOPICS.split(",")[i].split("=")[1], CASSANDRA_KEYSPACE: `chat_${name}r${i}` };
      for (const g of [0, 1]) nodes[`r${i}-gw-${g}`] = { script: "gateway", env: { ...r, GATEWAY_ID: `r${i}-gw-${g}`, PORT: String(b + 1 + g), GRPC_PORT: String(b - 999 + g) } };
      for (const k of [0, 1]) nodes[`r${i}-router-${k}`] = { script: "router", env: { ...r, ROUTER_ID: `r${i}-router-${k}`, PORT: String(b + 51 + k) } };
      nodes[`r${i}-relay`] = { script: "relay", env: { ...r, PORT: String(b + 60) } };
      nodes[`r${i}-api`] = { script: "api", env: { ...r, PORT: String(b) } };
    }
    require("fs").writeFileSync(dir + "/nodes.json", JSON.stringify({ common: env, nodes }, null, 1) + "\n");' \
    "$DIR" "$n" "$BASE" "$NAME" "${common[@]}"
  local eps="" r
  for ((i = 0; i < n; i++)); do
    b=$(region_base "$i")
    r=(REGION="r$i" LOG_TOPIC="chat-log-${NAME}r$i" CASSANDRA_KEYSPACE="chat_${NAME}r$i")
    env "${common[@]}" "${r[@]}" node dist/nodes/migrate.js
    for g in 0 1; do
      start "r$i-gw-$g" gateway "${common[@]}" "${r[@]}" GATEWAY_ID="r$i-gw-$g" PORT=$((b + 1 + g)) GRPC_PORT=$((b - 999 + g))
      start "r$i-router-$g" router "${common[@]}" "${r[@]}" ROUTER_ID="r$i-router-$g" PORT=$((b + 51 + g))
    done
    start "r$i-relay" relay "${common[@]}" "${r[@]}" PORT=$((b + 60))
    start "r$i-api" api "${common[@]}" "${r[@]}" PORT="$b"
    eps+="${eps:+, }\"r$i\": {\"api\": \"http://127.0.0.1:$b\", \"gateways\": [\"ws://127.0.0.1:$((b + 1))/ws\", \"ws://127.0.0.1:$((b + 2))/ws\"], \"relay\": \"http://127.0.0.1:$((b + 60))\"}"
  done
  for ((i = 0; i < n; i++)); do
    b=$(region_base "$i")
    wait_healthy "http://127.0.0.1:$b" "r$i-api"
    wait_healthy "http://127.0.0.1:$((b + 60))" "r$i-relay"
    for g in 0 1; do
      wait_healthy "http://127.0.0.1:$((b + 1 + g))" "r$i-gw-$g"
      wait_healthy "http://127.0.0.1:$((b + 51 + g))" "r$i-router-$g"
    done
  done
  # api and gateways at the top level are region r0's (users homed there by default), for the tools that take one region.
  printf '{"api": "http://127.0.0.1:%s", "gateways": ["ws://127.0.0.1:%s/ws", "ws://127.0.0.1:%s/ws"], "regions": {%s}}\n' "$BASE" $((BASE + 1)) $((BASE + 2)) "$eps" >"$DIR/endpoints.json"
  # Warms the shared services' JVMs through region r0 (its api and gateways; users homed there by default).
  warm_up
  echo "cluster up with $n regions: $(cat "$DIR/endpoints.json")"
}

# Fresh JVMs spend their first minutes compiling: measured here, Cassandra's C2 compiler thread
# took 33 s of CPU in its first 3.5 min (44% of the process), Kafka's 27 s, on a 2-core box
# that the generator and the nodes share. Until then every statement costs about twice its
# warm CPU, and the first users' traffic queues behind it. So `up` drives bounded traffic
# through the cluster (the bench generator: 20 users over both gateways, CLUSTER_WARMUP_RATE
# msg/s for CLUSTER_WARMUP_SECONDS, receivers acking) before it reports ready.
# CLUSTER_WARMUP_SECONDS=0 skips it.
warm_up() {
  # The drain: `up` reports ready only once the warm-up's own messages arrived (or this many
  # seconds passed), so the first minute of real traffic does not queue behind its backlog.
  local seconds=${CLUSTER_WARMUP_SECONDS:-30} rate=${CLUSTER_WARMUP_RATE:-50} drain=${CLUSTER_WARMUP_DRAIN_SECONDS:-60}
  [ "$seconds" -gt 0 ] || return 0
  echo "warming up: $rate msg/s for $seconds s through both gateways (CLUSTER_WARMUP_SECONDS=0 skips)"
  local api gws
  api="http://127.0.0.1:$API_PORT"
  gws="ws://127.0.0.1:${GW_PORTS[0]}/ws,ws://127.0.0.1:${GW_PORTS[1]}/ws"
  if timeout $((seconds + drain + 120)) npx tsx bench/load/generator.ts --url "$api" --ws "$gws" --users 20 --rates "$rate" \
      --seconds "$seconds" --signup-batch 10 --drain-seconds "$drain" --pause-seconds 0 --idle-seconds 0 >"$DIR/warmup.log" 2>&1; then
    node -e 'for (const l of require("fs").readFileSync(process.argv[1], "utf8").split("\n")) { if (!l.includes("\"phase\":\"step\"")) continue; const s = JSON.parse(l); console.log(`warm-up done: ${s.delivered}/${s.sent} delivered, p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, drained in ${s.drain_ms} ms`); }' "$DIR/warmup.log"
  else
    echo "warm-up traffic failed (see $DIR/warmup.log); the cluster is up but cold" >&2
  fi
}

# Each service this checkout's services.sh starts, unless the same service already runs on
# its port on this machine (another checkout started it): then the cluster uses that one and
# `down` leaves it alone.
start_services() {
  local s
  for s in redis postgres kafka cassandra s3proxy; do
    if ! deploy/services.sh up "$s" 2>"$DIR/services-$s.err"; then
      if grep -q "already in use" "$DIR/services-$s.err"; then
        echo "$s: using the one already running on this machine (started elsewhere)"
      else
        cat "$DIR/services-$s.err" >&2
        return 1
      fi
    fi
  done
}

stop_nodes() {
  for f in "$DIR"/*.pid; do
    [ -e "$f" ] || continue
    local pid; pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

down() {
  stop_nodes
  deploy/services.sh down all
  echo "cluster down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  # Only the nodes: the services stay up for whoever else uses them on this machine.
  down-nodes) stop_nodes; echo "cluster nodes down" ;;
  *) echo "usage: deploy/cluster.sh up|down|down-nodes" >&2; exit 2 ;;
esac
