"""The HQ ceiling benchmark kept from rotting: tests/bench/bench_hq_ceiling.py --smoke.

An HQ store of 1,000 archive cases and 300 open ones, 20 simulated devices (tests/bench/loadgen:
each the agent's own enrollment and sync) syncing every second for 5 s, a fifth of the syncs
after an edit.  Must hold: no sync fails, every edit is at HQ (checked with `case show`, apart
from loadgen), `audit verify` passes, the server stops cleanly.  And the edit check itself
finds an edit that is not there.
"""
import json
import os
import subprocess
import sys
import unittest

import fstest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(TOP, "tests", "bench")
sys.path.insert(0, BENCH)
import bench_hq_ceiling  # noqa: E402


class LoadgenSmoke(fstest.NodeTest):
    def build(self):
        build = os.environ.get("FIELDSYNC_BUILD")
        if not build:
            self.skipTest("FIELDSYNC_BUILD is not set (run through ctest)")
        return build

    def test_smoke_run_has_no_errors_and_loses_no_edit(self):
        build = self.build()
        r = subprocess.run([sys.executable, os.path.join(BENCH, "bench_hq_ceiling.py"),
                            "--build", build, "--smoke"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("phase 20 devices:", r.stdout)
        self.assertRegex(r.stdout, r"late \d+, errors 0\n")
        self.assertRegex(r.stdout, r"check: [1-9]\d* edits on \d+ cases, 0 missing at HQ")
        self.assertIn("check: audit verify green", r.stdout)
        self.assertIn("result: 0 errors, 0 lost edits, audit verify green", r.stdout)

    def test_edit_check_finds_a_missing_edit(self):
        build = self.build()
        server = os.path.join(build, "server", "fieldsync-server")
        cache = bench_hq_ceiling.prepare(build, 1000, os.path.join(build, "hq-ceiling"))
        home = os.path.join(cache, "hq")
        r = subprocess.run([server, "--home", home, "--json", "case", "list"],
                           env=bench_hq_ceiling.env_clean(), stdout=subprocess.PIPE, text=True)
        self.assertEqual(r.returncode, 0)
        doc = json.loads(r.stdout)
        cases = doc["cases"] if isinstance(doc, dict) else doc
        case = cases[0]["id"]
        path = os.path.join(self.tmp, "edits.tsv")
        with open(path, "w") as f:
            f.write("%s\tloadgen edit 0.1\n" % case)
            f.write("OF01-26-NOSUCH1\tloadgen edit 0.2\n")
        edits, ncases, missing = bench_hq_ceiling.check_edits(server, home, path)
        self.assertEqual((edits, ncases), (2, 2))
        self.assertEqual(sorted(missing), sorted([(case, "loadgen edit 0.1"),
                                                  ("OF01-26-NOSUCH1", "loadgen edit 0.2")]))


if __name__ == "__main__":
    unittest.main()
