//! Reading the zip container of a `.keras` archive.
//!
//! Every entry is read through `take(cap + 1)`, so a hostile archive cannot make the loader
//! inflate more than `cap` bytes whatever sizes its headers declare. `model.weights.h5` is
//! streamed into a private temporary file, because the `hdf5` crate opens files, not memory.

use super::error::LoadError;
use serde_json::Value;
use std::io::{self, Read, Seek, SeekFrom, Write};
use tempfile::NamedTempFile;
use zip::result::ZipError;
use zip::ZipArchive;

/// Most bytes read from `metadata.json` or `config.json`.
pub const JSON_CAP: u64 = 64 << 20;
/// Most bytes read from `model.weights.h5`.
pub const WEIGHTS_CAP: u64 = 2 << 30;

pub const METADATA: &str = "metadata.json";
pub const CONFIG: &str = "config.json";
pub const WEIGHTS_H5: &str = "model.weights.h5";
pub const WEIGHTS_NPZ: &str = "model.weights.npz";

/// The HDF5 format signature, found at offset 0 of a legacy Keras 2 `.h5` model.
pub const HDF5_MAGIC: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// The three entries of an archive, parsed as far as the container goes.
#[derive(Debug)]
pub struct Archive {
    pub metadata: Value,
    pub config: Value,
    /// `model.weights.h5`, extracted; deleted when dropped.
    pub weights: NamedTempFile,
}

/// Read the archive's entries (the caps are parameters so tests can exercise them).
pub fn read_archive<R: Read + Seek>(
    mut reader: R,
    file: &str,
    json_cap: u64,
    weights_cap: u64,
) -> Result<Archive, LoadError> {
    let io_err = |source: io::Error| LoadError::Io {
        file: file.to_string(),
        source,
    };
    let mut head = Vec::with_capacity(8);
    (&mut reader)
        .take(8)
        .read_to_end(&mut head)
        .map_err(io_err)?;
    reader.seek(SeekFrom::Start(0)).map_err(io_err)?;
    if head.as_slice() == HDF5_MAGIC {
        return Err(LoadError::LegacyH5 {
            file: file.to_string(),
        });
    }
    if head.is_empty() {
        return Err(not_archive(file, "the file is empty"));
    }
    if !head.starts_with(b"PK") {
        let shown: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
        return Err(not_archive(
            file,
            &format!(
                "it is not a zip archive (a `.keras` file is a zip archive starting with \"PK\"; \
                 this one starts with bytes {})",
                shown.join(" ")
            ),
        ));
    }
    let mut zip = ZipArchive::new(reader).map_err(|e| {
        not_archive(
            file,
            &format!("the zip structure is damaged or the file is truncated ({e})"),
        )
    })?;

    let metadata_bytes = read_entry(&mut zip, file, METADATA, json_cap)?;
    let metadata = parse_json(&metadata_bytes, file, METADATA)?;
    drop(metadata_bytes);
    let config_bytes = read_entry(&mut zip, file, CONFIG, json_cap)?;
    let config = parse_json(&config_bytes, file, CONFIG)?;
    drop(config_bytes);

    let weights = extract_weights(&mut zip, file, weights_cap)?;
    Ok(Archive {
        metadata,
        config,
        weights,
    })
}

fn not_archive(file: &str, detail: &str) -> LoadError {
    LoadError::NotArchive {
        file: file.to_string(),
        detail: detail.to_string(),
    }
}

fn entry_error(file: &str, entry: &str, e: ZipError) -> LoadError {
    match e {
        ZipError::FileNotFound => LoadError::MissingEntry {
            file: file.to_string(),
            entry: entry.to_string(),
            hint: missing_hint(entry),
        },
        other => LoadError::Entry {
            file: file.to_string(),
            entry: entry.to_string(),
            detail: other.to_string(),
        },
    }
}

fn missing_hint(entry: &str) -> String {
    match entry {
        METADATA | CONFIG | WEIGHTS_H5 => {
            " (every `.keras` archive written by Keras 3 has metadata.json, config.json and \
             model.weights.h5)"
                .to_string()
        }
        _ => String::new(),
    }
}

/// Read one entry into memory, refusing to inflate more than `cap` bytes.
fn read_entry<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    file: &str,
    entry: &str,
    cap: u64,
) -> Result<Vec<u8>, LoadError> {
    let zf = zip
        .by_name(entry)
        .map_err(|e| entry_error(file, entry, e))?;
    let mut buf = Vec::new();
    zf.take(cap.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| LoadError::Entry {
            file: file.to_string(),
            entry: entry.to_string(),
            detail: format!("the compressed data is damaged ({e})"),
        })?;
    if buf.len() as u64 > cap {
        return Err(LoadError::EntryTooLarge {
            file: file.to_string(),
            entry: entry.to_string(),
            cap,
        });
    }
    Ok(buf)
}

fn parse_json(bytes: &[u8], file: &str, entry: &str) -> Result<Value, LoadError> {
    serde_json::from_slice(bytes).map_err(|e| LoadError::Json {
        file: file.to_string(),
        entry: entry.to_string(),
        detail: e.to_string(),
    })
}

/// Stream `model.weights.h5` into a private temporary file.
fn extract_weights<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    file: &str,
    cap: u64,
) -> Result<NamedTempFile, LoadError> {
    let has_npz = zip.file_names().any(|n| n == WEIGHTS_NPZ);
    let zf = match zip.by_name(WEIGHTS_H5) {
        Ok(zf) => zf,
        Err(ZipError::FileNotFound) => {
            if has_npz {
                return Err(LoadError::WeightsFormat {
                    file: file.to_string(),
                    message: "the weights are stored as model.weights.npz (saved with \
                              weights_format=\"npz\"), which holds pickled Python objects; \
                              keras2ov reads only model.weights.h5: re-save the model with the \
                              default weights format"
                        .to_string(),
                });
            }
            return Err(entry_error(file, WEIGHTS_H5, ZipError::FileNotFound));
        }
        Err(e) => return Err(entry_error(file, WEIGHTS_H5, e)),
    };
    let tmp_err = |e: io::Error| LoadError::Io {
        file: file.to_string(),
        source: io::Error::new(
            e.kind(),
            format!("cannot write a temporary copy of model.weights.h5: {e}"),
        ),
    };
    let mut tmp = NamedTempFile::new().map_err(tmp_err)?;
    let mut limited = zf.take(cap.saturating_add(1));
    let copied = {
        let mut out = io::BufWriter::new(tmp.as_file_mut());
        let n = copy_reporting_source(&mut limited, &mut out).map_err(|e| match e {
            CopyError::Read(e) => LoadError::Entry {
                file: file.to_string(),
                entry: WEIGHTS_H5.to_string(),
                detail: format!("the compressed data is damaged ({e})"),
            },
            CopyError::Write(e) => tmp_err(e),
        })?;
        out.flush().map_err(tmp_err)?;
        n
    };
    if copied > cap {
        return Err(LoadError::EntryTooLarge {
            file: file.to_string(),
            entry: WEIGHTS_H5.to_string(),
            cap,
        });
    }
    Ok(tmp)
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// `io::copy`, but telling read errors (a damaged archive) from write errors (the disk).
fn copy_reporting_source<R: Read, W: Write>(r: &mut R, w: &mut W) -> Result<u64, CopyError> {
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        w.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use zip::write::SimpleFileOptions;

    fn make_zip(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(
                *name,
                SimpleFileOptions::default().compression_method(method),
            )
            .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    const META: &[u8] = br#"{"keras_version": "3.15.1"}"#;
    const CONF: &[u8] = br#"{"class_name": "Sequential"}"#;

    fn read(bytes: Vec<u8>) -> Result<Archive, LoadError> {
        read_archive(Cursor::new(bytes), "t.keras", JSON_CAP, WEIGHTS_CAP)
    }

    #[test]
    fn reads_the_three_entries() {
        let z = make_zip(
            &[(METADATA, META), (CONFIG, CONF), (WEIGHTS_H5, b"h5bytes")],
            zip::CompressionMethod::Deflated,
        );
        let a = read(z).unwrap();
        assert_eq!(a.metadata["keras_version"], "3.15.1");
        assert_eq!(a.config["class_name"], "Sequential");
        assert_eq!(std::fs::read(a.weights.path()).unwrap(), b"h5bytes");
    }

    #[test]
    fn legacy_h5_is_named() {
        let mut bytes = HDF5_MAGIC.to_vec();
        bytes.extend_from_slice(&[0; 100]);
        let e = read(bytes).unwrap_err().to_string();
        assert!(
            e.contains("t.keras") && e.contains("legacy Keras 2 HDF5"),
            "{e}"
        );
    }

    #[test]
    fn non_zip_empty_and_truncated() {
        let e = read(b"hello world".to_vec()).unwrap_err().to_string();
        assert!(
            e.contains("not a zip archive") && e.contains("68 65 6c"),
            "{e}"
        );
        let e = read(Vec::new()).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let z = make_zip(
            &[(METADATA, META), (CONFIG, CONF), (WEIGHTS_H5, b"h5")],
            zip::CompressionMethod::Stored,
        );
        let cut = z[..z.len() / 2].to_vec();
        let e = read(cut).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
    }

    #[test]
    fn missing_entries_and_bad_json() {
        let z = make_zip(&[(METADATA, META)], zip::CompressionMethod::Stored);
        let e = read(z).unwrap_err().to_string();
        assert!(e.contains("no `config.json` entry"), "{e}");
        let z = make_zip(
            &[(METADATA, META), (CONFIG, b"{\"a\": ")],
            zip::CompressionMethod::Stored,
        );
        let e = read(z).unwrap_err().to_string();
        assert!(e.contains("`config.json` is not valid JSON"), "{e}");
        let z = make_zip(
            &[(METADATA, META), (CONFIG, CONF)],
            zip::CompressionMethod::Stored,
        );
        let e = read(z).unwrap_err().to_string();
        assert!(e.contains("no `model.weights.h5` entry"), "{e}");
        let z = make_zip(
            &[(METADATA, META), (CONFIG, CONF), (WEIGHTS_NPZ, b"x")],
            zip::CompressionMethod::Stored,
        );
        let e = read(z).unwrap_err().to_string();
        assert!(e.contains("model.weights.npz"), "{e}");
    }

    #[test]
    fn caps_are_enforced_on_inflated_bytes() {
        // 10 KB of zeros deflates to a few bytes; a 1 KB cap must still refuse it.
        let big = vec![b' '; 10_000];
        let mut conf = CONF.to_vec();
        conf.extend_from_slice(&big);
        let z = make_zip(
            &[(METADATA, META), (CONFIG, &conf), (WEIGHTS_H5, &big)],
            zip::CompressionMethod::Deflated,
        );
        let e = read_archive(Cursor::new(z.clone()), "t.keras", 1000, WEIGHTS_CAP)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("`config.json` inflates beyond 1000 bytes"),
            "{e}"
        );
        let e = read_archive(Cursor::new(z.clone()), "t.keras", JSON_CAP, 9_999)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("`model.weights.h5` inflates beyond 9999 bytes"),
            "{e}"
        );
        // Exactly at the cap is fine.
        assert!(read_archive(Cursor::new(z), "t.keras", JSON_CAP, 10_000).is_ok());
    }
}
