"""Sensitivity over a Dask DataFrame or Array: one :class:`keras2ov.Sensitivity` per
partition, combined by a tree of merges (Chan's), on whatever cluster the current Dask
client talks to. Each worker process compiles the derivative model once (keras2ov keeps it),
not once per partition. Needs ``pip install keras2ov[dask]``.
"""

from . import Sensitivity
from . import _shards


def _partition(part, kwargs, names):
    import numpy as np

    s = Sensitivity(**kwargs, columns=names)
    if hasattr(part, "to_numpy"):  # a pandas partition
        rows = part.to_numpy(dtype=np.float32) if len(part.columns) else np.zeros((len(part), 0), np.float32)
    else:
        rows = np.asarray(part)
    return s.update_rows(rows)


def sensitivity(model_path, data, *, columns=None, split_every=2, compute=True, **options):
    """The sensitivity statistics of a Dask DataFrame (each row: the model inputs' elements,
    taken from ``columns``: None for every column in order, a list, or a dict
    ``{input: [columns]}``, as ``--columns``) or a 2-D Dask Array ``[N, width]``.

    Returns a :class:`keras2ov.Sensitivity` (or, with ``compute=False``, a Dask Delayed
    that computes it). ``split_every`` partial results are merged per task of the tree.
    Other options (``of``, ``wrt``, ``mode``, ``interactions``, ``batch``,
    ``feature_names``, ``device``, ``precision``) are :class:`keras2ov.Sensitivity`'s.
    """
    import dask
    import dask.array as da
    import dask.dataframe as dd

    if isinstance(data, dd.DataFrame):
        names = _shards.column_names(columns, data.columns)
        parts = data[names].to_delayed()
        label = "dask dataframe"
    elif isinstance(data, da.Array):
        if data.ndim != 2:
            raise ValueError(f"a Dask Array of data rows must be 2-D [N, width], not {data.ndim}-D")
        if columns is not None:
            raise ValueError("columns= applies to a Dask DataFrame")
        names = None
        parts = list(data.rechunk({1: -1}).to_delayed().ravel())
        label = "dask array"
    else:
        raise TypeError(f"expected a Dask DataFrame or Array, not {type(data).__name__}")
    kwargs = _shards.spec(model_path, label, options)
    partial = [dask.delayed(_partition)(p, kwargs, names) for p in parts]
    if not partial:
        raise ValueError("the data has no partitions")
    k = max(2, int(split_every))
    while len(partial) > 1:
        partial = [
            dask.delayed(_shards.tree_merge)(partial[i : i + k]) for i in range(0, len(partial), k)
        ]
    result = partial[0]
    return result.compute() if compute else result
