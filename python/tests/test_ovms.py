"""`keras2ov convert --ovms-repo`: the model server's repository layout, and config.json
against the server's documented schema for a model entry (the `model_config_list` part of
its configuration schema: required name and base_path; known keys only; types). The server
itself cannot be installed here."""

import json

import jsonschema
import numpy as np
import openvino as ov
import pytest

from conftest import MODELS

# The model-server configuration schema for plain models, as documented by the server
# (docs/parameters.md and the config schema it validates config.json against).
OVMS_SCHEMA = {
    "type": "object",
    "required": ["model_config_list"],
    "properties": {
        "model_config_list": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["config"],
                "additionalProperties": False,
                "properties": {
                    "config": {
                        "type": "object",
                        "required": ["name", "base_path"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string"},
                            "base_path": {"type": "string"},
                            "batch_size": {"type": ["integer", "string"], "minimum": 0},
                            "model_version_policy": {"type": "object"},
                            "shape": {"type": ["object", "string"]},
                            "nireq": {"type": "integer", "minimum": 0},
                            "target_device": {"type": "string"},
                            "plugin_config": {"type": "object"},
                            "stateful": {"type": "boolean"},
                            "idle_sequence_cleanup": {"type": "boolean"},
                            "low_latency_transformation": {"type": "boolean"},
                            "max_sequence_number": {"type": "integer", "minimum": 0},
                        },
                    }
                },
            },
        },
        "pipeline_config_list": {"type": "array"},
        "custom_loader_config_list": {"type": "array"},
        "custom_node_library_config_list": {"type": "array"},
        "mediapipe_config_list": {"type": "array"},
    },
    "additionalProperties": False,
}


def test_repository_layout_and_config(pinn, cli, tmp_path):
    repo = tmp_path / "repo"
    cli("convert", pinn, "--hessian", "--ovms-repo", repo, "--name", "pinn_h")
    cli("convert", pinn, "--ovms-repo", repo, "--name", "pinn", "--version", "3")
    cli("convert", pinn, "--jacobian", "--ovms-repo", repo, "--name", "pinn", "--version", "4")
    files = sorted(str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file())
    assert files == [
        "config.json", "pinn/3/model.bin", "pinn/3/model.xml", "pinn/4/model.bin",
        "pinn/4/model.xml", "pinn_h/1/model.bin", "pinn_h/1/model.xml",
    ]
    config = json.loads((repo / "config.json").read_text())
    jsonschema.validate(config, OVMS_SCHEMA)
    entries = {e["config"]["name"]: e["config"] for e in config["model_config_list"]}
    assert set(entries) == {"pinn", "pinn_h"}
    for e in entries.values():
        assert e["plugin_config"] == {"INFERENCE_PRECISION_HINT": "f32"}
        assert (repo / e["base_path"]).is_dir()  # relative to config.json, as the server reads it
    # The schema check can fail: an unknown key is refused.
    bad = json.loads(json.dumps(config))
    bad["model_config_list"][0]["config"]["precision"] = "f32"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, OVMS_SCHEMA)
    # What the server does with an entry: read version N's IR, compile with plugin_config.
    core = ov.Core()
    e = entries["pinn_h"]
    compiled = core.compile_model(
        core.read_model(repo / e["base_path"] / "1" / "model.xml"), e["target_device"], e["plugin_config"]
    )
    ins = dict(np.load(MODELS / "model_pinn.inputs.npz"))
    jax = dict(np.load(MODELS / "model_pinn.derivs.npz"))
    out = {k.get_any_name(): v for k, v in compiled.infer_new_request(ins).to_dict().items()}
    np.testing.assert_allclose(out["hessian/u/x/x"], jax["hessian/u/x/x"], rtol=1e-3, atol=1e-4)
    # refusals
    p = cli("convert", pinn, "--ovms-repo", repo, "--name", "a/b", ok=False)
    assert "--name" in p.stderr
    p = cli("convert", pinn, "--ovms-repo", repo, ok=False)
    assert "--name" in p.stderr
