"""Sensitivity from Python: the CLI's report on the same rows, batches and shards that merge
to the single pass, pickling, shard files shared with `keras2ov report`, refusals."""

import json
import pickle

import numpy as np
import pytest

import keras2ov
from conftest import MODELS, assert_same_statistics, cli_error


def load_json(d):
    return json.loads((d / "sensitivity.json").read_text())


def halves(rows, cut):
    return {k: v[:cut] for k, v in rows.items()}, {k: v[cut:] for k, v in rows.items()}


def test_updates_equal_the_cli_report(pinn, pinn_rows, cli, tmp_path):
    np.savez(tmp_path / "rows.npz", **pinn_rows)
    cli("sensitivity", pinn, "--data", tmp_path / "rows.npz", "--interactions", "-q",
        "-o", tmp_path / "cli")
    s = keras2ov.Sensitivity(pinn, of=["u"], wrt=["x", "t"], interactions=True)
    for part in np.array_split(np.arange(20000), [3000, 3001, 12000]):
        s.update({k: v[part] for k, v in pinn_rows.items()})
    assert (s.rows_read, s.rows_skipped) == (20000, 4)
    s.write_report(tmp_path / "py")
    want, got = load_json(tmp_path / "cli"), load_json(tmp_path / "py")
    assert_same_statistics(want, got)
    assert got == s.to_dict() | {"seconds": got["seconds"]}
    assert sorted(p.name for p in (tmp_path / "py").iterdir()) == [
        "report.html", "sensitivity.csv", "sensitivity.json"]
    assert (tmp_path / "py" / "sensitivity.csv").read_text().splitlines()[0] == (
        tmp_path / "cli" / "sensitivity.csv").read_text().splitlines()[0]


def test_pickled_shards_merge_to_the_single_pass(pinn, pinn_rows):
    whole = keras2ov.Sensitivity(pinn).update(pinn_rows)
    a, b = halves(pinn_rows, 7001)
    sa = pickle.loads(pickle.dumps(keras2ov.Sensitivity(pinn).update(a)))
    sb = pickle.loads(pickle.dumps(keras2ov.Sensitivity(pinn).update(b)))
    merged = sa.merge(sb)
    assert merged.rows_used == whole.rows_used == 19996
    assert_same_statistics(whole.to_dict(), merged.to_dict(), rtol=1e-9)
    # an unpickled shard keeps accumulating
    again = pickle.loads(pickle.dumps(keras2ov.Sensitivity(pinn).update(a))).update(b)
    assert_same_statistics(whole.to_dict(), again.to_dict(), rtol=1e-9)
    # half the rows do not pass for the whole: the comparison can fail
    with pytest.raises(AssertionError):
        assert_same_statistics(whole.to_dict(), keras2ov.Sensitivity(pinn).update(a).to_dict())


def test_shard_files_are_the_clis(pinn, pinn_rows, cli, tmp_path):
    a, b = halves(pinn_rows, 12345)
    np.savez(tmp_path / "a.npz", **a)
    np.savez(tmp_path / "b.npz", **b)
    np.savez(tmp_path / "all.npz", **pinn_rows)
    cli("sensitivity", pinn, "--data", tmp_path / "a.npz", "-q", "--stats-out", tmp_path / "a.json")
    keras2ov.Sensitivity(pinn, data="b.npz").update(b).save(tmp_path / "b.json")
    # the CLI merges a Python shard, Python merges the CLI's
    cli("report", tmp_path / "a.json", tmp_path / "b.json", "-o", tmp_path / "merged")
    cli("sensitivity", pinn, "--data", tmp_path / "all.npz", "-q", "-o", tmp_path / "single")
    single = load_json(tmp_path / "single")
    assert_same_statistics(single, load_json(tmp_path / "merged"))
    py = keras2ov.Sensitivity.merge_files([tmp_path / "a.json", tmp_path / "b.json"])
    assert_same_statistics(single, py.to_dict())
    assert load_json(tmp_path / "merged")["data"].startswith("2 shards")


def test_shards_of_another_model_or_selection_are_refused(pinn, pinn_rows, cli, tmp_path):
    other = MODELS / "model_two_input.keras"
    keras2ov.Sensitivity(pinn).update(pinn_rows).save(tmp_path / "a.json")
    keras2ov.Sensitivity(pinn, wrt=["x"]).update(pinn_rows).save(tmp_path / "x.json")
    two = dict(np.load(MODELS / "model_two_input.inputs.npz"))
    keras2ov.Sensitivity(other).update(two).save(tmp_path / "o.json")
    for bad, words in [("o.json", "another model"), ("x.json", "another selection")]:
        p = cli("report", tmp_path / "a.json", tmp_path / bad, "-o", tmp_path / "r", ok=False)
        message = cli_error(p)
        assert words in message, message
        with pytest.raises(keras2ov.Error) as e:
            keras2ov.Sensitivity.merge_files([tmp_path / "a.json", tmp_path / bad])
        assert str(e.value) == message
        with pytest.raises(keras2ov.Error, match=words):
            keras2ov.Sensitivity.load(tmp_path / "a.json").merge(keras2ov.Sensitivity.load(tmp_path / bad))
    assert not (tmp_path / "r").exists()
    (tmp_path / "junk.json").write_text('{"format": "something else"}')
    p = cli("report", tmp_path / "junk.json", "-o", tmp_path / "r", ok=False)
    assert "not a keras2ov sensitivity shard" in cli_error(p)


def test_update_rows_and_columns_name_the_features(pinn, pinn_rows):
    rows = np.concatenate([pinn_rows["x"], pinn_rows["t"]], axis=1)
    s = keras2ov.Sensitivity(pinn, columns=["pos", "time"]).update_rows(rows)
    assert s.features == ["pos", "time"]
    ref = keras2ov.Sensitivity(pinn).update(pinn_rows)
    d, r = s.to_dict(), ref.to_dict()
    for p, q in zip(d["sensitivity"], r["sensitivity"]):
        assert p["mean_abs"] == q["mean_abs"]
    with pytest.raises(keras2ov.Error, match="rows have shape"):
        s.update_rows(rows[:, :1])
    with pytest.raises(keras2ov.Error, match="no array named 't'"):
        s.update({"x": pinn_rows["x"]})
    empty = keras2ov.Sensitivity(pinn)
    with pytest.raises(keras2ov.Error, match="no rows"):
        empty.write_report("never")
