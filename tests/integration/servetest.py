"""Helpers for the tests of `fieldsync-agent serve`: start and stop the service of a node, and
talk to its web API on 127.0.0.1 (urllib, no browser)."""
import http.client
import json
import os
import signal
import socket
import subprocess
import time

import fstest


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Service:
    """`fieldsync-agent serve` for one fstest.Node, unlocked by the node's admin (or by a device
    key file: key_file=PATH, with no passphrase in its environment)."""

    def __init__(self, node, log, *args, port=None, web=True, key_file=None):
        self.node = node
        self.key_file = key_file
        self.log = log
        self.port = port or free_port()
        self.args = list(args)
        self.web = web
        self.proc = None

    def start(self, expect_ok=True):
        env = self.node.env(self.node.admin)
        cmd = [fstest.AGENT, "serve", "--log", self.log] + self.args
        if self.key_file:
            del env["FIELDSYNC_PASSPHRASE"], env["FIELDSYNC_USER"]
            cmd += ["--key-file", self.key_file]
        cmd += ["--listen", "127.0.0.1:%d" % self.port] if self.web else ["--no-web"]
        start = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        # the service's own stderr (a sanitizer's report lands there), apart from its log
        self.errf = open(self.log + ".stderr", "a+")
        self.err_start = self.errf.tell()
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.errf, text=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            text = self.read_log()[start:]
            if "listening on" in text:
                return self
            if self.proc.poll() is not None:
                if expect_ok:
                    raise AssertionError("serve exited %d: %s" % (self.proc.returncode,
                                                                  self.stderr()))
                return self
            time.sleep(0.01)
        raise AssertionError("serve did not start: " + self.read_log())

    def stderr(self):
        self.errf.flush()
        self.errf.seek(self.err_start)
        return self.errf.read()

    def read_log(self):
        if not os.path.exists(self.log):
            return ""
        with open(self.log) as f:
            return f.read()

    def stop(self):
        """SIGTERM and wait; its exit code.  A sanitizer report on its stderr fails the test."""
        if not self.proc or self.proc.returncode is not None and self.errf.closed:
            return self.proc.returncode if self.proc else None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.stderr()
        self.errf.close()
        if "Sanitizer" in err or "runtime error" in err:
            raise AssertionError("the service reported:\n" + err)
        return self.proc.returncode

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.errf.close()

    def web_client(self):
        return Web(self.port)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "HTTP %d %s" % (self.status, self.body[:500])


class Web:
    """A script's client of the web API: keeps the session cookie and the CSRF token."""

    def __init__(self, port):
        self.port = port
        self.cookie = None
        self.csrf = None

    def request(self, method, path, body=None, headers=None, cookie=True, csrf=True):
        h = {"Host": "127.0.0.1:%d" % self.port}
        if cookie and self.cookie:
            h["Cookie"] = self.cookie
        data = None
        if method != "GET":
            data = json.dumps(body or {}).encode()
            h["Content-Type"] = "application/json"
            h["Content-Length"] = str(len(data))
            if csrf and self.csrf:
                h["X-CSRF-Token"] = self.csrf
        h.update(headers or {})
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.putrequest(method, path, skip_host=True)
        for k, v in h.items():
            c.putheader(k, v)
        c.endheaders(data)
        r = c.getresponse()
        resp = Response(r.status, {k.lower(): v for k, v in r.getheaders()},
                        r.read().decode())
        c.close()
        return resp

    def logon(self, user, passphrase):
        r = self.request("POST", "/api/logon", {"user": user, "passphrase": passphrase})
        if r.status == 200:
            self.cookie = r.headers["set-cookie"].split(";")[0]
            self.csrf = r.json()["csrf"]
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)
