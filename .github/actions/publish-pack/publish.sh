#!/usr/bin/env bash
# The publish-pack action's work: check a pack directory, make its
# reproducible archive, compute its checksums and write its index entry
# `<out-dir>/entries/<ref>/<version>.json`, then set the step outputs.
#
# Environment (the action's inputs):
#   PACK_DIR          the pack directory (holds pack.yaml)
#   OUT_DIR           where the archive and the entry file go (default knap-dist)
#   ARCHIVE_URL_BASE  where the archive will be served: an https:// URL or a
#                     path relative to the index (e.g. `archives`); empty: no
#                     archive source (an archive is still made)
#   GIT_URL, GIT_REF  a git source: the repository and the 40-hex commit whose
#                     root is PACK_DIR; empty GIT_URL: no git source
#   KNAP_INDEX        the knap-index binary (default: knap-index on the PATH)
#   GITHUB_OUTPUT     the step outputs file (default: stdout)
set -euo pipefail

ki=${KNAP_INDEX:-knap-index}
pack_dir=${PACK_DIR:?PACK_DIR is not set: the pack directory to publish}
out_dir=${OUT_DIR:-knap-dist}
base=${ARCHIVE_URL_BASE:-}
git_url=${GIT_URL:-}
git_ref=${GIT_REF:-}
outputs=${GITHUB_OUTPUT:-/dev/stdout}

if [ -z "$base" ] && [ -z "$git_url" ]; then
  echo "::error::publish-pack: no install source; set archive-url-base, git-url or both" >&2
  exit 2
fi

# The manifest is validated and the pack tree digest computed first.
# `checksum --json` prints one line, {"ref":..,"version":..,"checksum":..},
# whose strings need no escapes (a ref, a SemVer version, sha256:<hex>).
info=$("$ki" checksum "$pack_dir" --json)
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" <<<"$info"; }
ref=$(field ref)
version=$(field version)
tree=$(field checksum)
if [ -z "$ref" ] || [ -z "$version" ] || [ -z "$tree" ]; then
  echo "::error::publish-pack: unexpected output of knap-index checksum --json: $info" >&2
  exit 1
fi
echo "$ref $version: tree $tree"

# knap-index pack refuses an output inside the pack directory (the next
# pack would pack it), and out-dir may be inside it (pack-dir `.`). So the
# archive and the entry are made outside, and moved into out-dir only when
# both are made: `entry --archive` compares the archive with the pack
# directory, which must not hold them yet. A failed step leaves nothing.
work=$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/knap-pack.XXXXXX")
trap 'rm -rf "$work"' EXIT
made="$work/$ref-$version.tar.gz"
archive_checksum=$("$ki" pack "$pack_dir" -o "$made")

args=(entry "$pack_dir")
if [ -n "$git_url" ]; then
  args+=(--git-url "$git_url" --git-ref "$git_ref")
fi
if [ -n "$base" ]; then
  args+=(--archive-url "${base%/}/$ref-$version.tar.gz" --archive "$made")
fi
"$ki" "${args[@]}" >"$work/entry.json"

archive="$out_dir/$ref-$version.tar.gz"
entry_file="$out_dir/entries/$ref/$version.json"
mkdir -p "$out_dir/entries/$ref"
mv "$made" "$archive"
mv "$work/entry.json" "$entry_file"
echo "wrote $entry_file"

{
  echo "ref=$ref"
  echo "version=$version"
  echo "checksum=$tree"
  echo "archive=$archive"
  echo "archive-checksum=$archive_checksum"
  echo "entry-file=$entry_file"
} >>"$outputs"
