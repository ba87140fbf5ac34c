"""Evidence attachments: intake, custody, BagIt export, verification and sync, with the real
binaries on loopback.

  - Round trip: a large file (256 MiB in CI, 2 GiB with FIELDSYNC_LONG=1, 32 MiB in the
    sanitizer tree) added on device A, synced, fetched on device B of the office and at HQ:
    bit-identical, and A's peak RSS (/usr/bin/time -v) at most 64 MiB while adding and while
    syncing.  A marker inside the file is found nowhere under A's, B's or HQ's directory.
  - The bag: sha256sum -c of both manifests inside it, Payload-Oxum, RFC 8493 structure, the
    custody log and the inclusion proof of each audit entry in the node's tree head.
  - A byte altered in a stored chunk (tests/tools/tamper): verify, get, export and sync each
    refuse, naming the item.
  - Bad input: missing, unreadable, a directory, an empty file (allowed), over the limit,
    unknown case or item, an unknown custody action: a clear error, nothing stored.
  - Faults: connection cuts at random byte offsets through the fault proxy of the sync tests
    during uploads and downloads (50 in CI); every trial completes on the next sync and HQ's
    counters (its "evidence" log lines) show no chunk HQ had acknowledged was sent again, and
    the downloads resend at most what the cut requests carried.
  - Kills: SIGKILL of the agent during `evidence add` and during sync, and of the server
    during sync (30 each in CI): `check` passes, no half item is visible, the next sync
    completes.
"""
import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import fstest  # noqa: E402
import hqtest  # noqa: E402
import test_sync_faults as faults  # noqa: E402

MIB = 1024 * 1024
ASAN = fstest.SAMPLE  # the sanitizer tree (tests/run.sh sets FIELDSYNC_SAMPLE=1 there)
BIG = (2048 if fstest.LONG else 32 if ASAN else 256) * MIB
RSS_MAX_KIB = 64 * 1024
CUTS = fstest.trials(50, 200, 8)
KILLS = fstest.trials(30, 100, 5)
TRIAL_SIZE = (24 if fstest.LONG else 5) * MIB + 12345
MARKER = b"EVIDENCEMARKER-7Q4Z-do-not-leak"
TAMPER = os.environ.get("FIELDSYNC_TAMPER") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tests", "tools", "tamper")
PER_REQUEST = 4  # chunks per upload or download request (agent/sync.c EV_PER_REQUEST)
LANES = 2  # requests in flight at once (agent/sync.c EV_LANES)


def write_file(path, size, seed):
    """`size` pseudo-random bytes with MARKER inside (near the start and the end); its SHA-256."""
    rnd = random.Random(seed)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        first = True
        while left:
            n = min(MIB, left)
            block = bytearray(rnd.randbytes(n))
            if first and n > len(MARKER) + 100:
                block[100:100 + len(MARKER)] = MARKER
                first = False
            if left == n and n > 2 * len(MARKER):
                block[n - len(MARKER) - 1:n - 1] = MARKER
            f.write(block)
            h.update(block)
            left -= n
    return h.hexdigest()


def text(path):
    return fstest.read_bytes(path).decode("utf-8")


def sha_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MIB), b""):
            h.update(block)
    return h.hexdigest()


def find_marker(directory):
    """Files under `directory` holding MARKER (read in overlapping blocks)."""
    hits = []
    for path in fstest.files_under(directory):
        with open(path, "rb") as f:
            tail = b""
            for block in iter(lambda: f.read(4 * MIB), b""):
                if MARKER in tail + block:
                    hits.append(path)
                    break
                tail = block[-len(MARKER):]
    return hits


def peak_rss_kib(stderr):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    assert m, stderr
    return int(m.group(1))


def timed(node, *args, timeout=1800):
    """Run an agent command under /usr/bin/time -v: (Result, peak RSS in KiB)."""
    env = node.env(node.admin)
    proc = subprocess.run(["/usr/bin/time", "-v", fstest.AGENT, "--kdf-cost", "low"] +
                          list(args), env=env, capture_output=True, text=True, timeout=timeout)
    return fstest.Result(proc), peak_rss_kib(proc.stderr)


def server_counts(hq):
    """HQ's evidence byte counters, summed over its log lines."""
    c = {"bytes_in": 0, "chunks_in": 0, "resent_chunks": 0, "resent_bytes": 0, "bytes_out": 0}
    for line in hq.read_log().splitlines():
        if "event=evidence" not in line:
            continue
        for k in c:
            m = re.search(r"\b%s=(\d+)" % k, line)
            if m:
                c[k] += int(m.group(1))
    return c


def hq_get(hq, case, item, out):
    return hq.run("evidence", "get", case, item, "--out", out)


def items(node, case):
    return node.ok("--json", "evidence", "list", case).json()["items"]


class Evidence(fstest.NodeTest):
    def add(self, node, case, path, *extra, desc="seized phone"):
        r = node.ok("--json", "evidence", "add", case, path, "--description", desc, *extra)
        return r.json()

    # ---- one node --------------------------------------------------------------------------

    def test_commands_custody_and_bad_input(self):
        a = self.node("a")
        a.init()
        case = a.new_case("Evidence handling", "theft")
        src = os.path.join(self.tmp, "statement.pdf")
        want = write_file(src, 2 * MIB + 7, 1)
        item = self.add(a, case, src, "--source", "J. Doe", "--collected-at",
                        "2026-11-30T10:00:00Z", "--location", "ELP evidence room")
        self.assertEqual(item["sha256"], want)
        eid = item["id"]
        row, = items(a, case)
        self.assertEqual((row["id"], row["name"], row["size"], row["sha256"], row["custodian"],
                          row["state"]), (eid, "statement.pdf", 2 * MIB + 7, want, "alice",
                                          "in-custody"))
        a.ok("evidence", "custody", case, eid, "--action", "check-out", "--to", "Dr. Lab",
             "--location", "forensic lab", "--reason", "imaging")
        a.ok("evidence", "custody", case, eid, "--action", "check-in", "--to", "alice",
             "--location", "ELP evidence room", "--reason", "imaging done")
        show = a.ok("--json", "evidence", "show", case, eid).json()
        self.assertEqual([e["action"] for e in show["custody"]],
                         ["intake", "check-out", "check-in"])
        self.assertEqual(show["custody"][1]["from"], "alice")
        self.assertEqual(show["custody"][1]["to"], "Dr. Lab")
        self.assertEqual(show["state"], "in-custody")
        out = os.path.join(self.tmp, "out.pdf")
        a.ok("evidence", "get", case, eid, "--out", out)
        self.assertEqual(sha_of(out), want)
        self.assertFails(a.run("evidence", "get", case, eid, "--out", out), 1, "already exists")
        self.assertIn("1 item", a.ok("evidence", "verify", case).out)
        # bad input: each a clear error and nothing stored
        chunks = a.ok("--json", "check").json()["evidence_chunks"]
        head = a.show(case)["head"]
        self.assertFails(a.run("evidence", "add", case, os.path.join(self.tmp, "nope"),
                               "--description", "x"), 1, "no file")
        self.assertFails(a.run("evidence", "add", case, self.tmp, "--description", "x"), 1,
                         "is a directory")
        big = os.path.join(self.tmp, "big.bin")
        write_file(big, 3 * MIB, 2)
        self.assertFails(a.run("evidence", "add", case, big, "--description", "x",
                               extra_env={"FIELDSYNC_EVIDENCE_MAX": "2M"}), 1, "over the limit")
        self.assertFails(a.run("evidence", "add", case, big, "--description", "x",
                               "--max-size", "1048576"), 1, "over the limit")
        if os.geteuid() != 0:
            os.chmod(big, 0)
            self.assertFails(a.run("evidence", "add", case, big, "--description", "x"), 1,
                             "cannot read")
            os.chmod(big, 0o600)
        self.assertFails(a.run("evidence", "add", "ELP-26-NOSUCH", big, "--description", "x"),
                         1, "no case")
        self.assertFails(a.run("evidence", "add", case, big), 2, "--description")
        self.assertFails(a.run("evidence", "show", case, "20200101T000000.000Z-0000-nosuch"), 1,
                         "no evidence item")
        self.assertFails(a.run("evidence", "custody", case, eid, "--action", "lose",
                               "--location", "x", "--reason", "y"), 2, "not a custody action")
        self.assertFails(a.run("evidence", "custody", case, eid, "--action", "check-in",
                               "--location", "x", "--reason", "y"), 1, "not checked out")
        self.assertEqual(a.show(case)["head"], head)
        self.assertEqual(a.ok("--json", "check").json()["evidence_chunks"], chunks)
        # an empty file is an item of no chunks
        empty = os.path.join(self.tmp, "empty.txt")
        open(empty, "wb").close()
        e = self.add(a, case, empty, desc="empty envelope")
        self.assertEqual(e["sha256"], hashlib.sha256(b"").hexdigest())
        out2 = os.path.join(self.tmp, "empty.out")
        a.ok("evidence", "get", case, e["id"], "--out", out2)
        self.assertEqual(os.path.getsize(out2), 0)
        # the same bytes in another case are stored once
        other = a.new_case("Another case", "bribery")
        self.add(a, other, src)
        self.assertEqual(a.ok("--json", "check").json()["evidence_chunks"], chunks)
        # every act is audited, naming the item
        log = a.ok("--json", "audit", "log", "--case", case).out
        for action in ("evidence.add", "evidence.list", "evidence.view", "evidence.get",
                       "evidence.custody", "evidence.verify"):
            self.assertIn(action, log)
        self.assertIn("item " + eid, log)
        self.assertEqual(find_marker(a.home), [])

    def test_bag_validates(self):
        a = self.node("a")
        a.init()
        case = a.new_case("Bag export", "corruption")
        one = os.path.join(self.tmp, "photo 1.jpg")
        two = os.path.join(self.tmp, "ledger.xlsx")
        empty = os.path.join(self.tmp, "blank.txt")
        sums = {"photo 1.jpg": write_file(one, 1 * MIB + 5, 3),
                "ledger.xlsx": write_file(two, 300000, 4)}
        open(empty, "wb").close()
        ids = [self.add(a, case, p)["id"] for p in (one, two, empty)]
        a.ok("evidence", "custody", case, ids[0], "--action", "examine", "--to", "analyst",
             "--location", "lab", "--reason", "EXIF review")
        bag = os.path.join(self.tmp, "bag")
        a.ok("evidence", "export", case, ids[0], ids[1], ids[2], "--bag", bag)
        self.check_bag(bag, case, 3, 1 * MIB + 5 + 300000)
        for name in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
            r = subprocess.run(["sha256sum", "--strict", "-c", name], cwd=bag,
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        manifest = text(os.path.join(bag, "manifest-sha256.txt"))
        for name, digest in sums.items():
            self.assertRegex(manifest, r"%s  data/[^\n]*%s" % (digest,
                                                                re.escape(name.replace(" ", "_"))))
        log = json.loads(text(os.path.join(bag, "custody-log.json")))
        self.assertEqual(log["case"], case)
        self.assertEqual([i["id"] for i in log["items"]], ids)
        self.assertEqual([e["action"] for e in log["items"][0]["custody"]], ["intake", "examine"])
        self.check_proofs(log["audit"], ids)
        # one item only, and export refuses an existing directory or an unknown item
        one_bag = os.path.join(self.tmp, "one")
        a.ok("evidence", "export", case, ids[1], "--bag", one_bag)
        self.check_bag(one_bag, case, 1, 300000)
        self.assertFails(a.run("evidence", "export", case, "--bag", one_bag), 1, "exists")
        self.assertFails(a.run("evidence", "export", case, "nosuch", "--bag",
                               os.path.join(self.tmp, "x")), 1, "no evidence item")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "x")))
        self.assertIn("evidence.export", a.ok("--json", "audit", "log", "--case", case).out)

    def check_bag(self, bag, case, count, octets):
        """RFC 8493 structure: bagit.txt, data/, the manifests and bag-info.txt."""
        with open(os.path.join(bag, "bagit.txt"), "rb") as f:
            self.assertEqual(f.read(), b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
        self.assertTrue(os.path.isdir(os.path.join(bag, "data")))
        payload = sorted(os.path.relpath(p, bag) for p in fstest.files_under(
            os.path.join(bag, "data")))
        self.assertEqual(len(payload), count)
        lines = text(os.path.join(bag, "manifest-sha256.txt"))
        self.assertTrue(lines.endswith("\n"))
        listed = []
        for line in lines.splitlines():
            m = re.fullmatch(r"([0-9a-f]{64}) (?: )?(data/\S.*)", line)  # RFC 8493 2.1.3
            self.assertTrue(m, line)
            self.assertNotIn("%", m.group(2))
            listed.append(m.group(2).lstrip(" "))
        self.assertEqual(sorted(listed), payload)  # every payload file, and only those
        info = {}
        for line in text(os.path.join(bag, "bag-info.txt")).splitlines():
            m = re.fullmatch(r"([^:\s][^:]*): (.*)", line)  # label: value, one line each
            self.assertTrue(m, line)
            info[m.group(1)] = m.group(2)
        for label in ("Source-Organization", "Bagging-Date", "Payload-Oxum",
                      "External-Identifier", "Bag-Size"):
            self.assertIn(label, info)
        self.assertEqual(info["Payload-Oxum"], "%d.%d" % (octets, count))
        self.assertEqual(sum(os.path.getsize(os.path.join(bag, p)) for p in payload), octets)
        self.assertEqual(info["External-Identifier"], case)
        self.assertRegex(info["Bagging-Date"], r"^\d{4}-\d{2}-\d{2}$")
        tags = sorted(n for n in os.listdir(bag)
                      if n not in ("data", "tagmanifest-sha256.txt"))
        self.assertEqual(tags, ["bag-info.txt", "bagit.txt", "custody-log.json",
                                "manifest-sha256.txt"])
        tagm = [ln.split("  ", 1)[1] for ln in
                text(os.path.join(bag, "tagmanifest-sha256.txt")).splitlines()]
        self.assertEqual(sorted(tagm), tags)  # every tag file, no payload file

    def check_proofs(self, audit, ids):
        """Each entry's leaf and RFC 6962 audit path lead to the tree head of the bag."""
        def node_hash(l, r):
            return hashlib.sha256(b"\x01" + l + r).digest()

        def root_from(leaf, index, size, path):
            # RFC 9162 2.1.3.2
            fn, sn, r = index, size - 1, leaf
            for p in path:
                if sn == 0:
                    return None
                if fn & 1 or fn == sn:
                    r = node_hash(p, r)
                    while fn & 1 == 0 and fn:
                        fn >>= 1
                        sn >>= 1
                else:
                    r = node_hash(r, p)
                fn >>= 1
                sn >>= 1
            return r if sn == 0 else None

        size, root = audit["tree_size"], bytes.fromhex(audit["root_sha256"])
        actions = set()
        named = set()
        self.assertTrue(audit["entries"])
        for e in audit["entries"]:
            leaf = hashlib.sha256(b"\x00" + e["entry"].encode()).digest()
            self.assertEqual(leaf.hex(), e["leaf_sha256"])
            got = root_from(leaf, e["seq"], size, [bytes.fromhex(h) for h in e["inclusion_proof"]])
            self.assertEqual(got, root, e)
            entry = json.loads(e["entry"])
            actions.add(entry["action"])
            named.update(i for i in ids if i in entry.get("detail", ""))
            # an altered entry no longer proves
            bad = hashlib.sha256(b"\x00" + e["entry"].replace("evidence", "Evidence").encode())
            self.assertNotEqual(root_from(bad.digest(), e["seq"], size,
                                          [bytes.fromhex(h) for h in e["inclusion_proof"]]), root)
        self.assertTrue({"evidence.add", "evidence.custody"} <= actions, actions)
        self.assertEqual(named, set(ids))

    def test_altered_byte_detected(self):
        fleet = hqtest.Fleet(self.tmp)
        try:
            a = fleet.device("a")
            case = a.new_case("Tampering", "ethics")
            src = os.path.join(self.tmp, "video.mp4")
            write_file(src, 3 * MIB + 99, 5)
            eid = self.add(a, case, src)["id"]
            a.ok("evidence", "verify", case, eid)
            r = subprocess.run([TAMPER, "1"], env=a.env("alice"), capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertFails(a.run("evidence", "verify", case), 1, eid, "chunk 1")
            self.assertFails(a.run("evidence", "verify", case, eid), 1, eid)
            out = os.path.join(self.tmp, "out.mp4")
            self.assertFails(a.run("evidence", "get", case, eid, "--out", out), 1, eid)
            self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith("out.mp4")], [])
            bag = os.path.join(self.tmp, "bag")
            self.assertFails(a.run("evidence", "export", case, "--bag", bag), 1, eid)
            self.assertFalse(os.path.exists(bag))
            self.assertFails(a.run("sync"), 1, eid, case)
            self.assertIn("failure", a.ok("--json", "audit", "log", "--case", case).out)
            self.assertFails(a.run("check"), 1, "does not match")
            self.assertNotIn(case, fleet.hq.ok("--json", "case", "list").out)
        finally:
            fleet.stop()

    # ---- several nodes ---------------------------------------------------------------------

    def test_round_trip_large(self):
        fleet = hqtest.Fleet(self.tmp)
        try:
            a = fleet.device("a")
            b = fleet.device("b")
            c = fleet.device("c", office="SDG")
            case = fleet.synced_case(a, "Body camera footage", "use-of-force", to=(b, c))
            src = os.path.join(self.tmp, "bodycam.mp4")
            want = write_file(src, BIG, 6)
            r, rss_add = timed(a, "--json", "evidence", "add", case, src, "--description",
                               "body camera of unit 12")
            self.assertEqual(r.rc, 0, r)
            item = json.loads(r.out)
            self.assertEqual(item["sha256"], want)
            r, rss_sync = timed(a, "--json", "sync")
            self.assertEqual(r.rc, 0, r)
            moved = json.loads(r.out)["evidence"]
            self.assertEqual(moved["bytes_sent"], BIG)
            print("\nevidence round trip of %d MiB: peak RSS add %d KiB, sync %d KiB" %
                  (BIG // MIB, rss_add, rss_sync), file=sys.stderr)
            if not ASAN:  # the sanitizers' shadow memory and quarantine are not the agent's
                self.assertLessEqual(rss_add, RSS_MAX_KIB)
                self.assertLessEqual(rss_sync, RSS_MAX_KIB)
            r, rss_pull = timed(b, "--json", "sync")
            self.assertEqual(r.rc, 0, r)
            self.assertEqual(json.loads(r.out)["evidence"]["bytes_received"], BIG)
            if not ASAN:
                self.assertLessEqual(rss_pull, RSS_MAX_KIB)
            out_b = os.path.join(self.tmp, "b.mp4")
            b.ok("evidence", "get", case, item["id"], "--out", out_b)
            self.assertEqual(sha_of(out_b), want)
            os.unlink(out_b)
            out_hq = os.path.join(self.tmp, "hq.mp4")
            self.assertEqual(hq_get(fleet.hq, case, item["id"], out_hq).rc, 0)
            self.assertEqual(sha_of(out_hq), want)
            os.unlink(out_hq)
            # the other office never sees the case nor its bytes
            r = c.ok("--json", "sync").json()
            self.assertEqual(r["evidence"]["chunks_received"], 0)
            self.assertFails(c.run("evidence", "list", case), 1, "no case")
            os.unlink(src)
            for n in (a, b):
                n.ok("check")
            for d in (a.home, b.home, c.home, fleet.hq.home):
                self.assertEqual(find_marker(d), [], d)
            counts = server_counts(fleet.hq)
            self.assertEqual(counts["bytes_in"], BIG)
            self.assertEqual(counts["resent_chunks"], 0)
            self.assertEqual(counts["bytes_out"], BIG)
        finally:
            fleet.stop()


class EvidenceFaults(fstest.NodeTest):
    """Cuts and kills during evidence transfer, through the fault proxy of the sync tests."""

    def setUp(self):
        super().setUp()
        self.seed = int(os.environ.get("FIELDSYNC_SEED", "4711"))
        self.rnd = random.Random(self.seed)
        self.fleet = hqtest.Fleet(self.tmp, faults.RestartableServer(self.tmp), start=False)
        self.hq = self.fleet.hq
        self.hq.start_on(0)
        self.proxy = faults.Proxy(self.hq.port)
        self.a = self.fleet.device("a", url=self.proxy.url)
        self.b = self.fleet.device("b", admin="bob", url=self.proxy.url)
        self.case = self.a.new_case("Evidence under faults", "smuggling")
        self.a.ok("sync")
        self.b.ok("sync")
        self.serial = 0
        self.expected = {}  # item id -> sha256 of every item an add acknowledged

    def tearDown(self):
        self.proxy.close()
        if self.hq.proc and self.hq.proc.poll() is None:
            self.hq.stop()
        super().tearDown()

    def new_item(self, node, size=TRIAL_SIZE):
        self.serial += 1
        src = os.path.join(self.tmp, "trial.bin")
        want = write_file(src, size, 1000 + self.serial)
        r = node.ok("--json", "evidence", "add", self.case, src, "--description",
                    "trial %d" % self.serial)
        self.expected[r.json()["id"]] = want
        os.unlink(src)
        return r.json()["id"]

    def normal_sync(self, node):
        self.proxy.passthrough()
        r = node.run("--json", "sync", timeout=300)
        self.assertEqual(r.rc, 0, "seed %d: %r" % (self.seed, r))
        return r.json()

    def converged(self):
        for n in (self.a, self.b):
            n.ok("check")
            got = {i["id"]: i["sha256"] for i in items(n, self.case)}
            self.assertEqual(got, self.expected)
            n.ok("evidence", "verify", self.case)
        self.assertEqual(self.hq.run("evidence", "verify", self.case).rc, 0)

    def test_cuts_during_upload_and_download(self):
        cuts = down_cuts = 0
        for t in range(CUTS):
            # pairs of trials: the sender's upload is cut, then the receiver's download
            if t % 2 == 0:
                sender, receiver = (self.a, self.b) if self.rnd.random() < 0.5 else (self.b,
                                                                                      self.a)
                self.new_item(sender)
                node, direction = sender, faults.Proxy.C2S
            else:
                node, direction = receiver, faults.Proxy.S2C
            self.proxy.arm(direction, self.rnd.randrange(2000, TRIAL_SIZE + 20000),
                           self.rnd.random() < 0.5)
            r = node.run("--json", "sync", timeout=120)
            if r.rc != 0:
                cuts += 1
                down_cuts += direction == faults.Proxy.S2C
                self.assertRegex(r.err, "error:", r)
            self.normal_sync(node)
        self.normal_sync(self.a)
        self.normal_sync(self.b)
        self.converged()
        self.assertGreaterEqual(cuts, CUTS * 3 // 4, "most trials must have been cut")
        self.assertGreaterEqual(down_cuts, CUTS // 4, "downloads must have been cut")
        counts = server_counts(self.hq)
        unique = len(self.expected) * TRIAL_SIZE
        print("\nevidence cuts: %d of %d trials cut; HQ counters %s; unique bytes %d" %
              (cuts, CUTS, counts, unique), file=sys.stderr)
        self.assertEqual(counts["resent_chunks"], 0, counts)
        self.assertEqual(counts["bytes_in"], unique, counts)
        # a download cut loses at most the answers in flight
        self.assertLessEqual(counts["bytes_out"], unique + down_cuts * LANES * PER_REQUEST * MIB,
                             counts)
        self.assertGreaterEqual(counts["bytes_out"], unique, counts)

    def test_agent_killed_during_add_and_sync(self):
        src = os.path.join(self.tmp, "kill.bin")
        size = (64 if fstest.LONG else 6) * MIB + 3
        # how long an add and a sync take here, so that the kills land inside them
        self.serial += 1
        write_file(src, size, 5000 + self.serial)
        t0 = time.monotonic()
        self.expected[self.a.ok("--json", "evidence", "add", self.case, src, "--description",
                                "timing").json()["id"]] = sha_of(src)
        t_add = time.monotonic() - t0
        t0 = time.monotonic()
        self.normal_sync(self.a)
        t_sync = time.monotonic() - t0
        for t in range(KILLS):
            self.serial += 1
            want = write_file(src, size, 5000 + self.serial)
            before = {i["id"] for i in items(self.a, self.case)}
            env = self.a.env("alice")
            p = subprocess.Popen([fstest.AGENT, "--kdf-cost", "low", "--json", "evidence", "add",
                                  self.case, src, "--description", "kill %d" % t], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(self.rnd.uniform(0.0, t_add))
            p.send_signal(signal.SIGKILL)
            out, _ = p.communicate()
            self.a.ok("check")
            now = {i["id"]: i for i in items(self.a, self.case)}
            new = set(now) - before
            self.assertLessEqual(len(new), 1)
            for i in new:  # whole, or not there at all
                self.assertEqual(now[i]["sha256"], want)
                self.assertEqual(now[i]["size"], size)
                self.expected[i] = want
            if p.returncode == 0:
                self.assertEqual(len(new), 1)
            # and a sync killed part way
            p = subprocess.Popen([fstest.AGENT, "--kdf-cost", "low", "sync"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(self.rnd.uniform(0.0, t_sync))
            p.send_signal(signal.SIGKILL)
            p.wait()
            self.a.ok("check")
            if t % 10 == 9:
                self.normal_sync(self.a)
        self.normal_sync(self.a)
        self.normal_sync(self.b)
        self.converged()
        self.assertEqual(server_counts(self.hq)["resent_chunks"], 0)

    def test_server_killed_during_sync(self):
        for t in range(KILLS):
            node = self.a if t % 2 == 0 else self.b
            self.new_item(node, size=(16 if fstest.LONG else 3) * MIB + 1)
            p = subprocess.Popen([fstest.AGENT, "--kdf-cost", "low", "sync"],
                                 env=node.env(node.admin), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(self.rnd.uniform(0.05, 0.8))
            self.hq.kill()
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                self.fail("a sync did not end after the server died")
            self.hq.start_on(self.hq.port)
            node.ok("check")
            self.normal_sync(node)
        self.normal_sync(self.a)
        self.normal_sync(self.b)
        self.converged()


if __name__ == "__main__":
    unittest.main()
