#!/usr/bin/env python3
"""Checks the formulas of docs/semantics/conv.md against Keras 3.15.1 / JAX (CPU).

Each check re-implements one documented formula in plain numpy (loops, explicit pads,
explicit weights) and compares it with what Keras computes. Run from the repo root:

    .venv-fixtures/bin/python docs/semantics/conv_check.py
"""

import os

os.environ["KERAS_BACKEND"] = "jax"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers, ops  # noqa: E402

assert keras.__version__ == "3.15.1"
rng = np.random.default_rng(0)
ok = []


def close(name, a, b, tol=1e-5):
    dt = np.complex128 if np.iscomplexobj(a) or np.iscomplexobj(b) else np.float64
    a, b = np.asarray(a, dt), np.asarray(b, dt)
    assert a.shape == b.shape, (name, a.shape, b.shape)
    err = np.abs(a - b).max() if a.size else 0.0
    assert err <= tol * max(1.0, np.abs(b).max()), (name, err)
    ok.append(name)


def same_pads(n, k_eff, s):
    """JAX 'SAME' (lax.padtype_to_pads): out = ceil(n/s); odd total -> extra AFTER."""
    out = -(-n // s)
    total = max((out - 1) * s + k_eff - n, 0)
    return total // 2, total - total // 2


# ---------------------------------------------------------------- conv (1-D reference)
def conv1d_ref(x, k, stride, pads, dil, groups):
    """x (n, cin), k (kw, cin/groups, f): cross-correlation, zero padding.

    y[o, j] = sum_t sum_c xpad[o*stride + t*dil, g*cg + c] * k[t, c, j], g = j // (f/groups)
    """
    n, cin = x.shape
    kw, cg, f = k.shape
    xp = np.concatenate([np.zeros((pads[0], cin)), x, np.zeros((pads[1], cin))])
    k_eff = (kw - 1) * dil + 1
    out_n = (xp.shape[0] - k_eff) // stride + 1
    y = np.zeros((out_n, f))
    fpg = f // groups
    for o in range(out_n):
        for j in range(f):
            g = j // fpg
            for t in range(kw):
                y[o, j] += xp[o * stride + t * dil, g * cg:(g + 1) * cg] @ k[t, :, j]
    return y


for (n, kw, s, d, pad, groups) in [(9, 4, 2, 1, "same", 1), (9, 3, 3, 1, "same", 1),
                                   (10, 3, 1, 2, "same", 2), (9, 3, 2, 1, "valid", 1),
                                   (8, 2, 3, 1, "same", 4)]:
    cin, f = 4, 4
    x = rng.normal(size=(n, cin))
    lay = layers.Conv1D(f, kw, strides=s, dilation_rate=d, padding=pad, groups=groups,
                        use_bias=False)
    y = lay(x[None].astype("float32"))[0]
    k = np.asarray(lay.kernel)
    pads = same_pads(n, (kw - 1) * d + 1, s) if pad == "same" else (0, 0)
    close(f"Conv1D {pad} k{kw} s{s} d{d} g{groups}", y, conv1d_ref(x, k, s, pads, d, groups))

# causal = pad dilation*(k-1) zeros before, then valid
x = rng.normal(size=(7, 2))
lay = layers.Conv1D(3, 3, dilation_rate=2, padding="causal", use_bias=False)
y = lay(x[None].astype("float32"))[0]
close("Conv1D causal", y, conv1d_ref(x, np.asarray(lay.kernel), 1, (4, 0), 2, 1))

# depthwise: output channel c*M + m uses input channel c and kernel[..., c, m]
x = rng.normal(size=(8, 3))
lay = layers.DepthwiseConv1D(3, depth_multiplier=2, padding="same", use_bias=False)
y = lay(x[None].astype("float32"))[0]
k = np.asarray(lay.kernel)                                   # (3, C=3, M=2)
kg = k.reshape(3, 1, 6)                                      # (k, 1, C*M): groups = C
close("DepthwiseConv1D channel order", y, conv1d_ref(x, kg, 1, same_pads(8, 3, 1), 1, 3))

# separable = depthwise (strides/padding/dilation) then 1x1 valid conv, bias at the end
x = rng.normal(size=(9, 2))
lay = layers.SeparableConv1D(3, 3, strides=2, depth_multiplier=2, padding="same")
y = lay(x[None].astype("float32"))[0]
dk, pk, b = (np.asarray(v) for v in lay.weights)
dw = conv1d_ref(x, dk.reshape(3, 1, 4), 2, same_pads(9, 3, 2), 1, 2)
close("SeparableConv1D", y, dw @ pk[0] + b)


# ---------------------------------------------------------------- transposed conv
def conv_transpose_pads(n, k, s, d, padding, output_padding):
    """keras/src/backend/common/backend_utils.py::_convert_..._from_keras_to_jax."""
    ke = (k - 1) * d + 1
    if padding == "valid":
        op = max(ke, s) - ke if output_padding is None else output_padding
        return ke - 1, ke - 1 + op
    pad_len = s + ke - 2 if output_padding is None else ke + ke % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, ke - 1)
    return left, pad_len - left


def conv_transpose_ref(x, k, s, d, padding, output_padding):
    """x (n, cin), k (kw, f, cin): dilate x by s (s-1 zeros between samples), pad, and
    cross-correlate with the spatially FLIPPED kernel, in/out channels swapped."""
    n, cin = x.shape
    kw, f, _ = k.shape
    xd = np.zeros(((n - 1) * s + 1, cin))
    xd[::s] = x
    lo, hi = conv_transpose_pads(n, kw, s, d, padding, output_padding)
    kf = np.transpose(k[::-1], (0, 2, 1))                    # (kw, cin, f)
    return conv1d_ref(xd, kf, 1, (lo, hi), d, 1)


for (n, kw, s, d, pad, op) in [(5, 3, 2, 1, "valid", None), (5, 3, 2, 1, "same", None),
                               (5, 4, 3, 1, "same", 1), (5, 2, 3, 1, "valid", None),
                               (5, 3, 3, 1, "valid", 2), (5, 3, 1, 2, "same", None),
                               (5, 1, 3, 1, "same", 2), (4, 4, 2, 1, "same", None)]:
    x = rng.normal(size=(n, 2))
    lay = layers.Conv1DTranspose(3, kw, strides=s, dilation_rate=d, padding=pad,
                                 output_padding=op, use_bias=False)
    y = lay(x[None].astype("float32"))[0]
    close(f"Conv1DTranspose {pad} k{kw} s{s} d{d} op{op}", y,
          conv_transpose_ref(x, np.asarray(lay.kernel), s, d, pad, op))


# ---------------------------------------------------------------- pooling
def pool1d_ref(x, p, s, pad, mode):
    n = x.shape[0]
    lo, hi = same_pads(n, p, s) if pad == "same" else (0, 0)
    out_n = (n + lo + hi - p) // s + 1
    y = []
    for o in range(out_n):
        idx = [i for i in range(o * s - lo, o * s - lo + p) if 0 <= i < n]   # valid cells
        w = x[idx]
        y.append(w.max(0) if mode == "max" else w.mean(0))        # mean over VALID cells
    return np.array(y)


for (n, p, s, pad) in [(9, 3, 2, "valid"), (9, 4, 3, "same"), (9, 3, 1, "same"),
                       (9, 2, 2, "same"), (7, 5, 2, "same")]:
    x = rng.normal(size=(n, 2))
    for mode, cls in (("max", layers.MaxPooling1D), ("avg", layers.AveragePooling1D)):
        y = cls(p, strides=s, padding=pad)(x[None].astype("float32"))[0]
        close(f"{cls.__name__} {pad} p{p} s{s}", y, pool1d_ref(x, p, s, pad, mode))

# max-pool ties: the tangent goes to the FIRST maximum in row-major window order
x = jnp.array([[[1.0], [3.0], [3.0], [2.0]], [[3.0], [3.0], [0.0], [3.0]]])[None]  # (1,2,4,1)
jf = jax.jacfwd(lambda v: layers.MaxPooling2D(2)(v))(x)[0, 0, :, 0, 0, :, :, 0]   # (2, 2, 4)
jr = jax.jacrev(lambda v: layers.MaxPooling2D(2)(v))(x)[0, 0, :, 0, 0, :, :, 0]
first = np.zeros((2, 2, 4))
first[0, 0, 1] = 1.0   # window 0 = [[1,3],[3,3]]: max 3 first at (0, 1)
first[1, 0, 2] = 1.0   # window 1 = [[3,2],[0,3]]: max 3 first at (0, 2)
close("MaxPooling2D ties jacfwd", jf, first)
close("MaxPooling2D ties jacrev", jr, first)
# global max (jnp.max = reduce_max): ties share the tangent equally
g = jax.grad(lambda v: ops.max(v))(jnp.array([1.0, 3.0, 3.0, 2.0]))
close("ops.max ties", g, [0, 0.5, 0.5, 0])


# ---------------------------------------------------------------- resize (1-D weights)
def kernel_weights(n_in, n_out, kind, antialias):
    """jax/_src/image/scale.py::compute_weight_mat for resize (translation 0)."""
    scale = n_out / n_in
    inv = 1.0 / scale
    ks = max(inv, 1.0) if antialias else 1.0
    sample = (np.arange(n_out) + 0.5) * inv - 0.5             # half-pixel centres
    xdist = np.abs(sample[None, :] - np.arange(n_in)[:, None]) / ks
    if kind == "linear":
        w = np.maximum(0, 1 - xdist)
    elif kind == "cubic":                                      # Keys, a = -0.5
        w = np.where(xdist < 1, (1.5 * xdist - 2.5) * xdist * xdist + 1,
                     np.where(xdist < 2, ((-0.5 * xdist + 2.5) * xdist - 4) * xdist + 2, 0))
    else:                                                      # lanczos r
        r = {"lanczos3": 3.0, "lanczos5": 5.0}[kind]
        with np.errstate(all="ignore"):
            v = r * np.sin(np.pi * xdist) * np.sin(np.pi * xdist / r) / (np.pi ** 2 * xdist ** 2)
        w = np.where(xdist > r, 0, np.where(xdist > 1e-3, v, 1))
    tot = w.sum(0, keepdims=True)
    w = np.where(np.abs(tot) > 1000 * np.finfo(np.float32).eps, w / np.where(tot != 0, tot, 1), 0)
    w = np.where(((sample >= -0.5) & (sample <= n_in - 0.5))[None, :], w, 0)
    return w                                                   # (n_in, n_out)


def resize_ref(img, oh, ow, kind, antialias):
    """img (H, W, C); an axis whose size does not change is left untouched."""
    h, w_ = img.shape[:2]
    out = img
    if oh != h:
        out = np.tensordot(kernel_weights(h, oh, kind, antialias), out, axes=([0], [0]))
    if ow != w_:
        out = np.moveaxis(np.tensordot(kernel_weights(w_, ow, kind, antialias), out,
                                       axes=([0], [1])), 0, 1)
    return out


img = rng.normal(size=(4, 5, 2))
for (oh, ow, interp, aa) in [(7, 8, "bilinear", False), (3, 3, "bilinear", False),
                             (3, 3, "bilinear", True), (2, 2, "bilinear", True),
                             (7, 8, "bicubic", False), (3, 4, "bicubic", True),
                             (6, 7, "lanczos3", False), (3, 3, "lanczos5", False),
                             (4, 3, "bilinear", False)]:
    kind = {"bilinear": "linear", "bicubic": "cubic"}.get(interp, interp)
    y = layers.Resizing(oh, ow, interpolation=interp, antialias=aa)(img[None].astype("float32"))[0]
    close(f"Resizing {interp} {oh}x{ow} antialias={aa}", y, resize_ref(img, oh, ow, kind, aa))

# bilinear upsampling == half-pixel + clamp to the edge
x1 = rng.normal(size=(4,))
w = kernel_weights(4, 9, "linear", False)
src = np.clip((np.arange(9) + 0.5) * 4 / 9 - 0.5, 0, 3)
i0 = np.floor(src).astype(int)
i1 = np.minimum(i0 + 1, 3)
t = src - i0
close("bilinear == half_pixel + clamp", x1 @ w, (1 - t) * x1[i0] + t * x1[i1])

# nearest: src = floor((dst + 0.5) * in / out)
for (oh, ow) in [(7, 9), (3, 2), (4, 5), (2, 7)]:
    y = layers.Resizing(oh, ow, interpolation="nearest")(img[None].astype("float32"))[0]
    ri = np.floor((np.arange(oh) + 0.5) * 4 / oh).astype(int)
    ci = np.floor((np.arange(ow) + 0.5) * 5 / ow).astype(int)
    close(f"Resizing nearest {oh}x{ow}", y, img[ri][:, ci])

# crop / pad to aspect ratio (integer arithmetic as in backend/jax/image.py)
img = rng.normal(size=(4, 7, 1))
y = layers.Resizing(3, 3, crop_to_aspect_ratio=True)(img[None].astype("float32"))[0]
close("Resizing crop_to_aspect_ratio", y, resize_ref(img[:, 1:5], 3, 3, "linear", False))
y = layers.Resizing(6, 6, pad_to_aspect_ratio=True, fill_value=0.5)(img[None].astype("float32"))[0]
padded = np.concatenate([np.full((1, 7, 1), 0.5), img, np.full((1, 7, 1), 0.5)])  # 6x7, not 7x7
close("Resizing pad_to_aspect_ratio (odd difference)", y, resize_ref(padded, 6, 6, "linear", False))

# CenterCrop larger than the input -> smart_resize (aspect crop + bilinear)
img = rng.normal(size=(5, 4, 1))
y = layers.CenterCrop(6, 3)(img[None].astype("float32"))[0]
close("CenterCrop smaller input", y, resize_ref(img[:, 1:3], 6, 3, "linear", False))
y = layers.CenterCrop(3, 3)(img[None].astype("float32"))[0]
close("CenterCrop", y, img[1:4, 0:3])

# ---------------------------------------------------------------- normalisation
x = rng.normal(size=(2, 3, 6))
lay = layers.GroupNormalization(groups=3, epsilon=1e-3)
lay.build((None, 2, 3, 6))
lay.gamma.assign(rng.uniform(0.5, 1.5, 6).astype("float32"))
lay.beta.assign(rng.uniform(-0.5, 0.5, 6).astype("float32"))
y = lay(x[None].astype("float32"))[0]
xg = x.reshape(2, 3, 3, 2)                                   # (..., groups, C/groups)
mu = xg.mean(axis=(0, 1, 3), keepdims=True)
var = xg.var(axis=(0, 1, 3), keepdims=True)
ref = ((xg - mu) / np.sqrt(var + 1e-3)).reshape(2, 3, 6) * np.asarray(lay.gamma) + np.asarray(lay.beta)
close("GroupNormalization", y, ref, 1e-4)

x = rng.normal(size=(3, 4))
close("UnitNormalization", layers.UnitNormalization()(x[None].astype("float32"))[0],
      x / np.linalg.norm(x, axis=-1, keepdims=True))
close("UnitNormalization zero row", layers.UnitNormalization()(np.zeros((1, 4), "float32")), np.zeros((1, 4)))

# ---------------------------------------------------------------- FFT conventions
x = rng.normal(size=(3, 8)).astype("float32")
re, im = ops.rfft(x)
close("rfft", np.asarray(re) + 1j * np.asarray(im), np.fft.rfft(x), 1e-4)
close("irfft odd n", ops.irfft((re[:, :3], im[:, :3]), fft_length=5),
      np.fft.irfft(np.asarray(re)[:, :3] + 1j * np.asarray(im)[:, :3], n=5), 1e-4)
a, b = rng.normal(size=(2, 4, 6)).astype("float32")
fr, fi = ops.fft2((a, b))
close("fft2 (last two axes)", np.asarray(fr) + 1j * np.asarray(fi), np.fft.fft2(a + 1j * b), 1e-4)
ir, ii = ops.ifft2((a, b))
close("ifft2 (1/(n1 n2))", np.asarray(ir) + 1j * np.asarray(ii), np.fft.ifft2(a + 1j * b), 1e-4)



def irfft_ref(re_, im_, n):
    """y[t] = (1/n) [Re X0 + 2 sum_{0<k<n/2} (Re Xk cos(2 pi k t/n) - Im Xk sin(2 pi k t/n))
                     + (n even) Re X_{n/2} (-1)^t]; bins beyond n//2 are dropped, missing
    bins are zero, Im X0 and (n even) Im X_{n/2} are ignored."""
    m = n // 2 + 1
    re_ = np.pad(re_[..., :m], [(0, 0)] * (re_.ndim - 1) + [(0, max(0, m - re_.shape[-1]))])
    im_ = np.pad(im_[..., :m], [(0, 0)] * (im_.ndim - 1) + [(0, max(0, m - im_.shape[-1]))])
    t = np.arange(n)
    y = re_[..., :1] * np.ones(n)
    for k in range(1, (n + 1) // 2):
        y = y + 2 * (re_[..., k:k + 1] * np.cos(2 * np.pi * k * t / n)
                     - im_[..., k:k + 1] * np.sin(2 * np.pi * k * t / n))
    if n % 2 == 0:
        y = y + re_[..., n // 2:n // 2 + 1] * (-1.0) ** t
    return y / n


re_, im_ = rng.normal(size=(2, 3, 5)).astype("float32")
for n in (8, 5, 6, 12):
    close(f"irfft explicit formula n={n}", ops.irfft((re_, im_), fft_length=n),
          irfft_ref(re_, im_, n), 1e-4)

# jnp.pad modes pad axis by axis in order: later axes see the earlier axes' padding
x = rng.normal(size=(1, 3, 4)).astype("float32")
pw = ((0, 0), (1, 2), (2, 1))
y = ops.pad(x, pw, mode="mean")
first = np.pad(x, ((0, 0), (1, 2), (0, 0)), mode="mean")            # axis 1 first
close("pad mean: axis by axis", np.asarray(y)[0, 0, 0], first[0, 0].mean())
idx_reflect = [2, 1, 0, 1, 2, 3, 2]          # reflect: edge not repeated (n=4, pads 2/1)
idx_symmetric = [1, 0, 0, 1, 2, 3, 3]        # symmetric: edge repeated
idx_wrap = [2, 3, 0, 1, 2, 3, 0]
for mode, idx in (("reflect", idx_reflect), ("symmetric", idx_symmetric), ("wrap", idx_wrap)):
    close(f"pad {mode} index map", ops.pad(x, ((0, 0), (0, 0), (2, 1)), mode=mode)[0],
          x[0][:, idx])

print(f"{len(ok)} checks passed:")
for n in ok:
    print("  ok", n)
