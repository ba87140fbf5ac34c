"""Certificate renewal: a device whose certificate is in the last third of its life gets a
new one for the same key at its next sync, and keeps syncing with it."""
import datetime
import unittest

import fstest
import hqtest


def parse(ts):
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")


class Renew(fstest.NodeTest):
    def setUp(self):
        super().setUp()
        self.fleet = hqtest.Fleet(self.tmp)
        self.hq = self.fleet.hq

    def tearDown(self):
        rc = self.hq.stop()
        super().tearDown()
        self.assertEqual(rc, 0)

    def enrolled(self, validity):
        return self.fleet.device("elp1", token=self.fleet.token("ELP", validity=validity))

    def test_short_certificate_is_renewed_at_sync(self):
        a = self.enrolled(120)  # 2 minutes left of a 7-minute life: due
        before = parse(a.ok("--json", "status").json()["certificate_expires"])
        a.new_case("Renewal case")
        r = a.ok("sync")
        self.assertIn("certificate was renewed", r.err)
        st = a.ok("--json", "status").json()
        after = parse(st["certificate_expires"])
        self.assertGreater(after - before, datetime.timedelta(days=300))
        self.assertEqual(st["channel"], "ok")
        # the renewed certificate works, and a fresh one is not renewed again
        a.new_case("After renewal")
        r = a.ok("sync")
        self.assertNotIn("renewed", r.err)
        actions = [e["action"] for e in a.audit()]
        self.assertEqual(actions.count("device.renew"), 1)
        hq_actions = [(e["action"], e["outcome"])
                      for e in self.hq.ok("--json", "audit", "log").json()["entries"]]
        self.assertIn(("device.renew", "success"), hq_actions)
        self.assertEqual(len(self.hq.ok("--json", "case", "list").json()["cases"]), 2)

    def test_certificate_with_time_left_is_kept(self):
        a = self.enrolled(86400 * 30)
        before = a.ok("--json", "status").json()["certificate_expires"]
        r = a.ok("sync")
        self.assertNotIn("renewed", r.err)
        self.assertEqual(a.ok("--json", "status").json()["certificate_expires"], before)

    def test_revoked_device_cannot_renew(self):
        a = self.enrolled(120)
        device = a.ok("--json", "status").json()["device"]
        self.hq.ok("device", "revoke", device)
        r = a.run("sync")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("revoked", r.err)


if __name__ == "__main__":
    unittest.main()
