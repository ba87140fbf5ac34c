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

    def run_as(self, user, passphrase, *args, new=None, timeout=60):
        """A command by HQ staff user `user` (None: the key file's identity); `new`: the
        new passphrase of a user add or passwd."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
        if user:
            env.update(FIELDSYNC_USER=user, FIELDSYNC_PASSPHRASE=passphrase)
        if new:
            env["FIELDSYNC_NEW_PASSPHRASE"] = new
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


# ---- raw connections for hostile-input tests (issue 9) ------------------------------------------

def tls_context(certfile=None, keyfile=None):
    """A TLS 1.2 client context that does not verify the server, with an optional client cert."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if certfile:
        ctx.load_cert_chain(certfile, keyfile)
    return ctx


def client_hello(ctx=None):
    """The bytes of a real ClientHello, as this Python's OpenSSL would send them."""
    outgoing = ssl.MemoryBIO()
    obj = (ctx or tls_context()).wrap_bio(ssl.MemoryBIO(), outgoing)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def connect(port, source=None, timeout=10):
    """A TCP connection to 127.0.0.1:port, from 127.0.0.K if source is given.  Without
    Nagle's algorithm, as libcurl does: a resumed TLS handshake ends in two small writes,
    and the second would otherwise wait 40 ms for the server's delayed ACK."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class RawTLS:
    """A TLS client over a plain socket through memory BIOs, so that a test controls every
    byte: send part of a handshake, half-close the TCP stream, read until EOF, tell a reset
    from an orderly close."""

    def __init__(self, port, ctx=None, source=None, timeout=10, sock=None):
        self.ctx = ctx or tls_context()
        self.sock = sock or connect(port, source, timeout)
        self.inc, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = self.ctx.wrap_bio(self.inc, self.outgoing)

    def flush(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def handshake(self, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.obj.do_handshake()
                self.flush()
                return self
            except ssl.SSLWantReadError:
                self.flush()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("TLS handshake not done in %.1fs" % timeout)
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed during the TLS handshake")
            self.inc.write(data)

    def send(self, data):
        """Encrypt and send; OSError if the server has closed (EPIPE, reset)."""
        view = memoryview(data)
        for i in range(0, len(view), 1 << 20):
            self.obj.write(view[i:i + (1 << 20)])
            self.flush()

    def half_close(self):
        """End our direction of the TCP stream (no close_notify): the server reads EOF."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def read(self, timeout, until=None):
        """Read decrypted bytes until the server closes (or `until(data)` is true) or the
        timeout.  Returns (data, how): how is 'eof', 'reset', 'tls-error: ...' or None if
        the connection was still open at the timeout (or `until` matched)."""
        data = b""
        deadline = time.monotonic() + timeout
        while True:
            try:
                while True:
                    chunk = self.obj.read(65536)
                    if not chunk:
                        return data, "eof"
                    data += chunk
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return data, "eof"
            except ssl.SSLError as e:
                return data, "tls-error: %s" % e.reason
            if until and until(data):
                return data, None
            left = deadline - time.monotonic()
            if left <= 0:
                return data, None
            self.sock.settimeout(left)
            try:
                raw = self.sock.recv(65536)
            except socket.timeout:
                return data, None
            except ConnectionResetError:
                return data, "reset"
            if raw:
                self.inc.write(raw)
            else:
                self.inc.write_eof()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def read_raw(sock, timeout):
    """Plain bytes until the peer closes or the timeout: (data, 'eof'|'reset'|None)."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, None
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, None
        except ConnectionResetError:
            return data, "reset"
        if not chunk:
            return data, "eof"
        data += chunk


def parse_responses(data):
    """Split bytes into HTTP/1.1 responses: ([(status, {lower name: value}, body)], rest).
    rest holds whatever does not form a complete response (b"" when all is accounted for)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep or not re.match(rb"HTTP/1\.[01] \d{3}[ \r]", head):
            break
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        n = 0 if 100 <= status < 200 else int(headers.get("content-length", "0"))
        if len(rest) < n:
            break
        out.append((status, headers, rest[:n]))
        data = rest[n:]
    return out, data


def proc_limit(pid, name):
    """(soft, hard) of one line of /proc/PID/limits, e.g. 'Max core file size'."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith(name):
                soft, hard = line[len(name):].split()[:2]
                return soft, hard
    raise AssertionError("no '%s' in /proc/%d/limits" % (name, pid))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def start_server(server, *run_args, port=0, env=None):
    """Start `server` (a Server) with `run --listen 127.0.0.1:PORT` (port None: no --listen,
    the address stored at init) and the given run options; the log is appended to, so a
    restart keeps what the previous process wrote.  `env`: more environment variables (e.g.
    libfaketime's)."""
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
    env.update(extra)
    server.logf = open(server.log, "a")
    start = server.logf.tell()
    listen = [] if port is None else ["--listen", "127.0.0.1:%d" % port]
    server.proc = subprocess.Popen([SERVER, "--home", server.home, "run"] + listen +
                                   list(run_args), env=env,
                                   stdout=subprocess.DEVNULL, stderr=server.logf)
    deadline = time.time() + 30
    while time.time() < deadline:
        with open(server.log) as f:
            f.seek(start)
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", f.read())
        if m:
            server.port = int(m.group(1))
            return server
        if server.proc.poll() is not None:
            raise AssertionError("server exited: " + server.read_log()[-3000:])
        time.sleep(0.02)
    raise AssertionError("server did not start: " + server.read_log()[-3000:])


# ---- the usual fixture: one HQ and enrolled devices ----------------------------------------------

OFFICE_NAMES = {"ELP": "El Paso field office", "SDG": "San Diego field office"}


class Fleet:
    """An initialised HQ (`hq`, a Server or a subclass passed in) and the agent devices enrolled
    with it, each a fstest.Node under `tmp`: the set-up of the sync, audit and renewal tests.

        fleet = hqtest.Fleet(self.tmp)
        a, b = fleet.device("a"), fleet.device("b")
        cid = fleet.synced_case(a, "Bribery at the port of entry", "bribery", to=(b,))
    """

    def __init__(self, tmp, server=None, start=True):
        """`start`: run the server now (Server.start); False to start it another way."""
        self.tmp = tmp
        self.hq = server or Server(tmp)
        self.hq.init()
        self.offices = set()
        self.devices = []
        if start:
            self.hq.start()

    def token(self, office, validity=None):
        """An enrollment token for `office`; the office is added (named as in OFFICE_NAMES)
        the first time.  `validity`: the certificates' lifetime in seconds."""
        args = ["--cert-validity", str(validity)] if validity is not None else []
        if office in self.offices:
            return self.hq.ok("--json", "office", "token", office, *args).json()["token"]
        self.offices.add(office)
        return self.hq.ok("--json", "office", "add", office, "--name",
                          OFFICE_NAMES.get(office, office), *args).json()["token"]

    def device(self, name, office="ELP", token=None, admin="alice", url=None):
        """A new node `tmp/name` of `office` (user `admin`), initialised and enrolled with
        `token` (default: a fresh one) at `url` (default: the server's)."""
        n = fstest.Node(os.path.join(self.tmp, name), office=office, admin=admin)
        n.init()
        n.ok("enroll", "--server", url or self.hq.url, "--token", token or self.token(office))
        self.devices.append(n)
        return n

    def sync(self, *nodes):
        """One successful sync of each node in turn (AssertionError if one fails); their
        --json summaries."""
        return [n.ok("--json", "sync").json() for n in nodes]

    def synced_case(self, node, title, category="corruption", *sets, to=()):
        """A case made on `node`, which syncs it to HQ; then each node of `to` syncs.
        Returns the case id."""
        cid = node.new_case(title, category, *sets)
        self.sync(node, *to)
        return cid

    def stop(self):
        """Stop the server; its exit code."""
        return self.hq.stop()
