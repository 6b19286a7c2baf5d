#!/usr/bin/env bash
# Benchmarks `knap install` (see docs/performance.md, section "knap install"):
# installing BENCH_PACKS (50) packs of about 200 KB each from a loopback HTTP
# registry, against a sequential shell loop doing the same work per pack:
#   curl -o ARCHIVE URL && sha256sum -c && mkdir DIR && tar -xzf ARCHIVE -C DIR
# knap's index is fetched before timing (the loop is handed the URLs and
# checksums); each timed knap run starts with an empty root and an empty
# archive cache, so both download, verify and extract all 50 archives.
# knap also checks each pack.yaml, computes each tree digest and commits
# atomically with knap.lock: more work than the loop does.
# Everything lives in tmpfs (/dev/shm). Prints best-of-BENCH_RUNS times.
# Env: KNAP and KNAP_INDEX (paths; skip the release build), BENCH_RUNS
# (default 5), BENCH_PACKS (default 50). Needs curl, sha256sum, tar, python3.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${BENCH_RUNS:-5}
PACKS=${BENCH_PACKS:-50}
if [ -z "${KNAP:-}" ] || [ -z "${KNAP_INDEX:-}" ]; then
    cargo build --release -q -p knap -p knap-index --manifest-path "$ROOT/Cargo.toml" >&2
    KNAP=$ROOT/target/release/knap
    KNAP_INDEX=$ROOT/target/release/knap-index
fi
W=$(mktemp -d /dev/shm/knap-bench-install.XXXXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$W"
}
trap cleanup EXIT
unset KNAP_CONFIG KNAP_CACHE_DIR KNAP_ROOT XDG_CONFIG_HOME XDG_CACHE_HOME

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

echo "== generating $PACKS packs of ~200 KB in $W" >&2
python3 - "$W/src" "$PACKS" <<'PY'
import os, sys, random, base64
out, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7)
for i in range(n):
    r = f"bench{i:02d}"
    d = os.path.join(out, r)
    os.makedirs(os.path.join(d, "actions"))
    with open(os.path.join(d, "pack.yaml"), "w") as f:
        f.write(f"ref: {r}\nname: Bench {i}\ndescription: Benchmark pack {i}\n"
                f"version: 1.0.0\nauthor: Bench\nlicense: Apache-2.0\n")
    # ~200 KB of files that compress like code does not: base64 of random
    # bytes, in 20 files of ~10 KB.
    for j in range(20):
        with open(os.path.join(d, "actions", f"a{j:02d}.py"), "w") as f:
            f.write(base64.b64encode(rnd.randbytes(7500)).decode() + "\n")
PY
mkdir -p "$W/site/archives" "$W/entries"
: > "$W/manifest.txt"
for d in "$W"/src/*; do
    r=$(basename "$d")
    a="archives/$r-1.0.0.tar.gz"
    "$KNAP_INDEX" pack "$d" -o "$W/site/$a" >/dev/null 2>&1
    "$KNAP_INDEX" entry "$d" --archive-url "$a" --archive "$W/site/$a" >"$W/entries/$r.json"
    "$KNAP_INDEX" update --index "$W/site/index.json" --entry "$W/entries/$r.json" \
        --create --name Bench --url "http://127.0.0.1/" >/dev/null 2>&1
    echo "$r $a $(sha256sum "$W/site/$a" | cut -d' ' -f1)" >>"$W/manifest.txt"
done
BYTES=$(du -sb "$W/site/archives" | cut -f1)

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$W/site" >/dev/null 2>&1 &
SERVER_PID=$!
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 50); do curl -sf -o /dev/null "$BASE/index.json" && break; sleep 0.1; done

export KNAP_CONFIG=$W/k/config.toml KNAP_CACHE_DIR=$W/k/cache
mkdir -p "$W/k"
"$KNAP" -q registry add bench "$BASE/"
"$KNAP" -q update
REFS=$(cut -d' ' -f1 "$W/manifest.txt" | tr '\n' ' ')

echo "== installing $PACKS packs ($((BYTES / 1024)) KiB of archives) over $BASE, best of $RUNS" >&2
SETUP='rm -rf "$W/root" "$KNAP_CACHE_DIR/archives"'
# shellcheck disable=SC2086
best T_KNAP "$KNAP" -q install --root "$W/root" $REFS
# shellcheck disable=SC2086
best T_KNAP1 "$KNAP" -q install --jobs 1 --root "$W/root" $REFS
N_INSTALLED=$(find "$W/root" -mindepth 1 -maxdepth 1 -type d ! -name .knap | wc -l)
[ "$N_INSTALLED" -eq "$PACKS" ] || { echo "knap installed $N_INSTALLED packs, not $PACKS" >&2; exit 1; }

shell_loop() {
    while read -r r a sum; do
        curl -sf -o "$W/dl/$r.tar.gz" "$BASE/$a"
        echo "$sum  $W/dl/$r.tar.gz" | sha256sum -c --quiet
        mkdir -p "$W/shell/$r"
        tar -xzf "$W/dl/$r.tar.gz" -C "$W/shell/$r"
    done <"$W/manifest.txt"
}
SETUP='rm -rf "$W/shell" "$W/dl"; mkdir -p "$W/shell" "$W/dl"'
best T_SHELL shell_loop

echo "knap install ($PACKS packs):                     ${T_KNAP}s"
echo "knap install --jobs 1 (one download at a time):  ${T_KNAP1}s"
echo "shell loop curl | sha256sum -c | tar -x:         ${T_SHELL}s"
echo "ratio shell/knap: $(ratio "$T_SHELL" "$T_KNAP")x (goal: >= 3x); shell/knap --jobs 1: $(ratio "$T_SHELL" "$T_KNAP1")x"
