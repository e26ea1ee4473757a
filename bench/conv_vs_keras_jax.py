"""keras2ov on convolutional models vs Keras' own OpenVINO export and vs JAX, same machine, one run.

Models (issue 11's benchmark), f32, batch --batch (32):
  * MobileNetV2 (alpha 0.35, 96x96x3, 10 classes, `keras.applications` builder, weights=None,
    BatchNormalization statistics from a few batches of data so the activations are not flat);
  * a small U-Net (64x64x3 -> 64x64x1: two levels of Conv2D+BatchNormalization+ReLU, max
    pooling, Conv2DTranspose, skip concatenations, 16/32/64 filters).
Timed:
  * forward: keras2ov's IR (`keras2ov convert --batch B`) and Keras 3.15.1's
    `model.export(format="openvino")` IR (made in a child python with KERAS_BACKEND=openvino),
    both compiled by one openvino Core (INFERENCE_PRECISION_HINT=f32, PERFORMANCE_HINT=LATENCY),
    against `jax.jit` of the model's `stateless_call`;
  * the classifier's per-sample input Jacobian `[B, 10, 96, 96, 3]`: keras2ov's IR
    (`convert --jacobian --of predictions`, which picks reverse mode: 10 cotangents) against
    `jax.jit(jax.vmap(jax.jacrev(f)))`, f one sample.
Every result is checked against JAX first (max |diff| printed), so a fast wrong IR is caught.
The sides alternate for --rounds rounds; a round is the median of --iterations calls after
warm-up; reported: the median over rounds, and ratios (other / keras2ov: > 1 means keras2ov
is faster).

Run: .venv-bench/bin/python bench/conv_vs_keras_jax.py --keras2ov target/release/keras2ov
(the IR does not depend on how keras2ov was built; a debug binary converts more slowly only).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

if "--export-child" not in sys.argv:
    os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402


def export_child(src, dst):
    """Child side (KERAS_BACKEND=openvino): Keras' own OpenVINO export of `src` into `dst`."""
    import keras

    assert keras.backend.backend() == "openvino"
    m = keras.saving.load_model(src)
    m.export(dst, format="openvino", verbose=False)


def mobilenet_v2(keras, rng):
    m = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10, name="mobilenet_v2"
    )
    return m


def unet(keras):
    L = keras.layers

    def block(x, f):
        for _ in range(2):
            x = L.Conv2D(f, 3, padding="same", use_bias=False)(x)
            x = L.BatchNormalization()(x)
            x = L.ReLU()(x)
        return x

    x = keras.Input((64, 64, 3), name="image")
    d1 = block(x, 16)
    d2 = block(L.MaxPooling2D()(d1), 32)
    b = block(L.MaxPooling2D()(d2), 64)
    u2 = L.Conv2DTranspose(32, 2, strides=2)(b)
    u2 = block(L.Concatenate()([u2, d2]), 32)
    u1 = L.Conv2DTranspose(16, 2, strides=2)(u2)
    u1 = block(L.Concatenate()([u1, d1]), 16)
    y = L.Conv2D(1, 1, activation="sigmoid", name="mask")(u1)
    return keras.Model(x, y, name="unet")


def set_bn_statistics(keras, m, data):
    """Moving mean/variance of every BatchNormalization from `data` (training-mode passes)."""
    bns = [l for l in m._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    for l in bns:  # momentum 0: one training-mode pass sets them to the batch's statistics
        l.momentum = 0.0
    m(data, training=True)
    for l in bns:
        l.momentum = 0.99
    return m


def timed(fn, iterations, warmup):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keras2ov", default="target/release/keras2ov")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--jac-iterations", type=int, default=3)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--export-child", nargs=2, metavar=("SRC", "DST"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.export_child:
        export_child(*args.export_child)
        return

    import jax
    import keras
    import openvino as ov

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    B = args.batch
    core = ov.Core()
    cfg = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    results = {"batch": B, "openvino": ov.__version__, "jax": jax.__version__,
               "keras": keras.__version__, "models": {}}
    tmp = tempfile.mkdtemp(prefix="conv_bench_")

    models = [
        ("mobilenet_v2", mobilenet_v2(keras, rng), (96, 96, 3), True),
        ("unet", unet(keras), (64, 64, 3), False),
    ]
    for name, m, in_shape, with_jacobian in models:
        x = rng.uniform(0.0, 1.0, (B, *in_shape)).astype(np.float32)
        set_bn_statistics(keras, m, x)
        path = os.path.join(tmp, f"{name}.keras")
        m.save(path)
        in_name, out_name = m.layers[0].name, m.layers[-1].name
        print(f"== {name}: input {in_name} {list(x.shape)}, output {out_name}", flush=True)

        tv = [v.value for v in m.trainable_variables]
        ntv = [v.value for v in m.non_trainable_variables]
        fwd_jax = jax.jit(lambda xb: m.stateless_call(tv, ntv, xb)[0])
        y_jax = np.asarray(fwd_jax(x))

        # keras2ov forward IR
        ours_xml = os.path.join(tmp, f"{name}.xml")
        subprocess.run([args.keras2ov, "convert", path, "--batch", str(B), "-o", ours_xml],
                       check=True, capture_output=True)
        ours = core.compile_model(ours_xml, "CPU", cfg)
        ours_req = ours.create_infer_request()
        y_ours = ours_req.infer({0: x})[ours.outputs[0]]
        # Keras' own export
        kxml = os.path.join(tmp, f"{name}_keras_export.xml")
        env = dict(os.environ, KERAS_BACKEND="openvino")
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--export-child", path, kxml],
                              env=env, capture_output=True, text=True)
        keras_req = None
        if proc.returncode == 0:
            km = core.read_model(kxml)
            km.reshape({km.inputs[0]: ov.PartialShape([B, *in_shape])})
            kc = core.compile_model(km, "CPU", cfg)
            keras_req = kc.create_infer_request()
            y_keras = keras_req.infer({0: x})[kc.outputs[0]]
        else:
            print("  Keras export failed:", proc.stderr.strip().splitlines()[-1:], flush=True)
        r = {"check": {"ours_vs_jax": float(np.abs(y_ours - y_jax).max()),
                       "max_abs_jax": float(np.abs(y_jax).max())}}
        if keras_req is not None:
            r["check"]["keras_export_vs_jax"] = float(np.abs(y_keras - y_jax).max())
        print("  max |diff| vs JAX:", r["check"], flush=True)

        # Jacobian
        if with_jacobian:
            f = lambda xi: m.stateless_call(tv, ntv, xi[None])[0][0]  # noqa: E731
            jac_jax = jax.jit(jax.vmap(jax.jacrev(f)))
            j_jax = np.asarray(jac_jax(x))
            jac_xml = os.path.join(tmp, f"{name}_jac.xml")
            subprocess.run([args.keras2ov, "convert", path, "--jacobian", "--of", out_name,
                            "--batch", str(B), "-o", jac_xml], check=True, capture_output=True)
            jc = core.compile_model(jac_xml, "CPU", cfg)
            jac_req = jc.create_infer_request()
            jout = [o for o in jc.outputs if o.get_any_name().startswith("jacobian/")][0]
            j_ours = jac_req.infer({0: x})[jout]
            r["check"]["jacobian_ours_vs_jax"] = float(np.abs(j_ours - j_jax).max())
            r["check"]["jacobian_max_abs_jax"] = float(np.abs(j_jax).max())
            per_sample = np.abs(j_ours - j_jax).reshape(B, -1).max(1)
            # A ReLU6 input within rounding of 0 or 6 can land on the other side of the kink
            # in f32 (OpenVINO and XLA round differently): that sample's Jacobian then differs
            # by the unit's whole contribution. Count the samples that agree closely.
            r["check"]["jacobian_samples_within_1e-4"] = int((per_sample <= 1e-4).sum())
            print(f"  Jacobian {list(j_ours.shape)} max |diff| vs JAX:",
                  r["check"]["jacobian_ours_vs_jax"], "(max |J|",
                  r["check"]["jacobian_max_abs_jax"], ");",
                  r["check"]["jacobian_samples_within_1e-4"], f"of {B} samples within 1e-4", flush=True)

        sides = {
            "ours_forward": (lambda: ours_req.infer({0: x}), args.iterations),
            "jax_forward": (lambda: fwd_jax(x).block_until_ready(), args.iterations),
        }
        if keras_req is not None:
            sides["keras_export_forward"] = (lambda: keras_req.infer({0: x}), args.iterations)
        if with_jacobian:
            sides["ours_jacobian"] = (lambda: jac_req.infer({0: x}), args.jac_iterations)
            sides["jax_jacobian"] = (lambda: jac_jax(x).block_until_ready(), args.jac_iterations)
        per_round = {k: [] for k in sides}
        for rd in range(args.rounds):
            for k, (fn, it) in sides.items():
                per_round[k].append(timed(fn, it, warmup=2 if rd == 0 else 1))
        med = {k: float(np.median(v)) * 1e3 for k, v in per_round.items()}
        r["ms"] = med
        ratios = {"jax_forward/ours": med["jax_forward"] / med["ours_forward"]}
        if "keras_export_forward" in med:
            ratios["keras_export/ours"] = med["keras_export_forward"] / med["ours_forward"]
        if with_jacobian:
            ratios["jax_jacobian/ours"] = med["jax_jacobian"] / med["ours_jacobian"]
        r["ratios"] = ratios
        for k, v in med.items():
            print(f"  {k:22s} {v:10.1f} ms", flush=True)
        for k, v in ratios.items():
            print(f"  {k:22s} {v:10.2f}x", flush=True)
        results["models"][name] = r

    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
            fh.write("\n")


if __name__ == "__main__":
    main()
