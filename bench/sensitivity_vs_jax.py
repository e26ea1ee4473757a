"""`keras2ov sensitivity` end to end vs a JAX + NumPy script computing the same statistics.

Writes a CSV of N rows (x, t) for the PINN fixture, then times, one run each on the same machine:
  * keras2ov sensitivity fixtures/models/model_pinn.keras --data rows.csv -o report/
  * this script's own JAX path: the CSV read in chunks (np.loadtxt), jit(vmap(jacfwd(f))) per
    batch, and NumPy reductions (mean, mean|.|, RMS, std, min, max, DGSM, scaled sensitivity)
and reports wall time and peak memory (ru_maxrss of each child process).

Run: python bench/sensitivity_vs_jax.py --rows 1000000 --keras2ov target/release/keras2ov
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def write_csv(path, rows, seed=0):
    rng = np.random.default_rng(seed)
    with open(path, "w") as fh:
        fh.write("x,t\n")
        chunk = 100_000
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            a = rng.uniform(-1.0, 1.0, (n, 2))
            np.savetxt(fh, a, delimiter=",", fmt="%.7g")


JAX_SIDE = r'''
import os, sys, json, time
os.environ["KERAS_BACKEND"] = "jax"
import numpy as np, jax, jax.numpy as jnp, keras
model_path, csv_path, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
m = keras.saving.load_model(model_path)
tv = [v.value for v in m.trainable_variables]; ntv = [v.value for v in m.non_trainable_variables]
f = lambda x, t: m.stateless_call(tv, ntv, [x[None], t[None]])[0][0]
jac = jax.jit(jax.vmap(jax.jacfwd(f, argnums=(0, 1))))
fwd = jax.jit(lambda x, t: m.stateless_call(tv, ntv, [x, t])[0])
n = 0; s = np.zeros(2); sa = np.zeros(2); sq = np.zeros(2); mn = np.full(2, np.inf); mx = np.full(2, -np.inf)
xs = np.zeros(2); xq = np.zeros(2); ys = 0.0; yq = 0.0
with open(csv_path) as fh:
    fh.readline()
    while True:
        a = np.loadtxt(fh, delimiter=",", max_rows=batch, dtype=np.float32, ndmin=2)
        if a.size == 0:
            break
        a = a[np.isfinite(a).all(axis=1)]
        x, t = jnp.asarray(a[:, :1]), jnp.asarray(a[:, 1:2])
        jx, jt = jac(x, t)
        d = np.concatenate([np.asarray(jx).reshape(-1, 1), np.asarray(jt).reshape(-1, 1)], axis=1).astype(np.float64)
        y = np.asarray(fwd(x, t)).astype(np.float64).ravel()
        n += len(d); s += d.sum(0); sa += np.abs(d).sum(0); sq += (d * d).sum(0)
        mn = np.minimum(mn, d.min(0)); mx = np.maximum(mx, d.max(0))
        xs += a.sum(0); xq += (a.astype(np.float64) ** 2).sum(0); ys += y.sum(); yq += (y * y).sum()
mean = s / n; nu = sq / n; std = np.sqrt(np.maximum(nu - mean ** 2, 0))
sx = np.sqrt(xq / n - (xs / n) ** 2); sy = np.sqrt(yq / n - (ys / n) ** 2)
print(json.dumps({"rows": n, "mean": mean.tolist(), "mean_abs": (sa / n).tolist(), "rms": np.sqrt(nu).tolist(),
                  "std": std.tolist(), "min": mn.tolist(), "max": mx.tolist(), "dgsm": nu.tolist(),
                  "scaled": ((sa / n) * sx / sy).tolist()}))
'''


def timed(cmd):
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024, out.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--keras2ov", default="target/release/keras2ov")
    ap.add_argument("--model", default="fixtures/models/model_pinn.keras")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    csv = os.path.join(tmp, "rows.csv")
    write_csv(csv, args.rows)
    # keras2ov first: ru_maxrss of children is a running maximum, so the smaller run goes first.
    ours_wall, ours_mb, _ = timed([args.keras2ov, "sensitivity", args.model, "--data", csv,
                                   "-o", os.path.join(tmp, "report"), "--batch", str(args.batch), "--quiet"])
    jax_wall, jax_mb, out = timed([sys.executable, "-c", JAX_SIDE, args.model, csv, str(args.batch)])
    jax_rows = json.loads(out.strip().splitlines()[-1])["rows"]
    if jax_rows != args.rows:
        sys.exit(f"the JAX side read {jax_rows} rows, not {args.rows}")
    print(f"rows {args.rows}, batch {args.batch}")
    print(f"keras2ov sensitivity : {ours_wall:7.2f} s wall, peak RSS {ours_mb:7.1f} MB")
    print(f"JAX + NumPy          : {jax_wall:7.2f} s wall, peak RSS (max so far) {jax_mb:7.1f} MB")
    print(f"speedup {jax_wall / ours_wall:.2f}x")


if __name__ == "__main__":
    main()
