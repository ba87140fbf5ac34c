"""After sync, case text lives at HQ too: still never in clear on either side's disk, never in
an audit export, never in the server's log."""
import os
import subprocess
import unittest

import fstest
import hqtest

MARKER = "QZXSYNCMARK4412"


class HqSecrecy(fstest.NodeTest):
    def test_synced_case_text_is_nowhere_in_clear(self):
        fleet = hqtest.Fleet(self.tmp)
        hq = fleet.hq
        try:
            a = fleet.device("elp1")
            cid = a.new_case("Ring " + MARKER, "bribery", "subject_name=Jane " + MARKER)
            narrative = os.path.join(self.tmp, "narr.md")
            with open(narrative, "w") as f:
                f.write("The %s narrative. Second sentence.\n" % MARKER)
            a.ok("case", "edit", cid, "--narrative-file", narrative)
            os.unlink(narrative)
            a.ok("note", "add", cid, "--text", "Note " + MARKER)
            fleet.sync(a)
            shown = hq.ok("--json", "case", "show", cid).json()
            self.assertIn(MARKER, shown["narrative"])
            self.assertEqual(len(shown["notes"]), 1)
            device = a.ok("--json", "status").json()["device"]
            export = os.path.join(self.tmp, "trail.json")
            hq.ok("audit", "export", "--device", device, "--out", export)
        finally:
            self.assertEqual(hq.stop(), 0)
        checked = 0
        for home in (hq.home, a.home):
            for p in fstest.files_under(home):
                data = fstest.read_bytes(p)
                for needle in (MARKER.encode(), b"SQLite format 3"):
                    self.assertNotIn(needle, data, "%r in %s" % (needle, p))
                checked += 1
        self.assertGreaterEqual(checked, 4)
        for p in (export, hq.log, hq.keyfile):
            self.assertNotIn(MARKER.encode(), fstest.read_bytes(p), p)
        out = subprocess.run("strings -a %s/* %s/*" % (hq.home, a.home), shell=True,
                             capture_output=True, text=True).stdout
        self.assertNotIn(MARKER, out)


if __name__ == "__main__":
    unittest.main()
