"""Nothing in clear on disk: case text, keys and SQLite headers never reach the node directory."""
import json
import os
import shutil
import subprocess
import unittest

import fstest

MARKER = "QZXMARKER7731"



class Secrecy(fstest.NodeTest):
    def session(self):
        n = self.node()
        n.init()
        cid = n.new_case("Bribery ring " + MARKER, "bribery", "subject_name=Jane " + MARKER)
        narrative = os.path.join(self.tmp, "narr.md")
        with open(narrative, "w") as f:
            f.write("Narrative paragraph with %s inside. Another sentence.\n" % MARKER)
        n.ok("case", "edit", cid, "--narrative-file", narrative, "--set", "status=open")
        os.unlink(narrative)
        n.ok("note", "add", cid, "--text", "Interview note " + MARKER)
        n.ok("user", "add", "bob", "--role", "investigator",
             extra_env={"FIELDSYNC_NEW_PASSPHRASE": fstest.PASS["bob"]})
        self.assertIn(MARKER, n.show(cid)["narrative"])
        return n

    def test_no_marker_no_header_no_passphrase(self):
        n = self.session()
        names = list(fstest.files_under(n.home))
        self.assertTrue(any(p.endswith("fieldsync.db") for p in names), names)
        needles = [MARKER.encode(), MARKER.lower().encode(), b"SQLite format 3",
                   fstest.PASS["alice"].encode(), fstest.PASS["bob"].encode()]
        for p in names:
            data = fstest.read_bytes(p)
            for needle in needles:
                self.assertNotIn(needle, data, "%r found in %s" % (needle, p))
        # strings(1) over the directory, as a person would check it
        out = subprocess.run("strings -a %s/*" % n.home, shell=True, capture_output=True,
                             text=True).stdout
        self.assertNotIn(MARKER, out)
        self.assertNotIn("format 3", out)

    def test_sqlite_tools_cannot_read_without_key(self):
        n = self.session()
        db = os.path.join(n.home, "fieldsync.db")
        for tool in ("sqlite3", "sqlcipher"):
            if not shutil.which(tool):
                self.fail("%s is not installed (packaging/install-deps.sh installs it)" % tool)
            r = subprocess.run([tool, db, "SELECT count(*) FROM sqlite_master;"],
                               capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0, "%s read the database: %s" % (tool, r.stdout))
            self.assertIn("not a database", r.stderr + r.stdout)

    def test_sidecar_has_no_key_material_in_clear(self):
        n = self.session()
        side = json.loads(fstest.read_bytes(os.path.join(n.home, "keyslots.json")))
        self.assertEqual(sorted(s["user"] for s in side["slots"]), ["alice", "bob"])
        for s in side["slots"]:
            self.assertEqual(s["kdf"], "argon2id")
            self.assertEqual(len(s["wrapped"]), 64)  # 32 bytes, encrypted
        self.assertEqual(os.stat(os.path.join(n.home, "keyslots.json")).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(n.home).st_mode & 0o777, 0o700)


if __name__ == "__main__":
    unittest.main(verbosity=2)
