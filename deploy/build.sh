#!/usr/bin/env bash
# Configures (Ninja; ccache when installed) and builds Attune. The one build
# step behind deploy/local/run.sh, tests/run.sh and the container image
# (deploy/docker/Dockerfile), so all three build the same way.
#
#   deploy/build.sh <build-dir> [extra cmake args...]
#   deploy/build.sh build -DCMAKE_BUILD_TYPE=Release -DATTUNE_BUILD_TESTS=OFF
#
#   ATTUNE_BUILD_TARGETS="attuned attunectl"  build only these (default: all)
#   ATTUNE_BUILD_JOBS=N                       parallel jobs (default: nproc)
#
# The packages come first (deploy/install-deps.sh). CMake's own configure
# output is kept quiet; compiler errors are not.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: deploy/build.sh <build-dir> [extra cmake args...]" >&2
  exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$1"; shift

# CMakeLists.txt puts ccache in front of the compilers when it finds it; the
# cache lives outside the checkout so that every build tree shares it.
if command -v ccache >/dev/null; then
  export CCACHE_DIR="${CCACHE_DIR:-/var/cache/attune-ccache}"
  mkdir -p "$CCACHE_DIR"
fi

cmake -S "$root" -B "$dir" -G Ninja "$@" >/dev/null

targets=()
for t in ${ATTUNE_BUILD_TARGETS:-}; do targets+=("$t"); done
if [ ${#targets[@]} -gt 0 ]; then
  cmake --build "$dir" -j "${ATTUNE_BUILD_JOBS:-$(nproc)}" --target "${targets[@]}"
else
  cmake --build "$dir" -j "${ATTUNE_BUILD_JOBS:-$(nproc)}"
fi
