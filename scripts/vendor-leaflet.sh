#!/usr/bin/env bash
# Fetches Leaflet from the npm registry, checks the tarball's integrity against the one recorded
# in crates/shaobing-api/static/vendor/README.md, and compares (--check) or replaces the
# vendored files.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="1.9.4"
sha256="84c65a256e50657896f54c33bd857b6849ebe94c817803be818bf32a3dde0b77"
dest="$root/crates/shaobing-api/static/vendor/leaflet"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "leaflet@$version" >/dev/null)
echo "$sha256  $work/leaflet-$version.tgz" | sha256sum -c --quiet
tar -xzf "$work/leaflet-$version.tgz" -C "$work"
for f in dist/leaflet.js dist/leaflet.css LICENSE; do
  if [ "${1:-}" = "--check" ]; then
    cmp "$work/package/$f" "$dest/$(basename "$f")"
  else
    cp "$work/package/$f" "$dest/"
  fi
done
echo "leaflet $version: ${1:-replaced} ok"
