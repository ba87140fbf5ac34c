"""Bad input changes nothing: a clear message on stderr, a non-zero exit, the case data as it was."""
import os
import unittest

import fstest


class BadInput(fstest.NodeTest):
    def setUp(self):
        super().setUp()
        self.n = self.node()
        self.n.init()
        self.cid = self.n.new_case("Use of force at checkpoint", "use-of-force", "priority=2")
        self.n.ok("note", "add", self.cid, "--text", "first note")
        self.before = self.n.case_state()

    def unchanged(self):
        self.assertEqual(self.n.case_state(), self.before)

    def test_wrong_passphrase(self):
        r = self.n.run("case", "show", self.cid, passphrase="not the passphrase")
        self.assertFails(r, 1, "wrong passphrase for user 'alice'", "attempts left")
        self.assertEqual(r.out, "")
        self.unchanged()
        failures = [e for e in self.n.audit() if e["action"] == "logon" and
                    e["outcome"] == "failure"]
        self.assertEqual(len(failures), 1, failures)
        self.assertEqual(failures[0]["user"], "alice")
        self.assertIn("wrong passphrase", failures[0]["detail"])

    def test_unknown_user(self):
        r = self.n.run("case", "list", user="mallory", passphrase="whatever it is")
        self.assertFails(r, 1, "unknown user 'mallory'")
        self.unchanged()
        failures = [e for e in self.n.audit() if e["action"] == "logon" and
                    e["outcome"] == "failure"]
        self.assertEqual([f["user"] for f in failures], ["mallory"])

    def test_lockout_after_five_failures(self):
        self.n.ok("user", "add", "bob", "--role", "investigator",
                  extra_env={"FIELDSYNC_NEW_PASSPHRASE": fstest.PASS["bob"]})
        for i in range(4):
            self.assertFails(self.n.run("case", "list", passphrase="wrong one %d" % i), 1,
                             "wrong passphrase")
        self.assertFails(self.n.run("case", "list", passphrase="wrong five"), 1,
                         "locked for 10 minutes")
        # Now even the right passphrase is refused, with the reason.
        r = self.n.run("case", "list")
        self.assertFails(r, 1, "locked", "try again in 10 minutes")
        # Another user is not affected, and the failures reach the audit log at bob's log-on.
        self.assertEqual(self.n.case_state(user="bob"), self.before)
        bob = self.n.run("--json", "audit", "log", user="bob")
        self.assertFails(bob, 1, "may not do 'audit.read'")
        side = fstest.read_bytes(os.path.join(self.n.home, "keyslots.json"))
        self.assertIn(b'"locked_until"', side)

    def test_unknown_case(self):
        for args in (["case", "show", "ELP-26-0000000"], ["case", "history", "ELP-26-0000000"],
                     ["case", "edit", "ELP-26-0000000", "--set", "status=open"],
                     ["note", "add", "ELP-26-0000000", "--text", "x"]):
            self.assertFails(self.n.run(*args), 1, "no case 'ELP-26-0000000'")
        self.unchanged()

    def test_unknown_field(self):
        r = self.n.run("case", "edit", self.cid, "--set", "colour=red")
        self.assertFails(r, 1, "unknown field 'colour'")
        r = self.n.run("case", "new", "--title", "t", "--category", "theft", "--set", "x=1")
        self.assertFails(r, 1, "unknown field 'x'")
        self.unchanged()

    def test_values_outside_schema(self):
        cases = [("status=banana", "'banana' is not a valid status"),
                 ("priority=9", "'9' is not a valid priority"),
                 ("priority=01", "not a valid priority"),
                 ("received_at=2023-02-29", "not a valid received_at"),
                 ("category=parking", "not a valid category"),
                 ("title=", "field 'title' cannot be empty"),
                 ("title=two\nlines", "must be a single line")]
        for setting, msg in cases:
            self.assertFails(self.n.run("case", "edit", self.cid, "--set", setting), 1, msg)
        self.assertFails(self.n.run("case", "new", "--title", "x", "--category", "nope"), 1,
                         "not a valid category")
        self.unchanged()

    def test_oversized_input(self):
        self.assertFails(self.n.run("case", "edit", self.cid, "--set", "title=" + "t" * 201), 1,
                         "more than the limit of 200")
        big = os.path.join(self.tmp, "big.md")
        with open(big, "w") as f:
            f.write("word " * (1024 * 1024 // 5 + 10))
        self.assertFails(self.n.run("case", "edit", self.cid, "--narrative-file", big), 1,
                         "larger than the limit")
        self.assertFails(self.n.run("note", "add", self.cid, "--file", big), 1,
                         "larger than the limit")
        self.assertFails(self.n.run("note", "add", self.cid, "--file", "-",
                                    stdin="n" * (256 * 1024 + 1)), 1, "larger than the limit")
        self.unchanged()

    def test_missing_narrative_file(self):
        r = self.n.run("case", "edit", self.cid, "--narrative-file",
                       os.path.join(self.tmp, "nope.md"))
        self.assertFails(r, 1, "cannot read", "nope.md", "No such file")
        self.unchanged()

    def test_invalid_utf8_and_control_characters(self):
        bad = os.path.join(self.tmp, "bad.md")
        with open(bad, "wb") as f:
            f.write(b"valid start \xff\xfe then junk\n")
        self.assertFails(self.n.run("case", "edit", self.cid, "--narrative-file", bad), 1,
                         "not valid UTF-8")
        self.assertFails(self.n.run("note", "add", self.cid, "--text", "bell \x07 here"), 1,
                         "control character")
        self.unchanged()

    def test_no_change_is_refused(self):
        r = self.n.run("case", "edit", self.cid, "--set", "priority=2")
        self.assertFails(r, 1, "no change")
        self.unchanged()

    def test_usage_errors_exit_2(self):
        for args in (["case", "new", "--title", "only title"], ["frobnicate"],
                     ["case", "list", "--bogus"], ["case", "show"], ["note", "add", self.cid],
                     ["case", "edit", self.cid], ["--kdf-cost", "cheap", "case", "list"]):
            r = self.n.run(*args)
            self.assertEqual(r.rc, 2, (args, r))
            self.assertIn("fieldsync-agent: error:", r.err)
            self.assertIn("usage:", r.err)
        self.unchanged()

    def test_missing_node(self):
        other = fstest.Node(os.path.join(self.tmp, "nothing-here"))
        self.assertFails(other.run("case", "list"), 1, "no fieldsync node in")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "nothing-here")))

    def test_failed_operations_are_audited(self):
        self.n.run("case", "show", "ELP-26-0000000")
        entries = self.n.audit()
        views = [e for e in entries if e["action"] == "case.view" and
                 e["target"] == "ELP-26-0000000"]
        self.assertEqual(len(views), 1, views)
        self.assertEqual(views[0]["outcome"], "failure")
        self.assertIn("no case", views[0]["detail"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
