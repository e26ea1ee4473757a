"""Shared fixtures: the repository's fixture models and the `keras2ov` binary of the wheel
(the one installed beside this Python, never target/release)."""

import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODELS = ROOT / "fixtures" / "models"


@pytest.fixture(scope="session")
def pinn():
    return MODELS / "model_pinn.keras"


@pytest.fixture(scope="session")
def cli():
    """Run the wheel's `keras2ov` binary (from this venv's bin/) with no OpenVINO variable
    and a PATH without the project's venv: it must find OpenVINO by itself."""
    exe = pathlib.Path(sys.executable).parent / "keras2ov"
    assert exe.is_file(), f"the wheel did not install the keras2ov binary at {exe}"
    env = {k: v for k, v in os.environ.items() if k != "OPENVINO_LIB"}
    env["PATH"] = "/usr/bin:/bin"

    def run(*args, ok=True, cwd=None):
        p = subprocess.run(
            [str(exe), *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd
        )
        if ok:
            assert p.returncode == 0, f"keras2ov {args} failed:\n{p.stderr}"
        return p

    return run


def cli_error(p):
    """The message of a failed command: stderr without its `error: ` prefix."""
    assert p.returncode == 1, p
    text = p.stderr.strip()
    assert text.startswith("error: "), text
    return text[len("error: "):]


@pytest.fixture(scope="session")
def pinn_rows():
    """20,000 deterministic (x, t) rows for the PINN, with a few non-finite ones."""
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, (20000, 1)).astype(np.float32)
    t = rng.uniform(0, 1, (20000, 1)).astype(np.float32)
    x[[11, 5000, 19999]] = np.nan
    t[123] = np.inf
    return {"x": x, "t": t}


def assert_same_statistics(a, b, rtol=2e-6):
    """Two sensitivity.json dicts agree on every statistic (to float tolerance) and on the
    rows, features and rankings."""
    assert a["rows"] == b["rows"]
    assert a["features"] == b["features"] and a["components"] == b["components"]
    assert a["ranking"] == b["ranking"]
    for key in ("x", "y", "sensitivity"):
        for p, q in zip(a[key], b[key]):
            assert p.keys() == q.keys()
            for k in p:
                if isinstance(p[k], float):
                    assert q[k] == pytest.approx(p[k], rel=rtol, abs=1e-9), (key, k, p, q)
                else:
                    assert p[k] == q[k], (key, k)
    if a["interactions"] is not None:
        for c, m in a["interactions"]["mean_abs"].items():
            np.testing.assert_allclose(m, b["interactions"]["mean_abs"][c], rtol=rtol, atol=1e-9)
    else:
        assert b["interactions"] is None
