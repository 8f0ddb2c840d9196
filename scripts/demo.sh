#!/usr/bin/env bash
# Sets up what is missing (idempotent), builds in release mode and runs `shaobing demo`:
# the vtest.avi street clip served over a local RTSP server, analysed end to end, with the
# candidate issues printed at the end.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
cargo build --release --locked -p shaobing
exec target/release/shaobing demo "$@"
