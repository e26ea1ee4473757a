//! The vocabulary derivative rules are written in (JAX's `ad.py` helpers): tangent arithmetic
//! with symbolic zeros for JVP rules, cotangent reshaping for transpose rules. The passes that
//! drive these rules over a whole graph are in `crate::autodiff`.
//!
//! Tangent layout: a value of shape `S` has a tangent of shape `[T, *S]`, the tangent axis
//! first (one GEMM per matmul with constant weights). The batch axis of a tangent may be 1
//! where the primal's is the dynamic batch (seeds and what only depends on them), which keeps
//! the first layer's tangent a foldable constant. A cotangent has the same layout, with the
//! cotangent axis first.

use super::Primitive;
use crate::opgraph::{GResult, OpGraph, Prim, ReduceOp, Tensor, ValueId};

/// A tangent, or `None` for a symbolic zero.
pub type Tan = Option<ValueId>;

/// Where JVP rules build tangents. The length of the tangent axis is each tangent's own
/// leading dimension (so the same rules serve Taylor coefficients, whose top order may be
/// summed over the directions).
pub struct Jvp<'g> {
    pub g: &'g mut OpGraph,
}

impl Jvp<'_> {
    pub fn scalar(&mut self, v: f32) -> ValueId {
        self.g.scalar(v)
    }

    /// The inputs of node `y`.
    pub fn inputs(&self, y: ValueId) -> Vec<ValueId> {
        self.g.node(y).inputs.clone()
    }

    /// `a + b` with symbolic zeros.
    pub fn add(&mut self, a: Tan, b: Tan) -> GResult<Tan> {
        Ok(match (a, b) {
            (Some(a), Some(b)) => Some(self.g.add(a, b)?),
            (a, None) => a,
            (None, b) => b,
        })
    }

    /// `t * f` for a tangent that may be zero.
    pub fn mul(&mut self, t: Tan, f: ValueId) -> GResult<Tan> {
        t.map(|t| self.g.mul(t, f)).transpose()
    }

    /// A tangent `[T, *S]` of an operand of lower rank than the result it feeds, with size-1
    /// axes inserted after `T` so that NumPy broadcasting lines `S` up with the result.
    pub fn align(&mut self, t: ValueId, rank: usize) -> GResult<ValueId> {
        let s = self.g.shape(t).clone();
        if s.len() > rank {
            return Ok(t);
        }
        let mut target = vec![s[0]];
        target.extend(std::iter::repeat_n(Some(1), rank + 1 - s.len()));
        target.extend_from_slice(&s[1..]);
        self.g.reshape(t, target)
    }

    /// `align` for a tangent that may be zero, to the rank of node `out`.
    pub fn align_to(&mut self, t: Tan, out: ValueId) -> GResult<Tan> {
        let r = self.g.rank(out);
        t.map(|t| self.align(t, r)).transpose()
    }

    /// The tangent broadcast to exactly `[T, *shape(primal)]` (the batch too).
    pub fn full(&mut self, t: ValueId, primal: ValueId) -> GResult<ValueId> {
        let want_rank = self.g.rank(primal) + 1;
        let t = self.align(t, want_rank - 1)?;
        let same = self.g.rank(t) == want_rank
            && self.g.shape(t)[1..]
                .iter()
                .zip(self.g.shape(primal).iter())
                .all(|(a, b)| a == b);
        if same {
            return Ok(t);
        }
        self.g.broadcast_like(t, primal)
    }

    /// A zero tangent made concrete: a constant `[len, *shape(primal)]` with 1 for the dynamic
    /// (batch) dimension.
    pub fn zeros(&mut self, len: usize, primal: ValueId) -> ValueId {
        let mut shape = vec![len];
        shape.extend(self.g.shape(primal).iter().map(|d| d.unwrap_or(1)));
        self.g.constant(Tensor::F32(ndarray::ArrayD::zeros(shape)))
    }

    /// The JVP of a composite primitive through its decomposition: `build` makes node `y`'s
    /// value from its inputs out of other primitives, whose own JVP rules then give the
    /// tangent. (The value itself stays the composite's; only the tangent uses the parts.)
    pub fn through(
        &mut self,
        y: ValueId,
        tin: &[Tan],
        build: impl FnOnce(&mut OpGraph, &[ValueId]) -> GResult<ValueId>,
    ) -> GResult<Tan> {
        let ins = self.inputs(y);
        through(self.g, &ins, tin, build, |g, p, id, t| {
            if t.iter().all(Option::is_none) {
                return Ok(None);
            }
            p.jvp(&mut Jvp { g }, id, t)
        })
    }
}

/// The forward walk every forward-mode pass shares: values `V` (a tangent, a Taylor series)
/// from `seeds` through the nodes in `range`, in order, each primitive node's value made by
/// `rule` from its inputs' values (other nodes get `V::default()`, a zero); `live` (when
/// given) skips nodes no output needs. Returns the values of the nodes in `range`.
pub fn walk<V: Clone + Default>(
    g: &mut OpGraph,
    seeds: &[(ValueId, V)],
    range: std::ops::Range<ValueId>,
    live: Option<&[bool]>,
    mut rule: impl FnMut(&mut OpGraph, &Prim, ValueId, &[V]) -> GResult<V>,
) -> GResult<Vec<V>> {
    let start = range.start;
    let mut local: Vec<V> = vec![V::default(); range.len()];
    let seeded = |id: ValueId| seeds.iter().find(|(x, _)| *x == id).map(|(_, v)| v);
    for (x, v) in seeds {
        if range.contains(x) {
            local[x - start] = v.clone();
        }
    }
    for id in range {
        if seeded(id).is_some() || live.is_some_and(|l| !l[id]) {
            continue;
        }
        let node = g.node(id);
        let Some(p) = node.prim().cloned() else {
            continue; // inputs and constants: seeded or zero
        };
        let vin: Vec<V> = node
            .inputs
            .iter()
            .map(|&i| match seeded(i) {
                Some(v) => v.clone(),
                None if i >= start => local[i - start].clone(),
                None => V::default(),
            })
            .collect();
        let origin = g.origin(id);
        g.set_origin(origin);
        local[id - start] = rule(g, &p, id, &vin)?;
    }
    Ok(local)
}

/// A composite primitive's value `V` through its decomposition: `build` makes the value from
/// the composite's inputs `ins` out of other primitives, and `rule` is applied to each of
/// them from the inputs' values `vin`.
pub fn through<V: Clone + Default>(
    g: &mut OpGraph,
    ins: &[ValueId],
    vin: &[V],
    build: impl FnOnce(&mut OpGraph, &[ValueId]) -> GResult<ValueId>,
    rule: impl FnMut(&mut OpGraph, &Prim, ValueId, &[V]) -> GResult<V>,
) -> GResult<V> {
    let start = g.nodes.len();
    let out = build(g, ins)?;
    let end = g.nodes.len();
    let seeds: Vec<(ValueId, V)> = ins.iter().copied().zip(vin.iter().cloned()).collect();
    let local = walk(g, &seeds, start..end, None, rule)?;
    Ok(match seeds.iter().find(|(x, _)| *x == out) {
        Some((_, v)) => v.clone(),
        None if out >= start => local[out - start].clone(),
        None => V::default(),
    })
}

/// Where transpose rules build cotangents.
pub struct Lin<'g> {
    pub g: &'g mut OpGraph,
}

impl Lin<'_> {
    /// The inputs of node `y`.
    pub fn inputs(&self, y: ValueId) -> Vec<ValueId> {
        self.g.node(y).inputs.clone()
    }

    /// `c` summed over the axes where `target` (a linear node `[1, ...]`) was broadcast, so it
    /// broadcasts back onto `target`'s shape; the cotangent axis 0 is kept.
    pub fn unbroadcast(&mut self, c: ValueId, target: ValueId) -> GResult<ValueId> {
        let (cs, ts) = (self.g.shape(c).clone(), self.g.shape(target).clone());
        if cs.len() != ts.len() {
            return Err(self.g.error(format!(
                "a cotangent of rank {} for a value of rank {}",
                cs.len(),
                ts.len()
            )));
        }
        let axes: Vec<usize> = (1..ts.len())
            .filter(|&i| ts[i] == Some(1) && cs[i] != Some(1))
            .collect();
        if axes.is_empty() {
            return Ok(c);
        }
        self.g.reduce(ReduceOp::Sum, c, axes, true)
    }

    /// `c` broadcast to exactly `[O, *node[1..]]` (a cotangent may have batch 1 where the node
    /// has the full batch).
    pub fn full_like(&mut self, c: ValueId, node: ValueId) -> GResult<ValueId> {
        if self.g.shape(c)[1..] == self.g.shape(node)[1..] {
            return Ok(c);
        }
        self.g.broadcast_like(c, node)
    }

    /// A dimension that must be static for the transpose rule.
    pub fn static_dim(&self, x: ValueId, axis: usize) -> GResult<usize> {
        self.g.shape(x)[axis].ok_or_else(|| {
            self.g.error(format!(
                "{}: axis {axis} has no static size, which reverse mode needs",
                self.g.describe(x)
            ))
        })
    }

    /// `x` with its last two axes swapped.
    pub fn swap_last(&mut self, x: ValueId) -> GResult<ValueId> {
        let r = self.g.rank(x);
        let perm: Vec<usize> = (0..r - 2).chain([r - 1, r - 2]).collect();
        self.g.transpose(x, perm)
    }
}

/// The permutation that undoes `perm`.
pub fn inverse_perm(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    inv
}
