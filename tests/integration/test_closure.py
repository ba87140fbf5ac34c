"""Closure needs approval: an investigator sets status pending-approval, only a supervisor (on
a device or at HQ) sets closed: refused otherwise on the device, at HQ, and again at HQ when
a change set that closes a case arrives from a user without the approval (a forged push).

A merge that brings in a closure already made elsewhere is not a new closure: a device whose
investigator edited offline while HQ's supervisor closed the case still pushes its work.
"""
import json
import os
import subprocess
import unittest

import fstest
import hqtest

FORGE = os.environ.get("FIELDSYNC_FORGE") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tests", "tools", "forge")
fstest.PASS.update({"bob": "bob's investigator passphrase",
                    "sue": "sue's supervisor passphrase"})
HQ_STAFF = {"hqi": ("investigator", "hq investigator passphrase"),
            "hqs": ("supervisor", "hq supervisor passphrase")}


class Closure(fstest.NodeTest):
    def setUp(self):
        super().setUp()
        self.fleet = hqtest.Fleet(self.tmp)
        self.addCleanup(self.fleet.stop)
        self.hq = self.fleet.hq
        self.dev = self.fleet.device("elp")
        for user, role in (("bob", "investigator"), ("sue", "supervisor")):
            self.dev.ok("user", "add", user, "--role", role,
                        extra_env={"FIELDSYNC_NEW_PASSPHRASE": fstest.PASS[user]})
        for user, (role, pw) in HQ_STAFF.items():
            self.staff(None, "--kdf-cost", "low", "user", "add", user, "--role", role,
                       new=pw, ok=True)
        self.cid = self.fleet.synced_case(self.dev, "Overtime claimed twice", "ethics")

    def staff(self, who, *args, new=None, ok=False):
        r = self.hq.run_as(who, HQ_STAFF[who][1] if who else None, *args, new=new)
        if ok and r.rc != 0:
            raise AssertionError("%s: %r" % (args, r))
        return r

    def forge(self, user, *args):
        proc = subprocess.run([FORGE] + list(args), env=self.dev.env(user),
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        return json.loads(proc.stdout)

    def hq_status(self, cid=None):
        return self.hq.ok("--json", "case", "show", cid or self.cid).json()["fields"]["status"]

    def test_only_a_supervisor_closes_on_the_device(self):
        r = self.dev.run("case", "edit", self.cid, "--set", "status=closed", user="bob")
        self.assertFails(r, 1, "may not do 'case.close': it needs the role supervisor")
        self.assertEqual(self.dev.show(self.cid)["fields"]["status"], "intake")
        denied = [e for e in self.dev.audit() if e["outcome"] == "denied"]
        self.assertIn(("bob", "case.close", self.cid),
                      [(e["user"], e["action"], e["target"]) for e in denied])
        r = self.dev.run("case", "new", "--title", "Closed at birth", "--category", "theft",
                         "--set", "status=closed", user="bob")
        self.assertFails(r, 1, "may not do 'case.close'")
        self.dev.ok("case", "edit", self.cid, "--set", "status=pending-approval", user="bob")
        self.dev.ok("sync", user="bob")
        self.assertEqual(self.hq_status(), "pending-approval")
        self.dev.ok("case", "edit", self.cid, "--set", "status=closed", "--set",
                    "disposition=sustained", user="sue")
        self.dev.ok("sync", user="sue")
        self.assertEqual(self.hq_status(), "closed")
        self.dev.ok("check")
        self.hq.ok("audit", "verify")

    def test_only_a_supervisor_closes_at_hq(self):
        r = self.staff("hqi", "case", "edit", self.cid, "--set", "status=closed")
        self.assertFails(r, 1, "may not do 'case.close': it needs the role supervisor")
        self.assertEqual(self.hq_status(), "intake")
        self.staff("hqi", "case", "edit", self.cid, "--set", "status=pending-approval", ok=True)
        self.staff("hqs", "case", "edit", self.cid, "--set", "status=closed", ok=True)
        self.assertEqual(self.hq_status(), "closed")
        self.dev.ok("sync")
        self.assertEqual(self.dev.show(self.cid)["fields"]["status"], "closed")

    def test_forged_closure_refused_at_hq(self):
        before = self.hq.ok("--json", "case", "history", self.cid).json()
        doc = self.forge("bob", "close", self.cid)
        self.assertEqual(doc["status"], 200, doc)
        refused = [c for c in doc["body"]["cases"] if c["id"] == self.cid]
        self.assertEqual(refused[0]["status"], "refused", doc)
        self.assertIn("closing needs a supervisor's approval", refused[0]["reason"])
        self.assertIn("(role investigator)", refused[0]["reason"])
        self.assertEqual(self.hq.ok("--json", "case", "history", self.cid).json(), before)
        self.assertEqual(self.hq_status(), "intake")
        # beside a genuine edit of another case in the same push: that one is kept, the
        # forged closure leaves nothing (HQ pushes again, each case in a savepoint)
        other = self.dev.new_case("Second matter", "theft")
        self.dev.ok("sync")
        other_before = len(self.hq.ok("--json", "case", "history", other).json()["history"])
        doc = self.forge("bob", "close-beside", self.cid + "," + other)
        self.assertEqual(doc["status"], 200, doc)
        by_id = {c["id"]: c for c in doc["body"]["cases"]}
        self.assertEqual(by_id[self.cid]["status"], "refused", doc)
        self.assertEqual(by_id[other]["status"], "accepted", doc)
        self.assertEqual(doc["body"]["accepted"], 1, doc)
        self.assertEqual(doc["body"]["refused"], 1, doc)
        self.assertEqual(self.hq.ok("--json", "case", "history", self.cid).json(), before)
        self.assertEqual(len(self.hq.ok("--json", "case", "history", other).json()["history"]),
                         other_before + 1)
        self.assertIn("An edit made by the sync tests' forge.",
                      [n["text"].strip() for n in
                       self.hq.ok("--json", "case", "show", other).json()["notes"]])
        # the control: the same forged commit by the supervisor is accepted
        doc = self.forge("sue", "close", self.cid)
        accepted = [c for c in doc["body"]["cases"] if c["id"] == self.cid]
        self.assertEqual(accepted[0]["status"], "accepted", doc)
        self.assertEqual(self.hq_status(), "closed")

    def test_offline_work_merges_with_a_closure_made_elsewhere(self):
        self.staff("hqs", "case", "edit", self.cid, "--set", "status=closed", ok=True)
        # meanwhile, offline, the investigator adds a note and a field
        self.dev.ok("note", "add", self.cid, "--text", "Payroll records received.", user="bob")
        self.dev.ok("case", "edit", self.cid, "--set", "location=Building 4", user="bob")
        r = self.dev.ok("--json", "sync", user="bob").json()
        self.dev.ok("--json", "sync", user="bob")
        hq = self.hq.ok("--json", "case", "show", self.cid).json()
        self.assertEqual(hq["fields"]["status"], "closed")
        self.assertEqual(hq["fields"]["location"], "Building 4")
        self.assertIn("Payroll records received.", [n["text"].strip() for n in hq["notes"]])
        self.assertEqual(self.dev.show(self.cid)["head"], hq["head"], r)


if __name__ == "__main__":
    unittest.main()
