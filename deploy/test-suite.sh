#!/usr/bin/env bash
# make test's suite: runs vitest, then stops the services that its suites started and only
# those (adapters/contract/services.ts records each start in $TEST_SERVICES_STARTED_FILE).
# A service that was already running when a suite asked for it, whoever started it, is left
# running: the services are shared. Exits with vitest's status.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
started="$(mktemp)"
export TEST_SERVICES_STARTED_FILE="$started"
npx vitest run "$@"
rc=$?
# The decision (which names, once each, nothing else) is servicesToStop's, unit-tested.
to_stop="$(npx tsx -e 'import { readFileSync } from "node:fs"; import { servicesToStop } from "./adapters/contract/services.ts"; process.stdout.write(servicesToStop(readFileSync(process.argv[1], "utf8")).join(" "));' "$started")"
rm -f "$started"
if [ -n "$to_stop" ]; then
  echo "make test: stopping the services it started: $to_stop"
  # shellcheck disable=SC2086 # one word per service name
  "$here/services.sh" down $to_stop || true
fi
exit "$rc"
