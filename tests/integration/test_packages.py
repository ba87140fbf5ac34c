"""The Debian packages: lintian clean, the right files, computed dependencies, sound scripts.

Builds the packages with packaging/build-debs.sh (or takes FIELDSYNC_DEBS=DIR, see
pkgtest.py) and reads them with dpkg-deb.  lintian may report an error or a warning only if
packaging/README.md explains that tag (its lintian table).  Files other parts of the tree
add later are expected from the tree itself: every docs/man page, packaging/conf/*.conf
and packaging/systemd unit must be in its package.
"""
import glob
import gzip
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import pkgtest

TOP = pkgtest.TOP


def owner(name):
    """Which package a file of the tree goes to (the rule of packaging/package.cmake)."""
    if re.match(r"^(fieldsync-)?agent[.-]", name):
        return "fieldsync-agent"
    if re.match(r"^(fieldsync-)?server[.-]", name):
        return "fieldsync-server"
    return "fieldsync-common"


def explained_tags():
    """The tags packaging/README.md explains: first column of its lintian table."""
    with open(os.path.join(TOP, "packaging", "README.md")) as f:
        return set(re.findall(r"^\| `([a-z0-9][a-z0-9.+-]*)` \|", f.read(), re.M))


class Packages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.debs = pkgtest.debs()
        cls.tmp = tempfile.mkdtemp(prefix="fieldsync-debs-")
        cls.files = {}
        cls.control = {}
        cls.unpacked = {}
        for name, deb in cls.debs.items():
            listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True,
                                     check=True).stdout
            files = {}
            for line in listing.splitlines():
                f = line.split(None, 5)
                path = f[5].split(" -> ")[0]
                files[re.sub(r"^\./", "", path).rstrip("/") or "/"] = (f[0], f[1])
            cls.files[name] = files
            root = os.path.join(cls.tmp, name)
            subprocess.run(["dpkg-deb", "-R", deb, root], check=True)
            cls.unpacked[name] = root
            fields = subprocess.run(["dpkg-deb", "-f", deb], capture_output=True, text=True,
                                    check=True).stdout
            cls.control[name] = dict(re.findall(r"^(\S+): (.*)$", fields, re.M))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def assertFile(self, pkg, path, mode="-rw-r--r--"):
        self.assertIn(path, self.files[pkg], "%s lacks %s" % (pkg, path))
        got_mode, got_owner = self.files[pkg][path]
        self.assertEqual(got_mode, mode, "%s: %s" % (pkg, path))
        self.assertEqual(got_owner, "root/root", "%s: %s" % (pkg, path))

    def test_lintian(self):
        p = subprocess.run(["lintian", "--fail-on", "none", "--no-tag-display-limit"] +
                           sorted(self.debs.values()), capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        tags = re.findall(r"^([EW]): (\S+): (\S+)(.*)$", p.stdout, re.M)
        explained = explained_tags()
        left = ["%s: %s: %s%s" % t for t in tags if t[2] not in explained]
        print("lintian: %d error/warning tags, all explained: %s" %
              (len(tags), sorted({t[2] for t in tags})))
        self.assertEqual(left, [], "lintian tags not explained in packaging/README.md:\n" +
                         "\n".join(left))

    def test_binaries(self):
        self.assertFile("fieldsync-agent", "usr/bin/fieldsync-agent", "-rwxr-xr-x")
        self.assertFile("fieldsync-server", "usr/sbin/fieldsync-server", "-rwxr-xr-x")
        for pkg, path in [("fieldsync-agent", "usr/bin/fieldsync-agent"),
                          ("fieldsync-server", "usr/sbin/fieldsync-server")]:
            binary = os.path.join(self.unpacked[pkg], path)
            sections = subprocess.run(["readelf", "-S", binary], capture_output=True,
                                      text=True, check=True).stdout
            self.assertNotIn(".debug_info", sections, "%s is not stripped" % path)
            self.assertNotIn(".symtab", sections, "%s is not stripped" % path)
            p = subprocess.run([binary, "--version"], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn(pkgtest.version().split("-")[0], p.stdout)

    def test_man_pages(self):
        pages = sorted(glob.glob(os.path.join(TOP, "docs", "man", "*.[1-8]")))
        self.assertIn(os.path.join(TOP, "docs", "man", "fieldsync-agent.1"), pages)
        self.assertIn(os.path.join(TOP, "docs", "man", "fieldsync-server.8"), pages)
        for page in pages:
            name = os.path.basename(page)
            pkg = owner(name)
            path = "usr/share/man/man%s/%s.gz" % (name[-1], name)
            self.assertFile(pkg, path)
            for other in self.files:
                if other != pkg:
                    self.assertNotIn(path, self.files[other])
            with open(os.path.join(self.unpacked[pkg], path), "rb") as f:
                gz = f.read()
            with open(page, "rb") as f:
                self.assertEqual(gzip.decompress(gz), f.read(), path)
            self.assertGzipReproducible(gz, path)

    def assertGzipReproducible(self, gz, path):
        # gzip -n: no file name (FLG.FNAME) and no time stamp (MTIME 0)
        self.assertEqual(gz[3] & 0x08, 0, "%s carries a file name" % path)
        self.assertEqual(gz[4:8], b"\0\0\0\0", "%s carries a time stamp" % path)

    def test_config_and_units(self):
        self.assertFile("fieldsync-common", "etc/fieldsync", "drwxr-xr-x")
        for conf in sorted(glob.glob(os.path.join(TOP, "packaging", "conf", "*.conf"))):
            name = os.path.basename(conf)
            pkg = owner(name)
            self.assertFile(pkg, "etc/fieldsync/" + name)
            conffiles = os.path.join(self.unpacked[pkg], "DEBIAN", "conffiles")
            with open(conffiles) as f:
                self.assertIn("/etc/fieldsync/" + name, f.read().split())
        units = {}
        for unit in sorted(glob.glob(os.path.join(TOP, "packaging", "systemd", "*"))):
            name = os.path.basename(unit)
            if not re.search(r"\.(service|socket|timer)$", name):
                continue
            pkg = owner(name)
            self.assertFile(pkg, "lib/systemd/system/" + name)
            units.setdefault(pkg, []).append(name)
        for pkg in self.files:
            scripts = {s: os.path.join(self.unpacked[pkg], "DEBIAN", s)
                       for s in ("postinst", "prerm", "postrm")}
            for unit in units.get(pkg, []):
                for script, path in scripts.items():
                    with open(path) as f:
                        self.assertIn(unit, f.read(), "%s %s" % (pkg, script))
            shipped = [f for f in self.files[pkg] if f.startswith("lib/systemd/system/")
                       and f.count("/") == 3]
            self.assertEqual(sorted(os.path.basename(f) for f in shipped),
                             sorted(units.get(pkg, [])), pkg)

    def test_common_files(self):
        self.assertFile("fieldsync-common", "usr/lib/tmpfiles.d/fieldsync.conf")
        with open(os.path.join(self.unpacked["fieldsync-common"],
                               "usr/lib/tmpfiles.d/fieldsync.conf")) as f:
            lines = [line.split() for line in f if line.strip() and not line.startswith("#")]
        self.assertEqual(lines, [["d", "/var/lib/fieldsync", "0700", "fieldsync", "fieldsync",
                                  "-"]])

    def test_depends(self):
        version = pkgtest.version()
        for pkg, binary in [("fieldsync-agent", "usr/bin/fieldsync-agent"),
                            ("fieldsync-server", "usr/sbin/fieldsync-server")]:
            depends = self.control[pkg]["Depends"]
            names = {d.strip().split()[0] for d in depends.split(",")}
            self.assertIn("fieldsync-common (= %s)" % version, depends)
            # computed: every package dpkg-shlibdeps finds for the shipped binary is there
            root = self.unpacked[pkg]
            os.makedirs(os.path.join(root, "debian"), exist_ok=True)
            open(os.path.join(root, "debian", "control"), "w").close()
            p = subprocess.run(["dpkg-shlibdeps", "-O", "--ignore-missing-info", binary],
                               cwd=root, capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            computed = p.stdout.strip().split("=", 1)[1]
            for dep in computed.split(","):
                self.assertIn(dep.strip(), depends, "%s: %s" % (pkg, depends))
            for lib in ("libsqlcipher0", "libgit2-1.5", "libjansson4", "libargon2-1",
                        "libmbedx509-1", "libssl3", "libc6", "zlib1g"):
                self.assertIn(lib, names, "%s Depends: %s" % (pkg, depends))
        # the agent loads these with dlopen(): not NEEDED, so added from their shlibs entry
        agent = self.control["fieldsync-agent"]["Depends"]
        needed = subprocess.run(["readelf", "-d", os.path.join(
            self.unpacked["fieldsync-agent"], "usr/bin/fieldsync-agent")],
            capture_output=True, text=True, check=True).stdout
        for lib, soname in [("libcurl4", "libcurl.so.4"), ("libmicrohttpd12",
                                                            "libmicrohttpd.so.12")]:
            self.assertNotIn(soname, needed)
            self.assertRegex(agent, r"(^|, )%s \(>= [0-9.]+\)" % lib)
        self.assertIn("libhttp-parser2.9", self.control["fieldsync-server"]["Depends"])
        self.assertIn("adduser", self.control["fieldsync-common"]["Depends"])
        self.assertEqual(self.control["fieldsync-common"]["Architecture"], "all")

    def test_maintainer_scripts(self):
        for pkg, root in self.unpacked.items():
            for script in ("postinst", "prerm", "postrm", "preinst"):
                path = os.path.join(root, "DEBIAN", script)
                if not os.path.exists(path):
                    continue
                self.assertEqual(os.stat(path).st_mode & 0o777, 0o755, "%s %s" % (pkg, script))
                with open(path) as f:
                    text = f.read()
                self.assertTrue(text.startswith("#!/bin/sh\n"), "%s %s" % (pkg, script))
                self.assertIn("\nset -e\n", text)
                self.assertNotIn("@FIELDSYNC_", text, "%s %s: unsubstituted" % (pkg, script))
                p = subprocess.run(["sh", "-n", path], capture_output=True, text=True)
                self.assertEqual(p.returncode, 0, "%s %s: %s" % (pkg, script, p.stderr))
        with open(os.path.join(self.unpacked["fieldsync-common"], "DEBIAN", "postinst")) as f:
            postinst = f.read()
        self.assertRegex(postinst, r"adduser [^\n]*--system")
        self.assertIn("fieldsync", postinst)
        self.assertIn("systemd-tmpfiles --create fieldsync.conf", postinst)
        self.assertIn("install -d -m 0700 -o fieldsync -g fieldsync /var/lib/fieldsync", postinst)
        with open(os.path.join(self.unpacked["fieldsync-common"], "DEBIAN", "postrm")) as f:
            postrm = f.read()
        # purge never deletes the stores: only an empty directory goes
        self.assertIn("rmdir --ignore-fail-on-non-empty /var/lib/fieldsync", postrm)
        self.assertNotIn("rm -r", postrm)

    def test_copyright_and_changelog(self):
        version = pkgtest.version()
        for pkg, root in self.unpacked.items():
            self.assertEqual(self.control[pkg]["Version"], version)
            doc = os.path.join(root, "usr", "share", "doc", pkg)
            self.assertFile(pkg, "usr/share/doc/%s/copyright" % pkg)
            with open(os.path.join(doc, "copyright")) as f:
                copyright_ = f.read()
            self.assertTrue(copyright_.startswith(
                "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"))
            self.assertRegex(copyright_, r"\nFiles: \*\nCopyright: .+\nLicense: \S+")
            self.assertFile(pkg, "usr/share/doc/%s/changelog.Debian.gz" % pkg)
            with open(os.path.join(doc, "changelog.Debian.gz"), "rb") as f:
                gz = f.read()
            self.assertGzipReproducible(gz, pkg + " changelog.Debian.gz")
            self.assertTrue(gzip.decompress(gz).decode().startswith(
                "fieldsync (%s) " % version))


if __name__ == "__main__":
    unittest.main()
