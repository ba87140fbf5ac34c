"""Narrative merge at the level of hunks (issue 10), with the real binaries on loopback.

Two investigators of one office, a laptop and a desk device, edit a 40-line narrative
offline: the laptop changes lines 5 and 10 and deletes line 38; the desk changes line 5
differently, changes line 30 and inserts a line after 20.  After sync, in either order, every
non-overlapping edit is in the narrative on every node, exactly one conflict region (line 5)
holds both texts, and `--mine` keeps the desk's text on the desk and the laptop's on the
laptop.  Also: the diff of `conflicts ID`, --json regions, --take, --keep-current, --edit,
one region resolved leaves the others, and history order, --diff, `case diff`, `show --at`.
"""
import os
import stat
import unittest

import fstest
import test_sync


def lines(n=40):
    return ["Line %d of the report." % i for i in range(1, n + 1)]


class NarrativeMerge(test_sync.SyncTest):
    def write(self, name, ls):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write("\n".join(ls) + "\n")
        return path

    def scenario(self, first):
        laptop, desk = self.a, self.b
        cid = laptop.new_case("Forty lines", "ethics")
        laptop.ok("case", "edit", cid, "--narrative-file", self.write("base.txt", lines()))
        self.sync_all(laptop, desk)
        mine = lines()
        mine[4], mine[9] = "LAPTOP wrote line 5.", "LAPTOP wrote line 10."
        del mine[37]
        laptop.ok("case", "edit", cid, "--narrative-file", self.write("laptop.txt", mine))
        theirs = lines()
        theirs[4], theirs[29] = "DESK wrote line 5.", "DESK wrote line 30."
        theirs.insert(20, "DESK inserted after 20.")
        desk.ok("case", "edit", cid, "--narrative-file", self.write("desk.txt", theirs))
        order = (laptop, desk) if first == "laptop" else (desk, laptop)
        self.sync_all(*order)
        self.sync_all(*order)
        v = self.assertSameEverywhere(cid, laptop, desk)
        self.assertEqual(v, test_sync.view(self.hq_show(cid)))
        text = v["narrative"].splitlines()
        for want in ("LAPTOP wrote line 10.", "DESK wrote line 30.", "DESK inserted after 20."):
            self.assertIn(want, text, v["narrative"])
        self.assertNotIn("Line 38 of the report.", text)
        self.assertIn("Line 37 of the report.", text)
        winner = "LAPTOP" if first == "laptop" else "DESK"
        self.assertEqual(text[4], "%s wrote line 5." % winner)
        self.assertEqual(len(v["conflicts"]), 1, v["conflicts"])
        return cid, laptop, desk

    def regions(self, n, cid):
        return n.ok("--json", "conflicts", cid).json()["conflicts"]

    def check_region(self, n, cid, first):
        (k,) = self.regions(n, cid)
        self.assertEqual(k["path"], "narrative.md")
        self.assertTrue(k["region"])
        r = k["region"]
        self.assertEqual(r["line"], 5)
        self.assertEqual(r["base"], "Line 5 of the report.\n")
        texts = {r["in_place"], r["other"]}
        self.assertEqual(texts, {"LAPTOP wrote line 5.\n", "DESK wrote line 5.\n"})
        self.assertIn("-Line 5 of the report.", r["diff"])
        self.assertIn("+DESK wrote line 5.", r["diff"])
        self.assertIn("+LAPTOP wrote line 5.", r["diff"])
        out = n.ok("conflicts", cid).out
        self.assertIn("@@ -2,7 +2,7 @@", out)
        self.assertIn(" Line 4 of the report.", out)  # context
        self.assertIn("-Line 5 of the report.", out)
        self.assertIn("+%s wrote line 5." % ("DESK" if first == "laptop" else "LAPTOP"), out)
        return k

    def mine_everywhere(self, first):
        cid, laptop, desk = self.scenario(first)
        for n in (laptop, desk):
            self.check_region(n, cid, first)
        # --mine on each device keeps its own text (tried on a copy of the state: on the desk
        # first, then the laptop after the desk's resolution is undone by a fresh conflict)
        desk_k = self.regions(desk, cid)[0]
        self.assertEqual(desk_k["mine"], "kept" if first == "laptop" else "current")
        lap_k = self.regions(laptop, cid)[0]
        self.assertEqual(lap_k["mine"], "current" if first == "laptop" else "kept")
        desk.ok("conflicts", "resolve", cid, "narrative.md", "--mine")
        self.assertEqual(desk.show(cid)["narrative"].splitlines()[4], "DESK wrote line 5.")
        self.assertEqual(desk.show(cid)["conflicts"], [])
        laptop.ok("conflicts", "resolve", cid, "narrative.md", "--mine")
        self.assertEqual(laptop.show(cid)["narrative"].splitlines()[4], "LAPTOP wrote line 5.")
        self.assertIn("DESK wrote line 30.", laptop.show(cid)["narrative"])
        return cid

    def test_laptop_first(self):
        self.mine_everywhere("laptop")

    def test_desk_first(self):
        self.mine_everywhere("desk")

    def test_take_keep_edit_and_one_region_at_a_time(self):
        laptop, desk = self.a, self.b
        cid = laptop.new_case("Two regions", "ethics")
        laptop.ok("case", "edit", cid, "--narrative-file", self.write("base.txt", lines(20)))
        self.sync_all(laptop, desk)
        mine, theirs = lines(20), lines(20)
        mine[2], mine[14] = "LAPTOP three.", "LAPTOP fifteen."
        theirs[2], theirs[14] = "DESK three.", "DESK fifteen."
        laptop.ok("case", "edit", cid, "--narrative-file", self.write("l.txt", mine))
        desk.ok("case", "edit", cid, "--narrative-file", self.write("d.txt", theirs))
        self.sync_all(laptop, desk, laptop)
        ks = self.regions(desk, cid)
        self.assertEqual(sorted(k["region"]["line"] for k in ks), [3, 15])
        # several regions: --mine must be told which
        r = desk.run("conflicts", "resolve", cid, "narrative.md", "--mine")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("--version", r.err)
        # --take N: kept version number N as listed
        at15 = [k for k in ks if k["region"]["line"] == 15][0]
        desk.ok("conflicts", "resolve", cid, "narrative.md", "--take", str(at15["number"]))
        v = desk.show(cid)
        self.assertEqual(v["narrative"].splitlines()[14], "DESK fifteen.")
        self.assertEqual(len(v["conflicts"]), 1)  # the other region stays
        self.assertEqual(v["narrative"].splitlines()[2], "LAPTOP three.")
        # --edit with an editor script writing both versions' words
        editor = os.path.join(self.tmp, "editor.sh")
        with open(editor, "w") as f:
            f.write("#!/usr/bin/env python3\nimport re, sys\n"
                    "t = open(sys.argv[1]).read()\n"
                    "assert 'DESK three.' in t and 'LAPTOP three.' in t, t\n"
                    "t = re.sub(r'(?ms)^<<<<<<< .*?^>>>>>>> [^\\n]*\\n', 'BOTH three.\\n', t)\n"
                    "open(sys.argv[1], 'w').write(t)\n")
        os.chmod(editor, stat.S_IRWXU)
        desk.ok("conflicts", "resolve", cid, "narrative.md", "--edit",
                extra_env={"EDITOR": editor})
        v = desk.show(cid)
        self.assertEqual(v["narrative"].splitlines()[2], "BOTH three.")
        self.assertEqual(v["conflicts"], [])
        self.sync_all(desk, laptop)
        self.assertSameEverywhere(cid, laptop, desk)

    def test_keep_current_and_history(self):
        cid, laptop, desk = self.scenario("laptop")
        desk.ok("conflicts", "resolve", cid, "narrative.md", "--keep-current")
        v = desk.show(cid)
        self.assertEqual(v["narrative"].splitlines()[4], "LAPTOP wrote line 5.")
        self.assertEqual(v["conflicts"], [])
        hist = desk.ok("--json", "case", "history", cid, "--diff").json()["history"]
        keys = [(h["time"], h["commit"]) for h in hist]
        self.assertEqual(keys, sorted(keys, reverse=True))
        edit = [h for h in hist if h["device"] == desk.ok("--json", "status").json()["device"]
                and "narrative" in h["summary"]][-1]
        self.assertIn("+DESK wrote line 30.", edit["diff"])
        self.assertIn("-Line 30 of the report.", edit["diff"])
        text = desk.ok("case", "diff", cid, edit["commit"][:10]).out
        self.assertIn("+DESK inserted after 20.", text)
        first = hist[-1]
        old = desk.ok("--json", "case", "show", cid, "--at", first["commit"][:8]).json()
        self.assertEqual(old["narrative"], "")
        self.assertEqual(old["head"], first["commit"])
        both = desk.ok("case", "diff", cid, first["commit"], hist[0]["commit"]).out
        self.assertIn("+LAPTOP wrote line 10.", both)
        r = desk.run("case", "show", cid, "--at", "0000")
        self.assertEqual(r.rc, 1, r)


if __name__ == "__main__":
    unittest.main()
