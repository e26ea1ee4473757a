"""keras2ov: Keras 3 ``.keras`` models, and their per-sample Jacobians, Hessians and PDE
operators, as OpenVINO models; sensitivity statistics that shard and merge (Dask, Ray).

Everything here calls the Rust library the ``keras2ov`` command line is built on, so the numbers
are the command line's, and errors are :class:`keras2ov.Error` carrying its message.

The precision trap: OpenVINO's CPU plugin computes in bf16 by default on CPUs with
AVX512-BF16 (errors of about 1e-2), and an IR cannot carry the precision hint. So
:func:`compile` sets ``INFERENCE_PRECISION_HINT=f32``, and :func:`run`, :func:`jacobian` and
:class:`Sensitivity` run in f32, unless asked otherwise.
"""

import glob as _glob
import importlib.util as _importlib_util
import json as _json
import os as _os
import sys as _sys

from . import _native
from ._native import Error

__all__ = [
    "Error",
    "Sensitivity",
    "compile",
    "convert",
    "input_names",
    "jacobian",
    "openvino_library",
    "run",
]
__version__ = _native.VERSION

DEFAULT_BATCH = 4096


def openvino_library():
    """The OpenVINO C library of the installed ``openvino`` package, which keras2ov runs on
    (found without importing ``openvino``)."""
    spec = _importlib_util.find_spec("openvino")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "keras2ov needs the openvino package: pip install 'openvino>=2026.4.1,<2027'"
        )
    patterns = {
        "linux": "libopenvino_c.so*",
        "darwin": "libopenvino_c*.dylib",
        "win32": "openvino_c.dll",
    }
    pattern = patterns.get(_sys.platform, "libopenvino_c.so*")
    for d in spec.submodule_search_locations:
        for sub in ("libs", ""):
            found = sorted(_glob.glob(_os.path.join(d, sub, pattern)))
            if found:
                return found[-1]
    raise ImportError(
        f"the openvino package at {list(spec.submodule_search_locations)} has no C library "
        f"({pattern}); reinstall it: pip install --force-reinstall openvino"
    )


# The same library the openvino package uses: one OpenVINO runtime in the process.
_native.use_library(openvino_library())


def _names(v):
    """None, "x,t" or ["x", "t"] -> a list of names."""
    if v is None:
        return []
    if isinstance(v, str):
        return [n.strip() for n in v.split(",") if n.strip()]
    return [str(n) for n in v]


def _list(v):
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    return list(v)


def _path(model):
    return _os.fspath(model)


def _derivatives(jacobian, hessian, wrt, of, mode, laplacian, bilaplacian, derivative, residual):
    """The derivative options as the native module takes them."""
    return (
        bool(jacobian), bool(hessian), _names(wrt), _names(of), str(mode), bool(laplacian),
        bool(bilaplacian), _list(derivative), _list(residual),
    )


def input_names(model):
    """The model's input names, in order."""
    return _native.input_names(_path(model))


def _inputs(model, inputs):
    """A dict of arrays keyed by input name; a single array feeds a single-input model."""
    if isinstance(inputs, dict):
        return inputs
    names = input_names(model)
    if len(names) != 1:
        raise Error(
            f"{_path(model)}: the model has {len(names)} inputs ({', '.join(names)}); "
            "give a dict keyed by input name"
        )
    return {names[0]: inputs}


def convert(
    model,
    *,
    jacobian=False,
    hessian=False,
    wrt=None,
    of=None,
    mode="auto",
    laplacian=False,
    bilaplacian=False,
    derivative=(),
    residual=(),
    batch=None,
    core=None,
):
    """Convert a ``.keras`` model (``keras2ov convert``) and return it as an
    ``openvino.Model``, with the derivative outputs asked for (``jacobian/<out>/<in>``,
    ``hessian/<out>/<a>/<b>``, ``laplacian/<out>``, ``derivative/...``, residuals).

    Options are the command line's: ``wrt`` and ``of`` (names, or "x,t"), ``mode``
    ("auto", "forward", "reverse"), ``derivative`` and ``residual`` (lists of specs),
    ``batch`` (a static batch; default dynamic). Compile the result with :func:`compile`,
    which sets the f32 precision hint the IR cannot carry.
    """
    import numpy as np
    import openvino as ov

    xml, weights = _native.convert(
        _path(model),
        batch,
        _derivatives(jacobian, hessian, wrt, of, mode, laplacian, bilaplacian, derivative, residual),
    )
    core = core or ov.Core()
    if not weights:
        return core.read_model(model=xml.encode(), weights=ov.Tensor(np.zeros(0, np.uint8)))
    # read_model copies what it needs out of the tensor (checked: the model runs after the
    # array is freed).
    return core.read_model(model=xml.encode(), weights=ov.Tensor(np.frombuffer(weights, np.uint8)))


def compile(model, device="CPU", *, precision="f32", config=None, core=None):
    """Compile a model for ``device`` with ``INFERENCE_PRECISION_HINT`` set: f32 by default.

    OpenVINO's CPU plugin would otherwise pick bf16 on CPUs with AVX512-BF16 and lose about
    1e-2 of accuracy, and an IR cannot store the hint, so ``openvino.Core().compile_model`` on
    our IR is not accurate by default. ``model`` is an ``openvino.Model`` (from
    :func:`convert`), an ``.xml`` path, or a ``.keras`` path (converted without derivatives).
    ``config`` adds other properties (``{"PERFORMANCE_HINT": "THROUGHPUT"}``).
    """
    import openvino as ov

    core = core or ov.Core()
    if isinstance(model, (str, _os.PathLike)):
        path = _path(model)
        model = convert(path, core=core) if path.endswith(".keras") else core.read_model(path)
    props = {"INFERENCE_PRECISION_HINT": str(precision)}
    props.update(config or {})
    return core.compile_model(model, device, props)


def run(model, inputs, *, batch=None, device="CPU", precision="f32"):
    """Run a ``.keras`` model on arrays (``keras2ov run``): a dict of outputs by name.
    ``inputs`` is a dict keyed by input name (float32 or float64 arrays), or one array for a
    single-input model. Computed in f32 unless ``precision`` says otherwise."""
    forward = _derivatives(False, False, None, None, "auto", False, False, (), ())
    return _native.run(_path(model), _inputs(model, inputs), batch, forward, str(device), str(precision))


def jacobian(
    model,
    inputs,
    *,
    jacobian=None,
    hessian=False,
    wrt=None,
    of=None,
    mode="auto",
    laplacian=False,
    bilaplacian=False,
    derivative=(),
    residual=(),
    device="CPU",
    precision="f32",
):
    """Per-sample derivatives through OpenVINO (``keras2ov jacobian``): a dict with the
    outputs, ``jacobian/<out>/<in>`` (``[B, *out, *in]``, as ``jax.vmap(jax.jacfwd(f))``),
    with ``hessian=True`` the Hessian blocks, and the PDE operators asked for. As on the
    command line, Jacobians are computed unless PDE operators are asked for without
    ``jacobian=True``. Computed in f32 unless ``precision`` says otherwise."""
    operators = bool(laplacian or bilaplacian or _list(derivative) or _list(residual))
    deriv = _derivatives(
        bool(jacobian) or not operators, hessian, wrt, of, mode, laplacian, bilaplacian,
        derivative, residual,
    )
    return _native.run(_path(model), _inputs(model, inputs), None, deriv, str(device), str(precision))


class Sensitivity:
    """The statistics of ``keras2ov sensitivity``, over any number of batches of rows.

    >>> s = Sensitivity("pinn.keras", of=["u"], wrt=["x", "t"])
    >>> s.update({"x": x1, "t": t1}); s.update({"x": x2, "t": t2})
    >>> s.merge(other)                 # the statistics of other rows (Chan's merge)
    >>> s.write_report("report/")      # report.html, sensitivity.json, sensitivity.csv

    A ``Sensitivity`` pickles (its statistics, not the compiled model), so Dask and Ray
    ship it between workers; the derivative model is compiled once per process and kept
    (for each model file, selection, batch, device and precision). Merging the shards of
    a data set gives the statistics of one pass over it, to float tolerance. ``save`` writes
    the shard file ``keras2ov report`` merges (as ``keras2ov sensitivity --stats-out``).

    ``columns`` names the elements of a data row (the model inputs' elements in input order),
    as a CSV header does; ``feature_names`` renames the features (``--feature-names``);
    ``data`` is what the report calls the data.
    """

    def __init__(
        self,
        model,
        *,
        of=None,
        wrt=None,
        mode="auto",
        interactions=False,
        batch=DEFAULT_BATCH,
        columns=None,
        feature_names=None,
        data="(arrays)",
        device="CPU",
        precision="f32",
    ):
        self._acc = _native.Accumulator(
            _path(model), _names(of), _names(wrt), str(mode), bool(interactions), int(batch),
            None if columns is None else [str(c) for c in columns], _names(feature_names),
            str(data), str(device), str(precision),
        )

    @classmethod
    def _wrap(cls, acc):
        s = cls.__new__(cls)
        s._acc = acc
        return s

    def update(self, inputs):
        """Add rows: arrays keyed by input name, ``[N, *input shape]`` (float32 or float64).
        Rows with NaN or infinity are counted and skipped. Returns ``self``."""
        self._acc.update(inputs)
        return self

    def update_rows(self, rows):
        """Add rows given as one ``[N, width]`` array, each row the model inputs' elements in
        input order (a CSV file's rows). Returns ``self``."""
        self._acc.update_rows(rows)
        return self

    def merge(self, other):
        """Merge the statistics of other rows into these (refused, with the message
        ``keras2ov report`` gives, unless both are of the same model file and selection).
        Returns ``self``."""
        self._acc.merge(other._acc)
        return self

    def write_report(self, out):
        """Write the report directory (as ``keras2ov sensitivity -o``)."""
        self._acc.write_report(_path(out))

    def save(self, path):
        """Write the shard file (as ``keras2ov sensitivity --stats-out``)."""
        self._acc.write_shard(_path(path))

    @classmethod
    def load(cls, path):
        """Read a shard file."""
        return cls._wrap(_native.Accumulator.read(_path(path)))

    @classmethod
    def merge_files(cls, paths):
        """Read shard files and merge them (as ``keras2ov report``)."""
        return cls._wrap(_native.Accumulator.merge_files([_path(p) for p in paths]))

    def to_dict(self):
        """``sensitivity.json`` as a dict (schema in the README)."""
        return _json.loads(self._acc.report_json())

    @property
    def rows_used(self):
        return self._acc.rows_read - self._acc.rows_skipped

    @property
    def rows_read(self):
        return self._acc.rows_read

    @property
    def rows_skipped(self):
        return self._acc.rows_skipped

    @property
    def features(self):
        return self._acc.features

    @property
    def components(self):
        return self._acc.components

    def __getstate__(self):
        return {"shard": self._acc.to_json()}

    def __setstate__(self, state):
        self._acc = _native.Accumulator.from_json(state["shard"])

    def __repr__(self):
        return (
            f"keras2ov.Sensitivity({_os.fspath(self._acc.model)!r}, "
            f"{len(self.components)} outputs x {len(self.features)} features, "
            f"{self.rows_used} rows)"
        )
