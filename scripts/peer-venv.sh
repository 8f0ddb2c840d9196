#!/usr/bin/env bash
# The peer's Python (crates/shaobing-bench/peer/): a venv at .local/peer-venv with its packages
# from PyPI, pinned. Idempotent; `shaobing-bench cameras` calls it before its peer trials.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.local/peer-venv"
pins=(onnxruntime==1.31.1 opencv-python-headless==5.1.0.95 numpy==2.4.6)
stamp="$venv/.pins"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${pins[*]}" ]; then
  exit 0
fi
echo "peer-venv: installing ${pins[*]} into $venv" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}"
echo "${pins[*]}" > "$stamp"
