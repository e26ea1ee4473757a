"""The Python API against the command line (the wheel's own binary) and against JAX's
fixture references: convert, compile (the f32 default), run, jacobian, errors."""

import json

import numpy as np
import openvino as ov
import pytest

import keras2ov
from conftest import MODELS, cli_error


def fixture(name):
    ins = dict(np.load(MODELS / f"{name}.inputs.npz"))
    return ins, dict(np.load(MODELS / f"{name}.derivs.npz")), dict(np.load(MODELS / f"{name}.outputs.npz"))


def infer(compiled, inputs):
    r = compiled.infer_new_request(inputs)
    return {k.get_any_name(): v for k, v in r.to_dict().items()}


def test_convert_is_an_openvino_model_equal_to_the_cli_ir(pinn, cli, tmp_path):
    model = keras2ov.convert(pinn, hessian=True, wrt=["x", "t"])
    assert isinstance(model, ov.Model)
    names = {o.get_any_name() for o in model.outputs}
    assert {"u", "jacobian/u/x", "jacobian/u/t", "hessian/u/x/t"} <= names
    cli("convert", pinn, "--hessian", "--wrt", "x,t", "-o", tmp_path / "pinn_h.xml")
    theirs = keras2ov.compile(tmp_path / "pinn_h.xml")
    ours = keras2ov.compile(model)
    ins, jax, keras_out = fixture("model_pinn")
    a, b = infer(ours, ins), infer(theirs, ins)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    np.testing.assert_allclose(a["u"], keras_out["u"], rtol=1e-4, atol=1e-5)
    for k, want in jax.items():
        tol = (1e-3, 1e-4) if k.startswith("hessian") else (1e-4, 1e-5)
        np.testing.assert_allclose(a[k], want, rtol=tol[0], atol=tol[1], err_msg=k)


def test_compile_defaults_to_f32_where_openvino_would_not(pinn):
    model = keras2ov.convert(pinn, jacobian=True)
    compiled = keras2ov.compile(model)
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    ins, jax, _ = fixture("model_pinn")
    ours = infer(compiled, ins)
    err_f32 = max(np.abs(ours[k] - jax[k]).max() for k in ("jacobian/u/x", "jacobian/u/t"))
    assert err_f32 < 1e-5
    # What `openvino.Core().compile_model` gives on this machine: bf16 where the CPU has it.
    plain = ov.Core().compile_model(keras2ov.convert(pinn, jacobian=True), "CPU")
    if plain.get_property("INFERENCE_PRECISION_HINT") == ov.Type.bf16:
        theirs = infer(plain, ins)
        err_default = max(np.abs(theirs[k] - jax[k]).max() for k in ("jacobian/u/x", "jacobian/u/t"))
        assert err_default > 100 * err_f32, (err_default, err_f32)
    # Other precisions and properties pass through.
    c16 = keras2ov.compile(model, precision="bf16", config={"PERFORMANCE_HINT": "THROUGHPUT"})
    assert c16.get_property("INFERENCE_PRECISION_HINT") == ov.Type.bf16


def test_jacobian_and_run_equal_the_cli(pinn, cli, tmp_path):
    ins, jax, keras_out = fixture("model_pinn")
    np.savez(tmp_path / "in.npz", **ins)
    cli("jacobian", pinn, "--input", tmp_path / "in.npz", "--hessian", "-o", tmp_path / "d.npz")
    want = dict(np.load(tmp_path / "d.npz"))
    got = keras2ov.jacobian(pinn, {k: v.astype(np.float64) for k, v in ins.items()}, hessian=True)
    assert list(got) == list(want)
    for k in want:
        assert got[k].dtype == np.float32
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    for k, v in jax.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-3, atol=1e-4, err_msg=k)
    # PDE operators, as `jacobian --laplacian --wrt x` (no Jacobians unless asked).
    lap = keras2ov.jacobian(pinn, ins, laplacian=True, wrt="x")
    assert sorted(lap) == ["laplacian/u", "u"]
    np.testing.assert_allclose(lap["laplacian/u"][:, 0], jax["hessian/u/x/x"][:, 0, 0, 0], rtol=1e-3, atol=1e-4)
    out = keras2ov.run(pinn, ins)
    np.testing.assert_allclose(out["u"], keras_out["u"], rtol=1e-4, atol=1e-5)
    # a single array feeds a single-input model
    relu = MODELS / "act_relu.keras"
    ((name, arr),) = dict(np.load(MODELS / "act_relu.inputs.npz")).items()
    one, named = keras2ov.run(relu, arr), keras2ov.run(relu, {name: arr})
    assert one.keys() == named.keys()
    for k in one:
        np.testing.assert_array_equal(one[k], named[k])


@pytest.mark.parametrize(
    "args, call",
    [
        (["--wrt", "z"], lambda m, i: keras2ov.jacobian(m, i, wrt="z")),
        (["--of", "nope"], lambda m, i: keras2ov.jacobian(m, i, of=["nope"])),
        (["--derivative", "u/q"], lambda m, i: keras2ov.jacobian(m, i, derivative=["u/q"])),
        (["--residual", "u_t + (u_x"], lambda m, i: keras2ov.jacobian(m, i, residual=["u_t + (u_x"])),
    ],
)
def test_errors_are_exceptions_with_the_cli_message(pinn, cli, tmp_path, args, call):
    ins, _, _ = fixture("model_pinn")
    np.savez(tmp_path / "in.npz", **ins)
    p = cli("jacobian", pinn, "--input", tmp_path / "in.npz", *args, "-o", tmp_path / "d.npz", ok=False)
    with pytest.raises(keras2ov.Error) as e:
        call(pinn, ins)
    assert str(e.value) == cli_error(p)


def test_missing_and_bad_files_are_the_cli_message(cli, tmp_path):
    missing = tmp_path / "nope.keras"
    p = cli("convert", missing, "-o", tmp_path / "o.xml", ok=False)
    with pytest.raises(keras2ov.Error) as e:
        keras2ov.convert(missing)
    assert str(e.value) == cli_error(p)
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"PK\x03\x04 not a zip")
    p = cli("convert", bad, "-o", tmp_path / "o.xml", ok=False)
    with pytest.raises(keras2ov.Error) as e:
        keras2ov.convert(bad)
    assert str(e.value) == cli_error(p)


def test_wrong_dtypes_and_names_are_refused(pinn):
    ins, _, _ = fixture("model_pinn")
    with pytest.raises(keras2ov.Error, match="int64"):
        keras2ov.run(pinn, {"x": ins["x"].astype(np.int64), "t": ins["t"]})
    with pytest.raises(keras2ov.Error, match="missing input 't'"):
        keras2ov.run(pinn, {"x": ins["x"]})
    with pytest.raises(keras2ov.Error, match="2 inputs"):
        keras2ov.run(pinn, ins["x"])


def test_the_module_runs_on_the_openvino_package_beside_it():
    lib = keras2ov.openvino_library()
    assert "openvino" in lib and "libopenvino_c" in lib
    import os

    assert os.path.dirname(os.path.dirname(lib)) == os.path.dirname(ov.__file__)
    # Our OpenVINO C library is the one the openvino package loaded (one runtime).
    maps = open("/proc/self/maps").read()
    libopenvino = {l.split()[-1] for l in maps.splitlines() if "libopenvino.so" in l}
    assert len(libopenvino) == 1, libopenvino


def test_the_wheel_needs_no_system_hdf5():
    """libhdf5 and zlib are linked into the binary and the module (the static-hdf5 build)."""
    import pathlib
    import subprocess
    import sys

    native = pathlib.Path(keras2ov._native.__file__)
    exe = pathlib.Path(sys.executable).parent / "keras2ov"
    for f in (native, exe):
        libs = subprocess.run(["ldd", str(f)], capture_output=True, text=True, check=True).stdout
        assert "hdf5" not in libs and "libz" not in libs, (f, libs)
        assert "libopenvino" not in libs, "OpenVINO is loaded at run time, not linked"
        # libhdf5 itself is inside (the variable its start-up code reads)
        assert b"HDF5_DEBUG" in f.read_bytes(), f
