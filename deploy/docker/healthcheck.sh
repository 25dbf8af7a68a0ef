#!/bin/bash
# Container health check (the image's HEALTHCHECK): GET a path of attuned's
# operations endpoint and succeed only on HTTP 200. Uses bash's /dev/tcp, so
# the runtime image needs no curl or wget.
#
#   attune-healthcheck [/livez|/readyz]     default /livez
#   ATTUNE_OPS_ADDRESS=host:port            default 127.0.0.1:9464
set -euo pipefail
path="${1:-/livez}"
address="${ATTUNE_OPS_ADDRESS:-127.0.0.1:9464}"
host="${address%:*}"
port="${address##*:}"
# An endpoint bound to every interface answers on loopback too.
case "$host" in "" | 0.0.0.0 | "[::]") host=127.0.0.1 ;; esac
host="${host#[}"
host="${host%]}"

exec 3<>"/dev/tcp/$host/$port"
printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$address" >&3
IFS= read -r -t 5 status <&3
case "$status" in
  "HTTP/1."[01]" 200"*) exit 0 ;;
  *) echo "attune-healthcheck: $path: ${status%$'\r'}" >&2; exit 1 ;;
esac
