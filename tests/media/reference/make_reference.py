#!/usr/bin/env python3
"""Reference detections for the Rust detector tests, computed with onnxruntime.

Run by hand (never in CI) from the repository root, in a virtualenv with
onnxruntime==1.31.1, opencv-python, numpy (and ultralytics for --check-ultralytics):

    python tests/media/reference/make_reference.py [--check-ultralytics]

Writes one JSON file per model into tests/media/reference/ (deterministic:
no timings in them; the median onnxruntime time per image is printed).  Every box is
x1, y1, x2, y2 normalised to the ORIGINAL image (0..1, divide by the image's
width/height), after the model's reference post-processing; only detections
with score >= 0.3 are kept.  Images are decoded with OpenCV (BGR, converted
to RGB) and resized with cv2.resize INTER_LINEAR; another decoder or resizer
moves pixels by a level or two, so compare with tolerances (a few hundredths
of score, ~0.01 of normalised box), not exactly.

Models and their reference pre/post-processing:

* fire-yolov8-light.onnx (fire-detector's YOLOv8 via ultralytics): ultralytics
  LetterBox to 640x640 (scale = min(640/w, 640/h), new size rounded, centred,
  padding split round(d/2 -/+ 0.1), grey 114), RGB, /255, NCHW float32;
  output [1,6,8400] = cx,cy,w,h (input px), score smoke, score fire;
  candidates with max class score >= 0.3, class = argmax, class-aware greedy
  NMS at IoU 0.5 (fire_detector's YoloDetector calls ultralytics with iou=0.5),
  at most 300; boxes mapped back with ultralytics' scale_boxes (minus pad,
  divided by gain, clipped to the image).  The 5 highest-scoring anchors of the
  raw output are stored too ("top_anchors"), for tensor-level checks.
* centernet-mobilenetv3-coco.onnx: two preprocessings, both RGB raw 0..255
  float32 NHWC [1,512,512,3]: "stretch" (plain resize to 512x512, as the
  `human` library that ships the model does) and "letterbox" (what
  shaobing-vision's Letterbox does: aspect kept, centred with floor(slack/2)
  padding, grey 114).  Output rows x1,y1,x2,y2 (input px), score, class;
  score >= 0.3, then class-agnostic greedy NMS at IoU 0.4 (human's
  tf.image.nonMaxSuppression with its default object.iouThreshold 0.4).
* ssdlite-mobilenetv2-person.onnx: plain resize to 300x300 (as the package's
  api.py does), RGB uint8 NHWC [1,300,300,3]; NMS is inside the graph; rows
  with score >= 0.3 kept; boxes y1,x1,y2,x2 normalised are reordered to
  x1,y1,x2,y2; class id 1 (TF label map) is "person".
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
OUT_DIR = os.path.dirname(os.path.abspath(__file__))
MIN_SCORE = 0.3
THREADS = 2

COCO = [
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
FIRE = ["smoke", "fire"]

DARKNET = ["tests/media/darknet/dog.jpg", "tests/media/darknet/person.jpg",
           "tests/media/darknet/horses.jpg", "tests/media/darknet/kite.jpg"]
# a false positive the model is known for (car tail lights -> "fire") and an image
# with nothing above the threshold
FIRE_IMAGES = ["tests/media/opencv/licenseplate_motion.jpg", "tests/media/darknet/person.jpg"]


def sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def session(path: str) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def timed(sess, feed, runs=20):
    for _ in range(3):
        sess.run(None, feed)
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = sess.run(None, feed)
        t.append((time.perf_counter() - t0) * 1000)
    return out, round(statistics.median(t), 1)


def read_rgb(path: str) -> np.ndarray:
    bgr = cv2.imread(os.path.join(ROOT, path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.maximum(a[0], b[:, 0]); y1 = np.maximum(a[1], b[:, 1])
    x2 = np.minimum(a[2], b[:, 2]); y2 = np.minimum(a[3], b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: np.clip(r[..., 2] - r[..., 0], 0, None) * np.clip(r[..., 3] - r[..., 1], 0, None)
    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


def greedy_nms(boxes: np.ndarray, scores: np.ndarray, thr: float, max_det: int) -> list[int]:
    """Highest score first; drop any later box with IoU > thr (torchvision / tf semantics)."""
    order = list(np.argsort(-scores, kind="stable"))
    keep = []
    while order and len(keep) < max_det:
        i = order.pop(0)
        keep.append(int(i))
        if order:
            rest = np.array(order)
            order = [int(j) for j, v in zip(rest, iou(boxes[i], boxes[rest])) if v <= thr]
    return keep


def det(cls_id, names, score, box, w, h):
    x1, y1, x2, y2 = [float(v) for v in box]
    return {"class_id": int(cls_id), "class": names[int(cls_id)], "score": round(float(score), 4),
            "box": [round(x1 / w, 4), round(y1 / h, 4), round(x2 / w, 4), round(y2 / h, 4)]}


# ---------------------------------------------------------------- YOLO (fire)
def yolo_letterbox(rgb: np.ndarray, size: int = 640):
    h, w = rgb.shape[:2]
    r = min(size / h, size / w)
    nw, nh = int(round(w * r)), int(round(h * r))
    dw, dh = (size - nw) / 2, (size - nh) / 2
    img = rgb if (w, h) == (nw, nh) else cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    x = (img.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
    return np.ascontiguousarray(x), r, (left, top)


def yolo_post(out: np.ndarray, gain: float, w0: int, h0: int, size=640, conf=MIN_SCORE, iou_thr=0.5):
    p = out[0].T  # [8400, 4+C]
    scores = p[:, 4:]
    best = scores.max(1)
    cls = scores.argmax(1)
    m = best >= conf
    xywh, best, cls = p[m, :4], best[m], cls[m]
    xyxy = np.stack([xywh[:, 0] - xywh[:, 2] / 2, xywh[:, 1] - xywh[:, 3] / 2,
                     xywh[:, 0] + xywh[:, 2] / 2, xywh[:, 1] + xywh[:, 3] / 2], 1)
    keep = greedy_nms(xyxy + cls[:, None] * 7680.0, best, iou_thr, 300)  # class-aware
    # ultralytics scale_boxes: pad rounded the same way as in LetterBox
    px = round((size - w0 * gain) / 2 - 0.1)
    py = round((size - h0 * gain) / 2 - 0.1)
    res = []
    for i in keep:
        b = xyxy[i].copy()
        b[[0, 2]] = np.clip((b[[0, 2]] - px) / gain, 0, w0)
        b[[1, 3]] = np.clip((b[[1, 3]] - py) / gain, 0, h0)
        res.append(det(cls[i], FIRE, best[i], b, w0, h0))
    return res


def fire_reference(check_ultralytics: bool) -> dict:
    path = "models/fire-yolov8-light-dyn.onnx"
    sess = session(os.path.join(ROOT, path))
    name_in, name_out = sess.get_inputs()[0].name, sess.get_outputs()[0].name
    images = []
    for img in FIRE_IMAGES:
        rgb = read_rgb(img)
        h0, w0 = rgb.shape[:2]
        x, gain, pad = yolo_letterbox(rgb)
        (out,), ms = timed(sess, {name_in: x})
        p = out[0].T
        top = np.argsort(-p[:, 4:].max(1))[:5]
        entry = {
            "file": img, "sha256": sha256(os.path.join(ROOT, img)), "width": w0, "height": h0,
            "letterbox": {"gain": round(gain, 6), "pad_left": pad[0], "pad_top": pad[1]},
            "detections": yolo_post(out, gain, w0, h0),
            "top_anchors": [{"anchor": int(a), "cxcywh": [round(float(v), 3) for v in p[a, :4]],
                             "scores": [round(float(v), 5) for v in p[a, 4:]]} for a in top],
        }
        if check_ultralytics:
            entry["ultralytics_check"] = ultralytics_check(path, img)
        images.append(entry)
        print(f"fire {img}: {len(entry['detections'])} detections, {ms} ms")
    return {
        "model": "fire-yolov8-light", "file": path, "model_sha256": sha256(os.path.join(ROOT, path)),
        "preprocess": "ultralytics LetterBox 640x640 (centred, pad 114, INTER_LINEAR), RGB, /255, NCHW float32",
        "postprocess": "max class score >= 0.3, class-aware greedy NMS IoU 0.5, max 300, ultralytics scale_boxes + clip",
        "min_score": MIN_SCORE, "nms_iou": 0.5, "class_names": FIRE, "images": images,
    }


def ultralytics_check(model_path: str, img: str) -> list:
    """The same image through ultralytics' own predictor on the same ONNX file."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO
    r = YOLO(os.path.join(ROOT, model_path), task="detect").predict(
        os.path.join(ROOT, img), imgsz=640, conf=MIN_SCORE, iou=0.5, verbose=False, device="cpu")[0]
    h0, w0 = r.orig_shape
    return [det(int(c), FIRE, s, b, w0, h0) for b, s, c in
            zip(r.boxes.xyxy.numpy(), r.boxes.conf.numpy(), r.boxes.cls.numpy())]


# ---------------------------------------------------------------- CenterNet
def centernet_pre(rgb: np.ndarray, mode: str, size: int = 512):
    h, w = rgb.shape[:2]
    if mode == "stretch":
        img = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_LINEAR)
        geo = (size / w, size / h, 0, 0)
    else:
        s = min(size / w, size / h)
        nw, nh = min(max(round(w * s), 1), size), min(max(round(h * s), 1), size)
        px, py = (size - nw) // 2, (size - nh) // 2
        img = np.full((size, size, 3), 114, np.uint8)
        img[py:py + nh, px:px + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
        geo = (s, s, px, py)
    return img.astype(np.float32)[None], geo


def centernet_reference() -> dict:
    path = "models/centernet-mobilenetv3-coco.onnx"
    sess = session(os.path.join(ROOT, path))
    name_in = sess.get_inputs()[0].name
    images = []
    for img in DARKNET:
        rgb = read_rgb(img)
        h0, w0 = rgb.shape[:2]
        entry = {"file": img, "sha256": sha256(os.path.join(ROOT, img)), "width": w0, "height": h0}
        for mode in ("stretch", "letterbox"):
            x, (sx, sy, px, py) = centernet_pre(rgb, mode)
            (out,), ms = timed(sess, {name_in: x})
            rows = out[0][out[0][:, 4] >= MIN_SCORE]
            keep = greedy_nms(rows[:, :4], rows[:, 4], 0.4, 100)  # class-agnostic, as human
            dets = []
            for i in keep:
                x1, y1, x2, y2, s, c = rows[i]
                b = [(x1 - px) / sx, (y1 - py) / sy, (x2 - px) / sx, (y2 - py) / sy]
                dets.append(det(int(c), COCO, s, b, w0, h0))
            entry[mode] = {"detections": dets}
            print(f"centernet {img} {mode}: {len(dets)} detections, {ms} ms")
        images.append(entry)
    return {
        "model": "centernet-mobilenetv3-coco", "file": path, "model_sha256": sha256(os.path.join(ROOT, path)),
        "preprocess": {"stretch": "cv2.resize to 512x512 INTER_LINEAR (as the human library), RGB raw 0..255 float32 NHWC",
                       "letterbox": "shaobing-vision Letterbox: scale min(512/w,512/h), rounded size, pad floor(slack/2), grey 114, RGB raw 0..255 float32 NHWC"},
        "postprocess": "score >= 0.3, class-agnostic greedy NMS IoU 0.4 (human's default), boxes (input px - pad) / scale, not clipped",
        "min_score": MIN_SCORE, "nms_iou": 0.4, "images": images,
    }


# ---------------------------------------------------------------- SSDLite
def ssd_reference() -> dict:
    path = "models/ssdlite-mobilenetv2-person.onnx"
    sess = session(os.path.join(ROOT, path))
    images = []
    for img in DARKNET:
        rgb = read_rgb(img)
        h0, w0 = rgb.shape[:2]
        x = cv2.resize(rgb, (300, 300), interpolation=cv2.INTER_LINEAR)[None]
        (boxes, scores, classes, num), ms = timed(sess, {"image_tensor": x})
        dets = []
        for k in range(int(num[0])):
            if scores[0, k] < MIN_SCORE:
                continue
            y1, x1, y2, x2 = boxes[0, k]
            c = int(classes[0, k]) - 1  # class_offset 1: TF label map id 1 = person
            dets.append({"class_id": c, "class": ["person"][c], "score": round(float(scores[0, k]), 4),
                         "box": [round(float(v), 4) for v in (x1, y1, x2, y2)]})
        images.append({"file": img, "sha256": sha256(os.path.join(ROOT, img)), "width": w0, "height": h0,
                       "detections": dets})
        print(f"ssdlite {img}: {len(dets)} detections, {ms} ms")
    return {
        "model": "ssdlite-mobilenetv2-person", "file": path, "model_sha256": sha256(os.path.join(ROOT, path)),
        "preprocess": "cv2.resize to 300x300 INTER_LINEAR (as the package's api.py), RGB uint8 NHWC",
        "postprocess": "NMS inside the graph; rows with score >= 0.3; y1,x1,y2,x2 reordered to x1,y1,x2,y2; class id - 1",
        "min_score": MIN_SCORE, "images": images,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check-ultralytics", action="store_true",
                    help="also run ultralytics' own predictor on the fire images and store its detections")
    args = ap.parse_args()
    meta = {"onnxruntime": ort.__version__, "opencv": cv2.__version__, "numpy": np.__version__,
            "intra_op_threads": THREADS}
    for name, fn in (("fire-yolov8-light", lambda: fire_reference(args.check_ultralytics)),
                     ("centernet-mobilenetv3-coco", centernet_reference),
                     ("ssdlite-mobilenetv2-person", ssd_reference)):
        ref = {**fn(), "generated_with": meta}
        with open(os.path.join(OUT_DIR, f"{name}.json"), "w") as f:
            json.dump(ref, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
