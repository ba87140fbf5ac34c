"""The audit trail end to end (DESIGN.md section 7): real agents and a real HQ on 127.0.0.1.

Reads on a device reach HQ at the next sync and security staff find them with `audit query`;
the tree head `audit verify` reports is recomputed here from the entries with plain hashlib;
a device database restored from an older copy is refused, raises an alert and holds the
device until it is released; an export verifies with nothing but the CA certificate, and
every way of tampering with one is named.

One HQ with two devices (A of El Paso, user alice; B of San Diego, user bob) serves every
test but the restore, which has its own device.  Tests only ever add to the shared state.
"""
import base64
import copy
import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import unittest

import fstest
import hqtest


def mth(leaves):
    """RFC 6962 Merkle tree head of a list of leaf hashes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while 2 * k < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def leaf_of(entry_bytes):
    return hashlib.sha256(b"\x00" + entry_bytes).digest()


class AuditTrail(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fieldsync-it-audit-")
        cls.fleet = hqtest.Fleet(cls.tmp)
        cls.hq = cls.fleet.hq
        try:
            cls.build_trails()
        except BaseException:
            cls.hq.stop()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def build_trails(cls):
        hq = cls.hq
        cls.a = cls.fleet.device("a", "ELP", admin="alice")
        cls.b = cls.fleet.device("b", "SDG", admin="bob")
        cls.dev_a = cls.a.ok("--json", "status").json()["device"]
        cls.dev_b = cls.b.ok("--json", "status").json()["device"]
        cls.case_a = cls.a.new_case("Bribery at the port", "bribery")
        cls.case_b = cls.b.new_case("Missing evidence log", "theft")
        cls.a.ok("case", "show", cls.case_a)
        cls.b.ok("case", "show", cls.case_b)
        cls.a.ok("sync")
        cls.b.ok("sync")
        hq.ok("case", "show", cls.case_a)  # an HQ read
        # a second upload each, so that the exports hold two checkpoints and receipts
        cls.a.ok("case", "show", cls.case_a)
        cls.b.ok("case", "list")
        cls.a.ok("sync")
        cls.b.ok("sync")
        status, body = hq.tls_get("/v1/ca")
        assert status == 200, body
        cls.ca_der = os.path.join(cls.tmp, "ca.der")
        with open(cls.ca_der, "wb") as f:
            f.write(base64.b64decode(json.loads(body)["ca"]))
        cls.export_a = cls.export("--device", cls.dev_a)
        cls.export_b = cls.export("--device", cls.dev_b)

    @classmethod
    def tearDownClass(cls):
        rc = cls.hq.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert rc == 0, "server did not shut down cleanly"

    @classmethod
    def export(cls, *which):
        path = tempfile.mktemp(dir=cls.tmp, suffix=".json")
        cls.hq.ok("audit", "export", *which, "--out", path)
        with open(path) as f:
            return json.load(f)

    # ---- helpers ---------------------------------------------------------------------------

    def query(self, *args):
        return self.hq.ok("--json", "audit", "query", *args).json()["events"]

    def verify_file(self, doc, ca=None):
        """`audit verify --file` of a document by a third party: no node, only the CA."""
        path = tempfile.mktemp(dir=self.tmp, suffix=".json")
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)
        outsider = fstest.Node(os.path.join(self.tmp, "nobody"))
        return outsider.run("--json", "audit", "verify", "--file", path, "--ca",
                            ca or self.ca_der)

    def assertRefused(self, r, *fragments):
        self.assertEqual(r.rc, 1, r)
        self.assertRegex(r.err, r"^fieldsync-agent: error: ", r)
        for f in fragments:
            self.assertIn(f, r.err, r)

    def origin_a(self):
        return "ELP/" + self.dev_a

    # ---- queries at HQ ---------------------------------------------------------------------

    def test_case_view_reaches_hq(self):
        events = self.query("--case", self.case_a)
        views = [e for e in events if e["action"] == "case.view" and e["office"] == "ELP"]
        self.assertEqual(len(views), 2, events)
        for e in views:
            self.assertEqual((e["user"], e["device"], e["target"], e["outcome"]),
                             ("alice", self.dev_a, self.case_a, "success"), e)
        created = [e for e in events if e["action"] == "case.create"]
        self.assertEqual([(e["user"], e["device"], e["office"]) for e in created],
                         [("alice", self.dev_a, "ELP")])
        # HQ's own read of the case, from HQ's log
        hq_reads = [e for e in events if e["office"] == "HQ"]
        self.assertEqual([(e["action"], e["user"]) for e in hq_reads], [("case.view", "server")])
        self.assertNotIn(hq_reads[0]["device"], (self.dev_a, self.dev_b))
        # nothing of the other office's case
        self.assertTrue(all(e["target"] == self.case_a for e in events), events)
        self.assertEqual(events, sorted(events, key=lambda e: (e["time"], e["device"], e["seq"])))

    def test_csv_output(self):
        rows = list(csv.DictReader(io.StringIO(
            self.hq.ok("audit", "query", "--case", self.case_a, "--csv").out)))
        events = self.query("--case", self.case_a)
        self.assertEqual(len(rows), len(events))
        fields = ["time", "office", "device", "user", "action", "target", "outcome", "detail"]
        self.assertEqual(list(rows[0].keys()), fields)
        self.assertEqual([[r[k] for k in fields] for r in rows],
                         [[e[k] for k in fields] for e in events])
        # a detail with a comma survives the quoting
        self.assertIn("fields title,category",
                      [r["detail"] for r in rows if r["action"] == "case.create"])

    def check_filter(self, option, value, keep, must_have):
        """Every event the filter returns passes `keep`; every one it should return is there."""
        everything = self.query("--limit", "100000")
        got = self.query(option, value)
        self.assertTrue(got, (option, value))
        for e in got:
            self.assertTrue(keep(e), (option, value, e))
        # HQ's own events keep coming (each query is one): what the snapshot had must be there
        self.assertLessEqual({(e["device"], e["seq"]) for e in everything if keep(e)},
                             {(e["device"], e["seq"]) for e in got})
        self.assertTrue(any(must_have(e) for e in got), (option, value, got))
        self.assertLess(len(got), len(everything), (option, value))
        return got

    def test_query_filters(self):
        self.check_filter("--user", "bob", lambda e: e["user"] == "bob",
                          lambda e: e["action"] == "case.create" and e["target"] == self.case_b)
        self.check_filter("--office", "SDG", lambda e: e["office"] == "SDG",
                          lambda e: e["device"] == self.dev_b)
        self.check_filter("--office", "HQ", lambda e: e["office"] == "HQ",
                          lambda e: e["action"] == "case.view" and e["target"] == self.case_a)
        self.check_filter("--device", self.dev_a, lambda e: e["device"] == self.dev_a,
                          lambda e: e["action"] == "case.view")
        self.check_filter("--action", "case.create", lambda e: e["action"] == "case.create",
                          lambda e: e["target"] == self.case_b)
        view = [e for e in self.query("--case", self.case_a, "--action", "case.view")
                if e["office"] == "ELP"][0]
        since = self.check_filter("--since", view["time"], lambda e: e["time"] >= view["time"],
                                  lambda e: (e["device"], e["seq"]) == (view["device"], view["seq"]))
        until = self.check_filter("--until", view["time"], lambda e: e["time"] < view["time"],
                                  lambda e: e["action"] == "node.init")
        self.assertNotIn((view["device"], view["seq"]), {(e["device"], e["seq"]) for e in until})
        self.assertEqual(len({(e["device"], e["seq"]) for e in since + until}), len(since + until))
        # filters combine
        both = self.query("--user", "alice", "--action", "case.view")
        self.assertTrue(both)
        self.assertTrue(all((e["user"], e["action"]) == ("alice", "case.view") for e in both))

    # ---- the tree head, recomputed here ------------------------------------------------------

    def test_tree_head_recomputed_from_entries(self):
        verified = self.a.ok("--json", "audit", "verify").json()
        self.assertEqual(verified["status"], "ok")
        size, root = verified["size"], verified["root"]
        # `audit log` runs after, so its entries extend the ones verify saw
        entries = self.a.ok("--json", "audit", "log").json()["entries"]
        self.assertGreater(len(entries), size)
        leaves = []
        for i, e in enumerate(entries):
            raw = bytes.fromhex(e["leaf"])
            self.assertEqual(json.loads(raw)["seq"], i)
            self.assertEqual(e["seq"], i)
            self.assertEqual(leaf_of(raw).hex(), e["leaf_hash"])
            leaves.append(leaf_of(raw))
        self.assertEqual(mth(leaves[:size]).hex(), root)
        self.assertNotEqual(mth(leaves[:size - 1]).hex(), root)
        self.assertGreaterEqual(verified["countersigned"], 1)
        self.assertLessEqual(verified["countersigned"], size)

    # ---- an older copy of a device's database put back ---------------------------------------

    def test_restored_older_copy_is_refused_and_held(self):
        c = self.fleet.device("c", "ELP", admin="alice")
        dev_c = c.ok("--json", "status").json()["device"]
        case = c.new_case("Leaked informant list", "unauthorized-disclosure")
        c.ok("sync")
        old = os.path.join(self.tmp, "c-old")
        shutil.copytree(c.home, old)
        c.ok("case", "show", case)  # the read someone wants to hide
        c.ok("sync")
        hidden = [e for e in self.query("--device", dev_c, "--action", "case.view")]
        self.assertEqual(len(hidden), 1, hidden)
        shutil.rmtree(c.home)
        shutil.copytree(old, c.home)

        r = c.run("sync")
        self.assertRefused(r, "HQ refused this device's audit trail",
                           "an older copy of its database")
        alerts = self.query("--action", "security.alert", "--office", "HQ")
        mine = [e for e in alerts if e["target"] == dev_c]
        self.assertEqual(len(mine), 1, alerts)
        self.assertEqual(mine[0]["outcome"], "denied")
        self.assertIn("an older copy of its database", mine[0]["detail"])
        self.assertIn("event=security.alert", self.hq.read_log())

        # held: every further sync is refused, with the reason and what is needed
        # (the agent cuts the message at 255 bytes, so the release command it names is lost)
        for _ in range(2):
            self.assertRefused(c.run("sync"), "held after a failed audit-trail check",
                               "an older copy of its database", "an administrator must review it")
        refused = self.query("--action", "request.refused", "--office", "HQ")
        self.assertTrue(any("held" in e["detail"] for e in refused), refused)
        # HQ's copy of the trail is intact: it is the device's copy that went back in time
        devices = self.hq.ok("--json", "audit", "verify").json()["devices"]
        self.assertEqual([(d["epoch"], d["status"]) for d in devices if d["device"] == dev_c],
                         [(0, "ok")])

        # released: the device starts a new trail (epoch 1) at HQ from its log as it is now,
        # and the earlier trail, with the read the restore removed, stays at HQ
        r = self.hq.run("device", "release", "0" * 32)
        self.assertEqual(r.rc, 1, r)
        self.assertIn("no held device", r.err)
        self.hq.ok("device", "release", dev_c)
        released = self.query("--office", "HQ", "--action", "device.release")
        self.assertIn(dev_c, [e["target"] for e in released])
        r = c.run("--json", "sync")
        self.assertEqual(r.rc, 0, r)
        devices = self.hq.ok("--json", "audit", "verify").json()["devices"]
        epochs = {d["epoch"]: d for d in devices if d["device"] == dev_c}
        # the whole log went up again, the restored part and what came after
        self.assertEqual(epochs[1]["size"], r.json()["audit_uploaded"])
        self.assertEqual(epochs[1]["countersigned"], epochs[1]["size"])
        self.assertEqual(c.run("sync").rc, 0)
        devices = self.hq.ok("--json", "audit", "verify").json()["devices"]
        self.assertEqual([(d["epoch"], d["status"]) for d in devices if d["device"] == dev_c],
                         [(0, "ok"), (1, "ok")])
        views = self.query("--device", dev_c, "--action", "case.view")
        self.assertIn(hidden[0]["time"], [e["time"] for e in views])
        self.assertEqual(c.ok("--json", "audit", "verify").json()["status"], "ok")
        # both epochs export and verify
        for epoch in ("0", "1"):
            doc = self.export("--device", dev_c, "--epoch", epoch)
            self.assertEqual(self.verify_file(doc).rc, 0)

    # ---- export files: verified with only the CA ---------------------------------------------

    def test_export_verifies_with_ca_only(self):
        doc = self.export_a
        self.assertEqual(doc["origin"], self.origin_a())
        self.assertGreaterEqual(len(doc["checkpoints"]), 2)
        r = self.verify_file(doc)
        self.assertEqual(r.rc, 0, r)
        out = r.json()
        leaves = [leaf_of(e.encode()) for e in doc["entries"]]
        self.assertEqual((out["status"], out["origin"], out["size"], out["root"]),
                         ("ok", self.origin_a(), len(leaves), mth(leaves).hex()))
        # the CA as PEM works as well
        with open(self.ca_der, "rb") as f:
            der = f.read()
        pem = os.path.join(self.tmp, "ca.pem")
        with open(pem, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n"
                    % base64.encodebytes(der).decode().strip())
        self.assertEqual(self.verify_file(doc, ca=pem).rc, 0)
        # another organisation's CA vouches for nothing here
        key, other = os.path.join(self.tmp, "other.key"), os.path.join(self.tmp, "other.pem")
        hqtest.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-nodes", "-keyout", key, "-out", other, "-subj", "/CN=Other CA",
                       "-days", "30")
        self.assertRefused(self.verify_file(doc, ca=other), "not issued by this CA")
        # nor does a file that is no certificate
        self.assertRefused(self.verify_file(doc, ca=key), "is not a certificate")

    def first_signed_above(self, doc, index):
        """The smallest signed size above `index`: a checkpoint's or a seal's."""
        return min(c["size"] for c in doc["checkpoints"] + doc["seals"] if c["size"] > index)

    def test_export_with_deleted_entry(self):
        doc = copy.deepcopy(self.export_a)
        del doc["entries"][3]
        self.assertRefused(self.verify_file(doc),
                           "audit entry 3 is not the entry with that sequence number")
        # the last entry removed: the sequence holds, the newest checkpoint does not
        doc = copy.deepcopy(self.export_a)
        doc["entries"].pop()
        self.assertRefused(self.verify_file(doc), "a signed statement of " + self.origin_a(),
                           "names more entries than the trail holds (%d)" % len(doc["entries"]))

    def test_export_with_edited_entry(self):
        doc = copy.deepcopy(self.export_a)
        entry = json.loads(doc["entries"][4])
        entry["user"] = "mallory"
        doc["entries"][4] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
        self.assertRefused(self.verify_file(doc), "of %s at size %d names a tree head the entries "
                           "do not have" % (self.origin_a(), self.first_signed_above(doc, 4)))

    def test_export_with_reordered_entries(self):
        doc = copy.deepcopy(self.export_a)
        e = doc["entries"]
        e[2], e[3] = e[3], e[2]
        self.assertRefused(self.verify_file(doc),
                           "audit entry 2 is not the entry with that sequence number")
        # renumbered to hide the swap: the signed tree head gives it away
        e[2], e[3] = [json.dumps(dict(json.loads(x), seq=i), sort_keys=True,
                                 separators=(",", ":")) for i, x in ((2, e[2]), (3, e[3]))]
        self.assertRefused(self.verify_file(doc), "of %s at size %d names a tree head"
                           % (self.origin_a(), self.first_signed_above(doc, 3)))

    def test_export_with_appended_entry(self):
        doc = copy.deepcopy(self.export_a)
        last = json.loads(doc["entries"][-1])
        last.update(seq=len(doc["entries"]), action="case.view", user="mallory")
        doc["entries"].append(json.dumps(last, sort_keys=True, separators=(",", ":")))
        self.assertRefused(self.verify_file(doc), "audit entries from %d on (1 of them) are "
                           "covered by no signed checkpoint" % (len(doc["entries"]) - 1))

    def test_export_with_forged_checkpoint(self):
        origin = self.origin_a()
        cp = self.export_a["checkpoints"][0]
        # another tree head under the real signature
        doc = copy.deepcopy(self.export_a)
        doc["checkpoints"][0]["root"] = hashlib.sha256(b"forged").hexdigest()
        self.assertRefused(self.verify_file(doc), "the checkpoint of %s at size %d names a tree "
                           "head the entries do not have" % (origin, cp["size"]))
        # another size, with the true head of that size: the signature is not over it
        doc = copy.deepcopy(self.export_a)
        leaves = [leaf_of(e.encode()) for e in doc["entries"]]
        doc["checkpoints"][0].update(size=cp["size"] - 1, root=mth(leaves[:cp["size"] - 1]).hex())
        self.assertRefused(self.verify_file(doc), "the checkpoint of %s at size %d does not verify: "
                           "the signature does not match" % (origin, cp["size"] - 1))
        # a signature that is not the device's
        doc = copy.deepcopy(self.export_a)
        sig = bytearray.fromhex(cp["signature"])
        sig[-1] ^= 0x01
        doc["checkpoints"][0]["signature"] = sig.hex()
        self.assertRefused(self.verify_file(doc), "the checkpoint of %s at size %d does not "
                           "verify" % (origin, cp["size"]))
        # another device's signature and certificate, over its own trail
        doc = copy.deepcopy(self.export_a)
        theirs = self.export_b["checkpoints"][0]
        doc["checkpoints"][0].update(signature=theirs["signature"], cert=theirs["cert"])
        self.assertRefused(self.verify_file(doc), "the checkpoint of %s at size %d does not "
                           "verify" % (origin, cp["size"]))

    def test_export_with_replayed_receipt(self):
        origin = self.origin_a()
        mine, theirs = self.export_a["receipts"], self.export_b["receipts"]
        # B's countersignature over A's checkpoint
        doc = copy.deepcopy(self.export_a)
        doc["receipts"][0].update(signature=theirs[0]["signature"], time=theirs[0]["time"],
                                  cert=theirs[0]["cert"])
        self.assertRefused(self.verify_file(doc), "the receipt of %s at size %d does not verify: "
                           "the signature does not match" % (origin, mine[0]["size"]))
        # B's receipt as it is
        doc = copy.deepcopy(self.export_a)
        doc["receipts"][0] = copy.deepcopy(theirs[0])
        self.assertRefused(self.verify_file(doc), "the receipt of %s at size %d" % (
            origin, theirs[0]["size"]))
        # A's first receipt moved to the size of its second, with that size's head
        doc = copy.deepcopy(self.export_a)
        doc["receipts"][1] = dict(mine[0], size=mine[1]["size"], root=mine[1]["root"])
        self.assertRefused(self.verify_file(doc), "the receipt of %s at size %d does not verify: "
                           "the signature does not match" % (origin, mine[1]["size"]))

    def test_hq_export_verifies(self):
        doc = self.export("--hq")
        self.assertTrue(doc["origin"].startswith("HQ/"), doc["origin"])
        self.assertTrue(doc["checkpoints"])
        r = self.verify_file(doc)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json()["size"], len(doc["entries"]))
        actions = [json.loads(e)["action"] for e in doc["entries"]]
        self.assertIn("audit.export", actions)
        self.assertIn("audit.upload", actions)

    def test_hq_verifies_every_trail(self):
        out = self.hq.ok("--json", "audit", "verify").json()
        self.assertEqual(out["status"], "ok", out)
        devices = {d["device"]: d for d in out["devices"]}
        self.assertLessEqual({self.dev_a, self.dev_b}, set(devices))
        for d in out["devices"]:
            self.assertEqual(d["status"], "ok", d)
            self.assertEqual(d["countersigned"], d["size"], d)
        self.assertGreaterEqual(devices[self.dev_a]["size"], len(self.export_a["entries"]))


if __name__ == "__main__":
    unittest.main()
