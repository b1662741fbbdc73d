#!/usr/bin/env bash
# Redis from Debian's redis-server package, on 127.0.0.1:6379, no persistence.
# Usage: redis.sh up|down|status|env|check
# shellcheck disable=SC2034  # SVC is read by lib/common.sh
SVC=redis
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

PORT=6379
DIR="$STATE_DIR/redis"
PIDFILE="$DIR/redis.pid"
LOG="$DIR/redis.log"
READY_TIMEOUT="${CHAT_REDIS_TIMEOUT:-30}"
MATCH=redis-server   # in the command line of the pid we track

ping_ok() { [[ "$(redis-cli -h "$HOST" -p "$PORT" ping 2>/dev/null)" == PONG ]]; }

cmd_up() {
  lock redis
  ensure_apt_packages redis-server redis-tools
  if running "$PIDFILE" "$MATCH"; then
    say "already running (pid $(read_pid "$PIDFILE")) on $HOST:$PORT"
    return 0
  fi
  require_free_port "$PORT"
  mkdir -p "$DIR"
  rm -f "$PIDFILE"
  local start; start="$(now_s)"
  say "starting redis-server $(redis-server --version | awk '{print $3}') on $HOST:$PORT"
  # No RDB snapshots, no AOF: state lives only as long as the process.
  redis-server --bind "$HOST" --port "$PORT" --protected-mode yes \
    --daemonize yes --pidfile "$PIDFILE" --logfile "$LOG" --dir "$DIR" \
    --save '' --appendonly no 9>&-   # 9: our lock, not for the daemon
  wait_until "Redis PING on $HOST:$PORT" "$READY_TIMEOUT" "$LOG" "$PIDFILE" ping_ok \
    || { stop_pid "$PIDFILE" "redis-server" 15 "$MATCH" || true; return 1; }
  say "up in $(elapsed "$start") s (pid $(read_pid "$PIDFILE"))"
}

cmd_down() { lock redis; stop_pid "$PIDFILE" "redis-server" 15 "$MATCH"; }

cmd_status() {
  if running "$PIDFILE" "$MATCH"; then
    echo "redis:     running (pid $(read_pid "$PIDFILE")) on $HOST:$PORT"
  else
    echo "redis:     stopped"; return 3
  fi
}

# A real client round trip: PING, SET, GET.
cmd_check() {
  local v="hello-$$-$RANDOM" got
  [[ "$(redis-cli -h "$HOST" -p "$PORT" ping)" == PONG ]] || die "PING failed on $HOST:$PORT"
  redis-cli -h "$HOST" -p "$PORT" set chat:smoke "$v" ex 60 >/dev/null
  got="$(redis-cli -h "$HOST" -p "$PORT" get chat:smoke)"
  [[ "$got" == "$v" ]] || die "SET/GET round trip failed (got '$got')"
  say "ok: PING, SET/GET with redis-cli on $HOST:$PORT ($(redis-cli -h "$HOST" -p "$PORT" info server | awk -F: '/^redis_version/ { print "Redis " $2 }' | tr -d '\r'))"
}

cmd_env() { echo "export REDIS_URL=redis://$HOST:$PORT"; }

case "${1:-}" in
  up|down|status|env|check) "cmd_$1" ;;
  *) echo "usage: $0 up|down|status|env|check" >&2; exit 2 ;;
esac
