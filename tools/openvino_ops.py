#!/usr/bin/env python3
"""Write docs/openvino-ops.md: the exact IR XML of OpenVINO's fused ops, their semantics, and a
numerical check of each against numpy (float64) or the Keras 3 / JAX function a Keras model uses.

For every op: a tiny model built with `openvino.opsetN` (the newest opset that has the op),
saved with `ov.save_model(..., compress_to_fp16=False)`; the op's `<layer>` element is cut out of
the .xml as OpenVINO wrote it. The model is then compiled on CPU with INFERENCE_PRECISION_HINT=f32
and run; max |OpenVINO - reference| is recorded.

Run: .venv-bench/bin/python tools/openvino_ops.py [--out docs/openvino-ops.md] [--only SoftMax ...]
(needs openvino 2026.4.1, numpy, scipy, jax and keras: bench/requirements.txt)
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import openvino as ov  # noqa: E402
import openvino.opset1 as o1  # noqa: E402
import openvino.opset3 as o3  # noqa: E402
import openvino.opset4 as o4  # noqa: E402
import openvino.opset5 as o5  # noqa: E402
import openvino.opset6 as o6  # noqa: E402
import openvino.opset7 as o7  # noqa: E402
import openvino.opset8 as o8  # noqa: E402
import openvino.opset9 as o9  # noqa: E402
import openvino.opset11 as o11  # noqa: E402
import openvino.opset12 as o12  # noqa: E402
import openvino.opset13 as o13  # noqa: E402
import openvino.opset14 as o14  # noqa: E402
import openvino.opset16 as o16  # noqa: E402
from scipy.special import erf  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = ov.Core()
CORE.set_property("CPU", {"INFERENCE_PRECISION_HINT": "f32"})
RNG = np.random.default_rng(0)
f32 = np.float32


def param(shape, dtype=ov.Type.f32, name="x"):
    p = o1.parameter(shape, dtype, name=name)
    return p


def c(a, dtype=None):
    return o1.constant(np.asarray(a, dtype=dtype))


def run(params, outputs, feeds, types, name="op"):
    """Save the model, cut the <layer> elements of `types`, run it on CPU (f32 hint)."""
    outs = []
    for o in outputs:
        outs.extend(o.outputs() if hasattr(o, "outputs") else [o])
    model = ov.Model(outs, params, name)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.xml")
        ov.save_model(model, path, compress_to_fp16=False)
        with open(path) as fh:
            xml = fh.read()
    layers = []
    for t in types:
        for m in re.finditer(r'^(\s*)<layer [^>]*type="%s"[^>]*>.*?^\1</layer>' % re.escape(t), xml, re.S | re.M):
            text = m.group(0)
            indent = m.group(1)
            lines = [ln[len(indent):] if ln.startswith(indent) else ln for ln in text.split("\n")]
            layers.append("\n".join(ln.replace("\t", " ") for ln in lines))
    compiled = CORE.compile_model(model, "CPU")
    res = compiled(feeds)
    return layers, [np.asarray(res[o]) for o in compiled.outputs]


def maxdiff(got, ref):
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    same = (got == ref) | (np.isnan(got) & np.isnan(ref))
    d = np.where(same, 0.0, np.abs(got - ref))
    return float(np.nan_to_num(d, nan=np.inf).max()) if d.size else 0.0


SECTIONS = []


def section(title, version):
    def deco(fn):
        SECTIONS.append((title, version, fn))
        return fn

    return deco


def grid(extra=()):
    """A dense grid on [-8, 8] plus the points where activations are delicate."""
    pts = [0.0, -0.0, 1e-7, -1e-7, 1e-4, -1e-4, -3.0, 3.0, -1.0, 1.0, 6.0, -6.0, *extra]
    return np.concatenate([np.linspace(-8, 8, 1601), pts]).astype(f32).reshape(1, -1)


def ew(ov_fn, types, x=None):
    """An element-wise op on the grid: (xml layers, input, output)."""
    x = grid() if x is None else x
    p = param(x.shape)
    layers, (y,) = run([p], [ov_fn(p)], {0: x}, types)
    return layers, x, y


def keras_op(fn, *args):
    return np.asarray(fn(*[jnp.asarray(a) for a in args]))


# ---------------------------------------------------------------------------------------------
# Activations


@section("SoftMax", "opset8")
def _softmax():
    x = RNG.normal(size=(3, 4, 5)).astype(f32) * 4
    out = []
    for axis in (-1, 1):
        p = param(x.shape)
        layers, (y,) = run([p], [o8.softmax(p, axis)], {0: x}, ["SoftMax"])
        e = np.exp(x.astype(np.float64) - x.max(axis=axis, keepdims=True))
        ref = e / e.sum(axis=axis, keepdims=True)
        kref = keras_op(lambda t: keras.ops.softmax(t, axis=axis), x)
        out.append((axis, layers, maxdiff(y, ref), maxdiff(y, kref)))
    return {
        "xml": [f"<!-- axis={a} -->\n" + ly[0] for a, ly, _, _ in out],
        "formula": "`y = exp(x - max(x, axis)) / sum(exp(x - max(x, axis)), axis)` along the one "
        "`axis` attribute (an int; negative counts from the end, as `axis=\"-1\"` is written). "
        "The type is spelled `SoftMax` in the IR (the Python function is `opset8.softmax`); "
        "opset1's SoftMax takes only a non-negative axis.",
        "keras": "`keras.ops.softmax(x, axis)` / `Softmax` layer / `activation=\"softmax\"` with one axis. "
        "Several axes (`Softmax(axis=(1, 2))`) have no single op: reshape, or keep Exp/ReduceSum.",
        "check": [f"axis={a}: max |diff| {d:.1e} vs numpy f64, {k:.1e} vs keras.ops.softmax" for a, _, d, k in out],
    }


@section("LogSoftmax", "opset5")
def _log_softmax():
    x = RNG.normal(size=(4, 6)).astype(f32) * 5
    p = param(x.shape)
    layers, (y,) = run([p], [o5.log_softmax(p, -1)], {0: x}, ["LogSoftmax"])
    xd = x.astype(np.float64)
    m = xd.max(-1, keepdims=True)
    ref = xd - m - np.log(np.exp(xd - m).sum(-1, keepdims=True))
    return {
        "xml": layers,
        "formula": "`y = (x - max) - log(sum(exp(x - max)))` along `axis` (negative allowed).",
        "keras": "`keras.ops.log_softmax` / `activation=\"log_softmax\"`: the same formula (jax.nn.log_softmax).",
        "check": [f"max |diff| {maxdiff(y, ref):.1e} vs numpy f64, "
                  f"{maxdiff(y, keras_op(keras.ops.log_softmax, x)):.1e} vs keras.ops.log_softmax"],
    }


@section("Elu", "opset1")
def _elu():
    layers, x, y = ew(lambda p: o1.elu(p, 1.0), ["Elu"])
    xd = x.astype(np.float64)
    ref = np.where(xd > 0, xd, np.expm1(xd))
    small = np.abs(xd) < 1e-3
    rel = np.max(np.abs(y[small] - ref[small]) / np.maximum(np.abs(ref[small]), 1e-30))
    kref = keras_op(keras.ops.elu, x)
    layers2, x2, y2 = ew(lambda p: o1.elu(p, 0.5), ["Elu"])
    ref2 = np.where(x2 > 0, x2, 0.5 * np.expm1(x2.astype(np.float64)))
    return {
        "xml": layers,
        "formula": "`y = x if x > 0 else alpha * (exp(x) - 1)`; `alpha` is a float attribute. At x = 0 "
        "both branches give 0 (the reference implementation tests `x < 0`, the spec `x <= 0`: same value).",
        "keras": "Keras/JAX: `x if x > 0 else alpha * expm1(x)`. OpenVINO's `exp(x) - 1` loses relative "
        "accuracy for tiny negative x (absolute error stays ~1e-8).",
        "check": [f"alpha=1: max |diff| {maxdiff(y, ref):.1e} vs numpy f64 (expm1), {maxdiff(y, kref):.1e} vs keras.ops.elu; "
                  f"max relative error for |x| < 1e-3: {rel:.1e}",
                  f"alpha=0.5: max |diff| {maxdiff(y2, ref2):.1e}"],
    }


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@section("Selu", "opset1")
def _selu():
    layers, x, y = ew(lambda p: o1.selu(p, c([SELU_ALPHA], f32), c([SELU_SCALE], f32)), ["Selu"])
    xd = x.astype(np.float64)
    ref = SELU_SCALE * np.where(xd > 0, xd, SELU_ALPHA * np.expm1(xd))
    return {
        "xml": layers,
        "formula": "`y = lambda * (x if x > 0 else alpha * (exp(x) - 1))`. `alpha` (port 1) and `lambda` "
        "(port 2) are inputs, not attributes: 1-D tensors of one element (`[1]`) of the data type.",
        "keras": "Keras `selu` = `scale * elu(x, alpha)` with alpha 1.67326324..., scale 1.05070098...: "
        "pass those as the two Const inputs. Same expm1 caveat as Elu.",
        "check": [f"max |diff| {maxdiff(y, ref):.1e} vs numpy f64, {maxdiff(y, keras_op(keras.ops.selu, x)):.1e} vs keras.ops.selu"],
    }


@section("Gelu", "opset7")
def _gelu():
    rows, xmls = [], []
    for mode in ("erf", "tanh"):
        layers, x, y = ew(lambda p: o7.gelu(p, mode), ["Gelu"])
        xd = x.astype(np.float64)
        if mode == "erf":
            ref = 0.5 * xd * (1 + erf(xd / np.sqrt(2)))
        else:
            ref = 0.5 * xd * (1 + np.tanh(np.sqrt(2 / np.pi) * (xd + 0.044715 * xd**3)))
        kref = keras_op(lambda t: keras.ops.gelu(t, approximate=mode == "tanh"), x)
        xmls += layers
        rows.append(f"{mode}: max |diff| {maxdiff(y, ref):.1e} vs numpy f64, {maxdiff(y, kref):.1e} vs "
                    f"keras.ops.gelu(approximate={mode == 'tanh'})")
    return {
        "xml": xmls,
        "formula": "`erf`: `0.5 x (1 + erf(x / sqrt(2)))`; `tanh`: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` "
        "(the reference computes sqrt(2/pi) from `atan(1) * 4`). Attribute `approximation_mode`, default `erf`.",
        "keras": "`activation=\"gelu\"` is exact (erf); `keras.ops.gelu` defaults to approximate=True (tanh), the "
        "same constants as jax.nn.gelu.",
        "check": rows,
    }


@section("Swish", "opset4")
def _swish():
    layers, x, y = ew(lambda p: o4.swish(p), ["Swish"])
    xd = x.astype(np.float64)
    ref = xd / (1 + np.exp(-xd))
    layers_b, _, yb = ew(lambda p: o4.swish(p, c(1.5, f32)), ["Swish"])
    refb = xd / (1 + np.exp(-1.5 * xd))
    return {
        "xml": ["<!-- without beta -->\n" + layers[0], "<!-- with beta (a scalar Const, shape []) -->\n" + layers_b[0]],
        "formula": "`y = x * sigmoid(beta * x)`; `beta` is an optional second input (a scalar of the data "
        "type); without it beta = 1.",
        "keras": "`silu`/`swish` = `x * sigmoid(x)`: Swish with no beta input.",
        "check": [f"no beta: max |diff| {maxdiff(y, ref):.1e} vs numpy f64, {maxdiff(y, keras_op(keras.ops.silu, x)):.1e} vs keras.ops.silu",
                  f"beta=1.5: max |diff| {maxdiff(yb, refb):.1e}"],
    }


@section("HSwish", "opset4")
def _hswish():
    layers, x, y = ew(o4.hswish, ["HSwish"])
    xd = x.astype(np.float64)
    ref = xd * np.minimum(np.maximum(xd + 3, 0), 6) / 6
    return {
        "xml": layers,
        "formula": "`y = x * min(max(x + 3, 0), 6) / 6`.",
        "keras": "Keras 3 `hard_silu` / `hard_swish` = `x * hard_sigmoid(x)` with `hard_sigmoid = relu6(x + 3) / 6`: identical.",
        "check": [f"max |diff| {maxdiff(y, ref):.1e} vs numpy f64, {maxdiff(y, keras_op(keras.ops.hard_silu, x)):.1e} vs keras.ops.hard_silu"],
    }


@section("HSigmoid", "opset5")
def _hsigmoid():
    layers, x, y = ew(o5.hsigmoid, ["HSigmoid"])
    xd = x.astype(np.float64)
    ref = np.minimum(np.maximum(xd + 3, 0), 6) / 6
    return {
        "xml": layers,
        "formula": "`y = min(max(x + 3, 0), 6) / 6`, no attributes. (opset1 `HardSigmoid` is "
        "`max(0, min(1, alpha x + beta))` with alpha and beta as scalar inputs.)",
        "keras": "Keras 3 `hard_sigmoid` = `relu6(x + 3) / 6` = HSigmoid. Keras 2's was `0.2 x + 0.5` "
        "(HardSigmoid alpha 0.2): do not mix them up.",
        "check": [f"max |diff| {maxdiff(y, ref):.1e} vs numpy f64, {maxdiff(y, keras_op(keras.ops.hard_sigmoid, x)):.1e} vs keras.ops.hard_sigmoid"],
    }


@section("Mish", "opset4")
def _mish():
    layers, x, y = ew(o4.mish, ["Mish"], grid(extra=(20.0, 30.0, -20.0, -30.0)))
    xd = x.astype(np.float64)
    ref = xd * np.tanh(np.logaddexp(xd, 0))
    return {
        "xml": layers,
        "formula": "`y = x * tanh(log(1 + exp(x)))`.",
        "keras": "Keras `mish` = `x * tanh(softplus(x))`: identical.",
        "check": [f"max |diff| {maxdiff(y, ref):.1e} vs numpy f64 on [-30, 30], "
                  f"{maxdiff(y, keras_op(keras.activations.mish, x)):.1e} vs keras.activations.mish"],
    }


@section("SoftPlus", "opset4")
def _softplus():
    x = np.concatenate([np.linspace(-100, 100, 200001), [0.0, 88, 89, 1e3]]).astype(f32).reshape(1, -1)
    layers, x, y = ew(o4.softplus, ["SoftPlus"], x)
    xd = x.astype(np.float64)
    ref = np.logaddexp(xd, 0)
    d = np.abs(y - ref)
    mid = np.abs(x) < 5
    rel = np.max(d[mid] / ref[mid])
    big = x >= 20
    neg = x < -15
    w = np.argmax(d[0])
    return {
        "xml": layers,
        "formula": "`y = log(exp(x) + 1)`, and `y = x` above a threshold (spec: 20 for f32; the reference "
        "implementation uses log(FLT_MAX) = 88.7). No attributes.",
        "keras": "Keras/JAX `softplus` = `logaddexp(x, 0)`. The CPU plugin's SoftPlus is a few ulp off in "
        "the middle, but for x below about -8 its absolute error reaches several 1e-6 and it returns "
        "**negative** values (see the check), where Keras returns exp(x) > 0.",
        "check": [f"max |diff| {maxdiff(y, ref):.1e} vs numpy f64 on [-100, 100] (worst at x = {x[0, w]:.2f}: "
                  f"{y[0, w]:.2e} instead of {ref[0, w]:.2e}); max relative error {rel:.1e} for |x| < 5",
                  f"x >= 20: y == x exactly in {np.mean(y[big] == x[big]) * 100:.0f} % of points; y(1e3) = {y[0, -1]:.1f}",
                  f"x < -15: y ranges over [{y[neg].min():.2e}, {y[neg].max():.2e}], exact values are in "
                  f"(0, {ref[neg].max():.1e}]; min over all x {y.min():.2e}",
                  f"{maxdiff(y, keras_op(keras.ops.softplus, x)):.1e} vs keras.ops.softplus"],
    }


@section("SoftSign", "opset9")
def _softsign():
    layers, x, y = ew(o9.softsign, ["SoftSign"])
    xd = x.astype(np.float64)
    ref = xd / (1 + np.abs(xd))
    return {
        "xml": layers,
        "formula": "`y = x / (1 + |x|)`.",
        "keras": "Keras `softsign`: identical.",
        "check": [f"max |diff| {maxdiff(y, ref):.1e} vs numpy f64, {maxdiff(y, keras_op(keras.ops.softsign, x)):.1e} vs keras.ops.softsign"],
    }


@section("Clamp", "opset1")
def _clamp():
    x = np.concatenate([grid()[0], [np.nan, np.inf, -np.inf]]).astype(f32).reshape(1, -1)
    layers, x, y = ew(lambda p: o1.clamp(p, -0.5, 0.75), ["Clamp"], x)
    ref = np.clip(x, -0.5, 0.75)
    fin = np.isfinite(x)
    return {
        "xml": layers,
        "formula": "`y = min(max(x, min), max)`; `min` and `max` are attributes (written as decimal text; "
        "for integer types min is rounded up and max down).",
        "keras": "`keras.ops.clip(x, lo, hi)` and relu6 (`min=0, max=6`). NaN: see the check.",
        "check": [f"max |diff| {maxdiff(y[fin], ref[fin]):.1e} vs np.clip on finite x; Clamp(NaN) = {y[0, -3]}, "
                  f"Clamp(+inf) = {y[0, -2]}, Clamp(-inf) = {y[0, -1]} (np.clip / jnp.clip give NaN for NaN)"],
    }


@section("PRelu", "opset1")
def _prelu():
    rows, xmls = [], []
    # 1) channel axis 1 of a rank-3 tensor; 2) rank 3 where dim 1 == last dim (ambiguous!)
    for shape, slope_shape in (((2, 3, 4), (3,)), ((2, 4, 4), (4,)), ((2, 4, 4), (1, 1, 4))):
        x = RNG.normal(size=shape).astype(f32)
        s = RNG.uniform(0.1, 0.5, size=slope_shape).astype(f32)
        p = param(shape)
        layers, (y,) = run([p], [o1.prelu(p, c(s))], {0: x}, ["PReLU"])
        per_channel = s.reshape((1, -1) + (1,) * (len(shape) - 2)) if len(slope_shape) == 1 else s
        ref_ch = np.where(x >= 0, x, per_channel * x)
        try:
            ref_np = np.where(x >= 0, x, s * x)
            d_np = f"{maxdiff(y, ref_np):.1e}"
        except ValueError:
            d_np = "n/a (does not broadcast)"
        xmls += layers[:1] if not xmls else []
        rows.append(f"data {list(shape)}, slope {list(slope_shape)}: max |diff| {maxdiff(y, ref_ch):.1e} vs per-channel "
                    f"(axis 1) broadcast, {d_np} vs numpy broadcast (last axis)")
    return {
        "xml": xmls,
        "formula": "`y = x if x >= 0 else slope * x`. The type is spelled `PReLU`. A 1-D `slope` whose "
        "length equals dim 1 of the data is broadcast **per channel along axis 1**, not numpy-style along "
        "the last axis; any other slope shape broadcasts numpy-style.",
        "keras": "Keras `PReLU` has alpha of shape `input_shape[1:]` (with `shared_axes` set to 1): give the slope "
        "its full rank (`[1, ...]` or `input_shape[1:]` with rank >= 2) so numpy broadcasting applies. A 1-D "
        "alpha on a rank-3 input whose dim 1 equals the last dim would silently be applied along the wrong axis.",
        "check": rows,
    }


@section("Relu", "opset1")
def _relu():
    layers, x, y = ew(o1.relu, ["ReLU"], grid(extra=(np.nan,)))
    ref = np.maximum(x, 0)
    return {
        "xml": layers,
        "formula": "`y = max(0, x)`. The type is spelled `ReLU`.",
        "keras": "identical (relu(NaN) = NaN in JAX; see the check for OpenVINO).",
        "check": [f"max |diff| {maxdiff(y[:, :-1], ref[:, :-1]):.1e}; ReLU(NaN) = {y[0, -1]}"],
    }


@section("MVN", "opset6")
def _mvn():
    x = (RNG.normal(size=(4, 3, 5)) * 3 + 1).astype(f32)
    xd = x.astype(np.float64)
    rows, xmls = [], []
    for mode in ("inside_sqrt", "outside_sqrt"):
        p = param(x.shape)
        layers, (y,) = run([p], [o6.mvn(p, c([-1], np.int64), True, 1e-3, mode)], {0: x}, ["MVN"])
        mean = xd.mean(-1, keepdims=True)
        var = ((xd - mean) ** 2).mean(-1, keepdims=True)
        ref = (xd - mean) / (np.sqrt(var + 1e-3) if mode == "inside_sqrt" else np.sqrt(var) + 1e-3)
        xmls += layers
        rows.append(f"{mode}, axes [-1]: max |diff| {maxdiff(y, ref):.1e} vs numpy f64")
    p = param(x.shape)
    layers, (y,) = run([p], [o6.mvn(p, c([1, 2], np.int64), False, 1e-3, "inside_sqrt")], {0: x}, ["MVN"])
    rows.append(f"normalize_variance=false, axes [1, 2]: max |diff| {maxdiff(y, xd - xd.mean((1, 2), keepdims=True)):.1e}")
    ln = keras.layers.LayerNormalization(epsilon=1e-3, center=False, scale=False)
    kref = np.asarray(ln(jnp.asarray(x)))
    p = param(x.shape)
    _, (y,) = run([p], [o6.mvn(p, c([-1], np.int64), True, 1e-3, "inside_sqrt")], {0: x}, ["MVN"])
    rows.append(f"inside_sqrt vs keras.layers.LayerNormalization(epsilon=1e-3, center=False, scale=False): {maxdiff(y, kref):.1e}")
    return {
        "xml": xmls,
        "formula": "`y = (x - mean) / sqrt(var + eps)` (`eps_mode=\"inside_sqrt\"`) or `(x - mean) / (sqrt(var) + eps)` "
        "(`outside_sqrt`), mean and the biased variance (mean of squared deviations) over the `axes` input "
        "(port 1, i64 or i32, negative allowed); `normalize_variance=\"false\"` only subtracts the mean. "
        "`eps` is a float attribute (written in decimal text). No scale or shift: multiply and add after.",
        "keras": "LayerNormalization = MVN(inside_sqrt, eps = Keras epsilon, default 1e-3) * gamma + beta. "
        "(Keras' `rms_scaling=True` is not MVN.)",
        "check": rows,
    }


@section("BatchNormInference", "opset5")
def _batchnorm():
    x = RNG.normal(size=(4, 3, 2)).astype(f32)
    g, b, m = (RNG.normal(size=3).astype(f32) for _ in range(3))
    v = RNG.uniform(0.5, 2, size=3).astype(f32)
    p = param(x.shape)
    layers, (y,) = run([p], [o5.batch_norm_inference(p, c(g), c(b), c(m), c(v), 1e-3)], {0: x},
                       ["BatchNormInference"])
    sh = (1, 3, 1)
    ref = g.reshape(sh) * (x - m.reshape(sh)) / np.sqrt(v.reshape(sh) + 1e-3) + b.reshape(sh)
    return {
        "xml": layers,
        "formula": "`y = gamma * (x - mean) / sqrt(variance + epsilon) + beta`, per channel along **axis 1**. "
        "Inputs in opset5 order: data, gamma, beta, mean, variance (opset1's order is gamma, beta, data, "
        "mean, variance). `epsilon` is an attribute.",
        "keras": "Keras BatchNormalization's default axis is -1: for a rank-2 input axis 1 is the last axis; for "
        "rank >= 3 transpose the channel to axis 1 or fold into Multiply/Add (what keras2ov does).",
        "check": [f"data [4, 3, 2] (channel axis 1): max |diff| {maxdiff(y, ref):.1e} vs numpy"],
    }


# ---------------------------------------------------------------------------------------------
# Convolutions and pooling


def keras_conv(x_nchw, w_oihw, strides, padding, groups=1, dilation=1):
    """Keras 3 conv (JAX backend), NHWC/HWIO, returned as NCHW."""
    x = jnp.asarray(x_nchw.transpose(0, 2, 3, 1))
    w = jnp.asarray(w_oihw.transpose(2, 3, 1, 0))  # (kh, kw, in/groups, out)
    y = keras.ops.conv(x, w, strides=strides, padding=padding, dilation_rate=dilation)
    return np.asarray(y).transpose(0, 3, 1, 2)


@section("Convolution", "opset1")
def _conv():
    x = RNG.normal(size=(2, 3, 9, 8)).astype(f32)
    w = RNG.normal(size=(4, 3, 3, 3)).astype(f32)
    rows, xmls = [], []
    for auto_pad, kpad in (("same_upper", "same"), ("valid", "valid")):
        p = param(x.shape)
        node = o1.convolution(p, c(w), [2, 2], [0, 0], [0, 0], [1, 1], auto_pad)
        layers, (y,) = run([p], [node], {0: x}, ["Convolution"])
        xmls += layers[:1]
        rows.append(f"auto_pad={auto_pad}, strides 2: max |diff| {maxdiff(y, keras_conv(x, w, 2, kpad)):.1e} vs "
                    f"keras.ops.conv(padding=\"{kpad}\") (input 9x8)")
    p = param(x.shape)
    node = o1.convolution(p, c(w), [1, 1], [2, 1], [2, 1], [2, 1])
    layers, (y,) = run([p], [node], {0: x}, ["Convolution"])
    xp = np.pad(x, ((0, 0), (0, 0), (2, 2), (1, 1)))
    rows.append(f"explicit pads (2,1)/(2,1), dilations (2,1): max |diff| {maxdiff(y, keras_conv(xp, w, 1, 'valid', dilation=(2, 1))):.1e}")
    xmls += layers
    return {
        "xml": xmls,
        "formula": "Cross-correlation (no kernel flip). Data `[N, C_in, *spatial]` (channels first), filters "
        "`[C_out, C_in, *kernel]`. Attributes `strides`, `dilations`, `pads_begin`, `pads_end` (comma lists), "
        "`auto_pad` = explicit | same_upper | same_lower | valid. same_upper: output = ceil(in / stride), "
        "the odd padding pixel at the end.",
        "keras": "Keras Conv2D is NHWC with kernel `(kh, kw, in, out)`: transpose the data to NCHW and the kernel "
        "with `(3, 2, 0, 1)`. `padding=\"same\"` = `auto_pad=\"same_upper\"` (TF/XLA SAME puts the extra "
        "pixel at the end), also with strides; `\"valid\"` = `valid`.",
        "check": rows,
    }


@section("GroupConvolution", "opset1")
def _group_conv():
    G, cin, cout = 2, 4, 6
    x = RNG.normal(size=(1, cin, 7, 7)).astype(f32)
    w = RNG.normal(size=(G, cout // G, cin // G, 3, 3)).astype(f32)
    p = param(x.shape)
    layers, (y,) = run([p], [o1.group_convolution(p, c(w), [1, 1], [1, 1], [1, 1], [1, 1])], {0: x},
                       ["GroupConvolution"])
    ref = np.concatenate([keras_conv(np.pad(x[:, g * 2:(g + 1) * 2], ((0, 0), (0, 0), (1, 1), (1, 1))), w[g], 1, "valid")
                          for g in range(G)], axis=1)
    # depthwise: G = C
    C = 3
    xd = RNG.normal(size=(1, C, 6, 6)).astype(f32)
    wd = RNG.normal(size=(C, 1, 1, 3, 3)).astype(f32)
    p = param(xd.shape)
    _, (yd,) = run([p], [o1.group_convolution(p, c(wd), [1, 1], [0, 0], [0, 0], [1, 1], "same_upper")], {0: xd},
                   ["GroupConvolution"])
    kd = np.asarray(keras.ops.depthwise_conv(jnp.asarray(xd.transpose(0, 2, 3, 1)),
                                             jnp.asarray(wd[:, 0, 0].transpose(1, 2, 0)[..., None]), 1, "same"))
    return {
        "xml": layers,
        "formula": "Filters `[G, C_out/G, C_in/G, *kernel]`; group g convolves input channels "
        "`[g*C_in/G, (g+1)*C_in/G)` into output channels `[g*C_out/G, (g+1)*C_out/G)`. Same attributes as Convolution.",
        "keras": "Conv2D(groups=G) kernel `(kh, kw, C_in/G, C_out)` -> reshape the out axis to `(G, C_out/G)`, "
        "then to `[G, C_out/G, C_in/G, kh, kw]`. DepthwiseConv2D kernel `(kh, kw, C, m)` -> `[C, m, 1, kh, kw]`.",
        "check": [f"G=2: max |diff| {maxdiff(y, ref):.1e} vs per-group keras.ops.conv",
                  f"depthwise (G=C=3, same_upper): max |diff| {maxdiff(yd, kd.transpose(0, 3, 1, 2)):.1e} vs keras.ops.depthwise_conv(padding=\"same\")"],
    }


def np_conv_transpose(x, w, stride, pads_begin, pads_end, output_padding=(0, 0)):
    """ConvolutionBackpropData by definition: scatter x * w, then crop pads (f64). w: [C_in, C_out, kh, kw]."""
    n, cin, h, wd = x.shape
    _, cout, kh, kw = w.shape
    full = np.zeros((n, cout, (h - 1) * stride[0] + kh + output_padding[0], (wd - 1) * stride[1] + kw + output_padding[1]))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw] += np.einsum(
                "nc,cokl->nokl", x[:, :, i, j].astype(np.float64), w.astype(np.float64))
    return full[:, :, pads_begin[0]:full.shape[2] - pads_end[0], pads_begin[1]:full.shape[3] - pads_end[1]]


@section("ConvolutionBackpropData", "opset1")
def _conv_bp():
    x = RNG.normal(size=(1, 3, 4, 5)).astype(f32)
    w = RNG.normal(size=(3, 2, 3, 3)).astype(f32)
    rows, xmls = [], []
    p = param(x.shape)
    layers, (y,) = run([p], [o1.convolution_backprop_data(p, c(w), [2, 2], pads_begin=[1, 1], pads_end=[1, 1],
                                                           output_padding=[1, 1])], {0: x}, ["ConvolutionBackpropData"])
    xmls += layers
    rows.append(f"strides 2, pads 1/1, output_padding 1: output {list(y.shape)}, max |diff| "
                f"{maxdiff(y, np_conv_transpose(x, w, (2, 2), (1, 1), (1, 1), (1, 1))):.1e} vs the definition (numpy f64)")
    for k in (3, 4, 5):
        wk = RNG.normal(size=(3, 2, k, k)).astype(f32)
        kx = jnp.asarray(x.transpose(0, 2, 3, 1))
        kw = jnp.asarray(wk.transpose(2, 3, 1, 0))  # Keras (kh, kw, filters, in)
        for kpad, kwargs in (("valid", dict(auto_pad="valid")),
                             ("same", dict(pads_begin=[(k - 2) // 2] * 2, pads_end=[(k - 1) // 2] * 2)),
                             ("same", dict(auto_pad="same_upper", output_shape=c([8, 10], np.int64))),
                             ("same", dict(auto_pad="same_lower", output_shape=c([8, 10], np.int64)))):
            p = param(x.shape)
            _, (y,) = run([p], [o1.convolution_backprop_data(p, c(wk), [2, 2], **kwargs)], {0: x}, ["ConvolutionBackpropData"])
            kref = np.asarray(keras.ops.conv_transpose(kx, kw, 2, padding=kpad)).transpose(0, 3, 1, 2)
            how = ", ".join(f"{a}={v}" for a, v in kwargs.items() if a != "output_shape")
            how += ", output_shape [8, 10]" if "output_shape" in kwargs else ""
            d = f"{maxdiff(y, kref):.1e}" if y.shape == kref.shape else f"shape {list(y.shape)} vs {list(kref.shape)}"
            rows.append(f"kernel {k}, strides 2, {how} vs keras.ops.conv_transpose(padding=\"{kpad}\"): {d}")
    return {
        "xml": xmls,
        "formula": "Transposed convolution (the gradient of Convolution w.r.t. its input): every input pixel "
        "scatters `x * W` into a stride-spaced output, then `pads_begin`/`pads_end` are **cropped** from the "
        "result. Filters `[C_in, C_out, *kernel]` (C_in first, unlike Convolution). Output size "
        "`(in - 1) * stride + (k - 1) * dilation + 1 - pads_begin - pads_end + output_padding`. An optional "
        "third input `output_shape` (spatial dims only) fixes the size instead.",
        "keras": "Keras Conv2DTranspose kernel `(kh, kw, filters, in)` -> `transpose(3, 2, 0, 1)`; `padding=\"valid\"` "
        "= `auto_pad=\"valid\"`. `padding=\"same\"` (output = in * stride) crops `k - s` pixels with the odd one "
        "at the **end**: explicit `pads_begin = (k - s) // 2`, `pads_end = k - s - pads_begin` (per axis, k the dilated "
        "kernel, k >= s); with an `output_shape` input that is `same_lower` (not same_upper), see the check.",
        "check": rows,
    }


@section("GroupConvolutionBackpropData", "opset1")
def _group_conv_bp():
    G = 2
    x = RNG.normal(size=(1, 4, 3, 3)).astype(f32)
    w = RNG.normal(size=(G, 2, 3, 2, 2)).astype(f32)  # [G, C_in/G, C_out/G, kh, kw]
    p = param(x.shape)
    layers, (y,) = run([p], [o1.group_convolution_backprop_data(p, c(w), [2, 2], pads_begin=[0, 0], pads_end=[0, 0])],
                       {0: x}, ["GroupConvolutionBackpropData"])
    ref = np.concatenate([np_conv_transpose(x[:, 2 * g:2 * g + 2], w[g], (2, 2), (0, 0), (0, 0)) for g in range(G)], 1)
    return {
        "xml": layers,
        "formula": "Filters `[G, C_in/G, C_out/G, *kernel]`; per group as ConvolutionBackpropData.",
        "keras": "Conv2DTranspose has no groups in Keras 3; this is only needed for grouped/depthwise transposes.",
        "check": [f"G=2, strides 2: max |diff| {maxdiff(y, ref):.1e} vs per-group definition (numpy f64)"],
    }


def np_pool(x, k, s, pb, pe, op, exclude_pad=True, ceil=False):
    n, ch, h, w = x.shape
    pad_val = -np.inf if op == "max" else 0.0
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pb[0], pe[0] + k[0]), (pb[1], pe[1] + k[1])), constant_values=pad_val)
    valid = np.pad(np.ones((h, w)), ((pb[0], pe[0] + k[0]), (pb[1], pe[1] + k[1])))
    inside = np.pad(np.ones((h + pb[0] + pe[0], w + pb[1] + pe[1])), ((0, k[0]), (0, k[1])))
    rnd = np.ceil if ceil else np.floor
    oh = int(rnd((h + pb[0] + pe[0] - k[0]) / s[0])) + 1
    ow = int(rnd((w + pb[1] + pe[1] - k[1]) / s[1])) + 1
    out = np.zeros((n, ch, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]]
            if op == "max":
                out[:, :, i, j] = win.max((2, 3))
            else:
                cnt = (valid if exclude_pad else inside)[i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]].sum()
                out[:, :, i, j] = win.sum((2, 3)) / cnt
    return out


@section("MaxPool", "opset14 and opset8")
def _maxpool():
    x = RNG.normal(size=(2, 3, 5, 7)).astype(f32)
    rows, xmls = [], []
    for mod, name in ((o14, "opset14"), (o8, "opset8")):
        p = param(x.shape)
        node = mod.max_pool(p, [2, 2], [1, 1], [0, 1], [0, 0], [3, 3], "ceil", "explicit", "i32", 0)
        layers, (y, idx) = run([p], [node], {0: x}, ["MaxPool"])
        xmls.append(f"<!-- {name} -->\n" + layers[0])
        ref = np_pool(x, (3, 3), (2, 2), (0, 1), (0, 0), "max", ceil=True)
        flat = x.reshape(-1)
        rows.append(f"{name}, kernel 3, strides 2, pads_begin (0,1), rounding ceil: output {list(y.shape)}, max |diff| "
                    f"{maxdiff(y, ref):.1e}; indices (axis 0, flat over N*C*H*W) point at the max: "
                    f"{bool(np.all(flat[idx.reshape(-1)] == y.reshape(-1)))}")
    p = param(x.shape)
    _, (y, idx) = run([p], [o14.max_pool(p, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2], "floor", "same_upper")], {0: x}, ["MaxPool"])
    kref = np.asarray(keras.ops.max_pool(jnp.asarray(x.transpose(0, 2, 3, 1)), 2, 2, "same")).transpose(0, 3, 1, 2)
    rows.append(f"auto_pad=same_upper, kernel 2, strides 2 vs keras.ops.max_pool(padding=\"same\"): {maxdiff(y, kref):.1e}")
    p = param(x.shape)
    _, (y, idx) = run([p], [o14.max_pool(p, [1, 1], [1, 1], [0, 0], [0, 0], [2, 2], "floor", "explicit", "i64", 2)], {0: x}, ["MaxPool"])
    rows.append(f"axis=2: indices range [{idx.min()}, {idx.max()}] (per (n, c) plane of 5*7 = 35)")
    return {
        "xml": xmls,
        "formula": "Max over each window of `kernel` (with `dilations`) moved by `strides` over the spatial axes "
        "(data `[N, C, *spatial]`); padding counts as -inf. Output size `floor` or `ceil` of "
        "`(in + pads_begin + pads_end - ((k - 1) * d + 1)) / stride + 1` (`rounding_type`; opset14 adds "
        "`ceil_torch`, which never starts a window in the padding). Two outputs: values, and indices of type "
        "`index_element_type` (i64 default) flattened over the dims from `axis` on (axis 0: over N*C*H*W), "
        "ignoring padding. opset8 and opset14 write the same attributes; only the version and the "
        "accepted rounding types differ.",
        "keras": "MaxPooling2D(padding=\"valid\") = explicit zero pads, floor; `\"same\"` = `auto_pad=\"same_upper\"`. "
        "Data must be NCHW. The indices output is simply left unconnected.",
        "check": rows,
    }


@section("AvgPool", "opset16 and opset1")
def _avgpool():
    x = RNG.normal(size=(2, 3, 6, 5)).astype(f32)
    rows, xmls = [], []
    for excl in (True, False):
        p = param(x.shape)
        node = o16.avg_pool(p, [2, 2], [1, 1], [1, 1], [3, 3], excl, "floor", "explicit", [1, 1])
        layers, (y,) = run([p], [node], {0: x}, ["AvgPool"])
        if excl:
            xmls.append("<!-- opset16 -->\n" + layers[0])
        ref = np_pool(x, (3, 3), (2, 2), (1, 1), (1, 1), "avg", exclude_pad=excl)
        rows.append(f"opset16, exclude-pad={str(excl).lower()}, kernel 3, strides 2, pads 1: max |diff| {maxdiff(y, ref):.1e} vs numpy")
    p = param(x.shape)
    layers, (y,) = run([p], [o1.avg_pool(p, [2, 2], [1, 1], [1, 1], [3, 3], True, "floor")], {0: x}, ["AvgPool"])
    xmls.append("<!-- opset1 -->\n" + layers[0])
    rows.append(f"opset1, exclude-pad=true: max |diff| {maxdiff(y, np_pool(x, (3, 3), (2, 2), (1, 1), (1, 1), 'avg')):.1e}")
    for excl in (True, False):
        p = param(x.shape)
        _, (y,) = run([p], [o16.avg_pool(p, [2, 2], [0, 0], [0, 0], [3, 3], excl, "floor", "same_upper", [1, 1])], {0: x},
                      ["AvgPool"])
        kref = np.asarray(keras.ops.average_pool(jnp.asarray(x.transpose(0, 2, 3, 1)), 3, 2, "same")).transpose(0, 3, 1, 2)
        rows.append(f"same_upper, exclude-pad={str(excl).lower()} vs keras.ops.average_pool(padding=\"same\"): {maxdiff(y, kref):.1e}")
    child = (
        "import openvino as ov, openvino.opset16 as o16, openvino.opset1 as o1\n"
        "p = o1.parameter([2, 3, 6, 5], ov.Type.f32)\n"
        "n = o16.avg_pool(p, [2, 2], [1, 1], [1, 1], [3, 3], True)\n"
        "ov.Core().compile_model(ov.Model([n], [p]), 'CPU')\n"
    )
    rc = subprocess.run([sys.executable, "-c", child], capture_output=True).returncode
    rows.append(f"opset16 without dilations (the Python API then writes `dilations=\"\"`): compile_model in a child "
                f"process exits with {rc}" + (" (SIGSEGV)" if rc == -11 else ""))
    return {
        "xml": xmls,
        "formula": "Mean over each window. `exclude-pad=\"true\"`: divide by the number of real (non-padding) "
        "elements in the window; `false`: by the full kernel size, padding counting as 0. Same shape rules as "
        "MaxPool. opset16 adds `dilations`, which must be written (`dilations=\"1, 1\"`): an empty "
        "`dilations=\"\"` reads fine but crashes the CPU plugin's compile (see the check). opset14 adds `ceil_torch`.",
        "keras": "AveragePooling2D(padding=\"same\") divides by the real elements only (TF/XLA semantics): "
        "`exclude-pad=\"true\"` with `auto_pad=\"same_upper\"`.",
        "check": rows,
    }


@section("Pad", "opset12")
def _pad():
    x = RNG.normal(size=(2, 3, 4)).astype(f32)
    rows, xmls = [], []
    pb, pe = [0, 1, 2], [0, 2, 1]
    for mode in ("constant", "edge", "reflect", "symmetric"):
        p = param(x.shape)
        val = c(1.5, f32) if mode == "constant" else None
        layers, (y,) = run([p], [o12.pad(p, c(pb, np.int64), c(pe, np.int64), mode, val)], {0: x}, ["Pad"])
        kw = {"constant_values": 1.5} if mode == "constant" else {}
        ref = np.pad(x, list(zip(pb, pe)), mode=mode, **kw)
        if mode in ("constant", "reflect"):
            xmls.append(f"<!-- {mode} -->\n" + layers[0])
        rows.append(f"{mode}: max |diff| {maxdiff(y, ref):.1e} vs np.pad(mode=\"{mode}\")")
    p = param(x.shape)
    _, (y,) = run([p], [o12.pad(p, c([0, -1, 1], np.int64), c([0, 1, -2], np.int64), "constant", c(0.0, f32))], {0: x}, ["Pad"])
    ref = np.pad(x, [(0, 0), (0, 1), (1, 0)])[:, 1:, :-2]
    rows.append(f"negative pads (crop) [0,-1,1]/[0,1,-2]: max |diff| {maxdiff(y, ref):.1e}")
    return {
        "xml": xmls,
        "formula": "`pads_begin` (port 1) and `pads_end` (port 2) are i64/i32 inputs with one entry per axis; "
        "`pad_value` (port 3, scalar) only with `pad_mode=\"constant\"` (default 0). Modes constant, edge, reflect "
        "(mirror without the edge), symmetric (with the edge): numpy's names mean the same. opset12 accepts "
        "negative pads, which crop.",
        "keras": "`keras.ops.pad(x, pad_width, mode, constant_values)`: same modes (numpy's names).",
        "check": rows,
    }


@section("Interpolate", "opset11")
def _interpolate():
    rows, xmls = [], []
    x = RNG.normal(size=(2, 3, 5, 6)).astype(f32)
    for (oh, ow) in ((9, 13), (3, 4)):
        for mode in ("linear_onnx", "linear"):
            p = param(x.shape)
            node = o11.interpolate(p, c([oh, ow], np.int64), mode, "sizes", coordinate_transformation_mode="half_pixel",
                                   axes=c([2, 3], np.int64))
            layers, (y,) = run([p], [node], {0: x}, ["Interpolate"])
            if not xmls:
                xmls.append(layers[0])
            ref = np.asarray(jax.image.resize(jnp.asarray(x), (2, 3, oh, ow), "linear", antialias=False))
            refa = np.asarray(jax.image.resize(jnp.asarray(x), (2, 3, oh, ow), "linear", antialias=True))
            rows.append(f"{mode}, half_pixel, 5x6 -> {oh}x{ow}: max |diff| {maxdiff(y, ref):.1e} vs jax.image.resize(linear, "
                        f"antialias=False), {maxdiff(y, refa):.1e} vs antialias=True")
    p = param(x.shape)
    node = o11.interpolate(p, c([3, 4], np.int64), "linear", "sizes", coordinate_transformation_mode="half_pixel",
                           antialias=True, axes=c([2, 3], np.int64))
    _, (y,) = run([p], [node], {0: x}, ["Interpolate"])
    refa = np.asarray(jax.image.resize(jnp.asarray(x), (2, 3, 3, 4), "linear", antialias=True))
    rows.append(f"linear, half_pixel, antialias=true, 5x6 -> 3x4: max |diff| {maxdiff(y, refa):.1e} vs "
                f"jax.image.resize(linear, antialias=True)")
    for (oh, ow) in ((9, 13), (3, 4)):
        kref = np.asarray(jax.image.resize(jnp.asarray(x), (2, 3, oh, ow), "nearest"))
        found = []
        for ctm in ("half_pixel", "asymmetric", "tf_half_pixel_for_nn", "align_corners", "pytorch_half_pixel"):
            for nm in ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple"):
                p = param(x.shape)
                node = o11.interpolate(p, c([oh, ow], np.int64), "nearest", "sizes", coordinate_transformation_mode=ctm,
                                       nearest_mode=nm, axes=c([2, 3], np.int64))
                _, (y,) = run([p], [node], {0: x}, ["Interpolate"])
                if maxdiff(y, kref) == 0:
                    found.append(f"{ctm}+{nm}")
        rows.append(f"nearest 5x6 -> {oh}x{ow}: exact match with jax.image.resize(nearest) for {', '.join(found) or 'none'}")
    return {
        "xml": xmls,
        "formula": "Inputs: image (port 0), `scales_or_sizes` (port 1: i64 sizes, or f32 scales, per "
        "`shape_calculation_mode`), optional `axes` (port 2). Attributes `mode` (nearest, linear, linear_onnx, "
        "cubic, bilinear_pillow, bicubic_pillow), `coordinate_transformation_mode` (half_pixel default: "
        "`x_in = (x_out + 0.5) / scale - 0.5`; pytorch_half_pixel, asymmetric, tf_half_pixel_for_nn, align_corners), "
        "`nearest_mode`, `antialias`, `pads_begin`/`pads_end`, `cube_coeff` (-0.75). `linear_onnx` is plain "
        "bi/trilinear with the coordinate clamped to the edge; `linear` is a triangle filter that widens "
        "with the scale when antialias is on.",
        "keras": "Keras `Resizing`/`keras.ops.image.resize(interpolation=\"bilinear\", antialias=False)` is "
        "`jax.image.resize(\"linear\")`: mode `linear_onnx` (or `linear`), `half_pixel`, sizes on axes [2, 3] "
        "(or [1, 2] for NHWC: Interpolate takes any axes). `interpolation=\"nearest\"` (jax \"nearest\") = mode `nearest` "
        "with `half_pixel` + `round_prefer_ceil` (or `tf_half_pixel_for_nn` + `floor`): the only combinations exact "
        "both up and down in the check.",
        "check": rows,
    }


# ---------------------------------------------------------------------------------------------
# Signals


def cplx(a):
    return a[..., 0] + 1j * a[..., 1]


def split(z):
    return np.stack([z.real, z.imag], -1)


@section("DFT", "opset7")
def _dft():
    x = RNG.normal(size=(3, 8, 6, 2)).astype(f32)
    p = param(x.shape)
    layers, (y,) = run([p], [o7.dft(p, c([1], np.int64))], {0: x}, ["DFT"])
    p = param(x.shape)
    layers2, (y2,) = run([p], [o7.dft(p, c([1, 2], np.int64), c([10, 4], np.int64))], {0: x}, ["DFT"])
    ref2 = split(np.fft.fft2(cplx(x.astype(np.float64)), s=(10, 4), axes=(1, 2)))
    return {
        "xml": ["<!-- axes [1] -->\n" + layers[0], "<!-- axes [1, 2], signal_size [10, 4] -->\n" + layers2[0]],
        "formula": "Complex numbers are a trailing axis of 2 (re, im). `Y[m] = sum_j X[j] exp(-2 pi i m j / S)`, "
        "**unnormalised** (numpy's `norm=\"backward\"`). `axes` (port 1) must not include the trailing axis; "
        "`signal_size` (port 2, optional) zero-pads or trims each axis at the end.",
        "keras": "`keras.ops.fft((real, imag))` / `fft2` take and return a (real, imag) pair: stack them on a "
        "new last axis, and split the result.",
        "check": [f"axes [1]: max |diff| {maxdiff(y, split(np.fft.fft(cplx(x.astype(np.float64)), axis=1))):.1e} vs np.fft.fft "
                  f"(|values| up to {np.abs(y).max():.0f})",
                  f"axes [1, 2], signal_size [10, 4]: max |diff| {maxdiff(y2, ref2):.1e} vs np.fft.fft2(s=(10, 4))"],
    }


@section("IDFT", "opset7")
def _idft():
    x = RNG.normal(size=(3, 8, 2)).astype(f32)
    p = param(x.shape)
    layers, (y,) = run([p], [o7.idft(p, c([1], np.int64))], {0: x}, ["IDFT"])
    return {
        "xml": layers,
        "formula": "`Y[m] = (1 / S) sum_j X[j] exp(+2 pi i m j / S)`: normalised by 1/S per axis (numpy's ifft). "
        "Same inputs as DFT.",
        "keras": "`keras.ops.ifft2` = IDFT on the last two axes of the (real, imag) pair.",
        "check": [f"max |diff| {maxdiff(y, split(np.fft.ifft(cplx(x.astype(np.float64)), axis=1))):.1e} vs np.fft.ifft"],
    }


@section("RDFT", "opset9")
def _rdft():
    x = RNG.normal(size=(3, 8)).astype(f32)
    p = param(x.shape)
    layers, (y,) = run([p], [o9.rdft(p, c([1], np.int64))], {0: x}, ["RDFT"])
    return {
        "xml": layers,
        "formula": "Real input (no trailing 2), output `[..., S/2 + 1, 2]` along the last of `axes`: the "
        "unnormalised forward DFT's non-negative frequencies (numpy's rfft).",
        "keras": "`keras.ops.rfft(x)` returns (real, imag): `RDFT` then split the last axis.",
        "check": [f"max |diff| {maxdiff(y, split(np.fft.rfft(x.astype(np.float64), axis=1))):.1e} vs np.fft.rfft"],
    }


@section("IRDFT", "opset9")
def _irdft():
    z = RNG.normal(size=(3, 5, 2)).astype(f32)  # imaginary parts of DC and Nyquist are not zero on purpose
    p = param(z.shape)
    layers, (y,) = run([p], [o9.irdft(p, c([1], np.int64))], {0: z}, ["IRDFT"])
    p = param(z.shape)
    _, (y9,) = run([p], [o9.irdft(p, c([1], np.int64), c([9], np.int64))], {0: z}, ["IRDFT"])
    return {
        "xml": layers,
        "formula": "Input `[..., M, 2]` (half spectrum), real output of length `2 (M - 1)` along the last axis "
        "(or `signal_size`), normalised by 1/S: numpy's irfft (imaginary parts of the DC and Nyquist bins "
        "are ignored, as in numpy).",
        "keras": "`keras.ops.irfft((real, imag), fft_length)`: stack, then IRDFT with `signal_size = [fft_length]`.",
        "check": [f"default length 8: max |diff| {maxdiff(y, np.fft.irfft(cplx(z.astype(np.float64)), axis=1)):.1e} vs np.fft.irfft",
                  f"signal_size 9: max |diff| {maxdiff(y9, np.fft.irfft(cplx(z.astype(np.float64)), n=9, axis=1)):.1e}"],
    }


# ---------------------------------------------------------------------------------------------
# Indexing, scatter, reductions


@section("Einsum", "opset7")
def _einsum():
    a = RNG.normal(size=(2, 3, 4)).astype(f32)
    b = RNG.normal(size=(2, 4, 5)).astype(f32)
    pa, pb = param(a.shape, name="a"), param(b.shape, name="b")
    layers, (y,) = run([pa, pb], [o7.einsum([pa, pb], "abc,acd->abd")], {0: a, 1: b}, ["Einsum"])
    pa = param(a.shape, name="a")
    _, (y2,) = run([pa], [o7.einsum([pa], "abc->cb")], {0: a}, ["Einsum"])
    return {
        "xml": layers,
        "formula": "Attribute `equation` (numpy subscripts, lower-case letters, `...` allowed, explicit `->` "
        "recommended); any number of inputs, ports in equation order.",
        "keras": "EinsumDense / `keras.ops.einsum`: the same equation string.",
        "check": [f"abc,acd->abd: max |diff| {maxdiff(y, np.einsum('abc,acd->abd', a, b)):.1e}; "
                  f"abc->cb: {maxdiff(y2, np.einsum('abc->cb', a)):.1e} vs np.einsum"],
    }


@section("Gather", "opset8")
def _gather():
    x = RNG.normal(size=(3, 5)).astype(f32)
    idx = np.array([[0, -1], [4, 2]], np.int64)
    p = param(x.shape)
    layers, (y,) = run([p], [o8.gather(p, c(idx), c(1, np.int64))], {0: x}, ["Gather"])
    xb = RNG.normal(size=(3, 5, 2)).astype(f32)
    ib = np.array([[0, 4], [1, 1], [3, -2]], np.int64)
    p = param(xb.shape)
    _, (yb,) = run([p], [o8.gather(p, c(ib), c(1, np.int64), 1)], {0: xb}, ["Gather"])
    refb = np.stack([xb[i][ib[i]] for i in range(3)])
    return {
        "xml": layers,
        "formula": "`out = take(data, indices, axis)`; `axis` is an input (port 2, scalar), `batch_dims` an "
        "attribute (leading dims shared by data and indices). opset8 accepts negative indices "
        "(counted from the end); out-of-range indices give 0.",
        "keras": "`keras.ops.take(x, indices, axis)`; `x[:, i]` slicing. Negative indices behave as in numpy.",
        "check": [f"axis 1, indices with -1: max |diff| {maxdiff(y, np.take(x, idx, axis=1)):.1e} vs np.take",
                  f"batch_dims=1: max |diff| {maxdiff(yb, refb):.1e}"],
    }


@section("ScatterUpdate and ScatterElementsUpdate", "opset3 and opset12")
def _scatter():
    x = RNG.normal(size=(4, 3)).astype(f32)
    upd = RNG.normal(size=(2, 3)).astype(f32)
    p = param(x.shape)
    layers, (y,) = run([p], [o3.scatter_update(p, c([3, 1], np.int64), c(upd), c(0, np.int64))], {0: x}, ["ScatterUpdate"])
    ref = x.copy()
    ref[[3, 1]] = upd
    rows = [f"ScatterUpdate axis 0, indices [3, 1]: max |diff| {maxdiff(y, ref):.1e}"]
    xmls = layers
    idx = np.array([[0, 2, 0], [1, 0, 1]], np.int64)
    u = RNG.normal(size=(2, 3)).astype(f32)
    for red in ("none", "sum", "mean", "max"):
        for init in (True, False):
            if red == "none" and not init:
                continue
            p = param(x.shape)
            node = o12.scatter_elements_update(p, c(idx), c(u), c(1, np.int64), red, init)
            layers, (y,) = run([p], [node], {0: x}, ["ScatterElementsUpdate"])
            if red == "sum" and init:
                xmls = xmls + layers
            ref = x.astype(np.float64).copy()
            if red == "none":
                for i in range(2):
                    for j in range(3):
                        ref[i, idx[i, j]] = u[i, j]
            else:
                groups = {}
                for i in range(2):
                    for j in range(3):
                        groups.setdefault((i, idx[i, j]), []).append(u[i, j])
                for (i, k), vals in groups.items():
                    vals = ([ref[i, k]] if init else []) + vals
                    ref[i, k] = {"sum": np.sum, "mean": np.mean, "max": np.max}[red](vals)
            rows.append(f"ScatterElementsUpdate axis 1, reduction={red}, use_init_val={str(init).lower()}: max |diff| {maxdiff(y, ref):.1e}")
    return {
        "xml": xmls,
        "formula": "ScatterUpdate-3: `data[..., indices[...], ...] = updates` along `axis` (port 3); slices are "
        "replaced whole. ScatterElementsUpdate-12: element-wise along `axis`, "
        "`out[i][indices[i][j]] = updates[i][j]` (for axis 1), with `reduction` none | sum | prod | min | max | "
        "mean and `use_init_val` (whether the original value takes part in the reduction). Duplicate indices "
        "with reduction none: the result is unspecified.",
        "keras": "`keras.ops.scatter_update` (JAX `.at[].set`) and `scatter` (`.at[].add` onto zeros): "
        "ScatterElementsUpdate with sum onto a zero tensor, or ScatterNDUpdate for index tuples.",
        "check": rows,
    }


@section("CumSum", "opset3")
def _cumsum():
    x = RNG.normal(size=(3, 6)).astype(f32)
    rows, xmls = [], []
    for excl, rev in ((False, False), (True, False), (False, True), (True, True)):
        p = param(x.shape)
        layers, (y,) = run([p], [o3.cumsum(p, c(1, np.int64), excl, rev)], {0: x}, ["CumSum"])
        if not xmls:
            xmls = layers
        xd = x.astype(np.float64)
        xs = xd[:, ::-1] if rev else xd
        ref = np.cumsum(xs, 1)
        if excl:
            ref = np.concatenate([np.zeros((3, 1)), ref[:, :-1]], 1)
        ref = ref[:, ::-1] if rev else ref
        rows.append(f"exclusive={str(excl).lower()}, reverse={str(rev).lower()}: max |diff| {maxdiff(y, ref):.1e}")
    return {
        "xml": xmls,
        "formula": "Cumulative sum along `axis` (port 1, scalar i32/i64, negative allowed). `exclusive`: the "
        "j-th output sums the elements before j (first output 0); `reverse`: sums from the end.",
        "keras": "`keras.ops.cumsum(x, axis)` = exclusive false, reverse false.",
        "check": rows,
    }


@section("OneHot", "opset16")
def _one_hot():
    rows, xmls = [], []
    ind = np.array([0, 2, -1, 5, -4], np.int64)
    for mode in ("ignore_negative", "normalize"):
        p = param(ind.shape, ov.Type.i64, name="i")
        node = o16.one_hot(p, c(4, np.int64), c(1.0, f32), c(0.0, f32), -1, mode)
        layers, (y,) = run([p], [node], {0: ind}, ["OneHot"])
        xmls += layers
        jref = np.asarray(jax.nn.one_hot(jnp.asarray(ind), 4))
        nref = np.asarray(jax.nn.one_hot(jnp.asarray(np.where(ind < 0, ind + 4, ind)), 4))
        rows.append(f"{mode}, indices {ind.tolist()}, depth 4: max |diff| {maxdiff(y, jref):.1e} vs jax.nn.one_hot, "
                    f"{maxdiff(y, nref):.1e} vs one_hot of normalised indices")
    return {
        "xml": xmls,
        "formula": "Inputs: indices (i32/i64), `depth` (scalar), `on_value`, `off_value` (scalars of the output "
        "type); attribute `axis` (new axis position, -1 = last). Indices >= depth give all off_value. "
        "opset16 adds `negative_indices_mode`: `ignore_negative` (default, = OneHot-1) or `normalize` (index + depth). "
        "The spec page spells it `ignore-negative`, but OpenVINO 2026.4 only accepts `ignore_negative` (the "
        "Python API rejects the hyphen; see the XML for what it writes).",
        "keras": "`keras.ops.one_hot` (jax.nn.one_hot): negative and too-large indices give all zeros: ignore-negative.",
        "check": rows,
    }


@section("TopK", "opset11")
def _topk():
    x = np.array([[3, 1, 3, 2, 5, 5], [0, -1, 4, 4, 4, 2]], f32)
    p = param(x.shape)
    layers, (v, i) = run([p], [o11.topk(p, c(3, np.int64), -1, "max", "value", "i32", True)], {0: x}, ["TopK"])
    order = np.argsort(-x, axis=1, kind="stable")[:, :3]
    return {
        "xml": layers,
        "formula": "Inputs: data, `k` (scalar). Attributes `axis`, `mode` (max | min), `sort` (value | index | none), "
        "`index_element_type` (i32 default), `stable` (opset11: ties keep the lower index first). Two outputs: "
        "values, indices.",
        "keras": "`keras.ops.top_k(x, k, sorted=True)` (jax.lax.top_k: ties by lower index): mode max, sort value, stable true.",
        "check": [f"values exact: {bool(np.array_equal(v, np.take_along_axis(x, order, 1)))}, indices = stable argsort: "
                  f"{bool(np.array_equal(i, order))} (rows with ties {x.tolist()})"],
    }


# ---------------------------------------------------------------------------------------------
# Recurrent and attention


def sig(z):
    return 1 / (1 + np.exp(-z))


@section("LSTMSequence", "opset5")
def _lstm():
    B, T, I, H = 2, 4, 3, 5
    x = RNG.normal(size=(B, T, I)).astype(f32)
    k = RNG.normal(size=(I, 4 * H)).astype(f32) * 0.5  # Keras kernel, gates i, f, c, o
    r = RNG.normal(size=(H, 4 * H)).astype(f32) * 0.5
    b = RNG.normal(size=(4 * H,)).astype(f32) * 0.5
    # Keras reference (numpy f64): LSTM(units=H, return_sequences=True, return_state=True)
    h = np.zeros((B, H))
    cs = np.zeros((B, H))
    ys = []
    for t in range(T):
        z = x[:, t] @ k + h @ r + b
        i_, f_, c_, o_ = np.split(z, 4, axis=1)
        cs = sig(f_) * cs + sig(i_) * np.tanh(c_)
        h = sig(o_) * np.tanh(cs)
        ys.append(h)
    ref_y = np.stack(ys, 1)

    def fico(w):  # (..., 4H) in i, f, c, o -> f, i, c, o
        i_, f_, c_, o_ = np.split(w, 4, axis=-1)
        return np.concatenate([f_, i_, c_, o_], -1)

    W = fico(k).T[None]
    R = fico(r).T[None]
    Bv = fico(b)[None]
    p = param(x.shape)
    zeros = c(np.zeros((B, 1, H), f32))
    node = o5.lstm_sequence(p, zeros, zeros, c(np.full(B, T, np.int32)), c(W), c(R), c(Bv), H, "forward")
    layers, (y, ho, co) = run([p], [node], {0: x}, ["LSTMSequence"])
    klayer = keras.layers.LSTM(H, return_sequences=True)
    klayer.build((B, T, I))
    klayer.set_weights([k, r, b])
    kref = np.asarray(klayer(jnp.asarray(x)))
    return {
        "xml": layers,
        "formula": "Inputs in order: X `[B, T, I]`, H0 `[B, dirs, H]`, C0 `[B, dirs, H]`, sequence_lengths `[B]` "
        "(i32/i64), W `[dirs, 4H, I]`, R `[dirs, 4H, H]`, B `[dirs, 4H]` (the sum of input and recurrent biases), "
        "**gate order f, i, c, o**. Outputs Y `[B, dirs, T, H]`, Ho, Co `[B, dirs, H]`. Attributes `hidden_size`, "
        "`direction` (forward | reverse | bidirectional), `activations` (sigmoid,tanh,tanh), `activations_alpha/beta`, "
        "`clip` (0 = none). i = f(Xi Wi^T + H Ri^T + Bi) etc.; C' = f*C + i*c; H' = o*h(C'), as ONNX.",
        "keras": "Keras LSTM kernel `(I, 4H)`, recurrent `(H, 4H)`, bias `(4H)`, gates **i, f, c, o**: reorder "
        "to f, i, c, o and transpose each to `(4H, I)` / `(4H, H)`; add the dirs axis. Y `[B, 1, T, H]` -> "
        "squeeze axis 1 for `return_sequences`. Keras' `recurrent_activation` is sigmoid (Keras 3) and "
        "`unit_forget_bias` only affects initialisation.",
        "check": [f"Y max |diff| {maxdiff(y[:, 0], ref_y):.1e} vs numpy f64 Keras formula, {maxdiff(y[:, 0], kref):.1e} vs "
                  f"keras.layers.LSTM; Ho {maxdiff(ho[:, 0], ref_y[:, -1]):.1e}; Co {maxdiff(co[:, 0], cs):.1e}"],
    }


@section("GRUSequence", "opset5")
def _gru():
    B, T, I, H = 2, 4, 3, 5
    x = RNG.normal(size=(B, T, I)).astype(f32)
    k = RNG.normal(size=(I, 3 * H)).astype(f32) * 0.5  # gates z, r, h
    r = RNG.normal(size=(H, 3 * H)).astype(f32) * 0.5
    b = RNG.normal(size=(2, 3 * H)).astype(f32) * 0.5  # reset_after=True: input bias, recurrent bias
    h = np.zeros((B, H))
    ys = []
    for t in range(T):
        xz, xr, xh = np.split(x[:, t] @ k + b[0], 3, axis=1)
        hz, hr, hh = np.split(h @ r + b[1], 3, axis=1)
        z = sig(xz + hz)
        rr = sig(xr + hr)
        cand = np.tanh(xh + rr * hh)
        h = z * h + (1 - z) * cand
        ys.append(h)
    ref_y = np.stack(ys, 1)
    W = k.T[None]
    R = r.T[None]
    Bv = np.concatenate([b[0, :H] + b[1, :H], b[0, H:2 * H] + b[1, H:2 * H], b[0, 2 * H:], b[1, 2 * H:]])[None]
    p = param(x.shape)
    node = o5.gru_sequence(p, c(np.zeros((B, 1, H), f32)), c(np.full(B, T, np.int32)), c(W), c(R), c(Bv), H, "forward",
                           linear_before_reset=True)
    layers, (y, ho) = run([p], [node], {0: x}, ["GRUSequence"])
    klayer = keras.layers.GRU(H, return_sequences=True)
    klayer.build((B, T, I))
    klayer.set_weights([k, r, b])
    kref = np.asarray(klayer(jnp.asarray(x)))
    return {
        "xml": layers,
        "formula": "Inputs: X `[B, T, I]`, H0 `[B, dirs, H]`, sequence_lengths `[B]`, W `[dirs, 3H, I]`, R `[dirs, 3H, H]`, "
        "B `[dirs, 3H]`, or `[dirs, 4H]` with `linear_before_reset=\"true\"` (z and r biases summed, then the "
        "input and the recurrent h biases apart). **Gate order z, r, h.** z = s(X Wz + H Rz + Bz), "
        "r likewise, h~ = tanh(X Wh + r * (H Rh + Rbh) + Wbh) with linear_before_reset, H' = (1 - z) h~ + z H. "
        "Outputs Y `[B, dirs, T, H]`, Ho.",
        "keras": "Keras GRU (reset_after=True, the default) = `linear_before_reset=\"true\"`, same z, r, h order; "
        "bias `(2, 3H)` -> `[bz_in + bz_rec, br_in + br_rec, bh_in, bh_rec]`. reset_after=False = "
        "linear_before_reset false with B `[3H]` = summed biases.",
        "check": [f"Y max |diff| {maxdiff(y[:, 0], ref_y):.1e} vs numpy f64 Keras formula, {maxdiff(y[:, 0], kref):.1e} vs "
                  f"keras.layers.GRU; Ho {maxdiff(ho[:, 0], ref_y[:, -1]):.1e}"],
    }


@section("RNNSequence", "opset5")
def _rnn():
    B, T, I, H = 2, 4, 3, 5
    x = RNG.normal(size=(B, T, I)).astype(f32)
    k = RNG.normal(size=(I, H)).astype(f32) * 0.5
    r = RNG.normal(size=(H, H)).astype(f32) * 0.5
    b = RNG.normal(size=(H,)).astype(f32) * 0.5
    h = np.zeros((B, H))
    ys = []
    for t in range(T):
        h = np.tanh(x[:, t] @ k + h @ r + b)
        ys.append(h)
    ref_y = np.stack(ys, 1)
    p = param(x.shape)
    node = o5.rnn_sequence(p, c(np.zeros((B, 1, H), f32)), c(np.full(B, T, np.int32)), c(k.T[None]), c(r.T[None]),
                           c(b[None]), H, "forward")
    layers, (y, ho) = run([p], [node], {0: x}, ["RNNSequence"])
    return {
        "xml": layers,
        "formula": "Inputs: X, H0 `[B, dirs, H]`, sequence_lengths, W `[dirs, H, I]`, R `[dirs, H, H]`, B `[dirs, H]`; "
        "`H' = f(X W^T + H R^T + B)`, `activations` default tanh. Outputs Y `[B, dirs, T, H]`, Ho.",
        "keras": "SimpleRNN: kernel `(I, H)` -> W = kernel^T, recurrent -> R = recurrent^T, bias -> B.",
        "check": [f"Y max |diff| {maxdiff(y[:, 0], ref_y):.1e} vs numpy f64; Ho {maxdiff(ho[:, 0], ref_y[:, -1]):.1e}"],
    }


def np_sdpa(q, k, v, bias=None, scale=None):
    q, k, v = (a.astype(np.float64) for a in (q, k, v))
    s = (q @ np.swapaxes(k, -1, -2)) * (1 / np.sqrt(q.shape[-1]) if scale is None else scale)
    if bias is not None:
        s = s + bias
    s = s - s.max(-1, keepdims=True)
    w = np.exp(s)
    return (w / w.sum(-1, keepdims=True)) @ v


@section("ScaledDotProductAttention", "opset13")
def _sdpa():
    q = RNG.normal(size=(2, 3, 4, 8)).astype(f32)
    k = RNG.normal(size=(2, 3, 6, 8)).astype(f32)
    v = RNG.normal(size=(2, 3, 6, 8)).astype(f32)
    rows, xmls = [], []
    pq, pk, pv = param(q.shape, name="q"), param(k.shape, name="k"), param(v.shape, name="v")
    layers, (y,) = run([pq, pk, pv], [o13.scaled_dot_product_attention(pq, pk, pv)], {0: q, 1: k, 2: v},
                       ["ScaledDotProductAttention"])
    xmls += ["<!-- no mask, no scale -->\n" + layers[0]]
    kref = np.asarray(jax.nn.dot_product_attention(jnp.asarray(q.transpose(0, 2, 1, 3)), jnp.asarray(k.transpose(0, 2, 1, 3)),
                                                   jnp.asarray(v.transpose(0, 2, 1, 3)))).transpose(0, 2, 1, 3)
    rows.append(f"no mask: max |diff| {maxdiff(y, np_sdpa(q, k, v)):.1e} vs numpy f64, {maxdiff(y, kref):.1e} vs "
                f"jax.nn.dot_product_attention (BTNH layout)")
    mask = RNG.uniform(size=(2, 1, 4, 6)) > 0.3
    mask[..., 0] = True
    pq, pk, pv = param(q.shape, name="q"), param(k.shape, name="k"), param(v.shape, name="v")
    layers, (y,) = run([pq, pk, pv], [o13.scaled_dot_product_attention(pq, pk, pv, c(mask), c(0.25, f32))],
                       {0: q, 1: k, 2: v}, ["ScaledDotProductAttention"])
    xmls += ["<!-- boolean mask [2, 1, 4, 6] and scale 0.25 -->\n" + layers[0]]
    rows.append(f"boolean mask (False = -inf) + scale 0.25: max |diff| {maxdiff(y, np_sdpa(q, k, v, np.where(mask, 0, -np.inf), 0.25)):.1e}")
    pq, pk, pv = param(q.shape, name="q"), param(k.shape, name="k"), param(v.shape, name="v")
    _, (y,) = run([pq, pk, pv], [o13.scaled_dot_product_attention(pq, pk, pv, causal=True)], {0: q, 1: k, 2: v},
                  ["ScaledDotProductAttention"])
    tl = np.where(np.triu(np.ones((4, 6)), 1) > 0, -np.inf, 0)
    br = np.where(np.triu(np.ones((4, 6)), 1 + 6 - 4) > 0, -np.inf, 0)
    rows.append(f"causal=true, L=4 < S=6: max |diff| {maxdiff(y, np_sdpa(q, k, v, tl)):.1e} vs top-left triu(k=1) mask, "
                f"{maxdiff(y, np_sdpa(q, k, v, br)):.1e} vs bottom-right aligned")
    return {
        "xml": xmls,
        "formula": "`softmax(Q K^T * scale + bias) V` over the last axis, Q `[N, ..., L, E]`, K `[N, ..., S, E]`, "
        "V `[N, ..., S, Ev]` (heads before the sequence axis). Optional port 3 `attention_mask`: boolean "
        "(False -> -inf) or float (added), broadcast to `[..., L, S]`; port 4 `scale` (scalar; default "
        "1/sqrt(E)). Attribute `causal`: the mask is `triu(-inf, k=1)` of `[L, S]`, aligned top-left, and "
        "port 3 is then ignored.",
        "keras": "Keras MultiHeadAttention works in `[B, T, heads, dim]` and applies the mask as "
        "`where(mask, scores, -large)` inside its own softmax: transpose to `[B, heads, T, dim]`; "
        "`keras.ops.dot_product_attention(is_causal=True)` (JAX) aligns the causal mask the same way "
        "for L == S.",
        "check": rows,
    }


# ---------------------------------------------------------------------------------------------


HEADER = """# OpenVINO's fused ops: exact IR XML, semantics, and a numerical check

Generated by `tools/openvino_ops.py` with openvino {ov_version} (Python package), numpy {np_version},
jax {jax_version}, keras {keras_version}; do not edit by hand. For every op a tiny model was built with
`openvino.opsetN` (the newest opset that has the op), saved with `ov.save_model(model, path,
compress_to_fp16=False)`, and the op's `<layer>` element is shown as OpenVINO wrote it (tabs as
spaces; the layer's `id` and `name` are whatever the model had). The model was then compiled on CPU
with `INFERENCE_PRECISION_HINT=f32` and run; the check gives max |OpenVINO - reference| over the
test inputs, against numpy in float64 and, where Keras has the op, against the Keras 3 function a
Keras model calls (JAX backend, float32). Semantics come from the op specs
(`docs/articles_en/documentation/openvino-ir-format/operation-sets/operation-specs/`) and
`src/core/reference/include/openvino/reference/*.hpp` of openvinotoolkit/openvino; where those and
the CPU plugin could differ, the check says what the CPU plugin does.

General rules seen in every snippet:

- Input ports are numbered from 0 in the order of the op's inputs; output ports continue the
  numbering. Scalars are ports with no `<dim>`.
- Inputs that the spec calls inputs (Selu's alpha and lambda, MVN's axes, Pad's pads, Swish's beta,
  Interpolate's sizes and axes, ...) must be `Const` layers on those ports, not attributes.
- As `ov.save_model` writes them: booleans `"true"`/`"false"`; int lists `"2, 2"` (comma and space);
  floats in decimal text, an f32 attribute widened to double (`eps="0.0010000000474974513"`);
  enum strings sometimes upper case (`approximation_mode="ERF"`, `eps_mode="INSIDE_SQRT"`), sometimes
  lower case (`auto_pad="same_upper"`, `mode="linear_onnx"`).
- What the reader accepts (checked by this script on an IR edited by hand): {format_checks}

## Differences a Keras user would not expect (summary)

{summary}

"""

SUMMARY = """| op | what differs from Keras / JAX |
|---|---|
| SoftMax | spelled `SoftMax`; one axis only (Keras' several-axis Softmax needs a reshape) |
| LogSoftmax | nothing |
| Elu, Selu | `exp(x) - 1` instead of `expm1`: relative error up to ~20 % for tiny negative x (absolute stays ~1e-8); Selu's alpha and lambda are Const inputs of shape `[1]` |
| Gelu | default mode is `erf`; `keras.ops.gelu` defaults to tanh: write `approximation_mode` explicitly |
| Swish | nothing (beta input omitted = 1) |
| HSwish, HSigmoid | nothing for Keras 3; Keras 2's hard_sigmoid (0.2 x + 0.5) is a different function |
| Mish | nothing |
| SoftPlus | the CPU plugin's SoftPlus is off by up to ~8e-6 for x below about -8 and returns small **negative** values there; Keras' logaddexp is exact to f32 |
| SoftSign | nothing |
| Clamp | Clamp(NaN) = min, where jnp.clip gives NaN |
| PRelu | spelled `PReLU`; a 1-D slope whose length equals dim 1 broadcasts along **axis 1**, not the last axis |
| Relu | spelled `ReLU`; ReLU(NaN) = 0 on CPU, where jax.nn.relu gives NaN |
| MVN | no gamma/beta; eps inside the sqrt only with `eps_mode="inside_sqrt"` |
| BatchNormInference | channel axis is always 1; opset5 input order data, gamma, beta, mean, variance |
| Convolution and friends | channels-first data, `[out, in, k...]` filters (`[in, out, k...]` for the backprop ops); Keras' `same` = `same_upper` for Convolution, but for ConvolutionBackpropData the crop's odd pixel is at the end (explicit pads, or `same_lower` with output_shape) |
| MaxPool, AvgPool | channels first; Keras' `same` average pooling = `exclude-pad="true"` + `same_upper`; AvgPool-16 needs an explicit `dilations` or the CPU plugin segfaults |
| Pad | pads are Const inputs; negative pads crop |
| Interpolate | `linear_onnx` (or `linear`) + `half_pixel` = jax.image.resize linear with antialias off; nearest = `half_pixel` + `round_prefer_ceil`; OpenVINO's `antialias="true"` does not reproduce jax's antialias when downsampling |
| DFT family | complex as a trailing axis of 2; DFT/RDFT unnormalised, IDFT/IRDFT 1/N |
| Einsum, Gather, CumSum, TopK | nothing beyond port order (Gather's axis is an input) |
| Scatter* | ScatterElementsUpdate with duplicate indices and reduction none is unspecified |
| OneHot | depth/on/off are scalar inputs; default negative handling = jax's; opset16's mode is spelled `ignore_negative` (the spec's `ignore-negative` is rejected) |
| LSTMSequence | gate order **f, i, c, o** (Keras: i, f, c, o); weights transposed; one bias (sum) |
| GRUSequence | Keras' reset_after=True needs `linear_before_reset="true"` and a `[1, 4H]` bias |
| RNNSequence | weights transposed |
| ScaledDotProductAttention | heads before the sequence axis; causal mask aligned top-left |
"""


def format_checks():
    """Re-read a saved IR with lower-case enums, `2,2` lists and short floats: same outputs?"""
    p = param([1, 2, 6, 6])
    outs = [o7.gelu(p, "tanh").output(0), o6.mvn(p, c([-1], np.int64), True, 1e-3, "outside_sqrt").output(0),
            o14.max_pool(p, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2], "floor", "explicit").output(0)]
    model = ov.Model(outs, [p])
    x = RNG.normal(size=(1, 2, 6, 6)).astype(f32)
    with tempfile.TemporaryDirectory() as tmp:
        a = os.path.join(tmp, "a.xml")
        ov.save_model(model, a, compress_to_fp16=False)
        text = open(a).read()
        edited = (text.replace('"TANH"', '"tanh"').replace('"OUTSIDE_SQRT"', '"outside_sqrt"')
                  .replace('eps="0.0010000000474974513"', 'eps="0.001"').replace('"2, 2"', '"2,2"'))
        assert edited != text
        b = os.path.join(tmp, "b.xml")
        open(b, "w").write(edited)
        import shutil
        shutil.copy(a[:-4] + ".bin", b[:-4] + ".bin")
        ra = CORE.compile_model(CORE.read_model(a), "CPU")({0: x})
        rb = CORE.compile_model(CORE.read_model(b), "CPU")({0: x})
        same = all(np.array_equal(ra[i], rb[i]) for i in range(len(outs)))
    return ("lower-case `approximation_mode=\"tanh\"` and `eps_mode=\"outside_sqrt\"`, `eps=\"0.001\"` and "
            f"`kernel=\"2,2\"` give {'identical' if same else 'DIFFERENT'} outputs to the IR as written.")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "openvino-ops.md"))
    ap.add_argument("--only", nargs="+")
    args = ap.parse_args()
    parts = [HEADER.format(ov_version=ov.get_version().split("-")[0], np_version=np.__version__,
                           jax_version=jax.__version__, keras_version=keras.__version__, summary=SUMMARY,
                           format_checks=format_checks())]
    for title, version, fn in SECTIONS:
        if args.only and title not in args.only:
            continue
        r = fn()
        print(f"{title}:", *r["check"], sep="\n  ", flush=True)
        parts.append(f"## {title} ({version})\n")
        for xml in r["xml"]:
            parts.append(f"```xml\n{xml}\n```\n")
        parts.append(f"**Semantics.** {r['formula']}\n")
        parts.append(f"**Keras / JAX.** {r['keras']}\n")
        parts.append("**Check (CPU, f32 hint).**\n")
        parts.append("\n".join(f"- {row}" for row in r["check"]) + "\n")
    if not args.only:
        with open(args.out, "w") as fh:
            fh.write("\n".join(parts))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
