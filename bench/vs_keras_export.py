"""keras2ov's IR vs the IR Keras itself writes, per fixture model, on the same OpenVINO runtime.

For every fixture in fixtures/manifest.json with exactly one input (not batch-mixing, not
expected-unsupported), this script:
  * converts the model with `KERAS2OV convert MODEL.keras -o DIR/NAME.xml` (dynamic batch);
  * exports it with Keras 3.15.1's own `model.export(path, format="openvino")` under
    KERAS_BACKEND=openvino, in a child python (the backend is fixed at import), cached in
    --cache keyed by fixture name + the .keras file's hash;
  * checks both IRs against the fixture's Keras outputs (NAME.inputs.npz -> NAME.outputs.npz,
    batch 5, f32 hint) and prints max |diff|, so a fast but wrong IR is caught;
  * times both in this process with the openvino Python API: one Core with
    INFERENCE_PRECISION_HINT=f32 and PERFORMANCE_HINT=LATENCY, each IR reshaped to the static
    --batch before compiling, the same inputs for both (the fixture's 5 samples tiled to the batch,
    each value scaled by a random factor in [0.9, 1.1], which keeps every input in its domain and
    keeps the NaN/inf of the nan_to_num fixtures), warm-up, then --rounds alternating rounds
    (ours, keras, ours, keras, ...), each round the median of --iterations inferences.
Reported per model: the median over rounds of each side's per-round median, and the ratio
keras_ms / ours_ms (> 1 means our IR is faster). The summary counts the models where ours is
slower and gives the median ratio. Multi-input models are listed as not comparable: Keras'
export passes one tensor where such a model wants a dict, and fails.

Run: make bench-export
 (or: .venv-bench/bin/python bench/vs_keras_export.py --keras2ov target/release/keras2ov)
"""

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures")
# The manifest marks no fixture as unsupported; tests/common/mod.rs keeps this list.
EXPECTED_UNSUPPORTED = {"act_sparsemax"}
MULTI_INPUT = "Keras export: multi-input (not comparable)"
# This process never imports keras (it would pick a backend); the version names the cache entries.
KERAS_VERSION = importlib.metadata.version("keras")


def first_line(text):
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    # A Python traceback's message is its last line, and so is the useful part of an OpenVINO
    # check failure (its first line only names the check); anything else, its first line.
    if lines and (lines[0].startswith("Traceback") or lines[0].startswith("Check '")):
        return lines[-1]
    return lines[0] if lines else "(no message)"


def file_hash(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Keras' own export, in a child python with KERAS_BACKEND=openvino.


def export_child(jobs_path):
    """Child side: export every (name, keras path, xml path) job, one JSON line per job."""
    assert os.environ.get("KERAS_BACKEND") == "openvino"
    import keras

    with open(jobs_path) as fh:
        jobs = json.load(fh)
    for job in jobs:
        start = time.perf_counter()
        try:
            keras.backend.clear_session()
            model = keras.saving.load_model(job["keras"])
            tmp = job["xml"][: -len(".xml")] + ".part.xml"
            model.export(tmp, format="openvino", verbose=False)
            os.replace(tmp[:-4] + ".bin", job["xml"][:-4] + ".bin")
            os.replace(tmp, job["xml"])
            res = {"name": job["name"], "ok": True}
        except Exception as e:  # noqa: BLE001 - every failure is reported, none is fatal
            res = {"name": job["name"], "ok": False, "error": f"{type(e).__name__}: {first_line(e)}"}
        res["seconds"] = time.perf_counter() - start
        print(json.dumps(res), flush=True)


def keras_exports(fixtures, cache):
    """{name: (xml path or None, error or None)}, exporting what the cache lacks in one child."""
    os.makedirs(cache, exist_ok=True)
    result, jobs = {}, []
    for fx in fixtures:
        keras_path = os.path.join(FIXTURES, fx["file"])
        stem = os.path.join(cache, f"{fx['name']}-{file_hash(keras_path)}-keras{KERAS_VERSION}")
        if os.path.exists(stem + ".xml"):
            result[fx["name"]] = (stem + ".xml", None)
        elif os.path.exists(stem + ".error"):
            with open(stem + ".error") as fh:
                result[fx["name"]] = (None, fh.read().strip())
        else:
            jobs.append({"name": fx["name"], "keras": keras_path, "xml": stem + ".xml", "stem": stem})
    if not jobs:
        return result
    print(f"exporting {len(jobs)} model(s) with Keras' own OpenVINO export (cache: {cache})", flush=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(jobs, fh)
    env = dict(os.environ, KERAS_BACKEND="openvino")
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--export-child", fh.name],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    done = {}
    for line in proc.stdout:
        if not line.startswith("{"):
            continue
        res = json.loads(line)
        done[res["name"]] = res
        print(f"  export {len(done)}/{len(jobs)} {res['name']}: "
              f"{'ok' if res['ok'] else res['error']} ({res['seconds']:.1f} s)", flush=True)
    stderr = proc.stderr.read()
    proc.wait()
    os.unlink(fh.name)
    for job in jobs:
        res = done.get(job["name"])
        if res is None:  # the child died before reaching this job: not cached, retried next run
            result[job["name"]] = (None, f"export child exited with {proc.returncode}: {first_line(stderr)}")
        elif res["ok"]:
            result[job["name"]] = (job["xml"], None)
        else:
            with open(job["stem"] + ".error", "w") as out:
                out.write(res["error"] + "\n")
            result[job["name"]] = (None, res["error"])
    print(f"exports took {time.perf_counter() - start:.1f} s", flush=True)
    return result


# ---------------------------------------------------------------------------------------------
# Our IR.


def ours_convert(binary, fx, out_dir):
    xml = os.path.join(out_dir, fx["name"] + ".xml")
    proc = subprocess.run(
        [binary, "convert", os.path.join(FIXTURES, fx["file"]), "-o", xml], capture_output=True, text=True
    )
    if proc.returncode != 0:
        return None, "keras2ov convert failed: " + first_line(proc.stderr or proc.stdout)
    return xml, None


# ---------------------------------------------------------------------------------------------
# Timing and checking, both IRs alike.


def compile_static(core, ov, xml, batch):
    model = core.read_model(xml)
    if len(model.inputs) != 1:
        raise ValueError(f"{len(model.inputs)} inputs in {os.path.basename(xml)}")
    pshape = model.input(0).get_partial_shape()
    dims = [batch] + [d.get_length() for d in list(pshape)[1:]]
    try:
        model.reshape({model.input(0): ov.PartialShape(dims)})
    except RuntimeError as e:
        msg = first_line(e)
        if "Requested output shape [1," in msg:  # Keras' export traces with batch 1
            msg = "batch 1 is baked into a Reshape: " + msg
        raise RuntimeError(f"cannot reshape the IR to batch {batch}: {msg}") from None
    return core.compile_model(model, "CPU")


def nan_aware_diff(a, b):
    """max |a - b|, counting NaN == NaN as equal and a NaN on one side only as inf."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    both = np.isnan(a) & np.isnan(b)
    d = np.abs(a - b)
    d = np.where(both, 0.0, d)
    d = np.where(np.isnan(d), np.inf, d)
    # inf - inf is nan (handled above as inf) unless both are the same inf
    d = np.where((a == b), 0.0, d)
    return float(d.max()) if d.size else 0.0


def check(core, ov, xml, fx, by_name):
    """max |ours - Keras| over the outputs on the fixture's own inputs (batch 5), and a verdict."""
    ins = np.load(os.path.join(FIXTURES, "models", fx["name"] + ".inputs.npz"))
    refs = np.load(os.path.join(FIXTURES, "models", fx["name"] + ".outputs.npz"))
    x = ins[fx["inputs"][0]["name"]]
    compiled = compile_static(core, ov, xml, x.shape[0])
    got = compiled.create_infer_request().infer({0: x})
    outs = list(compiled.outputs)
    atol = fx.get("atol", 1e-5)
    rtol = fx.get("rtol", 1e-4)
    worst, ok = 0.0, True
    if len(outs) != len(fx["outputs"]):
        return None, f"{len(outs)} outputs, Keras has {len(fx['outputs'])}"
    for k, spec in enumerate(fx["outputs"]):
        if by_name:
            port = next((p for p in outs if spec["name"] in p.get_names()), None)
            if port is None:
                return None, f"no output named {spec['name']}"
        else:  # Keras' export names no outputs: they come in Keras' output order
            port = outs[k]
        y, ref = np.asarray(got[port]), refs[spec["name"]]
        if y.shape != ref.shape:
            return None, f"output {spec['name']}: shape {y.shape}, Keras {ref.shape}"
        worst = max(worst, nan_aware_diff(y, ref))
        bad = ~((np.abs(y - ref) <= atol + rtol * np.abs(ref)) | (y == ref) | (np.isnan(y) & np.isnan(ref)))
        ok = ok and not bad.any()
    return worst, None if ok else "MISMATCH"


def bench_inputs(fx, batch, seed):
    ins = np.load(os.path.join(FIXTURES, "models", fx["name"] + ".inputs.npz"))
    x = ins[fx["inputs"][0]["name"]].astype(np.float32)
    reps = -(-batch // x.shape[0])
    tiled = np.concatenate([x] * reps, axis=0)[:batch]
    rng = np.random.default_rng(seed)
    with np.errstate(invalid="ignore"):
        return (tiled * rng.uniform(0.9, 1.1, tiled.shape)).astype(np.float32)


def round_ms(req, iterations):
    times = []
    for _ in range(iterations):
        t = time.perf_counter()
        req.start_async()
        req.wait()
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1e3


def time_pair(core, ov, xmls, x, args):
    """Per side, the per-round medians (ms), rounds alternating ours, keras, ours, keras, ..."""
    reqs = {}
    for side, xml in xmls.items():
        compiled = compile_static(core, ov, xml, args.batch)
        req = compiled.create_infer_request()
        req.set_input_tensor(0, ov.Tensor(x))
        for _ in range(args.warmup):
            req.infer()
        reqs[side] = (compiled, req)
    rounds = {side: [] for side in xmls}
    for _ in range(args.rounds):
        for side in xmls:
            rounds[side].append(round_ms(reqs[side][1], args.iterations))
    return rounds


def profile(core, ov, xml, x, batch, runs=50):
    """Per executed layer: (name, type, exec type, mean real time in ms), slowest first."""
    model = core.read_model(xml)
    dims = [batch] + [d.get_length() for d in list(model.input(0).get_partial_shape())[1:]]
    model.reshape({model.input(0): ov.PartialShape(dims)})
    compiled = core.compile_model(model, "CPU", {"PERF_COUNT": True})
    req = compiled.create_infer_request()
    req.set_input_tensor(0, ov.Tensor(x))
    for _ in range(5):
        req.infer()
    acc = {}
    for _ in range(runs):
        req.infer()
        for info in req.profiling_info:
            if info.status != info.Status.EXECUTED:
                continue
            key = (info.node_name, info.node_type, info.exec_type)
            acc[key] = acc.get(key, 0.0) + info.real_time.total_seconds() * 1e3 / runs
    return sorted(((*k, v) for k, v in acc.items()), key=lambda r: -r[3])


def print_profile(side, layers, top=8):
    total = sum(r[3] for r in layers)
    print(f"   {side}: {len(layers)} executed layers, {total:.3f} ms in layers (PERF_COUNT)")
    for name, typ, exec_type, ms in layers[:top]:
        print(f"     {ms:7.3f} ms  {typ:14s} {exec_type:22s} {name}")


# ---------------------------------------------------------------------------------------------


def select(manifest, only):
    rows = []
    names = {fx["name"] for fx in manifest["fixtures"]}
    for name in only or []:
        if name not in names:
            sys.exit(f"--only: no fixture named {name}")
    for fx in manifest["fixtures"]:
        if only and fx["name"] not in only:
            continue
        if fx.get("batch_mixing") or fx["name"] in EXPECTED_UNSUPPORTED:
            continue
        rows.append(fx)
    return rows


def fmt_ms(v):
    return "-" if v is None else f"{v:.3f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keras2ov", default=os.path.join(ROOT, "target/release/keras2ov"), help="the keras2ov binary")
    ap.add_argument("--batch", type=int, default=16384)
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds per model (median over rounds is kept)")
    ap.add_argument("--iterations", type=int, default=200, help="inferences per round (the round's median is kept)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed inferences per IR first")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="only these fixtures")
    ap.add_argument("--cache", default=os.path.join(ROOT, "target/keras-export-cache"),
                    help="Keras' exported IRs are kept here, keyed by fixture name + file hash + Keras version")
    ap.add_argument("--json", metavar="OUT", help="also write the results here")
    ap.add_argument("--show-rounds", action="store_true", help="also print every round's times")
    ap.add_argument("--profile", action="store_true",
                    help="also print where the time goes per layer in both IRs (PERF_COUNT), e.g. with --only")
    ap.add_argument("--export-child", metavar="JOBS", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.export_child:
        return export_child(args.export_child)

    t_start = time.perf_counter()
    load_start = os.getloadavg()
    import openvino as ov

    if not os.path.exists(args.keras2ov):
        sys.exit(f"--keras2ov: no such file {args.keras2ov}")
    with open(os.path.join(FIXTURES, "manifest.json")) as fh:
        manifest = json.load(fh)
    fixtures = select(manifest, args.only)
    single = [fx for fx in fixtures if len(fx["inputs"]) == 1]
    version = subprocess.run([args.keras2ov, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{version} ({args.keras2ov}), keras {KERAS_VERSION}, openvino {ov.get_version()}, "
          f"batch {args.batch}, {args.rounds} rounds x {args.iterations} iterations, "
          f"{len(single)} single-input fixtures, {len(fixtures) - len(single)} multi-input", flush=True)

    exported = keras_exports(single, args.cache)
    core = ov.Core()
    core.set_property("CPU", {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"})
    tmp = tempfile.mkdtemp(prefix="vs_keras_export-")
    rows = []
    for i, fx in enumerate(fixtures):
        name = fx["name"]
        row = {"model": name, "ours_ms": None, "keras_ms": None, "ratio": None,
               "ours_max_diff": None, "keras_max_diff": None, "note": None}
        rows.append(row)
        if len(fx["inputs"]) != 1:
            row["note"] = MULTI_INPUT
            print(f"[{i + 1}/{len(fixtures)}] {name}: {MULTI_INPUT}", flush=True)
            continue
        xmls, notes = {}, []
        xml, err = ours_convert(args.keras2ov, fx, tmp)
        if err:
            notes.append(err)
        else:
            xmls["ours"] = xml
        xml, err = exported[name]
        if err:
            notes.append("Keras export failed: " + err)
        else:
            xmls["keras"] = xml
        for side, xml in list(xmls.items()):
            try:
                diff, verdict = check(core, ov, xml, fx, by_name=side == "ours")
            except Exception as e:  # noqa: BLE001
                diff, verdict = None, f"{type(e).__name__}: {first_line(e)}"
                del xmls[side]
            row[side + "_max_diff"] = diff
            if verdict:
                notes.append(f"{side}: {verdict}")
        if len(xmls) == 2:
            x = bench_inputs(fx, args.batch, seed=i)
            try:
                rounds = time_pair(core, ov, xmls, x, args)
            except Exception as e:  # noqa: BLE001
                notes.append(f"timing failed: {type(e).__name__}: {first_line(e)}")
            else:
                row["ours_ms"] = float(np.median(rounds["ours"]))
                row["keras_ms"] = float(np.median(rounds["keras"]))
                row["ratio"] = row["keras_ms"] / row["ours_ms"]
                per_round = [k / o for o, k in zip(rounds["ours"], rounds["keras"])]
                row["round_ratio_min"], row["round_ratio_max"] = min(per_round), max(per_round)
                row["rounds_ms"] = rounds
        row["note"] = "; ".join(notes) or None
        line = (f"[{i + 1}/{len(fixtures)}] {name}: ours {fmt_ms(row['ours_ms'])} ms, "
                f"keras {fmt_ms(row['keras_ms'])} ms")
        if row["ratio"] is not None:
            line += (f", ratio {row['ratio']:.2f}x (rounds {row['round_ratio_min']:.2f}-"
                     f"{row['round_ratio_max']:.2f})")
        diffs = ", ".join(f"{s} {row[s + '_max_diff']:.1e}" for s in ("ours", "keras")
                          if row[s + "_max_diff"] is not None)
        if diffs:
            line += f"; max |diff| vs Keras: {diffs}"
        if row["note"]:
            line += f"; {row['note']}"
        print(line, flush=True)
        if args.profile and len(xmls) == 2:
            x = bench_inputs(fx, args.batch, seed=i)
            row["profile"] = {}
            for side, xml in xmls.items():
                layers = profile(core, ov, xml, x, args.batch)
                row["profile"][side] = [dict(zip(("name", "type", "exec_type", "ms"), r)) for r in layers]
                print_profile(side, layers)
        if args.show_rounds and "rounds_ms" in row:
            print("   rounds (ms):", {s: [round(t, 3) for t in v] for s, v in row["rounds_ms"].items()})

    timed = [r for r in rows if r["ratio"] is not None]
    ratios = np.array([r["ratio"] for r in timed])
    slower = sorted((r for r in timed if r["ratio"] < 1.0), key=lambda r: r["ratio"])
    summary = {
        "compared": len(timed),
        "slower": len(slower),
        "slower_models": {r["model"]: r["ratio"] for r in slower},
        # noise on a shared machine is a few percent: these two counts are the robust ones
        "slower_by_5pct": sum(r["ratio"] < 0.95 for r in timed),
        "slower_every_round": sum(r["round_ratio_max"] < 1.0 for r in timed),
        "median_ratio": float(np.median(ratios)) if len(ratios) else None,
        "geomean_ratio": float(np.exp(np.log(ratios).mean())) if len(ratios) else None,
        "min_ratio": float(ratios.min()) if len(ratios) else None,
        "max_ratio": float(ratios.max()) if len(ratios) else None,
        "mismatches": [r["model"] for r in rows if r["note"] and "MISMATCH" in r["note"]],
        "not_compared": {r["model"]: r["note"] for r in rows if r["ratio"] is None},
        "seconds": time.perf_counter() - t_start,
    }
    print()
    print("| model | ours ms | keras ms | keras/ours |")
    print("|---|---:|---:|---:|")
    for r in rows:
        if r["ratio"] is not None:
            print(f"| {r['model']} | {r['ours_ms']:.3f} | {r['keras_ms']:.3f} | {r['ratio']:.2f}x |")
        else:
            print(f"| {r['model']} | {fmt_ms(r['ours_ms'])} | {fmt_ms(r['keras_ms'])} | {r['note']} |")
    print()
    if timed:
        print(f"{summary['compared']} models compared at batch {args.batch}: median ratio "
              f"{summary['median_ratio']:.2f}x (geomean {summary['geomean_ratio']:.2f}x, range "
              f"{summary['min_ratio']:.2f}x-{summary['max_ratio']:.2f}x)")
        print(f"ours slower (ratio < 1) on {len(slower)}, by more than 5% on {summary['slower_by_5pct']}, "
              f"in every round on {summary['slower_every_round']}"
              + (": " + ", ".join(f"{r['model']} {r['ratio']:.2f}x" for r in slower) if slower else ""))
    if summary["mismatches"]:
        print("outputs differ from Keras' beyond tolerance:", ", ".join(summary["mismatches"]))
    print(f"took {summary['seconds']:.0f} s (load average {load_start[0]:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end, {os.cpu_count()} cores)")
    if args.json:
        meta = {
            "keras2ov": version, "binary": args.keras2ov, "keras": KERAS_VERSION,
            "openvino": ov.get_version(), "batch": args.batch, "rounds": args.rounds,
            "iterations": args.iterations, "warmup": args.warmup,
            "hints": {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"},
            "cpu": core.get_property("CPU", "FULL_DEVICE_NAME"), "cores": os.cpu_count(),
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            # other work on the machine skews both sides; alternating rounds spreads it, this records it
            "loadavg_1_5_15_start": load_start, "loadavg_1_5_15_end": os.getloadavg(),
        }
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "summary": summary, "rows": rows}, fh, indent=1)
            fh.write("\n")


if __name__ == "__main__":
    main()
