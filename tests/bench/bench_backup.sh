#!/usr/bin/env bash
# backup and rekey of a large store, beside `cp` of the same database file in the same run.
#
# A field device's store is filled with one evidence item of random bytes (SIZE MiB: 256 by
# default, 1024 with FIELDSYNC_LONG=1, or FIELDSYNC_BENCH_BACKUP_MIB) and then:
#   cp      copies fieldsync.db and fieldsync-evidence.db (page cache warm, as for the
#           backup; median of 3)
#   backup  `fieldsync-agent backup --out FILE`: the online copy (the store through SQLite's
#           backup API, the evidence chunk by chunk), the check of the copy (every page
#           read, every chunk re-hashed) and the tar
#   rekey   `fieldsync-agent rekey` (when the build has it): every page re-encrypted
# and prints MiB/s and the ratio backup / cp, and rekey seconds per GiB.
#
# usage: tests/bench/bench_backup.sh [BUILD_DIR]     (default build-bench, built Release)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
build=${1:-build-bench}
if [ "$build" = build-bench ]; then
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build-bench -j2 --target fieldsync-agent >/dev/null
fi
agent=$top/$build/agent/fieldsync-agent
if [ -n "${FIELDSYNC_BENCH_BACKUP_MIB:-}" ]; then
	mib=$FIELDSYNC_BENCH_BACKUP_MIB
elif [ "${FIELDSYNC_LONG:-0}" != 0 ]; then
	mib=1024
else
	mib=256
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-bench-backup.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.3f\", $* }"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
jget() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

unset FIELDSYNC_KEY_FILE
export FIELDSYNC_HOME=$tmp/node FIELDSYNC_USER=alice FIELDSYNC_PASSPHRASE="bench passphrase 1"
export FIELDSYNC_NO_SERVICE=1
"$agent" --kdf-cost low init --office ELP --user alice >/dev/null
id=$("$agent" case new --title "Benchmark case" --category bribery)
head -c "$((mib * 1024 * 1024))" /dev/urandom >"$tmp/evidence.bin"
"$agent" evidence add "$id" "$tmp/evidence.bin" --description "benchmark" --source bench \
	--location bench >/dev/null
rm -f "$tmp/evidence.bin"
db=$tmp/node/fieldsync.db
ev=$tmp/node/fieldsync-evidence.db
db_mib=$(calc "($(stat -c %s "$db") + $(stat -c %s "$ev")) / 1048576")
echo "store: $db_mib MiB ($mib MiB of evidence)"

cps=()
for _ in 1 2 3; do
	rm -f "$tmp/copy.db" "$tmp/copy-ev.db"
	t0=$(now)
	cp "$db" "$tmp/copy.db"
	cp "$ev" "$tmp/copy-ev.db"
	sync -f "$tmp/copy.db"
	t1=$(now)
	cps+=("$(calc "$t1 - $t0")")
done
rm -f "$tmp/copy.db" "$tmp/copy-ev.db"
cp_s=$(printf '%s\n' "${cps[@]}" | median)
printf 'cp + sync:  %7.2f s  %7.1f MiB/s\n' "$cp_s" "$(calc "$db_mib / $cp_s")"

t0=$(now)
out=$("$agent" --json backup --out "$tmp/store.backup")
t1=$(now)
backup_s=$(calc "$t1 - $t0")
inner=$(echo "$out" | jget '["seconds"]')
printf 'backup:     %7.2f s  %7.1f MiB/s  (%.2f s inside the command: copy, check, tar)\n' \
	"$backup_s" "$(calc "$db_mib / $backup_s")" "$inner"
printf 'ratio backup / cp: %.2fx the time of cp\n' "$(calc "$backup_s / $cp_s")"
rm -f "$tmp/store.backup"

if "$agent" rekey --help >/dev/null 2>&1; then
	t0=$(now)
	"$agent" rekey >/dev/null
	t1=$(now)
	rekey_s=$(calc "$t1 - $t0")
	printf 'rekey:      %7.2f s  = %.2f s per GiB  (cp: %.2f s per GiB)\n' "$rekey_s" \
		"$(calc "$rekey_s * 1024 / $db_mib")" "$(calc "$cp_s * 1024 / $db_mib")"
	"$agent" check >/dev/null
fi
