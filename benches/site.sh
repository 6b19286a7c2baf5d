#!/usr/bin/env bash
# Benchmarks the site `knap-index build` writes for the registry of
# benches/scale.sh (BENCH_REFS refs x 4 versions, 25,000 x 4 by default; see
# docs/performance.md, section "The site at registry scale"):
#
#   - the build: wall time (best of BENCH_BUILDS), the site's size (the sum
#     of its file sizes: what GitHub Pages counts, at most 1 GB) and file
#     count, by top-level entry, and the size of index.html;
#   - in headless Chromium, the site served over HTTP by Python's threaded
#     http.server from tmpfs: how long the front page takes to become
#     interactive (navigation start to DOMContentLoaded end: site.js has run,
#     the search box is shown and listens) and to load completely, and how
#     long a search takes to show its results (from the input event to the
#     first frame after the list changed), each in a fresh tab with an empty
#     cache, for a whole name typed at once, the same name typed key by key
#     (from the last key), a word every pack holds, and a component name.
#
# With KNAP_INDEX_BEFORE=path/to/an/older/knap-index the same is measured
# for the site that binary builds from the same registry, in the same run
# (the site before issue 24: one index.html with every pack on it): one
# round, the front page and a search for a name, each given up after
# BENCH_LIMIT_BEFORE seconds (300).
#
# Env: KNAP_INDEX=path/to/knap-index (skips the release build),
# KNAP_INDEX_BEFORE, BENCH_REFS (25000), BENCH_RUNS (5: page loads and
# searches per query), BENCH_BUILDS (3), BENCH_KEEP=1 keeps the work
# directory. Needs python3, chromium (KNAP_CHROMIUM to name it) and
# /usr/bin/time (Debian: apt-get install time).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REFS=${BENCH_REFS:-25000}
RUNS=${BENCH_RUNS:-5}
BUILDS=${BENCH_BUILDS:-3}
if [ -z "${KNAP_INDEX:-}" ]; then
    cargo build --release -q -p knap-index --manifest-path "$ROOT/Cargo.toml" >&2
    KNAP_INDEX=${CARGO_TARGET_DIR:-$ROOT/target}/release/knap-index
fi
CHROME=${KNAP_CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
[ -n "$CHROME" ] || { echo "needs chromium (or KNAP_CHROMIUM)" >&2; exit 1; }
W=$(mktemp -d /dev/shm/knap-site.XXXXXX)
cleanup() {
    if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$W"; else echo "kept $W" >&2; fi
}
trap cleanup EXIT

echo "== generating $REFS refs x 4 versions in $W/reg" >&2
python3 "$ROOT/benches/scale_registry.py" "$W/reg" "$REFS" "http://127.0.0.1:1"

python3 - "$W" "$KNAP_INDEX" "${KNAP_INDEX_BEFORE:-}" "$CHROME" "$REFS" "$RUNS" "$BUILDS" <<'PY'
import functools, http.server, json, os, select, statistics, subprocess, sys, tempfile, threading, time
W, KNAP_INDEX, BEFORE, CHROME, REFS, RUNS, BUILDS = sys.argv[1:]
REFS, RUNS, BUILDS = int(REFS), int(RUNS), int(BUILDS)
LAST = f"pack{REFS - 1}"

def build(tool, out):
    """Builds the site with `tool`: the best wall time of BUILDS builds,
    the largest peak RSS (MiB, /usr/bin/time -v), and the build's last
    line."""
    times, rss = [], 0.0
    for _ in range(BUILDS):
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-v", "-o", f"{W}/rss.txt", tool, "build",
                            f"{W}/reg/whole/index.json", "-o", out,
                            "--base-url", "https://example.org/scale/"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - t0)
        if p.returncode != 0:
            sys.stderr.write(p.stderr.decode(errors="replace")[-3000:])
            raise SystemExit(f"{tool} build failed ({p.returncode})")
        for line in open(f"{W}/rss.txt"):
            if "Maximum resident set size" in line:
                rss = max(rss, int(line.split(":")[1]) / 1024)
    last = p.stderr.decode().strip().splitlines()[-1]
    return min(times), rss, last

def sizes(site):
    """(files, bytes) per top-level entry, and in total."""
    per = {}
    for top in sorted(os.listdir(site)):
        files = size = 0
        path = os.path.join(site, top)
        if os.path.isfile(path):
            files, size = 1, os.path.getsize(path)
        else:
            for d, _, names in os.walk(path):
                for n in names:
                    files += 1
                    size += os.path.getsize(os.path.join(d, n))
        per[top] = (files, size)
    return per

class Timeout(Exception):
    pass

class Chrome:
    """Headless Chromium over the DevTools protocol on a pipe (fd 3 in,
    fd 4 out, messages ended by NUL), like index-tools/tests/common/browser.rs."""
    def __init__(self):
        self.profile = tempfile.mkdtemp(dir=W)
        # The shell hands our pipe to Chromium as fd 3 and its reply pipe as fd 4.
        self.proc = subprocess.Popen(
            ["sh", "-c", 'exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null', CHROME,
             "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--no-proxy-server", "--mute-audio", f"--user-data-dir={self.profile}",
             "--remote-debugging-pipe"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.to_child = self.proc.stdin.fileno()
        self.from_child = self.proc.stdout.fileno()
        self.buf = b""
        self.next_id = 0
        self.session = None

    def send(self, method, params=None, session=True, limit=None):
        """The reply's result; Timeout when it takes more than `limit` s."""
        deadline = time.monotonic() + limit if limit else None
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_child, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self.buf:
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0 or not select.select([self.from_child], [], [], left)[0]:
                        raise Timeout()
                chunk = os.read(self.from_child, 1 << 16)
                if not chunk:
                    raise SystemExit("chromium exited")
                self.buf += chunk
            raw, self.buf = self.buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise SystemExit(f"{method}: {reply['error']}")
                return reply["result"]

    def eval(self, expression, limit=None):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True}, limit=limit)
        if "exceptionDetails" in r:
            raise SystemExit(f"{expression[:80]}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def fresh_tab(self):
        """A new tab in a new browser context: an empty cache each time."""
        if self.session:
            self.send("Target.closeTarget", {"targetId": self.target}, session=False)
            self.send("Target.disposeBrowserContext", {"browserContextId": self.context}, session=False)
        self.context = self.send("Target.createBrowserContext", session=False)["browserContextId"]
        self.target = self.send("Target.createTarget", {"url": "about:blank",
                                "browserContextId": self.context}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": self.target, "flatten": True},
                                 session=False)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})

    def open(self, url, limit):
        """Opens url in a fresh tab and waits for its load event; returns
        (ms to DOMContentLoaded end, ms to load end) from navigation start.
        Timeout after `limit` seconds."""
        self.fresh_tab()
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + limit
        while True:
            try:
                done = self.eval("document.readyState === 'complete' && location.href !== 'about:blank'",
                                 limit=max(deadline - time.monotonic(), 0.1))
            except SystemExit:
                done = False
            if done:
                break
            if time.monotonic() > deadline:
                raise Timeout()
            time.sleep(0.01)
        t = self.eval("JSON.stringify(performance.getEntriesByType('navigation')[0])")
        nav = json.loads(t)
        return nav["domContentLoadedEventEnd"], nav["loadEventEnd"]

    def close(self):
        self.proc.kill()
        self.proc.wait()

# In the page: ms from the input event to the first frame after the results
# are shown. A site with a search index marks the list with the query it
# shows (data-query); the older site filters the list during the event.
SEARCH_JS = """
new Promise(resolve => {
  const list = document.getElementById('packs'), box = document.getElementById('q');
  const indexed = document.getElementById('search').hasAttribute('data-index');
  const query = %s, t0 = performance.now();
  const painted = () => requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - t0), 0));
  if (indexed) {
    const obs = new MutationObserver(() => {
      if (list.getAttribute('data-query') === query) { obs.disconnect(); painted(); }
    });
    obs.observe(list, {attributes: true});
  }
  box.value = query;
  box.dispatchEvent(new Event('input'));
  if (!indexed) { painted(); }
})
"""

# Typed key by key: ms from the last key's input event to the first frame
# after the results of the whole query are shown.
TYPED_JS = """
new Promise(resolve => {
  const list = document.getElementById('packs'), box = document.getElementById('q');
  const indexed = document.getElementById('search').hasAttribute('data-index');
  const query = %s;
  let i = 0;
  const key = () => {
    box.value = query.slice(0, ++i);
    const t0 = performance.now();
    box.dispatchEvent(new Event('input'));
    if (i < query.length) { setTimeout(key, 150); return; }
    const painted = () => requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - t0), 0));
    if (!indexed || list.getAttribute('data-query') === query) { painted(); return; }
    const obs = new MutationObserver(() => {
      if (list.getAttribute('data-query') === query) { obs.disconnect(); painted(); }
    });
    obs.observe(list, {attributes: true});
  };
  key();
})
"""

SHOWN_JS = "(Array.from(document.querySelectorAll('#packs > li')).filter(li => !li.hidden)[0] || {}).id"

class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

def measure(site, label, runs, queries, limit):
    """Front-page and search timings (ms) of `runs` rounds; None for one
    that took more than `limit` seconds (Chromium is then restarted)."""
    handler = functools.partial(Quiet, directory=site)
    http.server.ThreadingHTTPServer.request_queue_size = 128
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    chrome = Chrome()
    out = {"dcl": [], "load": []}
    for q in queries:
        out[q[0]] = []
    try:
        for rnd in range(runs):
            sys.stderr.write(f"== {label}: round {rnd + 1}/{runs}\n")
            try:
                dcl, load = chrome.open(url, limit)
            except Timeout:
                dcl = load = None
                chrome.close()
                chrome = Chrome()
            out["dcl"].append(dcl)
            out["load"].append(load)
            for name, query, js in queries:
                try:
                    chrome.open(url, limit)
                    ms = chrome.eval(js % json.dumps(query), limit=limit)
                except Timeout:
                    ms = None
                    chrome.close()
                    chrome = Chrome()
                else:
                    first = chrome.eval(SHOWN_JS)
                    if query == LAST and first != f"pack-{LAST}":
                        raise SystemExit(f"{label}: searching {LAST} shows {first} first")
                out[name].append(ms)
    finally:
        chrome.close()
        server.shutdown()
    return out

QUERIES = [("name, at once", LAST, SEARCH_JS), ("name, key by key", LAST, TYPED_JS),
           ("a word of every pack (`automation`)", "automation", SEARCH_JS),
           ("a component name (`run`)", "run", SEARCH_JS)]

def report(label, site, build_s, rss, line, timings, runs):
    per = sizes(site)
    files = sum(f for f, _ in per.values())
    total = sum(b for _, b in per.values())
    print(f"\n### {label}\n")
    print(f"build (best of {BUILDS}): {build_s:.2f} s, peak RSS {rss:.0f} MiB; knap-index says: `{line}`\n")
    print(f"site: {total:,} bytes ({total / 1e6:.1f} MB) in {files:,} files; "
          f"index.html {per['index.html'][1]:,} bytes\n")
    print("| entry | files | bytes | MB |")
    print("|---|---:|---:|---:|")
    for top, (f, b) in sorted(per.items(), key=lambda kv: -kv[1][1]):
        print(f"| `{top}` | {f:,} | {b:,} | {b / 1e6:.1f} |")
    print(f"\nin headless Chromium over HTTP, {runs} fresh tab(s) each (ms; median, best, worst):\n")
    print("| measurement | median | best | worst |")
    print("|---|---:|---:|---:|")
    for key, name in [("dcl", "front page interactive (DOMContentLoaded end)"),
                      ("load", "front page loaded (load event end)")] + \
                     [(k, f"search: {k}") for k in timings if k not in ("dcl", "load")]:
        v = timings[key]
        if any(x is None for x in v):
            print(f"| {name} | > {LIMIT_BEFORE * 1000:.0f} ({v.count(None)} of {len(v)} runs) | | |")
        else:
            print(f"| {name} | {statistics.median(v):.0f} | {min(v):.0f} | {max(v):.0f} |")
    return total, per['index.html'][1], timings

LIMIT_BEFORE = float(os.environ.get("BENCH_LIMIT_BEFORE", "300"))
results = {}
for label, tool in [("now", KNAP_INDEX), ("before", BEFORE)]:
    if not tool:
        continue
    site = f"{W}/site-{label}"
    sys.stderr.write(f"== building with {tool}\n")
    build_s, rss, line = build(tool, site)
    if label == "now":
        timings = measure(site, label, RUNS, QUERIES, 60)
        print(f"load average after the measurements: {os.getloadavg()}", file=sys.stderr)
    else:
        # The older site's one page takes minutes where this one takes
        # milliseconds: one round, the page and a search for a name, each
        # given up after LIMIT_BEFORE seconds.
        timings = measure(site, label, 1, QUERIES[:1], LIMIT_BEFORE)
    runs = RUNS if label == "now" else 1
    results[label] = report(f"{label}: {tool}", site, build_s, rss, line, timings, runs)
if "before" in results:
    (n_total, n_html, n_t), (b_total, b_html, b_t) = results["now"], results["before"]
    med = statistics.median
    print("\n### now / before\n")
    ratio = lambda a, b: "n/a (timed out)" if None in a + b else f"{med(a) / med(b):.4f}"
    print(f"site size {n_total / b_total:.2f}; index.html {n_html / b_html:.4f}; "
          f"front page interactive {ratio(n_t['dcl'], b_t['dcl'])}; "
          f"search for a name {ratio(n_t['name, at once'], b_t['name, at once'])}")
PY
