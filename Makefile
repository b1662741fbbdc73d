# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NODE_MODULES_STAMP := node_modules/.install-stamp

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

# Install from the lockfile exactly once per lockfile change.
$(NODE_MODULES_STAMP): package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: $(NODE_MODULES_STAMP) ## install dependencies from the lockfile

typecheck: install ## type-check every folder (the web page has its own DOM config)
	npx tsc -p tsconfig.json --noEmit
	npx tsc -p web/tsconfig.json --noEmit

lint: install ## Biome's linter (biome.jsonc: recommended rules, each rule turned off says why); errors fail, warnings are listed
	npx biome lint --max-diagnostics=50

# The browser test drives Debian's Chromium (no browser download: the machine has no web access).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji

test: install typecheck lint $(CHROMIUM) ## install, type-check and run the whole suite (unit, property, simulation, e2e, browser); stops the services it started
	node web/build.mjs
	deploy/test-suite.sh

fuzz: install ## hostile input at scale: FUZZ_FRAMES (200000) WebSocket frames, FUZZ_REQUESTS (20000) REST requests, one seed (FUZZ_SEED replays); 0 crashes, 0 5xx, contract-shaped errors
	npx tsx nodes/fuzz/main.ts

soak: install ## bounded soak (SOAK_SECONDS, default 3600; SOAK_SHORT=1 for 60 s): honest load + fuzz trickle, RSS / event-loop delay / delivery over time → bench/results/soak.{json,svg}
	npx tsx nodes/fuzz/soak.ts

SEED ?= 1
N ?= 1000
ARGS ?=

# The simulator runs bundled (sim/cli/build.mjs says why not through tsx) with a larger young
# generation: most of what a simulated event allocates dies within a few thousand events, and
# a 64 MB semi-space lets it die there instead of being copied and promoted (docs/BENCHMARKS.md).
SIM_NODE = node --max-semi-space-size=64 --enable-source-maps

sim: install ## run one simulated seed: make sim SEED=42 ARGS="--json --messages 500"
	@node sim/cli/build.mjs
	@$(SIM_NODE) dist/sim-bundle/main.mjs run --seed $(SEED) $(ARGS)

sim-swarm: install ## run seeds 1..N on worker threads with a coverage table: make sim-swarm N=1000
	@node sim/cli/build.mjs
	@$(SIM_NODE) dist/sim-bundle/main.mjs swarm --n $(N) $(ARGS)

build: install ## compile every node binary to dist/ and bundle the web page into web/dist/
	npx tsc -p tsconfig.build.json
	node web/build.mjs

bench-sim: install ## simulator speed: events/s and virtual/wall for 1k users, 100 groups, 10k messages
	@node sim/cli/build.mjs
	$(SIM_NODE) dist/sim-bundle/sim.bench.mjs

bench-peer: install ## the node vs ejabberd 23.01 vs a bare ws relay, same generator and ladder, then 2x overload → bench/results/peer.json, peer.svg (installs ejabberd from Debian if missing)
	npx tsx bench/peer/run.ts

bench-pipeline: install ## the node's hot path without sockets: CPU, commits and writes per message → bench/results/pipeline.json (BEFORE_DIR=<checkout> ROUNDS=3: before and after alternated → pipeline-ab.{json,svg})
	npx tsx bench/pipeline.bench.ts

bench-storage: install ## the storage cost of one 1:1 message and its ack through the real SQLite adapters, fixed batches, vs in-memory adapters in the same run → bench/results/storage.{json,svg}
	npx tsx bench/storage.bench.ts

profile: install ## where a message's time goes: the node under a fixed load with --cpu-prof → bench/results/profile/summary.md (PROFILE_RATE, PROFILE_USERS, PROFILE_SECONDS)
	npx tsx bench/profile/run.ts

profile-clinic: install ## clinic doctor + flame on the node under the same load → bench/results/profile/clinic.md (installs clinic apart, in bench/profile/clinic/)
	npx tsx bench/profile/clinic.ts

bench-fanout: install ## 500-member group fan-out: send → last member's new_message, node vs a bare group relay → bench/results/fanout.{json,svg,md}
	npx tsx bench/fanout/run.ts

bench-density: install ## connection density: RSS per idle connection at 20k in one process (node vs bare ws vs raw net), heap attribution, 100k over 6 processes → bench/results/density.json
	npx tsx bench/density/run.ts

bench-compression: install ## permessage-deflate on the WebSocket: bytes on the wire, server CPU per message and RSS per connection per setting vs off, same run → bench/results/compression.{json,md,svg}
	npx tsx bench/compression/run.ts

bench-load: install ## open-loop load on the all-in-one node vs a bare ws relay → bench/results/load.json
	npx tsx bench/load/run.ts

services-up: ## install (first time) and start Redis, PostgreSQL, Kafka and Cassandra on 127.0.0.1
	deploy/services.sh up all

services-down: ## stop every service deploy/services.sh started
	deploy/services.sh down all

redis-cluster-up: ## a Redis Cluster (Debian's redis-server, 3 masters + 3 replicas) on 127.0.0.1:7200-7205
	deploy/services.sh up redis-cluster

redis-cluster-down: ## stop the Redis Cluster and forget it (its data is not persisted)
	deploy/services.sh down redis-cluster

test-redis-cluster: install ## the Redis adapters' contract suites on the Redis Cluster, kill -9 of a master under adapter traffic, then the production cluster on it with a master killed under the fault run's traffic, judged by the invariant checkers (starts what it needs)
	REDIS_CLUSTER_TESTS=1 npx vitest run --no-file-parallelism adapters/redis/redis-cluster.integration.test.ts adapters/redis/redis-cluster.failover.integration.test.ts nodes/redis-cluster.e2e.test.ts

test-leases: install ## machine-number leases: the lease core's overlap property, the contract on memory and Redis, 7 issuers on 3 numbers, the router's gate
	npx vitest run core/lease adapters/memory/lease-store-memory.test.ts adapters/redis/lease-store-redis.integration.test.ts nodes/hosts/router-host-lease.test.ts

cluster-up: build ## services + migrations + 2 gateways, 2 routers, 1 api on 127.0.0.1 → .cluster/endpoints.json (REGIONS=2: two regions, each with its own api, gateways, routers, relay, topic and keyspace)
	deploy/cluster.sh up

test-regions: build ## a two-region cluster (REGIONS=2 make cluster-up), then 1:1 and groups across regions both ways, receipts, order, the relay killed mid-traffic; its nodes are stopped after (about 5 min here)
	REGIONS=2 CLUSTER_WARMUP_SECONDS=$${CLUSTER_WARMUP_SECONDS:-15} deploy/cluster.sh up
	npx tsx nodes/testing/regions-e2e.ts; rc=$$?; deploy/cluster.sh down-nodes; exit $$rc

cluster-smoke: ## an independent client against the running cluster, users on both gateways
	npx tsx nodes/testing/cluster-smoke.ts

cluster-fault: ## under steady traffic, kill -9 a gateway and a router, restart them; checkers judge the histories
	npx tsx nodes/cluster.fault.ts

SCENARIO ?= router-failover
chaos-cluster: ## real faults of a chaos scenario into the running cluster, judged by the checkers: make chaos-cluster SCENARIO=gateway-churn SEED=3
	npx tsx chaos/cluster.ts --scenario $(SCENARIO) --seed $(SEED) $(ARGS)

bench-cluster: ## open-loop load through the running cluster → bench/results/cluster.json
	npx tsx bench/load/cluster.ts

cluster-down: ## stop the cluster's nodes and services
	deploy/cluster.sh down

run: build ## start the all-in-one node on 127.0.0.1:8080 (PORT, DATA_DIR override), serving the web page
	MALLOC_ARENA_MAX=$${MALLOC_ARENA_MAX:-2} node dist/nodes/all-in-one.js

.PHONY: help install typecheck lint test build run sim sim-swarm bench-sim bench-peer bench-pipeline bench-storage profile profile-clinic bench-fanout bench-density bench-load services-up services-down cluster-up test-regions cluster-smoke cluster-fault chaos-cluster bench-cluster cluster-down
