"""Backup and restore (issue 15, part 5): an online backup taken while a device edits and
syncs, restored into another node directory; the restored device declares the restore, HQ
holds it until an administrator releases it, and then every edit HQ holds comes back: nothing
lost, nothing silently rolled back, `check` and `audit verify` pass on both sides."""
import os
import shutil
import stat
import tarfile
import threading
import time

import fstest
import hqtest


class Backup(fstest.NodeTest):
    def setUp(self):
        super().setUp()
        self.fleet = hqtest.Fleet(self.tmp)
        self.hq = self.fleet.hq

    def tearDown(self):
        rc = self.hq.stop()
        super().tearDown()
        self.assertEqual(rc, 0, "server did not shut down cleanly")

    def notes(self, node, cid, **kw):
        return sorted(n["text"].strip() for n in node.show(cid, **kw)["notes"])

    def hq_notes(self, cid):
        doc = self.hq.ok("--json", "case", "show", cid).json()
        return sorted(n["text"].strip() for n in doc["notes"])

    def test_backup_under_sync_load_restore_release(self):
        a = self.fleet.device("a")
        cids = [a.new_case("Case %d" % i, "bribery") for i in range(3)]
        a.ok("sync")
        edits = fstest.trials(24, 120, 10)
        done, intervals, errors = [], [], []
        stop = threading.Event()

        def load():
            try:
                for i in range(edits):
                    cid = cids[i % len(cids)]
                    a.ok("note", "add", cid, "--text", "edit %d" % i)
                    a.ok("case", "edit", cid, "--set", "priority=%d" % (1 + (i // 3) % 4))
                    done.append((cid, "edit %d" % i))
                    t0 = time.monotonic()
                    a.ok("sync")
                    intervals.append((t0, time.monotonic()))
                    if stop.is_set():
                        break
            except Exception as e:  # reported by the main thread
                errors.append(e)

        worker = threading.Thread(target=load)
        worker.start()
        # back up while the worker edits and syncs, again and again; the test keeps the first
        # backup whose run overlapped one of the worker's syncs
        taken = []
        try:
            while worker.is_alive() and len(taken) < 40:
                out = os.path.join(self.tmp, "a-%d.backup" % len(taken))
                t0 = time.monotonic()
                r = a.ok("--json", "backup", "--out", out).json()
                taken.append((t0, time.monotonic(), out, r))
                self.assertTrue(r["check"]["ok"])
                time.sleep(0.1)
        finally:
            stop.set()
            worker.join()
        self.assertEqual(errors, [])
        during = [(out, r) for t0, t1, out, r in taken
                  if any(s < t1 and e > t0 for s, e in intervals)]
        self.assertTrue(during, "no backup overlapped a sync")
        backup, taken_at = during[0][0], during[0][1]["taken_at"]
        a.ok("sync")

        # the file: 0600, a tar of the key slots and the encrypted database, no case text
        self.assertEqual(stat.S_IMODE(os.stat(backup).st_mode), 0o600)
        with tarfile.open(backup) as t:
            self.assertEqual(t.getnames(),
                             ["keyslots.json", "fieldsync.db", "fieldsync-evidence.db"])
        self.assertNotIn(b"Case 1", fstest.read_bytes(backup))
        self.assertNotIn(b"edit 1", fstest.read_bytes(backup))
        self.assertFalse([f for f in os.listdir(self.tmp) if ".tmp" in f])

        # restore: only into an empty directory
        busy = self.node("busy")
        busy.init()
        self.assertFails(a.run("restore", backup, "--node", busy.home), 1, "not empty")
        r = self.node("r", office="ELP")
        self.assertFails(r.run("restore", backup, "--node", r.home, passphrase="wrong one 123"),
                         1, "wrong passphrase")
        self.assertFalse(os.path.exists(r.home), "a failed restore leaves nothing")
        out = r.ok("--json", "restore", backup, "--node", r.home).json()
        self.assertEqual(out["taken_at"], taken_at)
        self.assertTrue(out["declare_to_hq"])
        dev = r.ok("--json", "status").json()["device"]
        self.assertEqual(dev, a.ok("--json", "status").json()["device"])
        # the copy lacks what the worker did after it (else there is nothing to bring back)
        self.assertLess(sum(len(self.notes(r, cid)) for cid in cids), len(done))

        # the restored device declares the restore; HQ holds it (no tampering alert)
        s = r.run("sync")
        self.assertEqual(s.rc, 1, s)
        self.assertTrue(s.err.startswith("sync: declared to HQ that this device was restored "
                                         "from a backup of " + taken_at), s)
        self.assertIn("fieldsync-agent: error: ", s.err)
        self.assertIn("held: restored from a backup of " + taken_at, s.err)
        self.assertIn("device release " + r.ok("--json", "status").json()["device"], s.err)
        self.assertFails(r.run("sync"), 1, "restored from a backup of " + taken_at)
        hq_log = self.hq.ok("--json", "audit", "log").json()["entries"]
        declared = [e for e in hq_log if e["action"] == "device.restored"]
        self.assertEqual(len(declared), 1, declared)
        self.assertEqual(declared[0]["target"], dev)
        self.assertIn(taken_at, declared[0]["detail"])
        self.assertFalse([e for e in hq_log if e["action"] == "security.alert"], hq_log)
        self.assertIn("event=device.restored", self.hq.read_log())

        # released: every edit HQ holds comes back; the restored device's own log is on record
        self.hq.ok("device", "release", dev)
        r.ok("sync")
        for cid in cids:
            want = sorted(t for c, t in done if c == cid)
            self.assertEqual(self.notes(r, cid), want)
            self.assertEqual(self.notes(a, cid), want)
            hq_notes = sorted(n["text"].strip() for n in
                              self.hq.ok("--json", "case", "show", cid).json()["notes"])
            self.assertEqual(hq_notes, want)
            self.assertEqual(r.show(cid)["fields"], a.show(cid)["fields"])
            self.assertEqual(r.show(cid)["head"], a.show(cid)["head"])
        # and it works on: an edit on the restored device reaches HQ
        r.ok("note", "add", cids[0], "--text", "after the restore")
        r.ok("sync")
        self.assertIn("after the restore",
                      [n["text"].strip() for n in self.hq.ok("--json", "case", "show",
                                                     cids[0]).json()["notes"]])
        # check and audit verify on both sides; HQ keeps both epochs of the device's trail
        r.ok("check")
        self.assertEqual(r.ok("--json", "audit", "verify").json()["status"], "ok")
        self.hq.ok("check")
        devices = self.hq.ok("--json", "audit", "verify").json()["devices"]
        mine = [(d["epoch"], d["status"]) for d in devices if d["device"] == dev]
        self.assertEqual(mine, [(0, "ok"), (1, "ok")], devices)
        log = r.audit()
        self.assertIn("node.restore", [e["action"] for e in log])
        self.assertIn("device.restore.declared", [e["action"] for e in log])
        self.assertIn("node.backup", [e["action"] for e in a.audit()])

    def test_evidence_comes_back_from_a_backup(self):
        """The evidence database is a member of the backup: a restored device gives every
        item back bit for bit, its chunks re-hashed by check and verify, no byte in clear."""
        a = self.fleet.device("a")
        cid = a.new_case("Seized ledger", "theft")
        marker = b"LEDGER-MARKER-5e1d-must-not-leak"
        src = os.path.join(self.tmp, "ledger.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(1024 * 1024 + 77) + marker + os.urandom(2 * 1024 * 1024))
        item = a.ok("evidence", "add", cid, src, "--description", "the ledger").out.split()[0]
        out = os.path.join(self.tmp, "ev.backup")
        r = a.ok("--json", "backup", "--out", out).json()
        self.assertTrue(r["check"]["ok"])
        self.assertNotIn(marker, fstest.read_bytes(out))
        with tarfile.open(out) as t:
            self.assertIn("fieldsync-evidence.db", t.getnames())
        restored = self.node("ev", office="ELP")
        restored.ok("restore", out, "--node", restored.home)
        restored.ok("check")
        restored.ok("evidence", "verify", cid, item)
        got = os.path.join(self.tmp, "ledger.copy")
        restored.ok("evidence", "get", cid, item, "--out", got)
        self.assertEqual(fstest.read_bytes(got), fstest.read_bytes(src))
        for name in os.listdir(restored.home):
            self.assertNotIn(marker, fstest.read_bytes(os.path.join(restored.home, name)), name)
        # the same backup without its evidence database: refused by name, nothing left behind
        cut = os.path.join(self.tmp, "cut.backup")
        record, tarfile.RECORDSIZE = tarfile.RECORDSIZE, 512  # no padding past the end blocks
        try:
            with tarfile.open(out) as t, tarfile.open(cut, "w", format=tarfile.USTAR_FORMAT) as o:
                for m in t.getmembers():
                    if m.name != "fieldsync-evidence.db":
                        o.addfile(m, t.extractfile(m))
        finally:
            tarfile.RECORDSIZE = record
        lacking = self.node("lacking", office="ELP")
        self.assertFails(lacking.run("restore", cut, "--node", lacking.home), 1,
                         "the evidence database", "is missing")
        self.assertFalse(os.path.exists(lacking.home), "a failed restore leaves nothing")

    def test_server_backup_restore_run(self):
        a = self.fleet.device("a")
        cid = a.new_case("Bribery at the port", "bribery")
        a.ok("sync")
        out = os.path.join(self.tmp, "hq.backup")
        r = self.hq.ok("--json", "backup", "--out", out).json()  # while it runs
        self.assertTrue(r["check"]["ok"])
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o600)
        self.assertNotIn(b"Bribery", fstest.read_bytes(out))
        hq2 = hqtest.Server(os.path.join(self.tmp, "hq2"))
        # the key file of the server backed up opens the copy; without it nothing does
        hq2.home = os.path.join(self.tmp, "two", "hq")
        os.makedirs(os.path.dirname(hq2.home))
        hq2.keyfile = hq2.home + ".key"
        hq2.log = os.path.join(self.tmp, "hq2.log")
        self.assertFails(hq2.run("restore", out, "--node", hq2.home), 1, "key file")
        self.assertFalse(os.path.exists(hq2.home))
        restored = hq2.ok("--json", "--key-file", self.hq.keyfile, "restore", out, "--node",
                          hq2.home).json()
        self.assertEqual(restored["taken_at"], r["taken_at"])
        self.assertFalse(restored["declare_to_hq"])
        shutil.copy(self.hq.keyfile, hq2.keyfile)
        os.chmod(hq2.keyfile, 0o600)
        hqtest.start_server(hq2)
        try:
            self.assertEqual(hq2.tls_get("/v1/ca"), self.hq.tls_get("/v1/ca"))
            ids = [c["id"] for c in hq2.ok("--json", "case", "list").json()["cases"]]
            self.assertEqual(ids, [cid])
            self.assertTrue(hq2.ok("--json", "check").json()["ok"])
            self.assertEqual(hq2.ok("--json", "audit", "verify").json()["devices"][0]["status"],
                             "ok")
        finally:
            self.assertEqual(hq2.stop(), 0)

    def test_hq_restored_gets_back_what_devices_hold(self):
        """HQ restored from a backup older than what it acknowledged: the devices that
        synced since learn it from the store's new generation and offer everything again,
        so every edit, case and evidence item comes back; their trails are re-sent whole."""
        a = self.fleet.device("a")
        b = self.fleet.device("b")
        cid = self.fleet.synced_case(a, "Before the backup", to=(b,))
        backup = os.path.join(self.tmp, "hq.backup")
        self.hq.ok("backup", "--out", backup)
        # after the backup: a writes, b pulls a's note and writes its own, new case, evidence
        a.ok("note", "add", cid, "--text", "a after the backup")
        a.ok("sync")
        b.ok("sync")
        b.ok("note", "add", cid, "--text", "b after the backup")
        later = b.new_case("Opened after the backup")
        photo = os.path.join(self.tmp, "photo.bin")
        with open(photo, "wb") as f:
            f.write(os.urandom(3 << 20))
        b.ok("evidence", "add", later, photo, "--description", "a photo")
        b.ok("sync")
        acked = self.hq_notes(cid)
        self.assertEqual(len(acked), 2)

        port = self.hq.port
        self.assertEqual(self.hq.stop(), 0)
        shutil.move(self.hq.home, self.hq.home + ".lost")
        self.hq.ok("--key-file", self.hq.keyfile, "restore", backup, "--node", self.hq.home)
        hqtest.start_server(self.hq, port=port)
        self.assertEqual([c["id"] for c in self.hq.ok("--json", "case", "list").json()["cases"]],
                         [cid])
        self.assertEqual(self.hq_notes(cid), [])
        # HQ's first new case after the restore gets a change number the devices passed
        # long ago: they must read the feed from the start again to see it
        intake = self.hq.ok("--json", "intake", "new", "--category", "theft", "--summary",
                            "Reported after the restore", "--office", "ELP").json()["id"]

        # b first: its head holds a's note, which only a may push again; b's new case lands
        r = b.run("sync")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("HQ was restored from a backup", r.err)
        self.assertIn("pushed 1 case", r.out)  # the new one
        self.assertIn("is attributed to device", r.err)  # a's note: a's to push
        a.ok("sync")
        b.ok("sync")  # the case whose push waited for a's commits
        self.assertEqual(self.hq_notes(cid), acked)
        ids = sorted(c["id"] for c in self.hq.ok("--json", "case", "list").json()["cases"])
        self.assertEqual(ids, sorted([cid, later, intake]))
        for n in (a, b):
            self.assertIn(intake, [c["id"] for c in n.ok("--json", "case", "list").json()["cases"]])
        self.assertIn("3145728", self.hq.ok("evidence", "list", later).out)
        self.hq.ok("evidence", "verify", later)
        a.ok("sync")  # b's note, pushed after a's last sync
        for n in (a, b):
            self.assertEqual(self.notes(n, cid), acked)
            restored = [e for e in n.audit() if e["action"] == "sync.hq.restored"]
            self.assertEqual(len(restored), 1)
            # nothing is offered twice: the next sync is a no-op
            self.assertIn("pushed 0 cases", n.ok("sync").out)
            n.ok("check")
            n.ok("audit", "verify")
        self.hq.ok("check")
        self.hq.ok("audit", "verify")
        # a third device of the office gets everything, the evidence bit for bit
        c = self.fleet.device("c")
        c.ok("sync")
        got = os.path.join(self.tmp, "got.bin")
        item = c.ok("--json", "evidence", "list", later).json()["items"][0]["id"]
        c.ok("evidence", "get", later, item, "--out", got)
        self.assertEqual(fstest.read_bytes(got), fstest.read_bytes(photo))

    def test_bad_backup_files(self):
        a = self.fleet.device("a")
        out = os.path.join(self.tmp, "a.backup")
        a.ok("backup", "--out", out)
        data = fstest.read_bytes(out)
        cases = {"empty": b"", "not a tar": b"x" * 4096, "cut short": data[:len(data) // 2],
                 "trailing": data + b"\x01" * 512}
        for name, body in cases.items():
            p = os.path.join(self.tmp, name.replace(" ", "_"))
            with open(p, "wb") as f:
                f.write(body)
            d = os.path.join(self.tmp, "r_" + name.replace(" ", "_"))
            r = a.run("restore", p, "--node", d)
            self.assertFails(r, 1, "fieldsync backup" if name != "cut short" else "cut short")
            self.assertFalse(os.path.exists(d), name)
        self.assertFails(a.run("restore", os.path.join(self.tmp, "nope"), "--node",
                               os.path.join(self.tmp, "r")), 1, "cannot open")
        self.assertEqual(a.run("backup").rc, 2)
        # only an admin backs up
        a.ok("user", "add", "bob", "--role", "investigator",
             extra_env={"FIELDSYNC_NEW_PASSPHRASE": fstest.PASS["bob"]})
        self.assertFails(a.run("backup", "--out", out + "2", user="bob"), 1)
        self.assertFalse(os.path.exists(out + "2"))


if __name__ == "__main__":
    import unittest
    unittest.main()
