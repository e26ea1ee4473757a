"""Sequence models: keras2ov vs JAX and vs Keras' own OpenVINO export, same machine, one run.

Two models (issue 13), batch 256, f32:
  * lstm: a 2-layer LSTM(64) regressor over 32 steps of 8 features (LSTM(64, return_sequences)
    -> LSTM(64) -> Dense(1));
  * transformer: a 2-block transformer encoder on 32 tokens of d_model 64 (each block:
    MultiHeadAttention(4 heads of 16) + residual + LayerNormalization, Dense(128, gelu) ->
    Dense(64) + residual + LayerNormalization), then GlobalAveragePooling1D -> Dense(1).
Each is saved as .keras and timed as:
  * keras2ov forward and Jacobian w.r.t. the input sequence: the IRs `keras2ov convert
    --batch 256 [--jacobian]` writes (the Jacobian is built in reverse mode: 1 output < 256 or
    2048 inputs), compiled by the openvino Python API with the f32 and latency hints;
  * JAX: jit(f) on the batch, and jit(vmap(jacrev(f))) (jacfwd: --jacfwd, slow or out of memory
    here), f(x) = model.stateless_call(..., x[None])[0][0];
  * Keras' own export, `model.export(path, format="openvino")` under KERAS_BACKEND=openvino in a
    child python, compiled by the openvino Python API with the same hints (f32, latency,
    reshaped to the static batch); an export or compile failure is reported as such.
All of it runs in this one process: both OpenVINO IRs on the same runtime and Core settings,
fed the same array the same way. The sides alternate for --rounds rounds; each time is the
median over rounds of the per-round median latency (the minimum over rounds is printed too:
the machine is shared, and the quietest round is the least disturbed). "speedup" is the other
side's time divided by keras2ov's.

Run: .venv-bench/bin/python bench/seq_vs_jax.py --keras2ov target/release/keras2ov
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

BATCH = 256


def build(kind, path):
    import keras

    keras.utils.set_random_seed(0)
    if kind == "lstm":
        x = keras.Input((32, 8), name="series")
        h = keras.layers.LSTM(64, return_sequences=True, name="lstm1")(x)
        h = keras.layers.LSTM(64, name="lstm2")(h)
        y = keras.layers.Dense(1, name="y")(h)
    else:
        x = keras.Input((32, 64), name="tokens")
        h = x
        for b in range(2):
            a = keras.layers.MultiHeadAttention(4, 16, name=f"mha{b}")(h, h)
            h = keras.layers.LayerNormalization(name=f"ln{b}a")(keras.layers.Add()([h, a]))
            f = keras.layers.Dense(128, activation="gelu", name=f"ff{b}a")(h)
            f = keras.layers.Dense(64, name=f"ff{b}b")(f)
            h = keras.layers.LayerNormalization(name=f"ln{b}b")(keras.layers.Add()([h, f]))
        p = keras.layers.GlobalAveragePooling1D(name="pool")(h)
        y = keras.layers.Dense(1, name="y")(p)
    model = keras.Model(x, y)
    # Non-trivial weights: biases and LayerNormalization parameters too.
    rng = np.random.default_rng(1)
    for v in model.weights:
        v.assign(rng.normal(0, 0.3 if len(v.shape) > 1 else 0.1, v.shape).astype(np.float32))
    model.save(path)
    return model


def median_time(fn, args, iterations, warmup=3):
    import jax

    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def ours_ir(binary, path, xml, jacobian):
    """Our IR at the static batch, written by `keras2ov convert`."""
    cmd = [binary, "convert", path, "--batch", str(BATCH), "-o", xml]
    if jacobian:
        cmd.append("--jacobian")
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return xml


def export_child(keras_path, xml):
    """Child (KERAS_BACKEND=openvino): Keras' own export of the model."""
    import keras

    model = keras.saving.load_model(keras_path)
    model.export(xml, format="openvino", verbose=False)


def keras_export(keras_path, xml):
    env = dict(os.environ, KERAS_BACKEND="openvino")
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--export-child", keras_path, xml],
        env=env, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return "export failed: " + (lines[-1] if lines else f"exit {proc.returncode}")
    return None


class IR:
    """An IR compiled with the f32 and latency hints at the static batch (as written, when it
    cannot be reshaped or compiled so)."""

    def __init__(self, xml, shape, threads=None):
        import openvino as ov

        core = ov.Core()
        props = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            props["INFERENCE_NUM_THREADS"] = threads
        core.set_property("CPU", props)
        try:
            model = core.read_model(xml)
            model.reshape({model.input(0): ov.PartialShape([BATCH, *shape])})
            self.compiled = core.compile_model(model, "CPU")
        except Exception as static_error:  # noqa: BLE001
            try:
                self.compiled = core.compile_model(core.read_model(xml), "CPU")
            except Exception as e:  # noqa: BLE001
                raise RuntimeError(f"static batch: {static_error}; as exported: {e}") from None
        self.request = self.compiled.create_infer_request()

    def run(self, x):
        return self.request.infer({0: x})

    def time(self, x, iterations, warmup=3):
        for _ in range(warmup):
            self.run(x)
        times = []
        for _ in range(iterations):
            start = time.perf_counter()
            self.run(x)
            times.append(time.perf_counter() - start)
        return float(np.median(times))


def first_line(e):
    lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else type(e).__name__


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--export-child":
        export_child(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keras2ov", default="target/release/keras2ov")
    ap.add_argument("--models", default="lstm,transformer")
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--jacfwd", action="store_true", help="also time jit(vmap(jacfwd))")
    ap.add_argument("--threads", type=int, help="INFERENCE_NUM_THREADS for both OpenVINO sides")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    import jax
    import keras

    tmp = tempfile.mkdtemp()
    rows = []
    load = os.getloadavg()
    print(f"jax {jax.__version__}, keras {keras.__version__}, batch {BATCH}, "
          f"openvino threads {args.threads or 'default'}, load average {load[0]:.2f}")
    for kind in args.models.split(","):
        path = os.path.join(tmp, f"{kind}_bench.keras")
        model = build(kind, path)
        shape = tuple(model.inputs[0].shape[1:])
        tv = [v.value for v in model.trainable_variables]
        ntv = [v.value for v in model.non_trainable_variables]

        def batched(x):
            return model.stateless_call(tv, ntv, x, training=False)[0]

        def f(x):
            return batched(x[None])[0]

        jax_fns = {"forward": jax.jit(batched), "jacrev": jax.jit(jax.vmap(jax.jacrev(f)))}
        if args.jacfwd:
            jax_fns["jacfwd"] = jax.jit(jax.vmap(jax.jacfwd(f)))
        x = np.random.default_rng(2).uniform(0.1, 1.0, (BATCH, *shape)).astype(np.float32)
        fwd = IR(ours_ir(args.keras2ov, path, os.path.join(tmp, f"{kind}_fwd.xml"), False), shape, args.threads)
        jac = IR(ours_ir(args.keras2ov, path, os.path.join(tmp, f"{kind}_jac.xml"), True), shape, args.threads)
        # Our IRs reproduce Keras and JAX here too (the tests check every fixture).
        ref_y = np.asarray(batched(x))
        ref_j = np.asarray(jax_fns["jacrev"](x))
        got_y = list(fwd.run(x).values())[0]
        got_j = jac.run(x)[jac.compiled.output(f"jacobian/y/{model.inputs[0].name}")]
        print(f"{kind}: max |ours - jax| forward {np.abs(got_y - ref_y).max():.2e}, "
              f"jacobian {np.abs(got_j - ref_j).max():.2e}")
        xml = os.path.join(tmp, f"{kind}_keras.xml")
        err = keras_export(path, xml)
        kir = None
        if err is None:
            try:
                kir = IR(xml, shape, args.threads)
            except Exception as e:  # noqa: BLE001 - reported, not fatal
                err = "compile failed: " + first_line(e)
        jr, orr, kr = {}, {}, []
        for _ in range(args.rounds):
            for k, fn in jax_fns.items():
                try:
                    jr.setdefault(k, []).append(median_time(fn, (x,), args.iterations))
                except Exception as e:  # noqa: BLE001 - e.g. out of memory
                    jr[k] = [float("nan")]
                    print(f"{kind}: jax {k} failed: {type(e).__name__}", file=sys.stderr)
            orr.setdefault("forward", []).append(fwd.time(x, args.iterations))
            orr.setdefault("jacobian", []).append(jac.time(x, args.iterations))
            if kir is not None:
                kr.append(kir.time(x, args.iterations))
        med = lambda v: float(np.median(v)) * 1e3  # noqa: E731
        low = lambda v: float(np.min(v)) * 1e3  # noqa: E731
        pairs = [("forward", "jax jit", jr["forward"]), ("forward", "keras export", kr or None),
                 ("jacobian", "jax jit(vmap(jacrev))", jr["jacrev"])]
        if args.jacfwd:
            pairs.append(("jacobian", "jax jit(vmap(jacfwd))", jr["jacfwd"]))
        for ours_kind, other, other_t in pairs:
            o = orr[ours_kind]
            row = {"model": kind, "keras2ov": ours_kind, "keras2ov_ms": med(o), "keras2ov_min_ms": low(o),
                   "other": other, "other_ms": med(other_t) if other_t else None,
                   "other_min_ms": low(other_t) if other_t else None}
            row["speedup"] = row["other_ms"] / row["keras2ov_ms"] if other_t else None
            row["speedup_min"] = row["other_min_ms"] / row["keras2ov_min_ms"] if other_t else None
            if other_t is None:
                row["other_error"] = err
            rows.append(row)
            if other_t:
                other_txt = f"{row['other_ms']:8.2f} ms (min {row['other_min_ms']:7.2f})"
                speed = f"{row['speedup']:5.2f}x (min {row['speedup_min']:4.2f}x)"
            else:
                other_txt, speed = f"n/a ({err})", "-"
            print(f"{kind:11s} keras2ov {ours_kind:8s} {row['keras2ov_ms']:8.2f} ms (min {row['keras2ov_min_ms']:7.2f})   "
                  f"{other:22s} {other_txt}   speedup {speed}")
            sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
