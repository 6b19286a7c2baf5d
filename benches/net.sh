#!/usr/bin/env bash
# Benchmarks knap on real-network shapes (issue 25; see docs/performance.md,
# section "Networks and big registries"), against Cargo on the same graph,
# the same server and the same run:
#
#   the registry: benches/scale_registry.py's graph (BENCH_REFS refs, 25,000
#     by default, x 4 versions), as the knap sparse layout and as a sparse
#     Cargo registry, in tmpfs (/dev/shm).
#   the servers: knap-test-server (cli/test-server), one per case, all
#     running for the whole benchmark:
#       (a) h2      HTTPS offering HTTP/2 (and HTTP/1.1) by ALPN, BENCH_DELAY_MS
#                   (20) before every response, 128 streams per connection
#           h2-limit   the same, closing a connection after 1,000 requests
#                   (GOAWAY) as nginx does (keepalive_requests)
#           h2-abandon the same limit as hypercorn 0.18 applies it
#                   (keep_alive_max_requests): the streams open at the limit
#                   are never answered and the connection closes 5 s later
#       (b) h10q5   plain HTTP/1.0, a connection per request, Connection:
#                   close (python's http.server), accept queue 5
#       (c) h10q128 the same with an accept queue of 128
#   measured, in turns within each round (knap and Cargo alternate which goes
#   first, so that load from other work falls on both alike):
#     knap -q install LAST --dry-run, sparse registry, empty cache
#     cargo generate-lockfile, sparse registry, empty CARGO_HOME
#   each run's wall time, and from the server's counters (read and reset over
#   GET /__stats?reset): requests answered (and those left unanswered by
#   h2-abandon), connections, peak concurrent connections,
#   peak concurrent streams on one connection, requests by protocol; the
#   kernel's ListenOverflows (SYNs dropped for a full accept queue, from
#   /proc/net/netstat, the whole network namespace); from the server's log,
#   the longest time with no request in flight ("idle") between the first
#   request and the last response, which is where a client waits on
#   something other than the server (connects, handshakes, timers), and the
#   time "outside the server": the wall time less the span from the first
#   request's arrival to the last response (start-up, connecting, exit).
#   The critical path: the graph's breadth-first layers from LAST over the
#   newest versions (what a client learns only from a dependant's file), times
#   the delay; config.json adds one more round trip before them.
#   (d) knap search / knap info on the whole index.json read from a local
#     path, against the same on the 40-version registry (also a local path),
#     and on the whole index over HTTP (the split cache) for reference
#   (e) knap-index validate of the whole index.json: time and peak RSS against
#     the file's size
#   Wall time is Python's perf_counter around the process; peak RSS is
#   /usr/bin/time -v's "Maximum resident set size".
#
# Env: KNAP, KNAP_INDEX, KNAP_TEST_SERVER (paths; otherwise all three are
# built in release into ${CARGO_TARGET_DIR:-target}), BENCH_RUNS (default 5),
# BENCH_REFS (25000), BENCH_DELAY_MS (20), BENCH_CASES (default "h2
# h2-limit h2-abandon h10q5 h10q128 local validate"), BENCH_KEEP=1 keeps the work directory (with the
# servers' logs). Needs cargo, python3 and /usr/bin/time.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${BENCH_RUNS:-5}
REFS=${BENCH_REFS:-25000}
DELAY=${BENCH_DELAY_MS:-20}
CASES=${BENCH_CASES:-h2 h2-limit h2-abandon h10q5 h10q128 local validate}
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
if [ -z "${KNAP:-}" ] || [ -z "${KNAP_INDEX:-}" ] || [ -z "${KNAP_TEST_SERVER:-}" ]; then
    cargo build --release -q -p knap -p knap-index -p knap-test-server \
        --manifest-path "$ROOT/Cargo.toml" >&2
fi
KNAP=${KNAP:-$BIN/knap}
KNAP_INDEX=${KNAP_INDEX:-$BIN/knap-index}
KNAP_TEST_SERVER=${KNAP_TEST_SERVER:-$BIN/knap-test-server}
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
W=$(mktemp -d /dev/shm/knap-net.XXXXXX)
cleanup() {
    if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$W"; else echo "kept $W" >&2; fi
}
trap cleanup EXIT
unset KNAP_CONFIG KNAP_CACHE_DIR XDG_CONFIG_HOME XDG_CACHE_HOME CARGO_HOME

echo "== generating $REFS refs x 4 versions in $W/site" >&2
# The Cargo registry's `dl` URL is never used: generate-lockfile downloads
# no crate.
python3 "$ROOT/benches/scale_registry.py" "$W/site" "$REFS" "http://127.0.0.1:9"

python3 - "$W" "$KNAP" "$KNAP_INDEX" "$KNAP_TEST_SERVER" "$REFS" "$RUNS" "$DELAY" "$CASES" <<'PY'
import json, os, shutil, ssl, statistics, subprocess, sys, time, urllib.request
W, KNAP, KNAP_INDEX, SERVER, REFS, RUNS, DELAY, CASES = sys.argv[1:]
RUNS, DELAY, CASES = int(RUNS), int(DELAY), CASES.split()
LAST = f"pack{int(REFS) - 1}"
SITE = f"{W}/site"
WHOLE = f"{SITE}/whole/index.json"

# ---- the graph's critical path, from the sparse files themselves ----------
def newest_deps(ref):
    with open(f"{SITE}/sparse/packs/{ref}.json") as f:
        versions = json.load(f)["versions"]
    newest = max(versions, key=lambda e: tuple(int(x) for x in e["version"].split(".")))
    return [d.split("@")[0] for d in newest["dependencies"]["packs"]]

layers, seen, frontier = 0, {LAST}, [LAST]
while frontier:
    layers += 1
    nxt = []
    for r in frontier:
        for d in newest_deps(r):
            if d not in seen:
                seen.add(d)
                nxt.append(d)
    frontier = nxt
CLOSURE = len(seen)
sys.stderr.write(f"== {LAST} resolves to {CLOSURE} packs in {layers} breadth-first layers\n")

# ---- servers ---------------------------------------------------------------
H2 = ["--protocol", "auto", "--delay-ms", str(DELAY)]
SERVERS = {
    "h2": (f"HTTPS offering HTTP/2, {DELAY} ms per response", H2),
    "h2-limit": ("the same, 1,000 requests per connection (nginx)", H2 + ["--max-requests", "1000"]),
    "h2-abandon": ("the same limit, open streams abandoned for 5 s (hypercorn 0.18)",
                   H2 + ["--max-requests", "1000", "--abandon-at-limit-ms", "5000"]),
    "h10q5": ("plain HTTP/1.0, a connection per request, accept queue 5",
              ["--protocol", "http10", "--backlog", "5"]),
    "h10q128": ("plain HTTP/1.0, a connection per request, accept queue 128",
                ["--protocol", "http10", "--backlog", "128"]),
}
procs, urls, cas = {}, {}, {}

def start(case):
    log = f"{W}/{case}.log"
    tls = ["--tls", f"{W}/pki-{case}"] if case.startswith("h2") else []
    p = subprocess.Popen([SERVER, SITE, "--log", log, "--stats", f"{W}/{case}-final.json"]
                         + tls + SERVERS[case][1], stdout=subprocess.PIPE)
    hello = json.loads(p.stdout.readline())
    procs[case] = p
    urls[case] = hello["url"]  # ends with /
    cas[case] = hello["ca"]

def server_stats(case, reset=False):
    ctx = ssl.create_default_context(cafile=cas[case]) if cas[case] else None
    url = urls[case] + "__stats" + ("?reset" if reset else "")
    with urllib.request.urlopen(url, context=ctx, timeout=30) as r:
        return json.load(r)

def listen_overflows():
    try:
        lines = [l.split() for l in open("/proc/net/netstat") if l.startswith("TcpExt:")]
        return int(lines[1][lines[0].index("ListenOverflows")])
    except (OSError, ValueError, IndexError):
        return 0

def log_window(case, offset):
    """The longest time with nothing in flight between the first request's
    arrival and the last response, and the connections' TLS handshake
    times, from the log lines written after `offset`."""
    with open(f"{W}/{case}.log") as f:
        f.seek(offset)
        lines = [json.loads(l) for l in f if l.strip()]
    reqs = sorted((l["t_ms"], l["done_ms"]) for l in lines if "done_ms" in l)
    idle, busy_until = 0.0, None
    for t, done in reqs:
        if busy_until is not None and t > busy_until:
            idle = max(idle, t - busy_until)
        busy_until = done if busy_until is None else max(busy_until, done)
    accepts = {l["conn"]: l["t_ms"] for l in lines if l.get("event") == "accept"}
    handshakes = [l["t_ms"] - accepts[l["conn"]] for l in lines
                  if l.get("event") == "tls" and l["conn"] in accepts]
    span = (reqs[-1][1] - reqs[0][0]) if reqs else 0.0
    return {"idle_ms": idle, "span_ms": span,
            "handshake_max_ms": max(handshakes, default=0.0)}

# ---- the two clients -------------------------------------------------------
def knap_env(d):
    e = dict(os.environ)
    e["KNAP_CONFIG"] = f"{d}/config.toml"
    e["KNAP_CACHE_DIR"] = f"{d}/cache"
    e["RUST_BACKTRACE"] = "0"
    e["KNAP_MAX_INDEX_SIZE"] = str(256 * 1024 * 1024)
    return e

def knap_setup(d, url, *flags):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(f"{d}/root")
    # --no-fetch: the cold runs start from an empty cache. `--root` goes
    # after the subcommand elsewhere: `registry add` has a `--root FILE`.
    subprocess.run([KNAP, "-q", "registry", "add", "bench", url, "--no-fetch", *flags],
                   env=knap_env(d), check=True)

def knap_cmd(d, *args):
    return [KNAP, "-q", "--root", f"{d}/root", *args]

PROJ = f"{W}/proj"
os.makedirs(f"{PROJ}/src")
with open(f"{PROJ}/Cargo.toml", "w") as f:
    f.write(f'[package]\nname = "net-bench"\nversion = "0.1.0"\nedition = "2021"\n\n'
            f'[dependencies]\n{LAST} = {{ version = "^1", registry = "bench" }}\n')
open(f"{PROJ}/src/main.rs", "w").write("fn main() {}\n")

def cargo_config(case):
    path = f"{W}/cargo-{case}.toml"
    with open(path, "w") as f:
        f.write(f'[registries.bench]\nindex = "sparse+{urls[case]}cargo/"\n[net]\nretry = 0\n')
        if cas[case]:
            f.write(f'[http]\ncainfo = "{cas[case]}"\n')
    return path

def cargo_env(home):
    e = dict(os.environ)
    e["CARGO_HOME"] = home
    e.pop("RUSTUP_TOOLCHAIN", None)
    return e

def timed(cmd, env, cwd=None, rss=False):
    """(seconds, peak RSS in MiB or None) of one command, which must succeed."""
    pre = ["/usr/bin/time", "-v", "-o", f"{W}/rss.txt"] if rss else []
    t0 = time.perf_counter()
    p = subprocess.run(pre + cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    t = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode(errors="replace")[-3000:])
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    peak = None
    if rss:
        for line in open(f"{W}/rss.txt"):
            if "Maximum resident set size" in line:
                peak = int(line.split(":")[1]) / 1024
    return t, peak

results = {}
def network_run(case, tool):
    server_stats(case, reset=True)
    offset = os.path.getsize(f"{W}/{case}.log")
    drops = listen_overflows()
    if tool == "knap":
        d = f"{W}/knap-{case}"
        flags = ["--ca-file", cas[case]] if cas[case] else ["--allow-http"]
        knap_setup(d, f"sparse+{urls[case]}sparse/", *flags)
        t, _ = timed(knap_cmd(d, "install", LAST, "--dry-run"), knap_env(d))
    else:
        home = f"{W}/cargo-home"
        shutil.rmtree(home, ignore_errors=True)
        os.makedirs(home)
        if os.path.exists(f"{PROJ}/Cargo.lock"):
            os.remove(f"{PROJ}/Cargo.lock")
        t, _ = timed(["cargo", "generate-lockfile", "--quiet", "--config", cargo_config(case)],
                     cargo_env(home), cwd=PROJ)
    drops = listen_overflows() - drops
    time.sleep(0.05)  # the last connections' close events
    s = server_stats(case)
    r = {"s": t, "requests": s["requests"], "connections": s["connections"],
         "abandoned": s.get("abandoned", 0),
         "peak_connections": s["peak_connections"], "peak_streams": s["peak_streams"],
         "by_protocol": s["by_protocol"], "syn_drops": drops, **log_window(case, offset)}
    results.setdefault((case, tool), []).append(r)
    sys.stderr.write(f"   {case:8} {tool:5} {t:7.3f} s  {s['requests']:5} requests  "
                     f"{s['connections']:5} connections  peak streams {s['peak_streams']}  "
                     f"idle {r['idle_ms']:.0f} ms  SYN drops {drops}  abandoned {r['abandoned']}\n")

net_cases = [c for c in CASES if c in SERVERS]
for c in net_cases:
    start(c)
try:
    for rnd in range(RUNS):
        sys.stderr.write(f"== round {rnd + 1}/{RUNS}\n")
        for c in net_cases:
            for tool in (["knap", "cargo"] if rnd % 2 == 0 else ["cargo", "knap"]):
                network_run(c, tool)
    # Both tools chose the same versions (checked once, untimed, on the last
    # server: the knap plan as JSON against the Cargo.lock just written).
    agree = None
    if net_cases:
        c = net_cases[-1]
        d = f"{W}/knap-{c}"
        out = subprocess.run(knap_cmd(d, "--json", "install", LAST, "--dry-run"),
                             env=knap_env(d), capture_output=True, check=True).stdout
        lock = open(f"{PROJ}/Cargo.lock").read()
        cargo_set = set()
        for block in lock.split("[[package]]")[1:]:
            kv = dict(l.split(" = ", 1) for l in block.strip().splitlines() if " = " in l)
            if kv.get("source", "").strip('"').startswith("sparse+"):
                cargo_set.add((kv["name"].strip('"'), kv["version"].strip('"')))
        def pairs(v):
            if isinstance(v, dict):
                if isinstance(v.get("ref"), str) and isinstance(v.get("version"), str):
                    yield (v["ref"], v["version"])
                for x in v.values():
                    yield from pairs(x)
            elif isinstance(v, list):
                for x in v:
                    yield from pairs(x)
        knap_set = set(pairs(json.loads(out)))
        agree = (len(knap_set & cargo_set), len(cargo_set), len(knap_set))
finally:
    for p in procs.values():
        p.terminate()
        p.wait()

# ---- (d) search and info, local path -------------------------------------
local = {}
if "local" in CASES:
    big, small = f"{W}/knap-local-big", f"{W}/knap-local-small"
    knap_setup(big, WHOLE)
    knap_setup(small, f"{SITE}/small/index.json")
    cmds = {
        f"knap search {LAST[:-1]} (whole index, local path)": (big, ["search", LAST[:-1]]),
        "knap search pack9 (40 versions, local path)": (small, ["search", "pack9"]),
        f"knap info {LAST} (whole index, local path)": (big, ["info", LAST]),
        "knap info pack9 (40 versions, local path)": (small, ["info", "pack9"]),
    }
    for key, (d, args) in cmds.items():  # once untimed: whatever a first use writes
        timed(knap_cmd(d, *args), knap_env(d))
    for rnd in range(RUNS):
        for key, (d, args) in cmds.items():
            local.setdefault(key, []).append(timed(knap_cmd(d, *args), knap_env(d), rss=True))

# ---- (e) knap-index validate -------------------------------------------
validate = []
if "validate" in CASES:
    for rnd in range(RUNS):
        validate.append(timed([KNAP_INDEX, "validate", WHOLE], dict(os.environ), rss=True))

# ---- report ------------------------------------------------------------
med = statistics.median
print(f"\nregistry: {REFS} refs x 4 versions; {LAST} resolves to {CLOSURE} packs in "
      f"{layers} breadth-first layers; critical path {layers} x {DELAY} ms = "
      f"{layers * DELAY / 1000:.2f} s (+1 round trip for config.json); {RUNS} rounds, "
      "knap and Cargo in turns")
if agree:
    print(f"same versions: {agree[0]} of Cargo's {agree[1]} (knap planned {agree[2]})")
if net_cases:
    print()
    for c in net_cases:
        print(f"- {c}: {SERVERS[c][0]}")
    print("\n| case | tool | median (s) | every run (s) | requests | connections | peak conns | "
          "peak streams | protocols | SYN drops | longest idle (ms) | outside the server (s) | ratio to Cargo |")
    print("|---|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    for c in net_cases:
        for tool in ("knap", "cargo"):
            rs = results[(c, tool)]
            m = med(r["s"] for r in rs)
            ratio = m / med(r["s"] for r in results[(c, "cargo")])
            protos = ", ".join(f"{k} {v}" for k, v in rs[-1]["by_protocol"].items())
            every = " ".join("%.2f" % r["s"] for r in rs)
            lost = med(r["abandoned"] for r in rs)
            unanswered = f" (+{lost:.0f} unanswered)" if lost else ""
            ratio = "" if tool == "cargo" else f"{ratio:.2f}"
            print(f"| {c} | {tool} | {m:.3f} | {every} | "
                  f"{med(r['requests'] for r in rs):.0f}{unanswered} | {med(r['connections'] for r in rs):.0f} | "
                  f"{max(r['peak_connections'] for r in rs)} | {max(r['peak_streams'] for r in rs)} | "
                  f"{protos} | {sum(r['syn_drops'] for r in rs)} | "
                  f"{max(r['idle_ms'] for r in rs):.0f} | "
                  f"{med(r['s'] - r['span_ms'] / 1000 for r in rs):.3f} | {ratio} |")
    if "h2" in net_cases:
        m = med(r["s"] for r in results[("h2", "knap")])
        print(f"\nh2: knap median {m:.3f} s = {m / (layers * DELAY / 1000):.1f} x the critical path")
if local:
    print("\n| measurement | median (s) | best (s) | peak RSS median (MiB) | ratio (medians) |")
    print("|---|---:|---:|---:|---:|")
    keys = list(local)
    for i, key in enumerate(keys):
        rs = local[key]
        ratio = ""
        if i % 2 == 0:
            ratio = f"{med(r[0] for r in rs) / med(r[0] for r in local[keys[i + 1]]):.2f} of 40 versions"
        print(f"| {key} | {med(r[0] for r in rs):.3f} | {min(r[0] for r in rs):.3f} | "
              f"{med(r[1] for r in rs):.0f} | {ratio} |")
if validate:
    size = os.path.getsize(WHOLE) / (1024 * 1024)
    rss = med(r[1] for r in validate)
    print(f"\nknap-index validate index.json ({size:.1f} MiB): median {med(r[0] for r in validate):.3f} s, "
          f"peak RSS median {rss:.0f} MiB = {rss / size:.2f} x the file")
PY
