//! What the windowed primitives share (convolutions and pooling, OpenVINO's channels-first
//! layout `[N, C, *spatial]`): the window geometry, its f64 walk for the reference values, IR
//! attribute spelling, and leading axes: the data is `[*lead, C, *spatial]`, where the batch
//! may have a tangent or cotangent axis before it, so the derivative rules apply the
//! primitives themselves (OpenVINO gets the leading axes merged). Not a primitive.

use super::{Array, Batch};
use crate::ir::{LayerCx, Port, PortRef};
use crate::opgraph::{DType, Shape};
use ndarray::IxDyn;

/// A window moved over the spatial axes: per spatial axis the kernel size, stride, dilation
/// and the padding before and after (padded cells are outside the input).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads_begin: Vec<usize>,
    pub pads_end: Vec<usize>,
}

impl Window {
    /// A window without dilation, for tests: kernel, strides, pads at the start and end.
    #[cfg(test)]
    pub(crate) fn undilated(k: &[usize], s: &[usize], pb: &[usize], pe: &[usize]) -> Window {
        Window {
            kernel: k.to_vec(),
            strides: s.to_vec(),
            dilations: vec![1; k.len()],
            pads_begin: pb.to_vec(),
            pads_end: pe.to_vec(),
        }
    }

    /// The number of spatial axes.
    pub fn rank(&self) -> usize {
        self.kernel.len()
    }

    /// Checks the attribute lengths and values.
    pub fn check(&self) -> Result<(), String> {
        let r = self.rank();
        let lens = [
            self.strides.len(),
            self.dilations.len(),
            self.pads_begin.len(),
            self.pads_end.len(),
        ];
        if r == 0 || lens.iter().any(|&l| l != r) {
            return Err(format!("window attributes of different lengths: {self:?}"));
        }
        if self
            .kernel
            .iter()
            .chain(&self.strides)
            .chain(&self.dilations)
            .any(|&v| v == 0)
        {
            return Err(format!("zero kernel size, stride or dilation: {self:?}"));
        }
        Ok(())
    }

    /// The dilated kernel extent along axis `a`.
    pub fn extent(&self, a: usize) -> usize {
        (self.kernel[a] - 1) * self.dilations[a] + 1
    }

    /// Output sizes for the spatial input sizes `sp` (windows that do not fit are dropped,
    /// OpenVINO's `rounding_type="floor"`).
    pub fn out_sizes(&self, sp: &[usize]) -> Result<Vec<usize>, String> {
        (0..self.rank())
            .map(|a| {
                let padded = sp[a] + self.pads_begin[a] + self.pads_end[a];
                let e = self.extent(a);
                if padded < e {
                    return Err(format!(
                        "a window of {e} does not fit an axis of {} padded to {padded}",
                        sp[a]
                    ));
                }
                Ok((padded - e) / self.strides[a] + 1)
            })
            .collect()
    }

    /// The output padding that makes the transposed window's output `sp` again, from `out`
    /// (what a stride leaves over: `0 <= op < stride`).
    pub fn leftover(&self, sp: &[usize], out: &[usize]) -> Vec<usize> {
        (0..self.rank())
            .map(|a| {
                let covered = (out[a] - 1) * self.strides[a] + self.extent(a);
                (sp[a] + self.pads_begin[a] + self.pads_end[a]).saturating_sub(covered)
            })
            .collect()
    }

    /// For every output position (row major) and kernel tap (row major), the flat input
    /// position it reads, or `None` in the padding: `table[o * taps + k]`.
    pub fn taps(&self, sp: &[usize], out: &[usize]) -> Vec<Option<usize>> {
        let r = self.rank();
        let n_out: usize = out.iter().product();
        let n_taps: usize = self.kernel.iter().product();
        let mut table = Vec::with_capacity(n_out * n_taps);
        let mut o_ix = vec![0usize; r];
        for _ in 0..n_out {
            let mut k_ix = vec![0usize; r];
            for _ in 0..n_taps {
                let mut flat = 0usize;
                let mut inside = true;
                for a in 0..r {
                    let p = (o_ix[a] * self.strides[a] + k_ix[a] * self.dilations[a]) as i64
                        - self.pads_begin[a] as i64;
                    if p < 0 || p >= sp[a] as i64 {
                        inside = false;
                        break;
                    }
                    flat = flat * sp[a] + p as usize;
                }
                table.push(inside.then_some(flat));
                bump(&mut k_ix, &self.kernel);
            }
            bump(&mut o_ix, out);
        }
        table
    }

    /// The IR attributes `strides`, `dilations`, `pads_begin`, `pads_end`, `auto_pad`.
    pub fn attrs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("strides", ints_attr(&self.strides)),
            ("dilations", ints_attr(&self.dilations)),
            ("pads_begin", ints_attr(&self.pads_begin)),
            ("pads_end", ints_attr(&self.pads_end)),
            ("auto_pad", "explicit".to_string()),
        ]
    }

    /// A short description for labels.
    pub fn describe(&self) -> String {
        format!(
            "k{:?} s{:?} d{:?} pads {:?}/{:?}",
            self.kernel, self.strides, self.dilations, self.pads_begin, self.pads_end
        )
    }
}

/// A row-major multi-index step.
fn bump(ix: &mut [usize], dims: &[usize]) {
    for a in (0..ix.len()).rev() {
        ix[a] += 1;
        if ix[a] < dims[a] {
            return;
        }
        ix[a] = 0;
    }
}

/// An int list as IR attributes spell it: `2, 2`.
pub fn ints_attr(v: &[usize]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The parts of a windowed primitive's data shape `[*lead, C, *spatial]`: the leading axes
/// (at least one; the batch, and a tangent or cotangent axis before it), the channels, and
/// the static spatial sizes.
pub fn split(
    shape: &Shape,
    rank: usize,
    what: &str,
) -> Result<(Shape, Option<usize>, Vec<usize>), String> {
    if shape.len() < rank + 2 {
        return Err(format!(
            "{what} needs an input [.., C, *spatial] of rank {} or more, got rank {}",
            rank + 2,
            shape.len()
        ));
    }
    let k = shape.len() - rank - 1;
    if shape[..k].iter().filter(|d| d.is_none()).count() > 1 {
        return Err(format!(
            "{what}: more than one leading axis of unknown size"
        ));
    }
    let sp = shape[k + 1..]
        .iter()
        .map(|d| d.ok_or_else(|| format!("{what} needs static spatial sizes")))
        .collect::<Result<_, _>>()?;
    Ok((shape[..k].to_vec(), shape[k], sp))
}

/// The static spatial sizes of a `[.., C, *spatial]` shape.
pub fn spatial(shape: &Shape, rank: usize, what: &str) -> Result<Vec<usize>, String> {
    split(shape, rank, what).map(|(_, _, sp)| sp)
}

/// The reference value of a windowed primitive on `[*lead, C, *spatial]` data (`args[0]`):
/// `f` on the leading axes merged into one, split again after.
pub fn eval_merged(
    args: &[&Array],
    rank: usize,
    f: impl FnOnce(&Array, &[&Array]) -> Result<Array, String>,
) -> Result<Array, String> {
    let s = args[0].shape();
    let k = s.len() - rank - 1;
    let mut m = vec![s[..k].iter().product()];
    m.extend_from_slice(&s[k..]);
    let x = args[0]
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(&m))
        .map_err(|e| e.to_string())?;
    let y = f(&x, &args[1..])?;
    let mut back = s[..k].to_vec();
    back.extend_from_slice(&y.shape()[1..]);
    y.into_shape_with_order(IxDyn(&back))
        .map_err(|e| e.to_string())
}

/// The IR of a windowed primitive on `[*lead, C, *spatial]` data (`ins[0]`; other inputs as
/// they are): the op itself for one leading axis, else between reshapes that merge the
/// leading axes and split them again.
pub fn emit_merged(
    cx: &mut LayerCx,
    ty: &'static str,
    version: &'static str,
    data: Vec<(&'static str, String)>,
    ins: &[PortRef],
    rank: usize,
) -> PortRef {
    let xd = cx.port(ins[0]).dims.clone();
    let k = xd.len() - rank - 1;
    if k == 1 {
        return cx.op(ty, version, data, ins);
    }
    let out = cx.out().dims;
    let merged = |d: &[i64]| -> Vec<i64> {
        let lead = if d[..k].iter().any(|&v| v < 0) {
            -1
        } else {
            d[..k].iter().product()
        };
        std::iter::once(lead)
            .chain(d[k..].iter().copied())
            .collect()
    };
    let (xm, om) = (merged(&xd), merged(&out));
    let x = cx.reshape(Some("merge"), ins[0], xm, DType::F32);
    let mut merged_ins = vec![x];
    merged_ins.extend_from_slice(&ins[1..]);
    let port = Port {
        dtype: DType::F32,
        dims: om,
    };
    let y = cx.aux(ty, ty, version, data, &merged_ins, port);
    cx.reshape(None, y, out, DType::F32)
}

/// The samples of a windowed primitive: on a leading axis of the data (input 0), where they
/// stay; any other input (filters) must not depend on them.
pub fn batch_lead(b: &Batch, rank: usize) -> Result<Option<usize>, String> {
    if b.axes[1..].iter().any(Option::is_some) {
        return Err("the kernel depends on the samples".into());
    }
    match b.axes[0] {
        Some(a) if a >= b.shapes[0].len() - rank - 1 => {
            Err("the samples are on the channel or a spatial axis".into())
        }
        a => Ok(a),
    }
}
