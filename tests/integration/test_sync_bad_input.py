"""Bad change sets pushed to HQ by an enrolled device: each is refused with a reason, nothing
of it is stored, and HQ's audit log records the refusal (DESIGN.md sections 4 and 9).

The change sets are made by tests/tools/forge (FIELDSYNC_FORGE), which opens an agent node,
signs with its device key and posts to /v1/sync/push over the device's mutual-TLS channel.
"""
import json
import os
import socket
import ssl
import subprocess
import unittest

import fstest
import hqtest

FORGE = os.environ.get("FIELDSYNC_FORGE") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tests", "tools", "forge")


class BadPush(fstest.NodeTest):
    def setUp(self):
        super().setUp()
        if not os.path.exists(FORGE):
            self.fail("no forge tool at %s (build with -DFIELDSYNC_TESTS=ON)" % FORGE)
        self.fleet = hqtest.Fleet(self.tmp)
        self.hq = self.fleet.hq
        self.a = self.fleet.device("a", "ELP")
        self.b = self.fleet.device("b", "ELP")
        self.s = self.fleet.device("s", "SDG")
        self.elp_case = self.fleet.synced_case(self.a, "Bribery at the port of entry", "bribery")
        self.sdg_case = self.fleet.synced_case(self.s, "Theft of seized goods", "theft",
                                               to=(self.b,))
        self.dev_a = self.a.ok("--json", "status").json()["device"]
        self.dev_b = self.b.ok("--json", "status").json()["device"]
        self.before = self.hq_state()
        self.a_before = self.a.case_state()

    def tearDown(self):
        rc = self.hq.stop()
        super().tearDown()
        self.assertEqual(rc, 0, "server did not shut down cleanly")

    def forge(self, *args, node=None):
        n = node or self.a
        proc = subprocess.run([FORGE] + list(args), env=n.env(n.admin), capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, "forge %s: %s %s" % (args, proc.stdout, proc.stderr))
        return json.loads(proc.stdout)

    def hq_state(self):
        ids = [c["id"] for c in self.hq.ok("--json", "case", "list").json()["cases"]]
        return {i: (self.hq.ok("--json", "case", "show", i).json(),
                    self.hq.ok("--json", "case", "history", i).json()) for i in ids}

    def hq_audit(self):
        return self.hq.ok("--json", "audit", "log").json()["entries"]

    def assertNothingStored(self, doc):
        """HQ as before the push; the forged case unknown there; no device sees a change."""
        self.assertEqual(self.hq_state(), self.before)
        if doc["case"] not in self.before:
            r = self.hq.run("case", "show", doc["case"])
            self.assertFails(r, 1, doc["case"])
        # the changes feed did not move: an up-to-date device pulls nothing
        r = self.b.run("--json", "sync")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual((r.json()["pulled"], r.json()["pushed"]), (0, 0), r)
        # and the forging device's own store holds no trace of the forged objects
        self.assertEqual(self.a.case_state(), self.a_before)

    def assertRequestRefused(self, doc, status, reason):
        """The whole change set refused; the reason in the answer and in HQ's audit log."""
        self.assertEqual(doc["status"], status, doc)
        self.assertIn(reason, doc["body"]["error"], doc)
        failures = [e for e in self.hq_audit() if e["action"] == "sync.push" and
                    e["target"] == self.dev_a and e["outcome"] != "success"]
        self.assertEqual(len(failures), 1, failures)
        self.assertIn(reason, failures[0]["detail"])
        self.assertNothingStored(doc)

    def assertCaseRefused(self, doc, reason):
        """The change set taken, its one case refused with a reason naming it; audited."""
        self.assertEqual(doc["status"], 200, doc)
        body = doc["body"]
        self.assertEqual((body["accepted"], body["refused"]), (0, 1), body)
        case = body["cases"][0]
        self.assertEqual((case["id"], case["status"]), (doc["case"], "refused"), body)
        self.assertIn(reason, case["reason"])
        refusals = [e for e in self.hq_audit() if e["action"] == "sync.refused"]
        self.assertEqual([(e["target"], e["outcome"]) for e in refusals],
                         [(doc["case"], "denied")], refusals)
        self.assertIn(reason, refusals[0]["detail"])
        pushes = [e for e in self.hq_audit() if e["action"] == "sync.push" and
                  e["target"] == self.dev_a and "1 refused" in e["detail"]]
        self.assertEqual(len(pushes), 1, pushes)
        self.assertNothingStored(doc)

    # ---- the whole change set is refused -----------------------------------------------------

    def test_control_valid_change_set_is_stored(self):
        """The forge's control: the same path with nothing wrong is accepted and stored."""
        doc = self.forge("valid")
        self.assertEqual(doc["status"], 200, doc)
        self.assertEqual((doc["body"]["accepted"], doc["body"]["refused"]), (1, 0), doc)
        self.assertEqual(self.hq.ok("--json", "case", "show", doc["case"]).json()["head"],
                         doc["head"])
        r = self.b.ok("--json", "sync").json()
        self.assertEqual(r["pulled"], 1, r)

    def test_wrong_object_hash(self):
        doc = self.forge("wrong-hash")
        self.assertRequestRefused(doc, 400, "does not hash to its id")

    def test_oversized_object(self):
        doc = self.forge("oversized")
        self.assertRequestRefused(doc, 413, "is larger than")

    def test_truncated_change_set(self):
        doc = self.forge("truncated")
        self.assertRequestRefused(doc, 400, "truncated")

    def test_signature_that_does_not_match(self):
        doc = self.forge("bad-signature")
        self.assertRequestRefused(doc, 403, "signature does not match the device key")

    def test_header_naming_another_device(self):
        doc = self.forge("other-sender", self.dev_b)
        self.assertRequestRefused(doc, 403, "names device %s" % self.dev_b)

    # ---- one case of the change set is refused ------------------------------------------------

    def test_commit_attributed_to_another_device(self):
        doc = self.forge("forged-device", self.dev_b)
        self.assertCaseRefused(doc, "attributed to device '%s'" % self.dev_b)

    def test_tree_outside_the_schema(self):
        doc = self.forge("bad-schema")
        self.assertCaseRefused(doc, "'bogus' is not a valid status")

    def test_commit_for_another_offices_case(self):
        doc = self.forge("other-office", self.sdg_case)
        self.assertEqual(doc["case"], self.sdg_case)
        self.assertCaseRefused(doc, "is not a case office ELP may write")
        self.assertNotIn("belongs", doc["body"]["cases"][0]["reason"], doc)
        # SDG's own next sync sees nothing new either
        r = self.s.ok("--json", "sync").json()
        self.assertEqual(r["pulled"], 0, r)

    def test_new_case_claiming_another_office(self):
        doc = self.forge("other-office")
        self.assertTrue(doc["case"].startswith("SDG-"), doc)
        # the same words as for an existing case of another office: existence is not told
        self.assertCaseRefused(doc, "case '%s' is not a case office ELP may write" % doc["case"])

    def edited_case(self):
        """The ELP case with two notes, synced: the base of the forged edits below."""
        for text in ("Interview with the complainant.", "Interview with the officer."):
            self.a.ok("note", "add", self.elp_case, "--text", text)
        self.assertEqual(self.a.run("sync").rc, 0)
        self.assertEqual(self.b.run("sync").rc, 0)
        self.before = self.hq_state()
        self.a_before = self.a.case_state()
        return self.elp_case

    def test_office_moving_a_case_itself(self):
        doc = self.forge("transfer", self.edited_case())
        self.assertCaseRefused(doc, "only HQ can transfer")

    def test_rewritten_note(self):
        doc = self.forge("rewrite-note", self.edited_case())
        self.assertCaseRefused(doc, "notes are append-only")

    def test_deleted_note(self):
        doc = self.forge("delete-note", self.edited_case())
        self.assertCaseRefused(doc, "notes are append-only")

    def test_deleted_required_field(self):
        doc = self.forge("delete-title", self.edited_case())
        self.assertCaseRefused(doc, "title")

    # ---- retries ------------------------------------------------------------------------------

    def test_replayed_bundle_returns_the_same_result_and_stores_once(self):
        saved = os.path.join(self.tmp, "bundle.bin")
        first = self.forge("valid", "--save", saved)
        self.assertEqual(first["status"], 200, first)
        stored = self.hq_state()
        again = self.forge("replay", saved)
        self.assertEqual((again["status"], again["body"]), (first["status"], first["body"]))
        self.assertEqual(self.hq_state(), stored)
        hist = self.hq.ok("--json", "case", "history", first["case"]).json()["history"]
        self.assertEqual(len(hist), 1, hist)
        self.assertEqual(self.hq_state()[first["case"]][0]["head"], first["head"])
        pushes = [e for e in self.hq_audit() if e["action"] == "sync.push" and
                  e["target"] == self.dev_a and first["body"]["bundle"] in e["detail"]]
        self.assertEqual(len(pushes), 2, pushes)
        self.assertIn("a retry", pushes[1]["detail"])
        # the device that pulls it gets it once
        r = self.b.ok("--json", "sync").json()
        self.assertEqual(r["pulled"], 1, r)
        self.assertEqual(len(self.b.ok("--json", "case", "history", first["case"]).json()
                             ["history"]), 1)

    def test_replayed_refused_bundle_stays_refused(self):
        saved = os.path.join(self.tmp, "bundle.bin")
        first = self.forge("bad-schema", "--save", saved)
        again = self.forge("replay", saved)
        self.assertEqual((again["status"], again["body"]), (first["status"], first["body"]))
        self.assertEqual(first["body"]["refused"], 1, first)
        self.assertNothingStored(first)

    def test_bundle_replayed_by_another_device_is_refused(self):
        saved = os.path.join(self.tmp, "bundle.bin")
        first = self.forge("valid", "--save", saved)
        stored = self.hq_state()
        doc = self.forge("replay", saved, node=self.b)
        self.assertEqual(doc["status"], 403, doc)
        self.assertIn("names device %s" % self.dev_a, doc["body"]["error"])
        self.assertIn("the certificate is device %s" % self.dev_b, doc["body"]["error"])
        self.assertEqual(self.hq_state(), stored)
        failures = [e for e in self.hq_audit() if e["action"] == "sync.push" and
                    e["target"] == self.dev_b and e["outcome"] != "success"]
        self.assertEqual(len(failures), 1, failures)
        self.assertEqual(first["status"], 200)

    # ---- the HTTP body itself cut short ---------------------------------------------------------

    def test_http_body_cut_short(self):
        """A push whose connection ends before Content-Length bytes came: no 200, nothing
        stored, and the server goes on serving."""
        status, _, cert, key = hqtest.enroll_direct(self.hq, self.tmp, self.hq.token("ELP"),
                                                    "ELP", "d" * 32)
        self.assertEqual(status, 200)
        saved = os.path.join(self.tmp, "bundle.bin")
        self.assertEqual(self.forge("valid", "--save", saved, "--no-post")["status"], 0)
        body = fstest.read_bytes(saved)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(cert, key)
        answer = b""
        with socket.create_connection(("127.0.0.1", self.hq.port), timeout=30) as raw:
            with ctx.wrap_socket(raw) as s:
                s.sendall(b"POST /v1/sync/push HTTP/1.1\r\nHost: hq\r\n"
                          b"Content-Type: application/octet-stream\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(body) + body[:len(body) // 2])
                s.shutdown(socket.SHUT_WR)
                try:
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        answer += chunk
                except (ssl.SSLError, ConnectionError):
                    pass
        self.assertNotIn(b" 200 ", answer.split(b"\r\n")[0], answer)
        self.assertEqual(self.hq_state(), self.before)
        r = self.a.ok("--json", "sync").json()  # the server still serves
        self.assertEqual((r["pushed"], r["pulled"], r["refused"]), (0, 0, []), r)


if __name__ == "__main__":
    unittest.main()
