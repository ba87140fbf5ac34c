#!/usr/bin/env python3
"""HQ's import and report tables over a generated data set, beside plain SQLite in the same run.

import:  `fieldsync-server case import` of N records (default 200,000: 30 offices, 3 years;
         tests/integration/hqdata.py) in cases/s, beside inserting the same rows into a plain
         SQLite table (one transaction per 1,000 rows, the import's batch) with Python's sqlite3.
reports: each `report --table T --json` in ms (the whole process: log-on, query, JSON), beside
         the same GROUP BY run by sqlite3 over a plain copy of the derived columns.

usage: bench_hq_report.py [N]   (FIELDSYNC_BUILD: the build tree, default ./build-bench)
"""
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import hqdata  # noqa: E402

BUILD = os.environ.get("FIELDSYNC_BUILD") or os.path.join(TOP, "build-bench")
SERVER = os.path.join(BUILD, "server", "fieldsync-server")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
FROM, TO = "2023-06-15", "2025-03-31"
COLS = ["office", "category", "status", "assignee", "disposition", "received_at", "closed_at",
        "due_at", "subject_id"]
PLAIN = {
    "received": "SELECT office, category, count(*) FROM c WHERE received_at BETWEEN ?1 AND ?2"
                " GROUP BY 1, 2",
    "closed": "SELECT office, disposition, count(*) FROM c WHERE status = 'closed' AND"
              " closed_at BETWEEN ?1 AND ?2 GROUP BY 1, 2",
    "timeliness": "SELECT office, julianday(closed_at) - julianday(received_at) AS d FROM c"
                  " WHERE status = 'closed' AND closed_at BETWEEN ?1 AND ?2 ORDER BY 1, 2",
    "caseload": "SELECT office, assignee, count(*) FROM c WHERE received_at <= ?2 AND NOT"
                " (status = 'closed' AND closed_at <= ?2) GROUP BY 1, 2",
    "overdue": "SELECT office, rowid, assignee, due_at, julianday(?2) - julianday(due_at) FROM c"
               " WHERE received_at <= ?2 AND NOT (status = 'closed' AND closed_at <= ?2)"
               " AND due_at <> '' AND due_at < ?2 ORDER BY 1, 5 DESC",
    "subjects": "SELECT subject_id, office, count(*) FROM c WHERE subject_id <> '' AND"
                " received_at BETWEEN ?1 AND ?2 GROUP BY 1, 2",
}


def run(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
    t0 = time.monotonic()
    p = subprocess.run([SERVER, "--home", HOME] + list(args), env=env, capture_output=True,
                       text=True)
    if p.returncode != 0:
        sys.exit("bench_hq_report: %s: %s" % (" ".join(args), p.stderr))
    return time.monotonic() - t0


tmp = tempfile.mkdtemp(prefix="fieldsync-bench-report-")
HOME = os.path.join(tmp, "hq")
recs = hqdata.records(N)
jsonl = os.path.join(tmp, "records.jsonl")
hqdata.write_jsonl(jsonl, recs)
run("init", "--org", "Bench")
for code in hqdata.office_codes():
    run("office", "add", code, "--name", "Office " + code)
secs = run("case", "import", jsonl)

plain = sqlite3.connect(os.path.join(tmp, "plain.db"))
plain.execute("PRAGMA journal_mode=WAL")
plain.execute("PRAGMA synchronous=FULL")
plain.execute("CREATE TABLE c (%s)" % ", ".join(COLS + ["title", "narrative"]))
t0 = time.monotonic()
for i in range(0, N, 1000):
    with plain:
        plain.executemany("INSERT INTO c VALUES (%s)" % ", ".join("?" * (len(COLS) + 2)),
                          [[r["fields"].get(k, r["office"] if k == "office" else "")
                            for k in COLS] + [r["fields"]["title"], r.get("narrative", "")]
                           for r in recs[i:i + 1000]])
plain_secs = time.monotonic() - t0
print("import of %d cases: %.0f cases/s (%.1f s); plain SQLite insert of the same rows: "
      "%.0f rows/s (%.1f s); ratio %.3f" % (N, N / secs, secs, N / plain_secs, plain_secs,
                                             (N / secs) / (N / plain_secs)))
for table, sql in PLAIN.items():
    ms = min(run("--json", "report", "--from", FROM, "--to", TO, "--table", table)
             for _ in range(3)) * 1000
    t0 = time.monotonic()
    for _ in range(3):
        plain.execute(sql, (FROM, TO)).fetchall()
    base = (time.monotonic() - t0) / 3 * 1000
    print("report %-10s %7.0f ms (whole process); plain sqlite3 GROUP BY %6.1f ms" %
          (table, ms, base))
ms = run("report", "--from", FROM, "--to", TO, "--html", os.path.join(tmp, "r.html")) * 1000
print("report --html (every table and chart): %.0f ms" % ms)
subprocess.run(["rm", "-rf", tmp])
