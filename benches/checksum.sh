#!/usr/bin/env bash
# Benchmark of `knap-index checksum` (the pack tree digest) against the tools
# a user would otherwise reach for, measured in the same run on the same bytes.
#
# Usage: benches/checksum.sh
#
# Environment:
#   KNAP_INDEX   path to a knap-index binary (default: build it with
#                `cargo build --release -p knap-index`, honouring CARGO_TARGET_DIR)
#   BENCH_MIB    size of the generated pack tree in MiB (default 512)
#   BENCH_RUNS   timed runs per measurement; the best is reported (default 3)
#
# The pack tree lives in a temporary directory under /dev/shm (tmpfs, so the
# disk plays no part; $TMPDIR if /dev/shm is absent) and is removed on exit.
# Its content is deterministic (AES-CTR keystream with fixed keys), so the
# printed knap checksum is the same on every machine for a given BENCH_MIB.
# Nothing here asserts on timings: the script only reports.
set -euo pipefail

BENCH_MIB=${BENCH_MIB:-512}
BENCH_RUNS=${BENCH_RUNS:-3}
case $BENCH_MIB in '' | *[!0-9]* | 0) echo "BENCH_MIB must be a positive integer" >&2; exit 2 ;; esac
case $BENCH_RUNS in '' | *[!0-9]* | 0) echo "BENCH_RUNS must be a positive integer" >&2; exit 2 ;; esac
for tool in openssl sha256sum find sort xargs dd awk; do
    command -v "$tool" >/dev/null || { echo "needs $tool on PATH" >&2; exit 2; }
done

# shellcheck source=benches/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# --- 1. the binary ---------------------------------------------------------
knap=$(release_bin knap-index knap-index "${KNAP_INDEX:-}")

# --- 2. the pack tree ------------------------------------------------------
base=$(tmpfs_base)
work=$(mktemp -d "$base/knap-bench-checksum.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
trap 'exit 130' INT TERM
pack=$work/pack
mkdir -p "$pack"

MiB=1048576
# Deterministic bytes: AES-128-CTR keystream of zeros; key chosen per stream.
keystream() { # keystream KEY_INDEX BYTES > out
    head -c "$2" /dev/zero |
        openssl enc -aes-128-ctr -nosalt -K "$(printf '%032x' "$1")" -iv 00000000000000000000000000000000
}
# A small LCG so file sizes and offsets do not depend on bash's $RANDOM.
lcg=20261121
next_rand() { lcg=$(((lcg * 1103515245 + 12345) % 2147483648)); }

cat >"$pack/pack.yaml" <<'EOF'
ref: bench
version: "1.0.0"
author: bench
EOF

# Mix: half the bytes in 64 MiB files, half of the rest in 1 MiB files, the
# remainder in 4-64 KiB files across nested directories (512 MiB: 4 x 64 MiB,
# 128 x 1 MiB, ~3,900 small files).
big_n=$((BENCH_MIB / 2 / 64))
rest=$((BENCH_MIB - big_n * 64))
mid_n=$((rest / 2))
small_bytes=$(((rest - mid_n) * MiB))

echo "generating a ${BENCH_MIB} MiB pack tree in $pack..." >&2
mkdir -p "$pack/assets" "$pack/data"
for ((i = 0; i < big_n; i++)); do
    keystream $((i + 1)) $((64 * MiB)) >"$pack/assets/blob-$i.bin"
done
pool=$work/pool.bin # slices of this make the 1 MiB and small files
pool_bytes=$((64 * MiB))
keystream 1000 "$pool_bytes" >"$pool"
for ((i = 0; i < mid_n; i++)); do
    next_rand
    dd if="$pool" of="$pack/data/chunk-$(printf '%04d' "$i").dat" bs="$MiB" count=1 \
        skip=$((lcg % (pool_bytes - MiB))) iflag=skip_bytes status=none
done
small_n=0
left=$small_bytes
while ((left > 0)); do
    next_rand
    size=$((4096 + lcg % (61 * 1024)))
    ((size > left)) && size=$left
    dir=$pack/src/mod$((small_n % 16))/part$((small_n / 16 % 8))
    [[ -d $dir ]] || mkdir -p "$dir"
    next_rand
    dd if="$pool" of="$dir/file-$(printf '%05d' "$small_n").txt" bs="$size" count=1 \
        skip=$((lcg % (pool_bytes - size))) iflag=skip_bytes status=none
    left=$((left - size))
    small_n=$((small_n + 1))
done
rm -f "$pool"

files_sorted() { find "$pack" -type f -print0 | LC_ALL=C sort -z; }
total_files=$(find "$pack" -type f | wc -l)
total_bytes=$(files_sorted | xargs -0 cat | wc -c)
# The pure-hash baseline: every file's bytes, in digest order, in one file.
concat=$work/concat.bin
files_sorted | xargs -0 cat >"$concat"

# --- 3. measurements -------------------------------------------------------
run_knap() { "$knap" checksum "$pack" >/dev/null; }
run_openssl_stream() { files_sorted | xargs -0 cat | openssl dgst -sha256 >/dev/null; }
run_openssl_file() { openssl dgst -sha256 "$concat" >/dev/null; }
run_sha256sum_files() { files_sorted | xargs -0 sha256sum >/dev/null; }
run_sha256sum_file() { sha256sum "$concat" >/dev/null; }

now() { date +%s.%N; }
best_of() { # best_of FUNCTION -> best wall seconds over BENCH_RUNS runs
    local best='' t0 t1 i
    for ((i = 0; i < BENCH_RUNS; i++)); do
        t0=$(now)
        "$1"
        t1=$(now)
        best=$(awk -v a="$t0" -v b="$t1" -v best="$best" \
            'BEGIN { d = b - a; if (best == "" || d < best) best = d; printf "%.6f", best }')
    done
    echo "$best"
}

# Warm-up (untimed): read everything once, and check the digest works.
files_sorted | xargs -0 cat >/dev/null
cat "$concat" >/dev/null
knap_json=$("$knap" checksum --json "$pack")
knap_sum=$("$knap" checksum "$pack")

echo "timing, best of $BENCH_RUNS..." >&2
t_knap=$(best_of run_knap)
t_ossl_stream=$(best_of run_openssl_stream)
t_ossl_file=$(best_of run_openssl_file)
t_sha_files=$(best_of run_sha256sum_files)
t_sha_file=$(best_of run_sha256sum_file)

# --- report ----------------------------------------------------------------
mibs() { awk -v b="$total_bytes" -v t="$1" 'BEGIN { printf "%.0f", b / 1048576 / t }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; } # throughput ratio = time_b / time_a
cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
if grep -qw sha_ni /proc/cpuinfo 2>/dev/null; then sha_ni=yes; else sha_ni=no; fi

echo
echo "- openssl: $(openssl version)"
echo "- sha256sum: $(sha256sum --version | head -n 1)"
echo "- nproc: $(nproc)"
echo "- CPU: ${cpu_model:-unknown}; sha_ni: $sha_ni"
echo "- tree: $total_files files, $total_bytes bytes ($BENCH_MIB MiB of content + pack.yaml; $big_n x 64 MiB, $mid_n x 1 MiB, $small_n x 4-64 KiB) in $base (tmpfs: $([[ $base == /dev/shm ]] && echo yes || echo no))"
echo "- knap: $knap_sum"
echo "- knap --json: $knap_json"
echo "- best of $BENCH_RUNS runs, page cache warm"
echo
echo "| measurement | command | time (s) | MiB/s | knap ÷ this |"
echo "|---|---|---:|---:|---:|"
row() { # pipes inside a table cell are escaped, even in code spans (GFM)
    printf '| %s | `%s` | %.3f | %s | %s |\n' "$1" "${2//|/\\|}" "$3" "$(mibs "$3")" "$(ratio "$t_knap" "$3")"
}
row "knap-index checksum" 'knap-index checksum DIR' "$t_knap"
row "openssl, one stream of the files" 'find DIR -type f -print0 | sort -z | xargs -0 cat | openssl dgst -sha256' "$t_ossl_stream"
row "openssl, one pre-concatenated file" 'openssl dgst -sha256 FILE' "$t_ossl_file"
row "sha256sum, per file" 'find DIR -type f -print0 | sort -z | xargs -0 sha256sum' "$t_sha_files"
row "sha256sum, one pre-concatenated file" 'sha256sum FILE' "$t_sha_file"
echo
echo "knap ÷ openssl (stream): $(ratio "$t_knap" "$t_ossl_stream"); knap ÷ openssl (one file): $(ratio "$t_knap" "$t_ossl_file"); knap ÷ sha256sum (per file): $(ratio "$t_knap" "$t_sha_files")"
echo "(throughput ratios: above 1 means knap is faster; the issue's goal is at least 0.8 against openssl)"
