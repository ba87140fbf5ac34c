#!/usr/bin/env bash
# Run the whole test suite from a fresh clone: install dependencies, build a normal tree and an
# ASan+UBSan tree (with clang, which also builds the libFuzzer targets), run ctest in both.
# Exits non-zero if anything fails.  FIELDSYNC_LONG=1 runs the heavy trials at their long counts.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash packaging/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
status=0

build_and_test() {
	local dir=$1
	shift
	echo "==> configure $dir"
	cmake -S . -B "$dir" -DFIELDSYNC_WERROR=ON "$@"
	echo "==> build $dir"
	cmake --build "$dir" -j "$jobs"
	echo "==> test $dir"
	if ! (cd "$dir" && ctest --output-on-failure -j "$jobs"); then
		status=1
	fi
}

build_and_test build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo

# The sanitizer tree: leaks, overflows and undefined behaviour fail the tests.  The heavy
# property and fault trials ran at their CI counts in the tree above; here a sample of each
# (FIELDSYNC_SAMPLE=1) runs under the sanitizers, which are several times slower.
export FIELDSYNC_SAMPLE=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
CC=clang build_and_test build-asan -DCMAKE_BUILD_TYPE=Debug -DFIELDSYNC_SANITIZE=ON

if [ "$status" -ne 0 ]; then
	echo "tests/run.sh: FAILED"
else
	echo "tests/run.sh: all test trees passed"
fi
exit "$status"
