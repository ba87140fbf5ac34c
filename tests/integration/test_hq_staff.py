"""HQ staff accounts: each with its own key slot and passphrase, roles enforced on every
command, every entry naming who acted.

A real server with a case synced from a real device; one staff user per role.  Every command
of the table below is run by every role: allowed ones succeed, the others are refused with the
role they need and leave a "denied" entry naming the user.  The key file's identity (no
--user) still does everything, as existing scripts expect.  Five wrong passphrases lock an
account; HQ's own identity has no passphrase to change; HQ roles are not device roles.
"""
import json
import os
import re
import subprocess
import time
import unittest

import fstest
import hqtest

ROLES = ["hq-admin", "intake", "supervisor", "investigator", "auditor", "analyst"]
USER_OF = {r: "hq" + r.replace("-", "") for r in ROLES}  # hqhqadmin, hqintake, ...
PASS_OF = {r: "passphrase of %s at HQ" % USER_OF[r] for r in ROLES}
CASE_WORK = {"supervisor", "investigator"}


def commands(cid):
    """(name, argv for the n-th run, action refused, roles allowed)."""
    return [
        ("user list", lambda i: ["user", "list"], "user.list", {"hq-admin"}),
        ("user add", lambda i: ["user", "add", "newuser%d" % i, "--role", "analyst"],
         "user.add", {"hq-admin"}),
        ("office list", lambda i: ["office", "list"], "office.list", {"hq-admin"}),
        ("device list", lambda i: ["device", "list"], "device.list", {"hq-admin"}),
        ("office add", lambda i: ["office", "add", "NEW%d" % i, "--name", "office %d" % i],
         "office.add", {"hq-admin"}),
        ("office token", lambda i: ["office", "token", "ELP"], "office.token", {"hq-admin"}),
        ("case list", lambda i: ["case", "list"], "case.list", CASE_WORK),
        ("case show", lambda i: ["case", "show", cid], "case.view", CASE_WORK),
        ("case history", lambda i: ["case", "history", cid], "case.history", CASE_WORK),
        ("case search", lambda i: ["case", "search", "harbour"], "case.search", CASE_WORK),
        ("case edit", lambda i: ["case", "edit", cid, "--set", "subject_name=Edit %d" % i],
         "case.update", CASE_WORK),
        ("case share", lambda i: ["case", "share", cid, "SDG"], "case.share", {"supervisor"}),
        ("evidence list", lambda i: ["evidence", "list", cid], "evidence.list", CASE_WORK),
        ("audit log", lambda i: ["audit", "log"], "audit.read", {"auditor"}),
        ("audit query", lambda i: ["audit", "query", "--case", cid], "audit.query",
         {"auditor"}),
        ("audit verify", lambda i: ["audit", "verify"], "audit.verify", {"auditor"}),
        ("intake new", lambda i: ["intake", "new", "--category", "theft", "--summary",
                                  "Fuel card used twice, report %d" % i, "--office", "ELP"],
         "case.intake", {"intake"}),
        ("case assign", lambda i: ["case", "assign", cid, "--to", "user%d" % i], "case.assign",
         {"supervisor"}),
        ("case due", lambda i: ["case", "due", cid, "2027-%02d-%02d" % (1 + i % 12, 1 + i % 28)], "case.due",
         {"supervisor"}),
        ("policy set-due", lambda i: ["policy", "set-due", "--category", "theft", "--days",
                                      str(30 + i)], "policy.set-due", {"supervisor"}),
        ("policy list", lambda i: ["policy", "list"], "policy.list", {"supervisor"}),
        ("ca export", lambda i: ["ca", "export"], None, set(ROLES)),
    ]


class HqStaff(fstest.NodeTest):
    def setUp(self):
        super().setUp()
        self.fleet = hqtest.Fleet(self.tmp)
        self.addCleanup(self.fleet.stop)
        self.hq = self.fleet.hq
        self.fleet.token("SDG")
        self.device = self.fleet.device("elp")
        self.cid = self.fleet.synced_case(self.device, "Payments at the harbour", "bribery")
        for r in ROLES:
            self.add_user(USER_OF[r], r)

    def add_user(self, name, role):
        return self.staff(None, "--kdf-cost", "low", "user", "add", name, "--role", role,
                          new=PASS_OF.get(role, "x") if name == USER_OF.get(role) else
                          "another passphrase")

    def staff(self, role, *args, passphrase=None, new=None):
        """Run the server as the staff user of `role` (None: the key file's identity)."""
        return self.hq.run_as(USER_OF[role] if role else None,
                              (PASS_OF[role] if passphrase is None else passphrase)
                              if role else None, *args, new=new, timeout=120)

    def audit(self):
        return self.hq.ok("--json", "audit", "log").json()["entries"]

    def test_every_command_by_every_role(self):
        refused = []
        for i, (name, argv, action, allowed) in enumerate(commands(self.cid)):
            for k, role in enumerate(ROLES):
                args = argv(i * 10 + k)
                if args[:2] == ["user", "add"]:
                    args = ["--kdf-cost", "low"] + args
                r = self.staff(role, *args, new="a passphrase for the new user")
                with self.subTest(command=name, role=role):
                    if role in allowed:
                        self.assertEqual(r.rc, 0, r)
                    else:
                        self.assertFails(r, 1, "user '%s' (role %s) may not do '%s'"
                                         % (USER_OF[role], role, action), "it needs the role")
                        for needed in allowed:
                            self.assertIn(needed, r.err)
                        refused.append((USER_OF[role], action))
        denied = {(e["user"], e["action"]) for e in self.audit() if e["outcome"] == "denied"}
        for user, action in refused:
            self.assertIn((user, action), denied, "refusal of %s to %s not audited"
                          % (action, user))
        # the key file's identity: everything, as before
        for name, argv, action, allowed in commands(self.cid):
            args = argv(999)
            if args[:2] == ["user", "add"]:
                args = ["--kdf-cost", "low"] + args
            self.assertEqual(self.staff(None, *args, new="a passphrase for the new user").rc,
                             0, name)
        self.hq.ok("audit", "verify")

    def test_entries_and_commits_name_the_staff_user(self):
        self.staff("investigator", "case", "edit", self.cid, "--set",
                   "subject_name=Set at HQ")
        r = self.staff("investigator", "--json", "case", "show", self.cid)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json()["fields"]["subject_name"], "Set at HQ")
        hist = self.staff("investigator", "--json", "case", "history", self.cid).json()
        newest = hist["history"][0] if "history" in hist else hist["revisions"][0]
        self.assertEqual(newest["user"], USER_OF["investigator"], newest)
        entries = self.audit()
        mine = [(e["action"], e["target"]) for e in entries
                if e["user"] == USER_OF["investigator"]]
        self.assertIn(("case.update", self.cid), mine)
        self.assertIn(("case.view", self.cid), mine)
        self.assertIn("logon", [a for a, _ in mine])
        # --user before the command logs on; after it, it is audit query's filter
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
        env["FIELDSYNC_PASSPHRASE"] = PASS_OF["auditor"]
        proc = subprocess.run([hqtest.SERVER, "--home", self.hq.home, "--user",
                               USER_OF["auditor"], "--json", "audit", "query", "--user",
                               USER_OF["investigator"]], env=env, capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        found = json.loads(proc.stdout)["events"]
        self.assertTrue(found)
        self.assertEqual({e["user"] for e in found}, {USER_OF["investigator"]})
        self.assertIn(("audit.query", USER_OF["auditor"]),
                      {(e["action"], e["user"]) for e in self.audit()})
        # the edit reaches the office's device
        self.device.ok("sync")
        self.assertEqual(self.device.show(self.cid)["fields"]["subject_name"], "Set at HQ")

    def test_lockout_after_five_failures(self):
        for i in range(5):
            r = self.staff("auditor", "audit", "log", passphrase="not the passphrase %d" % i)
            self.assertFails(r, 1, "wrong passphrase")
        r = self.staff("auditor", "audit", "log")
        self.assertFails(r, 1, "locked")
        listing = self.hq.ok("--json", "user", "list").json()["users"]
        self.assertTrue([u for u in listing if u["name"] == USER_OF["auditor"]][0]["locked"])
        # the other accounts and the key file are not affected
        self.assertEqual(self.staff("investigator", "case", "list").rc, 0)
        self.hq.ok("audit", "log")

    def test_accounts_and_their_limits(self):
        users = {u["name"]: u["role"] for u in
                 self.hq.ok("--json", "user", "list").json()["users"]}
        for r in ROLES:
            self.assertEqual(users[USER_OF[r]], r)
        self.assertEqual(users["server"], "admin")
        # a device role is not an HQ role, and an HQ role is not a device role
        r = self.staff(None, "--kdf-cost", "low", "user", "add", "x", "--role", "admin",
                       new="a passphrase for x")
        self.assertFails(r, 1, "'admin' is not a role (hq-admin, intake")
        r = self.device.run("user", "add", "y", "--role", "hq-admin",
                            extra_env={"FIELDSYNC_NEW_PASSPHRASE": "a passphrase for y"})
        self.assertFails(r, 1, "'hq-admin' is not a role (investigator")
        # the key file's identity has no passphrase to change, and cannot be removed
        r = self.staff("hq-admin", "user", "passwd", "server", new="a passphrase to set")
        self.assertFails(r, 1, "unlocked by the server's key file")
        r = self.staff("hq-admin", "user", "remove", "server")
        self.assertFails(r, 1, "last admin")
        # an hq-admin changes another's passphrase; the old one opens nothing after
        r = self.staff("hq-admin", "--kdf-cost", "low", "user", "passwd", USER_OF["analyst"],
                       new="the analyst's new passphrase")
        self.assertEqual(r.rc, 0, r)
        self.assertFails(self.staff("analyst", "ca", "export"), 1, "wrong passphrase")
        self.assertEqual(self.staff("analyst", "ca", "export",
                                    passphrase="the analyst's new passphrase").rc, 0)
        # a removed account opens nothing
        self.assertEqual(self.staff("hq-admin", "user", "remove", USER_OF["intake"]).rc, 0)
        self.assertFails(self.staff("intake", "ca", "export"), 1)

    def test_run_unlocks_from_the_key_file_whatever_user_is_named(self):
        self.fleet.stop()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
        env.update(FIELDSYNC_USER=USER_OF["auditor"], FIELDSYNC_PASSPHRASE="wrong")
        log = open(os.path.join(self.tmp, "hq2.log"), "w+")
        proc = subprocess.Popen([hqtest.SERVER, "--home", self.hq.home, "run", "--listen",
                                 "127.0.0.1:%d" % self.hq.port], env=env,
                                stdout=subprocess.DEVNULL, stderr=log)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.terminate)
        deadline = time.time() + 30
        while time.time() < deadline and not re.search("listening on", open(log.name).read()):
            self.assertIsNone(proc.poll(), open(log.name).read())
            time.sleep(0.05)
        self.device.new_case("After the restart", "bribery")
        self.device.ok("sync")
        r = self.staff("investigator", "case", "list")
        self.assertIn("After the restart", r.out)

    def test_no_staff_secret_in_clear(self):
        self.staff("investigator", "case", "show", self.cid)
        secrets = [p.encode() for p in PASS_OF.values()]
        for root, _, files in os.walk(self.hq.home):
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    data = fh.read()
                for s in secrets:
                    self.assertNotIn(s, data, f)


if __name__ == "__main__":
    unittest.main()
