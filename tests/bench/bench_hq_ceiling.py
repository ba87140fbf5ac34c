#!/usr/bin/env python3
"""HQ's ceiling: one fieldsync-server holding many cases, loaded by N simulated devices.

    python3 tests/bench/bench_hq_ceiling.py [--build DIR] [--cases N] [--phases 100,1000,5000]
        [--seconds S] [--interval S] [--edits PCT] [--threads T] [--first-threads T]
        [--workers N] [--perf] [--smoke] [--no-baseline]

1. An HQ store with --cases closed cases (default 10,000; see below) in 30 archive offices, and the
   devices' 30 offices with 10 open cases each, 60 of them shared with two other offices,
   filled by bench_hq_prep (the server's own functions, 20,000 cases a transaction).  It is
   made once and kept in DIR/hq-ceiling/<cases>/; each run works on a copy.
2. `fieldsync-server run` on a free loopback port, with --metrics.
3. The baseline, against that server in the same run: bench_tls (full and resumed TLS
   handshakes, keep-alive requests, beside the raw crypto).
4. loadgen: for each phase the devices it adds are enrolled with one-time tokens and synced
   once, then every device syncs every --interval seconds for --seconds, --edits percent of the
   syncs after an edit; the curve (syncs/s, p50/p99, HQ CPU and RSS, database size, time per
   route from the metrics) is printed.  --perf records the server's profile during the last
   phase (perf record, dwarf call graphs) and prints where its time went.
5. The checks, independent of loadgen: every edit loadgen made (a note with a unique text) is
   in the case at HQ (`fieldsync-server case show`), and `fieldsync-server audit verify` passes.
   Exit 1 if a sync failed, an edit is missing or the audit trail does not verify.

At 1,000,000 cases a device's first sync reads the whole changes feed under HQ's write lock
(hq_changes): many at once starve everything else ("database is locked", TLS timeouts), so the
curve is measured on 10,000 and the 1,000,000-case HQ with a few devices whose first syncs go
one at a time: --cases 1000000 --phases 20 --first-threads 1 (docs/SCALING.md).

FIELDSYNC_LONG=1: the soak, one phase of 1,000 devices syncing every 60 s (below the
ceiling) for 30 minutes, same checks.
--smoke: 1,000 cases, 20 devices for 5 s (the ctest smoke test, integration/test_loadgen.py).
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OFFICES = 30
WORK_PER_OFFICE = 10
WORK_SHARED = 60


def log(*a):
    print(*a, flush=True)


def env_clean():
    return {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}


def run(cmd, **kw):
    r = subprocess.run(cmd, env=env_clean(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, **kw)
    if r.returncode != 0:
        raise SystemExit("bench_hq_ceiling: %s failed (%d): %s%s" %
                         (" ".join(cmd), r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
    return r


def prepare(build, cases, cache_root):
    """The HQ store with `cases` archive cases, made once and kept."""
    server = os.path.join(build, "server", "fieldsync-server")
    prep = os.path.join(build, "tests", "bench_hq_prep")
    cache = os.path.join(cache_root, str(cases))
    hq = os.path.join(cache, "hq")
    if os.path.exists(os.path.join(cache, "done")):
        return cache
    shutil.rmtree(cache, ignore_errors=True)
    os.makedirs(cache)
    t0 = time.time()
    run([server, "--home", hq, "init", "--org", "Benchmark", "--listen", "127.0.0.1:0"])
    run([prep, hq, "offices", "OF", str(OFFICES)])
    run([prep, hq, "offices", "AR", str(OFFICES)])
    run([prep, hq, "work", "OF", str(OFFICES), str(WORK_PER_OFFICE), str(WORK_SHARED)])
    t1 = time.time()
    if cases:
        run([prep, hq, "archive", "AR", str(OFFICES), str(cases)])
    t2 = time.time()
    size = sum(os.path.getsize(os.path.join(hq, f)) for f in os.listdir(hq)
               if f.startswith("fieldsync.db"))
    log("prepared HQ: %d archive cases in %.0f s (%.0f cases/s, bench_hq_prep), %d open "
        "cases in %d offices, database %.0f MiB" %
        (cases, t2 - t1, cases / max(t2 - t1, 1e-9), OFFICES * WORK_PER_OFFICE, OFFICES,
         size / 1048576.0))
    with open(os.path.join(cache, "done"), "w") as f:
        f.write("%d cases, %.0f s\n" % (cases, t2 - t0))
    return cache


class Server:
    def __init__(self, binary, home, workers):
        self.binary, self.home = binary, home
        self.logf = open(os.path.join(os.path.dirname(home), "server.log"), "w+")
        cmd = [binary, "--home", home, "run", "--listen", "127.0.0.1:0",
               "--peer-limit", "1024", "--metrics", "127.0.0.1:0"]
        if workers:
            cmd += ["--workers", str(workers)]
        self.proc = subprocess.Popen(cmd, env=env_clean(), stdout=subprocess.DEVNULL,
                                     stderr=self.logf)
        self.port = self.metrics = None
        for _ in range(600):
            self.logf.seek(0)
            text = self.logf.read()
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", text)
            mm = re.search(r"metrics on http://(127\.0\.0\.1:\d+)/", text)
            if m and mm:
                self.port, self.metrics = int(m.group(1)), mm.group(1)
                self.line = re.search(r'msg="(listening on [^"]*)"', text).group(1)
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        if not self.port:
            self.logf.seek(0)
            raise SystemExit("bench_hq_ceiling: the server did not start:\n" + self.logf.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def check_edits(server, home, edits_path):
    """Every note loadgen wrote is in its case at HQ: (edits, cases, missing)."""
    want = {}
    with open(edits_path) as f:
        for line in f:
            case, note = line.rstrip("\n").split("\t")
            want.setdefault(case, set()).add(note)

    def show(case):
        r = subprocess.run([server, "--home", home, "--json", "case", "show", case],
                           env=env_clean(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
        if r.returncode != 0:
            return case, None
        return case, {n["text"].strip() for n in json.loads(r.stdout)["notes"]}

    missing = []
    with ThreadPoolExecutor(2) as ex:
        for case, have in ex.map(show, sorted(want)):
            for note in sorted(want[case]):
                if have is None or note not in have:
                    missing.append((case, note))
    return sum(len(v) for v in want.values()), len(want), missing


def perf_top(pid, seconds, out):
    """perf record (call graphs) of the server for `seconds`, in the background."""
    data = os.path.join(out, "perf.data")
    # dwarf unwinding: the libraries are built without frame pointers
    rec = subprocess.Popen(["perf", "record", "--call-graph", "dwarf,16384", "-F", "250", "-o",
                            data, "-p", str(pid), "--",
                            "sleep", str(seconds)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    return rec, data


# where a sync's server time goes: (label, symbols whose inclusive time counts)
PERF_PARTS = [
    ("TLS handshake (mbedtls_ssl_handshake)", ["mbedtls_ssl_handshake"]),
    ("  client certificate check (mbedtls_x509_crt_verify)", ["mbedtls_x509_crt_verify"]),
    ("  ECDH (mbedtls_ecdh_calc_secret)", ["mbedtls_ecdh_calc_secret"]),
    ("audit upload (hq_audit_upload)", ["hq_audit_upload"]),
    ("  checkpoint signature (checkpoint_verify)", ["checkpoint_verify"]),
    ("  seal chain (seal_check_next)", ["seal_check_next"]),
    ("  receipt (checkpoint_sign)", ["checkpoint_sign"]),
    ("changes feed (hq_changes)", ["hq_changes"]),
    ("fetch (hq_fetch)", ["hq_fetch"]),
    ("push (hq_push)", ["hq_push"]),
    ("ECDSA verify, everywhere (mbedtls_pk_verify)", ["mbedtls_pk_verify"]),
    ("ECDSA sign, everywhere (mbedtls_pk_sign)", ["mbedtls_pk_sign"]),
    ("SQLite statements (sqlite3_step)", ["sqlite3_step"]),
    ("  SQLCipher page crypto (sqlite3Codec)", ["sqlite3Codec"]),
    ("  fsync (kernel: do_fsync)", ["do_fsync"]),
    ("malloc/free (libc, self)", ["__libc_calloc", "__libc_malloc", "_int_free", "_int_malloc",
                                  "__libc_free", "malloc", "free", "cfree"]),
]


def perf_report(data):
    """The top self-time symbols, then the inclusive share of each part of a sync."""
    r = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,symbol",
                        "--stdio", "-g", "none", "--percent-limit", "1.5"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = ["  " + l.rstrip().rstrip("-").rstrip() for l in r.stdout.splitlines()
             if l.strip() and not l.startswith("#")][:15]
    r = subprocess.run(["perf", "report", "-i", data, "--children", "--sort", "symbol",
                        "--stdio", "-g", "none"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    incl = {}
    for l in r.stdout.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+([\d.]+)%\s+\[[.k]\]\s+(\S+)", l)
        if m:
            incl.setdefault(m.group(3), (float(m.group(1)), float(m.group(2))))
    lines.append("  inclusive share of the server's samples (children included):")
    for label, syms in PERF_PARTS:
        if label.startswith("malloc"):
            v = sum(incl.get(x, (0, 0))[1] for x in syms)  # self time: they call nothing
        else:
            v = sum(incl.get(x, (0, 0))[0] for x in syms)
        lines.append("    %-52s %5.1f%%" % (label, v))
    return "\n".join(lines)


def main():
    long_mode = os.environ.get("FIELDSYNC_LONG") == "1"
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("FIELDSYNC_BUILD",
                                                      os.path.join(TOP, "build-bench")))
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--phases", default="1000" if long_mode else "100,1000,5000")
    ap.add_argument("--seconds", type=float, default=1800 if long_mode else 30)
    ap.add_argument("--interval", type=float, default=60 if long_mode else 20)
    ap.add_argument("--edits", type=float, default=3)
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--first-threads", type=int, default=0)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--perf", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--no-baseline", action="store_true")
    a = ap.parse_args()
    if a.smoke:
        a.cases, a.phases, a.seconds, a.interval, a.edits = 1000, "20", 5, 1, 20
        a.threads, a.no_baseline = 8, True
    build = os.path.abspath(a.build)
    server = os.path.join(build, "server", "fieldsync-server")
    for tool in (server, os.path.join(build, "tests", "loadgen"),
                 os.path.join(build, "tests", "bench_hq_prep")):
        if not os.access(tool, os.X_OK):
            raise SystemExit("bench_hq_ceiling: %s is not built (cmake --build %s --target "
                             "loadgen bench_hq_prep bench_tls fieldsync-server)" % (tool, build))
    cache = prepare(build, a.cases, os.path.join(build, "hq-ceiling"))
    tmp = tempfile.mkdtemp(prefix="fieldsync-hq-ceiling.")
    srv = None
    status = 0
    try:
        t0 = time.time()
        shutil.copytree(os.path.join(cache, "hq"), os.path.join(tmp, "hq"))
        shutil.copy(os.path.join(cache, "hq.key"), os.path.join(tmp, "hq.key"))
        os.chmod(os.path.join(tmp, "hq.key"), 0o600)
        home = os.path.join(tmp, "hq")
        ndev = max(int(p) for p in a.phases.split(","))
        tokens = os.path.join(tmp, "tokens")
        run([os.path.join(build, "tests", "bench_hq_prep"), home, "tokens", "OF",
             str(OFFICES), str(ndev), tokens])
        log("copied the HQ store and issued %d tokens in %.0f s" % (ndev, time.time() - t0))
        srv = Server(server, home, a.workers)
        log("server: %s (pid %d)" % (srv.line, srv.proc.pid))
        log("machine: %d CPUs, %s" % (os.cpu_count(), open("/proc/cpuinfo").read().split(
            "model name")[1].split("\n")[0].strip(": \t")))
        bench_tls = os.path.join(build, "tests", "bench_tls")
        if not a.no_baseline and os.access(bench_tls, os.X_OK):
            log("\n== baseline: bench_tls against the same server (TLS without a client "
                "certificate)")
            r = subprocess.run([bench_tls, str(srv.port), "2", str(srv.proc.pid)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            keep = False
            for line in r.stdout.splitlines():
                if line.startswith(("baseline", "measurement")):
                    keep = True
                if line.startswith(("ratios", "targets")):
                    keep = False
                if keep and line.strip():
                    log("  " + line)
        log("\n== loadgen: %s devices over %d offices, a sync every %.0f s per device, "
            "%.0f%% with an edit" % (a.phases, OFFICES, a.interval, a.edits))
        cmd = [os.path.join(build, "tests", "loadgen"), os.path.join(tmp, "devices"),
               "https://127.0.0.1:%d" % srv.port, tokens, a.phases, "--seconds", str(a.seconds),
               "--interval", str(a.interval), "--edits", str(a.edits), "--threads",
               str(a.threads), "--first-threads", str(a.first_threads or a.threads),
               "--server-pid", str(srv.proc.pid), "--hq", home, "--metrics",
               srv.metrics]
        gen = subprocess.Popen(cmd, env=env_clean(), stdout=subprocess.PIPE, text=True)
        rec = None
        last = a.phases.split(",")[-1]
        for line in gen.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            # the last phase's traffic (after its enrollment and first syncs): its profile
            if a.perf and rec is None and line.startswith("traffic: %s devices" % last):
                rec, data = perf_top(srv.proc.pid, min(a.seconds, 20), build)
        gen.wait()
        if gen.returncode != 0:
            log("bench_hq_ceiling: loadgen reported errors (exit %d)" % gen.returncode)
            status = 1
        if rec:
            rec.wait()
            log("\n== perf record -p SERVER during the %s-device traffic (top, by dso "
                "and symbol, self time)" % last)
            log(perf_report(data))
        devdir = os.path.join(tmp, "devices")
        used = int(subprocess.run(["du", "-sk", devdir], stdout=subprocess.PIPE,
                                  text=True).stdout.split()[0])
        log("device directories: %.0f MiB for %d devices (%.2f MiB each)" %
            (used / 1024.0, ndev, used / 1024.0 / ndev))
        t0 = time.time()
        edits, cases, missing = check_edits(server, home, os.path.join(tmp, "devices",
                                                                          "edits.tsv"))
        log("\ncheck: %d edits on %d cases, %d missing at HQ (case show, %.0f s)" %
            (edits, cases, len(missing), time.time() - t0))
        for case, note in missing[:10]:
            log("  missing: %s in %s" % (note, case))
        if missing:
            status = 1
        t0 = time.time()
        r = subprocess.run([server, "--home", home, "audit", "verify"], env=env_clean(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        bad = [l for l in r.stdout.splitlines() if not l.startswith("OK")]
        log("check: audit verify %s: %d trails OK, exit %d (%.0f s)" %
            ("green" if r.returncode == 0 else "FAILED",
             sum(1 for l in r.stdout.splitlines() if l.startswith("OK")), r.returncode,
             time.time() - t0))
        for l in bad[:10] + r.stderr.splitlines()[:10]:
            log("  " + l)
        if r.returncode != 0:
            status = 1
    finally:
        if srv:
            rc = srv.stop()
            if rc != 0:
                log("bench_hq_ceiling: the server exited %s" % rc)
                status = 1
        shutil.rmtree(tmp, ignore_errors=True)
    log("\nresult: %s" % ("0 errors, 0 lost edits, audit verify green" if status == 0
                          else "FAILED"))
    return status


if __name__ == "__main__":
    sys.exit(main())
