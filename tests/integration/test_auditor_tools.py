"""The auditor's tools around the trail (issue 17), with the real binaries on 127.0.0.1.

An exported CA certificate is all an outsider needs to check an exported trail; a trail cut
back to an earlier signed head fails against the later head the auditor kept; searches and
lists record the cases they showed; short ids work where full ones do; bad query input is
refused naming the option; log-on entries fold into the commands they opened.

One HQ with device A (El Paso, alice) and device B (San Diego, bob) serves every test.
"""
import json
import os
import shutil
import tempfile
import unittest

import fstest
import hqtest


class AuditorTools(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fieldsync-it-auditor-")
        cls.fleet = hqtest.Fleet(cls.tmp)
        cls.hq = cls.fleet.hq
        try:
            cls.a = cls.fleet.device("a", "ELP", admin="alice")
            cls.b = cls.fleet.device("b", "SDG", admin="bob")
            cls.dev_a = cls.a.ok("--json", "status").json()["device"]
            cls.dev_b = cls.b.ok("--json", "status").json()["device"]
            cls.case_a = cls.fleet.synced_case(cls.a, "Bribery at the port", "bribery")
            cls.fleet.sync(cls.b)
        except BaseException:
            cls.hq.stop()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        rc = cls.hq.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert rc == 0, "server did not shut down cleanly"

    def path(self, suffix):
        return tempfile.mktemp(dir=self.tmp, suffix=suffix)

    def export(self, device):
        path = self.path(".json")
        self.hq.ok("audit", "export", "--device", device, "--out", path)
        return path

    def outsider(self):
        """A node nobody initialised: what a third party with only files has."""
        return fstest.Node(os.path.join(self.tmp, "nobody"))

    # ---- item 3: the CA certificate, exported ------------------------------------------------

    def test_ca_export_verifies_an_export_offline(self):
        pem_hq = self.path(".pem")
        self.hq.ok("ca", "export", "--out", pem_hq)
        with open(pem_hq) as f:
            text = f.read()
        self.assertTrue(text.startswith("-----BEGIN CERTIFICATE-----\n"), text)
        self.assertTrue(text.endswith("-----END CERTIFICATE-----\n"), text)
        # the device's pinned copy is the same certificate; stdout without --out
        self.assertEqual(self.a.ok("ca", "export").out, text)
        pem_a = self.path(".pem")
        self.a.ok("ca", "export", "--out", pem_a)
        with open(pem_a) as f:
            self.assertEqual(f.read(), text)
        # an export of A's trail checks with nothing but that file
        exported = self.export(self.dev_a)
        r = self.outsider().run("--json", "audit", "verify", "--file", exported, "--ca", pem_hq)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json()["origin"], "ELP/" + self.dev_a)
        # --out never overwrites; the export is audited
        r = self.hq.run("ca", "export", "--out", pem_hq)
        self.assertEqual(r.rc, 1, r)
        self.assertIn("must not exist", r.err)
        self.assertIn("ca.export", [e["action"] for e in self.a.audit()])
        r = self.hq.run("ca", "export", "extra")
        self.assertEqual(r.rc, 2, r)

    # ---- item 1: verify against the head the auditor holds -----------------------------------

    def save(self, text):
        path = self.path(".json")
        with open(path, "w") as f:
            f.write(text)
        return path

    def cut(self, doc, size):
        """The export cut back cleanly to its first `size` entries: a trail as it stood then."""
        cut = dict(doc)
        cut["entries"] = doc["entries"][:size]
        cut["checkpoints"] = [s for s in doc["checkpoints"] if s["size"] <= size]
        cut["receipts"] = [s for s in doc["receipts"] if s["size"] <= size]
        cut["seals"] = [s for s in doc["seals"] if s["size"] <= size]
        return self.save(json.dumps(cut))

    def test_expect_head_and_receipt(self):
        pem = self.path(".pem")
        self.hq.ok("ca", "export", "--out", pem)
        self.a.ok("sync")
        head1 = self.a.ok("audit", "head").out
        h1 = json.loads(head1)
        self.assertEqual((h1["format"], h1["kind"], h1["origin"]),
                         ("fieldsync-head-1", "receipt", "ELP/" + self.dev_a))
        older = os.path.join(self.tmp, "a-older")
        shutil.copytree(self.a.home, older)
        self.a.ok("case", "show", self.case_a)
        self.a.ok("sync")
        head2 = self.a.ok("audit", "head").out
        h2 = json.loads(head2)
        self.assertGreater(h2["size"], h1["size"])
        # HQ hands out the same receipt for the device
        self.assertEqual(json.loads(self.hq.ok("audit", "head", "--device", self.dev_a).out), h2)
        r1, r2 = self.save(head1), self.save(head2)
        with open(self.export(self.dev_a)) as f:
            doc = json.load(f)
        whole, cut = self.save(json.dumps(doc)), self.cut(doc, h1["size"])
        nobody = self.outsider()

        def verify(path, *expect):
            return nobody.run("--json", "audit", "verify", "--file", path, "--ca", pem, *expect)

        # the whole trail extends both heads, shown by a consistency proof
        for r, h in ((r1, h1), (r2, h2)):
            got = verify(whole, "--expect-receipt", r)
            self.assertEqual(got.rc, 0, got)
            self.assertEqual((got.json()["expected"]["size"], got.json()["expected"]["root"]),
                             (h["size"], h["root"]))
        got = verify(whole, "--expect-size", str(h1["size"]), "--expect-head", h1["root"])
        self.assertEqual(got.rc, 0, got)
        # cut back to the earlier receipt: fine on its own, refused against the later head
        self.assertEqual(verify(cut).rc, 0)
        for expect in (["--expect-receipt", r2],
                       ["--expect-size", str(h2["size"]), "--expect-head", h2["root"]]):
            got = verify(cut, *expect)
            self.assertEqual(got.rc, 1, got)
            self.assertEqual(got.out, "")
            for fragment in ("cut back", str(h1["size"]), h1["root"], str(h2["size"]),
                             h2["root"]):
                self.assertIn(fragment, got.err, (expect, got))
        # a head the trail does not extend
        wrong = "00" * 32
        got = verify(whole, "--expect-size", str(h1["size"]), "--expect-head", wrong)
        self.assertEqual(got.rc, 1, got)
        self.assertIn("diverges", got.err)
        self.assertIn(wrong, got.err)
        # a receipt whose head was edited no longer verifies; another device's is not this one's
        forged = dict(h2, root=h1["root"])
        got = verify(whole, "--expect-receipt", self.save(json.dumps(forged)))
        self.assertEqual(got.rc, 1, got)
        self.assertIn("does not verify", got.err)
        self.b.ok("sync")
        got = verify(whole, "--expect-receipt", self.save(self.b.ok("audit", "head").out))
        self.assertEqual(got.rc, 1, got)
        self.assertIn("not of this trail", got.err)
        # a device's own log: the database copy from before the later receipt fails it
        old = fstest.Node(older, office="ELP", admin="alice")
        got = old.run("audit", "verify", "--expect-receipt", r2)
        self.assertEqual(got.rc, 1, got)
        self.assertIn("cut back", got.err)
        got = self.a.run("audit", "verify", "--expect-receipt", r2)
        self.assertEqual(got.rc, 0, got)
        self.assertIn("extends the HQ receipt you hold", got.out)
        # HQ's own log against a checkpoint HQ signed of it
        hq_head = self.save(self.hq.ok("audit", "head").out)
        self.assertEqual(json.loads(open(hq_head).read())["kind"], "checkpoint")
        got = self.hq.run("audit", "verify", "--expect-receipt", hq_head)
        self.assertEqual(got.rc, 0, got)
        self.assertIn("extends the head you hold", got.out)
        # the options themselves
        for bad in (["--expect-size", "3"], ["--expect-head", h1["root"]],
                    ["--expect-size", "x", "--expect-head", h1["root"]],
                    ["--expect-size", "3", "--expect-head", "abc"],
                    ["--expect-receipt", r1, "--expect-size", "3", "--expect-head", h1["root"]],
                    ["--expect-receipt", pem]):
            got = verify(whole, *bad)
            self.assertEqual(got.rc, 2, (bad, got))
            self.assertEqual(got.out, "", bad)

    # ---- item 2: searches and lists record the cases they showed ------------------------------

    def test_search_that_showed_a_case_is_in_its_trail(self):
        other = self.a.new_case("Overtime fraud in the motor pool", "misuse-of-systems")
        self.a.ok("case", "search", "port")           # shows case_a only
        self.a.ok("case", "search", "motor")          # shows the other case only
        self.a.ok("case", "list")                     # shows both
        mine = self.a.ok("--json", "audit", "log", "--case", self.case_a).json()["entries"]
        got = [(e["action"], e["detail"]) for e in mine if e["action"] in
               ("case.search", "case.list")]
        self.assertIn(("case.search", "port"), got)
        self.assertIn(("case.list", ""), got)
        self.assertNotIn(("case.search", "motor"), got)
        search = [e for e in mine if e["action"] == "case.search"][-1]
        self.assertEqual((search["target"], search["cases"], search["cases_shown"]),
                         ("", [self.case_a], 1))
        # the table shows them too
        self.assertIn("[shown: " + self.case_a + "]", self.a.ok("audit", "log").out)
        # at HQ after the next sync, and HQ's own search of it
        self.a.ok("sync")
        self.hq.ok("case", "search", "bribery")
        events = self.hq.ok("--json", "audit", "query", "--case", self.case_a).json()["events"]
        seen = [(e["office"], e["user"], e["action"], e["detail"]) for e in events
                if e["action"] in ("case.search", "case.list")]
        self.assertIn(("ELP", "alice", "case.search", "port"), seen)
        self.assertIn(("ELP", "alice", "case.list", ""), seen)
        self.assertIn(("HQ", "server", "case.search", "bribery"), seen)
        self.assertNotIn(("ELP", "alice", "case.search", "motor"), seen)
        for e in events:
            if e["action"] in ("case.search", "case.list"):
                self.assertIn(self.case_a, e["cases"], e)
        other_events = self.hq.ok("--json", "audit", "query", "--case", other).json()["events"]
        self.assertIn(("case.search", "motor"),
                      [(e["action"], e["detail"]) for e in other_events])
        # CSV keeps its columns
        header = self.hq.ok("audit", "query", "--case", self.case_a, "--csv").out.splitlines()[0]
        self.assertEqual(header, "time,office,device,user,action,target,outcome,detail")

    def test_a_long_list_is_bounded(self):
        n = fstest.Node(os.path.join(self.tmp, "many"))
        n.init()
        ids = [n.new_case("Case %d" % i, "theft") for i in range(52)]
        n.ok("case", "list")
        entry = [e for e in n.audit() if e["action"] == "case.list"][-1]
        self.assertEqual(len(entry["cases"]), 50)
        self.assertEqual(entry["cases_shown"], 52)
        self.assertLessEqual(set(entry["cases"]), set(ids))
        self.assertIn("(+2 more)", n.ok("audit", "log").out)

    # ---- item 5: strict query input ----------------------------------------------------------

    def test_bad_query_input_names_the_option(self):
        bad = [("--since", "yesterday"), ("--until", "2026-13-01"), ("--since", "24"),
               ("--until", "7 days"), ("--case", "not a case"), ("--user", "Bob Smith"),
               ("--office", "el paso"), ("--device", "XYZ"), ("--action", "case view"),
               ("--limit", "0"), ("--limit", "ten")]
        for option, value in bad:
            r = self.hq.run("audit", "query", option, value)
            self.assertEqual(r.rc, 2, (option, value, r))
            self.assertEqual(r.out, "", (option, value))
            self.assertIn("error: " + option + ":", r.err, (option, value))
        for option, value in (("--since", "tomorrow"), ("--case", "x y")):
            r = self.a.run("audit", "log", option, value)
            self.assertEqual(r.rc, 2, r)
            self.assertEqual(r.out, "")
            self.assertIn("error: " + option + ":", r.err)
        self.assertIn("24h", self.hq.run("audit", "query", "--since", "yesterday").err)

    def test_relative_and_iso_times(self):
        self.a.ok("case", "show", self.case_a)
        self.a.ok("sync")
        recent = self.hq.ok("--json", "audit", "query", "--since", "30m").json()["events"]
        self.assertIn((self.dev_a, "case.view"), [(e["device"], e["action"]) for e in recent])
        self.assertEqual(self.hq.ok("--json", "audit", "query", "--until", "24h").json()["events"],
                         [])
        view = [e for e in recent if e["action"] == "case.view"][-1]
        later = self.hq.ok("--json", "audit", "query", "--since", view["time"][:16] + "Z",
                           "--case", self.case_a).json()["events"]
        self.assertIn(view["seq"], [e["seq"] for e in later if e["device"] == self.dev_a])
        self.assertTrue(self.a.audit(), "audit log without --since")
        self.assertTrue(self.a.ok("--json", "audit", "log", "--since", "7d").json()["entries"])

    def test_search_syntax_error_in_our_words(self):
        for q in ('"unclosed', "port OR", "-port"):
            r = self.a.run("case", "search", q)
            self.assertEqual(r.rc, 2, (q, r))
            self.assertEqual(r.out, "")
            self.assertNotIn("MATCH", r.err)
            self.assertIn("the search query cannot be read", r.err)
            self.assertIn('"a phrase"', r.err)

    # ---- item 4: unique prefixes of device and case ids ----------------------------------------

    def test_short_ids(self):
        short_dev = self.dev_a[:8]
        # audit export, head and query take a device id prefix
        path = self.path(".json")
        r = self.hq.run("audit", "export", "--device", short_dev, "--out", path)
        self.assertEqual(r.rc, 0, r)
        with open(path) as f:
            self.assertEqual(json.load(f)["origin"], "ELP/" + self.dev_a)
        self.assertEqual(json.loads(self.hq.ok("audit", "head", "--device", short_dev).out)
                         ["origin"], "ELP/" + self.dev_a)

        def devices(*args):
            events = self.hq.ok("--json", "audit", "query", *args).json()["events"]
            return {e["device"] for e in events}
        self.assertEqual(devices("--device", short_dev), {self.dev_a})
        # and a case id prefix, in the audit commands and the case commands
        short_case = self.case_a[:-3]
        events = self.hq.ok("--json", "audit", "query", "--case", short_case).json()["events"]
        self.assertTrue(events)
        self.assertIn(self.case_a, {e["target"] for e in events})
        self.assertEqual(self.a.show(short_case)["id"], self.case_a)
        self.assertEqual(self.hq.ok("--json", "case", "show", short_case).json()["id"],
                         self.case_a)
        self.a.ok("case", "history", short_case)
        self.assertIn(self.case_a, self.a.ok("note", "add", short_case, "--text", "seen").out)
        entries = self.a.ok("--json", "audit", "log", "--case", short_case).json()["entries"]
        self.assertIn("note.add", [e["action"] for e in entries])
        # ambiguity names the candidates; no match says so
        second = self.a.new_case("Second case for prefixes", "theft")
        common = os.path.commonprefix([self.case_a, second])
        r = self.a.run("case", "show", common)
        self.assertEqual(r.rc, 1, r)
        self.assertIn("ambiguous", r.err)
        self.assertIn(self.case_a, r.err)
        self.assertIn(second, r.err)
        r = self.hq.run("audit", "query", "--case", "ELP-99-ZZ")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("no case 'ELP-99-ZZ'", r.err)
        self.assertEqual(r.out, "")
        r = self.hq.run("audit", "export", "--device", "ffffffff", "--out", self.path(".json"))
        self.assertEqual(r.rc, 1, r)
        self.assertIn("no device 'ffffffff'", r.err)
        # device revoke by prefix (a device of its own, so the others keep syncing)
        c = self.fleet.device("c", "ELP", admin="carol")
        dev_c = c.ok("--json", "status").json()["device"]
        r = self.hq.run("device", "revoke", dev_c[:6])
        self.assertEqual(r.rc, 0, r)
        self.assertIn(dev_c, r.out)
        self.assertNotEqual(c.run("sync").rc, 0)

    # ---- item 6: log-ons folded into the commands they opened ---------------------------------

    def test_group_logons(self):
        self.assertEqual(self.a.run("case", "list", passphrase="not the passphrase").rc, 1)
        self.a.ok("case", "show", self.case_a)
        self.a.ok("sync")

        def query(*args):
            return self.hq.ok("--json", "audit", "query", "--device", self.dev_a,
                              "--limit", "100000", *args).json()["events"]
        plain, grouped = query(), query("--group-logons")
        key = lambda e: (e["device"], e["seq"])
        by_seq = {e["seq"]: e for e in plain}
        folded = [e for e in plain if e["action"] == "logon" and e["outcome"] == "success"
                  and e["seq"] + 1 in by_seq and by_seq[e["seq"] + 1]["user"] == e["user"]
                  and by_seq[e["seq"] + 1]["action"] != "logon"]
        self.assertGreater(len(folded), 3)
        # exactly the folded log-ons are gone, nothing else; the rest unchanged but the mark
        self.assertEqual({key(e) for e in grouped}, {key(e) for e in plain} - {key(e) for e in folded})
        self.assertNotIn("logon", plain[0])
        opened = {e["seq"] + 1 for e in folded}
        for e in grouped:
            self.assertEqual(e.pop("logon"), e["seq"] in opened, e)
            self.assertEqual(e, by_seq[e["seq"]])
        # the failed log-on still shows
        self.assertIn(("logon", "failure"), [(e["action"], e["outcome"]) for e in grouped])
        # the table marks what a log-on opened; the CSV keeps its columns
        table = self.hq.ok("audit", "query", "--device", self.dev_a, "--group-logons").out
        self.assertIn("(after log-on)", table)
        rows = self.hq.ok("audit", "query", "--device", self.dev_a, "--limit", "100000",
                          "--group-logons", "--csv").out.splitlines()
        self.assertEqual(rows[0], "time,office,device,user,action,target,outcome,detail")
        self.assertEqual(len(rows) - 1, len(grouped))
        # the trail itself is unchanged: it still verifies with every log-on in it
        self.assertEqual(self.hq.run("audit", "verify").rc, 0)

    def test_group_logons_on_the_device(self):
        self.assertEqual(self.a.run("case", "list", passphrase="not the passphrase").rc, 1)
        self.a.ok("case", "show", self.case_a)
        plain = self.a.ok("--json", "audit", "log").json()["entries"]
        grouped = self.a.ok("--json", "audit", "log", "--group-logons").json()["entries"]
        newer = [e for e in grouped if e["seq"] > plain[-1]["seq"]]  # the grouped read itself
        self.assertEqual([(e["action"], e["logon"]) for e in newer], [("audit.read", True)])
        grouped = grouped[:len(grouped) - len(newer)]
        by_seq = {e["seq"]: e for e in plain}
        folded = {e["seq"] for e in plain if e["action"] == "logon" and e["outcome"] == "success"
                  and e["seq"] + 1 in by_seq and by_seq[e["seq"] + 1]["user"] == e["user"]
                  and by_seq[e["seq"] + 1]["action"] != "logon"}
        self.assertGreater(len(folded), 3)
        # the same fold as at HQ: exactly those log-ons gone, the entries they opened marked
        self.assertEqual([e["seq"] for e in grouped], [s for s in by_seq if s not in folded])
        for e in grouped:
            self.assertEqual(e.pop("logon"), e["seq"] - 1 in folded, e)
            self.assertEqual(e, by_seq[e["seq"]])
        self.assertIn(("logon", "failure"), [(e["action"], e["outcome"]) for e in grouped])
        table = self.a.ok("audit", "log", "--group-logons").out.splitlines()
        self.assertEqual(len(table), len(grouped) + 2)  # and two reads, each its log-on folded
        self.assertTrue(any(line.endswith("(after log-on)") for line in table), table)


if __name__ == "__main__":
    unittest.main()
