#!/usr/bin/env bash
# Benchmarks resolution against a graph a registry can use to make it slow
# (issue 20, section 9; docs/performance.md, section "Many versions of one
# pack"), against Cargo on the same graph in the same run:
#
#   generator: `big` with BENCH_VERSIONS (10,000) versions, 0.0.0 ... 9.99.9,
#     and BENCH_REQUIRERS (40) packs req0 ... req<N-1>, one version each;
#     req<i> depends on `big@>=<i mod 10>.<i>.0, <9.<99-i>.0` (so the newest
#     version that fits them all is 9.<99-N>.9). The request names every
#     req<i>. Written twice from the same graph:
#       sparse/  the knap sparse layout (config.json, packs/<ref>.json)
#       cargo/   a sparse Cargo registry (config.json plus one index file
#                per crate; generate-lockfile needs no .crate)
#   one http.server on 127.0.0.1 serves both from tmpfs (/dev/shm); its log
#   gives the request count of every run.
#   measured, in turns within each round:
#     cold:  knap install req0 ... --dry-run, empty cache
#            cargo generate-lockfile, empty CARGO_HOME
#     warm:  the same again with the caches of the cold runs
#   Each run's wall time and peak RSS (`/usr/bin/time -v`). Prints medians,
#   best, ratios of medians, requests per run, and the version of big that
#   each chose (they must agree).
#
# Env: KNAP=path/to/knap (skips the release build), BENCH_RUNS (default 5),
# BENCH_VERSIONS (default 10000, a multiple of 1000), BENCH_REQUIRERS
# (default 40, at most 99), BENCH_KEEP=1 keeps the work directory.
# Needs cargo, curl, python3 and /usr/bin/time (Debian: apt-get install time).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${BENCH_RUNS:-5}
VERSIONS=${BENCH_VERSIONS:-10000}
REQUIRERS=${BENCH_REQUIRERS:-40}
if [ -z "${KNAP:-}" ]; then
    cargo build --release -q -p knap --manifest-path "$ROOT/Cargo.toml" >&2
    KNAP=${CARGO_TARGET_DIR:-$ROOT/target}/release/knap
fi
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
W=$(mktemp -d /dev/shm/knap-resolve.XXXXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$W"; else echo "kept $W" >&2; fi
}
trap cleanup EXIT
unset KNAP_CONFIG KNAP_CACHE_DIR XDG_CONFIG_HOME XDG_CACHE_HOME CARGO_HOME

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"

echo "== generating big x $VERSIONS versions and $REQUIRERS requirers in $W/site" >&2
python3 - "$W/site" "$VERSIONS" "$REQUIRERS" "$BASE" <<'PY'
import json, os, sys, hashlib
site, n_versions, n_req, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
assert n_versions % 1000 == 0 and 0 < n_req < 100
majors = n_versions // 1000
# Newest first, as an index lists them.
big_versions = [f"{a}.{b}.{c}" for a in reversed(range(majors))
                for b in reversed(range(100)) for c in reversed(range(10))]
def req_of(i):
    return f">={i % majors}.{i}.0, <{majors - 1}.{99 - i}.0"
deps = {f"req{i}": [("big", req_of(i))] for i in range(n_req)}

def entry(r, ver, dep_list):
    h = hashlib.sha256(f"{r}@{ver}".encode()).hexdigest()
    return {
        "ref": r, "label": r, "description": f"{r}, generated for the resolution benchmark",
        "version": ver, "author": "Bench", "license": "Apache-2.0",
        "keywords": ["bench"], "runtime_deps": [],
        "install_sources": [
            {"type": "archive", "url": f"https://example.org/{r}-{ver}.tar.gz", "checksum": "sha256:" + h},
        ],
        "dependencies": {"packs": [f"{d}@{q}" for d, q in dep_list]},
        "contents": {"actions": [], "sensors": [], "triggers": [], "rules": [], "workflows": []},
    }

def write(path, doc):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))

write(f"{site}/sparse/config.json", {"format": "knap-sparse-1", "registry_name": "Resolve",
      "registry_url": "https://example.org/resolve/", "last_updated": "2026-12-01T12:00:00Z"})
write(f"{site}/sparse/packs/big.json", {"ref": "big", "versions": [entry("big", v, []) for v in big_versions]})
for r, d in deps.items():
    write(f"{site}/sparse/packs/{r}.json", {"ref": r, "versions": [entry(r, "1.0.0", d)]})

write(f"{site}/cargo/config.json", {"dl": base + "/cargo/dl/{crate}/{version}/download"})
def cargo_file(name):
    if len(name) == 3:
        return f"{site}/cargo/3/{name[0]}/{name}"
    return f"{site}/cargo/{name[:2]}/{name[2:4]}/{name}"
def cargo_line(name, ver, dep_list):
    return json.dumps({
        "name": name, "vers": ver,
        "deps": [{"name": d, "req": q, "features": [], "optional": False,
                  "default_features": True, "target": None, "kind": "normal"} for d, q in dep_list],
        "cksum": hashlib.sha256(f"{name}@{ver}".encode()).hexdigest(),
        "features": {}, "yanked": False}, separators=(",", ":")) + "\n"
path = cargo_file("big")
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "w") as f:
    for v in reversed(big_versions):  # Cargo's files are oldest first
        f.write(cargo_line("big", v, []))
for r, d in deps.items():
    path = cargo_file(r)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(cargo_line(r, "1.0.0", d))
with open(f"{site}/../expected.txt", "w") as f:
    f.write(f"{majors - 1}.{99 - n_req}.9\n")
PY
read -r EXPECTED <"$W/expected.txt"
echo "== the newest big that fits every requirer: $EXPECTED" >&2

# The server of scale.sh: http.server with a listen backlog of 128.
python3 -u -c '
import functools, http.server, sys
http.server.ThreadingHTTPServer.request_queue_size = 128
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[2])
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
' "$PORT" "$W/site" 2>>"$W/http.log" >/dev/null &
SERVER_PID=$!
for _ in $(seq 50); do curl -s -o /dev/null "$BASE/" && break; sleep 0.1; done

# The Cargo project: one dependency on every requirer, from the registry.
mkdir -p "$W/proj/src"
{
    printf '[package]\nname = "resolve-bench"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n'
    for i in $(seq 0 $((REQUIRERS - 1))); do
        printf 'req%s = { version = "1", registry = "bench" }\n' "$i"
    done
} >"$W/proj/Cargo.toml"
echo 'fn main() {}' >"$W/proj/src/main.rs"
cat >"$W/cargo-config.toml" <<TOML
[registries.bench]
index = "sparse+$BASE/cargo/"
[net]
retry = 0
TOML

python3 - "$W" "$KNAP" "$BASE" "$RUNS" "$REQUIRERS" "$EXPECTED" <<'PY'
import json, os, shutil, statistics, subprocess, sys, time
W, KNAP, BASE, RUNS, REQUIRERS, EXPECTED = sys.argv[1:]
RUNS, REQUIRERS = int(RUNS), int(REQUIRERS)
LOG = f"{W}/http.log"

def log_lines():
    with open(LOG, "rb") as f:
        return f.read().count(b"\n")

def run(cmd, env=None, cwd=None):
    """(seconds, peak RSS in MiB, requests to the server, stdout) of one command."""
    before = log_lines()
    rss_file = f"{W}/rss.txt"
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", "-o", rss_file] + cmd, env=env, cwd=cwd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode(errors="replace")[-3000:])
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    rss = 0.0
    for line in open(rss_file):
        if "Maximum resident set size" in line:
            rss = int(line.split(":")[1]) / 1024
    time.sleep(0.05)  # let the server finish logging the last requests
    return t, rss, log_lines() - before, p.stdout

def knap_env():
    e = dict(os.environ)
    e["KNAP_CONFIG"] = f"{W}/knap/config.toml"
    e["KNAP_CACHE_DIR"] = f"{W}/knap/cache"
    e["RUST_BACKTRACE"] = "0"
    return e

install = [KNAP, "--root", f"{W}/knap/root", "install", "--dry-run", "--json"] + \
    [f"req{i}" for i in range(REQUIRERS)]

def setup_knap():
    shutil.rmtree(f"{W}/knap", ignore_errors=True)
    os.makedirs(f"{W}/knap/root")
    # --no-fetch: `registry add` would otherwise fill the cache.
    subprocess.run([KNAP, "-q", "registry", "add", "bench", f"sparse+{BASE}/sparse/",
                    "--allow-http", "--no-fetch"], env=knap_env(), check=True)

def knap_big(out):
    """The version of big in the --dry-run --json plan."""
    def find(v):
        if isinstance(v, dict):
            if v.get("ref") == "big" and "version" in v:
                return v["version"]
            v = list(v.values())
        if isinstance(v, list):
            for x in v:
                found = find(x)
                if found:
                    return found
        return None
    return find(json.loads(out))

def cargo_env():
    e = dict(os.environ)
    e["CARGO_HOME"] = f"{W}/cargo-home"
    e.pop("RUSTUP_TOOLCHAIN", None)
    return e

cargo = ["cargo", "generate-lockfile", "--quiet", "--config", f"{W}/cargo-config.toml"]

def cargo_big():
    text = open(f"{W}/proj/Cargo.lock").read()
    for block in text.split("[[package]]"):
        if 'name = "big"' in block:
            return block.split('version = "')[1].split('"')[0]

results = {}
def add(key, r):
    results.setdefault(key, []).append(r[:3])

chosen = set()
for rnd in range(RUNS):
    sys.stderr.write(f"== round {rnd + 1}/{RUNS}\n")
    setup_knap()
    r = run(install, env=knap_env()); add("knap cold", r); chosen.add(("knap", knap_big(r[3])))
    shutil.rmtree(f"{W}/cargo-home", ignore_errors=True); os.makedirs(f"{W}/cargo-home")
    if os.path.exists(f"{W}/proj/Cargo.lock"):
        os.remove(f"{W}/proj/Cargo.lock")
    add("cargo cold", run(cargo, env=cargo_env(), cwd=f"{W}/proj")); chosen.add(("cargo", cargo_big()))
    r = run(install, env=knap_env()); add("knap warm", r); chosen.add(("knap", knap_big(r[3])))
    os.remove(f"{W}/proj/Cargo.lock")
    add("cargo warm", run(cargo, env=cargo_env(), cwd=f"{W}/proj")); chosen.add(("cargo", cargo_big()))

if chosen != {("knap", EXPECTED), ("cargo", EXPECTED)}:
    raise SystemExit(f"the tools chose {sorted(chosen)}, expected big {EXPECTED} from both")

def med(key, i=0):
    return statistics.median(r[i] for r in results[key])

def best(key):
    return min(r[0] for r in results[key])

big_file = f"{W}/site/sparse/packs/big.json"
print(f"\nbig: {len(json.load(open(big_file))['versions']):,} versions, packs/big.json "
      f"{os.path.getsize(big_file):,} bytes; {REQUIRERS} requirers; "
      f"both chose big {EXPECTED}; {RUNS} rounds, commands in turns")
print("| measurement | median (s) | best (s) | peak RSS median (MiB) | requests (median) | ratio (medians) |")
print("|---|---:|---:|---:|---:|---:|")
def row(key, against=None):
    ratio = f"{med(key) / med(against):.2f} of {against}" if against else ""
    reqs = statistics.median(r[2] for r in results[key])
    print(f"| {key} | {med(key):.3f} | {best(key):.3f} | {med(key, 1):.0f} | {reqs:.0f} | {ratio} |")
row("knap cold", "cargo cold")
row("cargo cold")
row("knap warm", "cargo warm")
row("cargo warm")
PY
