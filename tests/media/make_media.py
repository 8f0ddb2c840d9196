#!/usr/bin/env python3
"""Rebuild the test images under tests/media/ from their registry packages.

Run by hand (never in CI), from a virtualenv with Pillow, numpy and
opencv-python(-headless):

    apt-get download darknet gcompris-qt-data   # Debian bookworm packages
    apt-get install opencv-doc                  # or: apt-get download + dpkg-deb -x
    python tests/media/make_media.py --darknet-deb darknet_*.deb \
        --gcompris-deb gcompris-qt-data_*.deb \
        --opencv-data /usr/share/doc/opencv-doc/examples/data

Every output is downscaled (if needed) to at most 640 px on its long side
with Pillow's LANCZOS filter and written as baseline JPEG quality 85 without
metadata.  Crops are (left, top, right, bottom) pixel boxes in the source
image, applied before the downscale.  The sha256 of each output is printed;
tests/media/README.md records them.  Outputs depend on the Pillow/libjpeg
build, so a rebuild may differ by a few bytes: the committed files are the
reference, this script documents how they were made.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import os
import struct
import subprocess
import tarfile
import tempfile
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
LONG_SIDE = 640
QUALITY = 85

# (output, source key, path inside the source, crop box or None)
DARKNET = [
    ("darknet/dog.jpg", "usr/share/darknet/data/dog.jpg", None),
    ("darknet/person.jpg", "usr/share/darknet/data/person.jpg", None),
    ("darknet/horses.jpg", "usr/share/darknet/data/horses.jpg", None),
    ("darknet/kite.jpg", "usr/share/darknet/data/kite.jpg", None),
    # the woman in the blue jacket (SSDLite box x 183-273, y 104-382), with a margin
    ("stall/person_standing.jpg", "usr/share/darknet/data/person.jpg", (178, 92, 288, 395)),
]
GCOMPRIS = [
    # white wooden chair on a plain light-grey background, tight crop
    ("stall/chair.jpg", "categorization.rcc",
     "/gcompris/src/activities/categorization/resource/images/others/chair.webp", (24, 16, 222, 296)),
]
OPENCV = [
    ("stall/street_leuven.jpg", "leuvenA.jpg", None),
    # rear of a silver car, red tail lights, motion blur: the fire model's known
    # false positive (bright red/orange lights score as "fire")
    ("opencv/licenseplate_motion.jpg", "licenseplate_motion.jpg", None),
]
VTEST_BACKGROUND = "stall/street_vtest_background.jpg"


def deb_extract(deb: str, member: str) -> bytes:
    """Extract one file from a .deb without dpkg (ar archive + data.tar.*)."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg-deb", "-x", deb, tmp], check=True)
        with open(os.path.join(tmp, member), "rb") as f:
            return f.read()


def rcc_read(blob: bytes, want: str) -> bytes:
    """One file out of a Qt binary resource (.rcc, format v1-3, zlib or raw)."""
    assert blob[:4] == b"qres"
    ver, tree, data, names = struct.unpack(">IIII", blob[4:20])
    esz = 22 if ver >= 2 else 14

    def name(off):
        (n,) = struct.unpack(">H", blob[names + off:names + off + 2])
        return blob[names + off + 6:names + off + 6 + 2 * n].decode("utf-16-be")

    def walk(i, prefix):
        e = tree + i * esz
        noff, flags = struct.unpack(">IH", blob[e:e + 6])
        nm = name(noff) if i else ""
        if flags & 2:
            cnt, first = struct.unpack(">II", blob[e + 6:e + 14])
            for c in range(cnt):
                r = walk(first + c, prefix + nm + "/")
                if r is not None:
                    return r
            return None
        if prefix + nm != want:
            return None
        (doff,) = struct.unpack(">I", blob[e + 10:e + 14])
        p = data + doff
        (ln,) = struct.unpack(">I", blob[p:p + 4])
        raw = blob[p + 4:p + 4 + ln]
        if flags & 1:
            raw = zlib.decompress(raw[4:])
        elif flags & 4:
            raise SystemExit("zstd-compressed rcc entry: not supported")
        return raw

    r = walk(0, "")
    if r is None:
        raise SystemExit(f"{want} not in rcc")
    return r


def save(img: Image.Image, out: str, crop=None) -> None:
    img = img.convert("RGB")
    if crop:
        img = img.crop(crop)
    if max(img.size) > LONG_SIDE:
        s = LONG_SIDE / max(img.size)
        img = img.resize((round(img.width * s), round(img.height * s)), Image.LANCZOS)
    path = os.path.join(HERE, out)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img.save(path, "JPEG", quality=QUALITY, optimize=True)
    data = open(path, "rb").read()
    assert len(data) <= 200 * 1024, (out, len(data))
    print(f"{hashlib.sha256(data).hexdigest()}  {len(data):7d}  {img.width}x{img.height}  {out}")


def vtest_background(video: str, out: str, every: int = 8) -> None:
    """Per-pixel median of every 8th frame of vtest.avi: the plaza without the
    people walking through it (the static scene of the camera)."""
    import cv2
    cap = cv2.VideoCapture(video)
    frames, i = [], 0
    while True:
        ok, f = cap.read()
        if not ok:
            break
        if i % every == 0:
            frames.append(f)
        i += 1
    cap.release()
    if not frames:
        raise SystemExit(f"cannot decode {video}")
    med = np.median(np.stack(frames), axis=0).astype(np.uint8)
    print(f"vtest.avi: {i} frames, median of {len(frames)}")
    save(Image.fromarray(cv2.cvtColor(med, cv2.COLOR_BGR2RGB)), out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--darknet-deb", required=True)
    ap.add_argument("--gcompris-deb", required=True)
    ap.add_argument("--opencv-data", default="/usr/share/doc/opencv-doc/examples/data")
    args = ap.parse_args()
    for out, member, crop in DARKNET:
        save(Image.open(io.BytesIO(deb_extract(args.darknet_deb, member))), out, crop)
    for out, rcc, member, crop in GCOMPRIS:
        blob = deb_extract(args.gcompris_deb, f"usr/share/gcompris-qt/rcc/{rcc}")
        save(Image.open(io.BytesIO(rcc_read(blob, member))), out, crop)
    for out, name, crop in OPENCV:
        save(Image.open(os.path.join(args.opencv_data, name)), out, crop)
    vtest_background(os.path.join(args.opencv_data, "vtest.avi"), VTEST_BACKGROUND)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
