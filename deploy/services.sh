#!/usr/bin/env bash
# Starts, stops and describes the real services that the production adapters are tested
# against, on 127.0.0.1 only. See deploy/README.md.
#
#   deploy/services.sh up     [redis|postgres|kafka|cassandra|s3proxy|redis-cluster|all]...   (default: all)
#   deploy/services.sh down   [redis|postgres|kafka|cassandra|s3proxy|redis-cluster|all]...   (default: all)
#   deploy/services.sh status [NAME|all]...   exit 0 if every named service runs, 3 if not
#   deploy/services.sh env    [NAME|all]...   export lines: eval "$(deploy/services.sh env)"
#   deploy/services.sh check  [NAME|all]...   a real client round trip against each service
#   (redis-cluster, six nodes on 7200-7205, is only started when named: not part of "all")
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ALL=(redis postgres kafka cassandra s3proxy)
# Known by name, left out of "all": the six-node Redis Cluster is for its own suites.
EXTRA=(redis-cluster)

usage() {
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# select_services ARGS...: sets SVCS to the named services ("all" or nothing: every one),
# in start order, without duplicates.
select_services() {
  local want=() a s
  (( $# == 0 )) && set -- all
  for a in "$@"; do
    if [[ "$a" == all ]]; then want+=("${ALL[@]}"); continue; fi
    for s in "${ALL[@]}" "${EXTRA[@]}"; do [[ "$a" == "$s" ]] && { want+=("$a"); continue 2; }; done
    echo "unknown service: $a (expected: ${ALL[*]} ${EXTRA[*]} all)" >&2
    exit 2
  done
  SVCS=()
  for s in "${ALL[@]}" "${EXTRA[@]}"; do
    for a in "${want[@]}"; do [[ "$a" == "$s" ]] && { SVCS+=("$s"); break; }; done
  done
  return 0
}

run() { "$HERE/services/$1.sh" "$2"; }

cmd="${1:-}"
[[ -n "$cmd" ]] || usage
shift
select_services "$@"

case "$cmd" in
  up)
    start=$(date +%s.%N)
    for s in "${SVCS[@]}"; do
      run "$s" up || { echo "services: $s failed to start" >&2; exit 1; }
    done
    echo "services: up (${SVCS[*]}) in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
    ;;
  down)
    rc=0
    for (( i = ${#SVCS[@]} - 1; i >= 0; i-- )); do
      run "${SVCS[$i]}" down || rc=1
    done
    exit "$rc"
    ;;
  status)
    rc=0
    for s in "${SVCS[@]}"; do run "$s" status || rc=3; done
    exit "$rc"
    ;;
  env)
    for s in "${SVCS[@]}"; do run "$s" env; done
    ;;
  check)
    rc=0
    for s in "${SVCS[@]}"; do run "$s" check || rc=1; done
    exit "$rc"
    ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
