#!/usr/bin/env bash
# Rebuild models/fire-yolov8-light.onnx (batch 1) and models/fire-yolov8-light-dyn.onnx
# (dynamic batch) from PyPI fire-detector==1.0.3, by hand.  Never run in CI.
#
# The weights are AGPL-3.0 (an ultralytics checkpoint): see LICENSE.fire-detector.
#
#   1. creates/updates a virtualenv OUTSIDE the repo ($VENV, default /work/venv-models)
#      with the exact versions below (python 3.11).  torch from PyPI is the CUDA
#      build (PyPI has no CPU-only torch wheel for Linux x86_64): ~6 GB installed,
#      but the export runs on the CPU;
#   2. `pip download`s fire-detector==1.0.3 (no deps) into a temp dir, checks the
#      wheel's sha256 and that of fire_detector/models/light_yolov8_flame.pt;
#   3. runs convert_fire_yolov8.py (ultralytics export, imgsz 640, onnxslim,
#      default opset 18; fixed batch 1, then dynamic batch);
#   4. prints the sha256 of both files, to compare with manifest.toml.
# Running it twice gives the same bytes (checked).
#
# Usage: bash models/convert_fire_yolov8.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VENV:-/work/venv-models}"
PY="${PYTHON:-python3}"
WHEEL=fire_detector-1.0.3-py3-none-any.whl
WHEEL_SHA=b0cbb62f8224f78acceb7e3ec0e32178479ea9367ef7526d1c05ff620673e8b1
PT=fire_detector/models/light_yolov8_flame.pt
PT_SHA=2185fb9bc19a1cb641f993fff4f4368ac2c90b645d7a17ba2af8ebdc95878354
OUT="$HERE/fire-yolov8-light.onnx"
OUT_DYN="$HERE/fire-yolov8-light-dyn.onnx"

"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { echo "need python 3.11 (set PYTHON=...)" >&2; exit 1; }

# Full pin set (pip freeze of the environment the committed files were made in).
PINS="$(mktemp)"
cat >"$PINS" <<'PINS_EOF'
anyio==4.16.0
certifi==2026.10.19.post1
charset-normalizer==3.5.3
colorama==0.4.6
contourpy==1.3.3
cuda-bindings==13.5.0
cuda-pathfinder==1.9.1
cuda-toolkit==13.2.2
cycler==0.12.1
filelock==4.3.1
flatbuffers==25.12.19
fonttools==4.68.0
fsspec==2026.9.0
h11==0.16.0
httpcore==1.0.9
httpx==0.28.1
idna==3.20
Jinja2==3.1.6
kiwisolver==1.5.1
MarkupSafe==3.0.4
matplotlib==3.11.2
ml_dtypes==0.6.0
mpmath==1.3.0
networkx==3.6.1
numpy==2.4.6
nvidia-cublas==13.4.1.3
nvidia-cuda-cccl==13.3.5.0.6
nvidia-cuda-cupti==13.2.86
nvidia-cuda-nvrtc==13.2.86
nvidia-cuda-runtime==13.2.86
nvidia-cudnn-cu13==9.26.0.51
nvidia-cufft==12.2.0.57
nvidia-cufile==1.17.1.22
nvidia-cusolver==12.2.0.11
nvidia-cusparse==12.7.10.12
nvidia-cusparselt-cu13==0.8.1
nvidia-ml-py==13.615.71
nvidia-nccl-cu13==2.30.7
nvidia-nvjitlink==13.5.37
nvidia-nvshmem-cu13==3.7.2
nvidia-nvtx==13.2.86
onnx==1.23.2
onnxruntime==1.31.1
onnxslim==0.1.98
opencv-python==5.0.0.93
packaging==26.4
pillow==13.0.0
polars==2.1.0
polars-runtime-32==2.1.0
protobuf==7.36.2
psutil==7.2.2
pyparsing==3.3.3
python-dateutil==4.0.0
PyYAML==6.0.4
requests==2.34.2
sympy==1.14.0
torch==2.15.0
torchvision==0.29.2
triton==3.9.0
typing_extensions==4.16.0
tzdata==2026.6
ultralytics==8.4.190
ultralytics-platform==0.1.99
ultralytics-thop==2.2.3
urllib3==2.8.0
PINS_EOF
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$PINS"
rm -f "$PINS"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps -d "$WORK" fire-detector==1.0.3
echo "$WHEEL_SHA  $WORK/$WHEEL" | sha256sum -c --quiet
"$VENV/bin/python" -m zipfile -e "$WORK/$WHEEL" "$WORK/src"
echo "$PT_SHA  $WORK/src/$PT" | sha256sum -c --quiet

"$VENV/bin/python" "$HERE/convert_fire_yolov8.py" --pt "$WORK/src/$PT" \
  --modules "$WORK/src/fire_detector/modules.py" --out "$OUT" --out-dyn "$OUT_DYN"

sha256sum "$OUT" "$OUT_DYN"
