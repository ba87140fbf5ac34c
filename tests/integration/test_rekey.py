"""Key rotation (issue 15, part 6): `rekey` gives the store a new database key and rewraps every
key slot; SIGKILL at random points during it always leaves a store that opens (with the old key
or the new one), passes `check` and holds the same case text."""
import json
import os
import random
import shutil
import signal
import subprocess
import time

import fstest
import hqtest


def slot_of(home, user):
    with open(os.path.join(home, "keyslots.json")) as f:
        doc = json.load(f)
    return [s for s in doc["slots"] if s["user"] == user][0]["wrapped"]


class Rekey(fstest.NodeTest):
    def filled(self, mib=24):
        n = self.node("n")
        n.init()
        cid = n.new_case("Bribery at the port", "bribery", "priority=1")
        n.ok("note", "add", cid, "--text", "The informant named the harbour master.")
        blob = os.path.join(self.tmp, "evidence.bin")
        with open(blob, "wb") as f:
            f.write(os.urandom(mib << 20))
        n.ok("evidence", "add", cid, blob, "--description", "phone extraction")
        os.unlink(blob)
        return n, cid

    def state(self, n):
        return n.case_state()

    def test_rekey_changes_the_key_and_rewraps(self):
        n, cid = self.filled(mib=1)
        before = self.state(n)
        old_slots = os.path.join(self.tmp, "old-slots.json")
        shutil.copy(os.path.join(n.home, "keyslots.json"), old_slots)
        old_wrapped = slot_of(n.home, "alice")
        evidence_db = os.path.join(n.home, "fieldsync-evidence.db")
        old_evidence = fstest.read_bytes(evidence_db)
        r = n.ok("--json", "rekey").json()
        self.assertEqual((r["rekeyed"], r["rewrapped"], r["removed"]), (True, 1, 0))
        # the evidence database under a new key of its own: every page written anew
        new_evidence = fstest.read_bytes(evidence_db)
        page = 65536
        self.assertEqual(len(new_evidence), len(old_evidence))
        self.assertFalse([i for i in range(0, len(new_evidence), page)
                          if new_evidence[i + 16:i + page] == old_evidence[i + 16:i + page]])
        self.assertIn("in the evidence database under a new key",
                      [e["detail"] for e in n.audit() if e["action"] == "node.rekey"][0])
        self.assertNotEqual(slot_of(n.home, "alice"), old_wrapped)
        self.assertEqual(self.state(n), before)
        self.assertTrue(n.ok("--json", "check").json()["ok"])
        self.assertEqual(n.ok("--json", "audit", "verify").json()["status"], "ok")
        self.assertIn("node.rekey", [e["action"] for e in n.audit()])
        # the old slots (and so the old key) open nothing now
        c = self.node("c")
        shutil.copytree(n.home, c.home)
        shutil.copy(old_slots, os.path.join(c.home, "keyslots.json"))
        self.assertFails(c.run("case", "list"), 1, "does not open")
        # another user's slot: refused by name, or removed on request; bob gets a new one
        n.ok("user", "add", "bob", "--role", "investigator",
             extra_env={"FIELDSYNC_NEW_PASSPHRASE": fstest.PASS["bob"]})
        self.assertFails(n.run("rekey"), 1, "'bob'", "--remove-other-slots")
        self.assertEqual(n.ok("case", "list", user="bob").rc, 0)
        r = n.ok("--json", "rekey", "--remove-other-slots").json()
        self.assertEqual((r["rewrapped"], r["removed"], r["removed_users"]), (1, 1, "bob"))
        self.assertEqual(n.run("case", "list", user="bob").rc, 1)
        n.ok("user", "passwd", "bob", extra_env={"FIELDSYNC_NEW_PASSPHRASE": "bob new phrase 1"})
        self.assertEqual(n.ok("case", "list", user="bob", passphrase="bob new phrase 1").rc, 0)
        # only an admin rotates
        self.assertEqual(n.run("rekey", user="bob", passphrase="bob new phrase 1").rc, 1)
        self.assertEqual(self.state(n), before)

    def test_interrupted_rotation_is_finished_or_rolled_back(self):
        n, cid = self.filled(mib=1)
        before = self.state(n)
        home = n.home
        old = self.node("old")
        shutil.copytree(home, old.home)
        n.ok("rekey")
        new_slots = os.path.join(home, "keyslots.json")
        # committed, new slots not yet in place: the next log-on moves them in
        done = self.node("done")
        shutil.copytree(home, done.home)
        shutil.copy(os.path.join(old.home, "keyslots.json"),
                    os.path.join(done.home, "keyslots.json"))
        shutil.copy(new_slots, os.path.join(done.home, "keyslots.json.next"))
        self.assertEqual(self.state(done), before)
        self.assertFalse(os.path.exists(os.path.join(done.home, "keyslots.json.next")))
        self.assertEqual(slot_of(done.home, "alice"), slot_of(home, "alice"))
        # new slots written, database not rekeyed: the old key stays, the new slots go
        back = self.node("back")
        shutil.copytree(old.home, back.home)
        shutil.copy(new_slots, os.path.join(back.home, "keyslots.json.next"))
        self.assertEqual(self.state(back), before)
        self.assertFalse(os.path.exists(os.path.join(back.home, "keyslots.json.next")))
        self.assertEqual(slot_of(back.home, "alice"), slot_of(old.home, "alice"))
        for d in (done, back):
            d.ok("check")

    def test_sigkill_during_rekey(self):
        n, cid = self.filled()
        before = self.state(n)
        env = n.env("alice")
        env["FIELDSYNC_NO_SERVICE"] = "1"
        cmd = [fstest.AGENT, "rekey"]
        t0 = time.monotonic()
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
        full = time.monotonic() - t0
        trials = fstest.trials(30, 200, 5)
        rng = random.Random(os.environ.get("FIELDSYNC_SEED", str(time.time())))
        killed = rotated = 0
        for i in range(trials):
            wrapped = slot_of(n.home, "alice")
            p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0, full))
            p.send_signal(signal.SIGKILL)
            rc = p.wait()
            killed += rc == -signal.SIGKILL
            # the store opens with one key or the other, passes check, holds the same text
            r = n.run("--json", "check")
            self.assertEqual(r.rc, 0, "trial %d (rekey rc %d): %r" % (i, rc, r))
            self.assertTrue(r.json()["ok"])
            self.assertEqual(self.state(n), before, "trial %d" % i)
            self.assertFalse(os.path.exists(os.path.join(n.home, "keyslots.json.next")))
            rotated += slot_of(n.home, "alice") != wrapped
        print("rekey %.2f s; %d trials: %d killed mid-way, %d ended with the new key"
              % (full, trials, killed, rotated))
        self.assertGreaterEqual(killed, trials // 3, "the kills must land while rekey runs")
        self.assertEqual(n.ok("--json", "audit", "verify").json()["status"], "ok")
        n.ok("evidence", "verify", cid)

    def test_server_rekey(self):
        hq = hqtest.Server(self.tmp)
        hq.init()
        hq.ok("office", "add", "ELP", "--name", "El Paso")
        before = hq.ok("--json", "office", "list").json()
        hqtest.start_server(hq)
        try:  # refused while the server has the store open
            self.assertFails(hq.run("rekey"), 1, "in use")
        finally:
            self.assertEqual(hq.stop(), 0)
        r = hq.ok("--json", "rekey").json()
        self.assertEqual((r["rekeyed"], r["rewrapped"], r["removed"]), (True, 1, 0))
        r = hq.ok("--json", "rekey", "--remove-other-slots").json()  # none to remove here
        self.assertEqual((r["rewrapped"], r["removed"]), (1, 0))
        self.assertEqual(hq.ok("--json", "office", "list").json(), before)
        self.assertTrue(hq.ok("--json", "check").json()["ok"])
        hqtest.start_server(hq)
        self.assertEqual(hq.tls_get("/v1/ca")[0], 200)
        self.assertEqual(hq.stop(), 0)


if __name__ == "__main__":
    import unittest
    unittest.main()
