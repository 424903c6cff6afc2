#!/usr/bin/env python3
"""Full tier: `k6gate serve` in a real browser.

Headless Debian Chromium (/usr/bin/chromium) driven by Playwright for Python
(scripts/install-playwright.sh), against `k6gate serve` on a store of real k6 runs: the one
`k6gate demo` makes (the demo shop, k6 1.1, the checkout test at v1.0.0 then at a 30 %
slower v1.1.0, blocked, then allowed by a migration window). To check that run data is
escaped in the browser too, the served copy of the store gets one more row: a copy of a real
run whose version and branch are `<script>` (the store takes any text there).

Checks: the list shows every run; the outcome filter (applied by the page's script) and the
version filter; comparing two runs picked in the list opens /compare/<base>/<cand>, and every
number in its table is the one `k6gate compare --format json` prints; a run's page shows its
stored verdict's outcome and every rule; a POST without the CSRF token is refused (403) and
one with the page's token redirects; no script from run data runs and the CSP blocks
nothing; an unknown run is a 404 page. A screenshot of each page is kept as an artifact in
$CARGO_TARGET_DIR/serve-browser/ (with --docs, also in docs/ for the README).

    python3 tests/serve_browser.py [--k6gate PATH] [--store DIR] [--docs]

Exit 0 when every check passed; the failures otherwise.
"""

import argparse
import gzip
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
ART = TARGET / "serve-browser"
CHROMIUM = "/usr/bin/chromium"
SCRIPT = "<script>window.__pwned = 1; alert('x')</script>"

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def demo_store(k6gate, store):
    """A store of real k6 runs: `k6gate demo`'s, made once (about 75 s)."""
    if (store / "history.db").is_file():
        return
    env = dict(os.environ, K6_NO_USAGE_REPORT="true")
    subprocess.run([k6gate, "demo", "--dir", str(store)], check=True, env=env, cwd=ROOT)


def served_copy(store):
    """The demo store plus a copy of its first run with <script> as version and branch."""
    copy = ART / "store"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(store, copy)
    db = sqlite3.connect(copy / "history.db")
    # Every column but `seq`, the row's own key (the copy gets a new one).
    cols = [r[1] for r in db.execute("PRAGMA table_info(runs)") if r[1] != "seq"]
    first = db.execute("SELECT id FROM runs ORDER BY started_at_ns LIMIT 1").fetchone()[0]
    values = ["?" if c in ("id", "deployment_version", "git_branch") else c for c in cols]
    args = {"id": first[:-4] + "0bad", "deployment_version": SCRIPT, "git_branch": SCRIPT}
    db.execute(
        f"INSERT INTO runs ({', '.join(cols)}) SELECT {', '.join(values)} FROM runs WHERE id = ?",
        [args[c] for c in cols if c in args] + [first],
    )
    db.commit()
    db.close()
    return copy


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(k6gate, store):
    port = free_port()
    cmd = [k6gate, "--state-dir", str(store), "--policies", str(store / "policies"), "serve", "--listen", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("k6gate serve did not answer: " + (proc.stdout.read() if proc.stdout else ""))


def compare_json(k6gate, store, base, cand, phase="steady-state"):
    out = subprocess.run(
        [k6gate, "--state-dir", str(store), "--policies", str(store / "policies"), "compare", base, cand,
         "--phase", phase, "--format", "json"],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def table(page):
    """The comparison table's rows as the page shows them (raw numbers from data-value)."""
    return page.locator("tr.metric").evaluate_all(
        """rs => rs.map(r => ({group: r.dataset.group, metric: r.dataset.metric,
             baseline: r.children[2].dataset.value, candidate: r.children[3].dataset.value,
             badge: (r.querySelector('.badge') || {}).textContent || '',
             trend: (r.querySelector('.badge') || {className: ''}).className}))"""
    )


def same_numbers(want, shown, phase):
    """Every row of `k6gate compare --format json` is on the page with the same numbers."""
    check(len(shown) == len(want["metrics"]), f"{phase}: one row per compared metric ({len(shown)})")
    for m, s in zip(want["metrics"], shown):
        same = (s["group"], s["metric"]) == (m["group"], m["metric"])
        for side in ("baseline", "candidate"):
            v = m[side]
            same = same and ((v is None and s[side] == "") or (v is not None and float(s[side]) == v))
        check(same, f"{phase}: {m['group']} {m['metric']}: {s['baseline']} -> {s['candidate']} as k6gate compare")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--k6gate", default=str(TARGET / "debug" / "k6gate"))
    ap.add_argument("--store", default=str(TARGET / "serve-browser-demo"))
    ap.add_argument("--docs", action="store_true", help="also copy the screenshots to docs/")
    args = ap.parse_args()
    ART.mkdir(parents=True, exist_ok=True)
    demo_store(args.k6gate, Path(args.store))
    store = served_copy(Path(args.store))

    db = sqlite3.connect(store / "history.db")
    runs = db.execute("SELECT id, outcome, deployment_version, verdict FROM runs ORDER BY started_at_ns").fetchall()
    real = [r for r in runs if r[2] != SCRIPT]
    failed = [r for r in real if r[1] == "fail"]
    check(len(real) >= 2 and failed, f"the demo store holds real runs, one blocked ({len(real)} runs)")

    proc, base = start_server(args.k6gate, store)
    shots = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            dialogs, csp = [], []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None)

            # The list.
            page.goto(base + "/")
            check(page.url == base + "/runs", "/ redirects to /runs")
            rows = page.locator("tr.run")
            check(rows.count() == len(runs), f"the list shows every run ({rows.count()} of {len(runs)})")
            shots["runs"] = ART / "serve-runs.png"
            page.screenshot(path=str(shots["runs"]), full_page=True)

            # Script in a run's tags is text, not code.
            cell = page.locator(f"tr.run[data-id$='0bad'] td.version")
            check(cell.inner_text() == SCRIPT, "a <script> version is shown as text")
            check(page.evaluate("window.__pwned === undefined"), "the <script> in run data did not run")

            # Filters: the outcome select submits itself (the page's own script).
            page.select_option("#f-outcome", "fail")
            page.wait_for_url("**/runs?*outcome=fail*")
            ids = page.locator("tr.run").evaluate_all("rs => rs.map(r => r.dataset.id)")
            check(sorted(ids) == sorted(r[0] for r in failed), f"outcome=fail lists the blocked runs {ids}")
            page.goto(base + "/runs")
            page.fill("#f-version", real[0][2] or "")
            page.click("#f-apply")
            page.wait_for_url("**/runs?*version=*")
            ids = page.locator("tr.run").evaluate_all("rs => rs.map(r => r.dataset.id)")
            want = [r[0] for r in real if r[2] == real[0][2]]
            check(sorted(ids) == sorted(want), f"version={real[0][2]} lists its runs {ids}")

            # Compare two runs picked in the list: the first run and the blocked one.
            first, blocked = real[0][0], failed[0][0]
            page.goto(base + "/runs")
            page.check(f"input[name=base][value='{first}']")
            page.check(f"input[name=cand][value='{blocked}']")
            page.click("#compare-picked")
            page.wait_for_url(f"**/compare/{first}/{blocked}")
            check(page.url.endswith(f"/compare/{first}/{blocked}"), "the comparison has its deep link")
            want = compare_json(args.k6gate, store, first, blocked)
            shown = table(page)
            same_numbers(want, shown, "steady-state")
            p95 = next(s for s in shown if s["group"] == "all" and s["metric"] == "p95_ms")
            rel = next(m for m in want["metrics"] if m["group"] == "all" and m["metric"] == "p95_ms")["rel_change"]
            badge = f"P95 {'+' if rel >= 0 else '−'}{abs(rel) * 100:.1f} %"
            check(p95["badge"] == badge, f"the P95 badge reads {badge!r} ({p95['badge']!r})")
            check("worse" in p95["trend"], f"the slower P95 is marked worse ({p95['trend']})")
            check(page.locator("#chart-cdf svg").count() == 1, "the distribution overlay is drawn")
            check(page.locator("figure[id^=chart-phase] svg").count() >= 3, "one latency chart per phase")
            shots["compare"] = ART / "serve-compare.png"
            page.screenshot(path=str(shots["compare"]), full_page=True)

            # Another phase, chosen on the page: the numbers of `k6gate compare --phase`.
            page.select_option("#phase", "whole-run")
            page.wait_for_url("**phase=whole-run")
            same_numbers(compare_json(args.k6gate, store, first, blocked, "whole-run"), table(page), "whole-run")

            # The blocked run's own page: its verdict as stored.
            # Stored gzip-compressed (src/history/document.rs).
            verdict = json.loads(gzip.decompress(failed[0][3]))
            page.goto(base + f"/runs/{blocked}")
            check(page.inner_text("#verdict-outcome") == verdict["outcome"], f"the verdict reads {verdict['outcome']}")
            rule_ids = page.locator("#rules tr.rule td:first-child").all_inner_texts()
            for r in verdict["results"]:
                check(r["id"] in rule_ids, f"rule {r['id']} is listed")
            shots["run"] = ART / "serve-run.png"
            page.screenshot(path=str(shots["run"]), full_page=True)

            # CSRF: a POST without the page's token is refused; with it, a redirect.
            form = {"base": first, "cand": blocked}
            r = page.request.post(base + "/compare", form=form, max_redirects=0)
            check(r.status == 403, f"a POST without the CSRF token is refused ({r.status})")
            page.goto(base + "/runs")
            token = page.get_attribute("input[name=csrf]", "value")
            r = page.request.post(base + "/compare", form={**form, "csrf": token}, max_redirects=0)
            check(r.status == 303 and r.headers["location"] == f"/compare/{first}/{blocked}", f"with it, a redirect ({r.status})")

            # An unknown run.
            r = page.goto(base + "/runs/20991231-000000-ffff")
            check(r.status == 404 and "no run" in page.inner_text("#message"), "an unknown run is a 404 page")
            shots["error"] = ART / "serve-404.png"
            page.screenshot(path=str(shots["error"]))

            check(not dialogs, f"no dialog opened {dialogs}")
            check(not csp, f"the CSP blocked nothing {csp}")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    if args.docs:
        for name in ("runs", "compare"):
            shutil.copy(shots[name], ROOT / "docs" / shots[name].name)
    print(f"screenshots: {', '.join(str(s) for s in shots.values())}")
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
