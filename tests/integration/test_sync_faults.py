"""Sync under faults: connections cut mid-transfer, the agent or the server killed mid-sync.

Two devices of office ELP (A and B) are enrolled through a TCP proxy run by the test (a thread
on 127.0.0.1 forwarding to the server), so the server URL they store is the proxy's; the
proxy passes bytes through unchanged unless a trial arms a cut.  Every trial first builds a
real backlog: the syncing device writes notes (some long) on several cases, the other device
writes notes and syncs, and HQ edits a field, so the sync under test pushes and pulls.

  - Cuts (100 in CI): the proxy lets a random number of bytes through in one direction, then
    closes every connection (a FIN or a reset) and refuses new ones until the trial ends.
    The proxy reads the TLS record framing (plain text) to know what the cut hit: a cut in
    handshake or application data must make the sync exit 1 with a network message within
    seconds; a cut inside a closing alert (after the last answer) may let it succeed and is
    not counted.  Then a normal sync through the passing proxy must complete.
  - Agent kills (50 in CI): `sync` is killed with SIGKILL after a random delay within the
    time a sync takes; `check` must pass and a normal sync must complete.
  - Server kills (50 in CI): the server is killed with SIGKILL during a sync; the sync must
    end within seconds; everything a sync had been told was taken (it exited 0) must be in
    the server's store before the restart; the server restarts on the same port, `check`
    passes on the device and a normal sync completes.
  - A push of several rounds cut in a later one: HQ holds the cases of the rounds it
    answered, the next sync pushes only the others.  Likewise an audit upload of several
    batches cut in the second.
Every few trials and at the end, A, B and HQ must converge: the same case (fields,
narrative, notes, conflicts, head) everywhere, every acknowledged note exactly once, no note
nobody wrote.  FIELDSYNC_LONG=1 runs ten times as many cuts and six times as many kills,
FIELDSYNC_SAMPLE=1 (the sanitizer tree) a sample; FIELDSYNC_SEED sets the random seed.  A replayed push is another test's subject.
"""
import json
import os
import random
import re
import selectors
import signal
import socket
import struct
import subprocess
import threading
import time
import unittest
import zlib

import fstest
import hqtest

CUTS = fstest.trials(100, 1000, 15)
AGENT_KILLS = fstest.trials(50, 300, 10)
SERVER_KILLS = fstest.trials(50, 300, 10)
CHECK_EVERY = 10  # trials between full convergence checks
NCASES = 5
CUT_DEADLINE = 10.0  # seconds a cut sync may take to give up
MARK = "FAULTNOTE"

ALERT = 21
WORDS = ("witness", "stated", "officer", "vehicle", "seized", "cash", "report", "shift",
         "supervisor", "port", "entry", "lane", "camera", "footage", "radio", "log", "ledger",
         "payment", "contact", "phone", "message", "meeting", "parking", "badge", "search",
         "evidence", "locker", "inventory", "receipt", "overtime", "schedule", "complaint")
RECORD_TYPES = {20: "change-cipher-spec", 21: "alert", 22: "handshake", 23: "application-data"}


class TLSFraming:
    """Follows TLS record boundaries in one direction of a connection (headers are clear)."""

    def __init__(self):
        self.hdr = b""
        self.left = 0
        self.rtype = None

    def feed(self, data):
        i, n = 0, len(data)
        while i < n:
            if self.left:
                k = min(self.left, n - i)
                self.left -= k
                i += k
                continue
            take = data[i:i + 5 - len(self.hdr)]
            self.hdr += take
            i += len(take)
            self.rtype = self.hdr[0]
            if len(self.hdr) == 5:
                self.left = int.from_bytes(self.hdr[3:5], "big")
                self.hdr = b""

    def type_at(self, data, idx):
        """The type of the record holding data[idx] (state as before data; not changed)."""
        probe = TLSFraming()
        probe.hdr, probe.left, probe.rtype = self.hdr, self.left, self.rtype
        probe.feed(data[:idx + 1])
        return probe.rtype


class Proxy:
    """127.0.0.1:port -> 127.0.0.1:target.  Passes bytes through, or cuts when armed."""

    C2S, S2C = 0, 1

    def __init__(self, target):
        self.target = target
        self.lock = threading.Lock()
        self.live = {}  # id -> connection being forwarded
        self.stopped = False
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.passthrough()
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def passthrough(self):
        with self.lock:
            self.state = "pass"
            self.counts = [0, 0]
            self.cut = None
            self.cut_info = None

    def arm(self, direction, limit, reset):
        with self.lock:
            self.state = "armed"
            self.counts = [0, 0]
            self.cut = (direction, limit, reset)
            self.cut_info = None

    def close(self):
        self.stopped = True
        self.thread.join()
        self.lsock.close()
        self.drop_all(False)

    def accept_loop(self):
        while not self.stopped:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                down = self.state == "down"
            if down:  # the network is down: nothing gets through
                self.abort(c, True)
                continue
            try:
                s = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                self.abort(c, False)
                continue
            for x in (c, s):
                x.settimeout(None)
                x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = {"socks": (c, s), "framing": (TLSFraming(), TLSFraming()), "dead": False,
                    "reset": False}
            with self.lock:
                self.live[id(conn)] = conn
            threading.Thread(target=self.pump, args=(conn,), daemon=True).start()

    @staticmethod
    def abort(sock, reset):
        try:
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        except OSError:
            pass

    def drop_all(self, reset):
        with self.lock:
            conns = list(self.live.values())
        for conn in conns:
            conn["dead"] = True
            conn["reset"] = reset
            for x in conn["socks"]:
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def pump(self, conn):
        c, s = conn["socks"]
        sel = selectors.DefaultSelector()
        sel.register(c, selectors.EVENT_READ, (self.C2S, s))
        sel.register(s, selectors.EVENT_READ, (self.S2C, c))
        try:
            while not conn["dead"]:
                for key, _ in sel.select(timeout=0.5):
                    d, dst = key.data
                    try:
                        data = key.fileobj.recv(65536)
                    except OSError:
                        data = b""
                    if not data or conn["dead"]:
                        conn["dead"] = True
                        break
                    if not self.forward(conn, d, data, dst):
                        conn["dead"] = True
                        break
        finally:
            sel.close()
            for x in (c, s):
                self.abort(x, conn["reset"])
            with self.lock:
                self.live.pop(id(conn), None)

    def forward(self, conn, d, data, dst):
        """Send data on, or the part before the cut; False when the connection is over."""
        cut_at = None
        with self.lock:
            if self.state == "down":
                return False
            if self.state == "armed" and self.cut[0] == d:
                room = self.cut[1] - self.counts[d]
                if room < len(data):  # the byte after the limit is here: cut before it
                    cut_at = max(room, 0)
                    rtype = conn["framing"][d].type_at(data, cut_at)
                    self.state = "down"
                    self.cut_info = {"direction": d, "at": self.counts[d] + cut_at,
                                     "record": rtype}
            self.counts[d] += len(data) if cut_at is None else cut_at
        part = data if cut_at is None else data[:cut_at]
        if part:
            try:
                dst.sendall(part)
            except OSError:
                return False
            conn["framing"][d].feed(part)
        if cut_at is not None:
            conn["reset"] = self.cut[2]
            self.drop_all(self.cut[2])
            return False
        return True


class RestartableServer(hqtest.Server):
    """The real server; after a SIGKILL it starts again on the same port."""

    def start_on(self, port, workers=8):
        return hqtest.start_server(self, "--workers", str(workers), port=port)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.logf.close()


def reported(test):
    """On failure, name the seed and the last trials (FIELDSYNC_SEED=N replays them)."""
    def run(self):
        try:
            test(self)
        except (AssertionError, subprocess.TimeoutExpired) as e:  # a failure, or a hang
            raise AssertionError("%s\n(FIELDSYNC_SEED=%d; the last trials:\n  %s)" %
                                 (e, self.seed, "\n  ".join(self.log[-20:]))) from None
    run.__name__, run.__doc__ = test.__name__, test.__doc__
    return run


class SyncFaults(fstest.NodeTest):
    def setUp(self):
        super().setUp()
        self.seed = int(os.environ.get("FIELDSYNC_SEED", "7907"))
        self.rnd = random.Random(self.seed)
        self.fleet = hqtest.Fleet(self.tmp, RestartableServer(self.tmp), start=False)
        self.hq = self.fleet.hq
        self.hq.start_on(0)
        self.proxy = Proxy(self.hq.port)
        self.a = self.fleet.device("a", admin="alice", url=self.proxy.url)
        self.b = self.fleet.device("b", admin="bob", url=self.proxy.url)
        self.names = {id(self.a): "A", id(self.b): "B"}
        self.cases = [self.a.new_case("Fault trial case %d" % k, "theft") for k in range(NCASES)]
        self.written = {}  # marker -> case id: every note whose `note add` exited 0
        self.unacked = {id(self.a): [], id(self.b): []}  # written, no sync exited 0 since
        self.acked = set()  # markers a sync that exited 0 had on its device
        self.serial = 0
        self.log = []
        self.sizes = []  # bytes each way of the recent normal syncs
        self.durations = []  # seconds the recent normal syncs took
        self.sync_ok(self.a)
        self.sync_ok(self.b)

    def tearDown(self):
        self.proxy.close()
        if self.hq.proc and self.hq.proc.poll() is None:
            self.hq.stop()
        super().tearDown()

    # ---- helpers ------------------------------------------------------------------------

    def note(self, n, case, long=False):
        self.serial += 1
        marker = "%s-%d" % (MARK, self.serial)
        text = "Record %s by %s." % (marker, self.names[id(n)])
        if long:  # a longer interview record: the change set spans many TLS records
            text += " " + " ".join("%s %s %s %d." % (self.rnd.choice(WORDS),
                                                     self.rnd.choice(WORDS),
                                                     self.rnd.choice(WORDS),
                                                     self.rnd.randrange(10 ** 6))
                                   for _ in range(self.rnd.randint(20, 150)))
        n.ok("note", "add", case, "--text", text)
        self.written[marker] = case
        self.unacked[id(n)].append(marker)
        return marker

    def sync_ok(self, n):
        pending = list(self.unacked[id(n)])
        self.proxy.passthrough()
        t0 = time.monotonic()
        r = n.run("--json", "sync", timeout=120)
        self.durations = (self.durations + [time.monotonic() - t0])[-10:]
        if r.rc != 0:
            raise AssertionError("%s: a normal sync failed: %r\nlog:\n%s" %
                                 (self.names[id(n)], r, "\n".join(self.log[-30:])))
        self.ack(n, pending)
        with self.proxy.lock:
            self.sizes = (self.sizes + [list(self.proxy.counts)])[-20:]
        return r.json()

    def ack(self, n, pending):
        self.acked.update(pending)
        self.unacked[id(n)] = [m for m in self.unacked[id(n)] if m not in pending]

    def backlog(self, x, y):
        """Work for x to push and to pull: x and y write notes, y syncs, HQ edits a field."""
        for _ in range(self.rnd.randint(1, 4)):
            self.note(x, self.rnd.choice(self.cases), long=self.rnd.random() < 0.6)
        for _ in range(self.rnd.randint(1, 2)):
            self.note(y, self.rnd.choice(self.cases), long=self.rnd.random() < 0.3)
        self.sync_ok(y)
        if self.rnd.random() < 0.5:
            self.serial += 1
            self.hq.ok("case", "edit", self.rnd.choice(self.cases), "--set",
                       "location=HQ edit %d" % self.serial)

    def pick(self):
        return (self.a, self.b) if self.rnd.random() < 0.5 else (self.b, self.a)

    def check_device(self, n):
        r = n.run("--json", "check")
        self.assertEqual(r.rc, 0, r)
        self.assertTrue(r.json()["ok"], r)

    def assert_notes(self, who, view, markers):
        """Each acknowledged marker of this case exactly once; no marker nobody wrote."""
        texts = [x["text"] for x in view["notes"]]
        found = {}
        for t in texts:
            for m in re.findall(MARK + r"-\d+", t):
                found[m] = found.get(m, 0) + 1
        dup = {m: c for m, c in found.items() if c > 1}
        self.assertEqual(dup, {}, "%s: notes duplicated in %s" % (who, view["id"]))
        stray = [m for m in found if m not in self.written]
        self.assertEqual(stray, [], "%s: notes nobody wrote in %s" % (who, view["id"]))
        lost = sorted(m for m in markers if m not in found)
        self.assertEqual(lost, [], "%s: acknowledged notes lost in %s" % (who, view["id"]))

    def converge(self):
        self.proxy.passthrough()
        for n in (self.a, self.b, self.a):
            self.sync_ok(n)
        for case in self.cases:
            views = [self.a.show(case), self.b.show(case),
                     self.hq.ok("--json", "case", "show", case).json()]
            self.assertEqual(views[0], views[1], "A and B differ on %s" % case)
            self.assertEqual(views[0], views[2], "A and HQ differ on %s" % case)
            self.assert_notes("every node", views[0],
                              [m for m, c in self.written.items() if c == case])

    # ---- the trials ---------------------------------------------------------------------

    @reported
    def test_cut_connections(self):
        counted, tail, nocut, attempts, slowest, trials = 0, 0, 0, 0, 0.0, 0
        kinds = {}
        deadline = time.monotonic() + (3600 if fstest.LONG else 600)
        while counted < CUTS and time.monotonic() < deadline:
            attempts += 1
            x, y = self.pick()
            self.backlog(x, y)
            d = self.rnd.choice((Proxy.C2S, Proxy.S2C))
            # spread the cuts over what the recent syncs moved (most of these carried less)
            total = max(size[d] for size in self.sizes)
            limit = self.rnd.randrange(0, max(total, 1))
            reset = self.rnd.random() < 0.5
            pending = list(self.unacked[id(x)])
            self.proxy.arm(d, limit, reset)
            t0 = time.monotonic()
            r = x.run("--json", "sync", timeout=120)
            took = time.monotonic() - t0
            info = self.proxy.cut_info
            self.proxy.passthrough()
            what = "%s cut %s after %d bytes (%s): rc %d in %.2fs" % (
                self.names[id(x)], "client->server" if d == Proxy.C2S else "server->client",
                limit, "reset" if reset else "close", r.rc, took)
            self.log.append(what)
            self.assertIsNone(self.hq.proc.poll(), "the server died: " + what)
            if info is None:
                nocut += 1  # the sync needed fewer bytes than the limit
                self.assertEqual(r.rc, 0, what + "\n%r" % r)
                self.ack(x, pending)
            elif info["record"] == ALERT:
                tail += 1  # cut in a closing alert: the work was done
                if r.rc == 0:
                    self.ack(x, pending)
                else:
                    self.assertIn("cannot reach", r.err, what)
            else:
                counted += 1
                kind = RECORD_TYPES.get(info["record"], str(info["record"]))
                kinds[kind] = kinds.get(kind, 0) + 1
                slowest = max(slowest, took)
                self.assertEqual(r.rc, 1, "%s in %s: the sync did not fail\n%r" %
                                 (what, kind, r))
                self.assertRegex(r.err, r"(?m)^fieldsync-agent: error: cannot reach ", what)
                self.assertLess(took, CUT_DEADLINE, what)
            self.sync_ok(x)  # the normal sync after the cut
            trials += 1
            if trials % CHECK_EVERY == 0:
                self.converge()
        self.converge()
        self.assertGreaterEqual(counted, CUTS, "only %d cuts landed in %d attempts" %
                                (counted, attempts))
        print("\n%d cut syncs failed cleanly (records cut: %s), slowest %.2fs; %d cuts in a "
              "closing alert, %d limits past the end; syncs moved up to %d/%d bytes; %d notes "
              "converged" % (counted, kinds, slowest, tail, nocut,
                             max(x[0] for x in self.sizes), max(x[1] for x in self.sizes),
                             len(self.written)))

    @reported
    def test_agent_killed_during_sync(self):
        landed, attempts, trials, on_wire, spans = 0, 0, 0, 0, []
        deadline = time.monotonic() + (3600 if fstest.LONG else 600)
        while landed < AGENT_KILLS and time.monotonic() < deadline:
            attempts += 1
            x, y = self.pick()
            self.backlog(x, y)
            pending = list(self.unacked[id(x)])
            self.proxy.passthrough()  # byte counts from zero
            p = subprocess.Popen([fstest.AGENT, "--kdf-cost", "low", "--json", "sync"],
                                 env=x.env(x.admin), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            spans.append(self.span())
            time.sleep(self.rnd.uniform(0, spans[-1]))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                landed += 1
                with self.proxy.lock:
                    on_wire += self.proxy.counts[Proxy.C2S] > 0
            out, err = p.communicate(timeout=60)
            self.log.append("%s sync killed: rc %d" % (self.names[id(x)], p.returncode))
            if p.returncode == 0:
                self.ack(x, pending)
            else:
                self.assertEqual(p.returncode, -signal.SIGKILL, err)
            self.check_device(x)
            self.sync_ok(x)
            trials += 1
            if trials % CHECK_EVERY == 0:
                self.converge()
        self.converge()
        self.check_device(self.a)
        self.check_device(self.b)
        self.assertGreaterEqual(landed, AGENT_KILLS, "only %d kills landed in %d attempts" %
                                (landed, attempts))
        self.assertGreater(on_wire, AGENT_KILLS // 5, "too few kills after the sync connected")
        print("\n%d agent kills during sync (%d after it connected) in %d attempts (delays up "
              "to %.3f-%.3fs); %d notes converged" % (landed, on_wire, attempts, min(spans),
                                                      max(spans), len(self.written)))

    @reported
    def test_server_killed_during_sync(self):
        landed, attempts, trials, slowest, on_wire, spans = 0, 0, 0, 0.0, 0, []
        port = self.hq.port
        deadline = time.monotonic() + (3600 if fstest.LONG else 600)
        while landed < SERVER_KILLS and time.monotonic() < deadline:
            attempts += 1
            x, y = self.pick()
            self.backlog(x, y)
            touched = {self.written[m] for m in self.unacked[id(x)]}
            pending = list(self.unacked[id(x)])
            self.proxy.passthrough()  # byte counts from zero
            t0 = time.monotonic()
            p = subprocess.Popen([fstest.AGENT, "--kdf-cost", "low", "--json", "sync"],
                                 env=x.env(x.admin), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            spans.append(self.span())
            time.sleep(self.rnd.uniform(0, spans[-1]))
            running = p.poll() is None
            self.hq.kill()
            landed += running
            with self.proxy.lock:
                on_wire += running and self.proxy.counts[Proxy.C2S] > 0
            out, err = p.communicate(timeout=60)
            took = time.monotonic() - t0
            what = "%s sync, server killed: rc %d in %.2fs" % (self.names[id(x)], p.returncode,
                                                              took)
            self.log.append(what)
            if p.returncode == 0:
                self.ack(x, pending)
            else:
                self.assertEqual(p.returncode, 1, what + "\n" + err)
                self.assertRegex(err, r"(?m)^fieldsync-agent: error: cannot reach ", what)
                slowest = max(slowest, took)
                self.assertLess(took, CUT_DEADLINE, what)
            # What the server acknowledged is in its store (read with the server down).
            for case in touched:
                view = self.hq.ok("--json", "case", "show", case).json()
                self.assert_notes("HQ after a kill", view,
                                  [m for m in self.acked if self.written[m] == case])
            self.hq.start_on(port)
            self.assertEqual(self.hq.port, port)
            self.check_device(x)
            self.sync_ok(x)
            trials += 1
            if trials % CHECK_EVERY == 0:
                self.converge()
        self.converge()
        self.assertGreaterEqual(landed, SERVER_KILLS, "only %d kills landed in %d attempts" %
                                (landed, attempts))
        self.assertGreater(on_wire, SERVER_KILLS // 5, "too few kills after the sync connected")
        print("\n%d server kills during sync (%d after it connected) in %d attempts (delays "
              "up to %.3f-%.3fs), failed syncs ended within %.2fs; %d notes converged" %
              (landed, on_wire, attempts, min(spans), max(spans), slowest, len(self.written)))

    def cut_sync(self, x, limit):
        """A sync of x cut (a FIN) after `limit` bytes from the device: it must fail cleanly."""
        self.proxy.arm(Proxy.C2S, limit, False)
        r = x.run("--json", "sync", timeout=300)
        info = self.proxy.cut_info
        self.proxy.passthrough()
        self.assertIsNotNone(info, "the sync sent fewer than %d bytes" % limit)
        self.assertEqual(r.rc, 1, r)
        self.assertRegex(r.err, r"(?m)^fieldsync-agent: error: cannot reach ")

    @reported
    def test_cut_in_a_push_of_many_rounds(self):
        """A push of several requests (rounds of about 1 MiB of objects, the next built while
        HQ takes one in) cut in a later round: the cases of the rounds HQ answered stay taken
        and are not pushed again, the rest follow in the next sync, nothing is lost."""
        x = self.a
        texts = {}
        for k in range(48):  # about 50 KB of narrative each, little of it compressible
            text = "\n".join("Statement %d.%d: %032x %032x %032x." %
                             (k, i, self.rnd.getrandbits(128), self.rnd.getrandbits(128),
                              self.rnd.getrandbits(128)) for i in range(400)) + "\n"
            path = os.path.join(self.tmp, "narrative-%d.txt" % k)
            with open(path, "w") as f:
                f.write(text)
            case = x.new_case("Many rounds case %d" % k, "theft")
            x.ok("case", "edit", case, "--narrative-file", path)
            texts[case] = text
        wire = len(zlib.compress("".join(texts.values()).encode(), 6))
        self.cut_sync(x, wire * 2 // 3)
        at_hq = {c["id"] for c in self.hq.ok("--json", "case", "list").json()["cases"]}
        taken = set(texts) & at_hq
        self.assertTrue(0 < len(taken) < len(texts),
                        "HQ took %d of %d cases before the cut: the push was not split into "
                        "rounds answered one by one" % (len(taken), len(texts)))
        for case in taken:  # what HQ answered for is whole at HQ
            self.assertEqual(self.hq.ok("--json", "case", "show", case).json(), x.show(case))
        self.check_device(x)
        after = self.sync_ok(x)
        self.assertEqual(after["pushed"], len(texts) - len(taken),
                         "cases HQ had acknowledged were pushed again: %r" % after)
        for case, text in texts.items():
            view = self.hq.ok("--json", "case", "show", case).json()
            self.assertEqual(view, x.show(case), case)
            self.assertEqual(view["narrative"].split(), text.split(), case)  # one sentence a line
        self.converge()
        print("\ncut after %d of about %d bytes: HQ had taken %d of %d cases in the rounds it "
              "answered; the next sync pushed the other %d" %
              (wire * 2 // 3, wire, len(taken), len(texts), after["pushed"]))

    def hq_trail(self, office="ELP"):
        """The size of each of the office's trails HQ holds: {device: (size, countersigned)}."""
        devices = self.hq.ok("--json", "audit", "verify").json()["devices"]
        for d in devices:
            self.assertEqual(d["status"], "ok", d)
        return {d["device"]: (d["size"], d["countersigned"]) for d in devices
                if d["office"] == office}

    @reported
    def test_cut_in_an_audit_upload_of_many_batches(self):
        """An audit upload of three batches (5,000 entries each: the next is built while HQ
        takes one in, and sent only once its receipt is kept) cut in the second: HQ holds and
        countersigned the first, the next sync uploads only the rest; every trail verifies."""
        x = self.a
        prep = os.path.join(os.environ.get("FIELDSYNC_BUILD", ""), "tests", "bench_sync_prep")
        if not os.path.exists(prep):
            self.skipTest("bench_sync_prep is not built (FIELDSYNC_BUILD, set by ctest)")
        r = subprocess.run([prep, "filler", "10500"], env=x.env(x.admin), capture_output=True,
                           text=True, timeout=900)  # 10,500 audited case creations
        self.assertEqual(r.returncode, 0, r.stderr)
        mine = x.ok("--json", "audit", "verify").json()
        held = mine["countersigned"]
        raw = [bytes.fromhex(e["leaf"]).decode()
               for e in x.ok("--json", "audit", "log").json()["entries"]]
        self.assertGreater(len(raw) - held, 10000)
        # the first batch on the wire, about (HQ's wire format has a preset dictionary, so it
        # is smaller): the cut falls after it, and well before the last batch
        first = len(zlib.compress(json.dumps(raw[held:held + 5000]).encode(), 6))
        self.cut_sync(x, first * 13 // 10)
        trail = self.hq_trail()
        device = [d for d, (size, _) in trail.items() if size >= held + 5000]
        self.assertEqual(len(device), 1, "HQ took no whole batch before the cut: %r" % trail)
        size, countersigned = trail[device[0]]
        self.assertIn(size - held, (5000, 10000), trail)
        self.assertEqual(countersigned, size, "a batch HQ stored without its receipt")
        self.check_device(x)
        total = x.ok("--json", "audit", "verify").json()["size"]
        after = self.sync_ok(x)
        # from HQ's receipt on: nothing sent twice (the sync's own entries come after `total`)
        self.assertGreaterEqual(after["audit_uploaded"], total - size)
        self.assertLess(after["audit_uploaded"], total - size + 50, after)
        size2, countersigned2 = self.hq_trail()[device[0]]
        mine = x.ok("--json", "audit", "verify").json()
        self.assertEqual(mine["status"], "ok")
        self.assertGreaterEqual(size2, total)
        self.assertEqual(countersigned2, size2)
        self.converge()
        print("\ncut after %d bytes (first batch about %d): HQ held %d of the %d new entries; "
              "the next sync uploaded %d" % (first * 13 // 10, first, size - held, total - held,
                                             after["audit_uploaded"]))

    def span(self):
        """About how long a sync takes here now, to spread the kills over its whole life."""
        recent = sorted(self.durations)
        return max(recent[len(recent) // 2] * 1.5, 0.02)

if __name__ == "__main__":
    unittest.main(verbosity=2)
