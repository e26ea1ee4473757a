"""Two IR choices of keras2ov, timed on the OpenVINO runtime.

1. OpenVINO Interpolate against one MatMul (or Gather) per axis for jax.image.resize on NHWC.

The choice in src/opgraph/prim/resize.rs (`INTERPOLATE_LINEAR_FROM`,
`INTERPOLATE_NEAREST_FROM`, `Resize::interpolate_mode`): for each case below, two IRs built
with the openvino Python API compute the same resize of a batch of NHWC images,
  * `interpolate`: one Interpolate-11 on axes [1, 2] (linear + half_pixel, or nearest +
    tf_half_pixel_for_nn + floor), what keras2ov emits for large images;
  * `matmul`: what keras2ov emits otherwise, per resized axis (neither is the last one on
    NHWC) `W^T @ x` on x viewed as [.., m, rest], W being jax's weight matrix
    (`kernel_weights`, as in docs/semantics/conv_check.py); nearest as one Gather per axis.
Both are checked to agree (max |diff| printed), then timed: one Core, f32,
PERFORMANCE_HINT=LATENCY, warm-up, --rounds alternating rounds, each the median of
--iterations inferences. Reported: median ms of each and matmul_ms / interpolate_ms
(> 1: Interpolate faster).

2. `keras.ops.rfft` of [rows, n] (src/lower/spectral.rs): two MatMuls with the constant
   cos/sin matrices [n, n/2 + 1] against OpenVINO's RDFT (whose output is [rows, bins, 2]),
   checked against numpy's rfft, timed the same way (ratio rdft_ms / matmul_ms: > 1 means
   the matrices are faster).

Run: .venv/bin/python bench/resample_dft.py   (needs openvino and numpy)
"""

import argparse
import statistics
import time

import numpy as np
import openvino as ov
import openvino.opset11 as op


def kernel_weights(m, n, antialias=False):
    """jax/_src/image/scale.py::compute_weight_mat, linear kernel, translation 0."""
    inv = 1.0 / (n / m)
    ks = max(inv, 1.0) if antialias else 1.0
    sample = (np.arange(n) + 0.5) * inv - 0.5
    w = np.maximum(0, 1 - np.abs(sample[None, :] - np.arange(m)[:, None]) / ks)
    tot = w.sum(0, keepdims=True)
    w = np.where(np.abs(tot) > 1000 * np.finfo(np.float32).eps, w / np.where(tot != 0, tot, 1), 0)
    w = np.where(((sample >= -0.5) & (sample <= m - 0.5))[None, :], w, 0)
    return w.astype(np.float32)


def nearest_indices(m, n):
    f = (np.arange(n, dtype=np.float32) + np.float32(0.5)) * np.float32(m) / np.float32(n)
    return np.minimum(np.floor(f).astype(np.int64), m - 1)


def interpolate_model(shape, size, method):
    p = op.parameter(shape, np.float32, name="x")
    if method == "linear":
        y = op.interpolate(p, np.array(size, np.int64), "linear", "sizes",
                           coordinate_transformation_mode="half_pixel",
                           axes=np.array([1, 2], np.int64))
    else:
        y = op.interpolate(p, np.array(size, np.int64), "nearest", "sizes",
                           coordinate_transformation_mode="tf_half_pixel_for_nn",
                           nearest_mode="floor", axes=np.array([1, 2], np.int64))
    return ov.Model([y], [p])


def axis_contract(x, axis, w, dims):
    """x (dims) contracted on axis (not the last) with w [m, n]: W^T @ x[.., m, rest]."""
    m, n = w.shape
    rest = int(np.prod(dims[axis + 1:]))
    flat = op.reshape(x, np.array([0] * axis + [m, rest], np.int64), special_zero=True)
    y = op.matmul(op.constant(np.ascontiguousarray(w.T)), flat, False, False)
    out = list(dims)
    out[axis] = n
    return op.reshape(y, np.array([0] * axis + out[axis:], np.int64), special_zero=True), out


def matmul_model(shape, size, method):
    p = op.parameter(shape, np.float32, name="x")
    x, dims = p, list(shape)
    for axis, n in ((1, size[0]), (2, size[1])):
        m = dims[axis]
        if method == "linear":
            x, dims = axis_contract(x, axis, kernel_weights(m, n), dims)
        else:
            x = op.gather(x, op.constant(nearest_indices(m, n)),
                          op.constant(np.array(axis, np.int64)))
            dims[axis] = n
    return ov.Model([x], [p])


def timed(req, x, iterations):
    times = []
    for _ in range(iterations):
        t = time.perf_counter()
        req.infer({0: x})
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


CASES = [  # (batch, h, w, c, out h, out w, method)
    (8, 8, 8, 16, 16, 16, "linear"),
    (8, 24, 24, 16, 48, 48, "linear"),
    (8, 32, 32, 16, 64, 64, "linear"),
    (8, 64, 64, 32, 128, 128, "linear"),
    (8, 224, 224, 3, 112, 112, "linear"),
    (8, 8, 8, 16, 16, 16, "nearest"),
    (8, 16, 16, 16, 32, 32, "nearest"),
    (8, 64, 64, 16, 128, 128, "nearest"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=20)
    args = ap.parse_args()
    core = ov.Core()
    cfg = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    rng = np.random.default_rng(0)
    print(f"{'case':42s} {'interp ms':>10s} {'matmul ms':>10s} {'ratio':>6s} {'max diff':>9s}")
    for b, h, w, c, oh, ow, method in CASES:
        shape = [b, h, w, c]
        x = rng.standard_normal(shape).astype(np.float32)
        reqs = [core.compile_model(f(shape, (oh, ow), method), "CPU", cfg).create_infer_request()
                for f in (interpolate_model, matmul_model)]
        outs = [r.infer({0: x})[0].copy() for r in reqs]
        diff = float(np.abs(outs[0] - outs[1]).max())
        for r in reqs:
            timed(r, x, 3)
        ms = [[], []]
        for _ in range(args.rounds):
            for k, r in enumerate(reqs):
                ms[k].append(timed(r, x, args.iterations))
        ti, tm = statistics.median(ms[0]), statistics.median(ms[1])
        name = f"{method} {b}x{h}x{w}x{c} -> {oh}x{ow}"
        print(f"{name:42s} {ti:10.3f} {tm:10.3f} {tm / ti:6.2f} {diff:9.1e}")
    dft_main(core, cfg, args, rng)


def rfft_models(rows, n):
    p = op.parameter([rows, n], np.float32, name="x")
    k = np.arange(n // 2 + 1)
    a = 2 * np.pi * np.outer(np.arange(n), k) / n
    re = op.matmul(p, op.constant(np.cos(a).astype(np.float32)), False, False)
    im = op.matmul(p, op.constant(-np.sin(a).astype(np.float32)), False, False)
    mm = ov.Model([re, im], [p])
    q = op.parameter([rows, n], np.float32, name="x")
    r = op.rdft(q, op.constant(np.array([1], np.int64)))
    return mm, ov.Model([r], [q])


def dft_main(core, cfg, args, rng):
    print(f"{'rfft':42s} {'matmul ms':>10s} {'rdft ms':>10s} {'ratio':>6s}")
    for rows, n in ((2048, 16), (2048, 64), (2048, 256), (2048, 1024)):
        x = rng.standard_normal([rows, n]).astype(np.float32)
        want = np.fft.rfft(x.astype(np.float64), axis=-1)
        mm, rd = rfft_models(rows, n)
        reqs = [core.compile_model(m, "CPU", cfg).create_infer_request() for m in (mm, rd)]
        o = reqs[0].infer({0: x})
        err_mm = max(np.abs(o[0] - want.real).max(), np.abs(o[1] - want.imag).max())
        o = reqs[1].infer({0: x})[0]
        err_rd = max(np.abs(o[..., 0] - want.real).max(), np.abs(o[..., 1] - want.imag).max())
        for r in reqs:
            timed(r, x, 3)
        ms = [[], []]
        for _ in range(args.rounds):
            for k, r in enumerate(reqs):
                ms[k].append(timed(r, x, args.iterations))
        tm, tr = statistics.median(ms[0]), statistics.median(ms[1])
        name = f"{rows} x {n} (errors {err_mm:.0e} / {err_rd:.0e})"
        print(f"{name:42s} {tm:10.3f} {tr:10.3f} {tr / tm:6.2f}")


if __name__ == "__main__":
    main()
