"""The PKI over the years, with the real binaries on loopback: the server certificate renewed
before it expires (same key, both certificates valid meanwhile), and a CA rollover that moves
every device to the new CA before the old one retires, with nothing lost and every audit trail
still verifiable."""
import os
import ssl
import subprocess
import unittest

import fstest
import hqtest

FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def sanitized():
    """libfaketime cannot be preloaded before the AddressSanitizer runtime."""
    with open(hqtest.SERVER, "rb") as f:
        return b"__asan_init" in f.read()


def served_cert(port):
    """The server certificate HQ presents (DER), read without trusting it."""
    pem = ssl.get_server_certificate(("127.0.0.1", port))
    return ssl.PEM_cert_to_DER_cert(pem)


def openssl_text(der, *args):
    proc = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout"] + list(args),
                          input=der, capture_output=True, check=True)
    return proc.stdout.decode()


def pem_count(text):
    return text.count("-----BEGIN CERTIFICATE-----")


class PkiTest(fstest.NodeTest):
    def setUp(self):
        super().setUp()
        self.fleet = hqtest.Fleet(self.tmp)
        self.hq = self.fleet.hq

    def tearDown(self):
        rc = self.hq.stop()
        super().tearDown()
        self.assertEqual(rc, 0)

    def restart(self, env=None):
        port = self.hq.port
        self.assertEqual(self.hq.stop(), 0)
        hqtest.start_server(self.hq, port=port, env=env)

    def status(self):
        return self.hq.ok("--json", "ca", "status").json()

    def hq_actions(self):
        return [(e["action"], e["outcome"], e.get("detail") or "")
                for e in self.hq.ok("--json", "audit", "log").json()["entries"]]

    def verified(self, *nodes):
        self.hq.ok("audit", "verify")
        for n in nodes:
            n.ok("audit", "verify")
            self.assertEqual(n.ok("check").rc, 0)
        self.hq.ok("check")


class ServerRenewal(PkiTest):
    def test_renewal_overlaps_and_keeps_the_key(self):
        a = self.fleet.device("a")
        self.fleet.synced_case(a, "Before the renewal")
        old = served_cert(self.hq.port)
        before = self.status()["server_cert"]
        self.assertFalse(before["renewal_due"])

        r = self.hq.ok("ca", "renew-server", "--days", "30")
        self.assertIn("restart the service", r.out)
        after = self.status()["server_cert"]
        self.assertLess(after["valid_until"], before["valid_until"])
        # the running service still serves the old certificate, and it still works
        self.assertEqual(served_cert(self.hq.port), old)
        a.new_case("During the overlap")
        a.ok("sync")

        self.restart()
        new = served_cert(self.hq.port)
        self.assertNotEqual(new, old)
        self.assertEqual(openssl_text(new, "-pubkey"), openssl_text(old, "-pubkey"))
        self.assertEqual(openssl_text(new, "-ext", "subjectAltName"),
                         openssl_text(old, "-ext", "subjectAltName"))
        a.new_case("After the renewal")
        a.ok("sync")
        self.assertEqual(len(self.hq.ok("--json", "case", "list").json()["cases"]), 3)
        self.assertIn(("pki.server.renew", "success", "renewed by an administrator; valid "
                       "until " + after["valid_until"]), self.hq_actions())
        # receipts signed before and after verify: the key is the same
        self.verified(a)

    def test_due_certificate_is_renewed_at_start(self):
        if sanitized():
            self.skipTest("the clock moved on needs libfaketime: the normal tree runs it")
        if not os.path.exists(FAKETIME):
            self.fail("libfaketime is missing (packaging/install-deps.sh installs it)")
        self.assertEqual(self.hq.stop(), 0)
        later = {"LD_PRELOAD": FAKETIME, "FAKETIME": "+600d", "DONT_FAKE_MONOTONIC": "1"}
        # 600 of its 825 days gone: in the last third
        r = self.hq.run("--json", "ca", "status")
        self.assertFalse(r.json()["server_cert"]["renewal_due"])
        before = r.json()["server_cert"]["valid_until"]
        hqtest.start_server(self.hq, port=None, env=later)
        self.assertIn("server certificate was renewed", self.hq.read_log())
        self.assertEqual(self.hq.stop(), 0)
        after = self.status()["server_cert"]["valid_until"]
        self.assertGreater(after, before)
        self.assertIn("pki.server.renew", [a for a, _, _ in self.hq_actions()])
        hqtest.start_server(self.hq, port=None)  # for tearDown

    def test_bad_input(self):
        for args in (["ca", "renew-server", "--days", "0"],
                     ["ca", "renew-server", "--days", "826"],
                     ["ca", "renew-server", "--days", "ten"],
                     ["ca", "status", "--days", "3"],
                     ["ca", "rollover", "--force"],
                     ["ca", "renew-server", "--finish"],
                     ["ca", "bogus"],
                     ["ca"]):
            r = self.hq.run(*args)
            self.assertEqual(r.rc, 2, (args, r))
        before = self.status()
        r = self.hq.run("ca", "rollover", "--finish")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("no CA rollover in progress", r.err)
        self.assertEqual(self.status(), before)
        r = self.hq.run("ca", "--help")
        self.assertEqual(r.rc, 0)
        self.assertIn("rollover", r.out)


class Rollover(PkiTest):
    def test_every_device_moves_then_the_old_ca_retires(self):
        a = self.fleet.device("a")
        b = self.fleet.device("b", office="SDG")
        first = self.fleet.synced_case(a, "Before the rollover", to=(b,))
        old_ca = self.status()["ca"]["fingerprint"]
        self.assertEqual(pem_count(a.ok("ca", "export").out), 1)

        r = self.hq.ok("--json", "ca", "rollover")
        next_ca = r.json()["next_ca"]
        self.assertNotEqual(next_ca, old_ca)
        r = self.hq.run("ca", "rollover")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("already in progress", r.err)
        st = self.status()
        self.assertEqual(st["next"]["fingerprint"], next_ca)
        self.assertEqual(st["devices"], {"active": 2, "on_next_ca": 0})
        r = self.hq.run("ca", "rollover", "--finish")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("2 of 2 devices still hold a certificate of the old CA", r.err)

        # the restarted service trusts both, names the next CA, and a sync moves a device
        self.restart()
        a.new_case("During the rollover")
        a.ok("sync")
        trust = [e for e in a.audit() if e["action"] == "pki.trust"]
        self.assertEqual([e["target"] for e in trust], [next_ca])
        renew = [e for e in a.audit() if e["action"] == "device.renew"]
        self.assertEqual(renew[-1]["detail"], "under the next CA of a rollover")
        self.assertEqual(self.status()["devices"], {"active": 2, "on_next_ca": 1})
        a.new_case("With the new certificate")
        a.ok("sync")  # the next CA's certificate is admitted
        r = self.hq.run("ca", "rollover", "--finish")
        self.assertEqual(r.rc, 1, r)
        b_id = b.ok("--json", "status").json()["device"]
        self.assertIn("1 of 2 devices", r.err)
        self.assertIn(b_id, r.err)

        b.ok("sync")
        self.assertEqual(self.status()["devices"], {"active": 2, "on_next_ca": 2})
        stale = self.fleet.token("ELP")  # pins the old CA: voided by the finish
        r = self.hq.ok("--json", "ca", "rollover", "--finish")
        self.assertEqual(r.json()["left_behind"], 0)
        self.assertEqual(r.json()["tokens_voided"], 1)
        st = self.status()
        self.assertEqual(st["ca"]["fingerprint"], next_ca)
        self.assertIsNone(st["next"])
        self.assertEqual(st["retired_cas"], 1)

        # the service now serves a server certificate of the new CA, same key
        old_served = served_cert(self.hq.port)
        self.restart()
        new_served = served_cert(self.hq.port)
        self.assertEqual(openssl_text(new_served, "-pubkey"),
                         openssl_text(old_served, "-pubkey"))
        with open(os.path.join(self.tmp, "ca.pem"), "w") as f:
            f.write(self.hq.ok("ca", "export").out.split("-----END CERTIFICATE-----")[0] +
                    "-----END CERTIFICATE-----\n")
        srv = os.path.join(self.tmp, "served.der")
        with open(srv, "wb") as f:
            f.write(new_served)
        subprocess.run(["openssl", "x509", "-inform", "DER", "-in", srv, "-out", srv + ".pem"],
                       check=True)
        subprocess.run(["openssl", "verify", "-CAfile", os.path.join(self.tmp, "ca.pem"),
                        srv + ".pem"], check=True, capture_output=True)

        for n in (a, b):
            n.new_case("After the rollover " + n.home)
            n.ok("sync")
            trust = [e for e in n.audit() if e["action"] == "pki.trust"]
            self.assertEqual(trust[-1]["detail"],
                             "the next CA is now the CA; the old one is retired")
            self.assertEqual(pem_count(n.ok("ca", "export").out), 2)
        for n in (a, b):
            n.ok("sync")  # the other's case
        # a token made before the finish is void; a new one enrolls under the new CA
        c = fstest.Node(os.path.join(self.tmp, "c"), office="ELP", admin="alice")
        c.init()
        r = c.run("enroll", "--server", self.hq.url, "--token", stale)
        self.assertEqual(r.rc, 1, r)
        c.ok("enroll", "--server", self.hq.url, "--token", self.fleet.token("ELP"))
        c.ok("sync")
        titles = {x["title"] for x in c.ok("--json", "case", "list").json()["cases"]}
        self.assertIn("Before the rollover", titles)
        self.assertEqual(len(self.hq.ok("--json", "case", "list").json()["cases"]), 5)
        self.assertTrue(first)
        # every trail verifies: old receipts and checkpoints under the retired CA included
        self.verified(a, b, c)
        # a's trail as HQ holds it, checked with the exported CAs alone
        export = os.path.join(self.tmp, "a-trail.txt")
        a_id = a.ok("--json", "status").json()["device"]
        self.hq.ok("audit", "export", "--device", a_id, "--out", export)
        bundle = os.path.join(self.tmp, "bundle.pem")
        self.hq.ok("ca", "export", "--out", bundle)
        with open(bundle) as f:
            self.assertEqual(pem_count(f.read()), 2)
        self.hq.ok("audit", "verify", "--file", export, "--ca", bundle)
        actions = self.hq_actions()
        self.assertIn(("pki.ca.rollover", "success", "begun"), actions)
        self.assertIn(("pki.ca.rollover", "success",
                       "finished; 2 of 2 devices moved, 1 tokens voided"), actions)

    def test_pki_route_checked_independently(self):
        """GET /v1/pki needs a device certificate; the cross certificate it hands out chains
        to the old CA by openssl's own check; a renewal under an unknown CA is refused."""
        import base64
        import json
        token = self.fleet.token("ELP")
        status, _, cert, key = hqtest.enroll_direct(self.hq, self.tmp, token, "ELP", "ab" * 16)
        self.assertEqual(status, 200)
        self.assertEqual(self.hq.tls_get("/v1/pki")[0], 401)
        c = hqtest.Client(self.hq, cert, key)
        code, body = c.get("/v1/pki")
        c.close()
        self.assertEqual(code, 200)
        doc = json.loads(body)
        self.assertIsNone(doc["next"])
        self.assertEqual(doc["retired"], [])
        old = os.path.join(self.tmp, "old.pem")
        with open(old, "w") as f:
            f.write(ssl.DER_cert_to_PEM_cert(base64.b64decode(doc["ca"])))

        self.hq.ok("ca", "rollover")
        self.restart()
        c = hqtest.Client(self.hq, cert, key)
        code, body = c.get("/v1/pki")
        doc = json.loads(body)
        cross = os.path.join(self.tmp, "cross.pem")
        with open(cross, "w") as f:
            f.write(ssl.DER_cert_to_PEM_cert(base64.b64decode(doc["cross"])))
        subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", old, cross],
                       check=True, capture_output=True)
        self.assertEqual(openssl_text(base64.b64decode(doc["cross"]), "-pubkey"),
                         openssl_text(base64.b64decode(doc["next"]), "-pubkey"))
        # a renewal naming a CA the service does not issue under: refused, nothing issued
        req = json.dumps({"csr": "MA==", "issuer": "00" * 32}).encode()
        c.s.sendall(b"POST /v1/renew HTTP/1.1\r\nHost: hq\r\nContent-Type: application/json"
                    b"\r\nContent-Length: %d\r\n\r\n" % len(req) + req)
        answer = c.s.recv(65536)
        c.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer)
        self.assertIn(b"does not issue under the CA", answer)
        self.assertNotIn(("device.renew", "success"),
                         [(a, o) for a, o, _ in self.hq_actions()])

    def test_forced_finish_leaves_an_unmoved_device_out(self):
        a = self.fleet.device("a")
        d = self.fleet.device("d")
        self.fleet.synced_case(a, "Shared with the office", to=(d,))
        self.hq.ok("ca", "rollover")
        self.restart()
        a.ok("sync")
        r = self.hq.run("ca", "rollover", "--finish")
        self.assertEqual(r.rc, 1, r)
        r = self.hq.ok("--json", "ca", "rollover", "--finish", "--force")
        self.assertEqual(r.json()["left_behind"], 1)
        self.restart()
        a.ok("sync")
        # d never learned the new CA: it cannot connect, and nothing of it changes
        d.new_case("Offline work of d")
        before = d.ok("--json", "case", "list").json()
        r = d.run("sync")
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("must enroll again", r.err)
        self.assertEqual(d.ok("--json", "case", "list").json(), before)
        d.ok("check")
        self.verified(a)


if __name__ == "__main__":
    unittest.main()
