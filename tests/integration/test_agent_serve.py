"""`fieldsync-agent serve`: one process holding the unlocked store.

- The command line through the service prints the same, exits the same and leaves the same audit
  entries as on its own, without a key derivation while the user's session is open; a user with
  no session logs on with their passphrase (wrong ones counted as always); a relative path is
  the caller's.
- The web API refuses (and audits) a request with no session, a POST without or with a wrong
  CSRF token, a foreign Origin, a foreign Host; a session idle past --idle needs the passphrase
  again; a non-loopback address is refused.
- The background sync catches up by itself once HQ comes up, within the back-off bound.
- SIGKILL of the service during background syncs (>= 30 trials): `check` passes, every
  acknowledged note is there and reaches HQ, and the service restarts cleanly.
- No case text, passphrase or session token under the node directory or in the service log.
"""
import json
import os
import random
import re
import socket
import stat
import subprocess
import time
import unittest

import fstest
import hqtest
import servetest

KILLS = fstest.trials(30, 300, 30)


class ServeTest(fstest.NodeTest):
    def tearDown(self):
        self.doCleanups()  # the services stop (and their stderr is checked) before rmtree
        super().tearDown()

    def service(self, node, *args, **kw):
        svc = servetest.Service(node, os.path.join(self.tmp, "serve-%s.log" % os.path.basename(
            node.home)), *args, **kw)
        self.addCleanup(svc.stop)
        return svc.start()

    def secrets_absent(self, node, log, secrets):
        """None of `secrets` (strings) in any file under the node directory nor in the log."""
        for path in list(fstest.files_under(node.home)) + [log]:
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                continue
            data = fstest.read_bytes(path)
            for s in secrets:
                self.assertNotIn(s.encode(), data, "%r found in clear in %s" % (s, path))


class CommandLineThroughService(ServeTest):
    def test_same_output_exit_codes_and_audit(self):
        n = self.node()
        n.init()
        n.ok("user", "add", "bob", "--role", "investigator",
             extra_env={"FIELDSYNC_NEW_PASSPHRASE": fstest.PASS["bob"]})
        cid = n.new_case("Bribery at the port of entry", "bribery", "priority=1")
        alone = {"FIELDSYNC_NO_SERVICE": "1"}
        cmds = [("case", "list"), ("--json", "case", "show", cid), ("case", "history", cid),
                ("case", "show", "ELP-26-NOPE0"), ("case", "edit"), ("case", "frobnicate"),
                ("--json", "conflicts"), ("case", "fields")]
        skip = ("logon", "audit.read", "sync")  # a log-on per command; the reads; bg sync

        def trail():
            return n.audit(extra_env=alone)

        def acts(seg):
            return [(e["user"], e["action"], e["target"], e["outcome"], e.get("detail"))
                    for e in seg if e["action"] not in skip]

        m0 = len(trail())
        before = [n.run(*c, extra_env=alone) for c in cmds]
        seg_alone = trail()[m0:-2]  # without the reading command's own log-on and read

        svc = self.service(n, "--sync-every", "1h")
        sock = os.path.join(n.home, "serve.sock")
        self.assertEqual(stat.S_IMODE(os.stat(sock).st_mode), 0o600)
        m1 = len(trail())
        # a wrong passphrase in the environment: a session is open, nothing derives a key
        through = [n.run(*c, passphrase="not the passphrase") for c in cmds]
        seg_service = trail()[m1:-2]
        for a, b, c in zip(before, through, cmds):
            self.assertEqual((a.rc, a.out, a.err), (b.rc, b.out, b.err), c)
        self.assertEqual([b.rc for b in through], [0, 0, 0, 1, 2, 2, 0, 0])
        self.assertTrue(acts(seg_alone))
        self.assertEqual(acts(seg_alone), acts(seg_service))
        self.assertGreaterEqual(len([e for e in seg_alone if e["action"] == "logon"]), 4)
        self.assertNotIn("logon", [e["action"] for e in seg_service])

        # a relative path is the caller's; the edit is acknowledged and visible on its own
        work = os.path.join(self.tmp, "work")
        os.mkdir(work)
        with open(os.path.join(work, "report.md"), "w") as f:
            f.write("The shipment was waved through.\n")
        r = subprocess.run([fstest.AGENT, "case", "edit", cid, "--narrative-file", "report.md"],
                           cwd=work, env=n.env("alice"), capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(n.show(cid, extra_env=alone)["narrative"],
                         "The shipment was waved through.\n")

        # bob has no session: a wrong passphrase is refused and counted, the right one logs on
        r = n.run("case", "list", user="bob", passphrase="wrong passphrase!")
        self.assertFails(r, 1, "wrong passphrase", "attempts left")
        r = n.ok("case", "list", user="bob")
        r = n.ok("case", "list", user="bob", passphrase="")  # his session now
        log = [(e["user"], e["action"], e["outcome"]) for e in n.audit(extra_env=alone)]
        self.assertIn(("bob", "logon", "success"), log)
        self.assertIn(("bob", "logon", "failure"), log)
        # role checks are the command's: bob may not read the audit log through the service
        r = n.run("audit", "log", user="bob")
        self.assertFails(r, 1, "may not do")

        # status shows the service's background sync
        st = n.ok("--json", "status", passphrase="").json()
        self.assertIn("service", st)
        self.assertIn("this device is not enrolled", st["service"]["last_error"])
        self.assertEqual(svc.stop(), 0)
        self.assertFalse(os.path.exists(sock))
        # no service: the command runs on its own again (and needs the passphrase)
        self.assertFails(n.run("case", "list", passphrase="not the passphrase"), 1,
                         "wrong passphrase")

    def test_logon_and_logoff(self):
        n = self.node()
        n.init()
        n.ok("user", "add", "bob", "--role", "investigator",
             extra_env={"FIELDSYNC_NEW_PASSPHRASE": fstest.PASS["bob"]})
        self.assertFails(n.run("logon", user="bob"), 1, "no service runs on this node")
        self.assertFails(n.run("logoff", user="bob"), 1, "no service runs on this node")
        self.service(n, "--sync-every", "1h", web=False)
        self.assertFails(n.run("logoff", user="bob"), 1, "no open session for 'bob'")
        self.assertFails(n.run("logon", user="bob", passphrase="wrong passphrase!"), 1,
                         "wrong passphrase")
        r = n.ok("logon", user="bob")
        self.assertIn("logged on as bob", r.out)
        n.ok("case", "list", user="bob", passphrase="not his passphrase")  # the session's
        self.assertIn("logged off bob", n.ok("logoff", user="bob", passphrase="").out)
        # the session is gone: a command needs the passphrase again
        self.assertFails(n.run("case", "list", user="bob", passphrase="not his passphrase"), 1,
                         "wrong passphrase")
        log = [(e["user"], e["action"], e["outcome"]) for e in n.audit()]
        self.assertIn(("bob", "logoff", "success"), log)
        self.assertIn(("bob", "logon", "failure"), log)

    def test_one_service_per_node_and_stale_socket(self):
        n = self.node()
        n.init()
        svc = self.service(n, "--sync-every", "1h")
        second = servetest.Service(n, os.path.join(self.tmp, "second.log"))
        second.start(expect_ok=False)
        self.assertEqual(second.proc.wait(timeout=30), 1)
        self.assertIn("a service already runs", second.stderr())
        second.errf.close()
        svc.kill()
        # the socket is left behind by SIGKILL: commands run on their own, serve starts again
        self.assertTrue(os.path.exists(os.path.join(n.home, "serve.sock")))
        n.ok("case", "list")
        svc.start()
        n.ok("case", "list", passphrase="")


class WebRefusals(ServeTest):
    def test_refusals_are_refused_and_audited(self):
        n = self.node()
        n.init()
        svc = self.service(n, "--sync-every", "1h")
        w = svc.web_client()
        r = w.get("/api/cases")
        self.assertEqual(r.status, 401, r)
        for path in ("/", "/app.js", "/api/cases"):
            r = w.get(path)
            self.assertEqual(r.headers.get("cache-control"), "no-store", path)
            self.assertIn("script-src 'self'", r.headers.get("content-security-policy"))
            self.assertNotIn("unsafe-inline", r.headers.get("content-security-policy"))
        self.assertNotIn("<script>", w.get("/").body)  # no inline script
        self.assertEqual(w.logon("alice", "wrong passphrase!").status, 401)
        r = w.logon("alice", fstest.PASS["alice"])
        self.assertEqual(r.status, 200, r)
        cookie = w.cookie
        raw = svc.web_client().logon("alice", fstest.PASS["alice"]).headers["set-cookie"]
        self.assertIn("HttpOnly", raw)
        self.assertIn("SameSite=Strict", raw)
        w.cookie = cookie = "fs_session=" + raw.split(";")[0].split("=")[1]
        w.csrf = None
        r = w.get("/api/session")
        w.csrf = r.json()["csrf"]
        self.assertEqual(w.get("/api/cases").status, 200)

        self.assertEqual(w.post("/api/sync", csrf=False).status, 403)
        self.assertEqual(w.post("/api/sync", headers={"X-CSRF-Token": "00" * 32}).status, 403)
        self.assertEqual(w.post("/api/cases", {"title": "Forged", "category": "theft"},
                                headers={"Origin": "http://evil.example"}).status, 403)
        self.assertEqual(w.get("/api/cases", headers={"Host": "rebind.example:%d" % svc.port})
                         .status, 421)
        self.assertEqual(w.post("/api/sync", headers={"Sec-Fetch-Site": "cross-site"}).status,
                         403)
        self.assertEqual(w.post("/api/sync").status, 202)
        r = w.post("/api/cases", {"title": "Proper", "category": "theft"})
        self.assertEqual(r.status, 201, r)
        ids = [c["id"] for c in w.get("/api/cases").json()["cases"]]
        self.assertEqual(len(ids), 1)  # the forged one never landed

        refused = [e["detail"] for e in n.audit(passphrase="")
                   if e["action"] == "web.refused"]
        for why in ("GET /api/cases: no session", "POST /api/sync: missing CSRF token",
                    "POST /api/sync: wrong CSRF token", "foreign Origin 'http://evil.example'",
                    "foreign Host header 'rebind.example:%d'" % svc.port,
                    "foreign Origin 'cross-site'"):
            self.assertTrue(any(why in d for d in refused), (why, refused))

        r = w.post("/api/logoff")
        self.assertEqual(r.status, 200)
        self.assertEqual(w.get("/api/cases").status, 401)

        svc.stop()
        p = subprocess.run([fstest.AGENT, "serve", "--listen", "0.0.0.0:%d" % svc.port],
                           env=n.env("alice"), capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("loopback address only", p.stderr)

    def test_refusals_with_curl(self):
        """The same refusals as a script would meet them with curl(1): a cookie jar, the
        session's CSRF token in a header, and the forged requests an attacker would send."""
        n = self.node()
        n.init()
        svc = self.service(n, "--sync-every", "1h")
        base = "http://127.0.0.1:%d" % svc.port
        jar = os.path.join(self.tmp, "cookies")

        def curl(method, path, *args, body=None):
            cmd = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", method,
                   "-b", jar, "-c", jar] + list(args)
            if body is not None:
                cmd += ["-H", "Content-Type: application/json", "--data-binary",
                        json.dumps(body)]
            p = subprocess.run(cmd + [base + path], capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            text, code = p.stdout.rsplit("\n", 1)
            return int(code), text

        self.assertEqual(curl("GET", "/api/status")[0], 401)
        code, text = curl("POST", "/api/logon", body={"user": "alice",
                                                      "passphrase": fstest.PASS["alice"]})
        self.assertEqual(code, 200, text)
        token = json.loads(text)["csrf"]
        self.assertEqual(curl("GET", "/api/status")[0], 200)
        good = ["-H", "X-CSRF-Token: " + token]
        case = {"title": "Curl-made case", "category": "theft"}
        self.assertEqual(curl("POST", "/api/cases", body=case)[0], 403)
        self.assertEqual(curl("POST", "/api/cases", "-H", "X-CSRF-Token: " + "ab" * 32,
                              body=case)[0], 403)
        self.assertEqual(curl("POST", "/api/cases", "-H", "Origin: http://evil.example",
                              *good, body=case)[0], 403)
        self.assertEqual(curl("GET", "/api/cases", "-H", "Host: attacker.example:%d" % svc.port)
                         [0], 421)
        self.assertEqual(curl("POST", "/api/sync", *good)[0], 202)
        code, text = curl("POST", "/api/cases", *good, body=case)
        self.assertEqual(code, 201, text)
        cases = json.loads(curl("GET", "/api/cases")[1])["cases"]
        self.assertEqual([c["title"] for c in cases], ["Curl-made case"])
        details = [e["detail"] for e in n.audit(passphrase="") if e["action"] == "web.refused"]
        for why in ("GET /api/status: no session", "missing CSRF token", "wrong CSRF token",
                    "foreign Origin 'http://evil.example'",
                    "foreign Host header 'attacker.example:%d'" % svc.port):
            self.assertTrue(any(why in d for d in details), (why, details))

    def test_a_flood_of_refusals_is_folded(self):
        """A hostile page may send requests without end: 20 refusals a minute get an entry
        each, the rest one entry with their number."""
        n = self.node()
        n.init()
        svc = self.service(n, "--sync-every", "1h")
        w = svc.web_client()
        m0 = len(n.audit(extra_env={"FIELDSYNC_NO_SERVICE": "1"}))
        for i in range(150):
            r = w.post("/api/cases", {"title": "Forged", "category": "theft"},
                       headers={"Origin": "http://evil%d.example" % i})
            self.assertEqual(r.status, 403)
        self.assertEqual(svc.stop(), 0)
        log = n.audit(extra_env={"FIELDSYNC_NO_SERVICE": "1"})[m0:]
        refused = [e for e in log if e["action"] == "web.refused"]
        own = [e for e in refused if e["target"] != "(folded)"]
        folded = [e for e in refused if e["target"] == "(folded)"]
        self.assertEqual(len(own), 20, [e["detail"] for e in refused])
        self.assertEqual(len(folded), 1, folded)
        self.assertIn("130 more refusals within a minute", folded[0]["detail"])
        self.assertIn("evil149.example", folded[0]["detail"])

    def test_idle_lock(self):
        n = self.node()
        n.init()
        svc = self.service(n, "--idle", "2s", "--sync-every", "1h")
        w = svc.web_client()
        self.assertEqual(w.logon("alice", fstest.PASS["alice"]).status, 200)
        self.assertEqual(w.get("/api/cases").status, 200)
        n.ok("case", "list", passphrase="")  # the same user's session serves the command line
        time.sleep(3.2)
        self.assertEqual(w.get("/api/cases").status, 401)
        # the command line needs the passphrase again too
        self.assertFails(n.run("case", "list", passphrase="not the passphrase"), 1,
                         "wrong passphrase")
        self.assertEqual(w.logon("alice", fstest.PASS["alice"]).status, 200)
        self.assertEqual(w.get("/api/cases").status, 200)
        locks = [e for e in n.audit(passphrase="") if e["action"] == "session.lock"]
        self.assertTrue(locks)
        self.assertIsNone(svc.proc.poll())
        r = subprocess.run([fstest.AGENT, "serve", "--idle", "31m"], env=n.env("alice"),
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("at most 30m", r.stderr)


class BackgroundSync(ServeTest):
    def test_catches_up_when_hq_comes_up(self):
        fleet = hqtest.Fleet(self.tmp)
        self.addCleanup(fleet.stop)
        a = fleet.device("a")
        port = fleet.hq.port
        fleet.stop()
        svc = self.service(a, "--sync-every", "1h", "--sync-debounce", "0",
                           "--backoff-min", "300ms", "--backoff-max", "2s")
        cid = a.new_case("Smuggling through the north gate", "smuggling")
        st = self.wait_status(a, lambda s: s["failures"] >= 2)
        self.assertTrue(st["last_error"], st)
        self.assertIsNone(st["last_success"], st)
        hqtest.start_server(fleet.hq, port=port)
        t0 = time.monotonic()
        st = self.wait_status(a, lambda s: s["last_success"] is not None and not s["running"])
        # the bound: the longest back-off with its jitter (3 s) and the sync itself
        self.assertLess(time.monotonic() - t0, 8)
        self.assertIsNone(st["last_error"])
        self.assertEqual(st["unpushed"], 0)
        hq = fleet.hq.ok("--json", "case", "list").json()["cases"]
        self.assertEqual([c["id"] for c in hq], [cid])

    def wait_status(self, node, pred, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = node.ok("--json", "status", passphrase="").json()["service"]
            if pred(st):
                return st
            time.sleep(0.1)
        raise AssertionError("status never matched: %r" % st)

    def test_sigkill_during_background_sync(self):
        fleet = hqtest.Fleet(self.tmp)
        self.addCleanup(fleet.stop)
        a = fleet.device("a")
        cid = fleet.synced_case(a, "Theft of seized goods", "theft")
        log = os.path.join(self.tmp, "serve-kill.log")
        svc = servetest.Service(a, log, "--sync-every", "1h", "--sync-debounce", "0",
                                "--backoff-min", "100ms", "--backoff-max", "500ms", web=False)
        self.addCleanup(svc.stop)
        acked, kills, during = [], 0, 0
        rng = random.Random(14)
        while kills < KILLS:
            svc.start()
            text = "note %d acknowledged through the service" % kills
            r = a.run("note", "add", cid, "--text", text, passphrase="")
            if r.rc == 0:
                acked.append(text)
            time.sleep(rng.uniform(0, 0.04))
            during += "background sync:" not in svc.read_log().split("unlocked by")[-1]
            svc.kill()
            kills += 1
        self.assertGreaterEqual(during, KILLS // 4, "too few kills while a sync ran")
        r = a.ok("check", extra_env={"FIELDSYNC_NO_SERVICE": "1"})
        notes = [x["text"] for x in a.show(cid)["notes"]]
        for t in acked:
            self.assertIn(t + "\n", notes)
        # restarts cleanly and the background sync brings everything to HQ
        svc.start()
        st = BackgroundSync.wait_status(self, a, lambda s: s["runs"] >= 1 and not s["running"]
                                        and s["last_success"] is not None)
        self.assertEqual(st["unpushed"], 0, st)
        at_hq = [x["text"] for x in fleet.hq.ok("--json", "case", "show", cid).json()["notes"]]
        for t in acked:
            self.assertIn(t + "\n", at_hq)
        svc.stop()
        a.ok("check")
        self.secrets_absent(a, log, ["Theft of seized goods", "acknowledged through",
                                     fstest.PASS["alice"]])
        print("\n%d kills (%d during a background sync), %d acknowledged notes all present"
              % (kills, during, len(acked)))


class NoSecrets(ServeTest):
    def test_no_secret_under_node_or_in_log(self):
        n = self.node()
        n.init()
        svc = self.service(n, "--sync-every", "1h")
        w = svc.web_client()
        w.logon("alice", fstest.PASS["alice"])
        r = w.post("/api/cases", {"title": "Kickbacks from the towing contractor",
                                  "category": "bribery",
                                  "narrative": "Paid in cash behind the impound lot.\n"})
        self.assertEqual(r.status, 201, r)
        cid = r.json()["id"]
        self.assertEqual(w.post("/api/cases/%s/notes" % cid,
                                {"text": "Witness saw the envelope"}).status, 201)
        token = w.cookie.split("=", 1)[1]
        secrets = ["Kickbacks from the towing", "behind the impound lot", "saw the envelope",
                   fstest.PASS["alice"], token, w.csrf]
        self.secrets_absent(n, svc.log, secrets)
        svc.stop()
        self.secrets_absent(n, svc.log, secrets)


class DeviceKeyFile(ServeTest):
    """`key-file create` + `serve --key-file`: the service starts with no passphrase, syncs in
    the background as the service identity, opens nobody's session, and the file's slot is
    retired by `key-file remove`."""

    def test_unattended_service_from_a_key_file(self):
        fleet = hqtest.Fleet(self.tmp)
        self.addCleanup(fleet.stop)
        a = fleet.device("a")
        inside = os.path.join(a.home, "device.key")
        r = a.run("key-file", "create", inside)
        self.assertEqual(r.rc, 1, r)
        self.assertIn("inside the node directory", r.err)
        self.assertFalse(os.path.exists(inside))
        key = os.path.join(self.tmp, "device.key")
        a.ok("user", "add", "bob", "--role", "investigator",
             extra_env={"FIELDSYNC_NEW_PASSPHRASE": fstest.PASS["bob"]})
        r = a.run("key-file", "create", key, user="bob", passphrase=fstest.PASS["bob"])
        self.assertEqual(r.rc, 1, r)
        self.assertIn("may not", r.err)
        self.assertFalse(os.path.exists(key))
        a.ok("key-file", "create", key)
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        with open(key) as f:
            secret = f.read().strip()
        self.assertRegex(secret, r"^[0-9a-f]{64}$")
        r = a.run("key-file", "create", key)
        self.assertEqual(r.rc, 1, r)  # the file exists: never overwritten
        with open(key) as f:
            self.assertEqual(f.read().strip(), secret)

        cid = a.new_case("Kickbacks in the vehicle fleet contract", "corruption")
        svc = servetest.Service(a, os.path.join(self.tmp, "serve-key.log"), "--sync-every",
                                "1h", "--sync-debounce", "0", web=False, key_file=key)
        self.addCleanup(svc.stop)
        svc.start()
        self.assertIn("unlocked from the device key file", svc.read_log())
        # nobody's session is open: a command without a passphrase is refused ...
        r = a.run("case", "list", passphrase="")
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("no open session", r.err)
        # ... yet the background sync ran, as the service identity
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            hq = fleet.hq.ok("--json", "case", "list").json()["cases"]
            if hq:
                break
            time.sleep(0.1)
        self.assertEqual([c["id"] for c in hq], [cid], svc.read_log())
        a.ok("logon")
        st = a.ok("--json", "status", passphrase="").json()["service"]
        self.assertIsNotNone(st["last_success"], st)
        self.assertEqual(svc.stop(), 0)
        trail = a.audit(extra_env={"FIELDSYNC_NO_SERVICE": "1"})
        acts = [(e["user"], e["action"], e["outcome"]) for e in trail]
        self.assertIn((a.admin, "keyfile.create", "success"), acts)
        self.assertIn(("@service", "logon", "success"), acts)
        self.assertTrue(any(u == "@service" and x.startswith("sync") for u, x, _ in acts), acts)
        self.secrets_absent(a, svc.log, [secret])

        # the service identity may do nothing but sync
        r = a.run("case", "list", user="@service", passphrase=secret,
                  extra_env={"FIELDSYNC_NO_SERVICE": "1"})
        self.assertEqual(r.rc, 1, r)
        self.assertIn("may not", r.err)

        # a key file others may read is refused; a wrong one counts as a failed log-on
        os.chmod(key, 0o644)
        r = subprocess.run([fstest.AGENT, "serve", "--no-web", "--key-file", key],
                           env=a.env(a.admin), capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("readable by others", r.stderr)
        os.chmod(key, 0o600)
        wrong = os.path.join(self.tmp, "wrong.key")
        with open(os.open(wrong, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write("0" * 64 + "\n")
        r = subprocess.run([fstest.AGENT, "serve", "--no-web", "--key-file", wrong],
                           env=a.env(a.admin), capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("attempts left", r.stderr)

        # removed: the file unlocks nothing any more
        a.ok("key-file", "remove")
        r = subprocess.run([fstest.AGENT, "serve", "--no-web", "--key-file", key],
                           env=a.env(a.admin), capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 1, r)
        r = a.run("key-file", "remove")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("no device key file", r.err)
        a.ok("check")


if __name__ == "__main__":
    unittest.main(verbosity=2)
