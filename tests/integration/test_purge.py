"""Need-to-know purge: after a transfer or an unshare, the former office's devices remove the
case at their next sync, after pushing whatever they wrote on it offline (nothing is lost).

Must hold: the work an office wrote before it learned of the transfer is accepted at HQ and
merged; then no trace of the case is left in the device's database (a plaintext copy of it,
made with the key, holds no word of the narrative, notes, full-text terms or evidence); the
purge is an audit event on the device that HQ holds after the same sync; a transfer ends the
shares unless HQ keeps them; an unshare ends one; `check` passes on every device.
"""
import os
import subprocess
import unittest

import fstest
import hqtest

DUMP = os.environ.get("FIELDSYNC_DUMPSTORE") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tests", "tools", "dumpstore")
MARK = "Quetzalcoatlus"  # one word: the full-text index keeps it as one term


class Purge(fstest.NodeTest):
    def setUp(self):
        super().setUp()
        self.fleet = hqtest.Fleet(self.tmp)
        self.addCleanup(self.fleet.stop)
        self.hq = self.fleet.hq
        self.a = self.fleet.device("a", office="ELP")
        self.a2 = self.fleet.device("a2", office="ELP", admin="bob")
        self.s = self.fleet.device("s", office="SDG", admin="carol")
        self.fleet.token("LAX")
        self.cid = self.a.new_case("Contraband at the pier", "smuggling")
        narrative = os.path.join(self.tmp, "narrative.txt")
        with open(narrative, "w") as f:
            f.write("The %s crate was opened at the pier.\n" % MARK)
        self.a.ok("case", "edit", self.cid, "--narrative-file", narrative)
        self.a.ok("note", "add", self.cid, "--text", "Interview about %s shipment." % MARK)
        photo = os.path.join(self.tmp, "photo.bin")
        with open(photo, "wb") as f:
            f.write(("%s evidence bytes\n" % MARK).encode() * 4000)
        self.a.ok("evidence", "add", self.cid, photo, "--description", "pier photo")
        self.other = self.a.new_case("Unrelated overtime claim", "ethics")
        self.fleet.sync(self.a, self.a2)

    def dump(self, node):
        out = os.path.join(self.tmp, "dump-%s-%d.db" % (os.path.basename(node.home),
                                                        len(os.listdir(self.tmp))))
        proc = subprocess.run([DUMP, out], env=node.env(node.admin), capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(out, "rb") as f:
            return f.read()

    def assertNoTrace(self, node):
        data = self.dump(node).lower()
        self.assertNotIn(MARK.lower().encode(), data, node.home)
        for root, _, files in os.walk(node.home):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    self.assertNotIn(MARK.lower().encode(), f.read().lower(), name)
        self.assertFails(node.run("case", "show", self.cid), 1)
        self.assertNotIn(self.cid, node.run("case", "search", MARK).out)
        node.ok("check")

    def test_transfer_pushes_offline_work_then_purges(self):
        self.assertIn(MARK.lower().encode(), self.dump(self.a).lower())  # the check can fail
        self.hq.ok("case", "transfer", self.cid, "SDG")
        # written offline on a, before a learns of the transfer
        self.a.ok("note", "add", self.cid, "--text", "Written before the transfer was known.")
        self.a.ok("case", "edit", self.cid, "--set", "location=Pier 7")
        r = self.a.ok("--json", "sync").json()
        self.assertEqual(r["purged"], 1, r)
        self.assertEqual(r["refused"], [], r)
        hq = self.hq.ok("--json", "case", "show", self.cid).json()
        self.assertEqual(hq["fields"]["location"], "Pier 7")
        self.assertIn("Written before the transfer was known.",
                      [n["text"].strip() for n in hq["notes"]])
        self.assertEqual(hq["office"], "SDG")
        self.assertNoTrace(self.a)
        # the other case and its evidence-free store stay whole
        self.assertEqual(self.a.show(self.other)["fields"]["title"], "Unrelated overtime claim")
        # a's second device had no work on it: purged at its next sync
        r = self.a2.ok("--json", "sync").json()
        self.assertEqual(r["purged"], 1, r)
        self.assertNoTrace(self.a2)
        # the new owner has everything, evidence included
        self.s.ok("sync")
        case = self.s.show(self.cid)
        self.assertIn("Written before the transfer was known.",
                      [n["text"].strip() for n in case["notes"]])
        items = self.s.ok("--json", "evidence", "list", self.cid).json()["items"]
        self.assertEqual(len(items), 1)
        # every purge is on record on the device and, after the same sync, at HQ
        mine = [e for e in self.a.audit() if e["action"] == "case.purge"]
        self.assertEqual([e["target"] for e in mine], [self.cid])
        self.assertIn("may no longer see it", mine[0]["detail"])
        at_hq = self.hq.ok("--json", "audit", "query", "--action", "case.purge").json()["events"]
        self.assertEqual(sorted(e["office"] for e in at_hq), ["ELP", "ELP"])
        self.hq.ok("audit", "verify")
        # a later sync has nothing more to do
        r = self.a.ok("--json", "sync").json()
        self.assertEqual((r["purged"], r["pushed"]), (0, 0), r)

    def test_unshare_and_transfer_end_shares(self):
        self.hq.ok("case", "share", self.cid, "SDG")
        self.s.ok("sync")
        self.assertEqual(self.s.show(self.cid)["id"], self.cid)
        self.assertFails(self.hq.run("case", "unshare", self.cid, "ELP"), 1,
                         "office ELP owns case")
        self.assertFails(self.hq.run("case", "unshare", self.cid, "LAX"), 1,
                         "is not shared with office LAX")
        self.hq.ok("case", "unshare", self.cid, "SDG")
        r = self.s.ok("--json", "sync").json()
        self.assertEqual(r["purged"], 1, r)
        self.assertFails(self.s.run("case", "show", self.cid), 1)
        self.assertEqual(self.a.ok("--json", "sync").json()["purged"], 0)
        self.assertEqual(self.a.show(self.cid)["id"], self.cid)
        # shared again, then the case moves to LAX: the share ends with it ...
        self.hq.ok("case", "share", self.cid, "SDG")
        self.s.ok("sync")
        self.assertEqual(self.s.show(self.cid)["id"], self.cid)
        out = self.hq.ok("case", "transfer", self.cid, "LAX").out
        self.assertIn("share with SDG ended", out)
        self.assertEqual(self.s.ok("--json", "sync").json()["purged"], 1)
        self.assertEqual(self.a.ok("--json", "sync").json()["purged"], 1)
        self.assertNoTrace(self.s)
        # ... unless HQ keeps it
        cid2 = self.fleet.synced_case(self.a, "Kept share", "theft")
        self.hq.ok("case", "share", cid2, "SDG")
        self.s.ok("sync")
        self.hq.ok("case", "transfer", cid2, "LAX", "--keep-shares")
        self.assertEqual(self.s.ok("--json", "sync").json()["purged"], 0)
        self.assertEqual(self.s.show(cid2)["id"], cid2)
        self.s.ok("note", "add", cid2, "--text", "Still shared.")
        self.s.ok("sync")
        self.assertIn("Still shared.", [n["text"].strip() for n in
                                        self.hq.ok("--json", "case", "show", cid2).json()["notes"]])


if __name__ == "__main__":
    unittest.main()
