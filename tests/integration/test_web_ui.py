"""The web interface of `fieldsync-agent serve`, end to end in headless Chromium (Debian's
chromium + chromedriver, python3-selenium): log on, create a case, edit fields and narrative,
add a note, see the history diff, sync with a real HQ on loopback, a conflict made by a second
device shown side by side and resolved from the page, and the second device and HQ end
identical.  Each page is saved as a screenshot under FIELDSYNC_BUILD/artefacts/web_ui/ and its
text checked at that moment.  The page must raise no Content-Security-Policy violation.

Skipped (reported as skipped) only when chromium or chromedriver is absent.
"""
import os
import shutil
import sys
import time
import unittest

import fstest
import hqtest
import servetest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE_BROWSER = os.path.exists(CHROMIUM) and os.path.exists(DRIVER)

try:
    import selenium  # noqa: F401
except ImportError:
    # python3-selenium lives in Debian's dist-packages, which another python3 may not search
    sys.path.append("/usr/lib/python3/dist-packages")

if HAVE_BROWSER:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

ARTEFACTS = os.path.join(os.environ.get("FIELDSYNC_BUILD") or
                         os.path.join(os.path.dirname(__file__), "..", "..", "build"),
                         "artefacts", "web_ui")


@unittest.skipUnless(HAVE_BROWSER, "chromium and chromedriver are not installed")
class WebUI(fstest.NodeTest):
    def tearDown(self):
        self.doCleanups()  # the services stop (and their stderr is checked) before rmtree
        super().tearDown()

    def setUp(self):
        super().setUp()
        os.makedirs(ARTEFACTS, exist_ok=True)
        self.fleet = hqtest.Fleet(self.tmp)
        self.addCleanup(self.fleet.stop)
        self.a = self.fleet.device("a")
        self.b = self.fleet.device("b")
        self.svc = servetest.Service(self.a, os.path.join(self.tmp, "serve.log"),
                                     "--sync-every", "1h", "--sync-debounce", "1h",
                                     "--backoff-min", "300ms", "--backoff-max", "1s")
        self.addCleanup(self.svc.stop)
        self.svc.start()
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1280,1000", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-extensions",
                  "--user-data-dir=" + os.path.join(self.tmp, "chromium")):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=DriverService(DRIVER), options=opts)
        self.addCleanup(self.driver.quit)
        self.base = "http://127.0.0.1:%d/" % self.svc.port
        self.shots = 0

    # ---- helpers ----
    def wait(self, pred, timeout=20):
        return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(
            lambda d: pred(d))

    def text(self):
        return self.driver.find_element(By.TAG_NAME, "body").text

    def wait_text(self, *fragments, timeout=20):
        try:
            self.wait(lambda d: all(f in self.text() for f in fragments), timeout)
        except Exception:
            raise AssertionError("page never showed %r; it shows:\n%s" % (fragments, self.text()))

    def shot(self, name, *expect):
        """Screenshot the page as it is, having checked that it shows `expect`."""
        self.wait_text(*expect)
        self.shots += 1
        path = os.path.join(ARTEFACTS, "%02d-%s.png" % (self.shots, name))
        self.assertTrue(self.driver.save_screenshot(path))
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertGreater(os.path.getsize(path), 5000, path)
        return path

    def by_id(self, i):
        return self.wait(lambda d: d.find_element(By.ID, i))

    def fill(self, i, value):
        e = self.by_id(i)
        e.clear()
        e.send_keys(value)
        return e

    def go(self, hash_):
        self.driver.get(self.base + hash_)

    def sync_now(self):
        before = self.a.ok("--json", "status", passphrase="").json()["service"]["runs"]
        self.go("#/sync")
        self.by_id("sync-now").click()
        self.wait(lambda d: self.a.ok("--json", "status", passphrase="")
                  .json()["service"]["runs"] > before, 30)
        st = self.a.ok("--json", "status", passphrase="").json()["service"]
        self.assertIsNone(st["last_error"], st)

    # ---- the test ----
    def test_case_work_sync_and_conflict_from_the_page(self):
        d = self.driver
        title = "Kickbacks at the vehicle impound"
        self.go("")
        self.shot("logon", "Log on", "Passphrase")
        self.fill("logon-user", "alice")
        self.fill("logon-pass", fstest.PASS["alice"])
        self.by_id("logon-submit").click()
        self.shot("case-list-empty", "Cases", "0 case(s)", "alice (admin)")

        # a new case
        d.find_element(By.ID, "nav-new").click()
        self.fill("new-title", title)
        Select(self.by_id("new-category")).select_by_value("bribery")
        self.fill("new-narrative", "The tow operator paid the clerk.\nCash, monthly.\n")
        self.shot("new-case", "New case")
        self.by_id("new-submit").click()
        self.wait_text(title, "Save changes")
        cid = self.by_id("case-title").text.split(" ")[0]
        self.assertRegex(cid, r"^ELP-\d\d-[0-9A-Z]+$")

        # edit fields and the narrative
        Select(self.by_id("field-status")).select_by_value("open")
        prio = self.by_id("field-priority")
        if prio.tag_name == "select":
            Select(prio).select_by_value("2")
        else:
            self.fill("field-priority", "2")
        narr = self.by_id("narrative")
        narr.send_keys("Seen by two witnesses.\n")
        self.by_id("save").click()
        self.wait_text("Saved")
        # a note
        self.fill("note-text", "Interviewed the night clerk.")
        self.by_id("note-submit").click()
        self.wait_text("Note added", "Interviewed the night clerk.")
        shown = self.a.show(cid, passphrase="")
        self.assertEqual(shown["fields"]["status"], "open")
        self.assertEqual(shown["fields"]["priority"], "2")
        self.assertEqual(shown["narrative"],
                         "The tow operator paid the clerk.\nCash, monthly.\nSeen by two witnesses.\n")
        self.assertEqual([n["text"] for n in shown["notes"]], ["Interviewed the night clerk.\n"])
        # the history and one revision's diff
        d.find_elements(By.CLASS_NAME, "show-diff")[-1].click()
        self.wait(lambda d: d.find_element(By.ID, "diff").is_displayed())
        self.shot("case-page", title, "Notes", "History", "Interviewed the night clerk.",
                  "+The tow operator paid the clerk.")

        # the list: filter and full-text search
        self.go("#/cases")
        self.fill("search", "clerk")
        self.by_id("search-go").click()
        self.shot("case-list-search", cid, "1 case(s)")

        # sync with HQ from the page
        self.sync_now()
        self.shot("sync", "Last success: 20", "0 case(s) with changes HQ has not seen")
        at_hq = self.fleet.hq.ok("--json", "case", "show", cid).json()
        self.assertEqual(at_hq["narrative"], shown["narrative"])

        # a conflict: the second device changes the title first and syncs
        self.b.ok("sync")
        self.b.ok("case", "edit", cid, "--set", "title=Kickbacks at the impound (B)")
        self.b.ok("sync")
        self.go("#/case/" + cid)
        self.wait_text(title)
        self.fill("field-title", "Kickbacks at the impound (A)")
        self.by_id("save").click()
        self.wait_text("Saved")
        self.sync_now()
        self.go("#/conflicts")
        self.wait_text(cid)
        self.shot("conflict-list", "Cases with conflicts", cid)
        self.go("#/conflicts/" + cid)
        self.shot("conflict-side-by-side", "fields/title", "Kickbacks at the impound (B)",
                  "Kickbacks at the impound (A)", "in place, by", "kept version, by")
        card = self.by_id("conflict-0")
        in_place = card.find_element(By.CLASS_NAME, "in-place").text
        kept = card.find_element(By.CLASS_NAME, "kept").text
        self.assertEqual({in_place, kept},
                         {"Kickbacks at the impound (A)", "Kickbacks at the impound (B)"})
        card.find_element(By.CLASS_NAME, "keep-mine").click()
        self.shot("conflict-resolved", "Resolved fields/title", "No unresolved conflicts.")
        self.assertEqual(self.a.show(cid, passphrase="")["fields"]["title"],
                         "Kickbacks at the impound (A)")

        # both devices and HQ end identical
        self.sync_now()
        self.b.ok("sync")
        mine = self.a.show(cid, passphrase="")
        theirs = self.b.show(cid)
        hq = self.fleet.hq.ok("--json", "case", "show", cid).json()
        for key in ("fields", "narrative", "notes", "conflicts", "head"):
            self.assertEqual(mine[key], theirs[key], key)
            self.assertEqual(mine[key], hq[key], key)
        self.assertEqual(mine["conflicts"], [])

        # the audit view (admin), and the page never tripped its own CSP
        self.go("#/audit")
        self.shot("audit", "Audit trail", "case.create", "case.update", "note.add", "logon")
        logs = [e for e in d.get_log("browser") if "Content Security Policy" in e["message"]]
        self.assertEqual(logs, [])
        d.find_element(By.ID, "logoff").click()
        self.shot("logged-off", "Log on")
        self.assertEqual(self.svc.web_client().get("/api/cases").status, 401)


if __name__ == "__main__":
    unittest.main(verbosity=2)
