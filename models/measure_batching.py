#!/usr/bin/env python3
"""Measure batching on CenterNet: the time per image when one run takes several cameras' frames.

Why
---
Cameras connected together send their key frames together, so the inference pool often has
several frames waiting; one run over all of them is worth having only if it is cheaper per image
than one run each. The shipped graph is fixed at batch 1, so this frees the batch dimension of
the heads file shaobing runs (``centernet-mobilenetv3-coco-heads.onnx``; nothing in it is tied to
the batch), checks that a batch gives what single runs give, and times both.

What it prints
--------------
Per batch size, the median time per image over interleaved runs on one intra-op thread (the
daemon's layout: one thread per inference worker) on real vtest.avi frames at 512x512, and the
speed-up against batch 1 in the same process.

Run by ``measure_batching.sh``; never in CI. Nothing it writes is committed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
HEADS = os.path.join(HERE, "centernet-mobilenetv3-coco-heads.onnx")
VIDEO = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


def free_batch(src: str, out: str) -> None:
    import onnx

    model = onnx.load(src)
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    del model.graph.value_info[:]
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, out)


def frames(n: int) -> np.ndarray:
    import cv2

    cap, out, i = cv2.VideoCapture(VIDEO), [], 0
    while len(out) < n:
        ok, frame = cap.read()
        if not ok:
            break
        if i % 50 == 0:
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            out.append(cv2.resize(rgb, (512, 512)).astype(np.float32))
        i += 1
    return np.stack(out)


def session(path: str):
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.intra_op_num_threads, o.inter_op_num_threads = 1, 1
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", required=True, help="a directory for the batch-free file")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--batches", default="1,2,4,8")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    os.makedirs(args.work, exist_ok=True)
    free = os.path.join(args.work, "centernet-heads-batch-n.onnx")
    free_batch(HEADS, free)
    s = session(free)
    x = frames(max(batches))
    together = s.run(None, {"images": x})
    alone = [s.run(None, {"images": x[i:i + 1]}) for i in range(len(x))]
    diff = max(float(np.abs(together[k][i] - alone[i][k][0]).max()) for i in range(len(x)) for k in range(2))
    print(f"{len(x)} vtest frames at 512x512, one intra-op thread; batch against single runs: max |diff| {diff:.2e}")
    for b in batches:
        s.run(None, {"images": x[:b]})
    spent = {b: [] for b in batches}
    for _ in range(args.runs):
        for b in batches:
            t = time.perf_counter()
            s.run(None, {"images": x[:b]})
            spent[b].append((time.perf_counter() - t) / b)
    base = float(np.median(spent[batches[0]]))
    print(f"{'batch':>5} {'ms/image':>9} {'per image against batch 1':>26}")
    for b in batches:
        m = float(np.median(spent[b]))
        print(f"{b:5} {1000 * m:9.2f} {base / m:25.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
