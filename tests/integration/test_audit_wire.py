"""The audit upload's compressed body (shared/audit/wire.h) as HQ takes it: an agent's sync sends
it and HQ keeps the entries; a body that is not such a stream, or one that would inflate past
the bound, is refused with 400 and the reason, nothing is stored, and HQ goes on serving."""
import json
import os
import socket
import ssl
import unittest
import zlib

import fstest
import hqtest

WIRE_TYPE = b"application/vnd.fieldsync.audit+zlib"


class AuditWire(fstest.NodeTest):
    def setUp(self):
        super().setUp()
        self.fleet = hqtest.Fleet(self.tmp)
        self.hq = self.fleet.hq
        self.a = self.fleet.device("a", "ELP")

    def tearDown(self):
        rc = self.hq.stop()
        super().tearDown()
        self.assertEqual(rc, 0, "server did not shut down cleanly")

    def post(self, cert, key, body):
        """POST body to /v1/audit/upload as the compressed type; (status, json answer)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(cert, key)
        answer = b""
        with socket.create_connection(("127.0.0.1", self.hq.port), timeout=30) as raw:
            with ctx.wrap_socket(raw) as s:
                s.sendall(b"POST /v1/audit/upload HTTP/1.1\r\nHost: hq\r\nConnection: close\r\n"
                          b"Content-Type: " + WIRE_TYPE + b"\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(body) + body)
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
        head, _, payload = answer.partition(b"\r\n\r\n")
        return int(head.split(b" ")[1]), json.loads(payload)

    def held_entries(self, device):
        rows = self.hq.ok("--json", "audit", "query", "--device", device).json()
        return len(rows.get("entries", rows)) if isinstance(rows, dict) else len(rows)

    def test_sync_uploads_compressed_and_bad_bodies_are_refused(self):
        dev_a = self.a.ok("--json", "status").json()["device"]
        self.a.ok("sync")
        held = self.held_entries(dev_a)
        self.assertGreater(held, 0)  # the agent's compressed upload was taken

        status, _, cert, key = hqtest.enroll_direct(self.hq, self.tmp, self.fleet.token("ELP"),
                                                    "ELP", "e" * 32)
        self.assertEqual(status, 200)
        held_e = self.held_entries("e" * 32)  # HQ's own entries of its enrollment
        for body, reason in (
                (b'{"from":0,"size":1}', "not a valid zlib stream"),
                (zlib.compress(b'{"from":0,"size":1}')[:-3], "truncated"),
                (zlib.compress(b"{}") + b"x", "bytes after"),
                (zlib.compress(bytes(49 * 1024 * 1024), 9), "inflates past")):
            code, doc = self.post(cert, key, body)
            self.assertEqual(code, 400, (reason, doc))
            self.assertIn(reason, doc["error"])
        self.assertEqual(self.held_entries("e" * 32), held_e)
        self.assertEqual(self.held_entries(dev_a), held)
        r = self.a.ok("--json", "sync").json()  # the server still serves
        self.assertEqual(r["refused"], [], r)


if __name__ == "__main__":
    unittest.main()
