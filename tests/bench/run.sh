#!/usr/bin/env bash
# Attune's performance report: builds in Release outside the checkout, runs
# the microbenchmarks, then attune-bench (attuned against the null gRPC
# server and raw SQLite, start-up and memory), and prints one report.
#
#   tests/bench/run.sh                     the full report (~5 minutes on 2 cores)
#   tests/bench/run.sh --duration=10s --repetitions=5     longer runs
#   tests/bench/run.sh --startup_events=0  skip start-up and memory
#
# Arguments go to attune-bench (attune-bench --help lists them).
# ATTUNE_BENCH_BUILD: build dir (default /tmp/attune-bench-build);
# ATTUNE_BENCH_MICRO_ARGS: extra attune-microbench flags;
# CCACHE_DIR: compiler cache (default /var/cache/attune-ccache).
# Numbers on a busy or 2-core machine are noisy: compare the ratios, which
# are measured side by side. Not a test: it never fails on a number.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${ATTUNE_BENCH_BUILD:-/tmp/attune-bench-build}"

"$root/deploy/install-deps.sh" test
export CCACHE_DIR="${CCACHE_DIR:-/var/cache/attune-ccache}"
mkdir -p "$CCACHE_DIR"

echo "== building (Release) in $build" >&2
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target attuned attune-null-server \
  attune-bench attune-microbench example_safety_item_c >&2

out="$(mktemp -d "${TMPDIR:-/tmp}/attune-bench-report-XXXXXX")"
trap 'rm -rf "$out"' EXIT

echo "== microbenchmarks (attune-microbench, 3 repetitions)" >&2
# shellcheck disable=SC2086  # word splitting of the extra flags is wanted
"$build/tests/bench/attune-microbench" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true --benchmark_min_time=0.2 \
  --benchmark_out="$out/micro.json" --benchmark_out_format=json \
  ${ATTUNE_BENCH_MICRO_ARGS:-} >&2

echo "== attune-bench" >&2
"$build/tests/bench/attune-bench" --microbench_json="$out/micro.json" "$@"
