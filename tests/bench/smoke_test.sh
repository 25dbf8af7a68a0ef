#!/usr/bin/env bash
# The harness's smoke test (ctest bench_smoke): attune-bench --smoke runs
# every scenario for a moment against a real attuned and the null server.
# Passes when it exits 0 under --check (no failed call, no rejected event,
# throughput in every scenario) and its report has every section.
#   smoke_test.sh <attune-bench binary>
set -euo pipefail
out="$("$1" --smoke --check)" || { echo "$out"; echo "attune-bench --smoke --check failed" >&2; exit 1; }
echo "$out"
for section in "== gRPC: attuned vs the null server" "== Store floor" \
    "== Start-up and memory" "== Targets" "failed calls 0, rejected events 0"; do
  grep -qF "$section" <<<"$out" || { echo "report lacks: $section" >&2; exit 1; }
done
# The backfill line's attuned and null rates are numbers above zero.
awk '/^SubmitEvents backfill/ { if ($5 > 0 && $11 > 0) ok = 1 } END { exit !ok }' <<<"$out" \
  || { echo "backfill measured no throughput" >&2; exit 1; }
