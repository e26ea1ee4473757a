#!/usr/bin/env python3
"""Which OpenVINO ops/attributes reproduce the Keras reference outputs of the conv fixtures.

Needs `openvino` (2026.4.1), `h5py` and `numpy` (the project venv `.venv` has them; Keras
is not needed). Reads fixtures/models/*.{keras,inputs.npz,outputs.npz} and prints the max
error of each candidate mapping; docs/semantics/conv.md quotes the results:

    .venv/bin/python docs/semantics/ov_check.py
"""

import io
import json
import os
import zipfile

import h5py
import numpy as np
import openvino as ov
from openvino import opset1 as op1
from openvino import opset11 as op11

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "..", "fixtures", "models")
core = ov.Core()
core.set_property("CPU", {"INFERENCE_PRECISION_HINT": "f32"})


def run(x, build):
    p = op1.parameter(x.shape, np.float32)
    return core.compile_model(ov.Model([build(p)], [p]), "CPU")(x)[0]


def data(name):
    d = lambda k: dict(np.load(os.path.join(MODELS, f"{name}.{k}.npz")))  # noqa: E731
    return d("inputs"), d("outputs")


def weights(name):
    """{layer name: (config, [vars...])} from the .keras archive."""
    with zipfile.ZipFile(os.path.join(MODELS, f"{name}.keras")) as zf:
        cfg = json.loads(zf.read("config.json"))
        h5 = h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r")
    confs = {L["config"]["name"]: L["config"] for L in cfg["config"]["layers"]}
    out = {}
    for g in h5["layers"].values():
        v = g["vars"]
        n = v.attrs["name"]
        out[n] = (confs[n], [np.asarray(v[str(i)]) for i in range(len(v))])
    return out


def report(what, y, ref):
    print(f"  {what:60s} max err {np.abs(y - ref).max():.2e}")


# ------------------------------------------------------------------ Interpolate
print("Resizing bilinear (layer_resizing_bilinear), NHWC, axes [1, 2]:")
xi, yo = data("layer_resizing_bilinear")
x = xi["x"]
for out, (oh, ow), aa in (("up", (7, 8), False), ("down", (3, 3), False),
                          ("h_same", (4, 3), False), ("down_antialias", (3, 3), True),
                          ("down2_antialias", (2, 2), True)):
    for mode in ("linear_onnx", "linear"):
        y = run(x, lambda p: op11.interpolate(
            p, np.array([oh, ow], np.int64), mode, "sizes", antialias=aa,
            coordinate_transformation_mode="half_pixel", axes=np.array([1, 2], np.int64)))
        report(f"{out}: {mode}, half_pixel, antialias={aa}", y, yo[out])

print("Resizing nearest / bicubic (layer_resizing_methods):")
xi, yo = data("layer_resizing_methods")
x = xi["x"]
for out, size in (("nearest_up", (7, 9)), ("nearest_down", (3, 2))):
    for ctm, nm in (("tf_half_pixel_for_nn", "floor"), ("half_pixel", "round_prefer_ceil"),
                    ("half_pixel", "round_prefer_floor"), ("asymmetric", "floor")):
        y = run(x, lambda p: op11.interpolate(
            p, np.array(size, np.int64), "nearest", "sizes", coordinate_transformation_mode=ctm,
            nearest_mode=nm, axes=np.array([1, 2], np.int64)))
        report(f"{out}: {ctm} + {nm}", y, yo[out])
for out, size in (("bicubic_up", (7, 8)), ("bicubic_down", (3, 3))):
    for cc in (-0.5, -0.75):
        y = run(x, lambda p: op11.interpolate(
            p, np.array(size, np.int64), "cubic", "sizes", cube_coeff=cc,
            coordinate_transformation_mode="half_pixel", axes=np.array([1, 2], np.int64)))
        report(f"{out}: cubic, half_pixel, cube_coeff={cc}", y, yo[out])
        report(f"{out}:   (interior rows/cols 1..-2 only)", y[:, 1:-1, 1:-1],
               yo[out][:, 1:-1, 1:-1])


# ------------------------------------------------------------------ AvgPool
def same_pads(n, k, s):
    out = -(-n // s)
    t = max((out - 1) * s + k - n, 0)
    return t // 2, t - t // 2


print("AveragePooling2D padding='same' (layer_average_pooling2d), via NCHW AvgPool:")
xi, yo = data("layer_average_pooling2d")
x = xi["x"]
for out, k, s in (("same_p3_s2", (3, 3), (2, 2)), ("same_p23_s32", (2, 3), (3, 2))):
    pads = [same_pads(n, kk, ss) for n, kk, ss in zip(x.shape[1:3], k, s)]
    for excl in (True, False):
        def build(p):
            t = op1.transpose(p, np.array([0, 3, 1, 2]))
            a = op1.avg_pool(t, list(s), [q[0] for q in pads], [q[1] for q in pads], list(k),
                             excl, "floor")
            return op1.transpose(a, np.array([0, 2, 3, 1]))
        report(f"{out}: explicit SAME pads, exclude_pad={excl}", run(x, build), yo[out])


# ------------------------------------------------------------------ ConvolutionBackpropData
def keras_to_jax_pads(k, s, d, padding, output_padding):
    ke = (k - 1) * d + 1
    if padding == "valid":
        o = max(ke, s) - ke if output_padding is None else output_padding
        return ke - 1, ke - 1 + o
    pl = s + ke - 2 if output_padding is None else ke + ke % 2 - 2 + output_padding
    left = min(pl // 2 + pl % 2, ke - 1)
    return left, pl - left


ACT = {"linear": lambda v: v, "tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
       "relu": lambda v: np.maximum(v, 0)}
print("Conv*DTranspose as ConvolutionBackpropData (weights (in, out, k..) unflipped,")
print("  pads_begin = k_e-1-left, pads_end/output_padding from right):")
for name in ("layer_conv1d_transpose", "layer_conv2d_transpose"):
    xi, yo = data(name)
    x = xi["x"]
    r = x.ndim - 2
    for lname, (c, vs) in weights(name).items():
        if c.get("filters") is None:
            continue
        pb, pe, opad = [], [], []
        for i in range(r):
            k, s, d = c["kernel_size"][i], c["strides"][i], c["dilation_rate"][i]
            op_ = None if c["output_padding"] is None else c["output_padding"][i]
            ke = (k - 1) * d + 1
            left, right = keras_to_jax_pads(k, s, d, c["padding"], op_)
            pb.append(ke - 1 - left)
            pe.append(max(ke - 1 - right, 0))
            opad.append(max(right - (ke - 1), 0))
        w = np.transpose(vs[0], (r + 1, r) + tuple(range(r)))

        def build(p):
            t = op1.transpose(p, np.array((0, r + 1) + tuple(range(1, r + 1))))
            y = op1.convolution_backprop_data(t, op1.constant(w), c["strides"], pads_begin=pb,
                                              pads_end=pe, dilations=c["dilation_rate"],
                                              output_padding=opad)
            return op1.transpose(y, np.array((0,) + tuple(range(2, r + 2)) + (1,)))
        y = run(x, build) + (vs[1] if len(vs) > 1 else 0)
        report(f"{name}/{lname}: pads {pb}/{pe} output_padding {opad}",
               ACT[c["activation"]](y), yo[lname])
