//! Reading input arrays (`.npy`, `.npz`) and writing results atomically.

use crate::tensor::{DType, Tensor};
use crate::text::{clip, list};
use anyhow::{anyhow, bail, Context, Result};
use ndarray::ArrayD;
use ndarray_npy::NpzWriter;
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Read a `.npy` file as f32 (f64 arrays are converted; other dtypes are refused). The header
/// is checked strictly and against the file's size before any data is read (`crate::npy`).
pub fn read_npy(path: &Path) -> Result<ArrayD<f32>> {
    crate::npy::read_npy_file(path)
}

/// Every array of a `.npz` file, by name, as f32 (each member checked as [`read_npy`] does).
pub fn read_npz(path: &Path) -> Result<Vec<(String, ArrayD<f32>)>> {
    crate::npy::read_npz_file(path)
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

/// Gather named input arrays from `--input` arguments for a model whose inputs are `names`,
/// of element types `dtypes`: float inputs take float arrays, integer inputs int32 or int64
/// arrays, bool inputs bool arrays; anything else is an error naming the file and the input.
pub fn gather_inputs(
    args: &[String],
    names: &[String],
    dtypes: &[DType],
) -> Result<Vec<(String, Tensor)>> {
    let mut out: Vec<(String, Tensor, Option<PathBuf>)> = Vec::new();
    for arg in args {
        let (name, file) = parse_input_arg(arg);
        let is_npz = file.extension().is_some_and(|e| e == "npz");
        match (name, is_npz) {
            (Some(n), false) => out.push((n, read_npy_tensor(&file)?, Some(file))),
            (None, true) => out.extend(
                read_npz_tensors(&file)?
                    .into_iter()
                    .map(|(n, t)| (n, t, Some(file.clone()))),
            ),
            (None, false) => {
                if names.len() != 1 {
                    bail!(
                        "{}: the model has {} inputs ({}); name each one: --input NAME=FILE.npy, or pass a .npz keyed by input name",
                        file.display(),
                        names.len(),
                        list(names)
                    );
                }
                out.push((names[0].clone(), read_npy_tensor(&file)?, Some(file)));
            }
            (Some(n), true) => bail!("--input {n}={}: give a .npy file per name", file.display()),
        }
    }
    order_sourced(out, names, dtypes)
}

/// Named arrays (from the Python API: no file) put in the order of `names`, checked as
/// [`gather_inputs`] checks files.
pub fn order_inputs(
    arrays: Vec<(String, Tensor)>,
    names: &[String],
    dtypes: &[DType],
) -> Result<Vec<(String, Tensor)>> {
    let sourced = arrays.into_iter().map(|(n, t)| (n, t, None)).collect();
    order_sourced(sourced, names, dtypes)
}

/// Arrays put in the order of `names`: each name exactly once, none unknown, each of an
/// element type the input takes; errors name the file an array came from.
fn order_sourced(
    out: Vec<(String, Tensor, Option<PathBuf>)>,
    names: &[String],
    dtypes: &[DType],
) -> Result<Vec<(String, Tensor)>> {
    let wanted: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut slots: Vec<Option<(Tensor, Option<PathBuf>)>> = vec![None; names.len()];
    for (n, t, file) in out {
        let Some(&i) = wanted.get(n.as_str()) else {
            bail!(
                "unknown input name '{}': the model's inputs are {}",
                clip(&n),
                list(names)
            );
        };
        if slots[i].is_some() {
            bail!("input '{}' given more than once", clip(&n));
        }
        slots[i] = Some((t, file));
    }
    names
        .iter()
        .zip(dtypes)
        .zip(slots)
        .map(|((n, &want), slot)| {
            let (t, file) = slot.ok_or_else(|| {
                anyhow!(
                    "missing input '{}' (the model's inputs are {})",
                    clip(n),
                    list(names)
                )
            })?;
            let got = t.dtype();
            let fits = got == want || (got.is_int() && want.is_int());
            if !fits {
                let source = file.map_or("the array".to_string(), |f| f.display().to_string());
                bail!(
                    "{source}: the array for input '{}' is {}, but the model's input is {}",
                    clip(n),
                    got.keras_name(),
                    want.keras_name()
                );
            }
            Ok((n.clone(), t))
        })
        .collect()
}

/// Check an input array's shape against a declared shape (`None` matches any size).
pub fn check_input_shape(name: &str, got: &[usize], shape: &[Option<usize>]) -> Result<()> {
    let ok = got.len() == shape.len()
        && got
            .iter()
            .zip(shape)
            .all(|(&d, s)| s.is_none_or(|s| s == d));
    if !ok {
        bail!(
            "input '{}' has shape {got:?}; the model expects {}",
            clip(name),
            crate::opgraph::shape_fmt(shape)
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Arrays of any element type: integer and bool inputs (token ids, masks), typed outputs.

/// Read a `.npy` file as a tensor: float32 (float64 converted to it), int32, int64 or bool,
/// checked as [`read_npy`] does.
pub fn read_npy_tensor(path: &Path) -> Result<Tensor> {
    crate::npy::read_npy_tensor_file(path)
}

/// Every array of a `.npz` file, by name, as tensors (see [`read_npy_tensor`]).
pub fn read_npz_tensors(path: &Path) -> Result<Vec<(String, Tensor)>> {
    crate::npy::read_npz_tensor_file(path)
}

/// `write_npz` for tensors of any element type (each keeps its own).
pub fn write_npz_tensors(path: &Path, arrays: &[(String, Tensor)]) -> Result<()> {
    atomic_write(path, |file| {
        let mut npz = NpzWriter::new(file);
        for (name, t) in arrays {
            let r = match t {
                Tensor::F32(a) => npz.add_array(name.as_str(), a),
                Tensor::I32(a) => npz.add_array(name.as_str(), a),
                Tensor::I64(a) => npz.add_array(name.as_str(), a),
                Tensor::Bool(a) => npz.add_array(name.as_str(), a),
            };
            r.with_context(|| format!("writing array '{name}'"))?;
        }
        npz.finish().context("finishing the .npz")?;
        Ok(())
    })
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
        let e = check_input_shape("x", a.shape(), &[None, Some(4)]).unwrap_err();
        assert!(e.to_string().contains("input 'x'"), "{e}");
        check_input_shape("x", a.shape(), &[None, Some(5)]).unwrap();
    }
}
