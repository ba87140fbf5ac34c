"""Convergence: a property test of sync and merge over random edit/sync sequences.

Four nodes share one running server: two devices of one office (e1, e2), HQ itself (edits
through `fieldsync-server case edit`) and one device of another office (s1).  The devices
are enrolled once and reused; every seed works on fresh cases, so seeds do not interfere.

For each seed (random.Random(seed)):
  - 2-3 cases are opened by e1/e2 (sometimes one by s1), HQ shares one of e1/e2's with s1's
    office, and every device syncs, so that every node holds every case it can see (the
    cases of a few seeds are opened and synced together, to save syncs);
  - a random sequence of 10-16 operations follows: a node edits a case it can see (one field
    set to a value allowed by `case fields`, one sentence of the narrative replaced, or a note
    with a unique marker added; HQ has no notes), or a device syncs;
  - then every device syncs, round after round, until a round pushes nothing (at least two
    rounds), and every node shows every case it can see.

What must hold:
  - every node shows the same case (fields, narrative, notes, conflicts, head) for every case
    it can see;
  - every value anyone wrote that nobody later overwrote knowingly is the value in place, in
    the narrative, or kept as a conflict version of its path ("conflicts" of case show);
  - every note is present exactly once, and no note appears that nobody wrote.
The test tracks what each node knows (a write is known to the node that made it, reaches HQ
when its device syncs, and every device that syncs afterwards); a write is "overwritten
knowingly" when a node that knew it then set the same field, or replaced its sentence.  The
same invariant is checked on the node itself before each narrative edit (it reads the case
first), so a loss is caught where it happens, not only at the end.

The random operations may set a field back to a value it held before (the merge asks which
paths each side's commits wrote, not only how final values compare with the base; pinned by
test_value_set_back_meets_a_concurrent_edit); FIELDSYNC_CONV_REUSE=0 avoids such values.
Narrative edits replace one line, or two neighbouring lines, so that concurrent edits of one
narrative often overlap: the merge keeps every non-overlapping hunk of both sides and each
overlapping region as a conflict record, so a sentence counts as kept only when it is a line
of the narrative or a line of a kept region (or of a kept whole narrative).

200 seeds in CI, 2000 with FIELDSYNC_LONG=1, 20 with FIELDSYNC_SAMPLE=1 (the sanitizer tree);
FIELDSYNC_SEEDS=K runs K seeds, FIELDSYNC_SEED=N seed N alone.  Seeds run in FIELDSYNC_CONV_STREAMS (2) streams side by side, each with its own
devices and offices (ELP/SDG, ELP1/SDG1, ...); a seed does the same in any stream or batch.
A failure prints the seed and the operation log.
"""
import concurrent.futures
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import unittest

import fstest
import hqtest

SEEDS = int(os.environ.get("FIELDSYNC_SEEDS") or fstest.trials(200, 2000, 20))
MAX_FAILURES = 3  # stop after this many failing seeds (each is reported)
STREAMS = int(os.environ.get("FIELDSYNC_CONV_STREAMS") or 2)  # seeds run side by side
BATCH = 5  # seeds whose cases are opened and synced together, to save syncs
REUSE = os.environ.get("FIELDSYNC_CONV_REUSE", "1") not in ("", "0")

ENUMS = ("status", "category", "disposition", "source", "priority")
LINES = ("title", "assignee", "location", "subject_name")


class SeedFailure(AssertionError):
    pass


class Write:
    __slots__ = ("wid", "node", "case", "kind", "field", "value", "sup")

    def __init__(self, wid, node, case, kind, field, value, sup):
        self.wid, self.node, self.case, self.kind = wid, node, case, kind
        self.field, self.value, self.sup = field, value, sup


class Actor:
    """A node of the trial: an agent device, or HQ (the server's own store)."""

    def __init__(self, name, office, node=None, hq=None):
        self.name, self.office, self.node, self.hq = name, office, node, hq

    @property
    def is_hq(self):
        return self.hq is not None

    def run(self, *args):
        if self.hq:
            return self.hq.run(*args)
        return self.node.run(*args)

    def show(self, cid):
        r = self.run("--json", "case", "show", cid)
        if r.rc != 0:
            raise SeedFailure("%s: case show %s failed: %r" % (self.name, cid, r))
        return r.json()


class Convergence(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fieldsync-conv-")
        cls.fleet = hqtest.Fleet(cls.tmp)
        cls.hq = cls.fleet.hq
        try:
            cls.streams = [cls.enroll_stream(k) for k in range(STREAMS)]
            cls.actors = cls.streams[0]
            fields = cls.actors["e1"].node.ok("--json", "case", "fields").json()["fields"]
            cls.allowed = {f["name"]: f["values"] for f in fields if f["values"]}
            cls.allowed["priority"] = ["1", "2", "3", "4"]  # kind int, 1 to 4
            cls.defaults = {f["name"]: f["default"] for f in fields if f["default"]}
            for f in ENUMS + LINES:
                assert f in {x["name"] for x in fields}, f
        except BaseException:
            cls.hq.stop()
            raise

    @classmethod
    def enroll_stream(cls, k):
        """The devices of one stream of seeds: its own two offices, so streams never meet."""
        elp, sdg = ("ELP", "SDG") if k == 0 else ("ELP%d" % k, "SDG%d" % k)
        actors = {}
        for name, office, user in (("e1", elp, "alice"), ("e2", elp, "bob"),
                                   ("s1", sdg, "carol")):
            n = cls.fleet.device("%s-%d" % (name, k), office, admin=user)
            actors[name] = Actor(name, office, node=n)
        actors["HQ"] = Actor("HQ", "HQ", hq=cls.hq)
        actors["tmp"] = os.path.join(cls.tmp, "narrative-%d.txt" % k)
        return actors

    @classmethod
    def tearDownClass(cls):
        cls.hq.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_random_histories_converge_losslessly(self):
        if os.environ.get("FIELDSYNC_SEED"):
            seeds = [int(os.environ["FIELDSYNC_SEED"])]
        else:
            seeds = list(range(SEEDS))
        failures, ops, lock = [], [0], threading.Lock()
        todo = iter(seeds)

        def fail(trial, e):
            with lock:
                failures.append("seed %d: %s\noperation log:\n  %s" %
                                (trial.seed, e, "\n  ".join(trial.log)))
                sys.stderr.write("\nFAILED " + failures[-1] + "\n")

        def stream(actors):
            while True:
                with lock:
                    batch = [x for x in (next(todo, None) for _ in range(BATCH))
                             if x is not None]
                    if not batch or len(failures) >= MAX_FAILURES:
                        return
                trials = [Trial(self, seed, actors) for seed in batch]
                try:
                    setup_batch(trials)
                except (SeedFailure, AssertionError) as e:
                    fail(trials[0], e)
                    continue
                for trial in trials:
                    try:
                        trial.run()
                    except (SeedFailure, AssertionError) as e:
                        fail(trial, e)
                    with lock:
                        ops[0] += trial.nops

        t0 = time.monotonic()
        threads = [threading.Thread(target=stream, args=(a,)) for a in self.streams]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        dt = time.monotonic() - t0
        print("\n%d seeds in %d streams, %d operations in %.1f s (%.2f s per seed), "
              "%d failing" % (len(seeds), len(self.streams), ops[0], dt,
                              dt / max(len(seeds), 1), len(failures)))
        if failures:
            self.fail("%d failing seed(s) (rerun one with FIELDSYNC_SEED=N):\n\n%s" %
                      (len(failures), "\n\n".join(failures)))

    def test_value_set_back_meets_a_concurrent_edit(self):
        """HQ sets a status back to its earlier value while a device changes it concurrently.

        HQ's deliberate value equals the merge base's; judged by final values alone it would
        count as "no change" and the device's value would replace it with no conflict kept.
        The merge also asks which paths each side's commits wrote, so HQ's value (first at
        the server) stays and the device's is kept as a conflict.
        """
        e1, e2, hq = self.actors["e1"].node, self.actors["e2"].node, self.actors["HQ"]
        cid = e1.new_case("Set back", "ethics")  # status starts as "intake"
        e1.ok("sync")
        e2.ok("sync")
        e1.ok("case", "edit", cid, "--set", "status=open")
        e1.ok("sync")
        r = hq.run("case", "edit", cid, "--set", "status=intake")  # HQ saw "open", sets back
        self.assertEqual(r.rc, 0, r)
        e2.ok("case", "edit", cid, "--set", "status=review")  # concurrent, from "intake"
        e2.ok("sync")
        view = hq.show(cid)
        kept = [c["value"].strip() for c in view["conflicts"] if c["path"] == "fields/status"]
        values = [view["fields"]["status"]] + kept
        self.assertIn("intake", values, view)
        self.assertIn("review", values, view)


class Trial:
    def __init__(self, test, seed, actors):
        self.t = test
        self.seed = seed
        self.rnd = random.Random(seed)
        self.actors = {k: v for k, v in actors.items() if isinstance(v, Actor)}
        self.devices = [actors[n] for n in ("e1", "e2", "s1")]
        self.log = []
        self.writes = {}
        self.know = {a: {} for a in self.actors}  # node -> case -> set of write ids
        self.visible = {a: [] for a in self.actors}  # node -> case ids
        self.label = {}  # case id -> short label used in the log
        self.initial = {}  # case id -> {field: value it was created with}
        self.nops = 0
        self.tmpfile = actors["tmp"]

    # ---- helpers ------------------------------------------------------------------------

    def must(self, actor, *args):
        r = actor.run(*args)
        if r.rc != 0:
            raise SeedFailure("%s: %s failed: %r" % (actor.name, " ".join(args), r))
        return r

    def write_narrative(self, lines):
        with open(self.tmpfile, "w") as f:
            f.write("\n".join(lines) + "\n")
        return self.tmpfile

    def sync(self, dev):
        res = self.must(dev, "--json", "sync").json()
        self.learn(dev, res)
        return res

    def learn(self, dev, res, tag=""):
        """What a sync of `dev` moved: its writes reach HQ, and HQ's reach it."""
        self.log.append("%s sync -> pushed %d pulled %d merged %d conflicts %d%s" %
                        (dev.name, res["pushed"], res["pulled"], res["merged"],
                         res["conflicts"], tag))
        hq = self.know["HQ"]
        for c in self.visible[dev.name]:
            hq.setdefault(c, set()).update(self.know[dev.name].get(c, ()))
        for c in self.visible[dev.name]:
            self.know[dev.name].setdefault(c, set()).update(hq.get(c, ()))

    def see(self, case, *names):
        for n in names:
            self.visible[n].append(case)
            self.know[n].setdefault(case, set())

    # ---- the starting cases --------------------------------------------------------------

    def create_cases(self):
        """Open this seed's cases (not synced yet: setup_batch() does that)."""
        e1, e2, s1 = self.devices
        ncases = self.rnd.randint(2, 3)
        sdg_owned = ncases == 3 and self.rnd.random() < 0.5
        created = []  # (creator, case id)
        for k in range(ncases):
            creator = s1 if (sdg_owned and k == ncases - 1) else self.rnd.choice([e1, e2])
            lines = ["Case %d of seed %d opens with line %d." % (k, self.seed, i)
                     for i in range(6)]
            initial = dict(self.t.defaults, title="Seed %d case %d" % (self.seed, k),
                           category=self.rnd.choice(self.t.allowed["category"]))
            cid = self.must(creator, "case", "new", "--title", initial["title"], "--category",
                            initial["category"], "--narrative-file",
                            self.write_narrative(lines)).out.strip()
            self.initial[cid] = initial
            self.label[cid] = "C%d" % k
            created.append((creator, cid))
            self.log.append("%s creates %s = %s" % (creator.name, self.label[cid], cid))
            if creator is s1:
                self.see(cid, "s1", "HQ")
            else:
                self.see(cid, "e1", "e2", "HQ")
        self.created = created

    def share(self):
        s1 = self.devices[2]
        shared = self.rnd.choice([cid for c, cid in self.created if c is not s1])
        self.must(self.actors["HQ"], "case", "share", shared, s1.office)
        self.see(shared, "s1")
        self.log.append("HQ shares %s with %s" % (self.label[shared], s1.office))

    # ---- operations ----------------------------------------------------------------------

    def new_write(self, actor, case, kind, field, value, sup):
        w = Write(len(self.writes), actor.name, case, kind, field, value, sup)
        self.writes[w.wid] = w
        self.know[actor.name][case].add(w.wid)
        return w

    def op_field(self, actor, case, opno):
        fields = list(ENUMS + LINES)
        self.rnd.shuffle(fields)
        for field in fields:
            if field in LINES:
                value = "%s s%d o%d %s" % (field, self.seed, opno, actor.name)
                break
            # Never set a value this node knows the field held before (see the module's
            # docstring: a value set back meets a concurrent edit silently; reported).
            held = {self.initial[case].get(field)} if not REUSE else set()
            held |= {self.writes[w].value for w in self.know[actor.name][case]
                     if not REUSE and self.writes[w].field == field}
            choices = [v for v in self.t.allowed[field] if v not in held]
            if choices:
                value = self.rnd.choice(choices)
                break
        r = actor.run("case", "edit", case, "--set", "%s=%s" % (field, value))
        if r.rc != 0 and "no change" in r.err:
            self.log.append("%s sets %s %s=%s (no change)" % (actor.name, self.label[case],
                                                              field, value))
            return
        if r.rc != 0:
            raise SeedFailure("%s: case edit failed: %r" % (actor.name, r))
        sup = {w for w in self.know[actor.name][case]
               if self.writes[w].kind == "field" and self.writes[w].field == field}
        w = self.new_write(actor, case, "field", field, value, sup)
        self.log.append("%s sets %s %s=%s (w%d)" % (actor.name, self.label[case], field, value,
                                                     w.wid))

    def op_narrative(self, actor, case, opno):
        view = actor.show(case)
        self.check_view(actor.name, view, self.know[actor.name][case], "before its edit")
        lines = view["narrative"].splitlines()
        i = self.rnd.randrange(len(lines))
        sentence = "Seed %d op %d by %s records fact N%dx%d." % (self.seed, opno, actor.name,
                                                                 self.seed, opno)
        old = {lines[i]}
        lines[i] = sentence
        if i + 1 < len(lines) and self.rnd.random() < 0.3:  # a wider hunk: more overlaps
            old.add(lines[i + 1])
            lines[i + 1] = sentence.replace("records fact", "adds detail")
        self.must(actor, "case", "edit", case, "--narrative-file", self.write_narrative(lines))
        sup = {w for w in self.know[actor.name][case]
               if self.writes[w].kind == "narr" and self.writes[w].value in old}
        w = self.new_write(actor, case, "narr", None, sentence, sup)
        self.log.append("%s replaces line %d of %s's narrative (w%d): %r -> %r" %
                        (actor.name, i, self.label[case], w.wid, old, sentence))

    def op_note(self, actor, case, opno):
        marker = "NOTE-s%d-o%d-%s" % (self.seed, opno, actor.name)
        self.must(actor, "note", "add", case, "--text", "Interview record %s." % marker)
        w = self.new_write(actor, case, "note", None, marker, set())
        self.log.append("%s adds note %s to %s (w%d)" % (actor.name, marker, self.label[case],
                                                         w.wid))

    # ---- checks --------------------------------------------------------------------------

    def check_view(self, who, view, known, when):
        """Every write `who` knows and nobody it knows of overwrote is in the case view."""
        cid = view["id"]
        superseded = set()
        for wid in known:
            superseded |= self.writes[wid].sup
        conflicts = view["conflicts"]
        notes = [n["text"] for n in view["notes"]]
        markers = []
        for wid in sorted(known):
            w = self.writes[wid]
            if w.kind == "note":
                markers.append(w.value)
                count = sum(w.value in t for t in notes)
                if count != 1:
                    raise SeedFailure("%s %s: note %s (w%d by %s) is there %d times, %s" %
                                      (who, self.label[cid], w.value, wid, w.node, count, when))
                continue
            if wid in superseded:
                continue
            if w.kind == "field":
                path = "fields/" + w.field
                kept = [c["value"].strip() for c in conflicts if c["path"] == path]
                if view["fields"].get(w.field) != w.value and w.value not in kept:
                    raise SeedFailure(
                        "%s %s: %s=%s (w%d by %s) is lost %s: in place %r, kept %r" %
                        (who, self.label[cid], w.field, w.value, wid, w.node, when,
                         view["fields"].get(w.field), kept))
            else:
                kept = [c["value"] for c in conflicts if c["path"] == "narrative.md"]
                if (w.value not in view["narrative"].splitlines() and
                        not any(w.value in k.splitlines() for k in kept)):
                    raise SeedFailure(
                        "%s %s: narrative sentence %r (w%d by %s) is lost %s:\n%s\nkept: %r" %
                        (who, self.label[cid], w.value, wid, w.node, when, view["narrative"],
                         kept))
        stray = [t for t in notes if "NOTE-" in t and not any(m in t for m in markers)]
        if stray:
            raise SeedFailure("%s %s: notes nobody wrote (or not known here) %s: %r" %
                              (who, self.label[cid], when, stray))

    def final_check(self):
        jobs = [(a, c) for a in self.actors for c in self.visible[a]]
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            views = list(pool.map(lambda j: self.actors[j[0]].show(j[1]), jobs))
        by_case = {}
        for (a, c), v in zip(jobs, views):
            by_case.setdefault(c, []).append((a, v))
        for c, lst in by_case.items():
            ref_name, ref = lst[0]
            for a, v in lst[1:]:
                if v != ref:
                    diff = {k: (ref.get(k), v.get(k)) for k in set(ref) | set(v)
                            if ref.get(k) != v.get(k)}
                    raise SeedFailure("%s and %s differ on %s after the final syncs: %s" %
                                      (ref_name, a, self.label[c],
                                       json.dumps(diff, indent=1)[:4000]))
            for a, v in lst:
                if self.know[a][c] != self.know["HQ"][c]:
                    raise SeedFailure("model: %s does not know all of %s" % (a, self.label[c]))
            self.check_view("every node", ref, self.know["HQ"][c], "after the final syncs")

    # ---- the trial -----------------------------------------------------------------------

    def run(self):
        """After setup_batch(): the random operations, the final syncs and the checks."""
        nops = self.rnd.randint(10, 16)
        for opno in range(nops):
            self.nops += 1
            kind = self.rnd.choices(("sync", "field", "narrative", "note"),
                                    (3, 3, 2, 2))[0]
            if kind == "sync":
                self.sync(self.rnd.choice(self.devices))
                continue
            actor = self.actors[self.rnd.choice(["e1", "e2", "s1", "HQ"])]
            if kind == "note" and actor.is_hq:
                kind = "field"  # HQ has no note command
            case = self.rnd.choice(self.visible[actor.name])
            getattr(self, "op_" + kind)(actor, case, opno)
        order = list(self.devices)
        self.rnd.shuffle(order)
        for rnd in range(1, 6):
            results = [self.sync(d) for d in order]
            if rnd >= 2 and not any(r["pushed"] or r["merged"] for r in results):
                break
        else:
            raise SeedFailure("not quiescent after 5 rounds of syncs")
        self.final_check()


def setup_batch(trials):
    """Open the cases of several seeds and sync them everywhere with a few syncs in all.

    Each seed draws its cases from its own random generator, so a seed run alone (a batch
    of one) does exactly what it does in a batch."""
    devices = trials[0].devices
    tag = " (setup of seeds %s)" % ", ".join(str(t.seed) for t in trials)
    for t in trials:
        t.log.append("seed %d (offices %s and %s)" % (t.seed, devices[0].office,
                                                       devices[2].office))
        t.create_cases()
    for d in devices:  # push the new cases (e2 pulls e1's)
        if any(c is d for t in trials for c, _ in t.created):
            res = trials[0].must(d, "--json", "sync").json()
            for t in trials:
                t.learn(d, res, tag)
    for t in trials:
        t.share()
    for d in devices:  # every device holds every case it can see
        res = trials[0].must(d, "--json", "sync").json()
        for t in trials:
            t.learn(d, res, tag)


if __name__ == "__main__":
    unittest.main(verbosity=2)
