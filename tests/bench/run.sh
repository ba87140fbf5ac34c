#!/usr/bin/env bash
# Run the benchmarks: each prints its figures beside a baseline measured in the same run.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
bash packaging/install-deps.sh >/dev/null
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j "$(nproc 2>/dev/null || echo 2)" \
	--target bench_store bench_tls bench_audit fieldsync-server >/dev/null
echo "== store: encrypted vs plain SQLite"
build-bench/tests/bench_store "${FIELDSYNC_BENCH_CASES:-10000}"

echo
echo "== audit trail: append, verify, query by case, proof sizes (about 4 minutes)"
build-bench/tests/bench_audit "${FIELDSYNC_BENCH_AUDIT_EVENTS:-1000000}"

# bench_tls needs a running server: a throw-away one in a temporary directory, on a free port.
echo
echo "== tls: fieldsync-server on loopback vs in-process crypto"
server=build-bench/server/fieldsync-server
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-bench-tls.XXXXXX")
pid=""
stop_server() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		wait "$pid" || true
	fi
	pid=""
}
trap 'stop_server; rm -rf "$tmp"' EXIT
# Only our options: no FIELDSYNC_HOME or FIELDSYNC_KEY_FILE from the caller's environment.  env
# execs the server, so that $! below is the server's pid (bench_tls reads its CPU time).
hq=(env -u FIELDSYNC_HOME -u FIELDSYNC_KEY_FILE "$top/$server" --home "$tmp/hq")
"${hq[@]}" init --org "Benchmark" --listen 127.0.0.1:0 >/dev/null
workers=()
if [ -n "${FIELDSYNC_BENCH_WORKERS:-}" ]; then
	workers=(--workers "$FIELDSYNC_BENCH_WORKERS")
fi
"${hq[@]}" run --listen 127.0.0.1:0 "${workers[@]}" 2>"$tmp/server.log" &
pid=$!
port=""
for _ in $(seq 300); do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$tmp/server.log")
	if [ -n "$port" ] || ! kill -0 "$pid" 2>/dev/null; then
		break
	fi
	sleep 0.1
done
if [ -z "$port" ]; then
	echo "run.sh: fieldsync-server did not start:" >&2
	cat "$tmp/server.log" >&2
	exit 1
fi
sed -n 's/.*msg="\(listening on .*\)"/server: \1/p' "$tmp/server.log"
status=0
build-bench/tests/bench_tls "$port" "${FIELDSYNC_BENCH_TLS_SECONDS:-3}" "$pid" || status=$?
kill -TERM "$pid"
server_status=0
wait "$pid" || server_status=$?
pid=""
if [ "$server_status" -ne 0 ] || ! grep -q 'event=stopped' "$tmp/server.log"; then
	echo "run.sh: fieldsync-server did not stop cleanly (exit $server_status):" >&2
	tail -n 20 "$tmp/server.log" >&2
	status=1
fi
if grep -q 'level=\(warn\|error\)' "$tmp/server.log"; then
	echo "run.sh: the server logged warnings or errors during the benchmark:" >&2
	grep 'level=\(warn\|error\)' "$tmp/server.log" | head -n 10 >&2
fi

echo
echo "== upload: 64 MiB over mutual TLS vs mbedTLS raw AEAD"
python3 tests/bench/bench_upload.py build-bench || status=1

echo
echo "== sync: workload W vs git push; no-op sync at 1,000 and ${FIELDSYNC_BENCH_BIG:-100000} cases"
bash tests/bench/bench_sync.sh || status=1

echo
echo "== evidence: add beside sha256sum and raw store writes; sync beside the raw TLS upload"
cmake --build build-bench -j "$(nproc 2>/dev/null || echo 2)" \
	--target fieldsync-agent bench_evidence >/dev/null
python3 tests/bench/bench_evidence.py build-bench || status=1

echo
echo "== serve: commands through the agent's service vs their own log-on; the web interface"
cmake --build build-bench -j "$(nproc 2>/dev/null || echo 2)" \
	--target fieldsync-agent bench_sync_prep >/dev/null
python3 tests/bench/bench_serve.py build-bench || status=1

echo
echo "== HQ: import of ${FIELDSYNC_BENCH_IMPORT:-200000} records beside plain SQLite; report tables"
FIELDSYNC_BUILD=build-bench python3 tests/bench/bench_hq_report.py \
	"${FIELDSYNC_BENCH_IMPORT:-200000}" || status=1

echo
echo "== backup and rekey of a large store beside cp"
bash tests/bench/bench_backup.sh build-bench || status=1

echo
echo "== HQ's ceiling: 100, 1,000 and 5,000 simulated devices against one server (about 12 minutes)"
cmake --build build-bench -j "$(nproc 2>/dev/null || echo 2)" \
	--target fieldsync-server loadgen bench_hq_prep bench_tls >/dev/null
python3 tests/bench/bench_hq_ceiling.py --build build-bench || status=1
exit "$status"
