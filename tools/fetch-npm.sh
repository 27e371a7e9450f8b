#!/usr/bin/env bash
# Fetch the npm data packages of requirements-npm.txt into <prefix>/share/alignbook/npm/<name>/,
# each checked against its pinned sha512 integrity before it is unpacked. Usage: fetch-npm.sh <prefix>
set -euo pipefail
prefix=$1
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$prefix/share/alignbook/npm"
mkdir -p "$dest"
grep -v '^#' "$root/requirements-npm.txt" | while read -r name version integrity; do
  [ -n "$name" ] || continue
  if [ -f "$dest/$name/.integrity" ] && [ "$(cat "$dest/$name/.integrity")" = "$integrity" ]; then continue; fi
  tmp=$(mktemp -d)
  command -v npm >/dev/null || { echo "npm is needed to fetch $name@$version (apt install npm)"; exit 1; }
  (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null)
  tarball="$tmp/$name-$version.tgz"
  got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [ "$got" != "$integrity" ]; then echo "$name@$version: integrity $got, expected $integrity"; rm -rf "$tmp"; exit 1; fi
  rm -rf "$dest/$name" && mkdir -p "$dest/$name"
  tar xzf "$tarball" -C "$dest/$name" --strip-components=1
  echo "$integrity" > "$dest/$name/.integrity"
  rm -rf "$tmp"
done
