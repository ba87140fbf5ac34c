"""The manual pages: clean under mandoc -Tlint and man --warnings, and in step with --help.

fieldsync-agent(1) and fieldsync-server(8) are checked against what the programs print:
the commands come from the top-level --help (its "Commands:" lines) and from each
command's own --help (its usage lines name every subcommand), and the options from all of
those texts.  So a command or an option added to a program fails this test until its page
documents it, and a page section for a command that no longer exists fails it too.

A page has one subsection (.Ss) of COMMANDS per command, named as it is typed ("case new",
"sync"); an option a usage line gives a command must be in that command's subsection (or,
for a global option, in OPTIONS); an option the rest of a help text mentions must be in
the subsection of one of the commands that help text is about.  Every FIELDSYNC_ variable
a help mentions is in the page, and every --option the page names exists in a --help.
"""
import glob
import os
import re
import subprocess
import tempfile
import unittest

import fstest
import hqtest

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MAN = os.path.join(TOP, "docs", "man")
PROGRAMS = {"fieldsync-agent": (fstest.AGENT, os.path.join(MAN, "fieldsync-agent.1")),
            "fieldsync-server": (hqtest.SERVER, os.path.join(MAN, "fieldsync-server.8"))}

OPT = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9]")
ENV = re.compile(r"\bFIELDSYNC_[A-Z_]*[A-Z]\b")
WORD = re.compile(r"^[a-z][a-z0-9-]*$")


def run_help(binary, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
    p = subprocess.run([binary] + list(args) + ["--help"], capture_output=True, text=True,
                       env=env, timeout=30)
    if p.returncode != 0:
        raise AssertionError("%s %s --help exited %d: %s" % (binary, " ".join(args),
                                                             p.returncode, p.stderr))
    return p.stdout


class Help:
    """What a program's --help texts say: command paths, their options, globals, variables."""

    def __init__(self, prog):
        self.prog = prog
        self.commands = []      # top-level commands, in --help order
        self.paths = set()      # ("sync",), ("case", "new"), ...
        self.groups = []        # (paths, options): each set of options must be in one of paths
        self.globals = set()
        self.env = set()
        self.options = set()    # every option any help names

    def parse_top(self, text):
        section = None
        for line in text.splitlines():
            if line and not line[0].isspace():
                section = line.rstrip(":").lower() if line.endswith(":") else None
                continue
            if section == "commands":
                m = re.match(r"^  ([a-z][a-z0-9-]*)(.*)$", line)
                if m:
                    if m.group(1) not in self.commands:
                        self.commands.append(m.group(1))
                    self.add_group({(m.group(1),)}, m.group(2), prefix=True)
            elif section == "global options":
                self.globals |= set(OPT.findall(line))
        self.options |= self.globals
        self.env |= set(ENV.findall(text))

    def add_group(self, paths, text, prefix=False):
        opts = set(OPT.findall(text))
        self.options |= opts
        if opts:
            # prefix: a top-level "Commands:" line, whose paths are all of that command's
            self.groups.append((frozenset(paths), prefix, frozenset(opts)))

    def parse_command(self, text):
        """One command's --help: its usage lines name paths and their options."""
        entries = []            # [paths, text]
        rest = []
        in_usage = False
        for line in text.splitlines():
            if line.startswith("usage:"):
                in_usage = True
                line = line[len("usage:"):]
            elif not line.strip():
                in_usage = False
            if not in_usage:
                rest.append(line)
                continue
            words = line.split()
            named = bool(words) and words[0] == self.prog
            if named:
                words = words[1:]
            if words and (words[0] in self.commands or named and WORD.match(words[0])):
                # a command this help shows beside its own ('logon' shows 'logoff')
                if words[0] not in self.commands:
                    self.commands.append(words[0])
                entries.append([self.usage_paths(words), line])
            elif entries:
                entries[-1][1] += " " + line
            else:
                rest.append(line)
        paths = set()
        for p, t in entries:
            paths |= p
            self.add_group(p, t)
        self.paths |= paths
        self.add_group(paths, "\n".join(rest))
        self.env |= set(ENV.findall(text))
        return paths

    @staticmethod
    def usage_paths(words):
        """("case", "show"), ("case", "history") ... of 'case show ID | history ID'."""
        cmd, rest = words[0], " ".join(words[1:])
        subs = []
        for seg in rest.split(" | "):
            first = seg.split()[0] if seg.split() else ""
            if WORD.match(first):
                subs.append(first)
        return {(cmd, s) for s in subs} if subs else {(cmd,)}


def program_help(prog, binary):
    h = Help(prog)
    h.parse_top(run_help(binary))
    if not h.commands:
        raise AssertionError("%s --help lists no commands" % prog)
    seen = set()
    i = 0
    while i < len(h.commands):     # grows when a help shows another command's usage
        cmd = h.commands[i]
        i += 1
        text = run_help(binary, cmd)
        paths = h.parse_command(text) if text not in seen else set()
        seen.add(text)
        if not any(p[0] == cmd for p in h.paths):
            h.paths.add((cmd,))
        for path in sorted(p for p in paths if len(p) == 2):
            sub = run_help(binary, *path)
            if sub not in seen:
                seen.add(sub)
                h.parse_command(sub)
    return h


def render(source_text):
    """The page as a reader sees it: plain text, no overstrike, paragraphs on one line."""
    with tempfile.NamedTemporaryFile("w", suffix=".man") as f:
        f.write(source_text)
        f.flush()
        p = subprocess.run(["mandoc", "-T", "ascii", "-O", "width=1000", f.name],
                           capture_output=True, text=True)
    if p.returncode not in (0, 1) or not p.stdout:
        raise AssertionError("mandoc could not render the page: %s" % p.stderr)
    return re.sub(r".\x08", "", p.stdout)


class Page:
    """Sections of a rendered page, and the COMMANDS subsections by heading."""

    def __init__(self, text):
        self.sections = {}
        self.commands = {}
        section = sub = None
        for line in text.splitlines()[1:-1]:      # no header and footer lines
            if line and not line[0].isspace():
                section, sub = line.strip(), None
                self.sections[section] = ""
                continue
            if section is None:
                continue
            if section == "COMMANDS" and re.match(r"^ {3}\S", line):
                sub = line.strip()
                self.commands[sub] = ""
                continue
            self.sections[section] = join(self.sections[section], line)
            if section == "COMMANDS" and sub is not None:
                self.commands[sub] = join(self.commands[sub], line)
        self.text = "\n".join(self.sections.values())


def join(text, line):
    line = line.strip()
    if text.endswith("-") and line:
        return text + line      # a word broken at its hyphen
    return text + " " + line if text else line


def has_option(text, opt):
    return re.search(r"(?<![\w-])" + re.escape(opt) + r"(?![\w-])", text) is not None


def compare(help_, page, known_options):
    """Every way the page and the --help texts disagree, one message each."""
    problems = []
    prog = help_.prog
    headings = {tuple(h.split()): h for h in page.commands}
    for path in sorted(help_.paths):
        if path not in headings:
            problems.append("%s %s: no subsection '%s' in COMMANDS of the page" %
                            (prog, " ".join(path), " ".join(path)))
    for path, heading in sorted(headings.items()):
        known = path in help_.paths or (len(path) == 1 and path[0] in help_.commands)
        if not known:
            problems.append("the page documents '%s', which %s --help does not know" %
                            (heading, prog))
    options_text = page.sections.get("OPTIONS", "")
    for opt in sorted(help_.globals):
        if not has_option(options_text, opt):
            problems.append("%s: global option %s missing from OPTIONS" % (prog, opt))
    for paths, prefix, opts in help_.groups:
        texts = [page.commands[headings[h]] for h in headings
                 if h in paths or (prefix and h[:1] in paths)]
        for opt in sorted(opts):
            if any(has_option(t, opt) for t in texts):
                continue
            if opt in help_.globals and has_option(options_text, opt):
                continue
            where = ", ".join(sorted(" ".join(p) for p in paths))
            problems.append("%s %s: option %s not documented in its subsection" %
                            (prog, where, opt))
    for var in sorted(help_.env):
        if var not in page.text:
            problems.append("%s: %s (named in --help) missing from the page" % (prog, var))
    for opt in sorted(set(OPT.findall(page.text))):
        if opt not in known_options:
            problems.append("the %s page names %s, which no --help knows" % (prog, opt))
    return list(dict.fromkeys(problems))


class ManLint(unittest.TestCase):
    """Every page in docs/man: no mandoc -Tlint message, no man --warnings message."""

    def pages(self):
        pages = sorted(glob.glob(os.path.join(MAN, "*.[1-8]")))
        self.assertTrue(pages, "no manual pages in " + MAN)
        return pages

    def test_mandoc_lint(self):
        ours = {os.path.basename(p) for p in self.pages()}
        for page in self.pages():
            p = subprocess.run(["mandoc", "-T", "lint", page], capture_output=True, text=True)
            # (mandoc may end a message without a newline: split on its prefix)
            messages = re.findall(r"mandoc: .*?(?=mandoc: |\n|$)", p.stdout + p.stderr)
            left = []
            for m in messages:
                # Before the packages are installed mandoc cannot find the pages ours refer
                # to (it looks in /usr/share/man only); each such reference must be a page here.
                x = re.search(r"referenced manual not found: Xr (\S+) (\S+)", m)
                if x and "%s.%s" % (x.group(1), x.group(2)) in ours:
                    continue
                # about this machine's man database, not the page: the page referred to was
                # found, by a file name the database does not list
                if re.match(r"mandoc: outdated mandoc\.db lacks \S+ entry", m):
                    continue
                left.append(m.strip())
            self.assertEqual(left, [], "mandoc -Tlint %s" % page)

    def test_man_warnings(self):
        env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
        for page in self.pages():
            p = subprocess.run(["man", "--warnings", "-l", page], capture_output=True,
                               text=True, env=env)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stderr, "", "man --warnings -l %s" % page)
            self.assertIn("NAME", p.stdout)


class ManMatchesHelp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.help = {prog: program_help(prog, b) for prog, (b, _) in PROGRAMS.items()}
        cls.known = set().union(*(h.options for h in cls.help.values()))

    def check(self, prog, source=None):
        if source is None:
            with open(PROGRAMS[prog][1]) as f:
                source = f.read()
        return compare(self.help[prog], Page(render(source)), self.known)

    def test_help_is_understood(self):
        # the parser itself: commands and subcommands both programs are known to have
        agent, server = self.help["fieldsync-agent"], self.help["fieldsync-server"]
        for path in [("init",), ("sync",), ("case", "new"), ("case", "diff"), ("logoff",),
                     ("conflicts",), ("conflicts", "resolve"), ("evidence", "custody")]:
            self.assertIn(path, agent.paths)
        for path in [("run",), ("office", "add"), ("device", "release"), ("case", "history"),
                     ("audit", "export")]:
            self.assertIn(path, server.paths)
        self.assertIn("--kdf-cost", agent.globals)
        self.assertIn("--key-file", server.globals)
        self.assertIn("FIELDSYNC_NO_SERVICE", agent.env)

    def test_agent_page(self):
        problems = self.check("fieldsync-agent")
        self.assertEqual(problems, [], "\n".join(problems))

    def test_server_page(self):
        problems = self.check("fieldsync-server")
        self.assertEqual(problems, [], "\n".join(problems))

    def test_missing_command_is_caught(self):
        with open(PROGRAMS["fieldsync-agent"][1]) as f:
            source = f.read()
        cut = re.sub(r"\.Ss sync\n(.*\n)*?(?=\.Ss )", "", source)
        self.assertNotEqual(cut, source)
        problems = self.check("fieldsync-agent", cut)
        self.assertTrue(any("no subsection 'sync'" in p for p in problems), problems)

    def test_unknown_command_is_caught(self):
        with open(PROGRAMS["fieldsync-server"][1]) as f:
            source = f.read()
        added = source.replace(".Sh ENVIRONMENT", ".Ss office rename\nRename.\n.Sh ENVIRONMENT")
        problems = self.check("fieldsync-server", added)
        self.assertTrue(any("'office rename'" in p for p in problems), problems)

    def test_missing_option_is_caught(self):
        with open(PROGRAMS["fieldsync-agent"][1]) as f:
            source = f.read()
        # --sync-debounce only in the serve subsection; --passphrase-file only globally
        cut = source.replace("Fl \\-sync-debounce", "Ar x").replace(
            ".It Fl \\-passphrase-file Ar file", ".It Ar file")
        problems = self.check("fieldsync-agent", cut)
        self.assertTrue(any("serve: option --sync-debounce" in p for p in problems), problems)
        self.assertTrue(any("global option --passphrase-file" in p for p in problems), problems)

    def test_stale_option_is_caught(self):
        with open(PROGRAMS["fieldsync-server"][1]) as f:
            source = f.read()
        added = source.replace(".Op Fl \\-peer-limit Ar N",
                               ".Op Fl \\-peer-limit Ar N\n.Op Fl \\-turbo")
        problems = self.check("fieldsync-server", added)
        self.assertTrue(any("names --turbo" in p for p in problems), problems)


if __name__ == "__main__":
    unittest.main()
