"""Crash safety: SIGKILL at random moments during a loop of edits loses no acknowledged edit.

Each round starts one agent command (a note, a field edit or a narrative edit) and kills it
with SIGKILL after a random delay within the time one command takes, so kills land in every
phase: start-up, key unwrap, the write transaction, the sidecar update, exit.  A command that
exited 0 before the kill is acknowledged.  At the end the store must open, `check` must pass
and every acknowledged note must be in the case.  FIELDSYNC_LONG=1 runs ten times as many kills.
"""
import os
import random
import signal
import subprocess
import time
import unittest

import fstest

KILLS = fstest.trials(120, 1000, 60)
MARKER = "CRASHMARK5521"
LET_RUN = 9  # every LET_RUN-th command is left to finish (a note, since 9 % 3 == 0)


class Crash(fstest.NodeTest):
    def test_sigkill_loses_no_acknowledged_edit(self):
        n = self.node()
        n.init()
        cid = n.new_case("Crash trial", "theft")
        env = n.env("alice")
        rnd = random.Random(int(os.environ.get("FIELDSYNC_SEED", "5521")))
        # How long one command takes here, to spread the kills over its whole life.  The span
        # follows the commands that ran to the end (every LET_RUN-th one does), so a machine that
        # grows busier or quieter during the trial still sees kills in every phase.
        t0 = time.monotonic()
        n.ok("note", "add", cid, "--text", "warm-up")
        took = [max(time.monotonic() - t0, 0.005)]
        acked, kills, attempts, i, in_db = [], 0, 0, 0, 0
        wal = os.path.join(n.home, "fieldsync.db-wal")
        deadline = time.monotonic() + (1800 if fstest.LONG else 240)
        while kills < KILLS and time.monotonic() < deadline:
            i += 1
            kind = i % 3
            if kind == 0:
                args = ["note", "add", cid, "--text", "note %d %s" % (i, MARKER)]
            elif kind == 1:
                args = ["case", "edit", cid, "--set", "title=Crash trial %d" % i]
            else:
                args = ["case", "edit", cid, "--set", "priority=%d" % (1 + i % 4),
                        "--set", "location=site %d" % i]
            span = sorted(took[-LET_RUN:])[len(took[-LET_RUN:]) // 2] * 1.2
            t0 = time.monotonic()
            p = subprocess.Popen([fstest.AGENT, "--kdf-cost", "low"] + args, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            attempts += 1
            if i % LET_RUN == 0:
                # Runs to the end: acknowledged, and every later kill must leave it in place.
                p.wait()
                took.append(time.monotonic() - t0)
            else:
                time.sleep(rnd.uniform(0, span))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                kills += 1
                p.wait()
                in_db += os.path.exists(wal)  # killed with the database open
            out, err = p.communicate()
            if p.returncode == 0 and kind == 0:
                acked.append(i)
            elif p.returncode not in (0, -signal.SIGKILL):
                # "no change" is fine for a repeated value; anything else is a failure
                self.assertIn(b"no change", err, (args, p.returncode, err))
        self.assertGreaterEqual(kills, KILLS, "only %d kills in %d attempts" % (kills, attempts))
        # Kills must have landed after the database was opened, not only at start-up (the
        # share varies with the machine's speed: under the sanitizers most land at start-up).
        self.assertGreaterEqual(in_db, KILLS // 20, "too few kills with the database open")
        self.assertGreater(len(acked), 0)
        check = n.ok("--json", "check").json()
        self.assertTrue(check["ok"])
        notes = {x["text"].strip() for x in n.show(cid)["notes"]}
        missing = [k for k in acked if "note %d %s" % (k, MARKER) not in notes]
        self.assertEqual(missing, [], "acknowledged notes lost")
        # Whatever the kills left behind (a WAL, a temporary sidecar) holds no case text.
        for path in fstest.files_under(n.home):
            self.assertNotIn(MARKER.encode(), fstest.read_bytes(path), path)
        print("\n%d kills (%d with the database open) in %d attempts, "
              "%d acknowledged notes all present" % (kills, in_db, attempts, len(acked)))


if __name__ == "__main__":
    unittest.main(verbosity=2)
