"""Key slots: adding or removing a user and changing a passphrase never re-encrypt the
database and never lock out the other users; a removed user's passphrase opens nothing."""
import os
import unittest

import fstest

PAGE = 4096


def pages(path):
    data = fstest.read_bytes(path)
    return [data[i:i + PAGE] for i in range(0, len(data), PAGE)]


def changed_pages(before, after):
    return sum(1 for a, b in zip(before, after) if a != b) + abs(len(after) - len(before))


class KeySlots(fstest.NodeTest):
    def setUp(self):
        super().setUp()
        self.n = self.node()
        self.n.init()
        narrative = os.path.join(self.tmp, "n.md")
        with open(narrative, "w") as f:
            f.write("A sentence of the report that takes some room on a page. " * 60)
        for i in range(12):
            cid = self.n.new_case("Case %d" % i, "ethics")
            self.n.ok("case", "edit", cid, "--narrative-file", narrative)
        self.db = os.path.join(self.n.home, "fieldsync.db")

    def assert_not_reencrypted(self, before, what):
        after = pages(self.db)
        n = changed_pages(before, after)
        # A re-encryption rewrites every page; a slot change only adds audit entries.
        self.assertLess(n, len(before) // 4, "%s changed %d of %d pages" % (what, n, len(before)))
        self.assertEqual(before[0][:16], after[0][:16], "%s changed the database salt" % what)

    def new_pass(self, who):
        return {"FIELDSYNC_NEW_PASSPHRASE": fstest.PASS[who]}

    def test_add_passwd_remove(self):
        self.assertGreater(len(pages(self.db)), 40)
        before = pages(self.db)
        self.n.ok("user", "add", "bob", "--role", "investigator", extra_env=self.new_pass("bob"))
        self.assert_not_reencrypted(before, "user add")
        self.n.ok("case", "list", user="bob")
        self.n.ok("case", "list", user="alice")

        before = pages(self.db)
        self.n.ok("user", "passwd", extra_env={"FIELDSYNC_NEW_PASSPHRASE": "alice new phrase 9"})
        self.assert_not_reencrypted(before, "user passwd")
        self.assertFails(self.n.run("case", "list"), 1, "wrong passphrase")
        self.n.ok("case", "list", passphrase="alice new phrase 9")
        self.n.ok("case", "list", user="bob")

        before = pages(self.db)
        self.n.ok("user", "remove", "bob", passphrase="alice new phrase 9")
        self.assert_not_reencrypted(before, "user remove")
        self.assertFails(self.n.run("case", "list", user="bob"), 1, "unknown user 'bob'")
        self.n.ok("case", "list", passphrase="alice new phrase 9")
        users = self.n.ok("--json", "user", "list", passphrase="alice new phrase 9").json()
        self.assertEqual([u["name"] for u in users["users"]], ["alice"])

    def test_removed_users_old_slot_copy_opens_nothing(self):
        # Someone who kept a copy of the sidecar from before the removal still holds a valid
        # slot for bob: the database refuses the user all the same.
        import shutil
        self.n.ok("user", "add", "bob", "--role", "investigator", extra_env=self.new_pass("bob"))
        side = os.path.join(self.n.home, "keyslots.json")
        shutil.copy(side, side + ".old")
        self.n.ok("user", "remove", "bob")
        shutil.copy(side + ".old", side)
        self.assertFails(self.n.run("case", "list", user="bob"), 1, "unknown user 'bob'")

    def test_roles_and_self_service(self):
        self.n.ok("user", "add", "bob", "--role", "investigator", extra_env=self.new_pass("bob"))
        r = self.n.run("user", "add", "carol", "--role", "admin", user="bob",
                       extra_env=self.new_pass("carol"))
        self.assertFails(r, 1, "user 'bob' (role investigator) may not do 'user.add'")
        self.n.ok("user", "passwd", user="bob",
                  extra_env={"FIELDSYNC_NEW_PASSPHRASE": "bob second phrase"})
        self.n.ok("case", "list", user="bob", passphrase="bob second phrase")
        self.assertFails(self.n.run("user", "remove", "alice"), 1, "cannot remove yourself")
        self.assertFails(self.n.run("user", "add", "dave", "--role", "janitor",
                                    extra_env={"FIELDSYNC_NEW_PASSPHRASE": "dave passphrase"}),
                         1, "not a role")
        self.assertFails(self.n.run("user", "add", "dave", "--role", "auditor",
                                    extra_env={"FIELDSYNC_NEW_PASSPHRASE": "short"}),
                         1, "at least 12 characters")
        self.assertFails(self.n.run("user", "add", "bob", "--role", "auditor",
                                    extra_env={"FIELDSYNC_NEW_PASSPHRASE": "bob again phrase"}),
                         1, "already exists")
        denied = [e for e in self.n.audit() if e["outcome"] == "denied"]
        self.assertEqual([(e["user"], e["action"], e["target"]) for e in denied],
                         [("bob", "user.add", "carol")])

    def test_auditor_reads_log_not_cases(self):
        self.n.ok("user", "add", "carol", "--role", "auditor", extra_env=self.new_pass("carol"))
        entries = self.n.ok("--json", "audit", "log", user="carol").json()["entries"]
        self.assertEqual(entries[-1]["action"], "audit.read")
        self.assertFails(self.n.run("case", "list", user="carol"), 1, "may not do 'case.list'")


if __name__ == "__main__":
    unittest.main(verbosity=2)
