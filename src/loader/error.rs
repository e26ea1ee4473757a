//! The loader's error type: one variant per kind of problem, each displayed as one paragraph
//! that names the archive and, where relevant, the entry, JSON location, layer or weight path.

use thiserror::Error;

/// Why a `.keras` archive could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file itself could not be opened or read.
    #[error("cannot read {file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },

    /// A Keras 2 (`tf.keras`) HDF5 model file.
    #[error(
        "{file} is a legacy Keras 2 HDF5 model (it starts with the HDF5 signature), not a \
         Keras 3 `.keras` archive. keras2ov reads only `.keras` archives: load the model in \
         Keras 3 (`keras.models.load_model(...)`) and re-save it with \
         `model.save(\"model.keras\")`."
    )]
    LegacyH5 { file: String },

    /// Not a zip archive at all, or a damaged/truncated one.
    #[error("{file} is not a readable `.keras` archive: {detail}")]
    NotArchive { file: String, detail: String },

    /// A required entry is missing from the zip.
    #[error("{file}: the archive has no `{entry}` entry{hint}")]
    MissingEntry {
        file: String,
        entry: String,
        hint: String,
    },

    /// An entry decompresses to more bytes than the loader accepts.
    #[error(
        "{file}: entry `{entry}` inflates beyond {cap} bytes ({} MiB); refusing to read it \
         (the archive is damaged or hostile)", cap >> 20
    )]
    EntryTooLarge {
        file: String,
        entry: String,
        cap: u64,
    },

    /// An entry declares (in the zip directory) more bytes than the loader accepts; refused
    /// before any of it is inflated.
    #[error(
        "{file}: entry `{entry}` declares {declared} bytes ({} MiB), more than the {cap} bytes \
         ({} MiB) accepted{hint}; refusing it before reading (the archive is damaged or hostile, \
         or the model is over the limit)", declared >> 20, cap >> 20
    )]
    EntryDeclaredTooLarge {
        file: String,
        entry: String,
        declared: u64,
        cap: u64,
        hint: &'static str,
    },

    /// An entry could not be decompressed (corrupt data, bad checksum, unsupported method).
    #[error("{file}: cannot read entry `{entry}`: {detail}")]
    Entry {
        file: String,
        entry: String,
        detail: String,
    },

    /// `metadata.json` or `config.json` is not valid JSON.
    #[error("{file}: entry `{entry}` is not valid JSON: {detail}")]
    Json {
        file: String,
        entry: String,
        detail: String,
    },

    /// `metadata.json` says the archive was not written by Keras 3.
    #[error(
        "{file}: metadata.json: keras_version is {found}; keras2ov reads only archives saved \
         by Keras 3.x (load the model in Keras 3 and re-save it as `.keras`)"
    )]
    KerasVersion { file: String, found: String },

    /// `config.json` does not describe a model the loader understands.
    #[error("{file}: config.json, at {location}: {message}")]
    Config {
        file: String,
        location: String,
        message: String,
    },

    /// A `Lambda` layer (or a serialized Python lambda) somewhere in the config.
    #[error(
        "{file}: {what} at config.json {location}: it carries Python bytecode, and keras2ov \
         never executes code from an archive (Keras itself refuses to load it in safe_mode). \
         Rewrite that part of the model with built-in layers or `keras.ops` calls, then re-save."
    )]
    Lambda {
        file: String,
        what: String,
        location: String,
    },

    /// The layer graph is inconsistent: unknown layers, bad node indices, cycles.
    #[error("{file}: in model `{model}`: {message}")]
    Graph {
        file: String,
        model: String,
        message: String,
    },

    /// `model.weights.h5` is unreadable or disagrees with the config.
    #[error("{file}: model.weights.h5, at `{path}`: {message}")]
    Weights {
        file: String,
        path: String,
        message: String,
    },

    /// The isolated HDF5 reader crashed, ran out of time or memory, or broke its protocol.
    #[error(
        "{file}: model.weights.h5 is corrupt: the HDF5 library {what} while reading `{path}` \
         (keras2ov reads HDF5 in a separate, limited process: nothing else was affected)"
    )]
    Hdf5Reader {
        file: String,
        path: String,
        what: String,
    },

    /// A loader limit set in the environment is not valid.
    #[error("environment variable {name}={value:?} is not {expected}")]
    Setting {
        name: &'static str,
        value: String,
        expected: &'static str,
    },

    /// Weights saved in a format the loader does not read.
    #[error("{file}: {message}")]
    WeightsFormat { file: String, message: String },

    /// A bug in the loader (it panicked); reported instead of crashing.
    #[error("{file}: internal error in the keras2ov loader: {message}")]
    Internal { file: String, message: String },
}
