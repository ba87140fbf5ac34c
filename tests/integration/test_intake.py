"""HQ intake and supervision: a new allegation routed to an office, deadlines by category,
assignment, due dates and the consolidated, filtered case list.

Must hold: intake at HQ -> the office's device has the case after one sync, with its
assignment and due date once a supervisor sets them; a device of another office never sees
it; bad input (unknown office, bad date, unknown category, missing option) is named and
stores nothing; the list filters and the CSV agree with an independent reading of the JSON.
"""
import csv
import io
import os
import time
import unittest

import fstest
import hqtest

STAFF = {"ivy": ("intake", "ivy's intake passphrase"),
         "sam": ("supervisor", "sam's supervisor passphrase"),
         "ian": ("investigator", "ian's investigator passphrase")}


class Intake(fstest.NodeTest):
    def setUp(self):
        super().setUp()
        self.fleet = hqtest.Fleet(self.tmp)
        self.addCleanup(self.fleet.stop)
        self.hq = self.fleet.hq
        self.elp = self.fleet.device("elp", office="ELP")
        self.sdg = self.fleet.device("sdg", office="SDG", admin="carol")
        for name, (role, pw) in STAFF.items():
            self.as_staff(None, "--kdf-cost", "low", "user", "add", name, "--role", role,
                          new=pw, ok=True)

    def as_staff(self, who, *args, new=None, ok=False):
        r = self.hq.run_as(who, STAFF[who][1] if who else None, *args, new=new)
        if ok and r.rc != 0:
            raise AssertionError("%s: %r" % (args, r))
        return r

    def intake(self, *extra, office="ELP", category="bribery", summary=None):
        return self.as_staff("ivy", "--json", "intake", "new", "--category", category,
                             "--summary", summary or "Cash taken at the north gate",
                             "--office", office, *extra)

    def hq_cases(self, *filters):
        return self.hq.ok("--json", "case", "list", *filters).json()["cases"]

    def test_intake_reaches_the_office_only(self):
        self.as_staff("sam", "policy", "set-due", "--category", "bribery", "--days", "90",
                      ok=True)
        r = self.intake("--received-at", "2026-01-10", "--subject-name", "J. Roe",
                        "--subject-id", "EMP-1001", "--source", "hotline",
                        summary="Officer accepted cash at the north gate; driver called the "
                                "hotline the same evening and named the lane")
        self.assertEqual(r.rc, 0, r)
        doc = r.json()
        cid = doc["id"]
        self.assertTrue(cid.startswith("ELP-26-"), cid)
        self.assertEqual(doc["due_at"], "2026-04-10")
        self.elp.ok("sync")
        case = self.elp.show(cid)
        self.assertEqual(case["fields"]["status"], "intake")
        self.assertEqual(case["fields"]["subject_id"], "EMP-1001")
        self.assertEqual(case["fields"]["due_at"], "2026-04-10")
        self.assertEqual(case["fields"]["source"], "hotline")
        self.assertIn("driver called the hotline", case["fields"]["summary"])
        self.assertLessEqual(len(case["fields"]["title"]), 80)
        # a supervisor assigns it and moves the deadline; the device gets both
        self.as_staff("sam", "case", "assign", cid, "--to", "alice", ok=True)
        self.as_staff("sam", "case", "due", cid, "2026-06-30", ok=True)
        self.elp.ok("sync")
        case = self.elp.show(cid)
        self.assertEqual(case["fields"]["assignee"], "alice")
        self.assertEqual(case["fields"]["due_at"], "2026-06-30")
        history = self.elp.ok("--json", "case", "history", cid).json()["history"]
        self.assertIn("sam", {h["user"] for h in history})
        self.assertIn("ivy", {h["user"] for h in history})
        # the other office never sees it
        self.sdg.ok("sync")
        self.assertEqual(self.sdg.ok("--json", "case", "list").json()["cases"], [])
        self.assertFails(self.sdg.run("case", "show", cid), 1)
        # and the device's work on it reaches HQ as any edit
        self.elp.ok("case", "edit", cid, "--set", "status=investigation")
        self.elp.ok("sync")
        self.assertEqual([c["status"] for c in self.hq_cases("--office", "ELP")],
                         ["investigation"])

    def test_bad_input_stores_nothing(self):
        before = self.hq_cases()
        self.assertFails(self.intake(office="XYZ"), 1, "no office 'XYZ'")
        self.assertFails(self.intake(office="not one"), 1, "not an office code")
        self.assertFails(self.intake(category="gossip"), 1, "'gossip' is not a valid category")
        self.assertFails(self.intake("--received-at", "2026-02-30"), 1,
                         "'2026-02-30' is not a valid received_at")
        self.assertFails(self.intake("--source", "rumour"), 1, "not a valid source")
        r = self.as_staff("ivy", "intake", "new", "--category", "bribery", "--office", "ELP")
        self.assertFails(r, 2, "needs --category, --summary and --office")
        r = self.as_staff("sam", "policy", "set-due", "--category", "bribery", "--days", "soon")
        self.assertFails(r, 2, "--days takes a number")
        r = self.as_staff("sam", "policy", "set-due", "--category", "gossip", "--days", "5")
        self.assertFails(r, 1, "not a valid category")
        r = self.as_staff("sam", "case", "due", "ELP-26-XXXXXXX", "tomorrow")
        self.assertFails(r, 1, "'tomorrow' is not a valid due_at")
        r = self.as_staff("sam", "case", "assign", "ELP-26", "--to", "Not A User")
        self.assertFails(r, 1)
        self.assertEqual(self.hq_cases(), before)
        # roles: intake is intake's, assignment a supervisor's; each refusal audited
        r = self.as_staff("ian", "intake", "new", "--category", "theft", "--summary", "x",
                          "--office", "ELP")
        self.assertFails(r, 1, "may not do 'case.intake': it needs the role intake")
        cid = self.intake().json()["id"]
        r = self.as_staff("ivy", "case", "assign", cid, "--to", "alice")
        self.assertFails(r, 1, "may not do 'case.assign': it needs the role supervisor")
        denied = {(e["user"], e["action"]) for e in
                  self.hq.ok("--json", "audit", "log").json()["entries"]
                  if e["outcome"] == "denied"}
        self.assertTrue({("ian", "case.intake"), ("ivy", "case.assign")} <= denied, denied)

    def test_consolidated_list_filters_and_csv(self):
        self.as_staff("sam", "policy", "set-due", "--category", "theft", "--days", "30",
                      ok=True)
        made = []
        for office, cat, received in [("ELP", "theft", "2020-01-01"),
                                      ("ELP", "bribery", "2026-03-05"),
                                      ("SDG", "theft", "2026-04-01"),
                                      ("SDG", "ethics", "2025-12-31")]:
            r = self.intake("--received-at", received, office=office, category=cat,
                            summary="Allegation %s %s, with a comma" % (office, cat))
            self.assertEqual(r.rc, 0, r)
            made.append((r.json()["id"], office, cat, received))
        rows = self.hq_cases()
        self.assertEqual(sorted(c["id"] for c in rows), sorted(m[0] for m in made))

        def ids(*filters):
            return sorted(c["id"] for c in self.hq_cases(*filters))

        self.assertEqual(ids("--office", "SDG"), sorted(m[0] for m in made if m[1] == "SDG"))
        self.assertEqual(ids("--category", "theft", "--office", "ELP"), [made[0][0]])
        self.assertEqual(ids("--received-from", "2026-01-01", "--received-to", "2026-03-31"),
                         [made[1][0]])
        # due 30 days after received: the 2020 theft is overdue, the 2026 one not yet
        # (received 2026-04-01, due 2026-05-01, before today's date of this run)
        overdue = ids("--overdue")
        self.assertIn(made[0][0], overdue)
        self.assertNotIn(made[1][0], overdue)  # bribery: no policy, no due date
        self.as_staff("sam", "case", "due", made[0][0], "2099-01-01", ok=True)
        self.assertNotIn(made[0][0], ids("--overdue"))
        by_received = [c["id"] for c in self.hq_cases("--sort", "received")]
        self.assertEqual(by_received, [m[0] for m in sorted(made, key=lambda m: m[3])])
        # CSV: a header, one row per case, the same values as the JSON
        out = self.hq.ok("case", "list", "--csv").out
        table = list(csv.DictReader(io.StringIO(out)))
        self.assertEqual(sorted(r["id"] for r in table), sorted(m[0] for m in made))
        by_id = {c["id"]: c for c in rows}
        for r in table:
            self.assertEqual(r["title"], by_id[r["id"]]["title"])
            self.assertEqual(r["office"], by_id[r["id"]]["office"])
            self.assertEqual(r["received_at"], by_id[r["id"]].get("received_at", ""))
        # every list is audited with its filters
        details = [e["detail"] for e in self.hq.ok("--json", "audit", "log").json()["entries"]
                   if e["action"] == "case.list"]
        self.assertTrue(any("office=SDG" in d for d in details), details)
        self.assertFails(self.hq.run("case", "list", "--received-from", "last week"), 1,
                         "not a valid received_at")
        self.assertFails(self.hq.run("case", "list", "--sort", "size"), 2, "--sort takes")

    def test_office_and_device_views(self):
        quiet = self.fleet.device("quiet", office="SDG", admin="bob")  # enrolled, never synced
        self.fleet.sync(self.elp, self.sdg)
        self.intake(office="ELP")
        doc = self.hq.ok("--json", "device", "list").json()
        by_office = {}
        for d in doc["devices"]:
            by_office.setdefault(d["office"], []).append(d)
        self.assertEqual(sorted(by_office), ["ELP", "SDG"])
        self.assertEqual(len(doc["devices"]), 3)
        for d in doc["devices"]:
            self.assertEqual(d["state"], "active")
            self.assertGreater(d["cert_expires"], time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                time.gmtime()))
            if d["last_sync"]:
                self.assertGreater(d["receipt_size"], 0, d)
                self.assertFalse(d["silent"], d)
            else:
                self.assertTrue(d["silent"], d)  # never heard from
        self.assertEqual(doc["silent"], 1)
        self.assertEqual(doc["silent_days"], 7)
        text = self.hq.ok("device", "list", "--office", "SDG", "--silent-days", "2").out
        self.assertEqual(len(text.strip().splitlines()), 2)
        self.assertEqual(text.count("SILENT"), 1)
        offices = {o["code"]: o for o in self.hq.ok("--json", "office", "list").json()["offices"]}
        self.assertEqual(offices["ELP"]["cases"], 1)
        self.assertIsNotNone(offices["ELP"]["last_sync"])
        self.assertFails(self.hq.run("device", "list", "--silent-days", "often"), 2,
                         "--silent-days takes")
        self.assertFails(self.hq.run("device", "list", "--office", "nope nope"), 1,
                         "not an office code")
        self.assertFails(self.as_staff("ian", "device", "list"), 1,
                         "may not do 'device.list': it needs the role hq-admin")
        # the list is audited as a read, with what it showed
        listed = [e for e in self.hq.ok("--json", "audit", "log").json()["entries"]
                  if e["action"] == "device.list" and e["outcome"] == "success"]
        self.assertIn("3 devices, 1 silent for 7 days", [e["detail"] for e in listed])
        del quiet


if __name__ == "__main__":
    unittest.main()
