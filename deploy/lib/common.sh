# shellcheck shell=bash
# Shared helpers for deploy/services/*.sh. Source it; do not run it.
#
# Paths (both overridable from the environment):
#   CHAT_SERVICES_DIR  state: data, logs, pidfiles    (default: <repo>/.services)
#   CHAT_CACHE_DIR     downloaded jars, kept between runs (default: ~/.cache/chat-services)

set -euo pipefail

DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$DEPLOY_DIR/.." && pwd)"
STATE_DIR="$(realpath -m "${CHAT_SERVICES_DIR:-$REPO_DIR/.services}")"
# shellcheck disable=SC2034  # used by the scripts that source this file
CACHE_DIR="$(realpath -m "${CHAT_CACHE_DIR:-$HOME/.cache/chat-services}")"
# Only loopback, ever.
HOST=127.0.0.1
# Pinned so that a fetch is reproducible (maven-dependency-plugin).
MVN_DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

SVC="${SVC:-service}"

say()  { printf '[%s] %s\n' "$SVC" "$*"; }
warn() { printf '[%s] %s\n' "$SVC" "$*" >&2; }
die()  { warn "ERROR: $*"; exit 1; }

now_s() { date +%s.%N; }
# elapsed START -> "12.3"
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'; }

# port_open PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# pid_alive PID: true if the process exists and is not a zombie.
pid_alive() {
  local pid="$1" st
  [[ -n "$pid" && "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  st="$(ps -o stat= -p "$pid" 2>/dev/null || true)"
  [[ -n "$st" && "$st" != Z* ]]
}

# read_pid PIDFILE: prints the pid (first line) or nothing.
read_pid() {
  if [[ -f "$1" ]]; then head -n1 "$1" | tr -dc '0-9'; fi
}

# running PIDFILE [PATTERN]: true if the pidfile names a live process (whose command
# line contains PATTERN, so that a pid reused by another program does not count).
running() {
  local pid; pid="$(read_pid "$1")"
  pid_alive "$pid" || return 1
  [[ -z "${2:-}" ]] || tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# lock NAME: serializes up/down of one service between concurrent callers
# (e.g. test files that each run "up"); waits at most 300 s.
lock() {
  mkdir -p "$STATE_DIR"
  exec 9> "$STATE_DIR/.$1.lock"
  flock -w 300 9 || die "could not lock $STATE_DIR/.$1.lock within 300 s"
}

# require_free_port PORT...: fail if a port we are about to use is already taken
# (by something that is not ours, since callers check their own pidfile first).
require_free_port() {
  local p
  for p in "$@"; do
    if port_open "$p"; then
      die "$HOST:$p is already in use by another process (not started by these scripts); stop it first"
    fi
  done
}

# show_log_tail FILE [LINES]
show_log_tail() {
  local f="$1" n="${2:-40}"
  if [[ -f "$f" ]]; then
    warn "---- last $n lines of $f ----"
    tail -n "$n" "$f" | cut -c1-400 >&2 || true   # some lines (classpath, config dumps) are huge
    warn "---- end of $f ----"
  else
    warn "(no log file at $f)"
  fi
}

# wait_until WHAT TIMEOUT_S LOGFILE PIDFILE CHECK_CMD...
# Polls CHECK_CMD every 0.5 s until it succeeds, the process named by PIDFILE dies,
# or TIMEOUT_S passes. On failure prints the tail of LOGFILE and returns 1.
# PIDFILE may be "" for services whose pid appears late (checked only if present).
wait_until() {
  local what="$1" timeout_s="$2" logfile="$3" pidfile="$4"
  shift 4
  local start deadline pid
  start="$(now_s)"
  deadline=$(( $(date +%s) + timeout_s ))
  say "waiting for $what (up to $timeout_s s)"
  while :; do
    if "$@" >/dev/null 2>&1; then
      say "ready: $what after $(elapsed "$start") s"
      return 0
    fi
    if [[ -n "$pidfile" && -f "$pidfile" ]]; then
      pid="$(read_pid "$pidfile")"
      if [[ -n "$pid" ]] && ! pid_alive "$pid"; then
        warn "process $pid exited while waiting for $what"
        show_log_tail "$logfile"
        return 1
      fi
    fi
    if (( $(date +%s) >= deadline )); then
      warn "timed out after $timeout_s s waiting for $what"
      show_log_tail "$logfile"
      return 1
    fi
    sleep 0.5
  done
}

# stop_pid PIDFILE WHAT [GRACE_S] [PATTERN]: SIGTERM, wait up to GRACE_S, then SIGKILL.
# Removes the pidfile. Returns 0 if nothing is left running.
stop_pid() {
  local pidfile="$1" what="$2" grace="${3:-30}" pattern="${4:-}" pid i
  pid="$(read_pid "$pidfile")"
  if ! running "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    say "$what is not running"
    return 0
  fi
  say "stopping $what (pid $pid, SIGTERM, up to $grace s)"
  kill -TERM "$pid" 2>/dev/null || true
  for (( i = 0; i < grace * 4; i++ )); do
    pid_alive "$pid" || break
    sleep 0.25
  done
  if pid_alive "$pid"; then
    warn "$what (pid $pid) still alive after $grace s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for (( i = 0; i < 40; i++ )); do
      pid_alive "$pid" || break
      sleep 0.25
    done
  fi
  if pid_alive "$pid"; then
    warn "$what (pid $pid) could not be stopped"
    return 1
  fi
  rm -f "$pidfile"
  say "stopped $what"
}

# ensure_apt_packages PKG...: installs missing Debian packages
# (apt-get update once per process, and only if something is missing).
ensure_apt_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  (( ${#missing[@]} == 0 )) && return 0
  (( EUID == 0 )) || die "packages missing (${missing[*]}) and not root: install them first"
  say "installing Debian packages: ${missing[*]}"
  if [[ -z "${_CHAT_APT_UPDATED:-}" ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    export _CHAT_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# maven_fetch DEST_DIR POM_CONTENT: resolves the pom's runtime dependencies from
# Maven Central into DEST_DIR/lib, once: DEST_DIR/.complete holds the sha256 of the
# pom that was fetched, so a changed pom (another version) fetches again.
maven_fetch() {
  local dest="$1" pom="$2" start work sum
  sum="$(printf '%s\n' "$pom" | sha256sum | cut -d' ' -f1)"
  if [[ -f "$dest/.complete" && "$(cat "$dest/.complete")" == "$sum" && -d "$dest/lib" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (needed once, to fetch jars into $dest)"
  start="$(now_s)"
  say "fetching jars from Maven Central into $dest (first run only)"
  mkdir -p "$dest"
  work="$(mktemp -d "$dest/.fetch.XXXXXX")"
  printf '%s\n' "$pom" > "$work/pom.xml"
  if ! (cd "$work" && mvn -B -q -ntp "$MVN_DEPENDENCY_PLUGIN:copy-dependencies" \
          -DincludeScope=runtime -DoutputDirectory="$work/lib") > "$work/mvn.log" 2>&1; then
    show_log_tail "$work/mvn.log" 60
    rm -rf "$work"
    die "maven fetch failed"
  fi
  rm -rf "${dest:?}/lib"
  mv "$work/lib" "$dest/lib"
  cp "$work/pom.xml" "$dest/pom.xml"
  rm -rf "$work"
  echo "$sum" > "$dest/.complete"
  say "fetched $(find "$dest/lib" -name '*.jar' | wc -l) jars in $(elapsed "$start") s"
}

# find_java17: prints a java binary of major version 17 (Cassandra 5.0 needs 11 or 17;
# Kafka 4 needs 17+). Honors JAVA_HOME if it is a 17.
java_major() { "$1" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ { print $2 }'; }
find_java17() {
  local c
  for c in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} /usr/lib/jvm/java-17-openjdk-*/bin/java "$(command -v java || true)"; do
    [[ -x "$c" ]] || continue
    if [[ "$(java_major "$c")" == 17 ]]; then
      echo "$c"
      return 0
    fi
  done
  die "no Java 17 found (set JAVA_HOME to a JDK 17)"
}

# log_mark FILE: prints the current size of FILE (to search only what follows).
log_mark() { if [[ -f "$1" ]]; then stat -c %s "$1"; else echo 0; fi; }
# log_has_since FILE OFFSET PATTERN
log_has_since() { [[ -f "$1" ]] && tail -c +"$(( $2 + 1 ))" "$1" | grep -q -- "$3"; }
