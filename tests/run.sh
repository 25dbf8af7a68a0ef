#!/usr/bin/env bash
# Installs what is missing, checks formatting, builds and runs every test,
# then runs the suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   tests/run.sh                 everything
#   ATTUNE_SKIP_SANITIZERS=1 tests/run.sh   the fast loop
#   ATTUNE_FUZZ_SECONDS=0 tests/run.sh       without the fuzzing step
#                                            (default: 10 s per fuzz target)
#
# Build trees go to build/ and build-asan/ in the checkout (git-ignored);
# compiler cache outside it (CCACHE_DIR, default /var/cache/attune-ccache).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/deploy/install-deps.sh" test

export CCACHE_DIR="${CCACHE_DIR:-/var/cache/attune-ccache}"
mkdir -p "$CCACHE_DIR"
jobs="$(nproc)"

echo "== clang-format check"
mapfile -t sources < <(find proto service plugins tests \( -name '*.h' -o -name '*.cc' -o -name '*.c' \) -type f | sort)
clang-format --dry-run --Werror "${sources[@]}"

run_suite() {
  local dir="$1"; shift
  cmake -S "$root" -B "$dir" -G Ninja -DATTUNE_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 600
}

if [ -z "${ATTUNE_SKIP_SANITIZERS:-}" ]; then
  echo "== ASan + UBSan build and tests"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    run_suite "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DATTUNE_SANITIZE=ON
fi

# Bounded fuzzing before the release suite, so ctest's summary stays the
# last line of the run.
if [ "${ATTUNE_FUZZ_SECONDS:-10}" != 0 ]; then
  "$root/tests/fuzz/run.sh" "${ATTUNE_FUZZ_SECONDS:-10}"
fi

echo "== release build and tests"
run_suite "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo

