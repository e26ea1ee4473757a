//! Taylor mode: truncated Taylor series of every value along a set of directions in input
//! space, pushed through the graph by each primitive's Taylor rule (the series layout is in
//! `opgraph/prim/taylor.rs`). One pass gives all directional derivatives up to order `K`;
//! with `collapse`, the top order is summed over the directions as it is built, which is
//! what makes a Laplacian cost about `2 + D` forward passes instead of a Hessian.

use super::{batch, AdError, Seeding};
use crate::opgraph::prim::{walk, Series, Taylor};
use crate::opgraph::{OpGraph, Primitive, Tensor, ValueId};
use ndarray::ArrayD;

/// Directions in the joint input space of a `Seeding` (`T` entries each), and what to
/// propagate along them.
pub struct Directions {
    /// `R` rows of `T` values.
    pub rows: Vec<Vec<f32>>,
    /// The highest order `K`.
    pub order: usize,
    /// Sum the top order over the rows with these weights as it is built.
    pub collapse: Option<Vec<f32>>,
}

/// The series of each of `ys` along `dirs` (the first coefficient of input `x_i` is its
/// slice of the directions, `[R, 1, *x_i[1..]]`: batch 1, like the JVP seeds).
pub fn series(
    g: &mut OpGraph,
    seeding: &Seeding,
    dirs: &Directions,
    ys: &[ValueId],
) -> Result<Vec<Series>, AdError> {
    batch::check(g)?;
    let r = dirs.rows.len();
    g.set_origin(None);
    let mut seeds = Vec::new();
    for (k, &x) in seeding.xs.iter().enumerate() {
        let sample: Vec<usize> = g.shape(x)[1..].iter().map(|d| d.expect("static")).collect();
        let n: usize = sample.iter().product();
        let off = seeding.offsets[k];
        let mut shape = vec![r, 1];
        shape.extend(sample);
        let data: Vec<f32> = dirs
            .rows
            .iter()
            .flat_map(|row| row[off..off + n].iter().copied())
            .collect();
        let c1 = ArrayD::from_shape_vec(shape, data).expect("R x n values");
        let c1 = g.constant(Tensor::F32(c1));
        seeds.push((x, vec![Some(c1)]));
    }
    // Only what the targets need.
    let mut live = vec![false; g.nodes.len()];
    for &y in ys {
        live[y] = true;
    }
    for id in (0..g.nodes.len()).rev() {
        if live[id] {
            for &i in &g.node(id).inputs {
                live[i] = true;
            }
        }
    }
    let n = g.nodes.len();
    // One weight for every direction is applied once at the end (the top coefficient is
    // linear in it), not to every layer's sum.
    let uniform = dirs
        .collapse
        .as_ref()
        .and_then(|w| w.iter().all(|&x| x == w[0]).then(|| w[0]));
    let collapse = match uniform {
        Some(_) => Some(vec![1.0; r]),
        None => dirs.collapse.clone(),
    };
    let order = dirs.order;
    let all = walk(g, &seeds, 0..n, Some(&live), |g, p, id, sin| {
        if sin.iter().all(|s| s.iter().all(Option::is_none)) {
            return Ok(Vec::new());
        }
        let mut cx = Taylor {
            g,
            order,
            collapse: collapse.clone(),
        };
        p.taylor(&mut cx, id, sin)
    });
    g.set_origin(None);
    let all = all?;
    let mut out: Vec<Series> = ys.iter().map(|&y| all[y].clone()).collect();
    if let Some(w) = uniform.filter(|&w| w != 1.0) {
        for s in &mut out {
            if let Some(Some(top)) = s.get_mut(order - 1) {
                *top = g.binary_scalar(crate::opgraph::BinaryOp::Mul, *top, w)?;
            }
        }
    }
    Ok(out)
}

/// Coefficient `c` (`[R|1, B|1, *y[1..]]`) as `[R|1, B, *y[1..]]`, or a zero of that shape
/// when the series has none.
pub fn full_coefficient(
    g: &mut OpGraph,
    c: Option<ValueId>,
    rows: usize,
    y: ValueId,
) -> Result<ValueId, AdError> {
    let mut jvp = crate::opgraph::prim::Jvp { g: &mut *g };
    let c = match c {
        Some(c) => c,
        None => jvp.zeros(rows, y),
    };
    Ok(jvp.full(c, y)?)
}
