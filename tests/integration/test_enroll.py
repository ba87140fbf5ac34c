"""PKI, mutual TLS and enrollment with the real server and agent on 127.0.0.1."""
import json
import os
import socket
import subprocess
import threading
import time
import unittest

import fstest
import hqtest


class Enroll(fstest.NodeTest):
    def setUp(self):
        super().setUp()
        self.hq = hqtest.Server(self.tmp)
        self.info = self.hq.init()
        self.hq.start()

    def tearDown(self):
        rc = self.hq.stop()
        super().tearDown()
        self.assertEqual(rc, 0, "server did not shut down cleanly")

    def agent(self, name="elp1", office="ELP"):
        n = self.node(name, office=office)
        n.init()
        return n

    def test_enroll_and_channel(self):
        token = self.hq.token("ELP", "El Paso field office")
        self.assertTrue(token.startswith("fse1.ELP."))
        self.assertIn(self.info["ca_fingerprint"], token)
        a = self.agent()
        r = a.ok("--json", "enroll", "--server", self.hq.url, "--token", token).json()
        self.assertEqual(r["office"], "ELP")
        st = a.ok("--json", "status").json()
        self.assertTrue(st["enrolled"])
        self.assertEqual(st["channel"], "ok", st)
        # a second device of the office with a fresh token
        b = self.agent("elp2")
        b.ok("enroll", "--server", self.hq.url, "--token", self.hq.token("ELP"))
        self.assertEqual(b.ok("--json", "status").json()["channel"], "ok")
        offices = self.hq.ok("--json", "office", "list").json()["offices"]
        self.assertEqual([(o["code"], o["devices"]) for o in offices], [("ELP", 2)])
        self.assertIn("enrolled", self.hq.read_log())

    def test_token_is_single_use(self):
        token = self.hq.token("ELP", "El Paso")
        self.agent().ok("enroll", "--server", self.hq.url, "--token", token)
        r = self.agent("elp2").run("enroll", "--server", self.hq.url, "--token", token)
        self.assertFails(r, 1, "already used")
        self.assertIn("already used", self.hq.read_log())

    def test_token_of_another_office(self):
        token = self.hq.token("ELP", "El Paso")
        self.hq.token("SDG", "San Diego")
        r = self.agent("sdg1", office="SDG").run("enroll", "--server", self.hq.url,
                                                 "--token", token)
        self.assertFails(r, 1, "token is for office 'ELP'")

    def test_server_with_another_ca_is_refused(self):
        token = self.hq.token("ELP", "El Paso")
        other = hqtest.Server(os.path.join(self.tmp, "other"))
        os.makedirs(os.path.join(self.tmp, "other"))
        other.init()
        other.start()
        try:
            r = self.agent().run("enroll", "--server", other.url, "--token", token)
            self.assertFails(r, 1, "does not match the token's fingerprint")
        finally:
            other.stop()

    def test_no_client_certificate(self):
        status, body = self.hq.tls_get("/v1/health")
        self.assertEqual(status, 401)
        self.assertIn("a client certificate is required", json.loads(body)["error"])
        self.assertIn("request.refused", self.hq.read_log())

    def test_certificate_from_another_ca(self):
        d = self.tmp
        hqtest.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-nodes", "-keyout", d + "/ca.key", "-out", d + "/ca.pem", "-subj",
                       "/CN=Rogue CA", "-days", "30")
        hqtest.openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-nodes", "-keyout", d + "/dev.key", "-out", d + "/dev.csr", "-subj",
                       "/CN=" + "a" * 32 + "/OU=ELP/O=Rogue")
        hqtest.openssl("x509", "-req", "-in", d + "/dev.csr", "-CA", d + "/ca.pem",
                       "-CAkey", d + "/ca.key", "-CAcreateserial", "-out", d + "/dev.pem",
                       "-days", "30")
        status, body = self.hq.tls_get("/v1/health", d + "/dev.pem", d + "/dev.key")
        self.assertEqual(status, 401)
        self.assertIn("not issued by this organisation's CA", json.loads(body)["error"])

    def test_revoked_device_and_office(self):
        a = self.agent()
        a.ok("enroll", "--server", self.hq.url, "--token", self.hq.token("ELP", "El Paso"))
        self.assertEqual(a.ok("--json", "status").json()["channel"], "ok")
        device = a.ok("--json", "status").json()["device"]
        self.hq.ok("device", "revoke", device)
        ch = a.ok("--json", "status").json()["channel"]
        self.assertIn("403", ch)
        self.assertIn("revoked", ch)
        b = self.agent("elp2")
        b.ok("enroll", "--server", self.hq.url, "--token", self.hq.token("ELP"))
        self.hq.ok("office", "revoke", "ELP")
        self.assertIn("revoked", b.ok("--json", "status").json()["channel"])
        self.assertFails(self.hq.run("office", "token", "ELP"), 1, "no active office 'ELP'")

    def test_old_protocols_and_non_aead_suites_refused(self):
        for proto in ("-tls1", "-tls1_1"):
            r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.hq.port,
                                proto, "-cipher", "ALL:@SECLEVEL=0"], input=b"",
                               capture_output=True, timeout=30)
            out = (r.stdout + r.stderr).decode(errors="replace")
            self.assertNotIn("Server certificate", out, proto)
            self.assertNotIn("BEGIN CERTIFICATE", out, proto)
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.hq.port,
                            "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256:@SECLEVEL=0"],
                           input=b"", capture_output=True, timeout=30)
        out = (r.stdout + r.stderr).decode(errors="replace")
        self.assertNotIn("BEGIN CERTIFICATE", out)
        # and the good suite works, as a control
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.hq.port,
                            "-tls1_2"], input=b"", capture_output=True, timeout=30)
        out = (r.stdout + r.stderr).decode(errors="replace")
        self.assertIn("BEGIN CERTIFICATE", out)
        self.assertRegex(out, r"Cipher is ECDHE-ECDSA-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)")

    def test_slow_client_dropped_while_others_served(self):
        slow = socket.create_connection(("127.0.0.1", self.hq.port))
        slow.sendall(b"\x16")  # the first byte of a ClientHello, then nothing more
        t0 = time.time()
        for _ in range(5):
            status, _ = self.hq.tls_get("/v1/health")
            self.assertEqual(status, 401)  # served (refused for lack of a certificate)
        self.assertLess(time.time() - t0, 5)
        slow.settimeout(30)
        self.assertEqual(slow.recv(100), b"")  # closed by the server at its deadline
        self.assertLess(time.time() - t0, 25)
        slow.close()

    def test_300_simultaneous_connections(self):
        results = []

        def one(i):
            try:
                # ten client addresses, 30 each: under the cap on unauthenticated
                # connections per address (32)
                src = "127.0.0.%d" % (10 + i % 10)
                results.append(self.hq.tls_get("/v1/health", timeout=60, source=src)[0])
            except (OSError, ValueError, IndexError) as e:
                results.append(repr(e))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(300)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(results), 300)
        self.assertEqual(results.count(401), 300, [r for r in results if r != 401][:5])
        status, _ = self.hq.tls_get("/v1/health")
        self.assertEqual(status, 401)  # alive afterwards

    def test_server_files_hold_no_key_in_clear(self):
        a = self.agent()
        a.ok("enroll", "--server", self.hq.url, "--token", self.hq.token("ELP", "El Paso"))
        for path in list(fstest.files_under(self.hq.home)) + list(fstest.files_under(a.home)):
            data = fstest.read_bytes(path)
            for needle in (b"PRIVATE KEY", b"SQLite format 3", b"El Paso"):
                self.assertNotIn(needle, data, path)
        self.assertEqual(os.stat(self.hq.keyfile).st_mode & 0o777, 0o600)
        self.assertFalse(self.hq.keyfile.startswith(self.hq.home + os.sep))



class EnrollEdges(fstest.NodeTest):
    """Edges that need a certificate whose key the test holds (enrolled from Python)."""

    DEVICE = "0123456789abcdef0123456789abcdef"

    def setUp(self):
        super().setUp()
        self.hq = hqtest.Server(self.tmp)
        self.hq.init()
        self.hq.start()

    def tearDown(self):
        self.hq.stop()
        super().tearDown()

    def server_audit(self):
        return self.hq.ok("--json", "audit", "log").json()["entries"]

    def test_no_field_office_may_be_called_hq(self):
        # a device of an office "HQ" would look like headquarters to the sync routes
        r = self.hq.run("office", "add", "HQ", "--name", "Not headquarters")
        self.assertFails(r, 1, "headquarters")
        self.assertEqual(self.hq.ok("--json", "office", "list").json()["offices"], [])

    def test_server_chooses_the_subject(self):
        token = self.hq.token("ELP", "El Paso")
        self.hq.token("SDG", "San Diego")
        status, doc, cert, _ = hqtest.enroll_direct(self.hq, self.tmp, token, "ELP", self.DEVICE,
                                                    subject="/CN=attacker/OU=SDG/O=Evil Org")
        self.assertEqual(status, 200, doc)
        subject = hqtest.openssl("x509", "-in", cert, "-noout", "-subject").decode()
        self.assertIn("OU = ELP", subject)
        self.assertIn("CN = " + self.DEVICE, subject)
        self.assertNotIn("SDG", subject)
        self.assertNotIn("attacker", subject)
        self.assertIn("O = Office of Professional Responsibility", subject)

    def test_token_of_office_a_into_office_b_refused_by_server(self):
        token = self.hq.token("ELP", "El Paso")
        self.hq.token("SDG", "San Diego")
        status, doc, _, _ = hqtest.enroll_direct(self.hq, self.tmp, token, "SDG", self.DEVICE)
        self.assertEqual(status, 403)
        self.assertIn("token is for office 'ELP', not 'SDG'", doc["error"])
        refused = [e for e in self.server_audit() if e["action"] == "device.enroll"]
        self.assertEqual([e["outcome"] for e in refused], ["failure"])
        # the token was not burnt by the refused attempt (one transaction, rolled back)
        status, doc, _, _ = hqtest.enroll_direct(self.hq, self.tmp, token, "ELP", self.DEVICE)
        self.assertEqual(status, 200, doc)

    def test_expired_token(self):
        self.hq.ok("office", "add", "ELP", "--name", "El Paso")
        token = self.hq.ok("--json", "office", "token", "ELP", "--expires-in", "1").json()["token"]
        time.sleep(2.2)
        status, doc, _, _ = hqtest.enroll_direct(self.hq, self.tmp, token, "ELP", self.DEVICE)
        self.assertEqual(status, 403)
        self.assertIn("expired", doc["error"])

    def test_expired_certificate(self):
        self.hq.ok("office", "add", "ELP", "--name", "El Paso")
        token = self.hq.ok("--json", "office", "token", "ELP", "--cert-validity",
                           "2").json()["token"]
        status, doc, cert, key = hqtest.enroll_direct(self.hq, self.tmp, token, "ELP",
                                                      self.DEVICE)
        self.assertEqual(status, 200, doc)
        time.sleep(3.2)
        status, body = self.hq.tls_get("/v1/health", cert, key)
        self.assertEqual(status, 401)
        self.assertIn("client certificate expired", body)
        reasons = [e["detail"] for e in self.server_audit() if e["action"] == "request.refused"]
        self.assertTrue(any("expired" in r for r in reasons), reasons)

    def test_revocation_bites_resumed_sessions_and_open_connections(self):
        token = self.hq.token("ELP", "El Paso")
        status, doc, cert, key = hqtest.enroll_direct(self.hq, self.tmp, token, "ELP",
                                                      self.DEVICE)
        self.assertEqual(status, 200, doc)
        first = hqtest.Client(self.hq, cert, key)
        self.assertEqual(first.get("/v1/health")[0], 200)
        session = first.s.session
        first.close()
        again = hqtest.Client(self.hq, cert, key, session=session, ctx=first.ctx)
        self.assertTrue(again.s.session_reused, "the server did not resume the session")
        self.assertEqual(again.get("/v1/health")[0], 200)
        open_conn = hqtest.Client(self.hq, cert, key, ctx=first.ctx)
        self.assertEqual(open_conn.get("/v1/health")[0], 200)
        self.hq.ok("device", "revoke", self.DEVICE)
        # an already open connection: the next request is refused
        status, body = open_conn.get("/v1/health")
        self.assertEqual(status, 403)
        self.assertIn("revoked", body)
        # a resumed session (which skips certificate verification) is refused too
        resumed = hqtest.Client(self.hq, cert, key, session=session, ctx=first.ctx)
        self.assertTrue(resumed.s.session_reused)
        self.assertEqual(resumed.get("/v1/health")[0], 403)
        refused = [e for e in self.server_audit() if e["action"] == "request.refused"]
        self.assertGreaterEqual(len(refused), 2)
        self.assertTrue(all(e["target"] == self.DEVICE for e in refused))


if __name__ == "__main__":
    unittest.main(verbosity=2)
