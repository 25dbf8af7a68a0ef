#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan + coverage on every
# library they link) and runs each for a bounded time over its seed corpus.
#
#   tests/fuzz/run.sh [seconds per target] [target...]
#   tests/fuzz/run.sh 600 jwt        ten minutes on the JWT parser only
#
# Build tree: $ATTUNE_FUZZ_BUILD_DIR (default build-fuzz/ in the checkout,
# git-ignored, so two checkouts never share a CMake cache); only the fuzz
# targets and the libraries they need are built, with ccache as in
# tests/run.sh.
# The seed corpus tests/fuzz/corpus/<target>/ is read, never written: new
# inputs go to a temporary working corpus, deleted afterwards. Extra flags
# for libFuzzer can be passed in ATTUNE_FUZZ_FLAGS (e.g. "-jobs=2").
# On a crash, a timeout, a leak or a broken FUZZ_CHECK the script stops,
# prints the reproducer's path (kept in $ATTUNE_FUZZ_ARTIFACTS, default
# /tmp/attune-fuzz-artifacts) and exits 1; see README.md to add it to the
# corpus.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

seconds="${1:-20}"
shift || true
all_targets=(event_validation prompt_json plugin_json config jwt jwks)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

build="${ATTUNE_FUZZ_BUILD_DIR:-$root/build-fuzz}"
artifacts="${ATTUNE_FUZZ_ARTIFACTS:-/tmp/attune-fuzz-artifacts}"
export CCACHE_DIR="${CCACHE_DIR:-/var/cache/attune-ccache}"
mkdir -p "$CCACHE_DIR" "$artifacts"

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found (deploy/install-deps.sh test installs it)" >&2
  exit 1
fi

echo "== fuzz: clang build in $build"
# -fsanitize=fuzzer-no-link puts coverage in the libraries too; the targets
# themselves link libFuzzer (tests/fuzz/CMakeLists.txt, ATTUNE_FUZZ=ON).
# -O1 with line tables only: the usual fuzzing trade, and a faster build.
# -Werror stays off: this build hunts crashes, the other builds own warnings.
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  "-DCMAKE_C_FLAGS_RELEASE=-O1 -gline-tables-only" \
  "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -gline-tables-only" \
  -DATTUNE_SANITIZE=ON -DATTUNE_FUZZ=ON \
  -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link \
  -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link >/dev/null
ninja -C "$build" -j "$(nproc)" "${targets[@]/#/fuzz_}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

for target in "${targets[@]}"; do
  seeds="$root/tests/fuzz/corpus/$target"
  corpus="$work/$target"
  mkdir -p "$corpus"
  echo "== fuzz: $target for ${seconds}s"
  log="$work/$target.log"
  # New inputs go to the first corpus dir (the temporary one); the seeds
  # dir is only read. -rss_limit_mb matches libFuzzer's default, named so
  # it is easy to find.
  # shellcheck disable=SC2086
  if ! "$build/tests/fuzz/fuzz_$target" "$corpus" "$seeds" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/$target-" \
      ${ATTUNE_FUZZ_FLAGS:-} >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    reproducer="$(grep -o "Test unit written to [^ ]*" "$log" | tail -n 1 |
                  sed 's/Test unit written to //')"
    echo "fuzz: $target FAILED; reproducer: ${reproducer:-(none written)}" >&2
    echo "fuzz: replay it with $build/tests/fuzz/fuzz_$target ${reproducer:-<file>}" >&2
    exit 1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$log" |
    tr -s "\n " "  " | sed "s/^/fuzz: $target: /"
  echo "(corpus $(ls "$seeds" | wc -l) seeds -> $(ls "$corpus" | wc -l) new)"
done
echo "== fuzz: no crash in ${#targets[@]} targets"
