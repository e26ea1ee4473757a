//! The loader: a Keras 3 `.keras` archive -> [`LoadedModel`] (the layer graph of
//! `crate::layer_graph`), parsed but not interpreted.
//!
//! - `archive`: the zip container (entry caps, legacy `.h5` detection, unnamed temporary file
//!   for the weights).
//! - `config`: `config.json` -> [`KerasModel`] (Functional and Sequential, nested models,
//!   call arguments, Lambda refusal).
//! - `order`: reference checks and the topological order of each model's layers.
//! - `weights`: `model.weights.h5` -> each layer's variables, by Keras' saving-path rule.
//! - `isolate`: runs the HDF5 reading of `weights` in a child process with CPU, memory and
//!   wall-clock limits, so a crash or hang of libhdf5 becomes an error.
//! - `limits`: the caps ([`Limits`]) and the environment variables that change them.
//!
//! Nothing here decides whether a layer is supported (lowering does), and nothing in an
//! archive is ever executed: `Lambda` layers and serialized Python lambdas are refused.
//!
//! [`KerasModel`]: crate::layer_graph::KerasModel

mod archive;
mod config;
mod error;
mod isolate;
mod limits;
mod order;
mod raw_json;
mod saving_names;
mod weights;

pub use config::MAX_CONFIG_VALUES;
pub use error::LoadError;
pub use limits::{
    Limits, DEFAULT_MAX_PARAMS, ENV_HDF5_TIMEOUT, ENV_MAX_PARAMS, HDF5_BASE_SECONDS,
    HDF5_BYTES_PER_SECOND, JSON_CAP,
};

use crate::layer_graph::LoadedModel;
use serde_json::Value;
use std::io::{BufReader, Cursor, Read, Seek};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// The group names Keras' saving path gives a list of objects of these classes
/// (`snake_case(class)`, made unique: `lstm_cell`, `lstm_cell_1`, ...), e.g. the cells of a
/// `StackedRNNCells` under `.../cell/cells/`.
pub fn container_names(classes: &[&str]) -> Vec<String> {
    saving_names::container_names(classes)
}

/// Whether `v` is a serialized Functional or Sequential model (as a wrapper's `layer`).
pub fn is_model_entry(v: &Value) -> bool {
    v.as_object().is_some_and(config::is_model_object)
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

/// Load a `.keras` archive from a file, with the [`Limits`] of the environment.
pub fn load(path: &Path) -> Result<LoadedModel, LoadError> {
    load_with(path, &Limits::from_env()?)
}

/// Load a `.keras` archive from a file, with the given limits.
pub fn load_with(path: &Path, limits: &Limits) -> Result<LoadedModel, LoadError> {
    let file = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|source| LoadError::Io {
        file: file.clone(),
        source,
    })?;
    guarded(&file, || load_from(BufReader::new(f), &file, limits))
}

/// Load a `.keras` archive held in memory; `name` is used in error messages.
pub fn load_bytes(bytes: &[u8], name: &str) -> Result<LoadedModel, LoadError> {
    load_bytes_with(bytes, name, &Limits::from_env()?)
}

/// [`load_bytes`] with the given limits.
pub fn load_bytes_with(
    bytes: &[u8],
    name: &str,
    limits: &Limits,
) -> Result<LoadedModel, LoadError> {
    guarded(name, || load_from(Cursor::new(bytes), name, limits))
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
                message: crate::text::clip_to(&message, 1000).into_owned(),
            })
        }
    }
}

/// The stages, cheapest checks first: the container, the version, the config and its graph,
/// and only then the weights (extracted, then read in the isolated reader).
fn load_from<R: Read + Seek>(
    reader: R,
    file: &str,
    limits: &Limits,
) -> Result<LoadedModel, LoadError> {
    let mut zip = archive::open(reader, file)?;
    let metadata = archive::read_json(&mut zip, file, archive::METADATA, limits.json_cap)?;
    let keras_version = check_version(&metadata, file)?;
    drop(metadata);
    let config = archive::read_entry(&mut zip, file, archive::CONFIG, limits.json_cap)?;
    let cx = config::Cx { file };
    let mut model = config::parse_root_bytes(&config, &cx)?;
    drop(config);
    order::validate(&model, file)?;
    let h5 = archive::extract_weights(&mut zip, file, limits.weights_cap())?;
    drop(zip);
    let weights = isolate::read_weights(&model, &h5.path(), h5.len, file, limits)?;
    drop(h5);
    weights::apply(&mut model, weights);
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
                Ok(crate::text::clip(v).into_owned())
            } else {
                Err(refuse(format!("\"{}\"", crate::text::clip(v))))
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
