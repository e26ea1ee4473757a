//! The loader: a Keras 3 `.keras` archive -> [`LoadedModel`] (the layer graph of
//! `crate::layer_graph`), parsed but not interpreted.
//!
//! - `archive`: the zip container (entry caps, legacy `.h5` detection, temp file for weights).
//! - `config`: `config.json` -> [`KerasModel`] (Functional and Sequential, nested models,
//!   call arguments, Lambda refusal).
//! - `order`: reference checks and the topological order of each model's layers.
//! - `weights`: `model.weights.h5` -> each layer's variables, by Keras' saving-path rule.
//!
//! Nothing here decides whether a layer is supported (lowering does), and nothing in an
//! archive is ever executed: `Lambda` layers and serialized Python lambdas are refused.
//!
//! [`KerasModel`]: crate::layer_graph::KerasModel

mod archive;
mod config;
mod error;
mod order;
mod weights;

pub use archive::{JSON_CAP, WEIGHTS_CAP};
pub use error::LoadError;

use crate::layer_graph::LoadedModel;
use serde_json::Value;
use std::io::{BufReader, Cursor, Read, Seek};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// The group names Keras' saving path gives a list of objects of these classes
/// (`snake_case(class)`, made unique: `lstm_cell`, `lstm_cell_1`, ...), e.g. the cells of a
/// `StackedRNNCells` under `.../cell/cells/`.
pub fn container_names(classes: &[&str]) -> Vec<String> {
    weights::container_names(classes)
}

/// Whether `v` is a serialized Functional or Sequential model (as a wrapper's `layer`).
pub fn is_model_entry(v: &Value) -> bool {
    v.as_object().is_some_and(config::is_model_entry)
}

/// A model saved inside a wrapper's config (`TimeDistributed(Sequential(...))`): parsed and
/// ordered like a nested model, its layers' weights taken from the wrapper's `weights`, whose
/// paths run through `prefix` (`<wrapper group>/layer`). `file` names the archive in errors.
pub fn wrapped_model(
    entry: &Value,
    weights: &[crate::layer_graph::Weight],
    prefix: &str,
    file: &str,
) -> Result<crate::layer_graph::KerasModel, LoadError> {
    let cx = config::Cx { file };
    let mut model = config::parse_root(entry, &cx)?;
    order::validate(&model, file)?;
    weights::attach_flat(&mut model, weights, prefix);
    order::sort(&mut model, file)?;
    Ok(model)
}

/// Load a `.keras` archive from a file.
pub fn load(path: &Path) -> Result<LoadedModel, LoadError> {
    let file = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|source| LoadError::Io {
        file: file.clone(),
        source,
    })?;
    guarded(&file, || load_from(BufReader::new(f), &file))
}

/// Load a `.keras` archive held in memory; `name` is used in error messages.
pub fn load_bytes(bytes: &[u8], name: &str) -> Result<LoadedModel, LoadError> {
    guarded(name, || load_from(Cursor::new(bytes), name))
}

/// Turn a panic (a loader bug) into an error instead of crashing the caller.
fn guarded(
    file: &str,
    f: impl FnOnce() -> Result<LoadedModel, LoadError>,
) -> Result<LoadedModel, LoadError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string());
            Err(LoadError::Internal {
                file: file.to_string(),
                message,
            })
        }
    }
}

fn load_from<R: Read + Seek>(reader: R, file: &str) -> Result<LoadedModel, LoadError> {
    let archive = archive::read_archive(reader, file, JSON_CAP, WEIGHTS_CAP)?;
    let keras_version = check_version(&archive.metadata, file)?;
    let cx = config::Cx { file };
    let mut model = config::parse_root(&archive.config, &cx)?;
    order::validate(&model, file)?;
    weights::attach(&mut model, archive.weights.path(), file)?;
    order::sort(&mut model, file)?;
    Ok(LoadedModel {
        keras_version,
        model,
    })
}

/// `metadata.json` must say `keras_version` 3.x.
fn check_version(metadata: &Value, file: &str) -> Result<String, LoadError> {
    let refuse = |found: String| LoadError::KerasVersion {
        file: file.to_string(),
        found,
    };
    match metadata.get("keras_version") {
        Some(Value::String(v)) => {
            if v == "3" || v.starts_with("3.") {
                Ok(v.clone())
            } else {
                Err(refuse(format!("\"{v}\"")))
            }
        }
        Some(other) => Err(refuse(format!(
            "{} (not a version string)",
            config::short(other)
        ))),
        None => Err(refuse(
            "missing (metadata.json has no keras_version)".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_check() {
        assert_eq!(
            check_version(&json!({"keras_version": "3.15.1"}), "f").unwrap(),
            "3.15.1"
        );
        let e = check_version(&json!({"keras_version": "2.15.0"}), "m.keras")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("m.keras") && e.contains("\"2.15.0\"") && e.contains("3.x"),
            "{e}"
        );
        let e = check_version(&json!({}), "m.keras")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing"), "{e}");
        let e = check_version(&json!({"keras_version": 3}), "m.keras")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a version string"), "{e}");
        assert!(check_version(&json!({"keras_version": "30.1"}), "f").is_err());
    }

    #[test]
    fn panics_become_errors() {
        let e = guarded("x.keras", || panic!("boom"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.keras") && e.contains("boom"), "{e}");
    }
}
