#!/usr/bin/env bash
# Benchmarks `knap update` (see docs/performance.md, section "knap update"):
#   1. cold `knap update` of a git-hosted index of BENCH_ENTRIES (10,000)
#      entries against `git clone --depth 1` of the same repository, both over
#      file:// (gix spawns `git upload-pack` for file://, as git does);
#   2. a no-op `knap update` of 5 HTTP registries (all revalidated in
#      parallel: one conditional request each, 304, no body) against curl
#      fetching the same 5 files.
# Everything lives in tmpfs (/dev/shm). Prints best-of-BENCH_RUNS times.
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

now() { echo "$EPOCHREALTIME"; }
# best OUTVAR CMD...: runs CMD (after running $SETUP, untimed) RUNS times.
best() {
    local var=$1; shift
    local b=
    for _ in $(seq "$RUNS"); do
        eval "$SETUP"
        local t0 t1 d
        t0=$(now)
        "$@" >/dev/null 2>"$W/last.err" || { cat "$W/last.err" >&2; exit 1; }
        t1=$(now)
        d=$(python3 -c "print(f'{$t1-$t0:.3f}')")
        if [ -z "$b" ] || python3 -c "import sys; sys.exit(0 if $d < $b else 1)"; then b=$d; fi
    done
    printf -v "$var" '%s' "$b"
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

SETUP='rm -rf "$W/k" "$W/g"; mkdir -p "$W/k"; KNAP_CONFIG=$W/k/c.toml KNAP_CACHE_DIR=$W/k/cache "$KNAP" -q registry add bench "git+$URL"'
export W KNAP
best T_KNAP_GIT env KNAP_CONFIG="$W/k/c.toml" KNAP_CACHE_DIR="$W/k/cache" "$KNAP" -q update
best T_GIT git clone -q --depth 1 "$URL" "$W/g"
best T_GIT_NC git clone -q --depth 1 --no-checkout "$URL" "$W/g"

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
    KNAP_CONFIG=$W/h/c.toml KNAP_CACHE_DIR=$W/h/cache "$KNAP" -q registry add "r$i" "http://127.0.0.1:$PORT/r$i/"
done
KNAP_CONFIG=$W/h/c.toml KNAP_CACHE_DIR=$W/h/cache "$KNAP" -q update
: >"$W/http.log"
KNAP_CONFIG=$W/h/c.toml KNAP_CACHE_DIR=$W/h/cache "$KNAP" -q update
NOOP_REQS=$(grep -c '"GET ' "$W/http.log" || true)
NOOP_304=$(grep -c '" 304 ' "$W/http.log" || true)
SETUP=':'
URLS=()
for i in 1 2 3 4 5; do URLS+=("http://127.0.0.1:$PORT/r$i/index.json"); done
best T_KNAP_NOOP env KNAP_CONFIG="$W/h/c.toml" KNAP_CACHE_DIR="$W/h/cache" "$KNAP" -q update
CURL_OUT=()
for u in "${URLS[@]}"; do CURL_OUT+=(-o /dev/null "$u"); done
best T_CURL curl -s "${CURL_OUT[@]}"
best T_CURL_PAR curl -s --parallel "${CURL_OUT[@]}"
HTTP_SIZE=$(stat -c %s "$SRC_INDEX")

cat <<OUT
git index: $ENTRIES entries, index.json $SIZE bytes, over file://
| measurement | best of $RUNS (s) | knap ÷ this |
|---|---:|---:|
| cold knap update (gix shallow clone + validate + cache) | $T_KNAP_GIT | 1.00 |
| git clone --depth 1 | $T_GIT | $(ratio "$T_KNAP_GIT" "$T_GIT") |
| git clone --depth 1 --no-checkout | $T_GIT_NC | $(ratio "$T_KNAP_GIT" "$T_GIT_NC") |

5 HTTP registries, index.json $HTTP_SIZE bytes each; no-op update sent $NOOP_REQS requests, $NOOP_304 answered 304
| measurement | best of $RUNS (s) | knap ÷ this |
|---|---:|---:|
| no-op knap update (5 conditional GETs in parallel) | $T_KNAP_NOOP | 1.00 |
| curl, 5 full downloads, one process | $T_CURL | $(ratio "$T_KNAP_NOOP" "$T_CURL") |
| curl --parallel, 5 full downloads | $T_CURL_PAR | $(ratio "$T_KNAP_NOOP" "$T_CURL_PAR") |
OUT
