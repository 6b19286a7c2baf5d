#!/usr/bin/env bash
# Benchmarks knap on a registry a hundred times larger than a real one (see
# docs/performance.md, section "Scale"), against Cargo on the same graph:
#
#   generator: BENCH_REFS (25,000) refs x 4 versions (100,000 versions);
#     version v of pack<i> depends on 3 earlier refs at `^1` (a seeded
#     random sample of pack0..pack<i-1>), so `knap install pack24999`
#     pulls ~1,300 packs and the dependencies of every version of every pack
#     reached cover ~13,000 refs. Written in three forms from the same graph:
#       whole/index.json   one knap index (~78 MB)
#       sparse/            the knap sparse layout (config.json, packs/<ref>.json)
#       cargo/             a sparse Cargo registry (config.json plus one index
#                          file per crate; generate-lockfile needs no .crate)
#     plus small/index.json: 10 refs x 4 versions, the 40-version registry
#     that search and info are compared with.
#   one `python3 -m http.server` on 127.0.0.1 serves all of them from tmpfs
#     (/dev/shm); its log gives the request count of every run.
#   measured, in turns within each round (so that load from other work on
#   this shared machine falls on knap and Cargo alike):
#     sparse cold:  knap install pack24999 --dry-run, empty cache
#                   cargo generate-lockfile, empty CARGO_HOME
#     sparse warm:  the same again with the caches of a previous run
#     whole warm:   knap install pack24999 --dry-run over index.json, fetched
#     knap update of index.json (78 MB) from an empty cache; curl of the file
#     knap search pack2499 / knap info pack24999, big and small registry
#   Each run's wall time (Python's perf_counter around the process) and peak RSS (`/usr/bin/time -v`, "Maximum resident set size").
#   Prints medians, best, ratios of medians, requests per run.
#
# Env: KNAP=path/to/knap (skips the release build), BENCH_RUNS (default 5),
# BENCH_REFS (default 25000), BENCH_KEEP=1 keeps the work directory.
# Needs cargo, curl, python3 and /usr/bin/time (Debian: apt-get install time).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${BENCH_RUNS:-5}
REFS=${BENCH_REFS:-25000}
if [ -z "${KNAP:-}" ]; then
    cargo build --release -q -p knap --manifest-path "$ROOT/Cargo.toml" >&2
    KNAP=$ROOT/target/release/knap
fi
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
W=$(mktemp -d /dev/shm/knap-scale.XXXXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$W"; else echo "kept $W" >&2; fi
}
trap cleanup EXIT
unset KNAP_CONFIG KNAP_CACHE_DIR XDG_CONFIG_HOME XDG_CACHE_HOME CARGO_HOME

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"

echo "== generating $REFS refs x 4 versions in $W/site" >&2
python3 "$ROOT/benches/scale_registry.py" "$W/site" "$REFS" "$BASE"
read -r CLOSURE ALL_CLOSURE <"$W/graph.txt"
WHOLE_SIZE=$(stat -c %s "$W/site/whole/index.json")
LAST="pack$((REFS - 1))"
echo "== $LAST reaches $CLOSURE packs (newest versions), $ALL_CLOSURE refs (every version); index.json $WHOLE_SIZE bytes" >&2

# The server: http.server's own server and handler (what `python3 -m
# http.server` runs: threaded, HTTP/1.0, Last-Modified / If-Modified-Since),
# with a listen backlog of 128 instead of the module's 5. With 5, a client
# that opens more than ~6 connections at once (knap and Cargo both fetch in
# parallel) has the extra SYNs dropped and waits for the 1 s TCP retransmit;
# no real web host behaves like that. BENCH_STOCK_SERVER=1 runs the module
# as it is.
if [ -n "${BENCH_STOCK_SERVER:-}" ]; then
    python3 -u -m http.server "$PORT" --bind 127.0.0.1 --directory "$W/site" 2>>"$W/http.log" >/dev/null &
else
    python3 -u -c '
import functools, http.server, sys
http.server.ThreadingHTTPServer.request_queue_size = 128
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[2])
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
' "$PORT" "$W/site" 2>>"$W/http.log" >/dev/null &
fi
SERVER_PID=$!
for _ in $(seq 50); do curl -s -o /dev/null "$BASE/" && break; sleep 0.1; done

# The Cargo project: one dependency on the last crate, from the local registry.
mkdir -p "$W/proj/src"
cat >"$W/proj/Cargo.toml" <<TOML
[package]
name = "scale-bench"
version = "0.1.0"
edition = "2021"

[dependencies]
$LAST = { version = "^1", registry = "bench" }
TOML
echo 'fn main() {}' >"$W/proj/src/main.rs"
cat >"$W/cargo-config.toml" <<TOML
[registries.bench]
index = "sparse+$BASE/cargo/"
[net]
retry = 0
TOML

python3 - "$W" "$KNAP" "$BASE" "$LAST" "$RUNS" "$CLOSURE" "$ALL_CLOSURE" "$WHOLE_SIZE" <<'PY'
import os, shutil, statistics, subprocess, sys, time
W, KNAP, BASE, LAST, RUNS, CLOSURE, ALL_CLOSURE, WHOLE_SIZE = sys.argv[1:]
RUNS = int(RUNS)
LOG = f"{W}/http.log"

def log_lines():
    with open(LOG, "rb") as f:
        return f.read().count(b"\n")

def run(cmd, env=None, cwd=None, ok=(0,)):
    """(seconds, peak RSS in MiB, requests to the server) of one command."""
    before = log_lines()
    rss_file = f"{W}/rss.txt"
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", "-o", rss_file] + cmd, env=env, cwd=cwd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t = time.perf_counter() - t0
    if p.returncode not in ok:
        sys.stderr.write(p.stderr.decode(errors="replace")[-3000:])
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    rss = 0.0
    for line in open(rss_file):
        if "Maximum resident set size" in line:
            rss = int(line.split(":")[1]) / 1024
    time.sleep(0.05)  # let the server finish logging the last requests
    return t, rss, log_lines() - before

def knap_env(name):
    e = dict(os.environ)
    e["KNAP_CONFIG"] = f"{W}/{name}/config.toml"
    e["KNAP_CACHE_DIR"] = f"{W}/{name}/cache"
    e["RUST_BACKTRACE"] = "0"
    # index.json is larger than the default limit of 64 MiB.
    e["KNAP_MAX_INDEX_SIZE"] = str(256 * 1024 * 1024)
    return e

def knap(name, *args):
    # `--root` after the subcommand: `registry add` has its own `--root FILE`
    # (a TUF root), which takes the value of a global `--root` (or of
    # KNAP_ROOT), so the registry is added without one.
    if args and args[0] == "registry":
        return [KNAP, "-q"] + list(args)
    return [KNAP, "-q", "--root", f"{W}/{name}/root"] + list(args)

def setup_knap(name, url):
    shutil.rmtree(f"{W}/{name}", ignore_errors=True)
    os.makedirs(f"{W}/{name}/root")
    # --no-fetch: `registry add` would otherwise fill the cache, and the
    # cold runs start from an empty one.
    subprocess.run(knap(name, "registry", "add", "bench", url, "--allow-http", "--no-fetch"),
                   env=knap_env(name), check=True)

def cargo_env(home):
    e = dict(os.environ)
    e["CARGO_HOME"] = home
    e.pop("RUSTUP_TOOLCHAIN", None)
    return e

def cargo_cmd():
    return ["cargo", "generate-lockfile", "--quiet", "--config", f"{W}/cargo-config.toml"]

def fresh_cargo_home(home):
    shutil.rmtree(home, ignore_errors=True)
    os.makedirs(home)

results = {}
def add(key, r):
    results.setdefault(key, []).append(r)

install = ["install", LAST, "--dry-run"]
setup_knap("whole", f"{BASE}/whole/")
setup_knap("small", f"{BASE}/small/")
subprocess.run(knap("small", "update"), env=knap_env("small"), check=True)
for rnd in range(RUNS):
    sys.stderr.write(f"== round {rnd + 1}/{RUNS}\n")
    # Sparse, cold: empty caches for both.
    setup_knap("sparse", f"sparse+{BASE}/sparse/")
    add("knap sparse cold", run(knap("sparse", *install), env=knap_env("sparse")))
    fresh_cargo_home(f"{W}/cargo-home")
    if os.path.exists(f"{W}/proj/Cargo.lock"):
        os.remove(f"{W}/proj/Cargo.lock")
    add("cargo sparse cold", run(cargo_cmd(), env=cargo_env(f"{W}/cargo-home"), cwd=f"{W}/proj"))
    # Sparse, warm: the caches the cold runs left.
    add("knap sparse warm", run(knap("sparse", *install), env=knap_env("sparse")))
    os.remove(f"{W}/proj/Cargo.lock")
    add("cargo sparse warm", run(cargo_cmd(), env=cargo_env(f"{W}/cargo-home"), cwd=f"{W}/proj"))
    # The whole index: a cold update, then resolution, search and info on
    # the fetched copy.
    shutil.rmtree(f"{W}/whole/cache", ignore_errors=True)
    add("knap update (whole, cold)", run(knap("whole", "update"), env=knap_env("whole")))
    add("curl index.json", run(["curl", "-s", "-o", f"{W}/curl.json", f"{BASE}/whole/index.json"]))
    add("knap whole warm", run(knap("whole", *install), env=knap_env("whole")))
    add("search big", run(knap("whole", "search", LAST[:-1]), env=knap_env("whole")))
    add("info big", run(knap("whole", "info", LAST), env=knap_env("whole")))
    add("search small", run(knap("small", "search", "pack9"), env=knap_env("small")))
    add("info small", run(knap("small", "info", "pack9"), env=knap_env("small")))

def med(key, i=0):
    return statistics.median(r[i] for r in results[key])

def best(key):
    return min(r[0] for r in results[key])

print(f"\nregistry: {ALL_CLOSURE} refs reached through every version, {CLOSURE} packs resolved; "
      f"index.json {int(WHOLE_SIZE):,} bytes; {RUNS} rounds, commands in turns")
print("| measurement | median (s) | best (s) | peak RSS median (MiB) | requests (median) | ratio (medians) |")
print("|---|---:|---:|---:|---:|---:|")
def row(key, against=None, label=None):
    ratio = f"{med(key) / med(against):.2f} of {against}" if against else ""
    reqs = statistics.median(r[2] for r in results[key])
    print(f"| {label or key} | {med(key):.3f} | {best(key):.3f} | {med(key, 1):.0f} | {reqs:.0f} | {ratio} |")
row("knap sparse cold", "cargo sparse cold")
row("cargo sparse cold")
row("knap sparse warm", "cargo sparse warm")
row("cargo sparse warm")
row("knap whole warm", "cargo sparse warm")
row("knap update (whole, cold)", "curl index.json")
row("curl index.json")
row("search big", "search small", f"knap search {LAST[:-1]} (whole index)")
row("search small", None, "knap search pack9 (40 versions)")
row("info big", "info small", f"knap info {LAST} (whole index)")
row("info small", None, "knap info pack9 (40 versions)")
PY
