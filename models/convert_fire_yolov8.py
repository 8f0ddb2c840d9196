#!/usr/bin/env python3
"""Export fire-detector's light_yolov8_flame.pt (YOLOv8, smoke/fire) to ONNX.

Run by convert_fire_yolov8.sh (pinned virtualenv), never in CI.

The checkpoint was trained with a patched ultralytics whose C2f blocks were
replaced by ``FasterNetC2f`` classes defined in the training script, so the
pickle refers to ``__main__.FasterNetC2f`` (and ``FasterNetBlock``,
``PartialConv2d``).  Like the package's own ``fire_detector/__init__.py`` we
load those classes from the package's ``fire_detector/modules.py`` and put
them into ``__main__`` before ultralytics unpickles the model.

Then ``YOLO(pt).export(format="onnx", imgsz=640, simplify=True)`` with a fixed
batch of 1 (``--out``) and, if ``--out-dyn`` is given, ``dynamic=True``
(then only the batch is left symbolic, see ``export``).  Both run on the CPU in
fp32 (the checkpoint's fp16 weights are upcast on load).  ultralytics writes
an export ``date`` into the ONNX metadata; it is replaced by the checkpoint's
own training date so that the file is reproducible.

Finally prints input/output names and shapes and the metadata_props.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile

import __main__

os.environ.setdefault("YOLO_OFFLINE", "1")  # no update checks, no downloads


def inject_modules(modules_py: str) -> None:
    spec = importlib.util.spec_from_file_location("fire_detector_modules", modules_py)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name in ("FasterNetC2f", "FasterNetBlock", "PartialConv2d"):
        setattr(__main__, name, getattr(mod, name))


def export(pt: str, out: str, dynamic: bool, date: str) -> None:
    import onnx
    from ultralytics import YOLO

    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "light_yolov8_flame.pt")
        shutil.copyfile(pt, src)
        model = YOLO(src)
        f = model.export(format="onnx", imgsz=640, batch=1, dynamic=dynamic, simplify=True,
                         nms=False, device="cpu")
        m = onnx.load(f)
    for p in m.metadata_props:
        if p.key == "date":
            p.value = date
    if dynamic:
        # ultralytics' dynamic=True makes batch, height and width symbolic.  Pin
        # height/width back to 640 (and the 8400 anchors that follow from them)
        # so only the batch is free: [batch,3,640,640] -> [batch,6,8400].  Drop
        # the intermediate shape annotations, whose symbolic expressions
        # onnxslim writes differently from run to run (ORT does not need them).
        inp = m.graph.input[0].type.tensor_type.shape.dim
        inp[2].Clear(); inp[2].dim_value = 640
        inp[3].Clear(); inp[3].dim_value = 640
        outd = m.graph.output[0].type.tensor_type.shape.dim
        outd[2].Clear(); outd[2].dim_value = 8400
        del m.graph.value_info[:]
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, out)


def describe(path: str) -> None:
    import onnx
    m = onnx.load(path)

    def dims(vi):
        return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]

    print(f"\n{path}: {os.path.getsize(path)} bytes, opset "
          f"{[(o.domain or 'ai.onnx', o.version) for o in m.opset_import]}, ir {m.ir_version}")
    for vi in m.graph.input:
        print(f"  input  {vi.name} elem_type {vi.type.tensor_type.elem_type} {dims(vi)}")
    for vi in m.graph.output:
        print(f"  output {vi.name} elem_type {vi.type.tensor_type.elem_type} {dims(vi)}")
    for p in m.metadata_props:
        print(f"  metadata {p.key} = {p.value!r}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pt", required=True)
    ap.add_argument("--modules", required=True, help="fire_detector/modules.py from the same wheel")
    ap.add_argument("--out", required=True)
    ap.add_argument("--out-dyn", default="")
    args = ap.parse_args()
    inject_modules(args.modules)
    import torch
    ck = torch.load(args.pt, map_location="cpu", weights_only=False)
    date = ck["date"]
    print(f"checkpoint: ultralytics {ck['version']}, date {date}, licence {ck['license']!r}, "
          f"names {ck['model'].names}")
    del ck
    export(args.pt, args.out, False, date)
    describe(args.out)
    if args.out_dyn:
        export(args.pt, args.out_dyn, True, date)
        describe(args.out_dyn)
    return 0


if __name__ == "__main__":
    sys.exit(main())
