#!/usr/bin/env bash
# Benchmark of pack environments (`knap env build`) against the same
# installer run by hand on the same requirements, in the same run (see
# docs/performance.md, section "Pack environments"):
#
#   1. cold build, Python with uv:   knap env build   vs  uv venv + uv pip install -r
#   2. cold build, Python with pip:  knap env build   vs  python3 -m venv + pip install -r
#   3. cold build, Node.js:          knap env build   vs  npm install --omit=dev
#   4. a re-build with nothing changed: time, and requests to the index
#   5. ten packs' environments (uv; each its own tenth of the wheels),
#      --jobs 10 vs --jobs 1
#
# "Cold": an empty environments directory and empty installer caches, for
# knap and for the hand-run installer alike. The packages are served from
# tmpfs by one `python3 -m http.server` on 127.0.0.1 (its log counts the
# requests): a PEP 503 simple index of BENCH_WHEELS pure-Python wheels
# written by this script, and an npm registry of BENCH_NPM tarballs made by
# `npm pack`.
#
# Usage: benches/envs.sh
#
# Environment:
#   KNAP          a knap binary (default: `cargo build --release -p knap`,
#                 honouring CARGO_TARGET_DIR)
#   UV            a uv binary (default: uv on PATH)
#   BENCH_WHEELS  wheels in the Python requirements (default 40)
#   BENCH_NPM     packages in the package.json (default 40)
#   BENCH_RUNS    timed runs per measurement; the best is reported (default 3)
#   BENCH_PIP_PARALLEL  set: also ten packs with pip (minutes on two cores)
#   BENCH_LATENCY_MS    delay of every answer of the server, as on a real
#                 network (default 0)
#   BENCH_KEEP    set: keep the work directory
#
# Nothing here asserts on timings: the script only reports.
set -euo pipefail

BENCH_WHEELS=${BENCH_WHEELS:-40}
BENCH_NPM=${BENCH_NPM:-40}
BENCH_RUNS=${BENCH_RUNS:-3}
for tool in python3 npm node; do
    command -v "$tool" >/dev/null || { echo "needs $tool on PATH" >&2; exit 2; }
done
uv=${UV:-$(command -v uv || true)}
[[ -x $uv ]] || { echo "needs uv (on PATH or UV=...); pip install uv" >&2; exit 2; }
# shellcheck source=benches/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# --- the binary ----------------------------------------------------------
knap=$(release_bin knap knap "${KNAP:-}")

base=$(tmpfs_base)
work=$(mktemp -d "$base/knap-bench-envs.XXXXXX")
server_pid=
cleanup() {
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null
    if [[ -n ${BENCH_KEEP:-} ]]; then echo "kept $work" >&2; else rm -rf -- "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the index, the registry, the server ----------------------------------
www=$work/www
mkdir -p "$www/simple" "$www/files" "$work/npmsrc"
python3 - "$www" "$BENCH_WHEELS" <<'PY'
import base64, hashlib, os, sys, zipfile
www, n = sys.argv[1], int(sys.argv[2])
def b64(d): return base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode()
names = []
for i in range(n):
    name, ver = f"benchpkg{i}", "1.0.0"
    dist = f"{name}-{ver}.dist-info"
    files = {f"{name}/__init__.py": (f"VERSION = {ver!r}\n" + "# padding\n" * 200).encode(),
             f"{name}/util.py": ("def f(x):\n    return x\n" * 100).encode(),
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {ver}\n".encode(),
             f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{p},sha256={b64(b)},{len(b)}\n" for p, b in files.items()) + f"{dist}/RECORD,,\n"
    whl = f"{name}-{ver}-py3-none-any.whl"
    path = os.path.join(www, "files", whl)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for p, b in files.items(): z.writestr(p, b)
        z.writestr(f"{dist}/RECORD", record)
    sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    os.makedirs(os.path.join(www, "simple", name), exist_ok=True)
    open(os.path.join(www, "simple", name, "index.html"), "w").write(
        f'<!DOCTYPE html><html><body><a href="/files/{whl}#sha256={sha}">{whl}</a></body></html>\n')
    names.append(name)
open(os.path.join(www, "simple", "index.html"), "w").write(
    "<!DOCTYPE html><html><body>" + "".join(f'<a href="/simple/{n}/">{n}</a>' for n in names) + "</body></html>\n")
open(os.path.join(www, "requirements.txt"), "w").write("".join(f"{n}\n" for n in names))
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
deps=
for ((i = 0; i < BENCH_NPM; i++)); do
    d=$work/npmsrc/benchnpm$i
    mkdir -p "$d"
    printf '{"name":"benchnpm%d","version":"1.0.0","main":"index.js"}\n' "$i" >"$d/package.json"
    printf 'module.exports = %d;\n' "$i" >"$d/index.js"
    (cd "$d" && npm pack --silent --pack-destination "$www/files" --cache "$work/npmcache-pack" >/dev/null)
    integrity=sha512-$(openssl dgst -sha512 -binary "$www/files/benchnpm$i-1.0.0.tgz" | base64 -w0)
    printf '{"name":"benchnpm%d","dist-tags":{"latest":"1.0.0"},"versions":{"1.0.0":{"name":"benchnpm%d","version":"1.0.0","main":"index.js","dist":{"tarball":"%s/files/benchnpm%d-1.0.0.tgz","integrity":"%s"}}}}\n' \
        "$i" "$i" "$url" "$i" "$integrity" >"$www/benchnpm$i"
    deps+="${deps:+,}\"benchnpm$i\":\"^1.0.0\""
done
# http.server's listen backlog (5) makes many parallel installers wait for
# SYN retries: a threading server with a deep backlog instead.
(cd "$www" && exec python3 -c '
import http.server, sys
import time
class S(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
class H(http.server.SimpleHTTPRequestHandler):
    def send_head(self):
        time.sleep(int(sys.argv[2]) / 1000)
        return super().send_head()
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "$port" "${BENCH_LATENCY_MS:-0}" >"$work/server.log" 2>&1) &
server_pid=$!
for _ in $(seq 50); do curl -fs "$url/simple/" >/dev/null 2>&1 && break; sleep 0.1; done
requests() { grep -c '"GET ' "$work/server.log" || true; }

# --- the packs and the root -----------------------------------------------
src=$work/src
mk_pack() { # mk_pack REF python|node
    mkdir -p "$src/$1"
    printf 'ref: %s\nversion: 1.0.0\n' "$1" >"$src/$1/pack.yaml"
    case $2 in
    python) cp "$www/requirements.txt" "$src/$1/" ;;
    node) printf '{"name":"%s","version":"1.0.0","dependencies":{%s}}\n' "$1" "$deps" >"$src/$1/package.json" ;;
    esac
}
export HOME=$work/home KNAP_CONFIG=$work/config.toml KNAP_CACHE_DIR=$work/knapcache
export PIP_INDEX_URL=$url/simple/ UV_INDEX_URL=$url/simple/ npm_config_registry=$url/
export PIP_CACHE_DIR=$work/cache/pip UV_CACHE_DIR=$work/cache/uv npm_config_cache=$work/cache/npm
export PIP_DISABLE_PIP_VERSION_CHECK=1 npm_config_update_notifier=false npm_config_audit=false npm_config_fund=false
unset PIP_FIND_LINKS PIP_NO_INDEX UV_FIND_LINKS
mkdir -p "$HOME"
root=$work/root
uvdir=$(dirname "$uv")
path_uv=$uvdir:$PATH
path_no_uv=$(tr ':' '\n' <<<"$PATH" | while read -r d; do [[ -x $d/uv ]] || printf '%s:' "$d"; done)
path_no_uv=${path_no_uv%:}
for p in pyuv pypip nodepack; do :; done
mk_pack pyuv python; mk_pack pypip python; mk_pack nodepack node
# Ten packs with requirements of their own (a tenth of the wheels each), as
# different packs have: none of them finds another's downloads in the cache.
for i in $(seq 0 9); do
    mk_pack par$i none
    for ((j = i; j < BENCH_WHEELS; j += 10)); do echo "benchpkg$j"; done >"$src/par$i/requirements.txt"
done
for p in pyuv pypip nodepack $(seq -f 'par%g' 0 9); do "$knap" --root "$root" -q install --no-envs "$src/$p" >/dev/null; done

now() { date +%s.%N; }
once() { # once CMD...: the wall time of CMD
    local t0 t1
    t0=$(now); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; t1=$(now)
    python3 -c "print(float('$t1') - float('$t0'))"
}
min() { python3 -c "print(min(float('$1'), float('$2')) if '$2' else float('$1'))"; }
a= b=
pair() { # pair PREP 'CMD A' 'CMD B': best of BENCH_RUNS each, A and B alternating
    a= b=
    for ((r = 0; r < BENCH_RUNS; r++)); do
        eval "$1"; a=$(min "$(eval "once $2")" "$a")
        eval "$1"; b=$(min "$(eval "once $3")" "$b")
    done
}
cold='rm -rf "$work/cache" "$root/.envs" "$work/hand"; mkdir -p "$work/hand"'
ratio() { python3 -c "print(f'{float(\"$1\") / float(\"$2\"):.2f}')"; }
secs() { python3 -c "print(f'{float(\"$1\"):.2f} s')"; }

echo "knap: $knap"; echo "uv: $("$uv" --version)"; echo "pip: $(python3 -m pip --version | cut -d' ' -f1-2)"; echo "npm: $(npm --version)"
echo "requirements: $BENCH_WHEELS wheels; package.json: $BENCH_NPM packages; latency ${BENCH_LATENCY_MS:-0} ms; best of $BENCH_RUNS"
echo

# 1. uv
pair "$cold" 'env PATH="$path_uv" "$knap" --root "$root" -q env build pyuv' \
    'env PATH="$path_uv" sh -c "\"$uv\" venv -q \"$work/hand/v\" && \"$uv\" pip install -q --python \"$work/hand/v/bin/python\" -r \"$src/pyuv/requirements.txt\""'
echo "cold build, uv:  knap $(secs "$a")  by hand $(secs "$b")  ratio $(ratio "$a" "$b")"

# 2. pip
pair "$cold" 'env PATH="$path_no_uv" "$knap" --root "$root" -q env build pypip' \
    'env PATH="$path_no_uv" sh -c "python3 -m venv \"$work/hand/v\" && \"$work/hand/v/bin/python\" -m pip install -q -r \"$src/pypip/requirements.txt\""'
echo "cold build, pip: knap $(secs "$a")  by hand $(secs "$b")  ratio $(ratio "$a" "$b")"

# 3. npm
pair "$cold; cp \"\$src/nodepack/package.json\" \"\$work/hand/\"" '"$knap" --root "$root" -q env build nodepack' \
    'npm install --omit=dev --prefix "$work/hand"'
echo "cold build, npm: knap $(secs "$a")  by hand $(secs "$b")  ratio $(ratio "$a" "$b")"

# 4. nothing changed
env PATH="$path_uv" "$knap" --root "$root" -q env build >/dev/null
before=$(requests)
pair ":" 'env PATH="$path_uv" "$knap" --root "$root" -q env build' ':'
echo "re-build, nothing changed (13 environments): $(secs "$a"), $(($(requests) - before)) requests to the index"

# 5. ten packs
pars=$(seq -f 'par%g' 0 9 | tr '\n' ' ')
pair "$cold" 'env PATH="$path_uv" "$knap" --root "$root" -q env build --jobs 1 $pars' \
    'env PATH="$path_uv" "$knap" --root "$root" -q env build --jobs 10 $pars'
echo "ten packs (uv): --jobs 1 $(secs "$a")  --jobs 10 $(secs "$b")  speed-up $(ratio "$a" "$b")x"
if [[ -n ${BENCH_PIP_PARALLEL:-} ]]; then
    pair "$cold" 'env PATH="$path_no_uv" "$knap" --root "$root" -q env build --jobs 1 $pars' \
        'env PATH="$path_no_uv" "$knap" --root "$root" -q env build --jobs 10 $pars'
    echo "ten packs (pip): --jobs 1 $(secs "$a")  --jobs 10 $(secs "$b")  speed-up $(ratio "$a" "$b")x"
fi
