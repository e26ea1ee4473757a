//! `(x, t)`: `t` `[L, N, C, *spatial]` read at the first maximum of each max-pooling window of
//! `x` (JAX's select-and-gather, the JVP of max pooling): `[L, N, C, *out]`. Linear in `t`; its
//! transpose is [`super::PoolScatter`]. See `max_pool.rs`.

use super::max_pool::{
    argmax, batch_second, count, lead_of, max_pool_layer, pooled, reshape, reshape_out,
    selected_jvp, selected_transpose,
};
use super::window::Window;
use super::{expect_f32, Arity, Array, Batch, Jvp, Lin, PoolScatter, Primitive, Tan};
use crate::ir::{LayerCx, Port, PortRef};
use crate::opgraph::{DType, GResult, Shape, ValueId};
use ndarray::IxDyn;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PoolGather {
    pub window: Window,
}

impl Primitive for PoolGather {
    no_transpose_sinking!();

    fn label(&self) -> String {
        format!("PoolGather {}", self.window.describe())
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(2)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        expect_f32(ins, "PoolGather")?;
        let (x, t) = (ins[0].1, ins[1].1);
        let lead = lead_of(x, t, "PoolGather")?;
        if t[lead.len()..] != x[..] {
            return Err(format!("tangent {t:?} for data {x:?}"));
        }
        let mut out: Shape = lead.iter().map(|&d| Some(d)).collect();
        out.extend(pooled(&self.window, x, "PoolGather")?);
        Ok((DType::F32, out))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let (idx, shape) = argmax(&self.window, args[0])?;
        let t = args[1].as_standard_layout();
        let k = t.ndim() - args[0].ndim();
        let (l, n) = (t.shape()[..k].iter().product(), args[0].len());
        let td = t.as_slice().expect("standard");
        let mut y = Vec::with_capacity(l * idx.len());
        for k in 0..l {
            y.extend(idx.iter().map(|i| i.map_or(0.0, |i| td[k * n + i])));
        }
        let full: Vec<usize> = t.shape()[..k].iter().copied().chain(shape).collect();
        Array::from_shape_vec(IxDyn(&full), y).map_err(|e| e.to_string())
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let out = cx.out().dims;
        let k = out.len() - cx.port(ins[0]).dims.len();
        let pool = max_pool_layer(cx, &self.window, ins[0], out[k..].to_vec());
        let n = count(&out[k..]);
        let idx = reshape(cx, "indices", (pool, 1), vec![n], DType::I64);
        let lead = count(&out[..k]);
        let t = cx.port(ins[1]).dims.clone();
        let tf = reshape(cx, "flat", ins[1], vec![lead, count(&t[k..])], DType::F32);
        let axis = cx.i64s("axis", &[1]);
        let data = vec![("batch_dims", "0".to_string())];
        let gathered = Port {
            dtype: DType::F32,
            dims: vec![lead, n],
        };
        let g = cx.aux(
            "Gather",
            "Gather",
            "opset8",
            data,
            &[tf, idx, axis],
            gathered,
        );
        reshape_out(cx, g)
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        selected_jvp(self.clone().into(), cx, y, tin)
    }

    linear_taylor!();

    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        let partner = PoolScatter {
            window: self.window.clone(),
        };
        selected_transpose(partner.into(), cx, y, ct, linear)
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        batch_second(b)
    }

    no_simplification!();
}
