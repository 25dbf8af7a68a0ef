#!/usr/bin/env bash
# Installs what is missing, builds attuned and attunectl, and starts attuned
# on loopback with the embedded SQLite store (state in deploy/local/data/),
# sealed with the storage keys of deploy/local/data/storage.keys, which the
# first run generates (mode 0600; the database cannot be read without it).
#
#   deploy/local/run.sh                  127.0.0.1:50051
#   ATTUNE_LISTEN=127.0.0.1:6000 deploy/local/run.sh
#   deploy/local/run.sh --log_level=debug   (extra flags go to attuned)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

"$root/deploy/install-deps.sh" build

build="${ATTUNE_BUILD_DIR:-$root/build}"
ATTUNE_BUILD_TARGETS="attuned attunectl" \
  "$root/deploy/build.sh" "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DATTUNE_BUILD_TESTS=OFF  # the build packages only: no GoogleTest needed

data="${ATTUNE_DATA_DIR:-$root/deploy/local/data}"
mkdir -p "$data"
ctl="$build/service/ctl/attunectl"
keys="$data/storage.keys"
if [[ ! -e "$keys" && ! -L "$keys" ]]; then
  # Prints only the key id; the key stays in the file.
  "$ctl" keys generate --out "$keys" >/dev/null
fi
echo "attunectl is at $ctl"
exec "$build/service/main/attuned" \
  --config "$root/deploy/local/attuned.textproto" \
  --db "$data/attune.db" \
  --key_file "$keys" \
  --listen "${ATTUNE_LISTEN:-127.0.0.1:50051}" "$@"
