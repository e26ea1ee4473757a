//! The loader's resource limits, and the environment variables that change them.

use super::error::LoadError;
use std::time::Duration;

/// Most bytes read from `metadata.json` or `config.json`.
pub const JSON_CAP: u64 = 64 << 20;
/// Default for [`Limits::max_params`]: 2^28 values, 1 GiB as float32.
pub const DEFAULT_MAX_PARAMS: u64 = 1 << 28;
/// CPU seconds the HDF5 reader always gets, before the allowance for the file's size.
pub const HDF5_BASE_SECONDS: u64 = 5;
/// Bytes of `model.weights.h5` per extra CPU second of the HDF5 reader.
pub const HDF5_BYTES_PER_SECOND: u64 = 16 << 20;

/// `KERAS2OV_MAX_PARAMS`: the most weight values a model may have.
pub const ENV_MAX_PARAMS: &str = "KERAS2OV_MAX_PARAMS";
/// `KERAS2OV_HDF5_TIMEOUT`: CPU seconds the HDF5 reader may use.
pub const ENV_HDF5_TIMEOUT: &str = "KERAS2OV_HDF5_TIMEOUT";

/// What a loaded archive may cost.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The most weight values (parameters) a model may declare in all. Checked against the
    /// shapes declared in `model.weights.h5` before any data is read. It also bounds the
    /// `model.weights.h5` entry ([`Limits::weights_cap`]) and the HDF5 reader's memory
    /// ([`Limits::reader_memory`]).
    pub max_params: u64,
    /// Most bytes read from `metadata.json` or `config.json`.
    pub json_cap: u64,
    /// CPU seconds the HDF5 reader may use; `None`: [`HDF5_BASE_SECONDS`] plus one second per
    /// [`HDF5_BYTES_PER_SECOND`] of `model.weights.h5`.
    pub hdf5_cpu_seconds: Option<u64>,
    /// Read `model.weights.h5` in a child process (`super::isolate`), so that a crash, a hang or
    /// a runaway allocation inside libhdf5 becomes an error. Only turn it off to debug the
    /// reader (or inside a fuzzer that wants the crashes).
    pub isolate: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_params: DEFAULT_MAX_PARAMS,
            json_cap: JSON_CAP,
            hdf5_cpu_seconds: None,
            isolate: true,
        }
    }
}

impl Limits {
    /// The defaults, changed by `KERAS2OV_MAX_PARAMS` and `KERAS2OV_HDF5_TIMEOUT` when set.
    pub fn from_env() -> Result<Limits, LoadError> {
        let mut l = Limits::default();
        if let Some(v) = env_u64(ENV_MAX_PARAMS, "a positive number of parameters")? {
            l.max_params = v;
        }
        if let Some(v) = env_u64(ENV_HDF5_TIMEOUT, "a positive number of seconds")? {
            l.hdf5_cpu_seconds = Some(v);
        }
        Ok(l)
    }

    /// The most bytes `model.weights.h5` may inflate to: 8 bytes (float64) per allowed
    /// parameter, plus 64 MiB for HDF5's own structures.
    pub fn weights_cap(&self) -> u64 {
        self.max_params.saturating_mul(8).saturating_add(64 << 20)
    }

    /// Address space the HDF5 reader may add to what the process already maps, for a
    /// `model.weights.h5` of `h5_bytes`: the file (HDF5 reads it into memory), twice the
    /// allowed parameters as float32, and 256 MiB.
    pub fn reader_memory(&self, h5_bytes: u64) -> u64 {
        self.max_params
            .saturating_mul(8)
            .saturating_add(h5_bytes)
            .saturating_add(256 << 20)
    }

    /// CPU time the HDF5 reader may use on a `model.weights.h5` of `h5_bytes`.
    pub fn hdf5_cpu(&self, h5_bytes: u64) -> Duration {
        Duration::from_secs(
            self.hdf5_cpu_seconds
                .unwrap_or(HDF5_BASE_SECONDS + h5_bytes / HDF5_BYTES_PER_SECOND),
        )
    }

    /// Wall-clock time the HDF5 reader may take (it may wait for a CPU on a busy machine):
    /// twice its CPU time, plus 2 s.
    pub fn hdf5_wall(&self, h5_bytes: u64) -> Duration {
        self.hdf5_cpu(h5_bytes) * 2 + Duration::from_secs(2)
    }
}

fn env_u64(name: &'static str, expected: &'static str) -> Result<Option<u64>, LoadError> {
    let Some(raw) = std::env::var_os(name) else {
        return Ok(None);
    };
    let text = raw.to_string_lossy();
    let digits: String = text.trim().chars().filter(|c| *c != '_').collect();
    match digits.parse::<u64>() {
        Ok(v) if v > 0 => Ok(Some(v)),
        _ => Err(LoadError::Setting {
            name,
            value: crate::text::clip(&text).into_owned(),
            expected,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_limits() {
        let l = Limits::default();
        assert_eq!(l.weights_cap(), (2 << 30) + (64 << 20));
        assert_eq!(l.hdf5_cpu(0), Duration::from_secs(5));
        assert_eq!(l.hdf5_cpu(160 << 20), Duration::from_secs(15));
        assert_eq!(l.hdf5_wall(0), Duration::from_secs(12));
        let l = Limits {
            hdf5_cpu_seconds: Some(1),
            max_params: u64::MAX,
            ..Limits::default()
        };
        assert_eq!(l.hdf5_cpu(1 << 40), Duration::from_secs(1));
        assert_eq!(l.weights_cap(), u64::MAX);
    }
}
