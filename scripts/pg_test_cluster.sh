#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the ledger tests.
#   scripts/pg_test_cluster.sh start DIR   initdb DIR/data, start it listening only on a unix
#                                          socket in DIR (trust auth), create database tessera,
#                                          print postgresql:///tessera?host=DIR&port=P on stdout
#   scripts/pg_test_cluster.sh stop DIR    stop it and remove DIR
# As root the server runs as the postgres user (it refuses to run as root); the
# database superuser is named after the caller, so the URL needs no user.
# Without the server binaries (postgresql-15), start prints why on stderr, prints
# nothing on stdout and exits 0 (the tests then skip), unless $CI is set: there
# the tests must really run, so it fails.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1 dir=$2
BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

as_server() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    if [ ! -x "$BIN/initdb" ] || [ ! -x "$BIN/pg_ctl" ]; then
      echo "pg_test_cluster.sh: no PostgreSQL 15 server binaries in $BIN (install postgresql-15: scripts/install_deps.sh test)" >&2
      [ -n "${CI:-}" ] && exit 1
      exit 0
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # The server's socket path must fit in 107 bytes.
    [ ${#dir} -le 80 ] || { echo "pg_test_cluster.sh: '$dir' is too long for a unix socket path" >&2; exit 1; }
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_server "$BIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir/data"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    # No TCP listener (listen_addresses=''): the port only names the socket
    # file in DIR, so any port is free; take the first whose socket is absent.
    port=54329
    while [ -e "$dir/.s.PGSQL.$port" ]; do port=$((port + 1)); done
    superuser=$(id -un)
    as_server "$BIN/initdb" -D "$dir/data" -U "$superuser" -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
      { echo "pg_test_cluster.sh: initdb failed (log: $dir/initdb.log)" >&2; tail -n 5 "$dir/initdb.log" >&2; exit 1; }
    # Throwaway data: no fsync needed for speed (the ledger's durability is tested on SQLite's FULL sync).
    as_server "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-k $dir -c listen_addresses= -p $port -c fsync=off -c max_connections=50" start >/dev/null ||
      { echo "pg_test_cluster.sh: the server did not start (log: $dir/server.log)" >&2; tail -n 5 "$dir/server.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    "$BIN/createdb" -h "$dir" -p "$port" -U "$superuser" tessera ||
      { echo "pg_test_cluster.sh: createdb tessera failed" >&2; exit 1; }
    echo "postgresql:///tessera?host=$dir&port=$port"
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_server "$BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    fi
    rm -rf "$dir"
    ;;
  *) usage ;;
esac
