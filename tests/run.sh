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

# Every test's temporary files (databases, key files, logs) go under one
# directory that is removed when the run ends, pass or fail.
scratch="$(mktemp -d "${TMPDIR:-/tmp}/attune-tests.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
export TMPDIR="$scratch" TEST_TMPDIR="$scratch/"

export CCACHE_DIR="${CCACHE_DIR:-/var/cache/attune-ccache}"
mkdir -p "$CCACHE_DIR"
jobs="$(nproc)"

echo "== clang-format check"
mapfile -t sources < <(find proto service plugins tests \( -name '*.h' -o -name '*.cc' -o -name '*.c' \) -type f | sort)
clang-format --dry-run --Werror "${sources[@]}"

run_suite() {
  local dir="$1"; shift
  ATTUNE_BUILD_JOBS="$jobs" "$root/deploy/build.sh" "$dir" -DATTUNE_WERROR=ON \
    -DATTUNE_BUILD_TESTS=ON "$@"
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

