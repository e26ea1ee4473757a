"""What the Dask and Ray front ends share: the options of a Sensitivity, rows out of a
table's columns, and a tree of merges."""

import numpy as np


def spec(model_path, label, options):
    """The keyword arguments every partition's Sensitivity is made with: `options` are
    Sensitivity's (of, wrt, mode, interactions, batch, feature_names, device, precision).
    They are checked here, in the caller's process, by making one (the model is loaded, the
    selection checked), so that a mistake is an error now and not in every worker."""
    import os

    from . import Sensitivity

    taken = sorted(set(options) & {"model", "columns", "data"})
    if taken:
        raise TypeError(f"{', '.join(taken)}: set by the engine, not an option here")
    kwargs = dict(options, model=os.fspath(model_path), data=label)
    Sensitivity(**kwargs)
    return kwargs


def column_names(columns, available):
    """The table columns that make a data row, in order: `columns` is None (every column,
    in order), a list of names, or a dict {input name: [columns]} in model input order
    (`--columns x=c1,c2 t=c3`)."""
    if columns is None:
        return [str(c) for c in available]
    if isinstance(columns, dict):
        return [str(c) for cols in columns.values() for c in ([cols] if isinstance(cols, str) else cols)]
    return [str(c) for c in columns]


def rows_of(columns):
    """A [N, width] float array from a list of column arrays (1-D, or [N, k] tensor columns)."""
    parts = [np.asarray(c) for c in columns]
    n = parts[0].shape[0] if parts else 0
    return np.concatenate([p.reshape(n, -1) for p in parts], axis=1)


def merge_pair(a, b):
    return a.merge(b)


def tree_merge(items):
    """Merge a list of Sensitivity objects pairwise, level by level."""
    items = list(items)
    if not items:
        raise ValueError("no partitions to merge")
    while len(items) > 1:
        items = [
            merge_pair(items[i], items[i + 1]) if i + 1 < len(items) else items[i]
            for i in range(0, len(items), 2)
        ]
    return items[0]
