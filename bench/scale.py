"""Sensitivity over many rows: the keras2ov CLI alone, and keras2ov.dask / keras2ov.ray with 1
and 2 workers, on this machine. Prints a Markdown table: wall time, rows/s and the peak
resident memory of each worker process (the processes that load OpenVINO), and checks that
every route gives the same statistics.

Run by `make bench-scale` (SCALE_ROWS=10000000 by default), in a venv with the wheel and
python/requirements-test.txt. The model is the PINN fixture (inputs x, t; output u).
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODEL = ROOT / "fixtures" / "models" / "model_pinn.keras"


class PeakRss:
    """Samples the resident memory of the processes below this one that have loaded the
    OpenVINO C library (the workers), every 50 ms; `peaks` maps pid -> max RSS in bytes."""

    def __init__(self, include_self=False):
        import psutil

        self.psutil, self.include_self, self.peaks = psutil, include_self, {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def workers(self):
        me = self.psutil.Process()
        procs = me.children(recursive=True) + ([me] if self.include_self else [])
        for p in procs:
            try:
                with open(f"/proc/{p.pid}/maps") as f:
                    if "libopenvino_c" in f.read():
                        yield p
            except OSError:
                pass

    def run(self):
        while not self.stop.is_set():
            for p in self.workers():
                try:
                    rss = p.memory_info().rss
                except self.psutil.Error:
                    continue
                self.peaks[p.pid] = max(self.peaks.get(p.pid, 0), rss)
            time.sleep(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def stats_of(d):
    return [(s["mean_abs"], s["dgsm"], s["scaled"]) for s in d["sensitivity"]]


def check_same(name, got, want):
    for a, b in zip(stats_of(got), stats_of(want)):
        np.testing.assert_allclose(a, b, rtol=1e-5, err_msg=name)
    assert got["rows"] == want["rows"], (name, got["rows"], want["rows"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--keep", help="directory for the data (default: a temporary one)")
    args = ap.parse_args()
    n, parts = args.rows, args.partitions
    work = pathlib.Path(args.keep or tempfile.mkdtemp(prefix="keras2ov-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    exe = pathlib.Path(sys.executable).parent / "keras2ov"

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, n).astype(np.float32)
    t = rng.uniform(0, 1, n).astype(np.float32)
    np.savez(work / "rows.npz", x=x[:, None], t=t[:, None])
    pq_dir = work / "parquet"
    pq_dir.mkdir(exist_ok=True)
    for k, idx in enumerate(np.array_split(np.arange(n), parts)):
        pq.write_table(pa.table({"x": x[idx], "t": t[idx]}), pq_dir / f"part{k}.parquet")
    pd.DataFrame({"x": x, "t": t}).to_csv(work / "rows.csv", index=False)
    del x, t
    print(f"{n} rows in {work}", file=sys.stderr)

    results = []

    def record(route, workers, seconds, peaks, d):
        results.append((route, workers, seconds, n / seconds, max(peaks.values()) if peaks else 0, d))
        print(f"{route} x{workers}: {seconds:.1f} s, peak RSS per worker "
              f"{[round(v / 2**20) for v in peaks.values()]} MiB", file=sys.stderr)

    # The CLI alone: .npz (loaded whole) and .csv (streamed).
    for fmt in ("npz", "csv"):
        out = work / f"cli_{fmt}"
        shutil.rmtree(out, ignore_errors=True)
        with PeakRss() as rss:
            t0 = time.perf_counter()
            subprocess.run([str(exe), "sensitivity", str(MODEL), "--data", str(work / f"rows.{fmt}"),
                            "-q", "-o", str(out)], check=True)
            secs = time.perf_counter() - t0
        record(f"CLI (`--data rows.{fmt}`)", 1, secs, rss.peaks, json.loads((out / "sensitivity.json").read_text()))
    reference = results[0][5]

    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster

    import keras2ov.dask

    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster):
            ddf = dd.read_parquet(str(pq_dir))
            with PeakRss() as rss:
                t0 = time.perf_counter()
                s = keras2ov.dask.sensitivity(MODEL, ddf, columns=["x", "t"])
                secs = time.perf_counter() - t0
            record("Dask (`read_parquet`, 8 partitions)", workers, secs, rss.peaks, s.to_dict())

    import ray

    import keras2ov.ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for workers in (1, 2):
            # read_parquet makes one block of these 8 small files (Ray's target block size is
            # larger than all of them), and keras2ov.ray makes one shard per block: split it.
            ds = ray.data.read_parquet(str(pq_dir)).repartition(parts)
            with PeakRss() as rss:
                t0 = time.perf_counter()
                s = keras2ov.ray.sensitivity(MODEL, ds, columns=["x", "t"], concurrency=workers)
                secs = time.perf_counter() - t0
            used = len(keras2ov.ray.last_run["compiled"])
            record(f"Ray Data (`read_parquet().repartition({parts})`; {used} actor(s) used)",
                   workers, secs, rss.peaks, s.to_dict())
    finally:
        ray.shutdown()

    for route, workers, _, _, _, d in results:
        check_same(f"{route} x{workers}", d, reference)
    print(f"\n{n:,} rows of the PINN fixture (x, t -> u), batch 4096, f32; every route's "
          "statistics equal the CLI's (rtol 1e-5).\n")
    print("| route | workers | seconds | rows/s | peak RSS per worker |")
    print("|---|---:|---:|---:|---:|")
    for route, workers, secs, rate, peak, _ in results:
        print(f"| {route} | {workers} | {secs:.1f} | {rate / 1e6:.2f} M | {peak / 2**20:.0f} MiB |")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
