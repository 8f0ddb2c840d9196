#!/usr/bin/env bash
# Sets up what is missing (idempotent, quick when all is there), then runs the whole test
# suite. CI (.ci/run) calls this same script.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
cargo test --workspace --locked "$@"
# Tests that need root are ignored by default; as root (CI), run them too.
if [ "$(id -u)" -eq 0 ]; then
    cargo test --locked -p shaobing-store --test disk_full -- --ignored
    cargo test --locked -p shaobing-tests --test disk_full -- --ignored
fi
# The Debian package, built around the binary the tests just built (zstd: quick to pack), then
# checked; as root it is also installed, run, upgraded, removed and purged.
cargo build --locked -p shaobing
SHAOBING_DEB_COMPRESSION=zstd scripts/test-package.sh target/debug/shaobing
