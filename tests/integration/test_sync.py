"""Sync end to end: the real server on 127.0.0.1, real agents, mutual TLS (DESIGN.md section 4).

Two devices of the El Paso office (A, B), and where needed a device of San Diego (S), sync
through one HQ.  Every test checks what a person would look at: `case show --json` on each
node and at HQ, `conflicts`, `status`, and the audit logs of both sides.
"""
import os
import subprocess
import time
import unittest

import fstest
import hqtest

# What must be equal on every node once all have synced.
SAME = ("id", "office", "fields", "narrative", "notes", "conflicts", "head")


def view(doc):
    return {k: doc.get(k) for k in SAME}


class SyncTest(fstest.NodeTest):
    def setUp(self):
        super().setUp()
        self.fleet = hqtest.Fleet(self.tmp)
        self.hq = self.fleet.hq
        self.a = self.fleet.device("a", "ELP")
        self.b = self.fleet.device("b", "ELP")

    def tearDown(self):
        rc = self.hq.stop()
        super().tearDown()
        self.assertEqual(rc, 0, "server did not shut down cleanly")

    def sdg(self):
        return self.fleet.device("s", "SDG")

    def sync(self, n):
        """A successful sync; its --json summary."""
        return self.fleet.sync(n)[0]

    def sync_all(self, *nodes):
        return self.fleet.sync(*nodes)

    def hq_show(self, cid):
        return self.hq.ok("--json", "case", "show", cid).json()

    def hq_ids(self):
        return [c["id"] for c in self.hq.ok("--json", "case", "list").json()["cases"]]

    def ids(self, n):
        return [c["id"] for c in n.ok("--json", "case", "list").json()["cases"]]

    def hq_audit(self):
        return self.hq.ok("--json", "audit", "log").json()["entries"]

    def assertSameEverywhere(self, cid, *nodes):
        """Every node and HQ show the case identically; returns that view."""
        ref = view(self.hq_show(cid))
        for n in nodes:
            self.assertEqual(view(n.show(cid)), ref, "%s differs from HQ" % n.home)
        return ref

    def shared_case(self, *sets, title="Bribery at the port of entry", category="bribery"):
        """A case made on A and synced to HQ and B."""
        return self.fleet.synced_case(self.a, title, category, *sets, to=(self.b,))


class Propagation(SyncTest):
    def test_new_case_reaches_other_device_and_hq(self):
        narrative = os.path.join(self.tmp, "narr.txt")
        with open(narrative, "w") as f:
            f.write("The complainant reported a payment at lane 4.\nA second payment followed.\n")
        cid = self.a.new_case("Bribery at the port of entry", "bribery", "priority=2")
        self.a.ok("case", "edit", cid, "--narrative-file", narrative)
        self.a.ok("note", "add", cid, "--text", "Interview with the complainant scheduled.")
        self.assertEqual(self.ids(self.b), [])
        self.assertNotIn(cid, self.hq_ids())

        s = self.sync(self.a)
        self.assertEqual((s["pushed"], s["conflicts"], s["refused"]), (1, 0, []), s)
        s = self.sync(self.b)
        self.assertEqual((s["pulled"], s["merged"]), (1, 0), s)

        mine = self.a.show(cid)
        self.assertEqual(self.ids(self.b), [cid])
        self.assertEqual(view(self.b.show(cid)), view(mine))
        hq = self.hq_show(cid)
        self.assertEqual(view(hq), view(mine))
        self.assertEqual(hq["office"], "ELP")
        self.assertEqual(hq["fields"]["priority"], "2")
        self.assertIn("payment at lane 4", hq["narrative"])
        self.assertEqual([x["text"].strip() for x in hq["notes"]],
                         ["Interview with the complainant scheduled."])
        # the history came along commit by commit, not as a squashed copy
        hist = self.b.ok("--json", "case", "history", cid).json()["history"]
        self.assertEqual(len(hist), 3, hist)
        # nothing left to move: a second round changes nothing
        s = self.sync(self.a)
        self.assertEqual((s["pushed"], s["pulled"]), (0, 0), s)

    def test_edits_to_different_fields_both_survive(self):
        cid = self.shared_case()
        self.a.ok("case", "edit", cid, "--set", "status=open")
        self.b.ok("case", "edit", cid, "--set", "priority=1", "--set", "assignee=rgarcia")
        self.sync(self.a)
        s = self.sync(self.b)  # HQ merges B's edit onto A's; B takes the merge
        self.assertEqual((s["pushed"], s["pulled"], s["merged"], s["conflicts"]), (1, 1, 1, 0), s)
        self.sync(self.a)
        v = self.assertSameEverywhere(cid, self.a, self.b)
        self.assertEqual((v["fields"]["status"], v["fields"]["priority"],
                          v["fields"]["assignee"]), ("open", "1", "rgarcia"))
        self.assertEqual(v["conflicts"], [])

    def test_same_field_conflict_then_resolution(self):
        cid = self.shared_case()
        self.a.ok("case", "edit", cid, "--set", "status=open")
        self.b.ok("case", "edit", cid, "--set", "status=investigation")
        self.sync(self.a)  # A's version reaches HQ first and stays in place
        s = self.sync(self.b)
        self.assertEqual((s["pushed"], s["pulled"]), (1, 1), s)
        self.sync(self.a)
        v = self.assertSameEverywhere(cid, self.a, self.b)
        self.assertEqual(v["fields"]["status"], "open")
        self.assertEqual([(k["path"], k["value"]) for k in v["conflicts"]],
                         [("fields/status", "investigation")], v)
        self.assertIn(self.b.ok("--json", "status").json()["device"],
                      v["conflicts"][0]["author"])
        for n in (self.a, self.b):
            listed = n.ok("--json", "conflicts", cid).json()["conflicts"]
            self.assertEqual([(k["path"], k["current"], k["value"]) for k in listed],
                             [("fields/status", "open", "investigation")], n.home)
            self.assertEqual([c["id"] for c in n.ok("--json", "conflicts").json()["cases"]],
                             [cid])
        self.assertEqual(self.hq.ok("--json", "case", "list").json()["cases"][0]["conflicts"], 1)

        # a person on A takes B's version; it syncs like any edit
        r = self.a.ok("--json", "conflicts", "resolve", cid, "fields/status", "--theirs")
        self.assertTrue(r.json()["resolved"])
        self.sync_all(self.a, self.b, self.a)
        v = self.assertSameEverywhere(cid, self.a, self.b)
        self.assertEqual(v["fields"]["status"], "investigation")
        self.assertEqual(v["conflicts"], [])
        for n in (self.a, self.b):
            self.assertEqual(n.ok("--json", "conflicts", cid).json()["conflicts"], [])
            self.assertEqual(n.ok("--json", "conflicts").json()["cases"], [])
            self.assertEqual(n.ok("--json", "status").json()["conflicts"], 0)
        self.assertEqual(self.hq.ok("--json", "case", "list").json()["cases"][0]["conflicts"], 0)
        resolved = [e for e in self.a.audit() if e["target"] == cid and
                    e["action"] == "case.update"]
        self.assertTrue(resolved, "the resolution is an audited edit")

    def test_summary_counts_the_conflict_a_push_made(self):
        cid = self.shared_case()
        self.a.ok("case", "edit", cid, "--set", "status=open")
        self.b.ok("case", "edit", cid, "--set", "status=investigation")
        self.sync(self.a)
        s = self.sync(self.b)  # B's version is now a kept conflict: B's user must be told
        self.assertEqual((s["merged"], s["conflicts"]), (1, 1), s)
        self.a.ok("case", "edit", cid, "--set", "priority=1")
        self.b.ok("case", "edit", cid, "--set", "priority=2")
        self.sync(self.a)
        r = self.b.ok("sync")
        self.assertIn("1 new conflict (see 'fieldsync-agent conflicts')", r.out)

    def test_narrative_edits_to_different_sentences_merge(self):
        cid = self.shared_case()
        path = os.path.join(self.tmp, "n.txt")
        sentences = ["The complainant reported a payment at lane 4.",
                     "The officer on duty denied any contact.",
                     "Camera footage from the lane was requested.",
                     "The footage was delivered on the third day.",
                     "A supervisor reviewed the footage."]

        def write(n, lines):
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            n.ok("case", "edit", cid, "--narrative-file", path)

        write(self.a, sentences)
        self.sync_all(self.a, self.b)
        write(self.a, ["The complainant reported two payments at lane 4."] + sentences[1:])
        write(self.b, sentences[:4] + ["A supervisor and an auditor reviewed the footage."])
        self.sync_all(self.a, self.b, self.a)
        v = self.assertSameEverywhere(cid, self.a, self.b)
        self.assertEqual(v["conflicts"], [])
        self.assertIn("two payments at lane 4", v["narrative"])
        self.assertIn("a supervisor and an auditor reviewed", v["narrative"].lower())
        self.assertIn("The officer on duty denied any contact.", v["narrative"])

    def test_notes_from_both_sides_survive(self):
        cid = self.shared_case()
        self.a.ok("note", "add", cid, "--text", "A: interview with the complainant")
        self.a.ok("note", "add", cid, "--text", "A: footage requested")
        self.b.ok("note", "add", cid, "--text", "B: interview with the officer")
        self.sync_all(self.a, self.b)
        self.b.ok("note", "add", cid, "--text", "B: second interview")
        self.sync_all(self.b, self.a)
        v = self.assertSameEverywhere(cid, self.a, self.b)
        self.assertEqual(sorted(x["text"].strip() for x in v["notes"]),
                         ["A: footage requested", "A: interview with the complainant",
                          "B: interview with the officer", "B: second interview"])
        self.assertEqual(v["conflicts"], [])

    def test_hq_edit_merges_with_office_edit(self):
        cid = self.shared_case()
        self.hq.ok("case", "edit", cid, "--set", "priority=1")
        self.a.ok("case", "edit", cid, "--set", "status=open")
        s = self.sync(self.a)
        self.assertEqual((s["pushed"], s["conflicts"]), (1, 0), s)
        self.sync(self.b)
        v = self.assertSameEverywhere(cid, self.a, self.b)
        self.assertEqual((v["fields"]["priority"], v["fields"]["status"]), ("1", "open"))
        self.assertEqual(v["conflicts"], [])
        hist = self.hq.ok("--json", "case", "history", cid).json()["history"]
        self.assertGreaterEqual(len(hist), 4, hist)  # create, HQ edit, A edit, merge


class Concurrency(SyncTest):
    def test_devices_syncing_at_once_converge(self):
        cids = [self.a.new_case("Case %d" % i, "ethics") for i in range(3)]
        self.sync_all(self.a, self.b)
        for i, cid in enumerate(cids):
            self.a.ok("case", "edit", cid, "--set", "status=open", "--set", "priority=1")
            self.b.ok("case", "edit", cid, "--set", "status=review", "--set", "assignee=b%d" % i)
        self.b.new_case("Made on B", "theft")
        procs = [subprocess.Popen([fstest.AGENT, "--json", "sync"], env=n.env(n.admin),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for n in (self.a, self.b)]
        for p in procs:
            out, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, out + err)
        self.sync_all(self.a, self.b, self.a)
        self.assertEqual(self.ids(self.a), self.ids(self.b))
        self.assertEqual(self.ids(self.a), self.hq_ids())
        for cid in cids:
            v = self.assertSameEverywhere(cid, self.a, self.b)
            self.assertEqual(v["fields"]["priority"], "1")
            self.assertTrue(v["fields"]["assignee"].startswith("b"), v)
            # one of the two statuses stays in place, the other is kept as a conflict
            self.assertEqual(sorted([v["fields"]["status"]] +
                                    [k["value"] for k in v["conflicts"]]), ["open", "review"], v)
        for n in (self.a, self.b):
            self.assertEqual(n.ok("--json", "status").json()["unpushed"], 0)


class Offices(SyncTest):
    def test_other_office_sees_a_case_only_once_shared(self):
        s = self.sdg()
        cid = self.shared_case()
        other = self.a.new_case("Misuse of records system", "misuse-of-systems")
        self.sync(self.a)
        self.sync(s)
        self.assertEqual(self.ids(s), [])
        self.assertFails(s.run("case", "show", cid), 1, cid)

        self.hq.ok("case", "share", cid, "SDG")
        r = self.sync(s)
        self.assertEqual(r["pulled"], 1, r)
        self.assertEqual(self.ids(s), [cid])  # only the shared case
        self.assertEqual(s.show(cid)["office"], "ELP")

        s.ok("case", "edit", cid, "--set", "assignee=jlee")
        s.ok("note", "add", cid, "--text", "SDG: witness located in San Diego")
        r = self.sync(s)
        self.assertEqual((r["pushed"], r["refused"]), (1, []), r)
        self.sync_all(self.a, self.b)
        v = self.assertSameEverywhere(cid, self.a, self.b, s)
        self.assertEqual(v["fields"]["assignee"], "jlee")
        self.assertEqual(v["office"], "ELP")
        self.assertEqual([x["text"].strip() for x in v["notes"]],
                         ["SDG: witness located in San Diego"])
        self.assertNotIn(other, self.ids(s))

    def test_transfer_moves_ownership(self):
        s = self.sdg()
        cid = self.shared_case()
        kept = self.a.new_case("Theft of seized goods", "theft")
        self.sync_all(self.a, self.b)
        self.hq.ok("case", "transfer", cid, "SDG")
        self.assertEqual(self.hq_show(cid)["office"], "SDG")
        self.sync(s)
        self.assertEqual(self.ids(s), [cid])
        self.assertEqual(s.show(cid)["office"], "SDG")

        # ELP's devices lose it: B, with no work on it, removes it at its next sync
        r = self.b.ok("--json", "sync").json()
        self.assertEqual(r["purged"], 1, r)
        self.assertEqual(self.ids(self.b), [kept])
        # SDG's work no longer reaches ELP
        s.ok("case", "edit", cid, "--set", "status=open")
        self.sync(s)
        self.assertEqual(self.hq_show(cid)["fields"]["status"], "open")

        # A's edit of it, written before A learned of the transfer, is taken and merged;
        # then A removes the case too, and its other case still syncs
        self.a.ok("case", "edit", cid, "--set", "priority=1")
        self.a.ok("case", "edit", kept, "--set", "priority=4")
        doc = self.a.ok("--json", "sync").json()
        self.assertEqual((doc["pushed"], doc["purged"], doc["refused"]), (2, 1, []), doc)
        self.assertEqual(self.hq_show(kept)["fields"]["priority"], "4")
        self.assertEqual(self.hq_show(cid)["fields"]["priority"], "1")
        self.assertEqual(self.hq_show(cid)["fields"]["status"], "open")
        self.assertEqual(self.ids(self.a), [kept])
        self.sync(s)
        self.assertEqual(s.show(cid)["fields"]["priority"], "1")
        self.assertEqual([e for e in self.hq_audit() if e["action"] == "sync.refused"], [])


    def test_first_feed_by_office_same_as_by_sequence(self):
        """A first sync reads HQ's feed through the office's own and shared cases (fewer
        than the changes in the store), a device that synced before reads it by sequence:
        both end with the same cases, shares and transfers included, and nothing else."""
        s = self.sdg()
        theirs = [s.new_case("San Diego case %d" % k, "theft") for k in range(12)]
        self.sync(s)
        own = self.a.new_case("El Paso case kept", "theft")
        moved = self.a.new_case("El Paso case moved", "theft")
        self.sync_all(self.a, self.b)
        self.hq.ok("case", "share", theirs[3], "ELP")
        self.hq.ok("case", "transfer", moved, "SDG")
        for k in (5, 7):  # changes after B's cursor, in and out of ELP's view
            self.hq.ok("case", "edit", theirs[k], "--set", "priority=2")
        self.hq.ok("case", "edit", own, "--set", "priority=1")
        fresh = self.fleet.device("c", "ELP", admin="carol")
        r = self.sync(fresh)  # cursor 0: by office
        self.assertEqual(r["purged"], 0, r)
        b = self.sync(self.b)  # by sequence, from where it was
        self.assertEqual(b["purged"], 1, b)
        want = sorted([own, theirs[3]])
        self.assertEqual(sorted(self.ids(fresh)), want)
        self.assertEqual(sorted(self.ids(self.b)), want)
        for cid in want:
            self.assertSameEverywhere(cid, fresh, self.b)
        self.assertEqual(fresh.show(own)["fields"]["priority"], "1")
        self.sync(s)
        self.assertEqual(sorted(self.ids(s)), sorted(theirs + [moved]))

class Status(SyncTest):
    def test_status_counts_unpushed_and_last_sync(self):
        st = self.a.ok("--json", "status").json()
        self.assertEqual((st["unpushed"], st.get("last_sync")), (0, None), st)
        one = self.a.new_case("Use of force at checkpoint", "use-of-force")
        self.a.new_case("Lack of candor in report", "lack-of-candor")
        st = self.a.ok("--json", "status").json()
        self.assertEqual((st["cases"], st["unpushed"], st.get("last_sync")), (2, 2, None), st)
        t0 = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() - 60))
        self.sync(self.a)
        st = self.a.ok("--json", "status").json()
        self.assertEqual(st["unpushed"], 0, st)
        self.assertRegex(st["last_sync"] or "", r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
        self.assertGreaterEqual(st["last_sync"], t0)
        first = st["last_sync"]
        self.a.ok("case", "edit", one, "--set", "status=open")
        self.assertEqual(self.a.ok("--json", "status").json()["unpushed"], 1)
        time.sleep(0.01)
        self.sync(self.a)
        st = self.a.ok("--json", "status").json()
        self.assertEqual(st["unpushed"], 0, st)
        self.assertGreater(st["last_sync"], first)
        # B pulled both: nothing of its own to push
        self.sync(self.b)
        self.assertEqual(self.b.ok("--json", "status").json()["unpushed"], 0)
        self.assertEqual(self.b.ok("--json", "status").json()["cases"], 2)


class Failures(SyncTest):
    def test_revoked_device_cannot_sync(self):
        cid = self.shared_case()
        device = self.b.ok("--json", "status").json()["device"]
        self.hq.ok("device", "revoke", device)
        self.b.ok("case", "edit", cid, "--set", "status=open")
        r = self.b.run("sync")
        self.assertFails(r, 1, "refused this device", "revoked")
        self.assertNotEqual(self.hq_show(cid)["fields"]["status"], "open")
        self.assertEqual(self.b.ok("--json", "status").json()["unpushed"], 1)
        # the other device of the office is not affected
        self.a.ok("case", "edit", cid, "--set", "priority=1")
        self.sync(self.a)
        self.assertEqual(self.hq_show(cid)["fields"]["priority"], "1")
        denied = [e for e in self.hq_audit() if e["action"] == "request.refused"
                  and e["outcome"] == "denied"]
        self.assertTrue(any(device in e["target"] for e in denied), denied)

    def test_revoked_office_cannot_sync(self):
        cid = self.shared_case()
        self.hq.ok("office", "revoke", "ELP")
        for n in (self.a, self.b):
            n.ok("case", "edit", cid, "--set", "status=open")
            self.assertFails(n.run("sync"), 1, "refused this device", "revoked")
        self.assertEqual(self.hq_show(cid)["fields"]["status"], "intake")

    def test_stopped_server_fails_quickly(self):
        cid = self.a.new_case("Use of force at checkpoint", "use-of-force")
        self.assertEqual(self.hq.stop(), 0)
        t = time.monotonic()
        r = self.a.run("sync", timeout=60)
        took = time.monotonic() - t
        self.assertFails(r, 1, "cannot reach", "127.0.0.1:%d" % self.hq.port)
        self.assertLess(took, 15, "a refused connection must not hang the sync")
        st = self.a.ok("--json", "status").json()
        self.assertEqual((st["unpushed"], st.get("last_sync")), (1, None), st)
        self.assertEqual(self.ids(self.a), [cid])
        failed = [e for e in self.a.audit() if e["action"] == "sync"]
        self.assertEqual([e["outcome"] for e in failed], ["failure"], failed)
        self.assertIn("cannot reach", failed[0]["detail"])


class Audit(SyncTest):
    def test_every_sync_is_audited_on_both_sides(self):
        cid = self.a.new_case("Use of force at checkpoint", "use-of-force")
        self.sync_all(self.a, self.b)
        self.b.ok("case", "edit", cid, "--set", "status=open")
        self.sync_all(self.b, self.a)

        for n, count in ((self.a, 2), (self.b, 2)):
            syncs = [e for e in n.audit() if e["action"] == "sync"]
            self.assertEqual(len(syncs), count, syncs)
            self.assertTrue(all(e["outcome"] == "success" for e in syncs), syncs)
            self.assertTrue(all(self.hq.url in e["target"] for e in syncs), syncs)
        self.assertIn("pushed 1", [e for e in self.a.audit() if e["action"] == "sync"][0]
                      ["detail"])

        dev_a = self.a.ok("--json", "status").json()["device"]
        dev_b = self.b.ok("--json", "status").json()["device"]
        log = self.hq_audit()

        def of(action, device):
            return [e for e in log if e["action"] == action and e["target"] == device]

        # A pushed once (B's first sync had nothing to push), each device read the feed twice
        self.assertEqual(len(of("sync.push", dev_a)), 1, log)
        self.assertEqual(len(of("sync.push", dev_b)), 1, log)
        self.assertIn("1 cases accepted", of("sync.push", dev_a)[0]["detail"])
        self.assertEqual(len(of("sync.changes", dev_a)), 2)
        self.assertEqual(len(of("sync.changes", dev_b)), 2)
        self.assertGreaterEqual(len(of("sync.pull", dev_b)), 1)
        self.assertGreaterEqual(len(of("sync.pull", dev_a)), 1)
        for e in of("sync.push", dev_a) + of("sync.pull", dev_b) + of("sync.changes", dev_a):
            self.assertEqual(e["outcome"], "success", e)


if __name__ == "__main__":
    unittest.main()
