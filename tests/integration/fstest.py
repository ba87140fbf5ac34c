"""Shared helpers for fieldsync's integration tests: run the real binaries on a temp node.

The binaries come from FIELDSYNC_AGENT (set by ctest); FIELDSYNC_LONG=1 selects the long
mode of the heavy trials.  Key slots are created with --kdf-cost low: the tests exercise the
logic, not Argon2id's cost.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

AGENT = os.environ.get("FIELDSYNC_AGENT") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "agent", "fieldsync-agent")
LONG = os.environ.get("FIELDSYNC_LONG", "") not in ("", "0")
# The sanitizer tree runs a sample of each heavy trial (tests/run.sh sets FIELDSYNC_SAMPLE=1);
# the CI counts run in the normal tree.
SAMPLE = not LONG and os.environ.get("FIELDSYNC_SAMPLE", "") not in ("", "0")


def trials(ci, long, sample):
    """How many trials of a heavy test to run: long mode, sanitizer sample, or the CI count."""
    return long if LONG else sample if SAMPLE else ci

PASS = {"alice": "alice passphrase 1", "bob": "bob passphrase 22", "carol": "carol passphrase 3"}


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def files_under(d):
    for root, _, names in os.walk(d):
        for n in names:
            yield os.path.join(root, n)


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return "rc=%d\nstdout: %s\nstderr: %s" % (self.rc, self.out, self.err)


class Node:
    """One agent node directory and the commands run against it."""

    def __init__(self, home, office="ELP", admin="alice"):
        self.home = home
        self.office = office
        self.admin = admin

    def env(self, user, passphrase=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
        env["FIELDSYNC_HOME"] = self.home
        env["FIELDSYNC_USER"] = user
        env["FIELDSYNC_PASSPHRASE"] = PASS.get(user, "x") if passphrase is None else passphrase
        return env

    def run(self, *args, user=None, passphrase=None, stdin=None, extra_env=None, timeout=120):
        env = self.env(user or self.admin, passphrase)
        if extra_env:
            env.update(extra_env)
        proc = subprocess.run([AGENT, "--kdf-cost", "low"] + list(args), env=env,
                              input=stdin, capture_output=True, text=True, timeout=timeout)
        return Result(proc)

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        if r.rc != 0:
            raise AssertionError("command %s failed: %r" % (args, r))
        return r

    def init(self):
        return self.ok("init", "--office", self.office, "--user", self.admin)

    def new_case(self, title, category="corruption", *sets, **kw):
        args = ["case", "new", "--title", title, "--category", category]
        for s in sets:
            args += ["--set", s]
        return self.ok(*args, **kw).out.strip()

    def show(self, case_id, **kw):
        return self.ok("--json", "case", "show", case_id, **kw).json()

    def audit(self, **kw):
        return self.ok("--json", "audit", "log", **kw).json()["entries"]

    def case_state(self, **kw):
        """Every case's full JSON and history: the 'case data' that must not change."""
        ids = [c["id"] for c in self.ok("--json", "case", "list", **kw).json()["cases"]]
        return {i: (self.show(i, **kw), self.ok("--json", "case", "history", i, **kw).json())
                for i in ids}


class NodeTest(unittest.TestCase):
    """A test case with a fresh temp directory (removed afterwards)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fieldsync-it-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def node(self, name="node", **kw):
        return Node(os.path.join(self.tmp, name), **kw)

    def assertFails(self, r, rc, *fragments):
        self.assertEqual(r.rc, rc, r)
        self.assertRegex(r.err, r"^fieldsync-(agent|server): error: ", r)
        for f in fragments:
            self.assertIn(f, r.err, r)
