#!/usr/bin/env bash
# Run the benchmarks: each prints its figures beside a baseline measured in the same run.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
bash packaging/install-deps.sh >/dev/null
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j "$(nproc 2>/dev/null || echo 2)" --target bench_store >/dev/null
echo "== store: encrypted vs plain SQLite"
build-bench/tests/bench_store "${FIELDSYNC_BENCH_CASES:-10000}"
