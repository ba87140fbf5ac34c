"""The server's address (issue 15, part 8): init with port 0 keeps a real port across restarts,
enrollment tokens carry the advertised URL, and `fieldsync-agent server set` re-points a device
only at a server of its pinned CA."""
import base64
import os

import fstest
import hqtest


def token_url(token):
    """The advertised URL a token carries (its fifth part, base64url), or None."""
    parts = token.split(".")
    if len(parts) < 5:
        return None
    return base64.urlsafe_b64decode(parts[4] + "=" * (-len(parts[4]) % 4)).decode()


class ServerAddress(fstest.NodeTest):
    def setUp(self):
        super().setUp()
        self.hq = hqtest.Server(self.tmp)
        self.others = []

    def tearDown(self):
        for s in [self.hq] + self.others:
            s.stop()
        super().tearDown()

    def test_port_zero_is_kept_and_advertised(self):
        self.info = self.hq.init()
        host, port = self.info["listen"].rsplit(":", 1)
        self.assertEqual(host, "127.0.0.1")
        self.assertNotEqual(int(port), 0, self.info)
        self.assertEqual(self.info["advertise"], "https://127.0.0.1:%s" % port)
        hqtest.start_server(self.hq, port=None)  # the stored address, no --listen
        self.assertEqual(self.hq.port, int(port))
        r = self.hq.ok("--json", "office", "add", "ELP", "--name", "El Paso").json()
        self.assertEqual(r["server"], self.info["advertise"])
        self.assertEqual(token_url(r["token"]), self.info["advertise"])
        a = self.node("a")
        a.init()
        # no --server: the token says where HQ is
        e = a.ok("--json", "enroll", "--token", r["token"]).json()
        self.assertEqual(e["server"], self.info["advertise"])
        cid = a.new_case("Bribery at the port", "bribery")
        a.ok("sync")
        for status in ("open", "investigation"):  # restarted servers come up where the
            self.assertEqual(self.hq.stop(), 0)   # devices look for them
            hqtest.start_server(self.hq, port=None)
            self.assertEqual(self.hq.port, int(port))
            a.ok("case", "edit", cid, "--set", "status=" + status)
            a.ok("sync")
            self.assertEqual(self.hq.ok("--json", "case", "show", cid).json()["fields"]
                             ["status"], status)
        self.assertEqual(a.ok("server", "show").out.strip(), self.info["advertise"])

    def test_advertise_option(self):
        other = hqtest.Server(os.path.join(self.tmp, "adv"))
        os.makedirs(os.path.join(self.tmp, "adv"))
        info = other.ok("--json", "init", "--org", "X", "--listen", "127.0.0.1:0",
                        "--advertise", "https://hq.example.org:9443").json()
        self.assertEqual(info["advertise"], "https://hq.example.org:9443")
        r = other.ok("--json", "office", "add", "ELP", "--name", "El Paso").json()
        self.assertEqual(token_url(r["token"]), "https://hq.example.org:9443")
        # the advertised name is in the server certificate
        san = hqtest.openssl("x509", "-noout", "-ext", "subjectAltName",
                             stdin=self.cert_pem(other)).decode()
        self.assertIn("DNS:hq.example.org", san)
        for bad, why in (("http://hq:1", "not an https:// URL"), ("https://hq:0", "bad port"),
                         ("https://hq:99999", "bad port")):
            d = os.path.join(self.tmp, "bad")
            r = hqtest.Server(d).run("init", "--org", "X", "--advertise", bad)
            self.assertFails(r, 1, "--advertise", why)
            self.assertFalse(os.path.exists(d), "nothing is created for a bad --advertise")
        r = hqtest.Server(os.path.join(self.tmp, "any")).run(
            "init", "--org", "X", "--listen", "0.0.0.0:8443")
        self.assertFails(r, 1, "--advertise")

    def cert_pem(self, server):
        hqtest.start_server(server)
        try:
            out = hqtest.openssl("s_client", "-connect", "127.0.0.1:%d" % server.port,
                                 stdin=b"")
        finally:
            server.stop()
        begin = out.index(b"-----BEGIN CERTIFICATE-----")
        end = out.index(b"-----END CERTIFICATE-----") + len(b"-----END CERTIFICATE-----")
        return out[begin:end] + b"\n"

    def test_server_set_checks_the_pinned_ca(self):
        fleet = hqtest.Fleet(self.tmp, server=self.hq, start=False)
        hqtest.start_server(self.hq, port=None)
        a = fleet.device("a")
        cid = a.new_case("Bribery at the port", "bribery")
        a.ok("sync")
        before = a.ok("server", "show").out.strip()
        # another organisation's server: refused, nothing changes
        other = hqtest.Server(os.path.join(self.tmp, "other"))
        os.makedirs(os.path.join(self.tmp, "other"))
        other.init()
        other.start()
        self.others.append(other)
        r = a.run("server", "set", other.url)
        self.assertFails(r, 1, "is not this device's HQ", "pinned CA")
        self.assertEqual(a.ok("server", "show").out.strip(), before)
        self.assertFails(a.run("server", "set", "http://127.0.0.1:1"), 1, "https://")
        self.assertFails(a.run("server", "set", "https://127.0.0.1:1"), 1, "pinned CA")
        # the same HQ under another name it has a certificate for: accepted
        new = "https://localhost:%d" % self.hq.port
        self.assertEqual(a.ok("--json", "server", "set", new).json()["server"], new)
        self.assertEqual(a.ok("--json", "server", "show").json()["server"], new)
        self.assertEqual(a.ok("--json", "status").json()["server"], new)
        a.ok("case", "edit", cid, "--set", "status=open")
        a.ok("sync")
        log = [(e["action"], e["outcome"]) for e in a.audit()
               if e["action"] == "device.server"]
        self.assertEqual(log.count(("device.server", "success")), 1, log)
        self.assertGreaterEqual(len([x for x in log if x[1] != "success"]), 3, log)
        # an investigator may look but not re-point
        a.ok("user", "add", "bob", "--role", "investigator",
             extra_env={"FIELDSYNC_NEW_PASSPHRASE": fstest.PASS["bob"]})
        self.assertEqual(a.ok("server", "show", user="bob").out.strip(), new)
        self.assertFails(a.run("server", "set", before, user="bob"), 1)


if __name__ == "__main__":
    import unittest
    unittest.main()
