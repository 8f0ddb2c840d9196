#!/usr/bin/env bash
# Installs what shaobing needs on a fresh Debian 12 machine. Idempotent: when everything is
# already present it only checks and exits within a second or two.
#
# What it installs:
#   - Debian packages: GStreamer 1.22 (+ RTSP server, plugins), OpenCV 4.6 dev files, clang,
#     Mosquitto and PostgreSQL (tests start private instances when none is configured),
#     opencv-doc (ships the vtest.avi street clip used by the demo and the tests), Chromium
#     and its chromedriver (the console's tests load the page in it, headless, and click).
#   - ONNX Runtime 1.31.1, taken from the PyPI wheel `onnxruntime==1.31.1`, into
#     .local/onnxruntime/ inside the checkout (the binary looks there by default).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ort_version="1.31.1"
ort_dir="$root/.local/onnxruntime"
ort_lib="$ort_dir/libonnxruntime.so.$ort_version"

packages=(
  pkg-config clang libclang-dev libopencv-dev opencv-doc
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools
  mosquitto postgresql python3-pip unzip chromium chromium-driver fonts-wqy-zenhei
)

log() { printf 'setup: %s\n' "$*" >&2; }

missing_packages() {
  local p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

install_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  if [ "${#missing[@]}" -eq 0 ]; then
    log "Debian packages: all present"
    return
  fi
  log "Debian packages: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  local aptlog
  aptlog="$(mktemp)"
  # apt's progress is noise in CI logs; it is shown only when something fails.
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$aptlog" 2>&1; then
    cat "$aptlog" >&2
    rm -f "$aptlog"
    log "apt-get failed; see the output above"
    return 1
  fi
  rm -f "$aptlog"
}

install_onnxruntime() {
  if [ -f "$ort_lib" ]; then
    log "ONNX Runtime $ort_version: present at $ort_lib"
    return
  fi
  log "ONNX Runtime $ort_version: fetching the PyPI wheel"
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version 3.11 --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
    -d "$tmp" "onnxruntime==$ort_version"
  local wheel
  wheel="$(ls "$tmp"/onnxruntime-"$ort_version"-*.whl | head -n 1)"
  mkdir -p "$ort_dir"
  unzip -q -o -j "$wheel" "onnxruntime/capi/libonnxruntime.so.$ort_version" -d "$ort_dir"
  # The wheel's licence travels with the library it ships.
  unzip -q -o -j "$wheel" "onnxruntime-$ort_version.dist-info/LICENSE*" -d "$ort_dir" 2>/dev/null || true
  ln -sf "libonnxruntime.so.$ort_version" "$ort_dir/libonnxruntime.so"
  log "ONNX Runtime $ort_version: installed at $ort_lib"
}

install_packages
install_onnxruntime
