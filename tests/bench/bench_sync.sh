#!/usr/bin/env bash
# Workload W (../shared/bench/README.md) end to end over mutual TLS on loopback, beside `git push`
# of the identical history into a local bare repository, in the same run; then the no-op sync
# at 1,000 and at FIELDSYNC_BENCH_BIG cases (default 100,000; 0 skips it) and the bytes of one
# single-field edit.
#
# usage: tests/bench/bench_sync.sh      (FIELDSYNC_WORKLOAD_GEN: path of gen_workload.py)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
gen=${FIELDSYNC_WORKLOAD_GEN:-$top/../shared/bench/gen_workload.py}
big=${FIELDSYNC_BENCH_BIG:-100000}
[ -f "$gen" ] || { echo "bench_sync: no workload generator at $gen" >&2; exit 1; }
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j "$(nproc 2>/dev/null || echo 2)" \
	--target fieldsync-agent fieldsync-server bench_sync_prep >/dev/null
agent=$top/build-bench/agent/fieldsync-agent
server=$top/build-bench/server/fieldsync-server
prep=$top/build-bench/tests/bench_sync_prep
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-bench-sync.XXXXXX")
pid=""
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6f\", $* }"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

mkdir -p "$tmp/w"
python3 "$gen" "$tmp/w" >/dev/null

echo "== baseline: git push of w.fi into a local bare repository"
git init -q --bare "$tmp/git/remote.git"
git init -q "$tmp/git/base" && git -C "$tmp/git/base" fast-import --quiet <"$tmp/w/base.fi"
git -C "$tmp/git/base" push -q "$tmp/git/remote.git" main
git init -q "$tmp/git/work" && git -C "$tmp/git/work" fast-import --quiet <"$tmp/w/w.fi"
before=$(git -C "$tmp/git/remote.git" count-objects -v | awk '/size-pack/ {print $2}')
t0=$(now)
git -C "$tmp/git/work" push -q "$tmp/git/remote.git" main
t1=$(now)
after=$(git -C "$tmp/git/remote.git" count-objects -v | awk '/size-pack/ {print $2}')
git_s=$(calc "$t1 - $t0")
git_rate=$(calc "10000 / $git_s")
git_bytes=$(( (after - before) * 1024 / 10000 ))
noop=()
for _ in 1 2 3 4 5; do
	t0=$(now); git -C "$tmp/git/work" push -q "$tmp/git/remote.git" main; t1=$(now)
	noop+=("$(calc "($t1 - $t0) * 1000")")
done
git_noop=$(printf '%s\n' "${noop[@]}" | median)
printf 'git push: 10,000 commits in %.2f s = %.0f edits/s, pack %d bytes/edit, no-op %.1f ms\n' \
	"$git_s" "$git_rate" "$git_bytes" "$git_noop"

echo
echo "== fieldsync: HQ server and one field device on loopback, mutual TLS"
unset FIELDSYNC_HOME FIELDSYNC_KEY_FILE
"$server" --home "$tmp/hq" init --org Benchmark --listen 127.0.0.1:0 >/dev/null
"$server" --home "$tmp/hq" office add ELP --name "El Paso" >"$tmp/token"
"$server" --home "$tmp/hq" run --listen 127.0.0.1:0 2>"$tmp/hq.log" &
pid=$!
port=""
for _ in $(seq 300); do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$tmp/hq.log")
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { cat "$tmp/hq.log"; exit 1; }
export FIELDSYNC_HOME=$tmp/elp FIELDSYNC_USER=alice FIELDSYNC_PASSPHRASE='bench passphrase 1'
"$agent" --kdf-cost low init --office ELP --user alice >/dev/null
"$agent" enroll --server "https://127.0.0.1:$port" --token "$(cat "$tmp/token")" >/dev/null
"$prep" base "$tmp/w/base.tsv" "$tmp/map"
t0=$(now); "$agent" sync >/dev/null; t1=$(now)
printf 'initial sync of the 1,000 base cases: %.2f s (not part of W)\n' "$(calc "$t1 - $t0")"
"$prep" edits "$tmp/w/edits.tsv" "$tmp/map"
t0=$(now)
"$agent" --json sync >"$tmp/w.json"
t1=$(now)
fs_s=$(calc "$t1 - $t0")
fs_rate=$(calc "10000 / $fs_s")
read -r sent recvd in_sync < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(int(d["bytes"]["sent"]), int(d["bytes"]["received"]), d["seconds"])' "$tmp/w.json")
printf 'fieldsync sync: 10,000 edits in %.2f s (%.2f s after log-on) = %.0f edits/s; %d bytes/edit sent, %d received in all\n' \
	"$fs_s" "$in_sync" "$fs_rate" "$((sent / 10000))" "$recvd"
per_edit=$((sent / 10000))
printf 'target: <= 300 bytes sent per edit, audit upload included: %s (%d; git pack %d bytes/edit, baseline)\n' \
	"$([ "$per_edit" -le 300 ] && echo MET || echo MISSED)" "$per_edit" "$git_bytes"
# every revision kept: HQ's history of a case has as many commits as the device's
# (HQ's staff log-on is its own: the agent's FIELDSYNC_USER is not an HQ user)
cid=$(awk -F'\t' '$1 == 17 {print $2}' "$tmp/map")
dev_h=$("$agent" --json case history "$cid" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["history"]))')
hq_h=$(env -u FIELDSYNC_USER -u FIELDSYNC_PASSPHRASE "$server" --home "$tmp/hq" --json case history "$cid" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["history"]))')
echo "history of $cid: $dev_h commits on the device, $hq_h at HQ"
printf 'ratio fieldsync/git push: %.2f (edits/s)\n' "$(calc "$fs_rate / $git_rate")"

noop_sync() {
	local runs=() inner=()
	for _ in 1 2 3 4 5; do
		t0=$(now); "$agent" --json sync >"$tmp/noop.json"; t1=$(now)
		runs+=("$(calc "($t1 - $t0) * 1000")")
		inner+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"] * 1000)' "$tmp/noop.json")")
	done
	local proc sync
	proc=$(printf '%s\n' "${runs[@]}" | median)
	sync=$(printf '%s\n' "${inner[@]}" | median)
	printf 'no-op sync with %s cases on both sides: %.1f ms (process, log-on included), %.1f ms the sync itself (median of 5)\n' \
		"$1" "$proc" "$sync"
	printf 'target: no-op sync <= 10 ms of sync, <= 20 ms the process, at %s cases: sync %s, process %s (git push no-op %.1f ms, baseline)\n' \
		"$1" "$(awk "BEGIN { print ($sync <= 10) ? \"MET\" : \"MISSED\" }")" \
		"$(awk "BEGIN { print ($proc <= 20) ? \"MET\" : \"MISSED\" }")" "$git_noop"
}
noop_sync 1000

"$agent" case edit "$cid" --set location="one more single-field edit" >/dev/null
lines=$(wc -l <"$tmp/hq.log")
"$agent" --json sync >"$tmp/one.json"
sleep 0.2
python3 - "$tmp/one.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("one single-field edit: request bodies %d bytes, answers %d bytes" % (d["bytes"]["sent"], d["bytes"]["received"]))
PY
tail -n +"$((lines + 1))" "$tmp/hq.log" | sed -n 's/.*msg="device [0-9a-f]*: \([0-9]*\) requests, \([0-9]*\) bytes in, \([0-9]*\) bytes out.*/\1 \2 \3/p' |
	awk '{printf "  on the wire (server count, TLS records and the full mutual-TLS handshake included): %d requests, %d bytes in, %d bytes out\n", $1, $2, $3}'

if [ "$big" -gt 1000 ]; then
	"$prep" filler $((big - 1000))
	t0=$(now); "$agent" sync >/dev/null; t1=$(now)
	printf 'sync of %d more cases: %.1f s (set-up)\n' "$((big - 1000))" "$(calc "$t1 - $t0")"
	noop_sync "$big"
fi
