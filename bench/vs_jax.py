"""keras2ov vs JAX on a PINN MLP: forward, Jacobian and Hessian throughput, same machine, one run.

Builds the model the issue names (inputs x and t, three hidden tanh Dense layers of 64, output u),
saves it as .keras, then for each batch size times:
  * keras2ov's forward / Jacobian / Hessian models (`keras2ov bench --json`, OpenVINO CPU, f32)
  * jax.jit(f) (forward, batched), jax.jit(jax.vmap(jax.jacfwd(f))), jax.jit(jax.vmap(jax.jacrev(f)))
    and jax.jit(jax.vmap(jax.hessian(f))), with f(x, t) = model(x[None], t[None])[0]
and prints the medians and the ratios (JAX time / keras2ov time: > 1 means keras2ov is faster).
The two sides alternate for --rounds rounds; each reported time is the median over rounds of
the per-round medians.

Run: make bench (or: python bench/vs_jax.py --keras2ov target/release/keras2ov).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402


def build_model(path):
    keras.utils.set_random_seed(0)
    x = keras.Input((1,), name="x")
    t = keras.Input((1,), name="t")
    h = keras.layers.Concatenate()([x, t])
    for i in range(3):
        h = keras.layers.Dense(64, activation="tanh", name=f"hidden{i}")(h)
    u = keras.layers.Dense(1, name="u")(h)
    model = keras.Model([x, t], u)
    model.save(path)
    return model


def median_time(fn, args, iterations, warmup=3):
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def ours(binary, model_path, kind, batch, iterations):
    """`kind` is forward, jacobian, hessian, or `<kind>:<mode>` to force --mode."""
    kind, _, mode = kind.partition(":")
    cmd = [binary, "bench", model_path, "--batch", str(batch), "--iterations", str(iterations), "--json"]
    if kind != "forward":
        cmd.append("--" + kind)
    if mode:
        cmd += ["--mode", mode]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["median_ms"] / 1e3


# (ours, JAX) pairs; the default --mode auto builds this model's derivatives in reverse mode
# (1 output < 2 inputs), and the forced forward-mode rows show the jacfwd-shaped graphs.
PAIRS = [
    ("forward", "forward"),
    ("jacobian", "jacfwd"),
    ("jacobian", "jacrev"),
    ("hessian", "hessian"),
    ("jacobian:forward", "jacfwd"),
    ("hessian:forward", "hessian"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keras2ov", default="target/release/keras2ov")
    ap.add_argument("--batches", default="1024,16384")
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="alternate JAX and keras2ov this many times; each side's median over the rounds is kept "
        "(the machine is shared: alternating spreads slow spells over both sides)",
    )
    ap.add_argument(
        "--baseline",
        help="another keras2ov binary (an earlier commit) timed in the same rounds, to show a "
        "change did not make the derivative models slower",
    )
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--show-rounds", action="store_true", help="also print every round's times")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "pinn_bench.keras")
    model = build_model(path)
    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]

    def batched(x, t):
        return model.stateless_call(tv, ntv, [x, t], training=False)[0]

    def f(x, t):
        return batched(x[None], t[None])[0]

    jax_fns = {
        "forward": jax.jit(batched),
        "jacfwd": jax.jit(jax.vmap(jax.jacfwd(f, argnums=(0, 1)))),
        "jacrev": jax.jit(jax.vmap(jax.jacrev(f, argnums=(0, 1)))),
        "hessian": jax.jit(jax.vmap(jax.hessian(f, argnums=(0, 1)))),
    }
    rows = []
    print(f"jax {jax.__version__}, keras {keras.__version__}, devices {jax.devices()}")
    for batch in [int(b) for b in args.batches.split(",")]:
        rng = np.random.default_rng(batch)
        x = jnp.asarray(rng.uniform(0.1, 1.0, (batch, 1)).astype(np.float32))
        t = jnp.asarray(rng.uniform(0.1, 1.0, (batch, 1)).astype(np.float32))
        kinds = ("forward", "jacobian", "hessian", "jacobian:forward", "hessian:forward")
        jr, orr, brr = {}, {}, {}
        for _ in range(args.rounds):
            for k, fn in jax_fns.items():
                jr.setdefault(k, []).append(median_time(fn, (x, t), args.iterations))
            for k in kinds:
                orr.setdefault(k, []).append(ours(args.keras2ov, path, k, batch, args.iterations))
                if args.baseline:
                    brr.setdefault(k, []).append(ours(args.baseline, path, k, batch, args.iterations))
        if args.show_rounds:
            print("rounds (ms):", {side + k: [round(t * 1e3, 2) for t in v] for side, d in (("jax ", jr), ("ours ", orr)) for k, v in d.items()})
        jt = {k: float(np.median(v)) for k, v in jr.items()}
        ot = {k: float(np.median(v)) for k, v in orr.items()}
        bt = {k: float(np.median(v)) for k, v in brr.items()}
        for ours_kind, jax_kind in PAIRS:
            row = {
                "batch": batch,
                "keras2ov": ours_kind,
                "jax": jax_kind,
                "keras2ov_ms": ot[ours_kind] * 1e3,
                "jax_ms": jt[jax_kind] * 1e3,
                "speedup": jt[jax_kind] / ot[ours_kind],
            }
            base = ""
            if ours_kind in bt:
                row["baseline_ms"] = bt[ours_kind] * 1e3
                row["baseline_speedup"] = jt[jax_kind] / bt[ours_kind]
                base = (
                    f"   baseline {row['baseline_ms']:9.3f} ms ({row['baseline_speedup']:5.2f}x;"
                    f" new/baseline time {ot[ours_kind] / bt[ours_kind]:4.2f})"
                )
            rows.append(row)
            print(
                f"batch {batch:6d}  keras2ov {ours_kind:16s} {row['keras2ov_ms']:9.3f} ms   "
                f"jax {jax_kind:8s} {row['jax_ms']:9.3f} ms   speedup {row['speedup']:5.2f}x{base}"
            )
            sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
