#!/usr/bin/env bash
# Writes the files compose.yaml mounts as secrets into deploy/compose/secrets/
# (git-ignored), each owned by the uid of the container that reads it and
# unreadable by anyone else. Files that exist are kept, so running it again
# only fills gaps; delete a file to make it anew. Needs root (chown) and
# the openssl command.
#
#   deploy/compose/make-secrets.sh
#   EDGE_NAMES="DNS:attune.clinic.example,DNS:localhost" deploy/compose/make-secrets.sh
#   ATTUNE_JWKS=/path/to/ehr-jwks.json deploy/compose/make-secrets.sh
#
# The certificates are for trying the layout: an internal CA signs attuned's
# server certificate, Envoy's client certificate and the edge certificate.
# In production give Envoy the edge certificate your clients already trust
# (edge.crt, edge.key) and keep internal-ca.key offline.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/secrets"
if [ "$(id -u)" -ne 0 ]; then
  echo "make-secrets: run as root (the files are chowned to the container users)" >&2
  exit 1
fi
command -v openssl >/dev/null || { echo "make-secrets: needs openssl" >&2; exit 1; }

# Container users (see compose.yaml).
attuned_uid=10001 envoy_uid=101 postgres_uid=999

umask 077
mkdir -p "$out"
cd "$out"

# own FILE UID MODE
own() { chown "$2:$2" "$1"; chmod "$3" "$1"; }

if [ ! -e internal-ca.crt ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout internal-ca.key -out internal-ca.crt -days 825 \
    -subj "/CN=Attune compose internal CA" 2>/dev/null
  own internal-ca.key 0 0400
  own internal-ca.crt 0 0444
fi

# issue NAME SUBJECT_ALT_NAMES EXTENDED_KEY_USAGE OWNER_UID
issue() {
  [ -e "$1.crt" ] && return 0
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA internal-ca.crt -CAkey internal-ca.key \
    -set_serial "0x$(openssl rand -hex 16)" -days 397 -out "$1.crt" \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$2" "$3") \
    2>/dev/null
  rm -f "$1.csr"
  own "$1.key" "$4" 0400
  own "$1.crt" 0 0444
}
issue attuned "DNS:attuned" serverAuth "$attuned_uid"
issue envoy-client "DNS:envoy" clientAuth "$envoy_uid"
issue edge "${EDGE_NAMES:-DNS:localhost}" serverAuth "$envoy_uid"

# Storage keys in the format of `attunectl keys generate`: "<id> <base64 of
# 32 random bytes>", one line (deploy/SECURITY.md, rotation).
if [ ! -e storage_keys ]; then
  printf 'k%s %s\n' "$(date -u +%Y%m%d)" "$(openssl rand -base64 32)" > storage_keys
  own storage_keys "$attuned_uid" 0600
fi

# One database password, twice: for the postgres image's first start, and
# as attuned's libpq password file (host:port:database:user:password).
if [ ! -e pg_password ]; then
  openssl rand -hex 24 > pg_password
  own pg_password "$postgres_uid" 0400
fi
if [ ! -e pgpass ]; then
  printf 'postgres:5432:attune:attune:%s\n' "$(cat pg_password)" > pgpass
  own pgpass "$attuned_uid" 0600
fi

# The EHR's token signing keys (public): attuned's auth.jwks_file.
if [ -n "${ATTUNE_JWKS:-}" ]; then
  install -m 0444 "$ATTUNE_JWKS" jwks.json
fi
if [ ! -e jwks.json ]; then
  echo "make-secrets: put your EHR's JWKS at $out/jwks.json (or set ATTUNE_JWKS)" >&2
fi
echo "make-secrets: $out is ready"
