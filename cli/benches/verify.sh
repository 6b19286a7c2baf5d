#!/usr/bin/env bash
# Benchmarks `knap verify` (see docs/performance.md, section "knap verify"):
# an install root holding the real 3,600-file `aws` pack of the corpus
# (StackStorm-Exchange/stackstorm-aws, with the corpus's missing lib/
# placeholder files restored from its manifest, as the corpus checksum test
# does) is verified by `knap verify` and, on the same files, by
# `sha256sum -c` of a per-file manifest. Both read every byte of every file.
#
# The pack is installed the real way: `knap-index pack` makes the archive,
# `knap-index entry`/`update` a local registry, `knap install aws` the root.
# Everything lives in tmpfs (/dev/shm), page cache warm; best of BENCH_RUNS.
# Nothing is asserted on timings: the script only reports.
#
# Env: KNAP / KNAP_INDEX = paths to the binaries (default: build both with
# `cargo build --release`), BENCH_RUNS (default 10), CORPUS (default
# ../shared/corpus from the workspace root), BENCH_KEEP=1 keeps the work
# directory (for profiling).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${BENCH_RUNS:-10}
CORPUS=${CORPUS:-$ROOT/../shared/corpus}
SRC=$CORPUS/packs/st2exchange-aws
[ -d "$SRC" ] || { echo "no corpus pack at $SRC (set CORPUS)" >&2; exit 2; }
for tool in sha256sum find sort xargs python3; do
    command -v "$tool" >/dev/null || { echo "needs $tool on PATH" >&2; exit 2; }
done
if [ -z "${KNAP:-}" ] || [ -z "${KNAP_INDEX:-}" ]; then
    echo "building knap and knap-index (release)..." >&2
    cargo build --release -q -p knap -p knap-index --manifest-path "$ROOT/Cargo.toml" >&2
    target=${CARGO_TARGET_DIR:-$ROOT/target}
    KNAP=${KNAP:-$target/release/knap}
    KNAP_INDEX=${KNAP_INDEX:-$target/release/knap-index}
fi
if [[ -d /dev/shm && -w /dev/shm ]]; then base=/dev/shm; else base=${TMPDIR:-/tmp}; fi
W=$(mktemp -d "$base/knap-bench-verify.XXXXXX")
if [[ -n ${BENCH_KEEP:-} ]]; then echo "keeping $W" >&2; else trap 'rm -rf -- "$W"' EXIT; fi
trap 'exit 130' INT TERM
unset KNAP_ROOT XDG_CONFIG_HOME XDG_CACHE_HOME
export KNAP_CONFIG=$W/config.toml KNAP_CACHE_DIR=$W/cache

# --- 1. the pack, as the corpus checksum says it is ------------------------
pack=$W/src/aws
mkdir -p "$W/src"
cp -R "$SRC" "$pack"
restored=0
while IFS=$'\t' read -r path _mode _blob _size action; do
    case $path in '#'* | '') continue ;; esac
    if [[ $action == placeholder && ! -e $pack/$path ]]; then
        mkdir -p "$(dirname "$pack/$path")"
        printf '# placeholder\n' >"$pack/$path"
        restored=$((restored + 1))
    fi
done <"$CORPUS/packs/st2exchange-aws.manifest.tsv"
want=$(awk -F'\t' '$1 == "st2exchange-aws" { print $6 }' "$CORPUS/packs/CHECKSUMS.tsv")
got=$("$KNAP_INDEX" checksum "$pack")
[[ $got == "$want" ]] || { echo "the restored pack's digest is $got, CHECKSUMS.tsv says $want" >&2; exit 1; }

# --- 2. a registry and a root ----------------------------------------------
mkdir -p "$W/reg"
"$KNAP_INDEX" pack "$pack" -o "$W/reg/aws.tar.gz" >/dev/null
"$KNAP_INDEX" entry "$pack" --archive-url aws.tar.gz --archive "$W/reg/aws.tar.gz" >"$W/entry.json" 2>/dev/null
"$KNAP_INDEX" update --index "$W/reg/index.json" --entry "$W/entry.json" \
    --create --name bench --url https://example.org/bench/ >/dev/null 2>&1
"$KNAP" registry add bench "$W/reg" >/dev/null
"$KNAP" --root "$W/root" install aws >/dev/null
files=$(find "$W/root/aws" -type f | wc -l)
bytes=$(find "$W/root/aws" -type f -print0 | xargs -0 cat | wc -c)
# The per-file manifest sha256sum checks, in the same (sorted) order.
(cd "$W/root/aws" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) >"$W/manifest.sha256"

# --- 3. measurements -------------------------------------------------------
run_knap() { "$KNAP" --root "$W/root" verify >/dev/null; }
run_knap_json() { "$KNAP" --root "$W/root" verify --json >/dev/null; }
run_sha256sum() { (cd "$W/root/aws" && sha256sum -c --quiet "$W/manifest.sha256"); }
now() { echo "$EPOCHREALTIME"; }
best_of() { # best_of FUNCTION -> best wall seconds over RUNS runs
    local best='' t0 t1 d
    for ((i = 0; i < RUNS; i++)); do
        t0=$(now)
        "$1"
        t1=$(now)
        d=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
        if [[ -z $best ]] || awk -v d="$d" -v b="$best" 'BEGIN { exit !(d < b) }'; then best=$d; fi
    done
    echo "$best"
}
run_knap_1cpu() { taskset -c 0 "$KNAP" --root "$W/root" verify >/dev/null; }
run_sha256sum_1cpu() { (cd "$W/root/aws" && taskset -c 0 sha256sum -c --quiet "$W/manifest.sha256"); }
# Warm-up (untimed), and both must pass before anything is timed.
run_knap
run_sha256sum
echo "timing, best of $RUNS..." >&2
t_knap=$(best_of run_knap)
t_knap_json=$(best_of run_knap_json)
t_sha=$(best_of run_sha256sum)
have_taskset=
if command -v taskset >/dev/null && taskset -c 0 true 2>/dev/null; then
    have_taskset=1
    t_knap_1=$(best_of run_knap_1cpu)
    t_sha_1=$(best_of run_sha256sum_1cpu)
fi

# The same tree, tampered (one byte appended to one file): both must
# notice, and knap names the file (a second, per-file pass).
victim=$(sed -n '1000p' "$W/manifest.sha256" | cut -c69-)
printf 'x' >>"$W/root/aws/$victim"
out=$("$KNAP" --root "$W/root" verify 2>/dev/null) && { echo "knap verify missed a change" >&2; exit 1; }
grep -qF "changed  $victim" <<<"$out" || { echo "knap verify did not name $victim:" >&2; echo "$out" >&2; exit 1; }
if run_sha256sum >/dev/null 2>&1; then echo "sha256sum -c missed a change" >&2; exit 1; fi
run_knap_tampered() { "$KNAP" --root "$W/root" verify >/dev/null 2>&1 || true; }
run_sha256sum_tampered() { run_sha256sum >/dev/null 2>&1 || true; }
t_knap_t=$(best_of run_knap_tampered)
t_sha_t=$(best_of run_sha256sum_tampered)

# --- report ----------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
echo
echo "- knap: $("$KNAP" --version); sha256sum: $(sha256sum --version | head -n 1)"
echo "- nproc: $(nproc); CPU: ${cpu_model:-unknown}"
echo "- pack: st2exchange-aws, $files files, $bytes bytes ($restored placeholders restored), $got"
echo "- root in $base (tmpfs: $([[ $base == /dev/shm ]] && echo yes || echo no)); best of $RUNS runs, page cache warm"
echo
echo "| measurement | command | time (s) | knap ÷ this (time) |"
echo "|---|---|---:|---:|"
printf '| knap verify | `knap --root ROOT verify` | %.4f | 1.00 |\n' "$t_knap"
printf '| knap verify --json | `knap --root ROOT verify --json` | %.4f | %s |\n' "$t_knap_json" "$(ratio "$t_knap" "$t_knap_json")"
printf '| sha256sum -c | `cd ROOT/aws && sha256sum -c --quiet MANIFEST` | %.4f | %s |\n' "$t_sha" "$(ratio "$t_knap" "$t_sha")"
if [[ -n $have_taskset ]]; then
    printf '| knap verify, one CPU | `taskset -c 0 knap --root ROOT verify` | %.4f | (%s vs one-CPU sha256sum) |\n' "$t_knap_1" "$(ratio "$t_knap_1" "$t_sha_1")"
    printf '| sha256sum -c, one CPU | `taskset -c 0 sha256sum -c ...` | %.4f | |\n' "$t_sha_1"
fi
printf '| knap verify, one file changed | (names it: exit 4) | %.4f | (%s vs sha256sum -c on the same tree) |\n' "$t_knap_t" "$(ratio "$t_knap_t" "$t_sha_t")"
printf '| sha256sum -c, one file changed | (exit 1) | %.4f | |\n' "$t_sha_t"
echo
echo "knap verify ÷ sha256sum -c (time): $(ratio "$t_knap" "$t_sha") (goal: <= 1.0)"
