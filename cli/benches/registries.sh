#!/usr/bin/env bash
# Benchmarks `knap update` (see docs/performance.md, section "knap update"):
#   1. cold `knap update` of a git-hosted index of BENCH_ENTRIES (10,000)
#      entries against `git clone --depth 1` of the same repository, both over
#      file:// (gix spawns `git upload-pack` for file://, as git does);
#   2. a no-op `knap update` of 5 HTTP registries (all revalidated in
#      parallel: one conditional request each, 304, no body) against curl
#      fetching the same 5 files.
# Everything lives in tmpfs (/dev/shm). The commands compared are run in
# turns (one run of each per round, BENCH_RUNS rounds), so that load from
# other work on the machine falls on all of them alike; prints the median
# and the best of the runs, and ratios of medians.
# Env: KNAP=path/to/knap (skips the release build), BENCH_RUNS (default 5),
# BENCH_ENTRIES (default 10000). Needs git, curl and python3.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${BENCH_RUNS:-5}
ENTRIES=${BENCH_ENTRIES:-10000}
if [ -z "${KNAP:-}" ]; then
    cargo build --release -q -p knap --manifest-path "$ROOT/Cargo.toml" >&2
    KNAP=$ROOT/target/release/knap
fi
W=$(mktemp -d /dev/shm/knap-bench.XXXXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$W"
}
trap cleanup EXIT
unset KNAP_CONFIG KNAP_CACHE_DIR XDG_CONFIG_HOME XDG_CACHE_HOME

# timed OUTVAR SETUP CMD...: runs SETUP (untimed), then CMD; appends the
# seconds CMD took to the array OUTVAR.
timed() {
    local -n out=$1
    local setup=$2
    shift 2
    eval "$setup"
    local t0=$EPOCHREALTIME
    "$@" >/dev/null 2>"$W/last.err" || { cat "$W/last.err" >&2; exit 1; }
    local t1=$EPOCHREALTIME
    out+=("$(python3 -c "print(f'{$t1-$t0:.4f}')")")
}
# pick median|best TIMES...
pick() {
    python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[2:]]; print(f'{(statistics.median(v) if sys.argv[1]==\"median\" else min(v)):.3f}')" "$@"
}
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

echo "== generating a git index of $ENTRIES entries in $W" >&2
python3 - "$W/src/index.json" "$ENTRIES" <<'PY'
import json, sys, hashlib, os
path, n = sys.argv[1], int(sys.argv[2])
packs = []
for i in range(n):
    r = f"pack{i // 4:05d}"
    v = f"1.{i % 4}.0"
    h = hashlib.sha256(f"{r}@{v}".encode()).hexdigest()
    packs.append({
        "ref": r, "label": f"Pack {r}", "description": f"Automation content number {i}",
        "version": v, "author": "Bench", "license": "Apache-2.0",
        "keywords": ["bench", r], "runtime_deps": ["python3"],
        "install_sources": [
            {"type": "git", "url": f"https://example.org/{r}.git", "ref": h[:40], "checksum": "sha256:" + h},
            {"type": "archive", "url": f"https://example.org/{r}-{v}.tar.gz", "checksum": "sha256:" + h},
        ],
        "dependencies": {"packs": ["pack00000@^1"]} if i % 7 == 0 and i >= 4 else {"packs": []},
        "contents": {"actions": [{"name": "run", "description": "Runs it"}], "sensors": [], "triggers": [], "rules": [], "workflows": []},
    })
os.makedirs(os.path.dirname(path), exist_ok=True)
json.dump({"registry_name": "Bench", "registry_url": "https://example.org/bench/", "version": "1.0",
           "last_updated": "2026-11-21T12:00:00Z", "packs": packs}, open(path, "w"), indent=2)
PY
git -C "$W/src" -c init.defaultBranch=main init -q
git -C "$W/src" add index.json
git -C "$W/src" -c user.name=b -c user.email=b@example.org commit -qm index
git clone -q --bare "$W/src" "$W/index.git"
SIZE=$(stat -c %s "$W/src/index.json")
URL="file://$W/index.git"

KNAP_SETUP='rm -rf "$W/k"; mkdir -p "$W/k"; KNAP_CONFIG=$W/k/c.toml KNAP_CACHE_DIR=$W/k/cache "$KNAP" -q registry add --no-fetch bench "git+$URL"'
GIT_SETUP='rm -rf "$W/g"'
R_KNAP_GIT=(); R_GIT=(); R_GIT_NC=()
for _ in $(seq "$RUNS"); do
    timed R_KNAP_GIT "$KNAP_SETUP" env KNAP_CONFIG="$W/k/c.toml" KNAP_CACHE_DIR="$W/k/cache" "$KNAP" -q update
    timed R_GIT "$GIT_SETUP" git clone -q --depth 1 "$URL" "$W/g"
    timed R_GIT_NC "$GIT_SETUP" git clone -q --depth 1 --no-checkout "$URL" "$W/g"
done

echo "== 5 HTTP registries (python3 http.server, Last-Modified / If-Modified-Since)" >&2
SRC_INDEX=$ROOT/../shared/corpus/attune/index.json
[ -f "$SRC_INDEX" ] || SRC_INDEX=$W/src/index.json
for i in 1 2 3 4 5; do mkdir -p "$W/site/r$i"; cp "$SRC_INDEX" "$W/site/r$i/index.json"; done
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$W/site" 2>"$W/http.log" >/dev/null &
SERVER_PID=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
mkdir -p "$W/h"
for i in 1 2 3 4 5; do
    KNAP_CONFIG=$W/h/c.toml KNAP_CACHE_DIR=$W/h/cache "$KNAP" -q registry add --no-fetch "r$i" "http://127.0.0.1:$PORT/r$i/"
done
KNAP_CONFIG=$W/h/c.toml KNAP_CACHE_DIR=$W/h/cache "$KNAP" -q update
: >"$W/http.log"
KNAP_CONFIG=$W/h/c.toml KNAP_CACHE_DIR=$W/h/cache "$KNAP" -q update
NOOP_REQS=$(grep -c '"GET ' "$W/http.log" || true)
NOOP_304=$(grep -c '" 304 ' "$W/http.log" || true)
URLS=()
for i in 1 2 3 4 5; do URLS+=("http://127.0.0.1:$PORT/r$i/index.json"); done
CURL_OUT=()
for u in "${URLS[@]}"; do CURL_OUT+=(-o /dev/null "$u"); done
R_KNAP_NOOP=(); R_CURL=(); R_CURL_PAR=()
for _ in $(seq "$RUNS"); do
    timed R_KNAP_NOOP : env KNAP_CONFIG="$W/h/c.toml" KNAP_CACHE_DIR="$W/h/cache" "$KNAP" -q update
    timed R_CURL : curl -s "${CURL_OUT[@]}"
    timed R_CURL_PAR : curl -s --parallel "${CURL_OUT[@]}"
done
HTTP_SIZE=$(stat -c %s "$SRC_INDEX")

for v in KNAP_GIT GIT GIT_NC KNAP_NOOP CURL CURL_PAR; do
    declare -n runs="R_$v"
    printf -v "M_$v" '%s' "$(pick median "${runs[@]}")"
    printf -v "B_$v" '%s' "$(pick best "${runs[@]}")"
done

cat <<OUT
git index: $ENTRIES entries, index.json $SIZE bytes, over file://; $RUNS rounds
| measurement | median (s) | best (s) | knap ÷ this (medians) |
|---|---:|---:|---:|
| cold knap update (gix shallow clone + validate + cache) | $M_KNAP_GIT | $B_KNAP_GIT | 1.00 |
| git clone --depth 1 | $M_GIT | $B_GIT | $(ratio "$M_KNAP_GIT" "$M_GIT") |
| git clone --depth 1 --no-checkout | $M_GIT_NC | $B_GIT_NC | $(ratio "$M_KNAP_GIT" "$M_GIT_NC") |

5 HTTP registries, index.json $HTTP_SIZE bytes each; no-op update sent $NOOP_REQS requests, $NOOP_304 answered 304
| measurement | median (s) | best (s) | knap ÷ this (medians) |
|---|---:|---:|---:|
| no-op knap update (5 conditional GETs in parallel) | $M_KNAP_NOOP | $B_KNAP_NOOP | 1.00 |
| curl, 5 full downloads, one process | $M_CURL | $B_CURL | $(ratio "$M_KNAP_NOOP" "$M_CURL") |
| curl --parallel, 5 full downloads | $M_CURL_PAR | $B_CURL_PAR | $(ratio "$M_KNAP_NOOP" "$M_CURL_PAR") |
OUT
