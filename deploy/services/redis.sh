#!/usr/bin/env bash
# Redis from Debian's redis-server package, on 127.0.0.1:6379, no persistence.
# Usage: redis.sh up|down|status|env
SVC=redis
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

PORT=6379
DIR="$STATE_DIR/redis"
PIDFILE="$DIR/redis.pid"
LOG="$DIR/redis.log"
READY_TIMEOUT="${CHAT_REDIS_TIMEOUT:-30}"

ping_ok() { [[ "$(redis-cli -h "$HOST" -p "$PORT" ping 2>/dev/null)" == PONG ]]; }

cmd_up() {
  ensure_apt_packages redis-server redis-tools
  if running "$PIDFILE"; then
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
    --save '' --appendonly no
  wait_until "Redis PING on $HOST:$PORT" "$READY_TIMEOUT" "$LOG" "$PIDFILE" ping_ok || return 1
  say "up in $(elapsed "$start") s (pid $(read_pid "$PIDFILE"))"
}

cmd_down() { stop_pid "$PIDFILE" "redis-server" 15; }

cmd_status() {
  if running "$PIDFILE"; then
    echo "redis:     running (pid $(read_pid "$PIDFILE")) on $HOST:$PORT"
  else
    echo "redis:     stopped"; return 3
  fi
}

cmd_env() { echo "export REDIS_URL=redis://$HOST:$PORT"; }

case "${1:-}" in
  up|down|status|env) "cmd_$1" ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
