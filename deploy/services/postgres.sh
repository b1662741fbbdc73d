#!/usr/bin/env bash
# PostgreSQL from Debian's postgresql package, own cluster under the state dir,
# on 127.0.0.1:5432, role chat/chat owning database chat.
# Usage: postgres.sh up|down|status|env
SVC=postgres
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

PORT=5432
DIR="$STATE_DIR/postgres"
DATA="$DIR/data"
SOCKDIR="$DIR/run"          # unix socket (the server runs as user postgres)
LOG="$DIR/postgres.log"
PIDFILE="$DATA/postmaster.pid"  # written by the server itself; first line = pid
READY_TIMEOUT="${CHAT_POSTGRES_TIMEOUT:-60}"
PGUSER_OS=postgres

pg_bin() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  [[ -n "$d" && -x "$d/pg_ctl" ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
  echo "$d"
}

as_pg() { runuser -u "$PGUSER_OS" -- "$@"; }

ready() { "$BIN/pg_isready" -q -h "$HOST" -p "$PORT" -d postgres; }

psql_super() { as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PORT" -U postgres -d postgres "$@"; }

cmd_up() {
  ensure_apt_packages postgresql
  BIN="$(pg_bin)"
  if running "$PIDFILE"; then
    say "already running (pid $(read_pid "$PIDFILE")) on $HOST:$PORT"
    return 0
  fi
  require_free_port "$PORT"
  local start; start="$(now_s)"
  mkdir -p "$DIR"
  install -d -o "$PGUSER_OS" -g "$PGUSER_OS" -m 0700 "$SOCKDIR"
  touch "$LOG" && chown "$PGUSER_OS:$PGUSER_OS" "$LOG"
  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    say "initdb $DATA ($("$BIN/postgres" --version))"
    rm -rf "$DATA"
    install -d -o "$PGUSER_OS" -g "$PGUSER_OS" -m 0700 "$DATA"
    # Local (unix socket) access for the postgres superuser is trusted; TCP needs a password.
    as_pg "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >> "$LOG" 2>&1 \
      || { show_log_tail "$LOG"; die "initdb failed"; }
  fi
  rm -f "$PIDFILE"  # stale pidfile from a killed server (we checked it is not running)
  say "starting PostgreSQL on $HOST:$PORT"
  # A throwaway test database: durability settings off for speed.
  as_pg "$BIN/pg_ctl" start -W -D "$DATA" -l "$LOG" -o \
    "-c listen_addresses=$HOST -p $PORT -c unix_socket_directories=$SOCKDIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    >/dev/null
  wait_until "PostgreSQL on $HOST:$PORT (pg_isready)" "$READY_TIMEOUT" "$LOG" "$PIDFILE" ready || return 1
  psql_super <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'chat') THEN
    CREATE ROLE chat LOGIN CREATEDB PASSWORD 'chat';
  END IF;
END
$$;
SELECT 'CREATE DATABASE chat OWNER chat' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'chat')
\gexec
SQL
  say "up in $(elapsed "$start") s (pid $(read_pid "$PIDFILE")); role chat, database chat"
}

cmd_down() {
  BIN="$(pg_bin)"
  local pid; pid="$(read_pid "$PIDFILE")"
  if pid_alive "$pid"; then
    say "stopping PostgreSQL (pid $pid, fast shutdown)"
    as_pg "$BIN/pg_ctl" stop -D "$DATA" -m fast -t 30 >/dev/null 2>&1 || true
  fi
  # Falls back to SIGTERM/SIGKILL if pg_ctl did not finish the job.
  if [[ -f "$PIDFILE" ]]; then stop_pid "$PIDFILE" "postgres" 10; else say "stopped postgres"; fi
}

cmd_status() {
  if running "$PIDFILE"; then
    echo "postgres:  running (pid $(read_pid "$PIDFILE")) on $HOST:$PORT"
  else
    echo "postgres:  stopped"; return 3
  fi
}

cmd_env() { echo "export DATABASE_URL=postgres://chat:chat@$HOST:$PORT/chat"; }

case "${1:-}" in
  up|down|status|env) "cmd_$1" ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
