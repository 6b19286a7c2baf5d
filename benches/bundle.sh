#!/usr/bin/env bash
# Benchmark of `knap install --bundle` (issue 22; docs/performance.md,
# section "Bundles") against what a user would otherwise run on the same
# archives, in the same run: `sha256sum -c` of every archive, then
# `tar -xzf` of each into its own directory; and of `knap mirror`: a first
# run and a re-run with nothing new (which must download no archive).
#
# The bundle holds the example registry's packs of the README's quick start
# (hello, ticketing, notify): they are installed from example-index/ (a
# local registry) into a root, and `knap bundle create`
# writes the bundle; every timed run then installs it into a fresh root
# (knap) or checks and unpacks its archives into a fresh directory (by
# hand). Both read the bundle from tmpfs and write to tmpfs.
#
# Usage: benches/bundle.sh
#
# Environment:
#   KNAP        a knap binary (default: `cargo build --release -p knap`,
#               honouring CARGO_TARGET_DIR)
#   BENCH_RUNS  timed runs of each; the median and the best are reported
#               (default 20)
#   BENCH_KEEP  set: keep the work directory
#
# Nothing here asserts on timings: the script only reports.
set -euo pipefail

BENCH_RUNS=${BENCH_RUNS:-20}
for tool in python3 sha256sum tar; do
    command -v "$tool" >/dev/null || { echo "needs $tool on PATH" >&2; exit 2; }
done
# shellcheck source=benches/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

knap=$(release_bin knap knap "${KNAP:-}")

base=$(tmpfs_base)
work=$(mktemp -d "$base/knap-bench-bundle.XXXXXX")
cleanup() {
    if [[ -n ${BENCH_KEEP:-} ]]; then echo "kept $work" >&2; else rm -rf -- "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export KNAP_CONFIG=$work/config.toml KNAP_CACHE_DIR=$work/cache
cp -R "$repo/example-index" "$work/registry"
"$knap" -q registry add example "$work/registry" >/dev/null
# The README's quick start: hello and ticketing (which brings notify); the
# example's alerts needs notify 2, which ticketing cannot have beside it.
"$knap" -q --root "$work/root" install --no-envs hello ticketing >/dev/null
mapfile -t refs < <(python3 -c '
import json, sys
print("\n".join(sorted(p["ref"] for p in json.load(open(sys.argv[1]))["packs"])))
' "$work/root/knap.lock")
"$knap" -q --root "$work/root" bundle create -o "$work/bundle" >/dev/null
bundle=$work/bundle
# What a user checks by hand: the checksums the bundle's index publishes.
python3 -c '
import json, sys
for p in json.load(open(sys.argv[1]))["packs"]:
    for s in p["install_sources"]:
        print(s["checksum"].split(":", 1)[1] + "  " + s["url"])
' "$bundle/index.json" >"$work/SHA256SUMS"
archives=$(find "$bundle/archives" -type f | wc -l)
bytes=$(du -sb "$bundle/archives" | cut -f1)
# Installing needs no configuration and no registry.
export KNAP_CONFIG=$work/empty.toml

now() { date +%s.%N; }
by_knap() { # by_knap N
    "$knap" -q --root "$work/r-knap-$1" install --bundle "$bundle" --no-envs >/dev/null
}
by_hand() { # by_hand N
    local out=$work/r-hand-$1
    (cd "$bundle" && sha256sum -c --quiet "$work/SHA256SUMS")
    for a in "$bundle"/archives/*; do
        mkdir -p "$out/$(basename "$a")"
        tar -xzf "$a" -C "$out/$(basename "$a")"
    done
}
declare -a t_knap t_hand
for ((i = 0; i < BENCH_RUNS; i++)); do
    s=$(now); by_knap "$i"; e=$(now); t_knap+=("$(echo "$e - $s" | bc)")
    s=$(now); by_hand "$i"; e=$(now); t_hand+=("$(echo "$e - $s" | bc)")
done
stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%.4f %.4f", a[int((NR+1)/2)], a[1]}'; }
read -r mk bk <<<"$(stats "${t_knap[@]}")"
read -r mh bh <<<"$(stats "${t_hand[@]}")"
# The same trees: every pack knap installed matches what tar unpacked.
for r in "${refs[@]}"; do
    d=$(find "$work/r-hand-0" -maxdepth 1 -name "$r-*" | head -n 1)
    diff -r "$work/r-knap-0/$r" "$d" >/dev/null || { echo "trees differ: $r" >&2; exit 1; }
done

# --- knap mirror: a first run and a re-run with nothing new ---------------
# example-index/ served over HTTP by python's http.server (its log counts
# the archive requests); the mirror is written to tmpfs.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$work/registry" && exec python3 -m http.server "$port" --bind 127.0.0.1 >"$work/server.log" 2>&1) &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; cleanup' EXIT
for _ in $(seq 50); do python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/index.json')" 2>/dev/null && break; sleep 0.1; done
archive_gets() { grep -c '"GET /archives/' "$work/server.log" || true; }
export KNAP_CONFIG=$work/mirror-config.toml KNAP_CACHE_DIR=$work/mirror-cache
before=$(archive_gets)
s=$(now); "$knap" -q mirror "http://127.0.0.1:$port/index.json" -o "$work/mirror" >/dev/null; e=$(now)
first=$(echo "$e - $s" | bc); first_gets=$(( $(archive_gets) - before ))
# The archive cache is emptied, so that a kept archive is the mirror's doing.
rm -rf "$work/mirror-cache"
before=$(archive_gets)
s=$(now); "$knap" -q mirror "http://127.0.0.1:$port/index.json" -o "$work/mirror" >/dev/null; e=$(now)
again=$(echo "$e - $s" | bc); again_gets=$(( $(archive_gets) - before ))

echo "knap: $knap"
echo "bundle: ${#refs[@]} packs, $archives archives, $bytes bytes; $BENCH_RUNS runs each"
echo
echo "| measurement | median (s) | best (s) | ratio (medians) |"
echo "|---|---:|---:|---:|"
printf '| knap install --bundle | %s | %s | %.2f x by hand |\n' "$mk" "$bk" "$(echo "scale=4; $mk / $mh" | bc)"
echo "| sha256sum -c + tar -xzf each | $mh | $bh | |"
echo
echo "| knap mirror of example-index over HTTP | time (s) | archive requests |"
echo "|---|---:|---:|"
printf '| first run | %.4f | %s |\n' "$first" "$first_gets"
printf '| re-run, nothing new (archive cache emptied) | %.4f | %s |\n' "$again" "$again_gets"
