#!/usr/bin/env bash
# Prints a postgres:// URL for a throwaway PostgreSQL on loopback, installing the server when it is
# missing. The server runs until the file named by $1 (a pid file) is used to stop it:
#   url=$(scripts/ensure-postgres.sh /tmp/pg.pid) ... ; scripts/ensure-postgres.sh --stop /tmp/pg.pid
set -euo pipefail

if [ "${1:-}" = "--stop" ]; then
    dir=$(cat "$2" 2>/dev/null || true)
    [ -n "$dir" ] && [ -d "$dir" ] || exit 0
    pgbin=$(cat "$dir/.pgbin")
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/db" -m immediate stop >/dev/null 2>&1 || true
    else
        "$pgbin/pg_ctl" -D "$dir/db" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    exit 0
fi
pidfile=${1:?usage: ensure-postgres.sh PIDFILE | --stop PIDFILE}

find_bin() {
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
    return 1
}

if ! pgbin=$(find_bin); then
    echo "PostgreSQL not found; installing it" >&2
    as_root=""
    [ "$(id -u)" = 0 ] || as_root="sudo"
    $as_root apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends postgresql >&2
    pgbin=$(find_bin)
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
datadir=$(mktemp -d /tmp/vestibule-pg.XXXXXX)
echo "$pgbin" > "$datadir/.pgbin"
run() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
# PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
[ "$(id -u)" = 0 ] && chown postgres "$datadir" && chmod 700 "$datadir"
mkdir -p "$datadir/db" "$datadir/sock"
[ "$(id -u)" = 0 ] && chown -R postgres "$datadir"
run "$pgbin/initdb" -D "$datadir/db" -A trust -U postgres --no-sync >/dev/null
run "$pgbin/pg_ctl" -D "$datadir/db" -w -l "$datadir/log" \
    -o "-p $port -k $datadir/sock -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
echo "$datadir" > "$pidfile"
echo "postgres://postgres@127.0.0.1:$port/postgres"
