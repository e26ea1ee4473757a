//! Reading a data set row by row: `.csv` (streamed), `.npz` keyed by input name or `.npy` for a
//! single-input model (loaded whole).
//!
//! A row is every model input's per-sample elements, flattened (row major) and concatenated in
//! the model's input order.

use crate::text::{clip, list};
use anyhow::{anyhow, bail, Context, Result};
use ndarray::ArrayD;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// A model input as the data set must supply it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InputSpec {
    pub name: String,
    /// Per-sample shape (without the batch axis).
    pub shape: Vec<usize>,
}

impl InputSpec {
    pub fn size(&self) -> usize {
        self.shape.iter().product()
    }

    /// `x` for a one-element input, `x[i]` (flat index) otherwise.
    pub fn element_name(&self, i: usize) -> String {
        if self.size() == 1 {
            self.name.clone()
        } else {
            format!("{}[{i}]", self.name)
        }
    }
}

enum Source {
    Arrays {
        /// Per input, `[N, size]` row-major data.
        arrays: Vec<ArrayD<f32>>,
        next: usize,
        n: usize,
    },
    Csv {
        reader: csv::Reader<BufReader<File>>,
        /// For each row element, the CSV column it comes from.
        map: Vec<usize>,
        width: usize,
        record: csv::StringRecord,
    },
}

/// An open data set.
pub struct DataSet {
    pub path: PathBuf,
    /// A name per row element: the CSV header, or `input[i]`.
    pub column_names: Vec<String>,
    /// The number of rows, when known in advance (`.npz`, `.npy`).
    pub total: Option<usize>,
    /// Elements per row.
    pub width: usize,
    source: Source,
}

/// `x=c1,c2` arguments of `--columns` (several may also be given in one argument, separated by
/// spaces).
pub fn parse_columns(args: &[String]) -> Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    for a in args.iter().flat_map(|a| a.split_whitespace()) {
        let (name, cols) = a
            .split_once('=')
            .ok_or_else(|| anyhow!("--columns {a:?}: expected INPUT=COLUMN[,COLUMN...]"))?;
        let cols: Vec<String> = cols
            .split(',')
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
        if name.is_empty() || cols.is_empty() {
            bail!("--columns {a:?}: expected INPUT=COLUMN[,COLUMN...]");
        }
        out.push((name.to_string(), cols));
    }
    Ok(out)
}

impl DataSet {
    pub fn open(path: &Path, inputs: &[InputSpec], columns: &[String]) -> Result<DataSet> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let width = inputs.iter().map(InputSpec::size).sum();
        match ext.as_str() {
            "csv" => Self::open_csv(path, inputs, columns, width),
            "npz" | "npy" => {
                if !columns.is_empty() {
                    bail!("--columns applies to .csv data only");
                }
                let arrays = if ext == "npz" {
                    crate::io::read_npz_tensors(path)?
                        .into_iter()
                        .map(|(n, t)| (n, t.into_f32()))
                        .collect()
                } else {
                    if inputs.len() != 1 {
                        bail!(
                            "{}: a .npy file feeds a single-input model; this one has inputs {} (pass a .npz keyed by input name or a .csv)",
                            path.display(),
                            names(inputs)
                        );
                    }
                    let t = crate::io::read_npy_tensor(path)?;
                    vec![(inputs[0].name.clone(), t.into_f32())]
                };
                Self::from_arrays(path, inputs, arrays)
            }
            _ => bail!(
                "{}: unknown data format (expected .csv, .npz or .npy)",
                path.display()
            ),
        }
    }

    /// A data set of named arrays, `[N, *input shape]` each (extra names are ignored): what a
    /// `.npz` holds, or a Python caller gives. `path` names the data in messages.
    pub fn from_arrays(
        path: &Path,
        inputs: &[InputSpec],
        arrays: Vec<(String, ArrayD<f32>)>,
    ) -> Result<DataSet> {
        let width = inputs.iter().map(InputSpec::size).sum();
        let default_names: Vec<String> = inputs
            .iter()
            .flat_map(|s| (0..s.size()).map(|i| s.element_name(i)))
            .collect();
        let mut all = arrays;
        let mut arrays = Vec::new();
        for s in inputs {
            let k = all.iter().position(|(n, _)| *n == s.name).ok_or_else(|| {
                anyhow!(
                    "{}: no array named '{}' (the model's inputs are {}; the file has {})",
                    path.display(),
                    clip(&s.name),
                    names(inputs),
                    list(&all.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
                )
            })?;
            arrays.push(all.swap_remove(k));
        }
        let mut flat = Vec::new();
        let mut n_rows: Option<(usize, &str)> = None;
        for (s, (name, a)) in inputs.iter().zip(&arrays) {
            if a.ndim() != s.shape.len() + 1 || a.shape()[1..] != s.shape[..] {
                bail!(
                    "{}: array '{}' has shape {:?}; the model expects [N, {}]",
                    path.display(),
                    clip(name),
                    a.shape(),
                    s.shape
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            let n = a.shape()[0];
            if let Some((n0, name0)) = n_rows {
                if n0 != n {
                    bail!(
                        "{}: arrays '{}' and '{}' have different numbers of rows ({n0} and {n})",
                        path.display(),
                        clip(name0),
                        clip(name)
                    );
                }
            }
            n_rows = Some((n, name));
            let a = a
                .as_standard_layout()
                .into_owned()
                .into_shape_with_order(vec![n, s.size()])?;
            flat.push(a);
        }
        let n = n_rows.map_or(0, |(n, _)| n);
        Ok(DataSet {
            path: path.to_path_buf(),
            column_names: default_names,
            total: Some(n),
            width,
            source: Source::Arrays {
                arrays: flat,
                next: 0,
                n,
            },
        })
    }

    fn open_csv(
        path: &Path,
        inputs: &[InputSpec],
        columns: &[String],
        width: usize,
    ) -> Result<DataSet> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(BufReader::new(file));
        let header: Vec<String> = reader
            .headers()
            .with_context(|| format!("{}: cannot read the CSV header", path.display()))?
            .iter()
            .map(str::to_string)
            .collect();
        if header.is_empty() || header.iter().all(|h| h.is_empty()) {
            bail!("{}: the CSV file has no header line", path.display());
        }
        let map: Vec<usize> = if columns.is_empty() {
            if header.len() != width {
                bail!(
                    "{}: the CSV header has {} columns, but the model's inputs ({}) take {} values per row; map columns with --columns INPUT=COL[,COL...]",
                    path.display(),
                    header.len(),
                    signature(inputs),
                    width
                );
            }
            (0..width).collect()
        } else {
            let given = parse_columns(columns)?;
            for (name, _) in &given {
                if !inputs.iter().any(|s| s.name == *name) {
                    bail!(
                        "--columns: the model has no input named '{name}'; its inputs are {}",
                        names(inputs)
                    );
                }
            }
            let mut map = Vec::new();
            for s in inputs {
                let mut hits = given.iter().filter(|(n, _)| *n == s.name);
                let (_, cols) = hits.next().ok_or_else(|| {
                    anyhow!(
                        "--columns does not map input '{}' (every input needs columns: {})",
                        s.name,
                        signature(inputs)
                    )
                })?;
                if hits.next().is_some() {
                    bail!("--columns maps input '{}' twice", s.name);
                }
                if cols.len() != s.size() {
                    bail!(
                        "--columns {}: {} column(s) given, but the input has {} value(s) per row (shape {:?})",
                        s.name,
                        cols.len(),
                        s.size(),
                        s.shape
                    );
                }
                for c in cols {
                    let k = header.iter().position(|h| h == c).ok_or_else(|| {
                        anyhow!(
                            "--columns {}: {} has no column '{c}'; its columns are {}",
                            s.name,
                            path.display(),
                            header.join(", ")
                        )
                    })?;
                    map.push(k);
                }
            }
            map
        };
        let column_names = map.iter().map(|&k| header[k].clone()).collect();
        Ok(DataSet {
            path: path.to_path_buf(),
            column_names,
            total: None,
            width,
            source: Source::Csv {
                reader,
                map,
                width: header.len(),
                record: csv::StringRecord::new(),
            },
        })
    }

    /// Append up to `max` rows (each `width` values) to `out`; returns how many were read
    /// (0 at the end of the data).
    pub fn read_rows(&mut self, max: usize, out: &mut Vec<f32>) -> Result<usize> {
        match &mut self.source {
            Source::Arrays { arrays, next, n } => {
                let k = max.min(*n - *next);
                for r in *next..*next + k {
                    for a in arrays.iter() {
                        let s = a.shape()[1];
                        let flat = a.as_slice().expect("standard layout");
                        out.extend_from_slice(&flat[r * s..(r + 1) * s]);
                    }
                }
                *next += k;
                Ok(k)
            }
            Source::Csv {
                reader,
                map,
                width,
                record,
            } => {
                let mut k = 0;
                while k < max {
                    let more = reader
                        .read_record(record)
                        .with_context(|| format!("{}: cannot read CSV", self.path.display()))?;
                    if !more {
                        break;
                    }
                    let line = record.position().map_or(0, |p| p.line());
                    if record.len() == 1 && record.get(0) == Some("") {
                        continue; // a blank line
                    }
                    if record.len() != *width {
                        bail!(
                            "{} line {line}: {} fields, but the header has {width}",
                            self.path.display(),
                            record.len()
                        );
                    }
                    for &c in map.iter() {
                        let cell = &record[c];
                        let v: f32 = cell.parse().map_err(|_| {
                            anyhow!(
                                "{} line {line}, column {}: {cell:?} is not a number",
                                self.path.display(),
                                c + 1
                            )
                        })?;
                        out.push(v);
                    }
                    k += 1;
                }
                Ok(k)
            }
        }
    }
}

fn names(inputs: &[InputSpec]) -> String {
    list(&inputs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>())
}

fn signature(inputs: &[InputSpec]) -> String {
    inputs
        .iter()
        .map(|s| format!("{} {:?}", s.name, s.shape))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<InputSpec> {
        vec![
            InputSpec {
                name: "x".into(),
                shape: vec![2],
            },
            InputSpec {
                name: "t".into(),
                shape: vec![1],
            },
        ]
    }

    fn csv_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    #[test]
    fn csv_streams_in_order_and_by_columns() {
        let (_d, p) = csv_file("a,b,c\n1,2,3\n4,5,6\n7,8,9\n");
        let mut ds = DataSet::open(&p, &specs(), &[]).unwrap();
        assert_eq!(ds.column_names, ["a", "b", "c"]);
        let mut out = Vec::new();
        assert_eq!(ds.read_rows(2, &mut out).unwrap(), 2);
        assert_eq!(ds.read_rows(2, &mut out).unwrap(), 1);
        assert_eq!(ds.read_rows(2, &mut out).unwrap(), 0);
        assert_eq!(out, [1., 2., 3., 4., 5., 6., 7., 8., 9.]);

        let cols = vec!["t=a x=c,b".to_string()];
        let mut ds = DataSet::open(&p, &specs(), &cols).unwrap();
        assert_eq!(ds.column_names, ["c", "b", "a"]);
        let mut out = Vec::new();
        ds.read_rows(10, &mut out).unwrap();
        assert_eq!(out, [3., 2., 1., 6., 5., 4., 9., 8., 7.]);
    }

    #[test]
    fn csv_errors_are_clear() {
        let (_d, p) = csv_file("a,b\n1,2\n");
        let e = DataSet::open(&p, &specs(), &[]).err().unwrap().to_string();
        assert!(e.contains("2 columns") && e.contains("3 values"), "{e}");
        let (_d, p) = csv_file("a,b,c\n1,2,3\n1,2\n");
        let mut ds = DataSet::open(&p, &specs(), &[]).unwrap();
        let e = ds.read_rows(10, &mut Vec::new()).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("2 fields"), "{e}");
        let (_d, p) = csv_file("a,b,c\n1,x,3\n");
        let mut ds = DataSet::open(&p, &specs(), &[]).unwrap();
        let e = ds.read_rows(10, &mut Vec::new()).unwrap_err().to_string();
        assert!(e.contains("\"x\" is not a number"), "{e}");
        let e = DataSet::open(&p, &specs(), &["y=a".into(), "x=b,c".into()])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no input named 'y'"), "{e}");
    }
}
