#!/usr/bin/env python3
"""Check centernet-mobilenetv3-coco.onnx against the TFJS original it came from.

Run by hand after convert_centernet.py (convert_centernet.sh does it), never in
CI.  Needs the same virtualenv (tensorflow-cpu, onnxruntime==1.31.1,
opencv-python-headless) and the real test video vtest.avi from Debian's
``opencv-doc`` package.

For each requested frame of the video (counted from 0, as decoded by OpenCV):

1. preprocess in two ways (``--modes``), both BGR -> RGB, INTER_LINEAR,
   float32 with raw 0..255 values, NHWC [1,512,512,3]:
   ``letterbox`` exactly as shaobing-vision's Letterbox does (aspect ratio
   kept, centred, grey 114 padding) and ``stretch`` (plain resize to 512x512,
   as the ``human`` library does);
2. run the TF graph rebuilt from the TFJS files (before conversion) and the
   ONNX model in onnxruntime, and report the max abs difference of the
   [1,100,6] outputs (slot by slot, and after pairing detections, which is
   robust to two near-equal scores swapping slots);
3. print the detections above --min-score (class, score, box in 512-input
   pixels, in frame pixels and normalised to the frame);
4. as a check of the input scaling, also run ONNX on the same input / 255;
5. optionally (--save DIR) draw the boxes on the frame as PNGs.

Finally it times onnxruntime on CPU with --threads intra-op threads.

Usage:
    python verify_centernet.py --src <dir with centernet.json/.bin> \
        --onnx centernet-mobilenetv3-coco.onnx \
        --video /usr/share/doc/opencv-doc/examples/data/vtest.avi --frames 0 100
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

# TensorFlow's oneDNN kernels (on by default on x86) are themselves ~1e-3 off
# plain fp32 on this model's scores; switch them off so the TF reference is the
# exact fp32 graph.  Must be set before tensorflow is imported.
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_centernet as cc  # noqa: E402

# COCO-80 names in the model's 0-based class order (human's src/object/labels.ts).
CLASS_NAMES = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
    "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
    "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
    "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
    "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
    "toothbrush",
]
W = H = 512


def read_frame(video: str, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(video)
    if not cap.isOpened():
        raise SystemExit(f"cannot open {video}")
    frame = None
    for _ in range(index + 1):
        ok, frame = cap.read()
        if not ok:
            raise SystemExit(f"{video} has fewer than {index + 1} frames")
    cap.release()
    return frame


def preprocess(frame_bgr: np.ndarray, mode: str):
    """-> (input [1,512,512,3] f32 0..255 RGB, (scale_x, scale_y, pad_x, pad_y)).

    ``stretch``: plain resize to 512x512, as the human library does.
    ``letterbox``: what shaobing-vision's Letterbox does: keep the aspect ratio
    (scale = min(512/w, 512/h), new size rounded), centre with integer padding
    (floor of half the slack), pad value 114, INTER_LINEAR.
    Model-input box coordinates map back to the frame as (x - pad_x) / scale_x.
    """
    rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
    fh, fw = rgb.shape[:2]
    if mode == "stretch":
        img = cv2.resize(rgb, (W, H), interpolation=cv2.INTER_LINEAR)
        geo = (W / fw, H / fh, 0, 0)
    else:
        scale = min(W / fw, H / fh)
        nw = min(max(round(fw * scale), 1), W)
        nh = min(max(round(fh * scale), 1), H)
        px, py = (W - nw) // 2, (H - nh) // 2
        img = np.full((H, W, 3), 114, np.uint8)
        img[py:py + nh, px:px + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
        geo = (scale, scale, px, py)
    return img.astype(np.float32)[None], geo


def matched_diff(ref: np.ndarray, got: np.ndarray, min_score: float = 0.1):
    """Max box / score difference after pairing each ONNX detection (score >=
    min_score) with the same-class TF detection nearest to it: robust to two
    near-equal scores swapping slots."""
    wb = ws = 0.0
    for g in got[0]:
        if g[4] < min_score:
            continue
        cands = [r for r in ref[0] if r[5] == g[5]]
        r = min(cands, key=lambda r: float(np.max(np.abs(r[:4] - g[:4]))))
        wb = max(wb, float(np.max(np.abs(r[:4] - g[:4]))))
        ws = max(ws, float(abs(r[4] - g[4])))
    return wb, ws


def to_frame(box, geo):
    sx, sy, px, py = geo
    x1, y1, x2, y2 = box
    return ((x1 - px) / sx, (y1 - py) / sy, (x2 - px) / sx, (y2 - py) / sy)


def describe(det: np.ndarray, geo, frame_shape, min_score: float) -> list[str]:
    fh, fw = frame_shape[:2]
    lines = []
    for k, (x1, y1, x2, y2, score, cls) in enumerate(det[0]):
        if score < min_score:
            continue
        c = int(cls)
        assert float(c) == float(cls) and 0 <= c < 80, cls
        f = to_frame((x1, y1, x2, y2), geo)
        lines.append(
            f"    slot {k:2d} {CLASS_NAMES[c]:>12s} (class {c:2d}) score {score:.4f} "
            f"in512 [{x1:6.2f} {y1:6.2f} {x2:6.2f} {y2:6.2f}] "
            f"frame [{f[0]:5.1f} {f[1]:5.1f} {f[2]:5.1f} {f[3]:5.1f}] "
            f"norm [{f[0] / fw:.3f} {f[1] / fh:.3f} {f[2] / fw:.3f} {f[3] / fh:.3f}]")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True, help="directory with centernet.json + centernet.bin")
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--video", default="/usr/share/doc/opencv-doc/examples/data/vtest.avi")
    ap.add_argument("--frames", type=int, nargs="+", default=[0, 100])
    ap.add_argument("--modes", nargs="+", default=["letterbox", "stretch"],
                    choices=["letterbox", "stretch"], help="preprocessing variants to check")
    ap.add_argument("--min-score", type=float, default=0.3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--save", default="", help="directory to write annotated PNGs to")
    args = ap.parse_args()

    print(f"onnxruntime {ort.__version__}, opencv {cv2.__version__}")
    tf_fn = cc.tf_function(cc.build_graph_def(args.src))

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(args.onnx, so, providers=["CPUExecutionProvider"])
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    print(f"input  {inp.name} {inp.type} {inp.shape}")
    print(f"output {out.name} {out.type} {out.shape}")

    worst = 0.0
    x = None
    for fi in args.frames:
        frame = read_frame(args.video, fi)
        for mode in args.modes:
            x, geo = preprocess(frame, mode)
            ref = tf_fn(x)
            got = sess.run([out.name], {inp.name: x})[0]
            diff = float(np.max(np.abs(ref - got)))
            worst = max(worst, diff)
            cls_same = bool(np.array_equal(ref[0, :, 5], got[0, :, 5]))
            mb, ms = matched_diff(ref, got)
            print(f"\nframe {fi} ({frame.shape[1]}x{frame.shape[0]}), {mode} "
                  f"(scale {geo[0]:.4f}x{geo[1]:.4f}, pad {geo[2]},{geo[3]}):")
            print(f"  max|tf-onnx| = {diff:.3g} (boxes {np.max(np.abs(ref[0, :, :4] - got[0, :, :4])):.3g} px, "
                  f"scores {np.max(np.abs(ref[0, :, 4] - got[0, :, 4])):.3g}); class columns identical: {cls_same}; "
                  f"matched (score>=0.1): box {mb:.3g} px, score {ms:.3g}")
            print(f"  scores sorted descending: {bool(np.all(np.diff(got[0, :, 4]) <= 0))}; "
                  f"lowest slot score {got[0, -1, 4]:.4f}; "
                  f"box coords outside [0,512]: {int(np.sum((got[0, :, :4] < 0) | (got[0, :, :4] > W)))}; "
                  f"classes integral: {bool(np.all(got[0, :, 5] == np.round(got[0, :, 5])))}")
            print(f"  onnx detections (score >= {args.min_score}):")
            print("\n".join(describe(got, geo, frame.shape, args.min_score)) or "    (none)")
            scaled = sess.run([out.name], {inp.name: x / 255.0})[0]
            print(f"  [scale check] same input fed as 0..1: top score {scaled[0, 0, 4]:.4f} "
                  f"({CLASS_NAMES[int(scaled[0, 0, 5])]}), "
                  f"{int(np.sum(scaled[0, :, 4] >= args.min_score))} above {args.min_score}")
            if args.save:
                img = frame.copy()
                for x1, y1, x2, y2, sc, c in got[0]:
                    if sc < args.min_score:
                        continue
                    f = [int(v) for v in to_frame((x1, y1, x2, y2), geo)]
                    cv2.rectangle(img, (f[0], f[1]), (f[2], f[3]), (0, 255, 0), 2)
                    cv2.putText(img, f"{CLASS_NAMES[int(c)]} {sc:.2f}", (f[0], max(f[1] - 3, 10)),
                                cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 0), 1)
                os.makedirs(args.save, exist_ok=True)
                cv2.imwrite(os.path.join(args.save, f"vtest_{fi}_{mode}.png"), img)

    for _ in range(3):
        sess.run([out.name], {inp.name: x})
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        sess.run([out.name], {inp.name: x})
        times.append((time.perf_counter() - t0) * 1000)
    print(f"\nonnxruntime CPU, {args.threads} intra-op threads, {args.runs} runs: "
          f"median {statistics.median(times):.1f} ms, mean {statistics.mean(times):.1f} ms, "
          f"min {min(times):.1f} ms")
    print(f"worst max|tf-onnx| over frames: {worst:.3g}")
    return 0 if worst < 1e-2 else 1


if __name__ == "__main__":
    sys.exit(main())
