"""bench_serve: `fieldsync-agent serve` beside the command line on its own, in the same run.

  python3 tests/bench/bench_serve.py BUILD_DIR

1. One command (`case list`, 100 cases) through the running service vs the same command with
   its own log-on (the default Argon2id cost, as a real user has): median of N runs each.
2. The case list with 10,000 cases: GET /api/cases (the web interface's server response) vs
   `case list --json` through the service and on its own.
3. A case with 500 revisions and a 100 KiB narrative: GET /api/cases/ID, the time to first
   render of its page in headless Chromium (if installed), vs `case show` on its own.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build-bench")
os.environ.setdefault("FIELDSYNC_AGENT", os.path.join(BUILD, "agent", "fieldsync-agent"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import fstest  # noqa: E402
import servetest  # noqa: E402

PREP = os.path.join(BUILD, "tests", "bench_sync_prep")
RUNS = int(os.environ.get("FIELDSYNC_BENCH_RUNS", "15"))
ALONE = {"FIELDSYNC_NO_SERVICE": "1"}


def ms(f, runs=RUNS):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        f()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run_cmd(node, *args, alone=False):
    env = node.env(node.admin)
    if alone:
        env.update(ALONE)
    p = subprocess.run([fstest.AGENT] + list(args), env=env, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit("%s failed: %s" % (args, p.stderr))
    return p.stdout


def main():
    tmp = tempfile.mkdtemp(prefix="fieldsync-bench-serve-")
    node = fstest.Node(os.path.join(tmp, "node"))
    # the default key-slot cost: the log-on a real user pays
    p = subprocess.run([fstest.AGENT, "init", "--office", "ELP", "--user", "alice"],
                       env=node.env("alice"), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    env = node.env("alice")
    subprocess.run([PREP, "filler", "100"], env=env, check=True, capture_output=True)
    svc = servetest.Service(node, os.path.join(tmp, "serve.log"), "--sync-every", "1h")
    svc.start()
    try:
        run_cmd(node, "case", "list")  # the session is open from the unlock
        alone = ms(lambda: run_cmd(node, "case", "list", alone=True), runs=max(5, RUNS // 3))
        through = ms(lambda: run_cmd(node, "case", "list"))
        print("case list (100 cases): own log-on %.1f ms, through the service %.1f ms: "
              "%.0fx faster" % (alone, through, alone / through))

        svc.stop()
        subprocess.run([PREP, "filler", "9900"], env=env, check=True, capture_output=True)
        svc.start()
        w = svc.web_client()
        w.logon("alice", fstest.PASS["alice"])
        n = len(w.get("/api/cases").json()["cases"])
        assert n == 10000, n
        api = ms(lambda: w.get("/api/cases"), runs=5)
        cli_svc = ms(lambda: run_cmd(node, "--json", "case", "list"), runs=5)
        cli_alone = ms(lambda: run_cmd(node, "--json", "case", "list", alone=True), runs=3)
        print("case list (10,000 cases): GET /api/cases %.1f ms; `case list --json` through "
              "the service %.1f ms, on its own (with log-on) %.1f ms" % (api, cli_svc, cli_alone))

        narrative = "".join("Line %05d of the report of investigation, with some words.\n" % i
                            for i in range(1700))[:100 * 1024]
        r = w.post("/api/cases", {"title": "Long case", "category": "ethics",
                                  "narrative": narrative})
        cid = r.json()["id"]
        t0 = time.perf_counter()
        for i in range(499):
            r = w.post("/api/cases/" + cid, {"fields": {"summary": "revision %d" % i}})
            assert r.status == 200, r
        per_edit = (time.perf_counter() - t0) * 1000 / 499
        api_show = ms(lambda: w.get("/api/cases/" + cid), runs=10)
        api_hist = ms(lambda: w.get("/api/cases/%s/history" % cid), runs=5)
        cli_show = ms(lambda: run_cmd(node, "case", "show", cid, alone=True), runs=3)
        cli_show_svc = ms(lambda: run_cmd(node, "case", "show", cid), runs=10)
        print("case with 500 revisions, 100 KiB narrative: an edit through the API %.1f ms; "
              "GET /api/cases/ID %.1f ms, its history %.1f ms; `case show` through the service "
              "%.1f ms, on its own %.1f ms" % (per_edit, api_show, api_hist, cli_show_svc,
                                               cli_show))
        render(svc, cid)
    finally:
        svc.stop()
        subprocess.run(["rm", "-rf", tmp])


def render(svc, cid):
    """Time to first render of the case page in headless Chromium: from navigation to the
    page showing the case's title, fields, narrative and history."""
    chromium, driver = "/usr/bin/chromium", "/usr/bin/chromedriver"
    if not (os.path.exists(chromium) and os.path.exists(driver)):
        print("case page render: skipped (no chromium)")
        return
    try:
        import selenium  # noqa: F401
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-first-run", "--disable-background-networking"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(driver), options=opts)
    try:
        base = "http://127.0.0.1:%d/" % svc.port
        d.get(base + "#/logon")
        WebDriverWait(d, 20).until(lambda d: d.find_element(By.ID, "logon-user"))
        d.find_element(By.ID, "logon-user").send_keys("alice")
        d.find_element(By.ID, "logon-pass").send_keys(fstest.PASS["alice"])
        d.find_element(By.ID, "logon-submit").click()
        WebDriverWait(d, 60).until(lambda d: d.find_elements(By.ID, "case-list"))
        times = []
        for _ in range(5):
            d.get(base + "#/cases")
            WebDriverWait(d, 60).until(lambda d: d.find_elements(By.ID, "case-list"))
            t0 = time.perf_counter()
            d.get(base + "#/case/" + cid)
            WebDriverWait(d, 60, poll_frequency=0.01).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, "#history tr") and
                d.find_element(By.ID, "narrative").get_property("value"))
            times.append((time.perf_counter() - t0) * 1000)
        print("case page (500 revisions, 100 KiB narrative): first render in Chromium %.0f ms "
              "(median of 5)" % statistics.median(times))
    finally:
        d.quit()


if __name__ == "__main__":
    main()
