"""Sensitivity over a ``ray.data.Dataset``: one :class:`keras2ov.Sensitivity` per block,
computed by a pool of actors (each compiles the derivative model once), then merged as a
tree. Needs ``pip install keras2ov[ray]``.
"""

import os
import pickle

import numpy as np

from . import Sensitivity
from . import _shards


class _Accumulate:
    """A Ray Data actor: each batch (a whole block) becomes one pickled Sensitivity."""

    def __init__(self, kwargs, names, row_names):
        self.kwargs, self.names, self.row_names = kwargs, names, row_names

    def __call__(self, batch):
        s = Sensitivity(**self.kwargs, columns=self.row_names)
        s.update_rows(_shards.rows_of([batch[c] for c in self.names]).astype(np.float32, copy=False))
        from . import _native

        return {
            "shard": np.array([pickle.dumps(s)], dtype=object),
            "pid": np.array([os.getpid()]),
            "compiled": np.array([_native.compile_count()]),
        }


#: What the last :func:`sensitivity` call did: ``blocks`` (shards made) and ``compiled``
#: ({worker pid: derivative models compiled in that process}).
last_run = {}


def sensitivity(model_path, ds, *, columns=None, concurrency=None, **options):
    """The sensitivity statistics of a ``ray.data.Dataset`` whose rows hold the model
    inputs' elements in the ``columns`` (None for every column in order, a list, or a dict
    ``{input: [columns]}``; a column may hold a vector per row). A pool of at most
    ``concurrency`` actors (default: one per CPU of the cluster) each compile the model once.
    The pool starts with one actor and grows while blocks wait: a pool of fixed size taking
    every CPU would leave none for the read's own tasks (``read_parquet`` lists its files in
    a task), and the dataset would never start. Each block becomes one shard, so the blocks
    bound the parallelism: ``read_parquet`` may make one block of many small files
    (``ds.repartition(n)`` splits it).

    Returns a :class:`keras2ov.Sensitivity`. Other options (``of``, ``wrt``, ``mode``,
    ``interactions``, ``batch``, ``feature_names``, ``device``, ``precision``) are its own.
    """
    import ray

    names = _shards.column_names(columns, ds.columns())
    # Columns of scalars name the features, as a CSV header does; vector columns do not.
    schema = ds.schema()
    scalar = all(
        len(getattr(t, "shape", ()) or ()) == 0 for t in getattr(schema, "types", [])
    )
    row_names = names if scalar else None
    kwargs = _shards.spec(model_path, "ray dataset", options)
    if concurrency is None:
        concurrency = max(1, int(ray.cluster_resources().get("CPU", 1)))
    shards = ds.map_batches(
        _Accumulate,
        fn_constructor_kwargs={"kwargs": kwargs, "names": names, "row_names": row_names},
        batch_size=None,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=max(1, int(concurrency))),
    )
    rows = list(shards.iter_rows())
    compiled = {}
    for row in rows:
        compiled[int(row["pid"])] = max(compiled.get(int(row["pid"]), 0), int(row["compiled"]))
    last_run.clear()
    last_run.update(blocks=len(rows), compiled=compiled)
    return _shards.tree_merge(pickle.loads(row["shard"]) for row in rows)
