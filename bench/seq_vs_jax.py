"""Sequence models: keras2ov vs JAX and vs Keras' own OpenVINO export, same machine, one run.

Two models (issue 13), batch 256, f32:
  * lstm: a 2-layer LSTM(64) regressor over 32 steps of 8 features (LSTM(64, return_sequences)
    -> LSTM(64) -> Dense(1));
  * transformer: a 2-block transformer encoder on 32 tokens of d_model 64 (each block:
    MultiHeadAttention(4 heads of 16) + residual + LayerNormalization, Dense(128, gelu) ->
    Dense(64) + residual + LayerNormalization), then GlobalAveragePooling1D -> Dense(1).
Each is saved as .keras and timed as:
  * keras2ov forward and Jacobian w.r.t. the input sequence (`keras2ov bench --json`, OpenVINO
    CPU, f32, latency hint; the Jacobian is built in reverse mode: 1 output < 256/2048 inputs);
  * JAX: jit(f) on the batch, and jit(vmap(jacrev(f))) (jacfwd: --jacfwd, slow or out of memory
    here), f(x) = model.stateless_call(..., x[None])[0][0];
  * Keras' own export, `model.export(path, format="openvino")` under KERAS_BACKEND=openvino in a
    child python, compiled by the openvino Python API with the same hints (f32, latency,
    reshaped to the static batch); an export or compile failure is reported as such.
The sides alternate for --rounds rounds; each time is the median over rounds of the per-round
median latency. "speedup" is the other side's time divided by keras2ov's.

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


def ours(binary, path, jacobian, iterations, threads=None):
    cmd = [binary, "bench", path, "--batch", str(BATCH), "--iterations", str(iterations), "--json"]
    if jacobian:
        cmd.append("--jacobian")
    if threads:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["median_ms"] / 1e3


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


class KerasIR:
    """Keras' exported IR compiled with the f32 and latency hints at the static batch."""

    def __init__(self, xml, shape, threads=None):
        import openvino as ov

        core = ov.Core()
        props = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            props["INFERENCE_NUM_THREADS"] = threads
        core.set_property("CPU", props)
        # At the static batch, as ours is compiled; if that fails, as exported (dynamic).
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

    def time(self, x, iterations, warmup=3):
        for _ in range(warmup):
            self.request.infer({0: x})
        times = []
        for _ in range(iterations):
            start = time.perf_counter()
            self.request.infer({0: x})
            times.append(time.perf_counter() - start)
        return float(np.median(times))


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
        xml = os.path.join(tmp, f"{kind}_keras.xml")
        err = keras_export(path, xml)
        kir = None
        if err is None:
            try:
                kir = KerasIR(xml, shape, args.threads)
            except Exception as e:  # noqa: BLE001 - reported, not fatal
                lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
                err = "compile failed: " + (lines[-1] if lines else type(e).__name__)
        jr, orr, kr = {}, {}, []
        for _ in range(args.rounds):
            for k, fn in jax_fns.items():
                try:
                    jr.setdefault(k, []).append(median_time(fn, (x,), args.iterations))
                except Exception as e:  # noqa: BLE001 - e.g. out of memory
                    jr[k] = [float("nan")]
                    print(f"{kind}: jax {k} failed: {type(e).__name__}", file=sys.stderr)
            for k in ("forward", "jacobian"):
                orr.setdefault(k, []).append(
                    ours(args.keras2ov, path, k == "jacobian", args.iterations, args.threads))
            if kir is not None:
                kr.append(kir.time(x, args.iterations))
        jt = {k: float(np.median(v)) * 1e3 for k, v in jr.items()}
        ot = {k: float(np.median(v)) * 1e3 for k, v in orr.items()}
        kt = float(np.median(kr)) * 1e3 if kr else None
        pairs = [("forward", "jax jit", jt["forward"]), ("forward", "keras export", kt),
                 ("jacobian", "jax jit(vmap(jacrev))", jt["jacrev"])]
        if args.jacfwd:
            pairs.append(("jacobian", "jax jit(vmap(jacfwd))", jt["jacfwd"]))
        for ours_kind, other, other_ms in pairs:
            row = {"model": kind, "keras2ov": ours_kind, "keras2ov_ms": ot[ours_kind], "other": other,
                   "other_ms": other_ms, "speedup": (other_ms / ot[ours_kind]) if other_ms else None}
            if other == "keras export" and kt is None:
                row["other_error"] = err
            rows.append(row)
            other_txt = f"{other_ms:9.2f} ms" if other_ms else f"   n/a ({err})"
            speed = f"{row['speedup']:5.2f}x" if row["speedup"] else "  -"
            print(f"{kind:11s} keras2ov {ours_kind:8s} {ot[ours_kind]:8.2f} ms   {other:22s} {other_txt}   speedup {speed}")
            sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
