#!/usr/bin/env python3
"""Cut CenterNet's decoding tail off, so that the daemon decodes its two heads itself.

Why
---
The graph converted from the TFJS model ends in the ``human`` library's decoding: a sigmoid over
all 80 x 128 x 128 class logits, three transposes of them, a 3 x 3 max-pool to find the peaks
and a top-100 over 1.3 million scores. On one intra-op thread that tail is about a tenth of an
inference, spent on cells no threshold would keep. ``shaobing-detect`` (``centernet_heads``)
looks only at the logits above the score threshold, and finds the same peaks, scores and boxes
(a test compares the two files' detections).

What it writes
--------------
``centernet-mobilenetv3-coco-heads.onnx``: the same graph up to the two heads, with
``heatmap`` f32[1,80,128,128], the class logits before the sigmoid, and ``boxes``
f32[1,4,128,128], each cell's distances to the box's left, top, right and bottom edges in
input pixels (the graph's own factor of 16 applied). Cell (y, x) is centred at input pixel
(4x, 4y). Byte for byte the same from the same input file and ``onnx`` version.

Run by ``convert_centernet.sh`` after the conversion; by hand:
``python models/centernet_heads.py [--src FULL.onnx] [--out HEADS.onnx]``.
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FULL = os.path.join(HERE, "centernet-mobilenetv3-coco.onnx")
HEADS = os.path.join(HERE, "centernet-mobilenetv3-coco-heads.onnx")


def head_tensors(graph) -> tuple[str, str]:
    """The class logits (a Conv of 80 channels feeding the tail's Sigmoid) and the scaled box
    regression (the Mul by 16 of a Conv of 4 channels), found by structure, not by name."""
    from onnx import numpy_helper

    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    logits = boxes = None
    for n in graph.node:
        src = producer.get(n.input[0]) if n.input else None
        if src is None or src.op_type != "Conv" or src.input[1] not in inits:
            continue
        channels = inits[src.input[1]].shape[0]
        if n.op_type == "Sigmoid" and channels == 80:
            logits = src.output[0]
        if n.op_type == "Mul" and channels == 4 and n.input[1] in inits and float(inits[n.input[1]]) == 16.0:
            boxes = n.output[0]
    if logits is None or boxes is None:
        raise ValueError(f"heads not found (logits {logits}, boxes {boxes}): not the converted CenterNet?")
    return logits, boxes


def cut(src: str, out: str) -> None:
    import onnx
    from onnx import utils

    full = onnx.load(src)
    logits, boxes = head_tensors(full.graph)
    # The extractor finds the heads' shapes among the inferred ones.
    model = utils.Extractor(onnx.shape_inference.infer_shapes(full)).extract_model(["images"], [logits, boxes])
    sys.path.insert(0, HERE)
    from convert_centernet import _rename_value

    _rename_value(model.graph, logits, "heatmap")
    _rename_value(model.graph, boxes, "boxes")
    del model.graph.value_info[:]
    model.graph.name = "centernet-mobilenetv3-coco-heads"
    model.ir_version, model.producer_name = full.ir_version, full.producer_name
    del model.opset_import[:]
    model.opset_import.extend(full.opset_import)
    del model.metadata_props[:]
    model.metadata_props.extend(full.metadata_props)
    model.doc_string = (
        full.doc_string.split(" Input images")[0] + " Cut at its two heads by models/centernet_heads.py: "
        "input images f32[1,512,512,3] NHWC RGB 0..255; outputs heatmap f32[1,80,128,128] (class logits) "
        "and boxes f32[1,4,128,128] (left, top, right, bottom distances in input pixels from cell (y, x) "
        "centred at (4x, 4y))."
    )
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", default=FULL)
    ap.add_argument("--out", default=HEADS)
    args = ap.parse_args(argv)
    cut(args.src, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
