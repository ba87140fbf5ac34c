#!/usr/bin/env bash
# Run one libFuzzer target over a scratch copy of its corpus: tests/fuzz/run.sh BINARY CORPUS.
# Runs FIELDSYNC_FUZZ_RUNS executions: 2,000 by default (a smoke run in CI), 10,000,000 with
# FIELDSYNC_LONG=1.  A crash, leak or abort leaves its reproducer beside the scratch corpus and
# fails; new inputs found stay in the scratch copy (add the interesting ones to the corpus).
set -euo pipefail
bin=$1
corpus=$2
runs=${FIELDSYNC_FUZZ_RUNS:-$([ "${FIELDSYNC_LONG:-0}" = 1 ] && echo 10000000 || echo 2000)}
work=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-fuzz-$(basename "$bin")-XXXXXX")
cp -r "$corpus"/. "$work/"
echo "fuzz: $(basename "$bin"): $runs executions over $(ls "$work" | wc -l) inputs in $work"
# the target's own logging (stderr) is closed; libFuzzer's report still prints
"$bin" -runs="$runs" -max_len=20000 -close_fd_mask=2 -print_final_stats=1 \
	-artifact_prefix="$work/crash-" "$work" 2>&1 | grep -E "^(#[0-9]+ *DONE|stat::number_of_executed_units|Done|==[0-9]+==|SUMMARY|.*ERROR)" || true
if ls "$work"/crash-* >/dev/null 2>&1; then
	echo "fuzz: $(basename "$bin"): a finding: $(ls "$work"/crash-*)"
	exit 1
fi
rm -rf "$work"
