//! An OpenVINO Model Server model repository: `DIR/NAME/VERSION/model.xml` (and `.bin`), and
//! `DIR/config.json` listing the model with `INFERENCE_PRECISION_HINT=f32` in its
//! `plugin_config` (an IR cannot carry that hint, and the CPU plugin would pick bf16 on CPUs
//! with AVX512-BF16). The config follows the server's documented schema (`model_config_list`,
//! each `{"config": {"name", "base_path", "target_device", "plugin_config"}}`); `base_path` is
//! relative to `config.json`, which the server resolves from the file's own directory.
//! Entries for other models in an existing `config.json` are kept.

use crate::ir::Ir;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Where one model version goes.
#[derive(Clone, Debug)]
pub struct Target {
    pub repo: PathBuf,
    pub name: String,
    pub version: u64,
}

/// The `plugin_config` written for every model: f32 inference.
pub fn plugin_config() -> Value {
    json!({ "INFERENCE_PRECISION_HINT": "f32" })
}

/// Write the IR as version `t.version` of model `t.name` and add (or update) its entry in
/// `config.json`; returns the paths written (the `.xml` and `config.json`).
pub fn write(ir: &Ir, t: &Target) -> Result<(PathBuf, PathBuf)> {
    let name_ok = !t.name.is_empty()
        && t.name != "."
        && t.name != ".."
        && t.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !name_ok {
        bail!(
            "--name {:?}: a model name is letters, digits, '_', '-' and '.' (it becomes a \
             directory and the name clients ask for)",
            t.name
        );
    }
    if t.version == 0 {
        bail!("--version 0: model server versions start at 1");
    }
    let config_path = t.repo.join("config.json");
    let mut config = read_config(&config_path)?;
    if !config.get("model_config_list").is_some_and(Value::is_array) {
        bail!(
            "{}: has no model_config_list array; it is not a model server config",
            config_path.display()
        );
    }
    let xml = t
        .repo
        .join(&t.name)
        .join(t.version.to_string())
        .join("model.xml");
    let dir = xml.parent().expect("a version directory");
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    ir.write(&xml)
        .with_context(|| format!("cannot write {}", xml.display()))?;
    let entry = json!({
        "config": {
            "name": t.name,
            "base_path": t.name,
            "target_device": "CPU",
            "plugin_config": plugin_config(),
        }
    });
    let list = config["model_config_list"]
        .as_array_mut()
        .expect("checked above");
    let same = |e: &Value| {
        e["config"].is_object() && e["config"]["name"].as_str() == Some(t.name.as_str())
    };
    match list.iter_mut().find(|e| same(e)) {
        Some(e) => {
            // Keep the entry's other settings (nireq, model_version_policy, ...).
            let c = e["config"]
                .as_object_mut()
                .expect("an object: checked by same()");
            c.insert("base_path".into(), json!(t.name));
            c.insert("target_device".into(), json!("CPU"));
            let pc = c.entry("plugin_config").or_insert_with(|| json!({}));
            if !pc.is_object() {
                *pc = json!({});
            }
            pc["INFERENCE_PRECISION_HINT"] = json!("f32");
        }
        None => list.push(entry),
    }
    let text = serde_json::to_string_pretty(&config)? + "\n";
    crate::io::atomic_write(&config_path, |f| {
        use std::io::Write;
        Ok(f.write_all(text.as_bytes())?)
    })?;
    Ok((xml, config_path))
}

/// An existing `config.json`, or an empty one.
fn read_config(path: &Path) -> Result<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let v: Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not valid JSON", path.display()))?;
            if !v.is_object() {
                bail!(
                    "{}: not a model server config (not an object)",
                    path.display()
                );
            }
            Ok(v)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({"model_config_list": []})),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ir() -> Ir {
        Ir {
            xml: "<net/>".into(),
            bin: vec![1, 2, 3],
        }
    }

    #[test]
    fn layout_and_config_and_a_second_model() {
        let dir = tempfile::tempdir().unwrap();
        let t = |name: &str, version| Target {
            repo: dir.path().join("repo"),
            name: name.into(),
            version,
        };
        let (xml, cfg) = write(&ir(), &t("pinn", 1)).unwrap();
        assert_eq!(xml, dir.path().join("repo/pinn/1/model.xml"));
        assert_eq!(
            std::fs::read(dir.path().join("repo/pinn/1/model.bin")).unwrap(),
            [1, 2, 3]
        );
        write(&ir(), &t("pinn", 2)).unwrap();
        write(&ir(), &t("pinn_h", 1)).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
        let list = v["model_config_list"].as_array().unwrap();
        assert_eq!(list.len(), 2, "{v}");
        assert_eq!(list[0]["config"]["base_path"], "pinn");
        assert_eq!(
            list[1]["config"]["plugin_config"]["INFERENCE_PRECISION_HINT"],
            "f32"
        );
        assert!(dir.path().join("repo/pinn/2/model.xml").is_file());
    }

    #[test]
    fn bad_names_versions_and_configs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let t = |name: &str, version| Target {
            repo: dir.path().to_path_buf(),
            name: name.into(),
            version,
        };
        for bad in ["", "..", "a/b", "a b"] {
            let e = write(&ir(), &t(bad, 1)).unwrap_err().to_string();
            assert!(e.contains("--name"), "{e}");
        }
        let e = write(&ir(), &t("m", 0)).unwrap_err().to_string();
        assert!(e.contains("--version 0"), "{e}");
        std::fs::write(dir.path().join("config.json"), "{\"x\": 1}").unwrap();
        let e = write(&ir(), &t("m", 1)).unwrap_err().to_string();
        assert!(e.contains("model_config_list"), "{e}");
    }
}
