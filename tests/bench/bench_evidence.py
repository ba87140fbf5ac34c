#!/usr/bin/env python3
"""bench_evidence: evidence intake and evidence sync beside their baselines, in one run.

  python3 tests/bench/bench_evidence.py BUILD_DIR

1. `fieldsync-agent evidence add` of one file (FIELDSYNC_BENCH_EVIDENCE_MIB, default 1024 MiB of
   random bytes), MiB/s and peak RSS (/usr/bin/time -v), beside `sha256sum` of the same file
   (the target: at least 50% of its rate) and bench_evidence's baselines on the same file: SHA-256
   in-process, the raw bytes as 1 MiB blobs into the evidence database (where add puts them),
   into the store's own 4 KiB pages and into plain SQLite, and AES-256-GCM chunk files (the
   design not chosen).
2. The sync that uploads the item to HQ and the sync of a second device of the office that
   downloads it: MiB/s and peak RSS of the agent and of the server (VmHWM), beside the raw
   mutual-TLS upload of bench_upload.py (64 MiB into fieldsync-server, median of 3) measured in
   the same run (the target: at least 50% of it).  Both copies are checked bit-identical.
"""
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build-bench")
os.environ.setdefault("FIELDSYNC_AGENT", os.path.join(BUILD, "agent", "fieldsync-agent"))
os.environ.setdefault("FIELDSYNC_SERVER", os.path.join(BUILD, "server", "fieldsync-server"))
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "integration"))
sys.path.insert(0, here)
import bench_upload  # noqa: E402
import fstest  # noqa: E402
import hqtest  # noqa: E402

MIB = 1024 * 1024
SIZE_MIB = int(os.environ.get("FIELDSYNC_BENCH_EVIDENCE_MIB", "1024"))


def timed(node, *args):
    """Run an agent command under /usr/bin/time -v: (seconds, peak RSS in MiB, stdout)."""
    env = node.env(node.admin)
    env["FIELDSYNC_NO_SERVICE"] = "1"
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-v", fstest.AGENT] + list(args), env=env,
                       capture_output=True, text=True)
    secs = time.monotonic() - t0
    if p.returncode:
        raise SystemExit("%s failed: %s" % (args, p.stderr[-2000:]))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    return secs, rss / 1024, p.stdout


def server_hwm(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) / 1024


def sha256sum_rate(path):
    times = []
    for _ in range(3):
        t0 = time.monotonic()
        out = subprocess.run(["sha256sum", path], capture_output=True, text=True, check=True)
        times.append(time.monotonic() - t0)
    return SIZE_MIB / statistics.median(times), out.stdout.split()[0]


def raw_upload_rate(tmp):
    """bench_upload's 64 MiB mutual-TLS upload into fieldsync-server: MiB/s, median of 3."""
    os.mkdir(os.path.join(tmp, "raw"))
    srv = hqtest.Server(os.path.join(tmp, "raw"))
    srv.init()
    token = srv.token("ELP", "El Paso")
    srv.start()
    try:
        status, doc, cert, key = hqtest.enroll_direct(srv, os.path.join(tmp, "raw"), token,
                                                      "ELP", "be" * 16)
        if status != 200:
            raise SystemExit("enrollment failed: %r" % doc)
        body = os.urandom(bench_upload.SIZE)
        runs = sorted(bench_upload.upload(srv, cert, key, body)[0] for _ in range(3))
    finally:
        srv.stop()
    return bench_upload.SIZE / MIB / runs[1]


def main():
    tmp = tempfile.mkdtemp(prefix="fieldsync-bench-evidence-")
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(tmp):
    src = os.path.join(tmp, "item.bin")
    with open(src, "wb") as f:
        for _ in range(SIZE_MIB):
            f.write(os.urandom(MIB))
    sum_rate, want = sha256sum_rate(src)
    work = os.path.join(tmp, "baselines")
    os.mkdir(work)
    base = {}
    for line in subprocess.run([os.path.join(BUILD, "tests", "bench_evidence"), src, work],
                               capture_output=True, text=True, check=True).stdout.splitlines():
        name, rate, _ = line.split()
        base[name] = float(rate)
    shutil.rmtree(work)

    os.mkdir(os.path.join(tmp, "fleet"))
    fleet = hqtest.Fleet(os.path.join(tmp, "fleet"))
    try:
        a, b = fleet.device("a"), fleet.device("b")
        case = fleet.synced_case(a, "Footage of the loading dock", "theft", to=(b,))
        os.sync()  # as before each baseline: no dirty pages of the baselines slow it
        add_s, add_rss, out = timed(a, "evidence", "add", case, src, "--description", "bench")
        item, sha = out.split()[:2]
        if sha != want:
            raise SystemExit("evidence add hashed %s, sha256sum %s" % (sha, want))
        up_s, up_rss, _ = timed(a, "sync")
        down_s, down_rss, _ = timed(b, "sync")
        hq_rss = server_hwm(fleet.hq.proc.pid)
        copy = os.path.join(tmp, "copy.bin")
        b.ok("evidence", "get", case, item, "--out", copy)
        h = hashlib.sha256()
        with open(copy, "rb") as f:
            for block in iter(lambda: f.read(MIB), b""):
                h.update(block)
        if h.hexdigest() != want:
            raise SystemExit("the downloaded copy differs")
    finally:
        fleet.stop()
    raw = raw_upload_rate(tmp)

    add_rate = SIZE_MIB / add_s
    print("evidence add of %d MiB: %.2f s = %.0f MiB/s, peak RSS %.1f MiB"
          % (SIZE_MIB, add_s, add_rate, add_rss))
    print("  sha256sum %.0f MiB/s; add/sha256sum = %.2f (target >= 0.50)"
          % (sum_rate, add_rate / sum_rate))
    print("  baselines on the same file: SHA-256 in-process %.0f MiB/s; raw 1 MiB blobs into "
          "the evidence database %.0f MiB/s (add/raw = %.2f), into the store's own 4 KiB "
          "pages %.0f MiB/s, into plain SQLite %.0f MiB/s; AES-GCM chunk files %.0f MiB/s"
          % (base["sha256"], base["db-evidence"], add_rate / base["db-evidence"],
             base["db-enc"], base["db-plain"], base["files-gcm"]))
    up_rate, down_rate = SIZE_MIB / up_s, SIZE_MIB / down_s
    print("sync up (device -> HQ): %.2f s = %.0f MiB/s, agent peak RSS %.1f MiB"
          % (up_s, up_rate, up_rss))
    print("sync down (HQ -> second device): %.2f s = %.0f MiB/s, agent peak RSS %.1f MiB"
          % (down_s, down_rate, down_rss))
    print("server peak RSS over both: %.1f MiB" % hq_rss)
    print("raw mutual-TLS upload (bench_upload, 64 MiB) in this run: %.0f MiB/s; "
          "up/raw = %.2f, down/raw = %.2f (target >= 0.50)"
          % (raw, up_rate / raw, down_rate / raw))


if __name__ == "__main__":
    main()
