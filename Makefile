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

run: install ## start the all-in-one node on embedded storage, serving the web page
	@echo "The all-in-one node is not built yet (issue: 'The all-in-one node on embedded storage')."
	@echo "Until then, 'make test' runs the cores' unit and property tests."
	@exit 2

.PHONY: help install typecheck test run
