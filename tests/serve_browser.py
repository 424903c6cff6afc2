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
nothing; an unknown run is a 404 page. The later pages: the trend of the demo's test shows the
values `k6gate history trend --format json` prints; the policy page shows the SLA in force; an
test's retention class moved on the policy page is a PR changing one line; an SLA change
previewed in the editor counts the runs the stored verdicts' P95 puts over the new
limit, and its pull request reaches the GitHub fake (branch, commit, tree with the file's
content, PR); a waiver request opens a PR that requests the approver's review, and its state
page reads the PR back; the accountability page counts the store's runs for the demo test's
team (an owner added to the served copy's policy data); an editor POST without the CSRF token
is refused. The GitHub fake is a
small Python server here (FakeGithub) that answers only the documented git data and pulls
calls with the headers GitHub requires. A screenshot of each page is kept as an artifact in
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
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
    # Its records too (the trend reads them; a decided run without them is refused).
    seq = db.execute("SELECT seq FROM runs WHERE id = ?", [args["id"]]).fetchone()[0]
    dcols = [r[1] for r in db.execute("PRAGMA table_info(digest_rows)") if r[1] != "run_seq"]
    db.execute(
        f"INSERT INTO digest_rows (run_seq, {', '.join(dcols)}) SELECT ?, {', '.join(dcols)} FROM digest_rows "
        "WHERE run_seq = (SELECT seq FROM runs WHERE id = ?)",
        [seq, first],
    )
    db.commit()
    db.close()
    # The demo's test gets an owning team, for the accountability page.
    (copy / "policies" / "data" / "notifications.yaml").write_text(
        "notifications:\n  webhook_url_env: K6GATE_WEBHOOK_URL\n  owners:\n"
        "    checkout: { team: team-payments, lead: \"@carol\" }\n")
    return copy


GH_TOKEN = "ghs_browser-test-token"
GH_REPO = "acme/shop"


class FakeGithub:
    """The git data and pulls calls of k6gate's PRs, as https://docs.github.com/en/rest
    (2022-11-28) documents them. Every request must carry `authorization: Bearer <token>`,
    `accept: application/vnd.github+json` and `x-github-api-version: 2022-11-28`, else 401/400;
    anything else is a 404. Requests are recorded in order."""

    def __init__(self):
        self.requests, self.pulls = [], {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def handle_any(self, method):
                n = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(n)) if n else None
                path = self.path.split("?")[0]
                fake.requests.append((method, path, body))
                if self.headers.get("authorization") != f"Bearer {GH_TOKEN}":
                    return self.answer(401, {"message": "Bad credentials"})
                if self.headers.get("x-github-api-version") != "2022-11-28" or \
                        self.headers.get("accept") != "application/vnd.github+json":
                    return self.answer(400, {"message": "missing API version or media type"})
                status, out = fake.route(method, path[len(f"/repos/{GH_REPO}"):], body)
                self.answer(status, out)

            def do_GET(self):
                self.handle_any("GET")

            def do_POST(self):
                self.handle_any("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def route(self, method, path, body):
        sha = lambda n: f"{n:040x}"
        if method == "GET" and path == "/git/ref/heads/main":
            return 200, {"ref": "refs/heads/main", "object": {"type": "commit", "sha": sha(1)}}
        if method == "GET" and path.startswith("/git/commits/"):
            return 200, {"sha": path.rsplit("/", 1)[1], "tree": {"sha": sha(2)}, "parents": []}
        if method == "POST" and path == "/git/trees":
            ok = isinstance(body.get("tree"), list) and all(
                set(e) == {"path", "mode", "type", "content"} and e["mode"] == "100644" and e["type"] == "blob"
                for e in body["tree"])
            return (201, {"sha": sha(3), "tree": []}) if ok else (422, {"message": "Invalid tree"})
        if method == "POST" and path == "/git/commits":
            ok = {"message", "tree"} <= set(body) and body.get("parents") == [sha(1)]
            return (201, {"sha": sha(4), "tree": {"sha": body["tree"]}}) if ok else (422, {"message": "Invalid commit"})
        if method == "POST" and path == "/git/refs":
            ok = body.get("ref", "").startswith("refs/heads/") and body.get("sha") == sha(4)
            return (201, {"ref": body["ref"], "object": {"sha": sha(4)}}) if ok else (422, {"message": "Invalid ref"})
        if method == "POST" and path == "/pulls":
            if not {"title", "head", "base"} <= set(body):
                return 422, {"message": "Validation Failed"}
            n = 100 + len(self.pulls)
            self.pulls[n] = {"number": n, "state": "open", "merged": False, "title": body["title"],
                             "html_url": f"https://github.com/{GH_REPO}/pull/{n}",
                             "head": {"ref": body["head"]}, "base": {"ref": body["base"]}, "requested_reviewers": []}
            return 201, self.pulls[n]
        parts = path.split("/")
        if len(parts) >= 3 and parts[1] == "pulls" and parts[2].isdigit() and int(parts[2]) in self.pulls:
            pr = self.pulls[int(parts[2])]
            if method == "POST" and parts[3:] == ["requested_reviewers"] and isinstance(body.get("reviewers"), list):
                pr["requested_reviewers"] = [{"login": r, "id": 1, "type": "User"} for r in body["reviewers"]]
                return 201, pr
            if method == "GET" and parts[3:] == []:
                return 200, pr
            if method == "GET" and parts[3:] == ["reviews"]:
                return 200, []
        return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}

    def calls(self):
        return [f"{m} {p}" for m, p, _ in self.requests]

    def body_of(self, method, path_end):
        return next((b for m, p, b in self.requests if m == method and p.endswith(path_end)), None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(k6gate, store, github=None):
    port = free_port()
    cmd = [k6gate, "--state-dir", str(store), "--policies", str(store / "policies"), "serve", "--listen", f"127.0.0.1:{port}"]
    env = dict(os.environ)
    env.pop("GITHUB_TOKEN", None)
    if github:
        cmd += ["--github-repo", GH_REPO]
        env.update(GITHUB_TOKEN=GH_TOKEN, GITHUB_API_URL=github.url)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
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

    github = FakeGithub()
    proc, base = start_server(args.k6gate, store, github)
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
            # Without a blocked run (k6gate demo on a busy machine ends inconclusive) the first
            # check above has failed; the rest still runs on the last run instead of stopping.
            last = failed[0] if failed else real[-1]
            first, blocked = real[0][0], last[0]
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
            check(page.locator("#traces").count() == 1 and page.locator(".trace-side").count() == 2,
                  "the compare page has its trace breakdown section, one line per run")
            page.screenshot(path=str(shots["compare"]), full_page=True)

            # Another phase, chosen on the page: the numbers of `k6gate compare --phase`.
            page.select_option("#phase", "whole-run")
            page.wait_for_url("**phase=whole-run")
            same_numbers(compare_json(args.k6gate, store, first, blocked, "whole-run"), table(page), "whole-run")

            # The blocked run's own page: its verdict as stored.
            # Stored gzip-compressed (src/history/document.rs).
            verdict = json.loads(gzip.decompress(last[3]))
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

            # Trends: the demo's test over its versions, the numbers of `k6gate history trend`.
            test, env = db.execute("SELECT test, environment FROM runs WHERE id = ?", [real[-1][0]]).fetchone()
            page.goto(base + f"/trends?test={test}&env={env}&metric=p95")
            trend = json.loads(subprocess.run(
                [args.k6gate, "--state-dir", str(store), "--policies", str(store / "policies"), "history", "trend",
                 "--test", test, "--env", env, "--metric", "p95", "--format", "json"],
                check=True, capture_output=True, text=True).stdout)
            shown = page.locator("tr.point").evaluate_all("rs => rs.map(r => [r.dataset.version, r.dataset.value])")
            want = [[p["version"], p["value"]] for p in trend["points"]]
            check(len(shown) == len(want) and all(
                sv == wv and ((w is None and s == "") or (w is not None and s != "" and float(s) == w))
                for (sv, s), (wv, w) in zip(shown, want)), f"the trend shows history trend's values {shown}")
            check(page.locator("#chart-trend svg").count() == 1, "the trend chart is drawn")
            check(SCRIPT in [v for v, _ in shown] and page.evaluate("window.__pwned === undefined"),
                  "a <script> version is a trend point shown as text")
            shots["trends"] = ART / "serve-trends.png"
            page.screenshot(path=str(shots["trends"]), full_page=True)

            # The effective policy.
            page.goto(base + f"/policy?test={test}")
            check(page.locator(f"#policy-{test} tr.env").count() >= 1, "the policy page shows the test's limits")
            shots["policy"] = ART / "serve-policy.png"
            page.screenshot(path=str(shots["policy"]), full_page=True)
            # Its retention class, moved by a PR that changes one line of retention.yaml.
            before = (store / "policies" / "data" / "retention.yaml").read_text()
            page.select_option(f"#policy-{test} select[name=class]", "experimental")
            page.click(f"#policy-{test} .retention-form button")
            # First its effect on the stored runs (the prune planner), then the PR.
            page.wait_for_selector("#retention-effect-table")
            check(page.locator("tr[data-what=delete] td.num").count() == 2, "the effect under both classes")
            shots["retention"] = ART / "serve-retention.png"
            page.screenshot(path=str(shots["retention"]), full_page=True)
            page.click("#retention-open")
            page.wait_for_selector("#pr-link")
            rtree = github.body_of("POST", "/git/trees")
            changed = [l for l in rtree["tree"][0]["content"].splitlines() if l not in before.splitlines()]
            check(rtree["tree"][0]["path"] == "policies/data/retention.yaml" and changed == [f"    {test}: experimental"],
                  f"the retention PR changes one line {changed}")

            # The SLA editor: a P95 limit between the fastest and the slowest decided run; the
            # preview counts the runs whose stored verdict's P95 is over it.
            p95s = []
            # Every decided run of the store (the <script> copy too: it is a run like the others).
            for (_, outcome, _, v) in [r for r in runs if r[1] in ("pass", "warn", "fail")]:
                res = next((x for x in json.loads(gzip.decompress(v))["results"] if x["id"] == "sla/all/p95_ms"), None)
                p95s.append(res["comparison"]["candidate"] if res and res.get("comparison") else None)
            check(p95s and None not in p95s, f"every decided run's verdict has its P95 SLA value {p95s}")
            limit = round((min(p95s) + max(p95s)) / 2, 1)
            over = sum(1 for v in p95s if v >= limit)
            page.goto(base + f"/slas/edit?test={test}&env={env}")
            page.fill("#s-p95_ms", str(limit))
            page.click("#s-preview")
            page.wait_for_url("**/slas/preview")
            effect = page.locator("#effect")
            check(effect.get_attribute("data-runs") == str(len(p95s)), f"the preview judged {len(p95s)} runs")
            check(effect.get_attribute("data-fail-proposed") == str(over),
                  f"under P95 {limit} ms, {over} run(s) fail: {effect.inner_text()}")
            shots["sla"] = ART / "serve-sla.png"
            page.screenshot(path=str(shots["sla"]), full_page=True)
            proposed = page.inner_text("#proposed-file")
            page.click("#s-propose")
            page.wait_for_selector("#pr-link")
            tree = [b for m, p, b in github.requests if m == "POST" and p.endswith("/git/trees")][-1]
            pr = [b for m, p, b in github.requests if m == "POST" and p.endswith("/pulls")][-1]
            check(tree and tree["tree"][0]["path"] == "policies/data/slas.yaml"
                  and tree["tree"][0]["content"].strip() == proposed.strip(), "the PR commits the previewed file")
            check(f"p95_ms: {limit}" in (tree or {"tree": [{"content": ""}]})["tree"][0]["content"], "with the new limit")
            check(pr and pr["base"] == "main" and pr["head"].startswith(f"k6gate/sla-{test}-{env}-"),
                  f"the PR goes from its branch into main ({pr and pr['head']})")
            check(page.inner_text("#pr-branch") == (pr or {}).get("head"), "the page names the PR's branch")

            # A waiver request: a PR that asks the approver to review.
            page.goto(base + f"/waivers/new?test={test}&version={real[-1][2]}")
            page.fill("#w-justification", "the slower checkout path is expected until the cache fix")
            page.fill("#w-requested-by", "alice")
            page.fill("#w-approver", "bob")
            page.click("#w-submit")
            page.wait_for_url("**/waivers/requests/*")
            check(page.inner_text("#pr-state") == "open" and page.inner_text("#pr-requested") == "bob",
                  f"the request is open, bob asked ({page.inner_text('#pr-state')}, {page.inner_text('#pr-requested')})")
            reviewers = github.body_of("POST", "/requested_reviewers")
            check(reviewers == {"reviewers": ["bob"]}, f"the approver is requested as reviewer {reviewers}")
            wtree = [b for m, p, b in github.requests if m == "POST" and p.endswith("/git/trees")][-1]
            check(wtree["tree"][0]["path"].startswith("waivers/W-") and "approved_by: \"bob\"" in wtree["tree"][0]["content"],
                  f"the waiver file {wtree['tree'][0]['path']}")
            shots["waiver"] = ART / "serve-waiver.png"
            page.screenshot(path=str(shots["waiver"]), full_page=True)
            # Accountability: the team's counts are the store's (runs of the last 12 weeks).
            page.goto(base + "/teams")
            row = page.locator("tr.team-row[data-team='team-payments']")
            outcomes = [r[1] for r in runs if r[1] in ("pass", "warn", "fail", "inconclusive")]
            check(row.get_attribute("data-gated") == str(len(outcomes))
                  and row.get_attribute("data-blocked") == str(outcomes.count("fail")),
                  f"the team's gated and blocked runs are the store's ({len(outcomes)}, {outcomes.count('fail')})")
            shots["teams"] = ART / "serve-teams.png"
            page.screenshot(path=str(shots["teams"]), full_page=True)
            r = page.request.post(base + "/slas/preview", form={"test": test, "p95_ms": "1"}, max_redirects=0)
            check(r.status == 403, f"an editor POST without the CSRF token is refused ({r.status})")

            check(not dialogs, f"no dialog opened {dialogs}")
            check(not csp, f"the CSP blocked nothing {csp}")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    if args.docs:
        for name in ("runs", "compare", "trends", "policy", "sla", "waiver", "teams", "retention"):
            shutil.copy(shots[name], ROOT / "docs" / shots[name].name)
    print(f"screenshots: {', '.join(str(s) for s in shots.values())}")
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
