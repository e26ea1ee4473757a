//! `(x, u)`: `u` `[L, N, C, *out]` added into zeros at the first maximum of each max-pooling
//! window of `x` (JAX's select-and-scatter-add): `[L, N, C, *spatial]`. Linear in `u`; the
//! transpose of [`super::PoolGather`]. See `max_pool.rs`.

use super::max_pool::{
    argmax, batch_second, count, lead_of, max_pool_layer, pooled, reshape, reshape_out,
    selected_jvp, selected_transpose,
};
use super::window::Window;
use super::{expect_f32, Arity, Array, Batch, Jvp, Lin, PoolGather, Primitive, Tan};
use crate::ir::{LayerCx, Port, PortRef};
use crate::opgraph::{DType, GResult, Shape, ValueId};
use ndarray::IxDyn;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PoolScatter {
    pub window: Window,
}

impl Primitive for PoolScatter {
    no_transpose_sinking!();

    fn label(&self) -> String {
        format!("PoolScatter {}", self.window.describe())
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(2)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        expect_f32(ins, "PoolScatter")?;
        let (x, u) = (ins[0].1, ins[1].1);
        let lead = lead_of(x, u, "PoolScatter")?;
        if u[lead.len()..] != pooled(&self.window, x, "PoolScatter")?[..] {
            return Err(format!("cotangent {u:?} for data {x:?}"));
        }
        let mut out: Shape = lead.iter().map(|&d| Some(d)).collect();
        out.extend_from_slice(x);
        Ok((DType::F32, out))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let (idx, _) = argmax(&self.window, args[0])?;
        let u = args[1].as_standard_layout();
        let k = u.ndim() - args[0].ndim();
        let (l, n) = (u.shape()[..k].iter().product(), args[0].len());
        let ud = u.as_slice().expect("standard");
        let mut y = vec![0.0; l * n];
        for k in 0..l {
            for (j, i) in idx.iter().enumerate() {
                if let Some(i) = i {
                    y[k * n + i] += ud[k * idx.len() + j];
                }
            }
        }
        let full: Vec<usize> = u.shape()[..k]
            .iter()
            .chain(args[0].shape())
            .copied()
            .collect();
        Array::from_shape_vec(IxDyn(&full), y).map_err(|e| e.to_string())
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let u = cx.port(ins[1]).dims.clone();
        let x = cx.port(ins[0]).dims.clone();
        let k = u.len() - x.len();
        let lead = count(&u[..k]);
        let pool = max_pool_layer(cx, &self.window, ins[0], u[k..].to_vec());
        let n = count(&u[k..]);
        let idx = reshape(cx, "indices", (pool, 1), vec![n], DType::I64);
        let uf = reshape(cx, "flat", ins[1], vec![lead, n], DType::F32);
        let i64p = |dims| Port {
            dtype: DType::I64,
            dims,
        };
        let shape_u = cx.aux(
            "shape_u",
            "ShapeOf",
            "opset3",
            vec![("output_type", "i64".into())],
            &[uf],
            i64p(vec![2]),
        );
        let idx_b = cx.aux(
            "indices_b",
            "Broadcast",
            "opset3",
            vec![("mode", "numpy".into())],
            &[idx, shape_u],
            i64p(vec![lead, n]),
        );
        let nx = count(&x);
        let xf = reshape(cx, "data_flat", ins[0], vec![nx], DType::F32);
        let shape_x = cx.aux(
            "shape_x",
            "ShapeOf",
            "opset3",
            vec![("output_type", "i64".into())],
            &[xf],
            i64p(vec![1]),
        );
        let lc = cx.i64s("lead", &[lead]);
        let target = cx.aux(
            "target",
            "Concat",
            "opset1",
            vec![("axis", "0".into())],
            &[lc, shape_x],
            i64p(vec![2]),
        );
        let zero = cx.scalar("zero", 0.0);
        let f32p = Port {
            dtype: DType::F32,
            dims: vec![lead, nx],
        };
        let zeros = cx.aux(
            "zeros",
            "Broadcast",
            "opset3",
            vec![("mode", "numpy".into())],
            &[zero, target],
            f32p.clone(),
        );
        let axis = cx.i64s("axis", &[1]);
        let data = vec![
            ("reduction", "sum".to_string()),
            ("use_init_val", "true".to_string()),
        ];
        let s = cx.aux(
            "Scatter",
            "ScatterElementsUpdate",
            "opset12",
            data,
            &[zeros, idx_b, uf, axis],
            f32p,
        );
        reshape_out(cx, s)
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
        let partner = PoolGather {
            window: self.window.clone(),
        };
        selected_transpose(partner.into(), cx, y, ct, linear)
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        batch_second(b)
    }

    no_simplification!();
}
