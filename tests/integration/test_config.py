"""The configuration files (agent.conf, server.conf; cli/config.c, fieldsync.conf(5)): every
kind of error named with its file, line and key; precedence command line > environment >
file > default, seen in what the programs really do (the port HQ binds, the agent's node
directory, the service's idle lock and web interface); `config check` exit codes; the manual,
the example files and the code's table of keys agree."""
import json
import os
import re
import signal
import socket
import subprocess
import time
import unittest

import fstest
import hqtest

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
MAN = os.path.join(TOP, "docs", "man", "fieldsync.conf.5")
PROGS = {"agent": fstest.AGENT, "server": hqtest.SERVER}


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
    env.update(extra)
    return env


def run(prog, *args, env=None, timeout=60):
    proc = subprocess.run([PROGS[prog]] + list(args), env=env if env is not None else clean_env(),
                          capture_output=True, text=True, timeout=timeout)
    return fstest.Result(proc)


def read(path):
    with open(path) as f:
        return f.read()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def table(prog):
    """The code's table of keys, as `config show --json` prints it (no file read)."""
    r = run(prog, "--json", "--config", "/dev/null", "config", "show")
    assert r.rc == 0, r
    return r.json()["keys"]


class ConfigTest(fstest.NodeTest):
    def conf(self, text, name="agent.conf"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def check(self, prog, path, rc, *fragments, env=None):
        r = run(prog, "--config", path, "config", "check", env=env)
        self.assertFails(r, rc, *fragments)
        return r


class Errors(ConfigTest):
    def test_missing_file_named_explicitly(self):
        path = os.path.join(self.tmp, "nope.conf")
        self.check("agent", path, 1, "cannot read the configuration file '%s' (named by "
                   "--config): No such file or directory" % path)
        r = run("server", "config", "check", env=clean_env(FIELDSYNC_CONFIG=path))
        self.assertFails(r, 1, "cannot read the configuration file '%s' (named by "
                         "FIELDSYNC_CONFIG): No such file or directory" % path)
        # any other command refuses to run with it, naming it the same way
        r = run("agent", "--config", path, "--home", self.tmp, "case", "list")
        self.assertFails(r, 1, "'%s' (named by --config)" % path, "config check")
        r = run("agent", "--config", self.tmp, "config", "check")
        self.assertFails(r, 1, "'%s' (named by --config): not a regular file" % self.tmp)

    def test_missing_default_file_is_fine(self):
        for prog in PROGS:
            default = "/etc/fieldsync/%s.conf" % prog
            if os.path.exists(default):
                self.skipTest(default + " exists on this machine")
            r = run(prog, "config", "check")
            self.assertEqual(r.rc, 0, r)
            self.assertIn("no file (%s is not there)" % default, r.out)
            r = run(prog, "--json", "config", "show")
            self.assertEqual(r.rc, 0, r)
            self.assertFalse(r.json()["file_present"])
            self.assertEqual({k["source"] for k in r.json()["keys"]}, {"default"})

    def test_bad_line(self):
        path = self.conf("# a comment\n[serve]\nidle 5m\nidle = 5m\n[agent\n")
        r = self.check("agent", path, 1,
                       "%s:3: not a 'key = value' line nor a [section]: 'idle 5m'" % path,
                       "%s:5: a section header without ']': '[agent'" % path)
        self.assertIn("the configuration has 2 errors", r.err)
        # a line inih refuses though it holds '=' (the comment hides it)
        path = self.conf("[serve]\nidle ; = 5m\n")
        self.check("agent", path, 1, "%s:2: not a 'key = value' line nor a [section]" % path)
        path = self.conf("[serve]\nlog = /tmp/%s\n" % ("x" * 2000))
        self.check("agent", path, 1, "%s:2: line too long" % path)

    def test_unknown_key_and_section(self):
        path = self.conf("[serve]\nidle = 5m\ncolour = blue\n[bogus]\nx = 1\n[serve]\n"
                         "home = /tmp\n")
        self.check("agent", path, 1, "%s:3: unknown key 'colour' in [serve]" % path,
                   "%s:4: unknown section [bogus] (this file has [agent], [serve])" % path,
                   "%s:7: unknown key 'home' in [serve] (it belongs under [agent])" % path)
        path = self.conf("home = /tmp\n[run]\nworkers = 2\n", "server.conf")
        self.check("server", path, 1,
                   "%s:1: key 'home' outside a section (it belongs under [server])" % path)
        # the agent's keys are not the server's
        path = self.conf("[serve]\nidle = 5m\n", "server.conf")
        self.check("server", path, 1, "%s:1: unknown section [serve] (this file has "
                   "[server], [run])" % path)

    def test_wrong_type(self):
        path = self.conf("[agent]\nhome = /tmp\n[serve]\nidle = 5m\nweb = maybe\n"
                         "listen = localhost\nsync-every = soon\nidle = 6m\n"
                         "backoff-min = 1ms\nlog =\n")
        r = self.check("agent", path, 1,
                       "%s:5: key 'web': expected true or false, got 'maybe'" % path,
                       "%s:6: key 'listen': expected an address like 127.0.0.1:8443, got "
                       "'localhost'" % path,
                       "%s:7: key 'sync-every': expected a duration like 5m, got 'soon'" % path,
                       "%s:8: key 'idle' given twice in [serve] (first on line 4)" % path,
                       "%s:9: key 'backoff-min': at least 100ms, got '1ms'" % path,
                       "%s:10: key 'log': expected a non-empty value, got ''" % path)
        self.assertIn("the configuration has 6 errors", r.err)
        path = self.conf("[run]\nworkers = many\npeer-limit = 0\nmax-connections = 99999999\n",
                         "server.conf")
        self.check("server", path, 1,
                   "%s:2: key 'workers': expected a whole number, got 'many'" % path,
                   "%s:3: key 'peer-limit': at least 1, got '0'" % path,
                   "%s:4: key 'max-connections': at most 1048576, got '99999999'" % path)
        path = self.conf("[serve]\nidle = 45m\n")
        self.check("agent", path, 1, "%s:2: key 'idle': at most 30m, got '45m'" % path)

    def test_wrong_type_in_the_environment(self):
        r = run("agent", "config", "check", env=clean_env(FIELDSYNC_CONFIG="/dev/null",
                                                          FIELDSYNC_IDLE="soon"))
        self.assertFails(r, 1, "environment FIELDSYNC_IDLE (key 'idle'): expected a duration "
                         "like 5m, got 'soon'")
        r = run("server", "--home", self.tmp, "office", "list",
                env=clean_env(FIELDSYNC_CONFIG="/dev/null", FIELDSYNC_WORKERS="0"))
        self.assertFails(r, 1, "environment FIELDSYNC_WORKERS (key 'workers'): at least 1, "
                         "got '0'")

    def test_check_exit_codes_and_json(self):
        good = self.conf("; fine\n[serve]\nidle = 10m ; ten minutes\nweb = off\n")
        r = run("agent", "--config", good, "config", "check")
        self.assertEqual((r.rc, r.out.strip()), (0, "configuration ok: " + good), r)
        r = run("agent", "--json", "--config", good, "config", "check")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json(), {"ok": True, "file": good, "file_present": True,
                                    "errors": []})
        bad = self.conf("[serve]\nidle = soon\n", "bad.conf")
        r = run("agent", "--json", "--config", bad, "config", "check")
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.json()["errors"], ["%s:2: key 'idle': expected a duration like 5m, "
                                              "got 'soon'" % bad])
        self.assertFails(run("agent", "--config", good, "config", "frob"), 2,
                         "expected 'config check' or 'config show'")
        self.assertFails(run("agent", "--config", good, "config", "show", "--idle", "soon"), 1,
                         "option '--idle': expected a duration like 5m, got 'soon'")
        # --help works whatever the file says, and lists every key
        r = run("agent", "--config", bad, "config", "--help")
        self.assertEqual(r.rc, 0, r)
        for k in table("agent"):
            self.assertIn("[%s] %s " % (k["section"], k["name"]), r.out)
        self.assertEqual(run("agent", "--config", bad, "serve", "--help").rc, 0)


class Precedence(ConfigTest):
    def test_server_binds_the_port_of_file_env_command_line(self):
        hq = hqtest.Server(self.tmp)
        hq.init()  # stores 127.0.0.1:0
        p_file, p_env, p_cli = free_port(), free_port(), free_port()
        path = self.conf("[server]\nhome = %s\n\n[run]\nlisten = 127.0.0.1:%d\nworkers = 2\n"
                         % (hq.home, p_file), "server.conf")
        cases = [({}, [], p_file, "%s:5" % path),
                 ({"FIELDSYNC_LISTEN": "127.0.0.1:%d" % p_env}, [], p_env, "env FIELDSYNC_LISTEN"),
                 ({"FIELDSYNC_LISTEN": "127.0.0.1:%d" % p_env},
                  ["--listen", "127.0.0.1:%d" % p_cli], p_cli, "command line --listen")]
        for extra, args, port, source in cases:
            env = clean_env(FIELDSYNC_CONFIG=path, **extra)
            r = run("server", "config", "show", *args, env=env)
            self.assertEqual(r.rc, 0, r)
            self.assertRegex(r.out, r"(?m)^listen = 127\.0\.0\.1:%d +; %s$" % (port,
                                                                             re.escape(source)))
            self.assertRegex(r.out, r"(?m)^home = %s +; %s:2$" % (re.escape(hq.home),
                                                                  re.escape(path)))
            self.assertRegex(r.out, r"(?m)^workers = 2 +; %s:6$" % re.escape(path))
            log = os.path.join(self.tmp, "run-%d.log" % port)
            with open(log, "w") as logf:
                proc = subprocess.Popen([hqtest.SERVER, "run"] + args, env=env,
                                        stdout=subprocess.DEVNULL, stderr=logf)
            try:
                text = self.wait_for(log, proc, "listening on")
                self.assertIn("listening on 127.0.0.1:%d with 2 workers" % port, text)
                # it really is there: a TLS hello gets an answer on that port
                with socket.create_connection(("127.0.0.1", port), timeout=10):
                    pass
            finally:
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(timeout=30), 0)

    def wait_for(self, log, proc, text, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(log) as f:
                got = f.read()
            if text in got:
                return got
            if proc.poll() is not None:
                raise AssertionError("exited %d: %s" % (proc.returncode, got))
            time.sleep(0.05)
        raise AssertionError("no %r in %s" % (text, got))

    def test_agent_home_and_service_settings(self):
        n = self.node("dev")
        n.init()
        other = self.node("other")
        other.init()
        n.new_case("Only on dev")
        path = self.conf("[agent]\nhome = %s\n[serve]\nidle = 7m\nweb = false\n" % n.home)
        base = {k: v for k, v in n.env(n.admin).items() if k != "FIELDSYNC_HOME"}
        base["FIELDSYNC_CONFIG"] = path

        def titles(env, *args):
            r = subprocess.run([fstest.AGENT] + list(args) + ["--json", "case", "list"],
                               env=env, capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            return [c["title"] for c in json.loads(r.stdout)["cases"]]

        self.assertEqual(titles(base), ["Only on dev"])  # the file's home
        self.assertEqual(titles(dict(base, FIELDSYNC_HOME=other.home)), [])  # env over file
        self.assertEqual(titles(dict(base, FIELDSYNC_HOME=other.home), "--home", n.home),
                         ["Only on dev"])  # command line over env
        # the service: idle from the file, then env, then command line; web off from the file
        for extra, args, minutes in (({}, [], 7), ({"FIELDSYNC_IDLE": "8m"}, [], 8),
                                     ({"FIELDSYNC_IDLE": "8m"}, ["--idle", "9m"], 9)):
            env = dict(base, **extra)
            log = os.path.join(self.tmp, "serve-%d.log" % minutes)
            with open(log + ".stderr", "w") as errf:
                proc = subprocess.Popen([fstest.AGENT, "serve", "--log", log] + args, env=env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=errf)
            try:
                deadline = time.time() + 30
                while not (os.path.exists(log) and "listening on" in read(log)):
                    self.assertIsNone(proc.poll(), read(log + ".stderr"))
                    self.assertLess(time.time(), deadline)
                    time.sleep(0.02)
                text = read(log)
                self.assertNotIn("http://", text)  # web = false
                r = subprocess.run([fstest.AGENT, "--json", "logon"], env=env,
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(json.loads(r.stdout)["idle_lock_s"], minutes * 60)
            finally:
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(timeout=30), 0)
        # the command line can turn a flag's effect back on: --no-web is web = false
        r = run("agent", "--config", path, "config", "show")
        self.assertRegex(r.out, r"(?m)^web = false +; %s:5$" % re.escape(path))
        r = run("agent", "--config", "/dev/null", "config", "show", "--no-web")
        self.assertRegex(r.out, r"(?m)^web = false +; command line --no-web$")

    def test_show_is_a_file_that_reads_back_the_same(self):
        path = self.conf("[serve]\nsync-every = 2m\nkey-file = /etc/fieldsync/agent.key\n")
        r = run("agent", "--config", path, "config", "show",
                env=clean_env(FIELDSYNC_BACKOFF_MAX="10m"))
        self.assertEqual(r.rc, 0, r)
        again = self.conf(r.out, "again.conf")
        self.assertEqual(run("agent", "--config", again, "config", "check").rc, 0)
        values = {(k["section"], k["name"]): k["value"]
                  for k in run("agent", "--json", "--config", again, "config", "show").json()["keys"]}
        self.assertEqual(values[("serve", "sync-every")], "2m")
        self.assertEqual(values[("serve", "backoff-max")], "10m")
        self.assertEqual(values[("serve", "key-file")], "/etc/fieldsync/agent.key")
        self.assertIsNone(values[("serve", "log")])


def man_keys():
    """(page section, section, key) -> the text of its entry in fieldsync.conf(5)."""
    keys, page, section, name, lines = {}, None, None, None, []
    with open(MAN) as f:
        for line in f:
            m = re.match(r"\.Sh (AGENT|SERVER)\.CONF", line)
            if m:
                page = m.group(1).lower()
                continue
            m = re.match(r"\.Ss The \\&\[(\w+)\\&\] section", line)
            if m:
                section = m.group(1)
                continue
            m = re.match(r"\.It Cm ([\w-]+) Pq (\w+)", line)
            if m or line.startswith(".El") or line.startswith(".Sh"):
                if name:
                    keys[(page, section, name)] = (typ, "".join(lines))
                name = None
            if m:
                name, typ, lines = m.group(1), m.group(2), []
            elif name:
                lines.append(line)
    return keys


class Documented(unittest.TestCase):
    def test_every_key_documented_and_every_documented_key_real(self):
        documented = man_keys()
        code = {}
        for prog in PROGS:
            for k in table(prog):
                code[(prog, k["section"], k["name"])] = k
        self.assertEqual(sorted(documented), sorted(code))
        for where, k in code.items():
            typ, text = documented[where]
            self.assertEqual(typ, k["type"], where)
            self.assertIn(".Ev %s" % k["env"], text, where)
            self.assertIn(".Fl %s" % k["option"][1:], text, where)
            if k["default"] is not None and k["type"] != "string":
                self.assertIn(".Li %s" % k["default"], text, where)
            elif k["default"] is not None:
                self.assertIn(".Pa %s" % k["default"], text, where)
            else:
                self.assertIn("Unset by default", text, where)

    def test_manual_is_lint_clean(self):
        r = subprocess.run(["mandoc", "-Tlint", MAN], capture_output=True, text=True)
        # the sibling pages fieldsync-agent(1) and fieldsync-server(8) are not installed where
        # the tests run; mandoc looks for them in the system's manual database
        complaints = [l for l in (r.stdout + r.stderr).splitlines()
                      if l and "referenced manual not found: Xr fieldsync-" not in l
                      and "outdated mandoc.db" not in l]
        self.assertEqual(complaints, [])
        r = subprocess.run(["man", "--warnings", "-l", MAN], capture_output=True, text=True,
                           env=dict(os.environ, MANPAGER="cat", MANWIDTH="80"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertIn("sync-every", r.stdout)

    def test_example_files_list_every_key_at_its_default(self):
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            "make_examples", os.path.join(TOP, "packaging", "conf", "make-examples.py"))
        make = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(make)
        for prog in PROGS:
            path = os.path.join(TOP, "packaging", "conf", prog + ".conf")
            with open(path) as f:  # as packaging/conf/make-examples.py writes it today
                self.assertEqual(f.read(), make.example(PROGS[prog], prog), path)
            r = run(prog, "--json", "--config", path, "config", "show")
            self.assertEqual(r.rc, 0, r)
            self.assertEqual({k["source"] for k in r.json()["keys"]}, {"default"})
            with open(path) as f:
                text = f.read()
            section = None
            for k in table(prog):
                if k["section"] != section:
                    section = k["section"]
                    self.assertIn("\n[%s]\n" % section, text)
                self.assertRegex(text, r"(?m)^#%s =%s$" % (
                    re.escape(k["name"]), "" if k["default"] is None
                    else " " + re.escape(k["default"])))


if __name__ == "__main__":
    unittest.main()
