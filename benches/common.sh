# shellcheck shell=bash
# What the bench scripts that measure one release binary share, sourced by
# bundle.sh, checksum.sh and envs.sh: `repo`, the project's root, and the
# functions below.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# release_bin PACKAGE BIN GIVEN: prints GIVEN when it is set (a binary the
# caller named, e.g. $KNAP), else the path of BIN built in release from
# PACKAGE; exits 2 when that is not an executable.
release_bin() {
    local package=$1 bin=$2 path=$3
    if [[ -z $path ]]; then
        echo "building $bin (release)..." >&2
        path=$(cd "$repo" && cargo build --release -p "$package" --message-format=json-render-diagnostics \
            | sed -n "s/.*\"executable\":\"\\([^\"]*\\/$bin\\)\".*/\\1/p" | tail -n 1)
        [[ -n $path ]] || path=${CARGO_TARGET_DIR:-$repo/target}/release/$bin
    fi
    [[ -x $path ]] || { echo "not an executable: $path" >&2; exit 2; }
    printf '%s\n' "$path"
}

# tmpfs_base: where the work directory goes: /dev/shm (tmpfs, so the disk
# plays no part), else $TMPDIR or /tmp.
tmpfs_base() {
    if [[ -d /dev/shm && -w /dev/shm ]]; then echo /dev/shm; else echo "${TMPDIR:-/tmp}"; fi
}
