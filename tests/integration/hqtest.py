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

    def tls_get(self, path, certfile=None, keyfile=None, timeout=10, source=None):
        """GET over TLS without verifying the server; returns (status, body).  `source` is
        the loopback address to connect from (127.0.0.1 by default)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if certfile:
            ctx.load_cert_chain(certfile, keyfile)
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout,
                                      source_address=(source, 0) if source else None) as raw:
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


def enroll_direct(server, tmp, token, office, device, subject="/CN=device"):
    """Enroll like an agent would, but with a key on disk made by openssl, so that tests can
    present the certificate from Python.  Returns (status, json body, certfile, keyfile)."""
    import base64
    import json
    import urllib.request
    key, csr = os.path.join(tmp, device + ".key"), os.path.join(tmp, device + ".csr")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-outform", "DER", "-subj", subject)
    with open(csr, "rb") as f:
        csr_der = f.read()
    secret = token.split(".")[2]
    body = json.dumps({"token": secret, "office": office, "device": device,
                       "csr": base64.b64encode(csr_der).decode()}).encode()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    req = urllib.request.Request(server.url + "/v1/enroll", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            status, doc = r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), None, None
    cert = os.path.join(tmp, device + ".pem")
    der = base64.b64decode(doc["certificate"])
    with open(cert, "wb") as f:
        f.write(openssl("x509", "-inform", "DER", "-outform", "PEM", stdin=der))
    return status, doc, cert, key


class Client:
    """One TLS connection with a client certificate; several requests on it (keep-alive)."""

    def __init__(self, server, certfile, keyfile, session=None, ctx=None):
        if ctx is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(certfile, keyfile)
        self.ctx = ctx
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=15)
        self.s = self.ctx.wrap_socket(raw, session=session)
        self.buf = b""

    def get(self, path):
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: hq\r\n\r\n" % path).encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        while len(rest) < length:
            rest += self.s.recv(65536)
        self.buf = rest[length:]
        return int(head.split()[1]), rest[:length].decode()

    def close(self):
        self.s.close()
