"""Server metrics (issue 15, part 7): `run --metrics 127.0.0.1:PORT` serves the Prometheus text
format; real syncs and refusals move the counters by what happened, the gauges match the
store, and every line parses."""
import os
import re
import socket
import time
import urllib.error
import urllib.request

import fstest
import hqtest

FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(r"^(%s)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\n]|\\.)*\",?)*)\})? "
                    r"(-?[0-9.e+-]+|\+Inf|NaN)$" % NAME)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """Every line of an exposition, checked: {(name, frozenset(labels)): value} and the types."""
    types, samples = {}, {}
    assert text.endswith("\n"), "the exposition ends with a newline"
    for line in text.splitlines():
        if line.startswith("# HELP "):
            assert re.match(r"^# HELP %s \S.*$" % NAME, line), line
            continue
        if line.startswith("# TYPE "):
            m = re.match(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME, line)
            assert m, line
            assert m.group(1) not in types, "TYPE given twice: " + line
            types[m.group(1)] = m.group(2)
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        family = re.sub(r"_(bucket|sum|count)$", "", name) \
            if re.sub(r"_(bucket|sum|count)$", "", name) in types else name
        assert family in types, "sample before its TYPE: " + line
        if types[family] == "counter":
            assert name.endswith("_total"), line
        key = (name, frozenset(LABEL.findall(labels)))
        assert key not in samples, "sample given twice: " + line
        samples[key] = float(value)
    return types, samples


def sanitized():
    """libfaketime cannot be preloaded before the AddressSanitizer runtime (the server hangs)."""
    with open(hqtest.SERVER, "rb") as f:
        return b"__asan_init" in f.read()


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


class Metrics(fstest.NodeTest):
    def setUp(self):
        super().setUp()
        self.fleet = hqtest.Fleet(self.tmp, start=False)
        self.hq = self.fleet.hq
        self.start()

    def tearDown(self):
        rc = self.hq.stop()
        super().tearDown()
        self.assertEqual(rc, 0, "server did not shut down cleanly")

    def start(self, *args, env=None):
        # a restart keeps the port the devices know
        hqtest.start_server(self.hq, "--metrics", "127.0.0.1:0", *args, env=env,
                            port=self.hq.port or 0)
        deadline = time.time() + 10
        while time.time() < deadline:
            ports = re.findall(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", self.hq.read_log())
            if ports:
                self.mport = int(ports[-1])
                return
            time.sleep(0.05)
        raise AssertionError("no metrics listener: " + self.hq.read_log())

    def scrape(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.mport, timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
            return parse(r.read().decode())

    def test_counters_move_with_real_syncs_and_refusals(self):
        types, before = self.scrape()
        self.assertEqual(types["fieldsync_requests_total"], "counter")
        self.assertEqual(types["fieldsync_request_duration_seconds"], "histogram")
        self.assertEqual(types["fieldsync_devices_silent"], "gauge")
        a, b = self.fleet.device("a"), self.fleet.device("b")
        a.new_case("Bribery at the port", "bribery")
        sent = recv = 0
        for n in (a, a, b):
            r = n.ok("--json", "sync").json()
            sent += r["bytes"]["sent"]
            recv += r["bytes"]["received"]
        _, after = self.scrape()
        self.assertEqual(value(after, "fieldsync_syncs_total") -
                         value(before, "fieldsync_syncs_total"), 3)
        self.assertEqual(value(after, "fieldsync_requests_total", route="/v1/audit/upload",
                               code="200"), 3)
        self.assertEqual(value(after, "fieldsync_requests_total", route="/v1/enroll",
                               code="200"), 2)
        self.assertGreaterEqual(value(after, "fieldsync_requests_total",
                                      route="/v1/sync/changes", code="200"), 3)
        # bytes on the wire cover at least every body the devices moved
        self.assertGreater(value(after, "fieldsync_received_bytes_total"), sent)
        self.assertGreater(value(after, "fieldsync_sent_bytes_total"), recv)
        # the histogram: cumulative buckets ending at its count, which is the requests' count
        for route in ("/v1/audit/upload", "/v1/sync/changes", "/v1/enroll"):
            buckets = sorted((float(dict(k[1])["le"]), v) for k, v in after.items()
                             if k[0] == "fieldsync_request_duration_seconds_bucket" and
                             dict(k[1])["route"] == route)
            counts = [v for _, v in buckets]
            self.assertEqual(counts, sorted(counts), route)
            self.assertEqual(buckets[-1][0], float("inf"))
            total = sum(v for k, v in after.items() if k[0] == "fieldsync_requests_total" and
                        dict(k[1])["route"] == route)
            self.assertEqual(buckets[-1][1], total, route)
            self.assertEqual(value(after, "fieldsync_request_duration_seconds_count",
                                   route=route), total)
            self.assertGreater(value(after, "fieldsync_request_duration_seconds_sum",
                                     route=route), 0)
        self.assertEqual(value(after, "fieldsync_devices"), 2)
        self.assertEqual(value(after, "fieldsync_devices_silent", days="7"), 0)
        held = sum(d["size"] for d in self.hq.ok("--json", "audit", "verify").json()["devices"])
        self.assertEqual(value(after, "fieldsync_audit_entries", trail="devices"), held)
        self.assertGreater(value(after, "fieldsync_audit_entries", trail="server"),
                           value(before, "fieldsync_audit_entries", trail="server"))

        # refusals, each under its reason
        self.assertEqual(self.hq.tls_get("/v1/health")[0], 401)  # no client certificate
        dev_b = b.ok("--json", "status").json()["device"]
        self.hq.ok("device", "revoke", dev_b)
        self.assertEqual(b.run("sync").rc, 1)
        self.assertEqual(self.fleet.device("c").run("sync").rc, 0)
        r = self.node("d")
        r.init()
        parts = self.fleet.token("ELP").split(".")
        parts[2] = "00" * 32  # a secret HQ never issued
        self.assertEqual(r.run("enroll", "--server", self.hq.url, "--token",
                               ".".join(parts)).rc, 1)
        _, last = self.scrape()
        for reason, n in (("certificate", 1), ("revoked", 1), ("enroll", 1)):
            self.assertEqual(value(last, "fieldsync_refusals_total", reason=reason) -
                             value(after, "fieldsync_refusals_total", reason=reason), n, reason)
        self.assertEqual(value(last, "fieldsync_devices"), 2)  # a and c; b is revoked
        self.assertGreaterEqual(value(last, "fieldsync_requests_total", route="/v1/health",
                                      code="401"), 1)

    def test_silent_devices(self):
        a, b = self.fleet.device("a"), self.fleet.device("b")
        a.ok("sync")
        b.ok("sync")
        _, now = self.scrape()
        self.assertEqual(value(now, "fieldsync_devices_silent", days="7"), 0)
        self.assertEqual(self.hq.stop(), 0)
        time.sleep(0.01)
        self.start("--silent-days", "0")  # every sync is in the past
        _, now = self.scrape()
        self.assertEqual(value(now, "fieldsync_devices_silent", days="0"), 2)
        self.assertEqual(self.hq.stop(), 0)
        if sanitized():
            return  # the clock eight days on needs libfaketime: the normal tree runs it
        # eight days later a has synced again and b has not
        later = {"LD_PRELOAD": FAKETIME, "FAKETIME": "+8d", "DONT_FAKE_MONOTONIC": "1"}
        self.start(env=later)
        _, s = self.scrape()
        self.assertEqual(value(s, "fieldsync_devices_silent", days="7"), 2)
        a.ok("sync")
        _, s = self.scrape()
        self.assertEqual(value(s, "fieldsync_devices_silent", days="7"), 1)
        self.assertEqual(self.hq.stop(), 0)
        self.start("--silent-days", "30", env=later)
        _, s = self.scrape()
        self.assertEqual(value(s, "fieldsync_devices_silent", days="30"), 0)

    def test_listener_rules(self):
        for path, code in (("/", 404), ("/metrics/x", 404)):
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.mport, path), timeout=5)
            self.assertEqual(e.exception.code, code)
        req = urllib.request.Request("http://127.0.0.1:%d/metrics" % self.mport, data=b"x")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        self.assertEqual(e.exception.code, 405)
        # a client that says nothing is dropped and the listener goes on
        with socket.create_connection(("127.0.0.1", self.mport), timeout=10) as s:
            s.settimeout(10)
            self.assertEqual(s.recv(100)[:12], b"HTTP/1.1 400")
        self.scrape()
        # only a loopback address, unless forced; its options need --metrics
        r = self.hq.run("run", "--listen", "127.0.0.1:0", "--metrics", "0.0.0.0:0")
        self.assertFails(r, 1, "not a loopback address", "--force-metrics-listen")
        r = self.hq.run("run", "--listen", "127.0.0.1:0", "--silent-days", "3")
        self.assertEqual(r.rc, 2, r)
        r = self.hq.run("run", "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0",
                        "--silent-days", "x")
        self.assertEqual(r.rc, 2, r)

    def test_metrics_from_the_configuration_file(self):
        """[run] metrics and silent-days in server.conf act as the options do."""
        self.assertEqual(self.hq.stop(), 0)
        conf = os.path.join(self.tmp, "server.conf")
        with open(conf, "w") as f:
            f.write("[run]\nmetrics = 127.0.0.1:0\nsilent-days = 0\n")
        port = self.hq.port
        hqtest.start_server(self.hq, "--config", conf, port=port)
        deadline = time.time() + 10
        while time.time() < deadline and not re.findall(r"metrics on http", self.hq.read_log()):
            time.sleep(0.05)
        self.mport = int(re.findall(r"metrics on http://127\.0\.0\.1:(\d+)/metrics",
                                    self.hq.read_log())[-1])
        _, now = self.scrape()
        self.assertIn(("fieldsync_devices_silent", frozenset({"days": "0"}.items())), now)
        with open(conf, "w") as f:
            f.write("[run]\nsilent-days = 3\n")  # without metrics: refused as the option is
        r = self.hq.run("--config", conf, "run", "--listen", "127.0.0.1:0")
        self.assertEqual(r.rc, 2, r)


if __name__ == "__main__":
    import unittest
    unittest.main()
