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

/// Each partial derivative, `[B, *out]`: the specs of one order share one Taylor pass along
/// the union of their directions.
pub fn partial_derivatives(
    g: &mut OpGraph,
    partials: &[Partial],
) -> Result<Vec<(Partial, ValueId)>, PdeError> {
    let mut out = Vec::new();
    let max = partials.iter().map(Partial::order).max().unwrap_or(0);
    for order in 1..=max {
        let group: Vec<&Partial> = partials.iter().filter(|p| p.order() == order).collect();
        if group.is_empty() {
            continue;
        }
        // The inputs involved, in graph input order, seeded jointly.
        let xs: Vec<ValueId> = g
            .inputs
            .iter()
            .copied()
            .filter(|&p| {
                group
                    .iter()
                    .any(|s| s.vars.iter().any(|(n, _)| n == g.input_name(p)))
            })
            .collect();
        let seeding = Seeding::new(g, &xs)?;
        let position = |g: &OpGraph, (name, e): &(String, usize)| -> usize {
            let k = xs
                .iter()
                .position(|&p| g.input_name(p) == name)
                .expect("seeded");
            seeding.offsets[k] + e
        };
        // Union of the directions; per spec, its weight on each.
        let mut rows: Vec<Vec<f32>> = Vec::new();
        let mut weights: Vec<Vec<(usize, f64)>> = Vec::new();
        for p in &group {
            let mi = p.multi_index();
            let counts: Vec<usize> = mi.iter().map(|(_, c)| *c).collect();
            let mut w = Vec::new();
            for (dir, weight) in spec::interpolation(&counts) {
                let mut row = vec![0.0f32; seeding.total];
                for ((var, _), &a) in mi.iter().zip(&dir) {
                    row[position(g, var)] = a as f32;
                }
                let r = match rows.iter().position(|x| *x == row) {
                    Some(r) => r,
                    None => {
                        rows.push(row);
                        rows.len() - 1
                    }
                };
                w.push((r, weight));
            }
            weights.push(w);
        }
        let dirs = Directions {
            rows,
            order,
            collapse: None,
        };
        let targets: Vec<ValueId> = group
            .iter()
            .map(|p| {
                g.outputs
                    .iter()
                    .find(|(n, _)| *n == p.output)
                    .expect("checked")
                    .1
            })
            .collect();
        let all = series(g, &seeding, &dirs, &targets)?;
        let fact: f64 = (1..=order).map(|i| i as f64).product();
        for ((p, &y), (s, w)) in group.iter().zip(&targets).zip(all.iter().zip(&weights)) {
            let r = dirs.rows.len();
            let top = s.get(order - 1).copied().flatten();
            let full = full_coefficient(g, top, r, y)?;
            // sum_r w_r K! c_K[r]
            let mut wv = vec![0.0f32; r];
            for &(row, weight) in w {
                wv[row] += (weight * fact) as f32;
            }
            let mut wshape = vec![r];
            wshape.extend(std::iter::repeat_n(1, g.rank(full) - 1));
            let wt = ndarray::ArrayD::from_shape_vec(wshape, wv).expect("r weights");
            let wc = g.constant(Tensor::F32(wt));
            let scaled = g.mul(full, wc)?;
            let v = g.reduce(ReduceOp::Sum, scaled, vec![0], false)?;
            out.push(((*p).clone(), v));
        }
    }
    Ok(out)
}
