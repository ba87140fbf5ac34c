#!/usr/bin/env bash
# Run the whole test suite from a fresh clone: install dependencies, build a normal tree and an
# ASan+UBSan tree (with clang, which also builds the libFuzzer targets), run ctest in both.
# Exits non-zero if anything fails.  FIELDSYNC_LONG=1 runs the heavy trials at their long counts.
# First the format check (format_check below); `tests/run.sh --format-only` runs only that.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash packaging/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
status=0

# The commit the format check diffs against.  Formatting is required of every line written
# after the commit named in .clang-format-base (code before it was never run through
# clang-format, so untouched lines are never checked).  That commit is the base when it is
# in this clone's history; FIELDSYNC_FORMAT_BASE=REV (say origin/main in CI) moves the base up
# to the merge-base with REV when that is newer.  A shallow clone without the recorded commit
# checks what its last commit changed (HEAD~1); with no HEAD~1 either, the check is skipped.
format_base() {
	local recorded="" mb
	if [ -f .clang-format-base ]; then
		recorded=$(grep -v '^#' .clang-format-base | head -n 1 | tr -d '[:space:]')
	fi
	if [ -n "$recorded" ] && git cat-file -e "$recorded^{commit}" 2>/dev/null &&
		git merge-base --is-ancestor "$recorded" HEAD; then
		if [ -n "${FIELDSYNC_FORMAT_BASE:-}" ]; then
			mb=$(git merge-base HEAD "$FIELDSYNC_FORMAT_BASE") || return 1
			if git merge-base --is-ancestor "$recorded" "$mb"; then
				recorded=$mb
			fi
		fi
		echo "$recorded"
	elif git rev-parse -q --verify 'HEAD~1^{commit}' >/dev/null; then
		echo "format check: base ${recorded:-(no .clang-format-base)} not in this clone's" \
			"history; checking the last commit" >&2
		git rev-parse HEAD~1
	fi
}

# clang-format (14, the version .clang-format is tuned for) over the lines of C files that
# differ between the base and the working tree; fails with the diff that would fix them.
format_check() {
	local base out
	echo "==> format check"
	if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		echo "format check: skipped (not a git checkout)"
		return 0
	fi
	base=$(format_base) || {
		echo "format check: cannot find the base (FIELDSYNC_FORMAT_BASE=${FIELDSYNC_FORMAT_BASE:-})"
		return 1
	}
	if [ -z "$base" ]; then
		echo "format check: skipped (no base commit in this clone)"
		return 0
	fi
	out=$(git clang-format-14 --binary clang-format-14 --style file --extensions c,h \
		--diff "$base" -- shared cli agent server tests) || {
		echo "$out"
		return 1
	}
	if printf '%s\n' "$out" | grep -q '^diff '; then
		printf '%s\n' "$out"
		echo "format check: FAILED: lines changed since ${base:0:12} are not formatted;" \
			"fix with: git clang-format-14 --binary clang-format-14 -f ${base:0:12}"
		return 1
	fi
	echo "format check: ok (lines changed since ${base:0:12})"
}

if ! format_check; then
	status=1
fi
if [ "${1:-}" = "--format-only" ]; then
	exit "$status"
fi

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
