//! Reading the zip container of a `.keras` archive.
//!
//! Every entry is refused first by the size the zip directory declares for it, then read
//! through `take(declared + 1)` and refused if it inflates to more than it declared, so a
//! hostile archive cannot make the loader inflate more than the caps whatever its headers
//! say. `model.weights.h5` is streamed into an *unnamed* temporary file (`O_TMPFILE` in
//! `$TMPDIR`, or a memfd), because the `hdf5` crate opens files, not memory: the kernel frees
//! it when the last descriptor closes, so nothing is left behind even if the process is
//! killed. HDF5 opens it as `/proc/self/fd/N`.

use super::error::LoadError;
use crate::text::clip;
use serde_json::Value;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::PathBuf;
use zip::result::ZipError;
use zip::ZipArchive;

pub const METADATA: &str = "metadata.json";
pub const CONFIG: &str = "config.json";
pub const WEIGHTS_H5: &str = "model.weights.h5";
pub const WEIGHTS_NPZ: &str = "model.weights.npz";

/// The HDF5 format signature, found at offset 0 of a legacy Keras 2 `.h5` model.
pub const HDF5_MAGIC: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// `model.weights.h5`, extracted to a file without a name.
#[derive(Debug)]
pub struct WeightsFile {
    pub file: File,
    /// Its size in bytes.
    pub len: u64,
}

impl WeightsFile {
    /// A path that opens it (`/proc/self/fd/N`, valid in this process and its forks).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
    }
}

/// Check the first bytes of the file and open its zip directory.
pub fn open<R: Read + Seek>(mut reader: R, file: &str) -> Result<ZipArchive<R>, LoadError> {
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
    ZipArchive::new(reader).map_err(|e| {
        not_archive(
            file,
            &format!(
                "the zip structure is damaged or the file is truncated ({})",
                clip(&e.to_string())
            ),
        )
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
            detail: clip(&other.to_string()).into_owned(),
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

fn damaged(file: &str, entry: &str, e: impl std::fmt::Display) -> LoadError {
    LoadError::Entry {
        file: file.to_string(),
        entry: entry.to_string(),
        detail: format!("the compressed data is damaged ({})", clip(&e.to_string())),
    }
}

/// Refuse an entry whose declared size is over `cap`, before reading it.
fn check_declared(
    file: &str,
    entry: &str,
    declared: u64,
    cap: u64,
    hint: &'static str,
) -> Result<(), LoadError> {
    if declared > cap {
        return Err(LoadError::EntryDeclaredTooLarge {
            file: file.to_string(),
            entry: entry.to_string(),
            declared,
            cap,
            hint,
        });
    }
    Ok(())
}

/// The entry inflated to `got` bytes: more than `cap`, or more than it declared?
fn check_inflated(
    file: &str,
    entry: &str,
    got: u64,
    declared: u64,
    cap: u64,
) -> Result<(), LoadError> {
    if got > cap {
        return Err(LoadError::EntryTooLarge {
            file: file.to_string(),
            entry: entry.to_string(),
            cap,
        });
    }
    if got > declared {
        return Err(damaged(
            file,
            entry,
            format!("it inflates to more than the {declared} bytes it declares"),
        ));
    }
    Ok(())
}

/// Read one entry into memory, refusing more than `cap` bytes (declared or inflated).
pub fn read_entry<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    file: &str,
    entry: &str,
    cap: u64,
) -> Result<Vec<u8>, LoadError> {
    let zf = zip
        .by_name(entry)
        .map_err(|e| entry_error(file, entry, e))?;
    let declared = zf.size();
    check_declared(file, entry, declared, cap, "")?;
    let mut buf = Vec::new();
    zf.take(declared.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| damaged(file, entry, e))?;
    check_inflated(file, entry, buf.len() as u64, declared, cap)?;
    Ok(buf)
}

/// Read and parse a JSON entry.
pub fn read_json<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    file: &str,
    entry: &str,
    cap: u64,
) -> Result<Value, LoadError> {
    let bytes = read_entry(zip, file, entry, cap)?;
    parse_json(&bytes, file, entry)
}

fn parse_json(bytes: &[u8], file: &str, entry: &str) -> Result<Value, LoadError> {
    serde_json::from_slice(bytes).map_err(|e| LoadError::Json {
        file: file.to_string(),
        entry: entry.to_string(),
        detail: e.to_string(),
    })
}

/// A read-write file with no name: `O_TMPFILE` in `$TMPDIR`, else a memfd.
fn unnamed_file() -> io::Result<File> {
    match tempfile::tempfile() {
        Ok(f) => Ok(f),
        Err(tmp_err) => {
            // SAFETY: memfd_create with a constant name; the descriptor is owned by the File.
            let fd = unsafe { libc::memfd_create(c"keras2ov-weights".as_ptr(), libc::MFD_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::new(
                    tmp_err.kind(),
                    format!(
                        "{tmp_err}; and no memfd either: {}",
                        io::Error::last_os_error()
                    ),
                ));
            }
            // SAFETY: `fd` is a new descriptor owned by nobody else.
            Ok(unsafe { File::from_raw_fd(fd) })
        }
    }
}

/// Stream `model.weights.h5` into an unnamed temporary file.
pub fn extract_weights<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    file: &str,
    cap: u64,
) -> Result<WeightsFile, LoadError> {
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
    let declared = zf.size();
    check_declared(
        file,
        WEIGHTS_H5,
        declared,
        cap,
        " (8 bytes per parameter allowed by KERAS2OV_MAX_PARAMS, plus 64 MiB)",
    )?;
    let tmp_err = |e: io::Error| LoadError::Io {
        file: file.to_string(),
        source: io::Error::new(
            e.kind(),
            format!("cannot write a temporary copy of model.weights.h5: {e}"),
        ),
    };
    let mut tmp = unnamed_file().map_err(tmp_err)?;
    let mut limited = zf.take(declared.saturating_add(1));
    let copied = {
        let mut out = io::BufWriter::new(&mut tmp);
        let n = copy_reporting_source(&mut limited, &mut out).map_err(|e| match e {
            CopyError::Read(e) => damaged(file, WEIGHTS_H5, e),
            CopyError::Write(e) => tmp_err(e),
        })?;
        out.flush().map_err(tmp_err)?;
        n
    };
    check_inflated(file, WEIGHTS_H5, copied, declared, cap)?;
    Ok(WeightsFile {
        file: tmp,
        len: copied,
    })
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

    const JSON_CAP: u64 = super::super::limits::JSON_CAP;
    const WEIGHTS_CAP: u64 = 2 << 30;

    #[derive(Debug)]
    struct Archive {
        metadata: Value,
        config: Value,
        weights: WeightsFile,
    }

    /// The three entries, in the order the loader reads them.
    fn read_archive<R: Read + Seek>(
        reader: R,
        file: &str,
        json_cap: u64,
        weights_cap: u64,
    ) -> Result<Archive, LoadError> {
        let mut zip = open(reader, file)?;
        let metadata = read_json(&mut zip, file, METADATA, json_cap)?;
        let config = read_json(&mut zip, file, CONFIG, json_cap)?;
        let weights = extract_weights(&mut zip, file, weights_cap)?;
        Ok(Archive {
            metadata,
            config,
            weights,
        })
    }

    /// Overwrite the uncompressed size an entry declares, in its local header and in the
    /// central directory.
    fn set_declared_size(zip: &mut [u8], name: &str, size: u32) {
        let n = name.as_bytes();
        for i in 0..zip.len().saturating_sub(46) {
            let sig: [u8; 4] = zip[i..i + 4].try_into().unwrap();
            if &sig == b"PK\x03\x04" && zip[i + 30..].starts_with(n) {
                zip[i + 22..i + 26].copy_from_slice(&size.to_le_bytes());
            }
            if &sig == b"PK\x01\x02" && zip[i + 46..].starts_with(n) {
                zip[i + 24..i + 28].copy_from_slice(&size.to_le_bytes());
            }
        }
    }

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
    fn caps_are_enforced_on_declared_and_inflated_bytes() {
        // 10 KB of spaces deflates to a few bytes; a 1 KB cap must still refuse it, by the
        // size the zip directory declares, before inflating anything.
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
            e.contains("`config.json` declares 10028 bytes") && e.contains("1000 bytes"),
            "{e}"
        );
        let e = read_archive(Cursor::new(z.clone()), "t.keras", JSON_CAP, 9_999)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("`model.weights.h5` declares 10000 bytes") && e.contains("9999 bytes"),
            "{e}"
        );
        // Exactly at the cap is fine.
        assert!(read_archive(Cursor::new(z.clone()), "t.keras", JSON_CAP, 10_000).is_ok());

        // Declared sizes that lie: the entry is read only up to what it declared.
        let mut lying = z.clone();
        set_declared_size(&mut lying, WEIGHTS_H5, 100);
        let e = read_archive(Cursor::new(lying), "t.keras", JSON_CAP, 9_999)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("model.weights.h5") && e.contains("more than the 100 bytes it declares"),
            "{e}"
        );
        let mut lying = z;
        set_declared_size(&mut lying, CONFIG, 50);
        let e = read_archive(Cursor::new(lying), "t.keras", 1000, WEIGHTS_CAP)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("config.json") && e.contains("50 bytes it declares"),
            "{e}"
        );
    }

    #[test]
    fn weights_are_extracted_without_a_name() {
        let z = make_zip(
            &[(METADATA, META), (CONFIG, CONF), (WEIGHTS_H5, &[7u8; 5000])],
            zip::CompressionMethod::Deflated,
        );
        let mut zip = open(Cursor::new(z), "t.keras").unwrap();
        let w = extract_weights(&mut zip, "t.keras", WEIGHTS_CAP).unwrap();
        assert_eq!(w.len, 5000);
        assert_eq!(std::fs::read(w.path()).unwrap(), vec![7u8; 5000]);
        // The kernel shows an unlinked file (O_TMPFILE or memfd) as "... (deleted)".
        let target = std::fs::read_link(w.path()).unwrap();
        assert!(
            target.to_string_lossy().ends_with("(deleted)"),
            "{}",
            target.display()
        );
    }
}
