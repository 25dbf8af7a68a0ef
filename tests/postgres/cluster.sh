#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests.
#
#   tests/postgres/cluster.sh start <dir>   # new cluster in <dir>, running
#   tests/postgres/cluster.sh stop <dir>    # stopped and <dir> removed
#
# start removes whatever <dir> held (a cluster left by an aborted run is
# stopped first), runs initdb with trust authentication, and starts the
# server listening on a Unix socket in <dir> only (no TCP), fsync on. It
# writes a libpq connection string to <dir>/dsn:
#   host=<dir> port=5432 dbname=postgres user=<cluster owner>
# PostgreSQL refuses to run as root: as root, the cluster is owned by and
# run as the `postgres` user (runuser), and <dir> is chowned to it. When
# that user cannot reach <dir> (a checkout under a private home directory),
# the cluster lives in a new directory under /tmp instead, named in
# <dir>/cluster-dir, and stop removes it.
set -euo pipefail

bin=/usr/lib/postgresql/15/bin
usage() { echo "usage: $0 start|stop <dir>" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd="$1"
mkdir -p "$2"
dir="$(cd "$2" && pwd)"
# Where the cluster is: <dir> itself, or what <dir>/cluster-dir names.
home="$dir"
if [ -f "$dir/cluster-dir" ]; then home="$(cat "$dir/cluster-dir")"; fi

if [ "$(id -u)" -eq 0 ]; then
  owner=postgres
  as_owner() { runuser -u postgres -- "$@"; }
else
  owner="$(id -un)"
  as_owner() { "$@"; }
fi

stop_cluster() {
  if [ -f "$home/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$home/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ "$home" != "$dir" ]; then rm -rf "$home"; fi
  home="$dir"
}

case "$cmd" in
  start)
    [ -x "$bin/initdb" ] || {
      echo "cluster.sh: $bin/initdb missing; install postgresql-15 (deploy/install-deps.sh test)" >&2
      exit 1
    }
    stop_cluster
    find "$dir" -mindepth 1 -delete
    if [ "$owner" = postgres ]; then
      chown postgres: "$dir"
      if ! runuser -u postgres -- test -w "$dir"; then
        # Not $TMPDIR: tests/run.sh points it at a directory only root
        # can enter.
        home="$(mktemp -d /tmp/attune-pg.XXXXXX)"
        chmod 755 "$home"
        chown postgres: "$home"
        echo "$home" >"$dir/cluster-dir"
      fi
    fi
    # Locale C: byte order, whatever the machine's locale; the schema
    # asks for it too.
    as_owner "$bin/initdb" -D "$home/data" -U "$owner" --auth=trust \
      --encoding=UTF8 --locale=C --no-sync >"$home/initdb.log" 2>&1 || {
      cat "$home/initdb.log" >&2
      exit 1
    }
    cat >>"$home/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$home'
port = 5432
fsync = on
max_connections = 200
log_min_messages = warning
CONF
    as_owner "$bin/pg_ctl" -D "$home/data" -l "$home/server.log" -w -t 60 start >/dev/null || {
      cat "$home/server.log" >&2
      exit 1
    }
    echo "host=$home port=5432 dbname=postgres user=$owner" >"$dir/dsn.tmp"
    mv "$dir/dsn.tmp" "$dir/dsn"
    echo "cluster.sh: PostgreSQL running, dsn in $dir/dsn"
    ;;
  stop)
    stop_cluster
    find "$dir" -mindepth 1 -delete
    ;;
  *)
    usage
    ;;
esac
