//! PDE operators as outputs of the same graph: Laplacians and biharmonics by collapsed Taylor
//! mode, partial derivatives of any order (mixed ones from directional derivatives), and
//! residual expressions built from them. Per sample, as `jax.vmap` of nested `jax.jacfwd`.
//!
//! Output names: `laplacian/<out>`, `bilaplacian/<out>`, `derivative/<spec>`, and the
//! residual's own name (`residual` by default). Each has the output's shape `[B, *out]`.

pub mod residual;
pub mod spec;

use crate::autodiff::taylor::{full_coefficient, series, Directions};
use crate::autodiff::{self, AdError, Seeding};
use crate::opgraph::{OpGraph, ReduceOp, Tensor, ValueId};
use spec::Partial;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PdeError {
    #[error("{0}")]
    Spec(String),
    #[error("{0}")]
    Derivative(#[from] AdError),
}

impl From<crate::opgraph::GraphError> for PdeError {
    fn from(e: crate::opgraph::GraphError) -> Self {
        PdeError::Derivative(AdError::Graph(e))
    }
}

/// Which operators to add.
#[derive(Clone, Debug, Default)]
pub struct Operators {
    pub laplacian: bool,
    pub bilaplacian: bool,
    /// `OUT/IN/IN/...` specs.
    pub derivatives: Vec<String>,
    /// `EXPR` or `NAME=EXPR`.
    pub residuals: Vec<String>,
}

impl Operators {
    pub fn any(&self) -> bool {
        self.laplacian
            || self.bilaplacian
            || !self.derivatives.is_empty()
            || !self.residuals.is_empty()
    }
}

/// Add the requested operators as outputs of `g` (which holds the model's inputs and outputs
/// by name), for the outputs `of` and the inputs `wrt` (defaults: every output, every float
/// input). The caller simplifies the graph afterwards.
pub fn add(
    g: &mut OpGraph,
    ops: &Operators,
    wrt: &[String],
    of: &[String],
) -> Result<(), PdeError> {
    let sel = autodiff::select(g, wrt, of)?;
    if sel.wrt.is_empty() && (ops.laplacian || ops.bilaplacian) {
        return Err(PdeError::Spec(
            "the model has no float input to take a Laplacian with respect to".into(),
        ));
    }
    let ys: Vec<(String, ValueId)> = sel.of.iter().map(|&k| g.outputs[k].clone()).collect();
    if ops.laplacian {
        for (name, v) in laplacians(g, &sel.wrt, &ys, Laplace::Laplacian)? {
            g.output(&format!("laplacian/{name}"), v);
        }
    }
    if ops.bilaplacian {
        for (name, v) in laplacians(g, &sel.wrt, &ys, Laplace::Biharmonic)? {
            g.output(&format!("bilaplacian/{name}"), v);
        }
    }
    let partials = ops
        .derivatives
        .iter()
        .map(|s| spec::parse(s, g).map_err(PdeError::Spec))
        .collect::<Result<Vec<_>, _>>()?;
    for (p, v) in partial_derivatives(g, &partials)? {
        g.output(&format!("derivative/{}", p.text), v);
    }
    for r in &ops.residuals {
        let (name, v) = residual::build(g, r, &sel.wrt)?;
        g.output(&name, v);
    }
    Ok(())
}

/// Which Laplace-type operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Laplace {
    /// `sum_i d2y/dx_i^2`.
    Laplacian,
    /// `sum_i sum_j d4y / dx_i^2 dx_j^2`.
    Biharmonic,
}

/// The operator of every `ys` over the elements of the inputs `xs`, each `[B, *y[1..]]`,
/// by collapsed Taylor mode.
pub fn laplacians(
    g: &mut OpGraph,
    xs: &[ValueId],
    ys: &[(String, ValueId)],
    op: Laplace,
) -> Result<Vec<(String, ValueId)>, PdeError> {
    let seeding = Seeding::new(g, xs)?;
    let d = seeding.total;
    let unit = |i: usize| (0..d).map(|j| (i == j) as u8 as f32).collect::<Vec<f32>>();
    let dirs = match op {
        // sum_i D^2_{e_i} = 2 sum_i c_2
        Laplace::Laplacian => Directions {
            rows: (0..d).map(unit).collect(),
            order: 2,
            collapse: Some(vec![2.0; d]),
        },
        // D^4_{e_i+e_j} + D^4_{e_i-e_j} = 2 f_iiii + 12 f_iijj + 2 f_jjjj, so
        // sum_ij f_iijj = (4 - D)/3 sum_i D^4_{e_i} + 1/6 sum_{i<j} (D^4_{e_i+e_j} + D^4_{e_i-e_j}),
        // with D^4 = 24 c_4.
        Laplace::Biharmonic => {
            let mut rows: Vec<Vec<f32>> = (0..d).map(unit).collect();
            let mut w = vec![24.0 * (4.0 - d as f32) / 3.0; d];
            for i in 0..d {
                for j in i + 1..d {
                    for s in [1.0, -1.0] {
                        let mut r = unit(i);
                        r[j] = s;
                        rows.push(r);
                        w.push(4.0);
                    }
                }
            }
            Directions {
                rows,
                order: 4,
                collapse: Some(w),
            }
        }
    };
    let targets: Vec<ValueId> = ys.iter().map(|(_, v)| *v).collect();
    let all = series(g, &seeding, &dirs, &targets)?;
    let mut out = Vec::new();
    for ((name, y), s) in ys.iter().zip(all) {
        let top = s.get(dirs.order - 1).copied().flatten();
        let full = full_coefficient(g, top, 1, *y)?;
        let shape = g.shape(*y).clone();
        out.push((name.clone(), g.reshape(full, shape)?));
    }
    Ok(out)
}

/// Each partial derivative, `[B, *out]`. Highest orders first, the partials of one order
/// share a Taylor pass along the union of their directions; a lower-order partial whose
/// directions a pass already has (u_x after u_xxx) reads its coefficient from that pass.
pub fn partial_derivatives(
    g: &mut OpGraph,
    partials: &[Partial],
) -> Result<Vec<(Partial, ValueId)>, PdeError> {
    // One joint input space for every input named, one target per output named.
    let xs: Vec<ValueId> = g
        .inputs
        .iter()
        .copied()
        .filter(|&p| {
            partials
                .iter()
                .any(|s| s.vars.iter().any(|(n, _)| n == g.input_name(p)))
        })
        .collect();
    let seeding = Seeding::new(g, &xs)?;
    let mut outputs: Vec<(String, ValueId)> = Vec::new();
    for p in partials {
        if !outputs.iter().any(|(n, _)| *n == p.output) {
            let y = g
                .outputs
                .iter()
                .find(|(n, _)| *n == p.output)
                .expect("checked");
            outputs.push(y.clone());
        }
    }
    let needs: Vec<Vec<(Vec<f32>, f64)>> = partials
        .iter()
        .map(|p| directions_of(g, &xs, &seeding, p))
        .collect();
    struct Pass {
        order: usize,
        rows: Vec<Vec<f32>>,
        series: Vec<crate::opgraph::prim::Series>,
    }
    let mut passes: Vec<Pass> = Vec::new();
    let mut source = vec![0usize; partials.len()];
    let max = partials.iter().map(Partial::order).max().unwrap_or(0);
    for order in (1..=max).rev() {
        let covered = |need: &[(Vec<f32>, f64)], pass: &Pass| {
            pass.order >= order && need.iter().all(|(row, _)| pass.rows.contains(row))
        };
        let mut rows: Vec<Vec<f32>> = Vec::new();
        let mut fresh = Vec::new();
        for k in (0..partials.len()).filter(|&k| partials[k].order() == order) {
            match passes.iter().position(|pass| covered(&needs[k], pass)) {
                Some(i) => source[k] = i,
                None => {
                    for (row, _) in &needs[k] {
                        if !rows.contains(row) {
                            rows.push(row.clone());
                        }
                    }
                    fresh.push(k);
                }
            }
        }
        if fresh.is_empty() {
            continue;
        }
        let dirs = Directions {
            rows,
            order,
            collapse: None,
        };
        let targets: Vec<ValueId> = outputs.iter().map(|(_, v)| *v).collect();
        let series = series(g, &seeding, &dirs, &targets)?;
        for k in fresh {
            source[k] = passes.len();
        }
        passes.push(Pass {
            order,
            rows: dirs.rows,
            series,
        });
    }
    let mut out = Vec::new();
    for (k, p) in partials.iter().enumerate() {
        let pass = &passes[source[k]];
        let order = p.order();
        let (o, &(_, y)) = outputs
            .iter()
            .enumerate()
            .find(|(_, (n, _))| *n == p.output)
            .expect("an output");
        let r = pass.rows.len();
        let c = pass.series[o].get(order - 1).copied().flatten();
        let full = full_coefficient(g, c, r, y)?;
        // sum_r w_r K! c_K[r]
        let fact: f64 = (1..=order).map(|i| i as f64).product();
        let mut wv = vec![0.0f32; r];
        for (row, weight) in &needs[k] {
            let i = pass.rows.iter().position(|x| x == row).expect("covered");
            wv[i] += (weight * fact) as f32;
        }
        let mut wshape = vec![r];
        wshape.extend(std::iter::repeat_n(1, g.rank(full) - 1));
        let wt = ndarray::ArrayD::from_shape_vec(wshape, wv).expect("r weights");
        let wc = g.constant(Tensor::F32(wt));
        let scaled = g.mul(full, wc)?;
        out.push((p.clone(), g.reduce(ReduceOp::Sum, scaled, vec![0], false)?));
    }
    Ok(out)
}

/// The directions (rows in the joint space of `xs`) and weights that give partial `p`.
fn directions_of(
    g: &OpGraph,
    xs: &[ValueId],
    seeding: &Seeding,
    p: &Partial,
) -> Vec<(Vec<f32>, f64)> {
    let mi = p.multi_index();
    let counts: Vec<usize> = mi.iter().map(|(_, c)| *c).collect();
    spec::interpolation(&counts)
        .into_iter()
        .map(|(dir, weight)| {
            let mut row = vec![0.0f32; seeding.total];
            for (((name, e), _), &a) in mi.iter().zip(&dir) {
                let k = xs
                    .iter()
                    .position(|&x| g.input_name(x) == name)
                    .expect("seeded");
                row[seeding.offsets[k] + e] = a as f32;
            }
            (row, weight)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opgraph::{DType, UnaryOp};
    use crate::testing::constant;

    /// u(x, t) = sum(tanh([x, t] @ W) @ V)
    fn mlp() -> OpGraph {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(1)]);
        let t = g.parameter("t", DType::F32, vec![None, Some(1)]);
        let xt = g.concat(&[x, t], 1).unwrap();
        let w = constant(&mut g, &[2, 8], 1);
        let h = g.matmul(xt, w).unwrap();
        let h = g.unary(UnaryOp::Tanh, h).unwrap();
        let v = constant(&mut g, &[8, 1], 2);
        let u = g.matmul(h, v).unwrap();
        g.output("u", u);
        g
    }

    fn graph_for(specs: &[&str]) -> OpGraph {
        let mut g = mlp();
        let ops = Operators {
            derivatives: specs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        add(&mut g, &ops, &[], &[]).unwrap();
        crate::opgraph::simplify::simplify(&g).unwrap()
    }

    /// The largest number of directions a Taylor pass of `g` carries: the leading axis of its
    /// coefficients (`[R, B, ...]`, rank 3 here).
    fn widest_pass(g: &OpGraph) -> usize {
        g.nodes
            .iter()
            .filter(|n| n.prim().is_some() && n.shape.len() == 3)
            .filter_map(|n| n.shape[0])
            .max()
            .unwrap_or(0)
    }

    /// KdV's u_t + 6 u u_x + u_xxx: u_x comes from the u_xxx pass along x (same direction,
    /// lower order), so u_t gets a pass of one direction instead of u_x and u_t sharing one
    /// of two.
    #[test]
    fn lower_orders_reuse_a_higher_pass_along_the_same_direction() {
        assert_eq!(widest_pass(&graph_for(&["u/x/x/x", "u/x", "u/t"])), 1);
        assert_eq!(widest_pass(&graph_for(&["u/x", "u/t"])), 2);
    }
}
