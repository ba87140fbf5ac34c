"""The systemd units (packaging/systemd/*.service) and what the programs do for them:
`systemd-analyze verify` clean, `systemd-analyze security` exposure at most 2.0 each, every
system call the services make allowed by the units' SystemCallFilter=, READY=1
and STOPPING=1 sent for real over NOTIFY_SOCKET by `fieldsync-server run` and
`fieldsync-agent serve`, and both unlocking from a systemd credential ($CREDENTIALS_DIRECTORY)
with no key file named.

PID 1 is not systemd where the tests run, so the units are checked, not started: verify runs
on a temporary copy of each unit whose ExecStart= names the binary of this build (verify wants
the command to exist) and whose Documentation= keeps only the pages found in docs/man (verify
runs man(1) on each, with MANPATH pointing at a copy of docs/man)."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import unittest

import fstest
import hqtest

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
UNITS = os.path.join(TOP, "packaging", "systemd")
BINARIES = {"fieldsync-server": hqtest.SERVER, "fieldsync-agent": fstest.AGENT}
INSTALLED = {"fieldsync-server": "/usr/sbin", "fieldsync-agent": "/usr/bin"}  # the packages'

ANALYZE = shutil.which("systemd-analyze")


def read(path):
    with open(path) as f:
        return f.read()


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FIELDSYNC_") and k not in ("NOTIFY_SOCKET",
                                                          "CREDENTIALS_DIRECTORY")}
    env.update(extra)
    return env


@unittest.skipUnless(ANALYZE, "systemd-analyze is not installed")
class Units(fstest.NodeTest):
    def man_tree(self):
        """A copy of docs/man as a MANPATH tree; the pages it has, as 'name(section)'."""
        root, pages = os.path.join(self.tmp, "man"), set()
        for name in os.listdir(os.path.join(TOP, "docs", "man")):
            m = re.match(r"(.+)\.(\d)$", name)
            if not m:
                continue
            os.makedirs(os.path.join(root, "man" + m.group(2)), exist_ok=True)
            shutil.copy(os.path.join(TOP, "docs", "man", name),
                        os.path.join(root, "man" + m.group(2), name))
            pages.add("%s(%s)" % m.groups())
        return root, pages

    def test_verify_clean(self):
        manpath, pages = self.man_tree()
        self.assertIn("fieldsync.conf(5)", pages)
        for unit, binary in BINARIES.items():
            with open(os.path.join(UNITS, unit + ".service")) as f:
                text = f.read()
            self.assertIn("ExecStart=%s/%s " % (INSTALLED[unit], unit), text)
            copy = text.replace("ExecStart=%s/%s " % (INSTALLED[unit], unit),
                                "ExecStart=%s " % os.path.abspath(binary))
            docs = re.search(r"(?m)^Documentation=(.*)$", copy).group(1).split()
            kept = [d for d in docs if not d.startswith("man:") or d[4:] in pages]
            for d in sorted(set(docs) - set(kept)):
                print("%s: verify skips Documentation=%s (not in docs/man)" % (unit, d))
            copy = re.sub(r"(?m)^Documentation=.*$", "Documentation=" + " ".join(kept), copy)
            d = os.path.join(self.tmp, unit)
            os.makedirs(d)
            path = os.path.join(d, unit + ".service")
            with open(path, "w") as f:
                f.write(copy)
            r = subprocess.run([ANALYZE, "verify", path], capture_output=True, text=True,
                               env=dict(os.environ, MANPATH=manpath), timeout=120)
            self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""), unit)

    def test_exposure_score(self):
        for unit in BINARIES:
            path = os.path.join(UNITS, unit + ".service")
            r = subprocess.run([ANALYZE, "security", "--offline=true", "--no-pager", path],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            m = re.search(r"Overall exposure level for %s\.service: (\d+\.\d+)" % unit, r.stdout)
            self.assertIsNotNone(m, r.stdout)
            print("%s.service: systemd-analyze security exposure %s" % (unit, m.group(1)))
            self.assertLessEqual(float(m.group(1)), 2.0, r.stdout)
            for directive in ("ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                              "PrivateDevices=yes", "NoNewPrivileges=yes",
                              "CapabilityBoundingSet=\n", "RestrictAddressFamilies=",
                              "SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes",
                              "ReadWritePaths=/var/lib/fieldsync\n", "LockPersonality=yes",
                              "RestrictNamespaces=yes", "User=fieldsync", "Type=notify",
                              "StateDirectory=fieldsync", "ConfigurationDirectory=fieldsync",
                              "LoadCredential=%s.key:/etc/fieldsync/%s.key" %
                              (unit, unit.split("-")[1])):
                with open(path) as f:
                    self.assertIn(directive, f.read(), unit)


def syscall_group(name):
    """The system calls of a systemd group (`systemd-analyze syscall-filter`), nested groups
    expanded."""
    out = subprocess.run([ANALYZE, "syscall-filter", name], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        calls |= syscall_group(word) if word.startswith("@") else {word}
    return calls


@unittest.skipUnless(ANALYZE and shutil.which("strace") and shutil.which("setpriv"),
                     "needs systemd-analyze, strace and setpriv")
class SyscallFilter(fstest.NodeTest):
    """Every system call the server's `run` and the agent's `serve` make in a short life
    (start, a request, SIGTERM) is one the units' SystemCallFilter= allows
    (@system-service without @privileged): under the unit a refused call fails with EPERM.
    Traced as an unprivileged user, as under User=fieldsync (SQLite fchown()s new files
    only when it runs as root)."""

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("runs the traced programs as another user: needs root")
        for binary in BINARIES.values():
            with open(binary, "rb") as f:
                if b"__asan_init" in f.read():
                    # the sanitizers' own calls are not the program's, and LeakSanitizer
                    # does not work under ptrace
                    self.skipTest("a sanitizer build")

    def traced(self, name, cmd, ready, poke):
        """Run cmd as nobody under strace -f -c; poke() once `ready` is in its log; SIGTERM.
        The set of system calls it made."""
        for root, dirs, files in os.walk(self.tmp):
            for x in [root] + [os.path.join(root, f) for f in dirs + files]:
                os.chown(x, 65534, 65534)
        summary, log = os.path.join(self.tmp, name + ".trace"), os.path.join(self.tmp, name + ".log")
        with open(log, "w") as logf:
            proc = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                     "strace", "-f", "-c", "-o", summary] + cmd,
                                    env=clean_env(FIELDSYNC_CONFIG="/dev/null"),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=logf)
        try:
            deadline = time.time() + 60
            while ready not in read(log):
                self.assertIsNone(proc.poll(), read(log))
                self.assertLess(time.time(), deadline, read(log))
                time.sleep(0.05)
            poke(read(log))
        finally:
            # SIGTERM to the traced program (strace's child), not to strace, which would detach
            with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
                for child in f.read().split():
                    os.kill(int(child), signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=60), 0, read(log))  # strace exits as it did
        calls = set()
        for line in read(summary).splitlines():
            fields = line.split()
            if (len(fields) >= 5 and re.match(r"^\d+\.\d+$", fields[0]) and
                    re.match(r"^[a-z_0-9]+$", fields[-1]) and fields[-1] != "total"):
                calls.add(fields[-1])
        self.assertGreater(len(calls), 20, read(summary))
        return calls

    def allowed(self, unit):
        """The calls the unit's SystemCallFilter= lines allow (an allow list, then ~ removals)."""
        calls = set()
        with open(os.path.join(UNITS, unit + ".service")) as f:
            for value in re.findall(r"(?m)^SystemCallFilter=(.*)$", f.read()):
                deny = value.startswith("~")
                for item in value.lstrip("~").split():
                    group = syscall_group(item) if item.startswith("@") else {item}
                    calls = calls - group if deny else calls | group
        self.assertIn("read", calls)
        return calls

    def test_server_run(self):
        hq = hqtest.Server(self.tmp)
        hq.init()

        def poke(text):
            port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", text).group(1))
            hq.port = port
            self.assertEqual(hq.tls_get("/v1/ca")[0], 200)

        calls = self.traced("server", [hqtest.SERVER, "--home", hq.home, "run", "--listen",
                                       "127.0.0.1:0", "--workers", "2"], "listening on", poke)
        self.assertEqual(sorted(calls - self.allowed("fieldsync-server")), [])

    def test_agent_serve(self):
        n = self.node("dev")
        n.init()
        key = os.path.join(self.tmp, "agent.key")
        n.ok("key-file", "create", key)
        port = free_port()

        def poke(text):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n"
                          % port)
                self.assertIn(b"200", s.recv(4096))

        calls = self.traced("agent", [fstest.AGENT, "--home", n.home, "serve", "--key-file", key,
                                      "--listen", "127.0.0.1:%d" % port], "listening on", poke)
        self.assertEqual(sorted(calls - self.allowed("fieldsync-agent")), [])


class Notify:
    """A NOTIFY_SOCKET: an AF_UNIX datagram socket, as systemd listens on."""

    def __init__(self, tmp):
        self.path = os.path.join(tmp, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.got = []

    def wait_for(self, field, timeout=30):
        """Messages until one holds the line `field`; that message as a dict."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.time()))
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            msg = dict(line.split("=", 1) for line in data.split("\n") if "=" in line)
            self.got.append(msg)
            if field in data.split("\n"):
                return msg
        raise AssertionError("no %s in %r" % (field, self.got))

    def close(self):
        self.sock.close()


class SdNotify(fstest.NodeTest):
    def start(self, cmd, env, log):
        self.logf = open(log, "w")
        self.addCleanup(self.logf.close)
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=self.logf)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        return proc

    def wait_status(self, notify, text, timeout=30):
        deadline = time.time() + timeout
        for msg in notify.got:
            if text in msg.get("STATUS", ""):
                return msg
        while time.time() < deadline:
            notify.sock.settimeout(max(0.01, deadline - time.time()))
            try:
                data = notify.sock.recv(4096).decode()
            except socket.timeout:
                break
            msg = dict(line.split("=", 1) for line in data.split("\n") if "=" in line)
            notify.got.append(msg)
            if text in msg.get("STATUS", ""):
                return msg
        raise AssertionError("no STATUS with %r in %r" % (text, notify.got))

    def stop_and_expect(self, proc, notify, log):
        proc.send_signal(signal.SIGTERM)
        msg = notify.wait_for("STOPPING=1")
        self.assertIn("stopping", msg.get("STATUS", ""))
        self.assertEqual(proc.wait(timeout=30), 0)
        with open(log) as f:
            return f.read()

    def hq_with_credential(self):
        """An HQ whose key file is only in a credentials directory, mode 0400 as systemd
        makes it (the default DIR.key is gone)."""
        hq = hqtest.Server(self.tmp)
        hq.init()
        creds = os.path.join(self.tmp, "credentials")
        os.mkdir(creds, 0o700)
        cred = os.path.join(creds, "fieldsync-server.key")
        shutil.move(hq.keyfile, cred)
        os.chmod(cred, 0o400)
        return hq, creds, cred

    def test_server_ready_and_stopping_unlocked_by_credential(self):
        hq, creds, cred = self.hq_with_credential()
        # without the credential the server cannot open its store: the key file is gone
        r = hq.run("office", "list")
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn(hq.keyfile, r.err)
        notify = Notify(self.tmp)
        self.addCleanup(notify.close)
        log = os.path.join(self.tmp, "hq.log")
        env = clean_env(NOTIFY_SOCKET=notify.path, CREDENTIALS_DIRECTORY=creds)
        proc = self.start([hqtest.SERVER, "--home", hq.home, "run", "--listen", "127.0.0.1:0",
                           "--workers", "2"], env, log)
        msg = notify.wait_for("READY=1")
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", msg["STATUS"]).group(1))
        # ready means listening: a connection is accepted at once
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        text = self.stop_and_expect(proc, notify, log)
        self.assertIn("unlocked with the systemd credential %s" % cred, text)
        # `config show` says so; other commands take the credential too; an explicit
        # --key-file still wins
        r = subprocess.run([hqtest.SERVER, "--config", "/dev/null", "config", "show"],
                           env=clean_env(CREDENTIALS_DIRECTORY=creds, FIELDSYNC_KEY_FILE="/x"),
                           capture_output=True, text=True, timeout=60)
        self.assertRegex(r.stdout, r"(?m)^key-file = %s +; systemd credential "
                         r"fieldsync-server\.key$" % re.escape(cred))
        r = subprocess.run([hqtest.SERVER, "--config", "/dev/null", "--key-file", "/y", "config",
                            "show"], env=clean_env(CREDENTIALS_DIRECTORY=creds),
                           capture_output=True, text=True, timeout=60)
        self.assertRegex(r.stdout, r"(?m)^key-file = /y +; command line --key-file$")
        r = subprocess.run([hqtest.SERVER, "--home", hq.home, "--json", "office", "list"],
                           env=clean_env(CREDENTIALS_DIRECTORY=creds), capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        wrong = os.path.join(self.tmp, "missing.key")
        r = subprocess.run([hqtest.SERVER, "--home", hq.home, "--key-file", wrong, "office",
                            "list"], env=clean_env(CREDENTIALS_DIRECTORY=creds),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(wrong, r.stderr)

    def test_server_runs_with_a_dead_notify_socket(self):
        hq = hqtest.Server(self.tmp)
        hq.init()
        log = os.path.join(self.tmp, "hq.log")
        env = clean_env(NOTIFY_SOCKET=os.path.join(self.tmp, "nobody-listens"))
        proc = self.start([hqtest.SERVER, "--home", hq.home, "run", "--workers", "1"], env, log)
        deadline = time.time() + 30
        while "listening on" not in read(log):
            self.assertIsNone(proc.poll(), read(log))
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=30), 0)

    def test_agent_ready_and_stopping_unlocked_by_credential(self):
        n = self.node("dev")
        n.init()
        key = os.path.join(self.tmp, "agent.key")
        n.ok("key-file", "create", key)
        creds = os.path.join(self.tmp, "credentials")
        os.mkdir(creds, 0o700)
        cred = os.path.join(creds, "fieldsync-agent.key")
        shutil.move(key, cred)
        os.chmod(cred, 0o400)
        notify = Notify(self.tmp)
        self.addCleanup(notify.close)
        log = os.path.join(self.tmp, "serve.log")
        # no user, no passphrase, no --key-file: as the unit starts it
        env = clean_env(NOTIFY_SOCKET=notify.path, CREDENTIALS_DIRECTORY=creds,
                        FIELDSYNC_HOME=n.home, FIELDSYNC_CONFIG="/dev/null")
        port = free_port()
        proc = self.start([fstest.AGENT, "serve", "--listen", "127.0.0.1:%d" % port], env, log)
        msg = notify.wait_for("READY=1")
        self.assertIn("web on 127.0.0.1:%d" % port, msg["STATUS"])
        # the background sync's outcome is a STATUS= line (this device is not enrolled)
        msg = self.wait_status(notify, "sync failed")
        self.assertIn("1 in a row", msg["STATUS"])
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        # the command line reaches the service once READY=1 is out
        self.assertTrue(os.path.exists(os.path.join(n.home, "serve.sock")))
        text = self.stop_and_expect(proc, notify, log)
        self.assertIn("unlocked from the device key file %s" % cred, text)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


if __name__ == "__main__":
    unittest.main()
