"""Dask (a LocalCluster of 2 worker processes, 8 partitions) and Ray (local, 2 CPUs, 8 blocks):
both equal the single pass, and each worker compiles the derivative model once."""

import numpy as np
import pytest

import keras2ov
from conftest import assert_same_statistics

ROWS = 16000


@pytest.fixture(scope="module")
def table(pinn_rows):
    import pandas as pd

    rows = {k: v[:ROWS] for k, v in pinn_rows.items()}
    df = pd.DataFrame({"pos": rows["x"][:, 0], "time": rows["t"][:, 0], "other": 1.0})
    return rows, df


@pytest.fixture(scope="module")
def single(pinn, table):
    rows, _ = table
    return keras2ov.Sensitivity(pinn, columns=["pos", "time"], interactions=True).update(rows).to_dict()


def test_dask_local_cluster_equals_the_single_pass(pinn, table, single):
    dd = pytest.importorskip("dask.dataframe")
    from dask.distributed import Client, LocalCluster

    import keras2ov.dask

    _, df = table
    ddf = dd.from_pandas(df, npartitions=8)
    assert ddf.npartitions == 8
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        s = keras2ov.dask.sensitivity(
            pinn, ddf, columns={"x": ["pos"], "t": ["time"]}, interactions=True
        )
        assert isinstance(s, keras2ov.Sensitivity)
        assert_same_statistics(single, s.to_dict())
        # one compilation per worker process, not per partition
        compiled = client.run(lambda: __import__("keras2ov")._native.compile_count())
        assert len(compiled) == 2 and all(n <= 1 for n in compiled.values()), compiled
        assert sum(compiled.values()) >= 1
        # a Dask Array of rows [N, 2] gives the same
        arr = ddf[["pos", "time"]].to_dask_array(lengths=True)
        s2 = keras2ov.dask.sensitivity(pinn, arr, interactions=True, feature_names=["pos", "time"])
        assert_same_statistics(single, s2.to_dict())


def test_ray_local_equals_the_single_pass(pinn, table, single, tmp_path):
    ray = pytest.importorskip("ray")
    import keras2ov.ray

    _, df = table
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        parts = np.array_split(np.arange(len(df)), 8)
        ds = ray.data.from_pandas([df.iloc[p] for p in parts])
        assert ds.num_blocks() == 8
        s = keras2ov.ray.sensitivity(pinn, ds, columns=["pos", "time"], interactions=True)
        assert isinstance(s, keras2ov.Sensitivity)
        assert_same_statistics(single, s.to_dict())
        # one shard per block; each actor process compiled the model once
        info = keras2ov.ray.last_run
        assert info["blocks"] == 8, info
        assert all(n == 1 for n in info["compiled"].values()), info
        assert 1 <= len(info["compiled"]) <= 2, info
        # read_parquet lists its files in a task of its own: the actor pool, one per CPU by
        # default, must leave it a CPU (a fixed pool of 2 here never started). In a thread,
        # so that a stall fails the test instead of hanging the suite.
        import threading

        import pyarrow as pa
        import pyarrow.parquet as pq

        for k, p in enumerate(np.array_split(np.arange(len(df)), 4)):
            pq.write_table(pa.Table.from_pandas(df.iloc[p], preserve_index=False), tmp_path / f"part{k}.parquet")
        got = {}
        th = threading.Thread(
            target=lambda: got.update(s=keras2ov.ray.sensitivity(
                pinn, ray.data.read_parquet(str(tmp_path)), columns=["pos", "time"], interactions=True
            )),
            daemon=True,
        )
        th.start()
        th.join(180)
        assert not th.is_alive(), "the Ray dataset from read_parquet never finished"
        assert_same_statistics(single, got["s"].to_dict())
    finally:
        ray.shutdown()


def test_engine_option_mistakes_are_errors_in_the_caller(pinn, table):
    """Options are checked where the engine is called, before any partition runs: no
    cluster is needed to see them refused."""
    dd = pytest.importorskip("dask.dataframe")
    import keras2ov.dask

    _, df = table
    ddf = dd.from_pandas(df, npartitions=2)
    cols = {"x": ["pos"], "t": ["time"]}
    with pytest.raises(keras2ov.Error, match="nope"):
        keras2ov.dask.sensitivity(pinn, ddf, columns=cols, of=["nope"], compute=False)
    with pytest.raises(TypeError, match="interaction"):
        keras2ov.dask.sensitivity(pinn, ddf, columns=cols, interaction=True, compute=False)
    with pytest.raises(TypeError, match="model: set by the engine"):
        keras2ov.dask.sensitivity(pinn, ddf, columns=cols, model="x", compute=False)
    # the options that are right give a task graph, not yet run
    lazy = keras2ov.dask.sensitivity(pinn, ddf, columns=cols, interactions=True, compute=False)
    assert hasattr(lazy, "compute")
