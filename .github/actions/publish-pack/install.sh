#!/usr/bin/env bash
# Puts knap-index on the PATH for the publish-pack action.
#
# Environment:
#   INSTALL       source: `cargo install` from the action's own checkout (the
#                 knap source at the ref the action was used at); release: the
#                 prebuilt binary of release KNAP_VERSION, checked against the
#                 release's SHA256SUMS; none: knap-index is already on the PATH
#   KNAP_VERSION  the release tag for INSTALL=release (e.g. v0.2.0)
#   KNAP_REPOSITORY  owner/name of the knap repository (releases)
#   GITHUB_ACTION_PATH, RUNNER_TEMP, GITHUB_PATH: set by the runner
set -euo pipefail

dest="${RUNNER_TEMP:?}/knap-index"
case "${INSTALL:-source}" in
  none)
    command -v knap-index >/dev/null || {
      echo "::error::install: none, but knap-index is not on the PATH" >&2
      exit 1
    }
    ;;
  source)
    src="${GITHUB_ACTION_PATH:?}/../../../index-tools"
    cargo install --locked --quiet --path "$src" --root "$dest"
    echo "$dest/bin" >>"$GITHUB_PATH"
    ;;
  release)
    tag=${KNAP_VERSION:?install: release needs knap-version, a release tag such as v0.2.0}
    case "$(uname -s)-$(uname -m)" in
      Linux-x86_64) target=x86_64-unknown-linux-musl ;;
      Linux-aarch64 | Linux-arm64) target=aarch64-unknown-linux-musl ;;
      Darwin-x86_64) target=x86_64-apple-darwin ;;
      Darwin-arm64) target=aarch64-apple-darwin ;;
      *)
        echo "::error::no knap release binary for $(uname -s) $(uname -m); use install: source" >&2
        exit 1
        ;;
    esac
    name="knap-$tag-$target"
    url="https://github.com/${KNAP_REPOSITORY:-knap-registry/knap}/releases/download/$tag"
    mkdir -p "$dest/bin"
    cd "$dest"
    curl -fsSL --retry 3 -o "$name.tar.gz" "$url/$name.tar.gz"
    curl -fsSL --retry 3 -o SHA256SUMS "$url/SHA256SUMS"
    if command -v sha256sum >/dev/null; then sum=(sha256sum); else sum=(shasum -a 256); fi
    grep " $name.tar.gz\$" SHA256SUMS | "${sum[@]}" -c -
    tar -xzf "$name.tar.gz"
    mv "$name/knap-index" bin/
    echo "$dest/bin" >>"$GITHUB_PATH"
    ;;
  *)
    echo "::error::install must be source, release or none, not \`$INSTALL\`" >&2
    exit 2
    ;;
esac
