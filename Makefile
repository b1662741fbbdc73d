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

typecheck: install ## type-check every folder
	npx tsc -p tsconfig.json --noEmit

test: install typecheck ## install, type-check and run the whole suite
	npx vitest run

SEED ?= 1
N ?= 1000
ARGS ?=

sim: install ## run one simulated seed: make sim SEED=42 ARGS="--json --messages 500"
	@npx tsx sim/cli/main.ts run --seed $(SEED) $(ARGS)

sim-swarm: install ## run seeds 1..N on worker threads with a coverage table: make sim-swarm N=1000
	@npx tsx sim/cli/main.ts swarm --n $(N) $(ARGS)

run: install ## start the all-in-one node on embedded storage, serving the web page
	@echo "The all-in-one node is not built yet (issue: 'The all-in-one node on embedded storage')."
	@echo "Until then, 'make test' runs the cores' unit and property tests."
	@exit 2

.PHONY: help install typecheck test run sim sim-swarm
