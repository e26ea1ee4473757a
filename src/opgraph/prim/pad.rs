//! Constant padding (OpenVINO `Pad`-12, `pad_mode="constant"`): `begin[a]` cells of `value`
//! before and `end[a]` after axis `a`; a negative count crops instead. Affine in its input;
//! the transpose pads the cotangent by the negated counts (a crop, or zeros for a crop).

use super::{Arity, Array, Batch, Jvp, Lin, Primitive, Rewrite, Tan, F32};
use crate::ir::{LayerCx, PortRef};
use crate::opgraph::{DType, GResult, OpGraph, Shape, ValueId};
use ndarray::{IxDyn, Slice};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pad {
    pub begin: Vec<i64>,
    pub end: Vec<i64>,
    pub value: F32,
}

impl Pad {
    /// Zero padding by the counts times `sign`, with `lead` more leading axes left alone.
    fn with(&self, sign: i64, lead: usize) -> Pad {
        let f = |v: &[i64]| {
            std::iter::repeat_n(0, lead)
                .chain(v.iter().map(|&p| p * sign))
                .collect()
        };
        Pad {
            begin: f(&self.begin),
            end: f(&self.end),
            value: F32(0.0),
        }
    }
}

impl Primitive for Pad {
    /// The counts of each axis go to the input axis it came from.
    fn sink_transpose(&self, perm: &[usize]) -> Option<(super::Prim, Vec<usize>)> {
        let mut q = self.clone();
        for (i, &p) in perm.iter().enumerate() {
            q.begin[p] = *self.begin.get(i)?;
            q.end[p] = *self.end.get(i)?;
        }
        Some((q.into(), perm.to_vec()))
    }

    fn label(&self) -> String {
        format!("Pad {:?}/{:?} value {}", self.begin, self.end, self.value.0)
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        let (dtype, from) = ins[0];
        if dtype != DType::F32 {
            return Err(format!("Pad needs an f32 input, got {dtype:?}"));
        }
        if self.begin.len() != from.len() || self.end.len() != from.len() {
            return Err(format!(
                "pads for rank {}, input of rank {}",
                self.begin.len(),
                from.len()
            ));
        }
        from.iter()
            .enumerate()
            .map(|(a, d)| match d {
                None if self.begin[a] == 0 && self.end[a] == 0 => Ok(None),
                None => Err(format!("pads axis {a}, whose size is unknown")),
                Some(n) => {
                    let size = *n as i64 + self.begin[a] + self.end[a];
                    if size < 0 || self.begin[a] < -(*n as i64) || self.end[a] < -(*n as i64) {
                        return Err(format!("crops more than axis {a} holds"));
                    }
                    Ok(Some(size as usize))
                }
            })
            .collect::<Result<Shape, String>>()
            .map(|s| (DType::F32, s))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let x = args[0];
        let shape: Vec<usize> = x
            .shape()
            .iter()
            .enumerate()
            .map(|(a, &n)| (n as i64 + self.begin[a] + self.end[a]) as usize)
            .collect();
        let mut out = Array::from_elem(IxDyn(&shape), self.value.0 as f64);
        let (b, e) = (&self.begin, &self.end);
        let src = x.slice_each_axis(|ax| {
            let (a, n) = (ax.axis.index(), ax.len as i64);
            Slice::from((-b[a]).max(0) as usize..(n + e[a].min(0)).max(0) as usize)
        });
        out.slice_each_axis_mut(|ax| {
            let a = ax.axis.index();
            let lo = b[a].max(0) as usize;
            Slice::from(lo..lo + src.len_of(ax.axis))
        })
        .assign(&src);
        Ok(out)
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let b = cx.i64s("Pad/begin", &self.begin);
        let e = cx.i64s("Pad/end", &self.end);
        let v = cx.scalar("Pad/value", self.value.0);
        let data = vec![("pad_mode", "constant".to_string())];
        cx.op("Pad", "opset12", data, &[ins[0], b, e, v])
    }

    /// The padding value is a constant: the tangent is padded with zeros.
    fn jvp(&self, cx: &mut Jvp, _y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let t = tin[0].expect("a nonzero tangent");
        Ok(Some(cx.g.apply(self.with(1, 1), vec![t])?))
    }

    linear_taylor!();

    /// The cotangent `[O, *y[1..]]` (the leading axis, a tangent's, is never padded) cropped
    /// by the counts, or padded with zeros where they cropped.
    fn transpose(
        &self,
        cx: &mut Lin,
        _y: ValueId,
        ct: ValueId,
        _linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        Ok(Some(vec![(0, cx.g.apply(self.with(-1, 0), vec![ct])?)]))
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        match b.first() {
            Some(a) if self.begin[a] != 0 || self.end[a] != 0 => Err("pads the batch axis".into()),
            a => Ok(a),
        }
    }

    fn simplify(&self, _g: &OpGraph, _ins: &[ValueId]) -> Option<Rewrite> {
        let none = self.begin.iter().chain(&self.end).all(|&p| p == 0);
        none.then_some(Rewrite::Input(0))
    }
}

#[cfg(test)]
mod tests {
    use super::Pad;
    use crate::opgraph::prim::F32;
    use crate::testing::{check_derivatives, check_transpose};

    #[test]
    fn derivatives_match_finite_differences() {
        check_derivatives("pad and crop", &[3, 4], |g, x| {
            let s = g.mul(x, x).unwrap();
            let p = Pad {
                begin: vec![0, 2, -1],
                end: vec![0, -1, 3],
                value: F32(1.5),
            };
            g.apply(p, vec![s]).unwrap()
        });
    }

    #[test]
    fn transpose_is_adjoint() {
        check_transpose("pad", &[3, 2], |g, x| {
            let p = Pad {
                begin: vec![0, -1, 1],
                end: vec![0, 2, 0],
                value: F32(0.0),
            };
            g.apply(p, vec![x]).unwrap()
        });
    }
}
