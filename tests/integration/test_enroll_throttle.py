"""Enrollment is throttled per address and cannot flood HQ's audit trail (issue 9).

200 POST /v1/enroll with wrong tokens from 127.0.0.9, each on a new TLS connection (with
session resumption, as a scripted attacker would): the first 5 are refused as wrong (403),
every later one answers 429 with a Retry-After header, and the whole run takes well under
the 4.5 s that 200 full refusals took before.  Meanwhile a real `fieldsync-agent enroll`
from 127.0.0.1 with a good token succeeds.  Once the server has stopped, HQ's audit trail
(`audit query --json`) holds at most 10 refusals from the whole run, and the refused
attempts are folded into an entry naming 127.0.0.9 with their count.
"""
import base64
import json
import os
import re
import secrets
import ssl
import subprocess
import time
import unittest

import fstest
import hqtest

ATTEMPTS = 200
FREE = 5  # failures before the throttle
# seconds for all attempts (200 full refusals took 4.5 s before); the sanitizers double it
RUN_BOUND = 3.0 * (2 if fstest.SAMPLE else 1)
ADDRESS = "127.0.0.9"


class EnrollThrottle(fstest.NodeTest):
    def setUp(self):
        super().setUp()
        self.hq = hqtest.Server(self.tmp)
        self.hq.init()
        hqtest.start_server(self.hq, "--workers", "8")
        self.good = self.hq.token("ELP", "El Paso")
        key, csr = os.path.join(self.tmp, "x.key"), os.path.join(self.tmp, "x.csr")
        hqtest.openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-nodes", "-keyout", key, "-out", csr, "-outform", "DER", "-subj",
                       "/CN=device")
        self.csr = base64.b64encode(fstest.read_bytes(csr)).decode()

    def tearDown(self):
        self.hq.stop()
        super().tearDown()

    def wrong_secret(self):
        """A secret of the good token's form (same length and alphabet) that HQ never made."""
        good = self.good.split(".")[2]
        alphabet = sorted(set(good))
        while True:
            wrong = "".join(secrets.choice(alphabet) for _ in good)
            if wrong != good:
                return wrong

    def attempt(self, ctx, session):
        """One enrollment with a wrong token from ADDRESS: (status, headers, body, session)."""
        body = json.dumps({"token": self.wrong_secret(), "office": "ELP",
                           "device": secrets.token_hex(16), "csr": self.csr}).encode()
        c = hqtest.RawTLS(self.hq.port, ctx, source=ADDRESS)
        try:
            c.obj = ctx.wrap_bio(c.inc, c.outgoing, session=session)
            c.handshake()
            c.send(b"POST /v1/enroll HTTP/1.1\r\nHost: hq\r\nContent-Type: application/json\r\n"
                   b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
            data, how = c.read(10, until=lambda d: hqtest.parse_responses(d)[0])
            answers, rest = hqtest.parse_responses(data)
            if len(answers) != 1:
                return "no answer (%s): %r" % (how, data[:200]), {}, b"", c.obj.session
            status, headers, text = answers[0]
            return status, headers, text, c.obj.session
        finally:
            c.close()

    def test_wrong_tokens_from_one_address(self):
        before = len(self.hq.ok("--json", "audit", "query").json()["events"])
        agent = self.node("a")
        agent.init()
        ctx = hqtest.tls_context()
        answers, session = [], None
        t0 = time.monotonic()
        enroll = None
        for i in range(ATTEMPTS):
            if i == ATTEMPTS // 4:  # a real device enrolls from 127.0.0.1 meanwhile
                enroll = subprocess.Popen(
                    [fstest.AGENT, "--kdf-cost", "low", "--json", "enroll", "--server",
                     self.hq.url, "--token", self.good], env=agent.env(agent.admin),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            status, headers, body, session = self.attempt(ctx, session)
            answers.append((status, headers, body))
        took = time.monotonic() - t0
        out, err = enroll.communicate(timeout=60)
        statuses = [a[0] for a in answers]
        names = [str(s) for s in statuses]
        summary = "statuses: %s in %.2fs" % ({s: names.count(s) for s in sorted(set(names))},
                                             took)
        self.assertEqual(enroll.returncode, 0, "the agent's enrollment: %s %s" % (out, err))
        self.assertTrue(agent.ok("--json", "status").json()["enrolled"])
        self.assertEqual(statuses[:FREE], [403] * FREE, summary)
        for k, (status, headers, body) in enumerate(answers[FREE:], FREE):
            self.assertEqual(status, 429, "attempt %d: %s %r; %s" % (k + 1, status, body, summary))
            self.assertRegex(headers.get("retry-after", ""), r"^[1-9]\d*$",
                             "attempt %d: Retry-After %r" % (k + 1, headers))
        self.assertLess(took, RUN_BOUND, "%d attempts took %.2fs" % (ATTEMPTS, took))
        self.assertIsNone(self.hq.proc.poll())
        self.assertEqual(self.hq.stop(), 0)
        events = self.hq.ok("--json", "audit", "query").json()["events"][before:]
        refusals = [e for e in events if e["outcome"] != "success"]
        self.assertLessEqual(len(refusals), 10, "%d refusals in the trail: %s" %
                             (len(refusals), json.dumps(refusals[:12], indent=1)))
        throttled = ATTEMPTS - FREE
        folded = [e for e in events if ADDRESS in e["target"] + " " + e["detail"]]
        counts = [[int(x) for x in re.findall(r"\d+", (e["target"] + " " + e["detail"])
                                              .replace(ADDRESS, " "))] for e in folded]
        self.assertTrue(any(throttled in c for c in counts) or
                        sum(max(c, default=0) for c in counts) == throttled,
                        "no entry folds the %d throttled attempts from %s: %s" %
                        (throttled, ADDRESS, json.dumps(folded, indent=1)))
        print("\n%d wrong enrollments from %s in %.2fs (%s); %d audit refusals, folded: %s" %
              (ATTEMPTS, ADDRESS, took, summary, len(refusals),
               [e["detail"] for e in folded]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
