#!/usr/bin/env bash
# Installs the Debian 12 packages Attune builds, runs and tests with.
# Idempotent: does nothing (and needs no network) when all are present.
# Usage: deploy/install-deps.sh [build|test]   (default: test = everything)
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build ccache pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libsqlite3-dev libssl-dev libpq-dev prometheus-cpp-dev
  libjemalloc-dev
)
# postgresql-15: the throwaway cluster of the PostgreSQL store's tests
# (tests/postgres/cluster.sh).
test_pkgs=(libgtest-dev libgmock-dev libbenchmark-dev clang-format sqlite3 clang libclang-rt-dev postgresql-15
           python3 python3-yaml systemd)

want=("${build_pkgs[@]}")
[ "${1:-test}" = "test" ] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root or install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
