"""Attribution: a case's history names the user, device and time of every edit."""
import unittest

import fstest


class Attribution(fstest.NodeTest):
    def test_two_users_on_one_device(self):
        n = self.node()
        n.init()
        device = n.ok("--json", "status").json()["device"]
        n.ok("user", "add", "bob", "--role", "investigator",
             extra_env={"FIELDSYNC_NEW_PASSPHRASE": fstest.PASS["bob"]})
        cid = n.new_case("Theft of seized property", "theft")
        n.ok("case", "edit", cid, "--set", "status=open", "--set", "assignee=bob", user="bob")
        n.ok("note", "add", cid, "--text", "Interviewed the evidence custodian.", user="bob")
        n.ok("case", "edit", cid, "--set", "priority=1")
        hist = n.ok("--json", "case", "history", cid).json()["history"]
        self.assertEqual([h["user"] for h in hist], ["alice", "bob", "bob", "alice"])
        self.assertTrue(all(h["device"] == device and h["office"] == "ELP" for h in hist))
        self.assertEqual(hist[-1]["summary"], "case create: title, category")
        self.assertEqual(hist[2]["summary"], "case update: status, assignee")
        self.assertEqual(hist[1]["summary"], "note add: note")
        self.assertEqual(hist[0]["summary"], "case update: priority")
        times = [h["time"] for h in hist]
        self.assertEqual(times, sorted(times, reverse=True))
        self.assertEqual(len({h["commit"] for h in hist}), 4)
        note = n.show(cid)["notes"][0]
        self.assertEqual((note["author"], note["device"]), ("bob", device))
        # The text history names them too.
        text = n.ok("case", "history", cid).out
        self.assertIn("bob ", text)
        self.assertIn("ELP/%s" % device[:8], text)
        # And the audit trail attributes each write to its user.
        writes = [(e["user"], e["action"]) for e in n.audit()
                  if e["target"] == cid and e["action"] in ("case.create", "case.update",
                                                            "note.add")]
        self.assertEqual(writes, [("alice", "case.create"), ("bob", "case.update"),
                                  ("bob", "note.add"), ("alice", "case.update")])

    def test_reads_are_audited_with_the_reader(self):
        n = self.node()
        n.init()
        n.ok("user", "add", "bob", "--role", "supervisor",
             extra_env={"FIELDSYNC_NEW_PASSPHRASE": fstest.PASS["bob"]})
        cid = n.new_case("Misuse of systems", "misuse-of-systems")
        n.ok("case", "show", cid, user="bob")
        n.ok("case", "search", "misuse", user="bob")
        n.ok("case", "history", cid, user="bob")
        got = [(e["user"], e["action"], e["target"], e["detail"]) for e in n.audit()
               if e["user"] == "bob" and e["action"].startswith("case.")]
        self.assertEqual(got, [("bob", "case.view", cid, ""), ("bob", "case.search", "", "misuse"),
                               ("bob", "case.history", cid, "")])


if __name__ == "__main__":
    unittest.main(verbosity=2)
