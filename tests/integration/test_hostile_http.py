"""Hostile input to the running server (issue 9): raw malformed HTTP, TLS abuse, exact routes.

  - The corpus: more than 40 malformed or hostile requests, each on a fresh TLS connection,
    once without a client certificate and once with a device certificate (enrolled from
    Python), then a dozen attacks on the TLS layer and on TCP.  For every case the answer is
    a 4xx or none at all; after an error answer the server closes the connection within a
    few seconds; after every case a device of the office writes a note and a real
    `fieldsync-agent sync` pushes it.  At the end the server is the same process and its log
    has no assertion or abort.  A case that kills the server is named, the server is started
    again on the same port and the corpus goes on, so that one run names every such case.
  - Exact routes and strict numbers: near-miss paths answer 404; every out-of-range or
    malformed number in the changes feed's query answers 400 naming the parameter.
  - No core dumps: the server while it runs, and the agent while it waits on a server that
    accepts TCP and never answers, both run with a core-file limit of 0 (soft and hard), even
    when started with cores allowed.
"""
import json
import os
import random
import resource
import socket
import ssl
import struct
import subprocess
import time
import unittest

import fstest
import hqtest

WAIT = 5.0  # seconds the server has to answer or close after a case
GOOD = b"GET /v1/ca HTTP/1.1\r\nHost: hq\r\n\r\n"
TINY = fstest.trials(2000, 2000, 200)  # pipelined GET /v1/ca in one write
DEVICE = "0123456789abcdef0123456789abcdef"


def req(first, *headers, body=b""):
    """A request from its request line, header lines and body (all bytes, CRLF joined)."""
    return first + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


def enroll_post(length, body=b""):
    return req(b"POST /v1/enroll HTTP/1.1", b"Host: hq", b"Content-Type: application/json",
               b"Content-Length: " + str(length).encode(), body=body)


def chunked(body):
    return req(b"POST /v1/enroll HTTP/1.1", b"Host: hq", b"Transfer-Encoding: chunked",
               body=body)


def over_limit(mode):
    """A body over the limit: without a certificate the enrollment limit (small) with all of
    the body sent; with one, more than any change set or upload, part of it sent."""
    if mode == "no-cert":
        return enroll_post(100000, b"x" * 100000)
    return req(b"POST /v1/sync/push HTTP/1.1", b"Host: hq",
               b"Content-Type: application/octet-stream", b"Content-Length: 83886080",
               body=b"\0" * (256 * 1024))


# name, bytes (or a function of the mode), kind:
#   "bad"     malformed: a 4xx or no answer, then closed, without the client closing first
#   "prefix"  a valid beginning the server may wait on: we half-close; a 4xx or none, closed
#   "pipe"    a good request then garbage: a 200 first, then at most one 4xx, closed
#   "nogood"  garbage then a good request: no 200 at all, at most one 4xx, closed
CORPUS = [
    ("content-length -1", enroll_post(-1, b"{}"), "bad"),
    ("content-length not a number", enroll_post("abc", b"{}"), "bad"),
    ("content-length with a plus sign", enroll_post("+2", b"{}"), "bad"),
    ("content-length of 25 digits", enroll_post("9" * 25, b"{}"), "bad"),
    ("two content-lengths that differ",
     req(b"POST /v1/enroll HTTP/1.1", b"Host: hq", b"Content-Length: 2", b"Content-Length: 3",
         body=b"{} "), "bad"),
    ("content-length with chunked",
     req(b"POST /v1/enroll HTTP/1.1", b"Host: hq", b"Content-Length: 5",
         b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"), "bad"),
    ("bad chunk size", chunked(b"zz\r\nhello\r\n0\r\n\r\n"), "bad"),
    ("chunk size overflowing 64 bits", chunked(b"1ffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
     "bad"),
    ("chunk size of 2^64-1", chunked(b"ffffffffffffffff\r\nhello\r\n0\r\n\r\n"), "bad"),
    ("chunk data without its CRLF", chunked(b"2\r\n{}XX0\r\n\r\n"), "bad"),
    ("chunked not the last transfer coding",
     req(b"POST /v1/enroll HTTP/1.1", b"Host: hq", b"Transfer-Encoding: chunked, gzip",
         body=b"0\r\n\r\n"), "bad"),
    ("invalid byte in the method", req(b"G\x01T /v1/ca HTTP/1.1", b"Host: hq"), "bad"),
    ("unknown method", req(b"BREW /v1/ca HTTP/1.1", b"Host: hq"), "bad"),
    ("method of 5000 bytes", req(b"A" * 5000 + b" /v1/ca HTTP/1.1", b"Host: hq"), "bad"),
    ("invalid byte in the URL", req(b"GET /v1/\x7fca HTTP/1.1", b"Host: hq"), "bad"),
    ("NUL in the URL", req(b"GET /v1/ca\x00 HTTP/1.1", b"Host: hq"), "bad"),
    ("URL with %00", req(b"GET /v1/ca%00 HTTP/1.1", b"Host: hq"), "bad"),
    ("URL without a leading slash", req(b"GET v1/ca HTTP/1.1", b"Host: hq"), "bad"),
    ("URL of 3 KB", req(b"GET /v1/ca?x=" + b"a" * 3072 + b" HTTP/1.1", b"Host: hq"), "bad"),
    ("absolute-form URL", req(b"GET https://hq/v1/ca HTTP/1.1", b"Host: hq"), "bad"),
    ("request line with 2 spaces", req(b"GET  /v1/ca HTTP/1.1", b"Host: hq"), "bad"),
    ("request line with a tab", req(b"GET\t/v1/ca HTTP/1.1", b"Host: hq"), "bad"),
    ("unknown HTTP version", req(b"GET /v1/ca HTTP/9.9", b"Host: hq"), "bad"),
    ("junk after the HTTP version", req(b"GET /v1/ca HTTP/1.1x", b"Host: hq"), "bad"),
    ("invalid byte in a header name", req(b"GET /v1/ca HTTP/1.1", b"Host: hq", b"X-B\x01d: 1"),
     "bad"),
    ("space before a header colon", req(b"GET /v1/ca HTTP/1.1", b"Host : hq"), "bad"),
    ("NUL in a header value", req(b"GET /v1/ca HTTP/1.1", b"Host: hq", b"X-A: a\x00b"), "bad"),
    ("header of 17 KB", req(b"GET /v1/ca HTTP/1.1", b"Host: hq", b"X-Big: " + b"a" * 17408),
     "bad"),
    ("49 headers", req(b"GET /v1/ca HTTP/1.1", b"Host: hq",
                       *[b"X-H%d: v" % i for i in range(48)]), "bad"),
    ("1000 headers", req(b"GET /v1/ca HTTP/1.1", b"Host: hq",
                         *[b"X-H%d: v" % i for i in range(1000)]), "bad"),
    ("obs-fold continuation line",
     req(b"GET /v1/ca HTTP/1.1", b"Host: hq", b"X-A: a", b" folded"), "bad"),
    ("header without a colon", req(b"GET /v1/ca HTTP/1.1", b"Host: hq", b"X-A"), "bad"),
    ("LF-only line ends", b"GET /v1/ca HTTP/1.1\nHost: hq\n\n", "bad"),
    ("CR-only line ends", b"GET /v1/ca HTTP/1.1\rHost: hq\r\r", "bad"),
    ("body over the limit", over_limit, "bad"),
    ("body of 1 GiB announced", enroll_post(1 << 30, b"{" * 1024), "bad"),
    ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "bad"),
    ("HTTP/0.9 request", b"GET /\r\n", "prefix"),
    ("bare CRLF CRLF", b"\r\n\r\n", "prefix"),
    ("request line only", b"GET\r\n\r\n", "bad"),
    ("request cut in a header, then closed",
     b"POST /v1/enroll HTTP/1.1\r\nHost: hq\r\nContent-Le", "prefix"),
    ("request cut in the body, then closed", enroll_post(100, b'{"token": "'), "prefix"),
    ("good request then garbage", GOOD + b"\x01\x02\x03 garbage \xff\r\n\r\n", "pipe"),
    ("websocket upgrade, then a frame",
     req(b"GET /v1/ca HTTP/1.1", b"Host: hq", b"Connection: Upgrade", b"Upgrade: websocket",
         b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")
     + b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", "pipe"),
    ("garbage then a good request", b"\x16\x03\x01garbage\r\n\r\n" + GOOD, "nogood"),
    ("CONNECT then a good request", req(b"CONNECT hq:443 HTTP/1.1", b"Host: hq") + GOOD,
     "nogood"),
]


def seeded(n, seed):
    return random.Random(seed).randbytes(n)


class Hostile(fstest.NodeTest):
    def setUp(self):
        super().setUp()
        self.fleet = hqtest.Fleet(self.tmp, start=False)
        self.hq = self.fleet.hq
        hqtest.start_server(self.hq, "--workers", "8")
        self.pid = self.hq.proc.pid
        self.a = self.fleet.device("a")
        self.cid = self.fleet.synced_case(self.a, "Hostile input trial", "theft")

    def tearDown(self):
        self.hq.stop()
        super().tearDown()

    def py_device(self):
        status, doc, cert, key = hqtest.enroll_direct(self.hq, self.tmp, self.hq.token("ELP"),
                                                      "ELP", DEVICE)
        self.assertEqual(status, 200, doc)
        return hqtest.tls_context(cert, key)

    def server_died(self, grace):
        """None, or how the server died (it is started again on its port then).  The abort
        may come just after the answer: a failed sync waits `grace` seconds for the exit."""
        try:
            self.hq.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        if self.hq.proc.poll() is None:
            return None
        rc = self.hq.proc.returncode
        self.hq.logf.close()
        last = self.hq.read_log().rstrip("\n").rsplit("\n", 1)[-1]
        hqtest.start_server(self.hq, "--workers", "8", port=self.hq.port)
        return "the server died (exit %s): %s" % (rc, last[-200:])

    def sync_after(self, name):
        """A device's real sync after a case: a note written, pushed, accepted."""
        self.a.ok("note", "add", self.cid, "--text", "Written after: %s." % name)
        r = self.a.run("--json", "sync", timeout=60)
        if r.rc != 0:
            return "the sync after it failed: %r" % r
        if r.json()["pushed"] != 1:
            return "the sync after it did not push the note: %s" % r.out
        return None

    # ---- the corpus -------------------------------------------------------------------

    @staticmethod
    def judge(kind, data, how):
        """None if the server's reaction to one case is right, else what is wrong."""
        answers, rest = hqtest.parse_responses(data)
        statuses = [a[0] for a in answers]
        if rest:
            return "not an HTTP answer: %r (after %s)" % (rest[:120], statuses)
        if kind == "pipe":
            if not statuses or statuses[0] != 200:
                return "the good request first was not answered 200: %s" % statuses
            statuses = statuses[1:]
        if kind == "nogood" and 200 in statuses:
            return "the request after the garbage was served: %s" % statuses
        if len(statuses) > 1:
            return "answered %s: nothing may follow an error answer" % statuses
        if statuses and not 400 <= statuses[0] < 500:
            return "answered %d (%r)" % (statuses[0], answers[0][2][:200])
        if how is None:
            return ("answered %s but did not close the connection within %.0fs" %
                    (statuses, WAIT) if statuses else
                    "neither answered nor closed the connection within %.0fs" % WAIT)
        return None

    def http_case(self, ctx, mode, payload, kind):
        if callable(payload):
            payload = payload(mode)
        c = hqtest.RawTLS(self.hq.port, ctx)
        try:
            c.handshake()
            try:
                c.send(payload)
            except OSError:
                pass  # closed while we sent: what it answered before is judged
            if kind == "prefix":
                c.half_close()
            data, how = c.read(WAIT)
        finally:
            c.close()
        return self.judge(kind, data, how)

    def tiny_case(self, ctx, mode):
        """TINY pipelined GET /v1/ca in one write (the last says close): 200s, then at most
        one 4xx ending it, then closed."""
        one = b"GET /v1/ca HTTP/1.1\r\nHost: hq\r\n\r\n"
        c = hqtest.RawTLS(self.hq.port, ctx)
        try:
            c.handshake()
            try:
                c.send(one * (TINY - 1) + b"GET /v1/ca HTTP/1.1\r\nHost: hq\r\n"
                       b"Connection: close\r\n\r\n")
            except OSError:
                pass
            data, how = c.read(60)
        finally:
            c.close()
        answers, rest = hqtest.parse_responses(data)
        statuses = [a[0] for a in answers]
        ok = len([s for s in statuses if s == 200])
        if rest:
            return "not an HTTP answer after %d: %r" % (len(statuses), rest[:120])
        if statuses[:ok] != [200] * ok or len(statuses) > ok + 1 or (
                len(statuses) == ok + 1 and not 400 <= statuses[-1] < 500):
            return "answers: %d x 200, then %s" % (ok, statuses[ok:][:5])
        if how is None:
            return "not closed within 60s after %d answers" % len(statuses)
        self.tiny_served[mode] = ok
        return None

    def expect_case(self, ctx, mode):
        """Expect: 100-continue: a 417 (or other 4xx) at once, or a 100 or nothing and then,
        once the body is sent, the final answer (a 4xx: the body is no enrollment)."""
        c = hqtest.RawTLS(self.hq.port, ctx)
        try:
            c.handshake()
            c.send(req(b"POST /v1/enroll HTTP/1.1", b"Host: hq", b"Content-Length: 2",
                       b"Content-Type: application/json", b"Expect: 100-continue",
                       b"Connection: close"))
            final = lambda d: any(a[0] >= 200 for a in hqtest.parse_responses(d)[0])
            data, how = c.read(2.0, until=final)
            if how is None and not final(data):
                c.send(b"{}")
                more, how = c.read(WAIT)
                data += more
            elif how is None:
                more, how = c.read(WAIT)
                data += more
        finally:
            c.close()
        answers, rest = hqtest.parse_responses(data)
        statuses = [a[0] for a in answers]
        final_status = [s for s in statuses if s != 100]
        if rest or statuses.count(100) > 1 or len(final_status) > 1:
            return "answers %s, then %r" % (statuses, rest[:120])
        if final_status and not 400 <= final_status[0] < 500:
            return "final answer %s (a 4xx expected: no enrollment in the body)" % statuses
        if how is None:
            return "not closed within %.0fs after %s" % (WAIT, statuses)
        return None

    def tls_cases(self):
        """(name, function returning None or what is wrong): attacks below HTTP."""
        port = self.hq.port
        hello = hqtest.client_hello()

        def raw(payload, half_close=False, linger0=False):
            s = hqtest.connect(port)
            try:
                if linger0:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return None
                if payload:
                    s.sendall(payload)
                if half_close:
                    s.shutdown(socket.SHUT_WR)
                data, how = hqtest.read_raw(s, WAIT)
            finally:
                s.close()
            return judge_raw(data, how)

        def judge_raw(data, how):
            if data and not data.startswith(b"\x15\x03"):  # nothing but a TLS alert
                answers, rest = hqtest.parse_responses(data)
                if rest or len(answers) != 1 or not 400 <= answers[0][0] < 500:
                    return "answered %r" % data[:120]
            if how is None:
                return "not closed within %.0fs" % WAIT
            return None

        def after_hello(payload):
            s = hqtest.connect(port)
            try:
                s.sendall(hello)
                first, how = hqtest.read_raw(s, 1.0)  # the server's first flight
                if not first.startswith(b"\x16\x03"):
                    return "no ServerHello: %r (%s)" % (first[:60], how)
                s.sendall(payload)
                data, how = hqtest.read_raw(s, WAIT)
            finally:
                s.close()
            return judge_raw(data, how)

        def after_handshake(payload):
            c = hqtest.RawTLS(port)
            try:
                c.handshake()
                c.sock.sendall(payload)  # not through TLS: forged records
                data, how = hqtest.read_raw(c.sock, WAIT)
            finally:
                c.close()
            return judge_raw(data, how)

        return [
            ("TCP connection closed at once", lambda: raw(None, half_close=True)),
            ("TCP connection reset at once", lambda: raw(None, linger0=True)),
            ("plain HTTP to the TLS port", lambda: raw(GOOD)),
            ("plain HTTP/2 preface to the TLS port",
             lambda: raw(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")),
            ("ClientHello truncated, then closed", lambda: raw(hello[:60], half_close=True)),
            ("record header announcing 64 KiB", lambda: raw(b"\x16\x03\x01\xff\xff" + hello[5:])),
            ("SSLv2-style hello", lambda: raw(b"\x80\x2e\x01\x00\x02" + seeded(45, 2))),
            ("random bytes instead of a ClientHello", lambda: raw(b"\x16" + seeded(400, 1))),
            ("random bytes after the ClientHello",
             lambda: after_hello(b"\x42" + seeded(500, 3))),
            ("random handshake record after the ClientHello",
             lambda: after_hello(b"\x16\x03\x03\x00\x40" + seeded(64, 4))),
            ("forged application record after the handshake",
             lambda: after_handshake(b"\x17\x03\x03\x00\x40" + seeded(64, 5))),
            ("random bytes after the handshake", lambda: after_handshake(seeded(300, 6))),
        ]

    def test_malformed_corpus(self):
        contexts = [("no-cert", hqtest.tls_context()), ("cert", self.py_device())]
        self.tiny_served = {}
        runs = []
        for mode, ctx in contexts:
            for name, payload, kind in CORPUS:
                runs.append(("%s [%s]" % (name, mode),
                             lambda m=mode, c=ctx, p=payload, k=kind: self.http_case(c, m, p, k)))
            runs.append(("%d pipelined tiny requests [%s]" % (TINY, mode),
                         lambda m=mode, c=ctx: self.tiny_case(c, m)))
            runs.append(("Expect: 100-continue [%s]" % mode,
                         lambda m=mode, c=ctx: self.expect_case(c, m)))
        runs += self.tls_cases()
        failures = []
        t0 = time.monotonic()
        for name, case in runs:
            try:
                wrong = case()
            except (OSError, ssl.SSLError) as e:
                wrong = "the connection failed: %r" % e
            after = self.sync_after(name)
            died = self.server_died(2.0 if after else 0)
            for what in (wrong, died or after):
                if what:
                    failures.append("%s: %s" % (name, what))
        took = time.monotonic() - t0
        self.assertIsNone(self.hq.proc.poll(), "the server is not running at the end")
        if self.hq.proc.pid != self.pid:
            failures.append("the server is not the process it was (it died and was restarted)")
        log = self.hq.read_log()
        for word in ("Assertion", "abort", "AddressSanitizer", "runtime error"):
            if word in log:
                failures.append("the server log has '%s'" % word)
        if failures:
            self.fail("%d of %d cases went wrong:\n  %s" %
                      (len(failures), len(runs), "\n  ".join(failures)))
        print("\n%d hostile cases (%d HTTP per mode, with and without a certificate), each "
              "followed by a sync that pushed, in %.1fs; pipelined tiny requests served: %s" %
              (len(runs), len(CORPUS) + 2, took, self.tiny_served))

    # ---- exact routes, strict numbers ---------------------------------------------------

    def test_exact_routes_and_strict_numbers(self):
        ctx = self.py_device()
        conn = [None]

        def get(path):
            """GET over keep-alive; a new connection when the server closed the last one."""
            if conn[0] is None:
                conn[0] = hqtest.RawTLS(self.hq.port, ctx).handshake()
            c = conn[0]
            c.send(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: hq\r\n\r\n")
            data, how = c.read(10, until=lambda d: hqtest.parse_responses(d)[0])
            answers, rest = hqtest.parse_responses(data)
            self.assertEqual((len(answers), rest), (1, b""), (path, data[:300], how))
            status, headers, body = answers[0]
            if how or headers.get("connection", "").lower() == "close":
                c.close()
                conn[0] = None
            return status, body

        for path in ("/v1/sync/changesXYZ", "/v1/sync/changes/../../ca", "/v1/sync/changes/",
                     "/v1/sync/changes/?since=0", "/v1/healthz", "/v1/health/", "/v1/caX",
                     "/v1/ca/", "/v1/sync/pushx", "/v1/enrollment", "//v1/health"):
            status, body = get(path)
            self.assertEqual(status, 404, (path, body))
        bad = [("since", "18446744073709551615"), ("since", "18446744073709551616"),
               ("since", "9223372036854775808"), ("since", "-1"), ("since", "abc"),
               ("since", ""), ("since", "+1"), ("since", "1e3"), ("since", "0x10"),
               ("since", "12abc"), ("limit", "4294967297"), ("limit", "4294967296"),
               ("limit", "0"), ("limit", "-1"), ("limit", "99999999999999999999"),
               ("limit", "ten"), ("limit", "")]
        for name, value in bad:
            other = "limit=10" if name == "since" else "since=0"
            for query in ("%s=%s&%s" % (name, value, other), "%s&%s=%s" % (other, name, value)):
                status, body = get("/v1/sync/changes?" + query)
                self.assertEqual(status, 400, (query, body))
                error = json.loads(body)["error"]
                self.assertIn(name, error, (query, error))
        for query in ("since=0&limit=10", "since=0", "limit=10", ""):
            status, body = get("/v1/sync/changes" + ("?" + query if query else ""))
            self.assertEqual(status, 200, (query, body))
            json.loads(body)
        self.assertEqual(get("/v1/health")[0], 200)
        if conn[0]:
            conn[0].close()
        self.assertIsNone(self.hq.proc.poll())
        self.assertEqual(self.sync_after("the route checks"), None)


class NoCoreDumps(fstest.NodeTest):
    """Both programs forbid core files for themselves, whatever limit they were started with."""

    def setUp(self):
        super().setUp()
        self.old_core = resource.getrlimit(resource.RLIMIT_CORE)
        try:
            resource.setrlimit(resource.RLIMIT_CORE,
                               (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        except (ValueError, OSError):
            hard = self.old_core[1]
            if hard == 0:
                self.skipTest("the core-file limit is 0 already: nothing to check")
            resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
        self.fleet = hqtest.Fleet(self.tmp, start=False)
        self.hq = self.fleet.hq

    def tearDown(self):
        if self.hq.proc:
            self.hq.stop()
        try:
            resource.setrlimit(resource.RLIMIT_CORE, self.old_core)
        except (ValueError, OSError):
            pass
        super().tearDown()

    def assertNoCores(self, pid, what):
        # the test's own limit is not 0, so a 0 here is the program's own doing
        self.assertNotEqual(resource.getrlimit(resource.RLIMIT_CORE)[0], 0)
        self.assertEqual(hqtest.proc_limit(pid, "Max core file size"), ("0", "0"), what)

    def test_server_and_waiting_agent(self):
        hqtest.start_server(self.hq, "--workers", "2")
        # the server after it has served a request, too
        self.assertEqual(self.hq.tls_get("/v1/ca")[0], 200)
        self.assertNoCores(self.hq.proc.pid, "fieldsync-server run")
        a = self.fleet.device("a")
        port = self.hq.port
        self.assertEqual(self.hq.stop(), 0)
        # a stalled HQ on the same port: accepts TCP, never answers
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        stalled.bind(("127.0.0.1", port))
        stalled.listen(8)
        stalled.settimeout(30)
        p = subprocess.Popen([fstest.AGENT, "--kdf-cost", "low", "sync"], env=a.env(a.admin),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            conn, _ = stalled.accept()  # the agent is now waiting on the handshake
            time.sleep(0.2)
            self.assertIsNone(p.poll(), "the agent did not wait on the stalled server")
            self.assertNoCores(p.pid, "fieldsync-agent sync, waiting")
            conn.close()
        finally:
            p.kill()
            p.wait()
            stalled.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
