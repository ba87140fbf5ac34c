"""Forward-secure seals of device logs (docs/AUDIT.md), with the real binaries on 127.0.0.1.

A device seals its log at every command with a one-time key and wipes the key it used. An
attacker who holds an older copy of the device's directory also holds a key the device has
since used and retired. Whatever that copy signs is refused: at HQ, as a second use of a
sealing key, and by the offline verifier, which names the retired key. The attacker's copy
is kept the way an attacker would keep it, by copying the node directory, and the seals are
signed by tests/tools/forge_seal with the copy's own key.

One HQ and its devices serve every test; each test that gets a device held uses its own.
"""
import copy
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import fstest
import hqtest
import servetest

FORGE_SEAL = os.environ.get("FIELDSYNC_FORGE_SEAL") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tests", "tools", "forge_seal")


class Seals(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fieldsync-it-seals-")
        cls.fleet = hqtest.Fleet(cls.tmp)
        cls.hq = cls.fleet.hq
        try:
            cls.pem = os.path.join(cls.tmp, "ca.pem")
            cls.hq.ok("ca", "export", "--out", cls.pem)
        except BaseException:
            cls.hq.stop()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        rc = cls.hq.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert rc == 0, "server did not shut down cleanly"

    def setUp(self):
        if not os.path.exists(FORGE_SEAL):
            self.fail("no forge_seal tool at %s" % FORGE_SEAL)

    def device(self, name):
        node = self.fleet.device(name, "ELP", admin="alice")
        return node, node.ok("--json", "status").json()["device"]

    def export(self, device):
        path = tempfile.mktemp(dir=self.tmp, suffix=".json")
        self.hq.ok("audit", "export", "--device", device, "--out", path)
        with open(path) as f:
            return json.load(f)

    def verify_offline(self, doc):
        path = tempfile.mktemp(dir=self.tmp, suffix=".json")
        with open(path, "w") as f:
            json.dump(doc, f)
        nobody = fstest.Node(os.path.join(self.tmp, "nobody"))
        return nobody.run("--json", "audit", "verify", "--file", path, "--ca", self.pem)

    def copy_of(self, node, name):
        """What an attacker copies: the whole node directory, as it is now."""
        path = os.path.join(self.tmp, name)
        shutil.copytree(node.home, path)
        return fstest.Node(path, office="ELP", admin="alice")

    def forge(self, copy_node, index, size):
        proc = subprocess.run([FORGE_SEAL, str(index), str(size)],
                              env=copy_node.env(copy_node.admin), capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, "forge_seal: %s %s" % (proc.stdout, proc.stderr))
        return json.loads(proc.stdout)

    # ---- the device seals, HQ keeps the chain ------------------------------------------------

    def test_every_command_seals_and_hq_keeps_the_chain(self):
        a, dev = self.device("a")
        first = a.ok("--json", "audit", "verify").json()
        case = a.new_case("Bribery at the port", "bribery")
        a.ok("case", "show", case)
        after = a.ok("--json", "audit", "verify").json()
        # each command closed with a seal over everything it logged
        self.assertGreaterEqual(after["seals"], first["seals"] + 2, (first, after))
        a.ok("sync")
        doc = self.export(dev)
        seals = doc["seals"]
        self.assertGreater(len(seals), 2, seals)
        self.assertEqual([s["index"] for s in seals], list(range(len(seals))))
        sizes = [s["size"] for s in seals]
        self.assertEqual(sizes, sorted(set(sizes)))
        self.assertLessEqual(sizes[-1], len(doc["entries"]))
        # seal 0 carries the certificate that anchors the chain; the others a key each
        self.assertIn("cert", seals[0])
        self.assertTrue(all("cert" not in s for s in seals[1:]))
        self.assertEqual(len({s["next_key"] for s in seals}), len(seals))
        got = self.verify_offline(doc)
        self.assertEqual(got.rc, 0, got)
        # the device still verifies its own chain and the key it holds for the next seal
        self.assertEqual(a.run("audit", "verify").rc, 0)
        # a seal's head changed in the file: refused, naming the seal
        bad = copy.deepcopy(doc)
        bad["seals"][1]["root"] = "00" * 32
        got = self.verify_offline(bad)
        self.assertEqual(got.rc, 1, got)
        self.assertIn("seal 1", got.err)
        # the seals stripped from the middle: the chain breaks
        bad = copy.deepcopy(doc)
        del bad["seals"][1]
        got = self.verify_offline(bad)
        self.assertEqual(got.rc, 1, got)
        self.assertIn("seal 2 follows seal 0", got.err)

    # ---- a copy of the key material, used after the device moved on --------------------------

    def test_a_key_used_again_is_refused_at_hq(self):
        c, dev = self.device("c")
        c.new_case("Leaked informant list", "unauthorized-disclosure")
        c.ok("sync")
        stolen = self.copy_of(c, "c-copy")
        # the device goes on: the key the copy holds signs the next seal and is wiped
        c.ok("case", "list")
        c.ok("sync")
        held_before = self.export(dev)["seals"]
        # the copy signs with that key again and syncs
        r = stolen.run("sync")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("differs from the one HQ holds, though signed with sealing key", r.err)
        self.assertIn("made again from an older copy", r.err)
        alerts = [e for e in self.hq.ok("--json", "audit", "query", "--action",
                                        "security.alert").json()["events"]
                  if e["target"] == dev]
        self.assertEqual(len(alerts), 1, alerts)
        self.assertIn("sealing key", alerts[0]["detail"])
        # HQ kept the device's own chain, untouched, and it still verifies
        self.assertEqual(self.export(dev)["seals"], held_before)
        self.assertEqual(self.verify_offline(self.export(dev)).rc, 0)

    def test_a_retired_key_is_named_by_the_offline_verifier(self):
        d, dev = self.device("d")
        d.new_case("Theft of seized goods", "theft")
        d.ok("sync")
        stolen = self.copy_of(d, "d-copy")
        for _ in range(3):
            d.ok("case", "list")
        d.ok("sync")
        doc = self.export(dev)
        seals = doc["seals"]
        self.assertEqual(self.verify_offline(doc).rc, 0)

        # a new seal after the last one, signed with the copy's key: retired long ago
        forged = self.forge(stolen, seals[-1]["index"] + 1, seals[-1]["size"] + 1)
        retired = forged["key_index"]
        self.assertLess(retired, seals[-1]["index"])
        bad = copy.deepcopy(doc)
        bad["seals"].append(forged["seal"])
        got = self.verify_offline(bad)
        self.assertEqual(got.rc, 1, got)
        self.assertEqual(got.out, "")
        self.assertIn("signed with sealing key %d, which was retired when it signed seal %d"
                      % (retired, retired), got.err)

        # the seal that key really signed, made again by the copy: the chain after it breaks
        forged = self.forge(stolen, retired, seals[retired]["size"])
        self.assertNotEqual(forged["seal"], seals[retired])
        bad = copy.deepcopy(doc)
        bad["seals"][retired] = forged["seal"]
        got = self.verify_offline(bad)
        self.assertEqual(got.rc, 1, got)
        self.assertIn("seal %d is not signed by the key seal %d named" % (retired + 1, retired),
                      got.err)


    def test_the_service_seals_after_its_commands_and_at_stop(self):
        """Commands through `serve` are sealed off the request's path: within the quiet time and
        the wait bound once they stop coming, and at once when the service stops."""
        node, dev = self.device("svc-seals")
        alone = {"FIELDSYNC_NO_SERVICE": "1"}

        def gap(**kw):
            v = node.ok("--json", "audit", "verify", **kw).json()
            return v["size"] - v["sealed"], v

        node.ok("case", "list", extra_env=alone)
        own, _ = gap(extra_env=alone)  # what a verify on its own adds before it reads
        log = os.path.join(self.tmp, "svc-seals.log")
        svc = servetest.Service(node, log, "--sync-every", "1h", web=False)
        svc.start()
        try:
            for _ in range(3):
                node.ok("case", "list", passphrase="")
            deadline = time.time() + 10
            while True:
                left, v = gap(passphrase="")
                if left == 0 or time.time() > deadline:
                    break
                time.sleep(0.1)
            self.assertEqual(left, 0, "entries left unsealed by the running service: %r" % v)
            for _ in range(3):
                node.ok("case", "list", passphrase="")
        finally:
            self.assertEqual(svc.stop(), 0)
        left, v = gap(extra_env=alone)
        self.assertEqual(left, own, "the service stopped without sealing: %r" % v)
        # HQ takes the service's seals like any others
        node.ok("sync", extra_env=alone)
        self.assertGreater(len(self.export(dev)["seals"]), 1)


if __name__ == "__main__":
    unittest.main()
