//! A strict reader for `.npy` arrays and `.npz` archives of them, for files from anywhere.
//!
//! - The header is checked before anything else is read: magic, version 1.0, 2.0 or 3.0, a
//!   header length of at most [`MAX_HEADER_LEN`] bytes (NumPy's own `_MAX_HEADER_SIZE`), and
//!   a small grammar for the dictionary NumPy writes,
//!   `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`, parsed in one pass without
//!   backtracking.
//! - The size the header declares (shape times item size, with overflow checked) must equal the
//!   bytes present: the rest of a `.npy` file, or the declared size of a `.npz` member, which
//!   itself must be possible for its compressed size. Memory is then grown as data actually
//!   arrives, with fallible allocation, so a lying header or member costs nothing and a big
//!   but honest one is an error when memory runs out, not an abort.
//! - Float32 and float64 data are read (float64 is converted to float32), in either byte order
//!   and in C or Fortran order; [`read_npy_tensor_file`] and [`read_npz_tensor_file`] also
//!   read int32, int64 and bool arrays (token ids and masks), each in its own type.

use crate::tensor::Tensor;
use crate::text::clip;
use anyhow::{anyhow, bail, Context, Result};
use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

/// The longest header accepted (`numpy.lib.format._MAX_HEADER_SIZE`).
pub const MAX_HEADER_LEN: usize = 10_000;
/// Most dimensions of an array (NumPy's `NPY_MAXDIMS` is 64).
pub const MAX_NDIM: usize = 64;
/// The largest ratio of inflated to compressed bytes a deflate stream can reach (1032:1),
/// plus slack: a `.npz` member declaring more is refused before it is read.
pub const MAX_DEFLATE_RATIO: u64 = 1032;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The element type of an array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// `f4` or `f8`, little- or big-endian.
    Float { bytes: usize, big_endian: bool },
    /// `i4` or `i8`, little- or big-endian.
    Int { bytes: usize, big_endian: bool },
    /// `b1`: one byte per element, 0 or 1.
    Bool,
    /// Anything else, as written in the header (clipped).
    Other(String),
}

impl Dtype {
    /// Bytes per element, when known.
    fn item_size(&self) -> Option<usize> {
        match self {
            Dtype::Float { bytes, .. } | Dtype::Int { bytes, .. } => Some(*bytes),
            Dtype::Bool => Some(1),
            Dtype::Other(_) => None,
        }
    }

    /// The dtype as a header writes it (`<f4`, `>i8`, `|b1`, ...).
    fn descr(&self) -> String {
        let order = |big: bool| if big { '>' } else { '<' };
        match self {
            Dtype::Float { bytes, big_endian } => format!("{}f{bytes}", order(*big_endian)),
            Dtype::Int { bytes, big_endian } => format!("{}i{bytes}", order(*big_endian)),
            Dtype::Bool => "|b1".into(),
            Dtype::Other(d) => d.clone(),
        }
    }

    /// The NumPy name, for messages.
    fn name(&self) -> String {
        match self {
            Dtype::Float { bytes: 4, .. } => "float32".into(),
            Dtype::Float { .. } => "float64".into(),
            Dtype::Int { bytes: 4, .. } => "int32".into(),
            Dtype::Int { .. } => "int64".into(),
            Dtype::Bool => "bool".into(),
            Dtype::Other(d) => d.clone(),
        }
    }
}

/// A parsed `.npy` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub dtype: Dtype,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
    /// Bytes of magic, length field and header: where the data starts.
    pub data_offset: u64,
}

impl Header {
    /// Elements and data bytes the header declares, or `None` if they overflow `u64`.
    pub fn declared(&self) -> Option<(u64, u64)> {
        let n = self
            .shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))?;
        let item = self.dtype.item_size().unwrap_or(1) as u64;
        Some((n, n.checked_mul(item)?))
    }

    fn shape_text(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        if dims.len() == 1 {
            format!("({},)", dims[0])
        } else {
            format!("({})", dims.join(", "))
        }
    }
}

/// Read and check the magic, version and header of a `.npy` stream (nothing more).
pub fn read_header<R: Read>(r: &mut R) -> Result<Header> {
    let mut pre = [0u8; 8];
    read_fully(r, &mut pre).context("it is too short to be a .npy array")?;
    if &pre[..6] != MAGIC {
        bail!("not a .npy array (it does not start with \\x93NUMPY)");
    }
    let (major, minor) = (pre[6], pre[7]);
    let (len, offset) = match (major, minor) {
        (1, 0) => {
            let mut b = [0u8; 2];
            read_fully(r, &mut b).context("its header is cut short")?;
            (u16::from_le_bytes(b) as usize, 10u64)
        }
        (2, 0) | (3, 0) => {
            let mut b = [0u8; 4];
            read_fully(r, &mut b).context("its header is cut short")?;
            (u32::from_le_bytes(b) as usize, 12u64)
        }
        _ => bail!(".npy format version {major}.{minor} is not one of 1.0, 2.0, 3.0"),
    };
    if len > MAX_HEADER_LEN {
        bail!(
            "its header declares {len} bytes; NumPy itself refuses headers over \
             {MAX_HEADER_LEN} bytes"
        );
    }
    let mut text = vec![0u8; len];
    read_fully(r, &mut text).context("its header is cut short")?;
    let (dtype, fortran_order, shape) = parse_dict(&text)?;
    Ok(Header {
        dtype,
        fortran_order,
        shape,
        data_offset: offset + len as u64,
    })
}

/// `read_exact`, but an early end is an `UnexpectedEof` error with a plain message.
fn read_fully<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<()> {
    r.read_exact(buf)
}

/// The header dictionary: exactly the keys `descr`, `fortran_order` and `shape`.
fn parse_dict(bytes: &[u8]) -> Result<(Dtype, bool, Vec<usize>)> {
    let mut p = P { s: bytes, i: 0 };
    let bad = |p: &P, what: &str| {
        let shown = String::from_utf8_lossy(p.s);
        anyhow!(
            "its header is not a NumPy header dictionary ({what} at byte {}): {}",
            p.i,
            clip(shown.trim_end())
        )
    };
    p.ws();
    if !p.eat(b'{') {
        return Err(bad(&p, "expected '{'"));
    }
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string().ok_or_else(|| bad(&p, "expected a quoted key"))?;
        let key = &bytes[key];
        p.ws();
        if !p.eat(b':') {
            return Err(bad(&p, "expected ':'"));
        }
        p.ws();
        match key {
            b"descr" if descr.is_none() => {
                if p.peek() == Some(b'[') {
                    return Err(anyhow!(
                        "it holds a structured array (a list of fields as its dtype); only \
                         float32, float64, int32, int64 and bool arrays are read"
                    ));
                }
                let d = p
                    .string()
                    .ok_or_else(|| bad(&p, "expected a dtype string"))?;
                descr = Some(dtype_of(&bytes[d]));
            }
            b"fortran_order" if fortran.is_none() => {
                fortran = Some(if p.word(b"True") {
                    true
                } else if p.word(b"False") {
                    false
                } else {
                    return Err(bad(&p, "expected True or False"));
                });
            }
            b"shape" if shape.is_none() => {
                shape = Some(p.tuple().map_err(|w| bad(&p, w))?);
            }
            _ => {
                let k = String::from_utf8_lossy(key);
                return Err(bad(
                    &p,
                    &format!("unexpected or repeated key '{}'", clip(&k)),
                ));
            }
        }
        p.ws();
        if p.eat(b',') {
            continue;
        }
        p.ws();
        if p.eat(b'}') {
            break;
        }
        return Err(bad(&p, "expected ',' or '}'"));
    }
    p.ws();
    if p.i != p.s.len() {
        return Err(bad(&p, "unexpected text after the dictionary"));
    }
    match (descr, fortran, shape) {
        (Some(d), Some(f), Some(s)) => Ok((d, f, s)),
        _ => Err(bad(
            &p,
            "the keys 'descr', 'fortran_order' and 'shape' are all required",
        )),
    }
}

fn dtype_of(d: &[u8]) -> Dtype {
    let (order, rest) = match d.first() {
        Some(b'<' | b'=') => (Some(false), &d[1..]),
        Some(b'>') => (Some(true), &d[1..]),
        Some(b'|') => (None, &d[1..]),
        _ => (None, d),
    };
    match (order, rest) {
        (Some(big_endian), b"f4") => Dtype::Float {
            bytes: 4,
            big_endian,
        },
        (Some(big_endian), b"f8") => Dtype::Float {
            bytes: 8,
            big_endian,
        },
        (Some(big_endian), b"i4") => Dtype::Int {
            bytes: 4,
            big_endian,
        },
        (Some(big_endian), b"i8") => Dtype::Int {
            bytes: 8,
            big_endian,
        },
        (_, b"b1" | b"?") => Dtype::Bool,
        _ => Dtype::Other(clip(&String::from_utf8_lossy(d)).into_owned()),
    }
}

/// A cursor over header bytes: every rule consumes input or fails, never backtracks far.
struct P<'a> {
    s: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    fn word(&mut self, w: &[u8]) -> bool {
        if self.s[self.i..].starts_with(w) {
            self.i += w.len();
            true
        } else {
            false
        }
    }
    /// A quoted string without escapes: the range of its contents.
    fn string(&mut self) -> Option<std::ops::Range<usize>> {
        let q = self.peek().filter(|&c| c == b'\'' || c == b'"')?;
        let start = self.i + 1;
        let len = self.s[start..].iter().position(|&c| c == q || c == b'\\')?;
        if self.s[start + len] != q {
            return None;
        }
        self.i = start + len + 1;
        Some(start..start + len)
    }
    /// `(d0, d1, ...)` of non-negative integers, a trailing comma allowed.
    fn tuple(&mut self) -> std::result::Result<Vec<usize>, &'static str> {
        if !self.eat(b'(') {
            return Err("expected '(' for the shape");
        }
        let mut dims = Vec::new();
        loop {
            self.ws();
            if self.eat(b')') {
                return Ok(dims);
            }
            let start = self.i;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
            if self.i == start {
                return Err("expected a non-negative integer in the shape");
            }
            let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
            let d: usize = digits
                .parse()
                .map_err(|_| "a dimension of the shape is too large")?;
            self.eat(b'L'); // Python 2 long literals, as old NumPy wrote them
            dims.push(d);
            if dims.len() > MAX_NDIM {
                return Err("the shape has more than 64 dimensions");
            }
            self.ws();
            if self.eat(b',') {
                continue;
            }
            self.ws();
            if self.eat(b')') {
                return Ok(dims);
            }
            return Err("expected ',' or ')' in the shape");
        }
    }
}

/// Elements decoded from the data bytes, in the array's own type.
enum Elements {
    F32(Vec<f32>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
}

impl Elements {
    fn try_reserve(&mut self, n: usize) -> bool {
        match self {
            Elements::F32(v) => v.try_reserve(n).is_ok(),
            Elements::I32(v) => v.try_reserve(n).is_ok(),
            Elements::I64(v) => v.try_reserve(n).is_ok(),
            Elements::Bool(v) => v.try_reserve(n).is_ok(),
        }
    }

    /// Decode `got` (whole elements of `dtype`) onto the end.
    fn extend(&mut self, dtype: &Dtype, got: &[u8]) -> Result<()> {
        fn le<const N: usize>(c: &[u8], big: bool) -> [u8; N] {
            let mut b = [0u8; N];
            b.copy_from_slice(c);
            if big {
                b.reverse();
            }
            b
        }
        match (self, dtype) {
            (
                Elements::F32(v),
                Dtype::Float {
                    bytes: 4,
                    big_endian: big,
                },
            ) => v.extend(got.chunks_exact(4).map(|c| f32::from_le_bytes(le(c, *big)))),
            (
                Elements::F32(v),
                Dtype::Float {
                    big_endian: big, ..
                },
            ) => v.extend(
                got.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(le(c, *big)) as f32),
            ),
            (
                Elements::I32(v),
                Dtype::Int {
                    big_endian: big, ..
                },
            ) => v.extend(got.chunks_exact(4).map(|c| i32::from_le_bytes(le(c, *big)))),
            (
                Elements::I64(v),
                Dtype::Int {
                    big_endian: big, ..
                },
            ) => v.extend(got.chunks_exact(8).map(|c| i64::from_le_bytes(le(c, *big)))),
            (Elements::Bool(v), Dtype::Bool) => {
                if let Some(b) = got.iter().find(|&&b| b > 1) {
                    bail!("its bool data holds the byte {b}, neither 0 nor 1");
                }
                v.extend(got.iter().map(|&b| b == 1))
            }
            _ => unreachable!("elements chosen from the dtype"),
        }
        Ok(())
    }

    fn into_tensor(self, shape: IxDyn, fortran: bool) -> Result<Tensor> {
        fn shaped<T>(shape: IxDyn, fortran: bool, v: Vec<T>) -> Result<ArrayD<T>> {
            if fortran {
                ArrayD::from_shape_vec(shape.f(), v)
            } else {
                ArrayD::from_shape_vec(shape, v)
            }
            .map_err(|e| anyhow!("cannot shape its data ({e})"))
        }
        Ok(match self {
            Elements::F32(v) => Tensor::F32(shaped(shape, fortran, v)?),
            Elements::I32(v) => Tensor::I32(shaped(shape, fortran, v)?),
            Elements::I64(v) => Tensor::I64(shaped(shape, fortran, v)?),
            Elements::Bool(v) => Tensor::Bool(shaped(shape, fortran, v)?),
        })
    }
}

/// Read the data of an array whose header was read from `r`; `present` is the number of bytes
/// that follow the header (exact for a file, as declared for a `.npz` member). Float data
/// becomes float32; int32, int64 and bool data keep their type.
fn read_tensor<R: Read>(mut r: R, h: &Header, present: u64) -> Result<Tensor> {
    let bytes = h.dtype.item_size().ok_or_else(|| {
        anyhow!(
            "its dtype is '{}', not float32, float64, int32, int64 or bool",
            h.dtype.descr()
        )
    })?;
    let mut data = match h.dtype {
        Dtype::Float { .. } => Elements::F32(Vec::new()),
        Dtype::Int { bytes: 4, .. } => Elements::I32(Vec::new()),
        Dtype::Int { .. } => Elements::I64(Vec::new()),
        _ => Elements::Bool(Vec::new()),
    };
    let (n, declared) = h.declared().ok_or_else(|| {
        anyhow!(
            "its header declares shape {}, whose size overflows",
            h.shape_text()
        )
    })?;
    if declared != present {
        bail!(
            "its header declares shape {} of {} ({declared} bytes of data), but {present} \
             bytes follow the header",
            h.shape_text(),
            h.dtype.name()
        );
    }
    usize::try_from(n).map_err(|_| anyhow!("the array is too large for this machine"))?;
    // Whole elements per chunk.
    let mut buf = vec![0u8; (1 << 20) / bytes * bytes];
    let mut left = declared;
    while left > 0 {
        let want = (buf.len() as u64).min(left) as usize;
        let got = &mut buf[..want];
        r.read_exact(got).map_err(|e| {
            anyhow!(
                "its data ends early: {} of {declared} bytes read ({e})",
                declared - left
            )
        })?;
        if !data.try_reserve(want / bytes) {
            bail!(
                "not enough memory for its {declared} bytes of data (shape {})",
                h.shape_text()
            );
        }
        data.extend(&h.dtype, got)?;
        left -= want as u64;
    }
    // Nothing may follow the data.
    let mut extra = [0u8; 1];
    if matches!(r.read(&mut extra), Ok(n) if n > 0) {
        bail!("bytes follow the data its header declares");
    }
    data.into_tensor(IxDyn(&h.shape), h.fortran_order)
}

/// [`read_tensor`] for float data only (float64 converted to float32).
fn read_data<R: Read>(r: R, h: &Header, present: u64) -> Result<ArrayD<f32>> {
    if !matches!(h.dtype, Dtype::Float { .. }) {
        bail!("its dtype is '{}', not float32 or float64", h.dtype.descr());
    }
    match read_tensor(r, h, present)? {
        Tensor::F32(a) => Ok(a),
        _ => unreachable!("float data is read as float32"),
    }
}

/// Read a `.npy` file as float32 (float64 is converted; other dtypes are refused).
pub fn read_npy_file(path: &Path) -> Result<ArrayD<f32>> {
    npy_file(path, read_data)
}

/// Read a `.npy` file as a tensor: float32 (float64 converted), int32, int64 or bool.
pub fn read_npy_tensor_file(path: &Path) -> Result<Tensor> {
    npy_file(path, read_tensor)
}

fn npy_file<T>(path: &Path, data: fn(BufReader<File>, &Header, u64) -> Result<T>) -> Result<T> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    npy_from(BufReader::new(file), len, &path.display().to_string(), data)
}

/// Read a `.npy` array of `len` bytes from `r` as float32; `name` is used in messages.
pub fn read_npy_from<R: Read>(r: R, len: u64, name: &str) -> Result<ArrayD<f32>> {
    npy_from(r, len, name, read_data)
}

/// [`read_npy_from`] for any of the dtypes [`read_npy_tensor_file`] reads.
pub fn read_npy_tensor_from<R: Read>(r: R, len: u64, name: &str) -> Result<Tensor> {
    npy_from(r, len, name, read_tensor)
}

fn npy_from<R: Read, T>(
    mut r: R,
    len: u64,
    name: &str,
    data: fn(R, &Header, u64) -> Result<T>,
) -> Result<T> {
    let at = |e: anyhow::Error| anyhow!("{name}: {e:#}");
    let h = read_header(&mut r).map_err(at)?;
    data(r, &h, len.saturating_sub(h.data_offset)).map_err(at)
}

/// Every array of a `.npz` file, keyed by member name without `.npy`, as float32.
pub fn read_npz_file(path: &Path) -> Result<Vec<(String, ArrayD<f32>)>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    read_npz_from(BufReader::new(file), &path.display().to_string())
}

/// Every array of a `.npz` file as tensors (see [`read_npy_tensor_file`]).
pub fn read_npz_tensor_file(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    read_npz_tensor_from(BufReader::new(file), &path.display().to_string())
}

/// Every array of a `.npz` archive read from `r` as float32; `name` is used in messages.
pub fn read_npz_from<R: Read + Seek>(r: R, name: &str) -> Result<Vec<(String, ArrayD<f32>)>> {
    let arrays = npz_from(r, name, false)?;
    Ok(arrays
        .into_iter()
        .map(|(k, t)| match t {
            Tensor::F32(a) => (k, a),
            _ => unreachable!("only float data is read"),
        })
        .collect())
}

/// [`read_npz_from`] for any of the dtypes [`read_npy_tensor_file`] reads.
pub fn read_npz_tensor_from<R: Read + Seek>(r: R, name: &str) -> Result<Vec<(String, Tensor)>> {
    npz_from(r, name, true)
}

/// Every member as a tensor: any dtype [`read_tensor`] reads, or only float data.
fn npz_from<R: Read + Seek>(r: R, name: &str, any_dtype: bool) -> Result<Vec<(String, Tensor)>> {
    let mut zip = zip::ZipArchive::new(r).map_err(|e| anyhow!("{name}: not a .npz file ({e})"))?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let member = zip
            .by_index(i)
            .map_err(|e| anyhow!("{name}: cannot read member {i} ({e})"))?;
        let member_name = member.name().to_string();
        let at = |e: anyhow::Error| anyhow!("{name}: array '{}': {e:#}", clip(&member_name));
        let size = member.size();
        let stored = member.compressed_size();
        let most = match member.compression() {
            zip::CompressionMethod::Stored => stored,
            _ => stored
                .saturating_mul(MAX_DEFLATE_RATIO)
                .saturating_add(1 << 16),
        };
        if size > most {
            return Err(at(anyhow!(
                "the member declares {size} bytes but holds {stored} compressed bytes, which \
                 cannot inflate to that much; the file is damaged or hostile"
            )));
        }
        let mut r = member.take(size.saturating_add(1));
        let h = read_header(&mut r).map_err(at)?;
        let present = size.saturating_sub(h.data_offset);
        let a = if any_dtype {
            read_tensor(r, &h, present)
        } else {
            read_data(r, &h, present).map(Tensor::F32)
        }
        .map_err(at)?;
        let key = member_name
            .strip_suffix(".npy")
            .unwrap_or(&member_name)
            .to_string();
        out.push((key, a));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.extend([1, 0]);
        v.extend((header.len() as u16).to_le_bytes());
        v.extend(header.as_bytes());
        v.extend(data);
        v
    }

    fn read(bytes: &[u8]) -> Result<ArrayD<f32>> {
        let mut c = Cursor::new(bytes);
        let h = read_header(&mut c)?;
        let present = bytes.len() as u64 - h.data_offset;
        read_data(c, &h, present)
    }

    #[test]
    fn numpy_headers_parse() {
        let f: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let a = read(&npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }          \n",
            &f,
        ))
        .unwrap();
        assert_eq!(a.shape(), [2, 3]);
        assert_eq!(a[[1, 0]], 4.0);
        // Fortran order, f8 big-endian, 1-d and 0-d shapes, double quotes, keys in any order.
        let d: Vec<u8> = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let a = read(&npy(
            "{\"shape\": (2,3), \"fortran_order\": True, \"descr\": \">f8\"}\n",
            &d,
        ))
        .unwrap();
        assert_eq!(a[[1, 0]], 2.0);
        assert_eq!(a[[0, 1]], 3.0);
        let a = read(&npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
            &f[..4],
        ))
        .unwrap();
        assert_eq!(a.shape(), [1]);
        let a = read(&npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
            &f[..4],
        ))
        .unwrap();
        assert_eq!(a.ndim(), 0);
    }

    fn read_any(bytes: &[u8]) -> Result<Tensor> {
        let mut c = Cursor::new(bytes);
        let h = read_header(&mut c)?;
        let present = bytes.len() as u64 - h.data_offset;
        read_tensor(c, &h, present)
    }

    #[test]
    fn integer_and_bool_arrays_keep_their_type() {
        let i: Vec<u8> = [3i32, -1].iter().flat_map(|v| v.to_le_bytes()).collect();
        let t = read_any(&npy(
            "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
            &i,
        ))
        .unwrap();
        assert_eq!(t, Tensor::I32(ndarray::arr1(&[3, -1]).into_dyn()));
        let l: Vec<u8> = [1i64 << 40, 7, -2, 0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let t = read_any(&npy(
            "{'descr': '>i8', 'fortran_order': True, 'shape': (2, 2), }",
            &l,
        ))
        .unwrap();
        assert_eq!(
            t,
            Tensor::I64(ndarray::arr2(&[[1i64 << 40, -2], [7, 0]]).into_dyn())
        );
        let t = read_any(&npy(
            "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }",
            &[1, 0, 1],
        ))
        .unwrap();
        assert_eq!(
            t,
            Tensor::Bool(ndarray::arr1(&[true, false, true]).into_dyn())
        );
        // Float data reads as float32 here too.
        let f: Vec<u8> = 2.5f64.to_le_bytes().to_vec();
        let t = read_any(&npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
            &f,
        ))
        .unwrap();
        assert_eq!(t, Tensor::F32(ndarray::arr0(2.5f32).into_dyn()));
        // The same checks as for floats: sizes against the data, bool bytes 0 or 1, and the
        // float-only reader still refuses integers.
        let e = read_any(&npy(
            "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
            &i,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("16 bytes of data") && e.contains("int64"), "{e}");
        let e = read_any(&npy(
            "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }",
            &[1, 7],
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("byte 7"), "{e}");
        let e = read_any(&npy(
            "{'descr': '<u2', 'fortran_order': False, 'shape': (1,), }",
            &[0, 0],
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("'<u2'") && e.contains("int32, int64 or bool"),
            "{e}"
        );
        let e = read(&npy(
            "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
            &i,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("'<i4', not float32 or float64"), "{e}");
    }

    #[test]
    fn nested_braces_fail_fast() {
        // The header that made the pest-based parser backtrack exponentially.
        for depth in [14, 1000, 9000] {
            let h = "{".repeat(depth);
            let t = std::time::Instant::now();
            let e = read(&npy(&h, &[])).unwrap_err().to_string();
            assert!(t.elapsed().as_millis() < 1000, "depth {depth}");
            assert!(e.contains("not a NumPy header dictionary"), "{e}");
            assert!(e.len() < 400, "{e}");
        }
    }

    #[test]
    fn header_length_is_capped() {
        let mut v = MAGIC.to_vec();
        v.extend([2, 0]);
        v.extend((1u32 << 30).to_le_bytes());
        let e = read(&v).unwrap_err().to_string();
        assert!(e.contains("1073741824") && e.contains("10000"), "{e}");
    }

    #[test]
    fn lying_shapes_are_refused_before_allocating() {
        let e = read(&npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483648, 4), }",
            &[0; 80],
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("(2147483648, 4)") && e.contains("34359738368") && e.contains("80 bytes"),
            "{e}"
        );
        let e = read(&npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (18446744073709551615, 4), }",
            &[],
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("overflow") || e.contains("too large"), "{e}");
    }

    #[test]
    fn other_dtypes_and_malformed_headers() {
        for (h, want) in [
            (
                "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }",
                "'<i8'",
            ),
            (
                "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
                "structured",
            ),
            ("{'descr': '<f4', 'fortran_order': False}", "required"),
            (
                "{'descr': '<f4', 'descr': '<f4', 'shape': (1,), }",
                "repeated",
            ),
            (
                "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }",
                "True or False",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
                "non-negative",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } extra",
                "after the dictionary",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
                "too large",
            ),
        ] {
            let e = read(&npy(h, &[0; 8])).unwrap_err().to_string();
            assert!(e.contains(want), "{h}: {e}");
        }
        let e = read(b"\x93NUMPY\x04\x00").unwrap_err().to_string();
        assert!(e.contains("version 4.0"), "{e}");
        let e = read(b"PK\x03\x04").unwrap_err().to_string();
        assert!(e.contains("too short") || e.contains("not a .npy"), "{e}");
        let e = read(&npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
            &[0; 8],
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("4 bytes of data") && e.contains("8 bytes"),
            "{e}"
        );
    }
}
