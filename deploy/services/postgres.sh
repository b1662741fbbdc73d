#!/usr/bin/env bash
# PostgreSQL from Debian's postgresql package, own cluster under the state dir,
# on 127.0.0.1:5432, role chat/chat owning database chat.
# Usage: postgres.sh up|down|status|env|check
# shellcheck disable=SC2034  # SVC is read by lib/common.sh
SVC=postgres
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

PORT=5432
DIR="$STATE_DIR/postgres"
DATA="$DIR/data"
SOCKDIR="$DIR/run"          # unix socket (the server runs as user postgres)
LOG="$DIR/postgres.log"
PIDFILE="$DATA/postmaster.pid"  # written by the server itself; first line = pid
READY_TIMEOUT="${CHAT_POSTGRES_TIMEOUT:-60}"
MATCH=postgres       # in the command line of the pid we track
# The server refuses to run as root: as root we run it as the Debian "postgres" user,
# otherwise as whoever runs this script.
if (( EUID == 0 )); then PGUSER_OS=postgres; else PGUSER_OS="$(id -un)"; fi

pg_bin() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  [[ -n "$d" && -x "$d/pg_ctl" ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
  echo "$d"
}

as_pg() { if (( EUID == 0 )); then runuser -u "$PGUSER_OS" -- "$@"; else "$@"; fi; }
# own_dir DIR: creates DIR (mode 0700) owned by the server's user.
own_dir() { if (( EUID == 0 )); then install -d -o "$PGUSER_OS" -g "$PGUSER_OS" -m 0700 "$1"; else install -d -m 0700 "$1"; fi; }

ready() { "$BIN/pg_isready" -q -h "$HOST" -p "$PORT" -d postgres; }

psql_super() { as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PORT" -U postgres -d postgres; }

cmd_up() {
  lock postgres
  ensure_apt_packages postgresql
  BIN="$(pg_bin)"
  if running "$PIDFILE" "$MATCH"; then
    say "already running (pid $(read_pid "$PIDFILE")) on $HOST:$PORT"
    return 0
  fi
  require_free_port "$PORT"
  local start; start="$(now_s)"
  mkdir -p "$DIR"
  own_dir "$SOCKDIR"
  touch "$LOG"
  (( EUID != 0 )) || chown "$PGUSER_OS:" "$LOG"
  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    say "initdb $DATA ($("$BIN/postgres" --version))"
    rm -rf "$DATA"
    own_dir "$DATA"
    # Local (unix socket) access for the postgres superuser is trusted; TCP needs a password.
    as_pg "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >> "$LOG" 2>&1 \
      || { show_log_tail "$LOG"; die "initdb failed"; }
  fi
  rm -f "$PIDFILE"  # stale pidfile from a killed server (we checked it is not running)
  say "starting PostgreSQL on $HOST:$PORT"
  say "waiting for PostgreSQL to accept connections on $HOST:$PORT (pg_ctl -w, up to $READY_TIMEOUT s)"
  # pg_ctl -w returns as soon as the server is ready, or fails at once if it dies.
  # A throwaway test database: durability settings off for speed.
  if ! as_pg "$BIN/pg_ctl" start -w -t "$READY_TIMEOUT" -D "$DATA" -l "$LOG" -o \
      "-c listen_addresses=$HOST -p $PORT -c unix_socket_directories=$SOCKDIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      >/dev/null 9>&-; then
    warn "PostgreSQL did not become ready"
    show_log_tail "$LOG"
    stop_server || true
    return 1
  fi
  wait_until "PostgreSQL on $HOST:$PORT (pg_isready)" 10 "$LOG" "$PIDFILE" ready \
    || { stop_server || true; return 1; }
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

stop_server() {
  BIN="$(pg_bin)"
  if running "$PIDFILE" "$MATCH"; then
    say "stopping PostgreSQL (pid $(read_pid "$PIDFILE"), fast shutdown)"
    as_pg "$BIN/pg_ctl" stop -D "$DATA" -m fast -t 30 >/dev/null 2>&1 || true
  fi
  # Falls back to SIGTERM/SIGKILL if pg_ctl did not finish the job; pg_ctl removes the pidfile.
  if [[ -f "$PIDFILE" ]]; then stop_pid "$PIDFILE" "PostgreSQL" 10 "$MATCH"; else say "stopped PostgreSQL"; fi
}

cmd_down() { lock postgres; stop_server; }

cmd_status() {
  if running "$PIDFILE" "$MATCH"; then
    echo "postgres:  running (pid $(read_pid "$PIDFILE")) on $HOST:$PORT"
  else
    echo "postgres:  stopped"; return 3
  fi
}

# A real client round trip: psql over TCP as chat/chat (password auth).
cmd_check() {
  local out
  out="$(PGPASSWORD=chat PGCONNECT_TIMEOUT=10 psql -X -q -At -h "$HOST" -p "$PORT" -U chat -d chat -v ON_ERROR_STOP=1 \
    -c "CREATE TEMP TABLE smoke (v text); INSERT INTO smoke VALUES ('hello'); SELECT current_user || ' ' || current_database() || ' ' || v || ' ' || split_part(current_setting('server_version'), ' ', 1) FROM smoke")" \
    || die "psql as chat@$HOST:$PORT/chat failed"
  say "ok: psql as chat on $HOST:$PORT, database chat, temp table round trip (server ${out##* })"
}

cmd_env() { echo "export DATABASE_URL=postgres://chat:chat@$HOST:$PORT/chat"; }

case "${1:-}" in
  up|down|status|env|check) "cmd_$1" ;;
  *) echo "usage: $0 up|down|status|env|check" >&2; exit 2 ;;
esac
