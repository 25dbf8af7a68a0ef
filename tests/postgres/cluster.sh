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
# run as the `postgres` user (runuser), and <dir> is chowned to it; the
# path to <dir> must be searchable by that user.
set -euo pipefail

bin=/usr/lib/postgresql/15/bin
usage() { echo "usage: $0 start|stop <dir>" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd="$1"
mkdir -p "$2"
dir="$(cd "$2" && pwd)"

if [ "$(id -u)" -eq 0 ]; then
  owner=postgres
  as_owner() { runuser -u postgres -- "$@"; }
else
  owner="$(id -un)"
  as_owner() { "$@"; }
fi

stop_cluster() {
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
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
        echo "cluster.sh: user postgres cannot reach $dir (a parent directory is not searchable)" >&2
        exit 1
      fi
    fi
    # Locale C: byte order, whatever the machine's locale; the schema
    # asks for it too.
    as_owner "$bin/initdb" -D "$dir/data" -U "$owner" --auth=trust \
      --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2
      exit 1
    }
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
port = 5432
fsync = on
max_connections = 200
log_min_messages = warning
CONF
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null || {
      cat "$dir/server.log" >&2
      exit 1
    }
    echo "host=$dir port=5432 dbname=postgres user=$owner" >"$dir/dsn.tmp"
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
