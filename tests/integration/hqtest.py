"""Helpers for tests that run the real fieldsync-server on 127.0.0.1 and a free port."""
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import fstest

SERVER = os.environ.get("FIELDSYNC_SERVER") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "server", "fieldsync-server")


class Server:
    def __init__(self, tmp, org="Office of Professional Responsibility"):
        self.home = os.path.join(tmp, "hq")
        self.keyfile = self.home + ".key"
        self.org = org
        self.proc = None
        self.port = None
        self.log = os.path.join(tmp, "hq.log")

    def run(self, *args, timeout=60):
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
        proc = subprocess.run([SERVER, "--home", self.home] + list(args), env=env,
                              capture_output=True, text=True, timeout=timeout)
        return fstest.Result(proc)

    def ok(self, *args):
        r = self.run(*args)
        if r.rc != 0:
            raise AssertionError("server %s failed: %r" % (args, r))
        return r

    def init(self):
        return self.ok("--json", "init", "--org", self.org, "--listen", "127.0.0.1:0").json()

    def token(self, office, name=None):
        if name:
            return self.ok("--json", "office", "add", office, "--name", name).json()["token"]
        return self.ok("--json", "office", "token", office).json()["token"]

    def start(self, workers=8):
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen([SERVER, "--home", self.home, "run", "--listen",
                                      "127.0.0.1:0", "--workers", str(workers)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=self.logf)
        deadline = time.time() + 30
        while time.time() < deadline:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.read_log())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise AssertionError("server exited: " + self.read_log())
            time.sleep(0.05)
        raise AssertionError("server did not start: " + self.read_log())

    def read_log(self):
        with open(self.log) as f:
            return f.read()

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
        return self.proc.returncode if self.proc else None

    def tls_get(self, path, certfile=None, keyfile=None, timeout=10):
        """GET over TLS without verifying the server; returns (status, body)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if certfile:
            ctx.load_cert_chain(certfile, keyfile)
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw) as s:
                s.sendall(("GET %s HTTP/1.1\r\nHost: hq\r\nConnection: close\r\n\r\n" %
                           path).encode())
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), body.decode()


def openssl(*args, stdin=None):
    r = subprocess.run(["openssl"] + list(args), input=stdin, capture_output=True)
    if r.returncode != 0:
        raise AssertionError("openssl %s: %s" % (args, r.stderr.decode()))
    return r.stdout
