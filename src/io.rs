//! Reading input arrays (`.npy`, `.npz`) and writing results atomically.

use anyhow::{anyhow, bail, Context, Result};
use ndarray::ArrayD;
use ndarray_npy::{NpzReader, NpzWriter, ReadNpyExt};
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

/// Read a `.npy` file as f32 (f64 arrays are converted; other dtypes are refused).
pub fn read_npy(path: &Path) -> Result<ArrayD<f32>> {
    let open = || -> Result<BufReader<File>> {
        Ok(BufReader::new(File::open(path).with_context(|| {
            format!("cannot open {}", path.display())
        })?))
    };
    if let Ok(a) = ArrayD::<f32>::read_npy(open()?) {
        return Ok(a);
    }
    if let Ok(a) = ArrayD::<f64>::read_npy(open()?) {
        return Ok(a.mapv(|v| v as f32));
    }
    Err(anyhow!(
        "{}: not a float32 or float64 .npy array ({})",
        path.display(),
        npy_header(path).unwrap_or_else(|| "unreadable header".into())
    ))
}

/// The header dictionary of a `.npy` file, to say what was found.
fn npy_header(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    if !bytes.starts_with(b"\x93NUMPY") || bytes.len() < 10 {
        return Some("not a .npy file".into());
    }
    let (len, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) as usize,
            12,
        )
    };
    let h = std::str::from_utf8(bytes.get(start..start + len)?).ok()?;
    Some(h.trim().to_string())
}

/// Every array of a `.npz` file, by name, as f32.
pub fn read_npz(path: &Path) -> Result<Vec<(String, ArrayD<f32>)>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut npz =
        NpzReader::new(file).with_context(|| format!("{}: not a .npz file", path.display()))?;
    let names = npz
        .names()
        .with_context(|| format!("{}: cannot list arrays", path.display()))?;
    let mut out = Vec::new();
    for name in names {
        let key = name.trim_end_matches(".npy").to_string();
        let arr: ArrayD<f32> = match npz.by_name::<ndarray::OwnedRepr<f32>, ndarray::IxDyn>(&name) {
            Ok(a) => a,
            Err(_) => npz
                .by_name::<ndarray::OwnedRepr<f64>, ndarray::IxDyn>(&name)
                .map(|a| a.mapv(|v| v as f32))
                .map_err(|_| {
                    anyhow!(
                        "{}: array '{key}' is not float32 or float64",
                        path.display()
                    )
                })?,
        };
        out.push((key, arr));
    }
    Ok(out)
}

/// Write `arrays` to `path` as an uncompressed `.npz`, through a temporary file in the same
/// directory renamed at the end, so a failure leaves nothing behind.
pub fn write_npz(path: &Path, arrays: &[(String, ArrayD<f32>)]) -> Result<()> {
    atomic_write(path, |file| {
        let mut npz = NpzWriter::new(file);
        for (name, a) in arrays {
            npz.add_array(name.as_str(), a)
                .with_context(|| format!("writing array '{name}'"))?;
        }
        npz.finish().context("finishing the .npz")?;
        Ok(())
    })
}

/// Create `path` atomically: `fill` writes a temporary file that is renamed over `path`.
pub fn atomic_write(path: &Path, fill: impl FnOnce(&mut File) -> Result<()>) -> Result<()> {
    let dir = parent_dir(path);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    fill(tmp.as_file_mut()).with_context(|| format!("writing {}", path.display()))?;
    tmp.as_file_mut().flush()?;
    tmp.persist(path)
        .map_err(|e| anyhow!("cannot create {}: {}", path.display(), e.error))?;
    Ok(())
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// One `--input` argument: `NAME=FILE.npy`, `FILE.npy` or `FILE.npz`.
pub fn parse_input_arg(arg: &str) -> (Option<String>, PathBuf) {
    match arg.split_once('=') {
        Some((name, file)) if !name.is_empty() && !name.contains('/') => {
            (Some(name.to_string()), PathBuf::from(file))
        }
        _ => (None, PathBuf::from(arg)),
    }
}

/// Gather named input arrays from `--input` arguments for a model with `names` inputs.
pub fn gather_inputs(args: &[String], names: &[String]) -> Result<Vec<(String, ArrayD<f32>)>> {
    let mut out: Vec<(String, ArrayD<f32>)> = Vec::new();
    for arg in args {
        let (name, file) = parse_input_arg(arg);
        let is_npz = file.extension().is_some_and(|e| e == "npz");
        match (name, is_npz) {
            (Some(n), false) => out.push((n, read_npy(&file)?)),
            (None, true) => out.extend(read_npz(&file)?),
            (None, false) => {
                if names.len() != 1 {
                    bail!(
                        "{}: the model has {} inputs ({}); name each one: --input NAME=FILE.npy, or pass a .npz keyed by input name",
                        file.display(),
                        names.len(),
                        names.join(", ")
                    );
                }
                out.push((names[0].clone(), read_npy(&file)?));
            }
            (Some(n), true) => bail!("--input {n}={}: give a .npy file per name", file.display()),
        }
    }
    for (n, _) in &out {
        if !names.contains(n) {
            bail!(
                "unknown input name '{n}': the model's inputs are {}",
                names.join(", ")
            );
        }
    }
    let mut ordered = Vec::new();
    for n in names {
        let mut hits = out.iter().filter(|(k, _)| k == n);
        let a = hits.next().ok_or_else(|| {
            anyhow!(
                "missing input '{n}' (the model's inputs are {})",
                names.join(", ")
            )
        })?;
        if hits.next().is_some() {
            bail!("input '{n}' given more than once");
        }
        ordered.push(a.clone());
    }
    Ok(ordered)
}

/// Check an input array against a declared shape (`None` matches any size).
pub fn check_input_shape(name: &str, a: &ArrayD<f32>, shape: &[Option<usize>]) -> Result<()> {
    let ok = a.ndim() == shape.len()
        && a.shape()
            .iter()
            .zip(shape)
            .all(|(&d, s)| s.is_none_or(|s| s == d));
    if !ok {
        bail!(
            "input '{name}' has shape {:?}; the model expects {}",
            a.shape(),
            crate::opgraph::shape_fmt(shape)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_args_parse() {
        assert_eq!(
            parse_input_arg("x=a.npy"),
            (Some("x".into()), "a.npy".into())
        );
        assert_eq!(parse_input_arg("a.npz"), (None, "a.npz".into()));
        assert_eq!(parse_input_arg("dir/a=b.npy"), (None, "dir/a=b.npy".into()));
    }

    #[test]
    fn npz_round_trip_is_atomic_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("y.npz");
        let a = ArrayD::from_shape_vec(vec![2, 2], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        write_npz(&p, &[("jacobian/u/x".into(), a.clone())]).unwrap();
        let back = read_npz(&p).unwrap();
        assert_eq!(back, vec![("jacobian/u/x".to_string(), a)]);
        // Only the result is left in the directory: no temporary file.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn shape_check_names_the_tensor() {
        let a = ArrayD::<f32>::zeros(vec![3, 5]);
        let e = check_input_shape("x", &a, &[None, Some(4)]).unwrap_err();
        assert!(e.to_string().contains("input 'x'"), "{e}");
        check_input_shape("x", &a, &[None, Some(5)]).unwrap();
    }
}
