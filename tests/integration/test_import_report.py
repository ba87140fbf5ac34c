"""HQ's import of existing records and the annual report's tables.

Must hold: a generated data set (30 offices, 3 years, realistic dispositions and dates;
20,000 cases in CI, 200,000 with FIELDSYNC_LONG=1, 2,000 under the sanitizers) imports, and
every table of `report --json` equals an independent computation from the same JSONL
(hqdata.report_tables); `--csv` says the same; `report --html` opens in headless Chromium and
shows one chart per table (a screenshot is saved); bad lines are refused with their number
and reason and store nothing; roles and bad report options are refused clearly.
"""
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
import unittest

import fstest
import hqdata
import hqtest

COUNT = fstest.trials(20000, 200000, 2000)
PERIODS = [("2024-01-01", "2024-12-31"), ("2023-06-15", "2025-03-31")]
TABLES = ["received", "closed", "timeliness", "caseload", "overdue", "subjects"]
STAFF = {"ann": ("analyst", "ann's analyst passphrase"),
         "ivy": ("intake", "ivy's intake passphrase")}

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE_BROWSER = os.path.exists(CHROMIUM) and os.path.exists(DRIVER)
try:
    import selenium  # noqa: F401
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
ARTEFACTS = os.path.join(os.environ.get("FIELDSYNC_BUILD") or
                         os.path.join(os.path.dirname(__file__), "..", "..", "build"),
                         "artefacts", "report")


class ImportReport(fstest.NodeTest):
    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.dir = tempfile.mkdtemp(prefix="fieldsync-report-")
        cls.hq = hqtest.Server(cls.dir)
        cls.hq.init()
        for code in hqdata.office_codes():
            cls.hq.ok("office", "add", code, "--name", "Office " + code)
        for user, (role, pw) in STAFF.items():
            cls.staff(None, "--kdf-cost", "low", "user", "add", user, "--role", role, new=pw,
                      ok=True)
        cls.records = hqdata.records(COUNT)
        cls.jsonl = os.path.join(cls.dir, "records.jsonl")
        hqdata.write_jsonl(cls.jsonl, cls.records)
        t0 = time.monotonic()
        r = cls.hq.run("--json", "case", "import", cls.jsonl, timeout=3600)
        cls.import_seconds = time.monotonic() - t0
        if r.rc != 0:
            raise AssertionError("import failed: %r" % r)
        cls.imported = r.json()
        print("import: %d cases in %.1f s (%.0f cases/s)" % (
            COUNT, cls.import_seconds, COUNT / cls.import_seconds), file=sys.stderr)
        cases = cls.hq.ok("--json", "case", "list").json()["cases"]
        cls.title_of = {c["id"]: c["title"] for c in cases}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def staff(cls, who, *args, new=None, ok=False, timeout=600):
        r = cls.hq.run_as(who, STAFF[who][1] if who else None, *args, new=new, timeout=timeout)
        if ok and r.rc != 0:
            raise AssertionError("%s: %r" % (args, r))
        return r

    def report(self, table, frm, to, *extra):
        r = self.staff("ann", "--json", "report", "--from", frm, "--to", to, "--table", table,
                       *extra)
        self.assertEqual(r.rc, 0, r)
        return r.json()["rows"]

    def test_import_stored_every_line(self):
        self.assertEqual((self.imported["lines"], self.imported["stored"],
                          self.imported["refused"]), (COUNT, COUNT, 0))
        self.assertEqual(len(self.title_of), COUNT)
        # a record with a narrative and a note came in whole
        rec = self.records[50]
        cid = [i for i, t in self.title_of.items() if t == rec["fields"]["title"]][0]
        self.assertTrue(cid.startswith(rec["office"] + "-" + rec["fields"]["received_at"][2:4]))
        shown = self.hq.ok("--json", "case", "show", cid).json()
        self.assertEqual(shown["fields"]["category"], rec["fields"]["category"])
        self.assertIn(rec["narrative"], shown["narrative"])
        self.assertEqual([n["text"].strip() for n in shown["notes"]], rec["notes"])
        # audited as the import, batch by batch, with its counts
        entries = [e for e in self.hq.ok("--json", "audit", "log").json()["entries"]
                   if e["action"] == "case.import"]
        self.assertEqual(sum(int(e["detail"].split(": ")[1].split()[0]) for e in entries),
                         COUNT)

    def test_every_table_equals_an_independent_computation(self):
        for frm, to in PERIODS:
            want = hqdata.report_tables(self.records, frm, to)
            for table in TABLES:
                got = self.report(table, frm, to)
                if table == "overdue":
                    got = sorted(({"office": r["office"], "title": self.title_of[r["id"]],
                                   "assignee": r["assignee"], "due_at": r["due_at"],
                                   "days_overdue": r["days_overdue"]} for r in got),
                                 key=lambda r: (r["office"], -r["days_overdue"], r["title"]))
                with self.subTest(table=table, period=(frm, to)):
                    self.assertEqual(got, want[table])
                    self.assertTrue(got, "an empty table proves nothing")
        # --min moves the subjects threshold
        frm, to = PERIODS[0]
        self.assertEqual(self.report("subjects", frm, to, "--min", "8"),
                         hqdata.report_tables(self.records, frm, to, 8)["subjects"])

    def test_csv_says_the_same(self):
        frm, to = PERIODS[0]
        for table in ("received", "timeliness", "caseload"):
            rows = self.report(table, frm, to)
            r = self.staff("ann", "report", "--from", frm, "--to", to, "--table", table, "--csv")
            self.assertEqual(r.rc, 0, r)
            parsed = list(csv.DictReader(io.StringIO(r.out)))
            self.assertEqual(parsed, [{k: str(v) for k, v in row.items()} for row in rows])

    def test_report_speed(self):
        frm, to = PERIODS[1]
        for table in TABLES:
            t0 = time.monotonic()
            self.report(table, frm, to)
            ms = (time.monotonic() - t0) * 1000
            print("report %s: %.0f ms over %d cases" % (table, ms, COUNT), file=sys.stderr)

    @unittest.skipUnless(HAVE_BROWSER, "chromium and chromedriver are not installed")
    def test_html_page_has_a_chart_per_table(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service as DriverService
        from selenium.webdriver.common.by import By
        page = os.path.join(self.dir, "report.html")
        frm, to = PERIODS[0]
        r = self.staff("ann", "report", "--from", frm, "--to", to, "--html", page)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(os.stat(page).st_mode & 0o777, 0o600)
        with open(page) as f:
            html = f.read()
        self.assertNotIn("http://", html.replace("http://www.w3.org/2000/svg", ""))
        self.assertNotIn("https://", html)
        self.assertNotIn("<script", html)
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1280,2000", "--no-first-run", "--disable-background-networking",
                  "--user-data-dir=" + os.path.join(self.dir, "chromium")):
            opts.add_argument(a)
        driver = webdriver.Chrome(service=DriverService(DRIVER), options=opts)
        try:
            driver.get("file://" + page)
            sections = driver.find_elements(By.TAG_NAME, "section")
            self.assertEqual([s.get_attribute("id") for s in sections], TABLES)
            for s in sections:
                charts = s.find_elements(By.CSS_SELECTOR, "svg.chart")
                self.assertEqual(len(charts), 1, s.get_attribute("id"))
                self.assertGreater(len(charts[0].find_elements(By.TAG_NAME, "rect")), 0)
                self.assertGreater(charts[0].size["height"], 20)
            self.assertIn("Allegations received", driver.find_element(By.TAG_NAME, "body").text)
            os.makedirs(ARTEFACTS, exist_ok=True)
            shot = os.path.join(ARTEFACTS, "report.png")
            driver.save_screenshot(shot)
            self.assertGreater(os.path.getsize(shot), 10000)
        finally:
            driver.quit()

    def test_roles_and_bad_options(self):
        frm, to = PERIODS[0]
        self.assertFails(self.staff("ann", "case", "list"), 1, "may not do 'case.list'")
        self.assertFails(self.staff("ann", "case", "import", self.jsonl), 1,
                         "may not do 'case.import': it needs the role intake")
        self.assertFails(self.staff("ivy", "report", "--from", frm, "--to", to, "--table",
                                    "closed"), 1, "may not do 'report'")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
        env["FIELDSYNC_PASSPHRASE"] = "whatever passphrase"
        r = fstest.Result(subprocess.run(
            [hqtest.SERVER, "--home", self.hq.home, "--user", "nobody", "report", "--from", frm,
             "--to", to, "--table", "closed"], env=env, capture_output=True, text=True))
        self.assertFails(r, 1, "nobody")
        for args, fragment in [
                (["--table", "gossip"], "unknown table 'gossip'"),
                (["--table", "closed", "--to", "2024-13-01"], "take dates"),
                (["--table", "closed", "--to", "2023-01-01"], "is after --to"),
                (["--table", "subjects", "--min", "0"], "--min takes"),
                (["--html", "x.html", "--table", "closed"], "one of --table, --html")]:
            argv = ["report", "--from", frm]
            if "--to" not in args:
                argv += ["--to", to]
            r = self.staff("ann", *(argv + args))
            self.assertFails(r, 2, fragment)
        reports = [e for e in self.hq.ok("--json", "audit", "log").json()["entries"]
                   if e["action"] == "report" and e["user"] == "ann"]
        self.assertTrue(reports)

    def test_bad_lines_are_refused_and_store_nothing(self):
        hq = hqtest.Server(self.tmp)  # a server of its own: the data set stays as generated
        hq.init()
        hq.ok("office", "add", "OAA", "--name", "Office OAA")
        before = len(hq.ok("--json", "case", "list").json()["cases"])
        good = {"office": "OAA", "fields": {"title": "A good line", "category": "theft",
                                            "received_at": "2024-02-02"}}
        lines = [json.dumps(good),
                 "{not json",
                 json.dumps({"office": "ZZZ", "fields": good["fields"]}),
                 json.dumps({"office": "OAA", "fields": {"title": "x", "category": "gossip"}}),
                 json.dumps({"office": "OAA", "fields": {"title": "x", "category": "theft",
                                                         "received_at": "2024-02-30"}}),
                 json.dumps({"office": "OAA", "fields": {"title": "x", "category": "theft",
                                                         "shoe_size": "9"}}),
                 json.dumps({"office": "OAA", "fields": {"category": "theft"}}),
                 json.dumps({"office": "OAA", "fields": good["fields"], "extra": 1}),
                 json.dumps({"office": "OAA", "fields": good["fields"], "notes": [""]}),
                 "",
                 json.dumps(good)]
        path = os.path.join(self.tmp, "bad.jsonl")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = hq.run("--json", "case", "import", path)
        self.assertEqual(r.rc, 1, r)
        doc = r.json()
        self.assertEqual((doc["lines"], doc["stored"], doc["refused"]), (11, 2, 9), doc)
        reasons = {x["line"]: x["reason"] for x in doc["refusals"]}
        self.assertIn("not JSON", reasons[2])
        self.assertIn("no office 'ZZZ'", reasons[3])
        self.assertIn("'gossip' is not a valid category", reasons[4])
        self.assertIn("'2024-02-30' is not a valid received_at", reasons[5])
        self.assertIn("shoe_size", reasons[6])
        self.assertIn("title", reasons[7])
        self.assertIn("unknown key 'extra'", reasons[8])
        self.assertIn("note 1", reasons[9])
        self.assertIn("empty line", reasons[10])
        for n in reasons:
            self.assertIn("line %d: " % n, r.err)
        after = hq.ok("--json", "case", "list").json()["cases"]
        self.assertEqual(len(after), before + 2)
        self.assertFails(hq.run("case", "import", "/nonexistent.jsonl"), 1, "cannot open")


if __name__ == "__main__":
    unittest.main()
