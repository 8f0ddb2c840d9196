#!/usr/bin/env bash
# By hand, never in CI: cut CenterNet at its heads again from the committed whole graph (and
# check the bytes against the committed heads file), then measure batching on it
# (measure_batching.py). Needs only PyPI wheels, pinned below, in a virtualenv outside the repo
# ($VENV, default /work/.venv-heads), and Debian's opencv-doc for vtest.avi.
#
# Usage: bash models/measure_batching.sh [measure_batching.py options]   (from anywhere)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VENV:-/work/.venv-heads}"
PINS=(onnx==1.22.0 protobuf==5.29.6 numpy==2.1.3 onnxruntime==1.31.1 opencv-python-headless==5.1.0.95)

[ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$VENV/bin/python" "$HERE/centernet_heads.py" --out "$WORK/heads.onnx"
cmp "$WORK/heads.onnx" "$HERE/centernet-mobilenetv3-coco-heads.onnx"
echo "centernet_heads.py made the committed heads file byte for byte"
"$VENV/bin/python" "$HERE/measure_batching.py" --work "$WORK" "$@"
