"""The auditor's tools around the trail (issue 17), with the real binaries on 127.0.0.1.

An exported CA certificate is all an outsider needs to check an exported trail; a trail cut
back to an earlier signed head fails against the later head the auditor kept; searches and
lists record the cases they showed; short ids work where full ones do; bad query input is
refused naming the option; log-on entries fold into the commands they opened.

One HQ with device A (El Paso, alice) and device B (San Diego, bob) serves every test.
"""
import json
import os
import shutil
import tempfile
import unittest

import fstest
import hqtest


class AuditorTools(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fieldsync-it-auditor-")
        cls.fleet = hqtest.Fleet(cls.tmp)
        cls.hq = cls.fleet.hq
        try:
            cls.a = cls.fleet.device("a", "ELP", admin="alice")
            cls.b = cls.fleet.device("b", "SDG", admin="bob")
            cls.dev_a = cls.a.ok("--json", "status").json()["device"]
            cls.dev_b = cls.b.ok("--json", "status").json()["device"]
            cls.case_a = cls.fleet.synced_case(cls.a, "Bribery at the port", "bribery")
            cls.fleet.sync(cls.b)
        except BaseException:
            cls.hq.stop()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        rc = cls.hq.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert rc == 0, "server did not shut down cleanly"

    def path(self, suffix):
        return tempfile.mktemp(dir=self.tmp, suffix=suffix)

    def export(self, device):
        path = self.path(".json")
        self.hq.ok("audit", "export", "--device", device, "--out", path)
        return path

    def outsider(self):
        """A node nobody initialised: what a third party with only files has."""
        return fstest.Node(os.path.join(self.tmp, "nobody"))

    # ---- item 3: the CA certificate, exported ------------------------------------------------

    def test_ca_export_verifies_an_export_offline(self):
        pem_hq = self.path(".pem")
        self.hq.ok("ca", "export", "--out", pem_hq)
        with open(pem_hq) as f:
            text = f.read()
        self.assertTrue(text.startswith("-----BEGIN CERTIFICATE-----\n"), text)
        self.assertTrue(text.endswith("-----END CERTIFICATE-----\n"), text)
        # the device's pinned copy is the same certificate; stdout without --out
        self.assertEqual(self.a.ok("ca", "export").out, text)
        pem_a = self.path(".pem")
        self.a.ok("ca", "export", "--out", pem_a)
        with open(pem_a) as f:
            self.assertEqual(f.read(), text)
        # an export of A's trail checks with nothing but that file
        exported = self.export(self.dev_a)
        r = self.outsider().run("--json", "audit", "verify", "--file", exported, "--ca", pem_hq)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json()["origin"], "ELP/" + self.dev_a)
        # --out never overwrites; the export is audited
        r = self.hq.run("ca", "export", "--out", pem_hq)
        self.assertEqual(r.rc, 1, r)
        self.assertIn("must not exist", r.err)
        self.assertIn("ca.export", [e["action"] for e in self.a.audit()])
        r = self.hq.run("ca", "export", "extra")
        self.assertEqual(r.rc, 2, r)


if __name__ == "__main__":
    unittest.main()
