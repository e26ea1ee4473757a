//! The primitive graph: what Keras layers lower to, what autodiff transforms, what the emitter
//! writes. Each node has exactly one output; node ids are indices, and a node's inputs always
//! have smaller ids, so the node list is a topological order.
//!
//! Shapes are static except for dynamic dimensions (`None`), which in practice is the batch
//! axis. Element-wise binary ops broadcast like NumPy (and OpenVINO's `numpy` auto_broadcast).

mod shape;
pub mod simplify;
mod tensor;

pub use shape::{broadcast_shapes, fmt as shape_fmt, num_elements, Dim, Shape};
pub use tensor::{DType, Tensor};

use std::sync::Arc;
use thiserror::Error;

pub type ValueId = usize;

#[derive(Debug, Error, Clone, PartialEq)]
#[error("{0}")]
pub struct GraphError(pub String);

pub type GResult<T> = Result<T, GraphError>;

fn err<T>(msg: impl Into<String>) -> GResult<T> {
    Err(GraphError(msg.into()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Abs,
    Sign,
    Exp,
    Log,
    Sqrt,
    Tanh,
    Sigmoid,
    /// `log(1 + exp(x))`, computed stably (OpenVINO SoftPlus).
    SoftPlus,
    Erf,
    Sin,
    Cos,
    Tan,
    Atan,
    Sinh,
    Cosh,
    Floor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
}

/// Comparisons: f32 x f32 -> bool, NumPy broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Greater,
    GreaterEqual,
    Less,
    LessEqual,
    Equal,
}

/// Floating-point classification: f32 -> bool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClassifyOp {
    IsNan,
    IsPosInf,
    IsNegInf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A graph input; `name` is the tensor name users see (the Keras input name).
    Parameter {
        name: String,
    },
    Constant(Tensor),
    Unary(UnaryOp),
    Binary(BinaryOp),
    Compare(CompareOp),
    Classify(ClassifyOp),
    /// inputs: condition (bool), then, else; NumPy broadcasting.
    Select,
    /// NumPy `matmul` semantics (batched, broadcasting leading dims; rank >= 2 both sides).
    MatMul,
    /// Reshape to `shape`; at most one dimension may be `None` (it is inferred).
    Reshape {
        shape: Shape,
    },
    Transpose {
        perm: Vec<usize>,
    },
    /// Repeat along each axis (OpenVINO Tile); `repeats.len() == rank`.
    Tile {
        repeats: Vec<usize>,
    },
    Concat {
        axis: usize,
    },
    /// Strided slice along `axis`: `start..stop` by `step` (> 0), all already clamped
    /// to the static dimension.
    Slice {
        axis: usize,
        start: usize,
        stop: usize,
        step: usize,
    },
    Reduce {
        op: ReduceOp,
        axes: Vec<usize>,
        keep_dims: bool,
    },
    Convert {
        to: DType,
    },
    /// Reverse the order of elements along `axis`.
    Reverse {
        axis: usize,
    },
    /// inputs: x, like. `x` broadcast (both ways, NumPy rules) against the shape of `like`,
    /// read at run time so dynamic dimensions work: the result has shape `broadcast(x, like)`.
    BroadcastLike,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<ValueId>,
    pub dtype: DType,
    pub shape: Shape,
}

/// A primitive graph with named inputs and outputs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpGraph {
    pub nodes: Vec<Node>,
    /// Parameter node ids, in input order.
    pub inputs: Vec<ValueId>,
    /// Output names (tensor names in the IR and keys in `.npz` results) and values.
    pub outputs: Vec<(String, ValueId)>,
    /// Per node, the Keras layer or op it was lowered from (for error messages).
    pub origins: Vec<Option<Arc<str>>>,
    /// The origin recorded for nodes created from now on.
    current_origin: Option<Arc<str>>,
}

impl OpGraph {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn node(&self, id: ValueId) -> &Node {
        &self.nodes[id]
    }

    pub fn shape(&self, id: ValueId) -> &Shape {
        &self.nodes[id].shape
    }

    pub fn rank(&self, id: ValueId) -> usize {
        self.nodes[id].shape.len()
    }

    pub fn dtype(&self, id: ValueId) -> DType {
        self.nodes[id].dtype
    }

    /// The name of an input parameter.
    pub fn input_name(&self, id: ValueId) -> &str {
        match &self.nodes[id].op {
            Op::Parameter { name } => name,
            _ => panic!("node {id} is not a parameter"),
        }
    }

    /// Which nodes some output depends on.
    pub fn live_nodes(&self) -> Vec<bool> {
        let mut live = vec![false; self.nodes.len()];
        for (_, v) in &self.outputs {
            live[*v] = true;
        }
        for id in (0..self.nodes.len()).rev() {
            if live[id] {
                for &i in &self.nodes[id].inputs {
                    live[i] = true;
                }
            }
        }
        live
    }

    /// Record `origin` (a layer name) on the nodes created until the next call.
    pub fn set_origin(&mut self, origin: Option<&str>) {
        self.current_origin = origin.map(Arc::from);
    }

    /// The layer a node was lowered from, or a description of the node.
    pub fn describe(&self, id: ValueId) -> String {
        let op = &self.nodes[id].op;
        let kind = match op {
            Op::Constant(_) => "Constant".to_string(),
            other => format!("{other:?}"),
        };
        match self.origins.get(id).cloned().flatten() {
            Some(o) => format!("'{o}' (primitive {kind})"),
            None => format!("primitive {kind}"),
        }
    }

    fn push(&mut self, op: Op, inputs: Vec<ValueId>, dtype: DType, shape: Shape) -> ValueId {
        self.origins.push(self.current_origin.clone());
        self.nodes.push(Node {
            op,
            inputs,
            dtype,
            shape,
        });
        self.nodes.len() - 1
    }

    /// Append a node whose shape and type are already known (graph rewrites).
    pub(crate) fn push_node(&mut self, n: Node) -> ValueId {
        self.push(n.op, n.inputs, n.dtype, n.shape)
    }

    pub fn parameter(&mut self, name: &str, dtype: DType, shape: Shape) -> ValueId {
        let id = self.push(
            Op::Parameter {
                name: name.to_string(),
            },
            vec![],
            dtype,
            shape,
        );
        self.inputs.push(id);
        id
    }

    pub fn output(&mut self, name: &str, value: ValueId) {
        self.outputs.push((name.to_string(), value));
    }

    pub fn constant(&mut self, t: Tensor) -> ValueId {
        let shape = t.shape().iter().map(|&d| Some(d)).collect();
        let dtype = t.dtype();
        self.push(Op::Constant(t), vec![], dtype, shape)
    }

    /// A rank-0 f32 constant.
    pub fn scalar(&mut self, v: f32) -> ValueId {
        self.constant(Tensor::scalar(v))
    }

    /// The constant value of a node, if it is a constant.
    pub fn as_constant(&self, id: ValueId) -> Option<&Tensor> {
        match &self.nodes[id].op {
            Op::Constant(t) => Some(t),
            _ => None,
        }
    }

    fn expect_float(&self, id: ValueId, what: &str) -> GResult<()> {
        if self.dtype(id) != DType::F32 {
            return err(format!("{what} needs f32 input, got {:?}", self.dtype(id)));
        }
        Ok(())
    }

    pub fn unary(&mut self, op: UnaryOp, x: ValueId) -> GResult<ValueId> {
        self.expect_float(x, &format!("{op:?}"))?;
        let shape = self.shape(x).clone();
        Ok(self.push(Op::Unary(op), vec![x], DType::F32, shape))
    }

    pub fn binary(&mut self, op: BinaryOp, a: ValueId, b: ValueId) -> GResult<ValueId> {
        self.expect_float(a, &format!("{op:?}"))?;
        self.expect_float(b, &format!("{op:?}"))?;
        let shape = broadcast_shapes(self.shape(a), self.shape(b))?;
        Ok(self.push(Op::Binary(op), vec![a, b], DType::F32, shape))
    }

    pub fn add(&mut self, a: ValueId, b: ValueId) -> GResult<ValueId> {
        self.binary(BinaryOp::Add, a, b)
    }
    pub fn sub(&mut self, a: ValueId, b: ValueId) -> GResult<ValueId> {
        self.binary(BinaryOp::Sub, a, b)
    }
    pub fn mul(&mut self, a: ValueId, b: ValueId) -> GResult<ValueId> {
        self.binary(BinaryOp::Mul, a, b)
    }
    pub fn div(&mut self, a: ValueId, b: ValueId) -> GResult<ValueId> {
        self.binary(BinaryOp::Div, a, b)
    }

    /// `op(x, c)` for a scalar constant `c`.
    pub fn binary_scalar(&mut self, op: BinaryOp, x: ValueId, c: f32) -> GResult<ValueId> {
        let c = self.scalar(c);
        self.binary(op, x, c)
    }

    pub fn compare(&mut self, op: CompareOp, a: ValueId, b: ValueId) -> GResult<ValueId> {
        self.expect_float(a, &format!("{op:?}"))?;
        self.expect_float(b, &format!("{op:?}"))?;
        let shape = broadcast_shapes(self.shape(a), self.shape(b))?;
        Ok(self.push(Op::Compare(op), vec![a, b], DType::Bool, shape))
    }

    pub fn classify(&mut self, op: ClassifyOp, x: ValueId) -> GResult<ValueId> {
        self.expect_float(x, &format!("{op:?}"))?;
        let shape = self.shape(x).clone();
        Ok(self.push(Op::Classify(op), vec![x], DType::Bool, shape))
    }

    pub fn select(&mut self, cond: ValueId, then: ValueId, els: ValueId) -> GResult<ValueId> {
        if self.dtype(cond) != DType::Bool {
            return err("Select condition must be bool");
        }
        if self.dtype(then) != self.dtype(els) {
            return err("Select branches differ in element type");
        }
        let s = broadcast_shapes(self.shape(then), self.shape(els))?;
        let s = broadcast_shapes(self.shape(cond), &s)?;
        let dtype = self.dtype(then);
        Ok(self.push(Op::Select, vec![cond, then, els], dtype, s))
    }

    pub fn matmul(&mut self, a: ValueId, b: ValueId) -> GResult<ValueId> {
        self.expect_float(a, "MatMul")?;
        self.expect_float(b, "MatMul")?;
        let (sa, sb) = (self.shape(a).clone(), self.shape(b).clone());
        if sa.len() < 2 || sb.len() < 2 {
            return err(format!(
                "MatMul needs rank >= 2 operands, got {} and {}",
                shape::fmt(&sa),
                shape::fmt(&sb)
            ));
        }
        let (m, k1) = (sa[sa.len() - 2], sa[sa.len() - 1]);
        let (k2, n) = (sb[sb.len() - 2], sb[sb.len() - 1]);
        if let (Some(x), Some(y)) = (k1, k2) {
            if x != y {
                return err(format!(
                    "MatMul contraction mismatch: {} @ {}",
                    shape::fmt(&sa),
                    shape::fmt(&sb)
                ));
            }
        }
        let mut out = broadcast_shapes(&sa[..sa.len() - 2], &sb[..sb.len() - 2])?;
        out.push(m);
        out.push(n);
        Ok(self.push(Op::MatMul, vec![a, b], DType::F32, out))
    }

    pub fn reshape(&mut self, x: ValueId, shape: Shape) -> GResult<ValueId> {
        let from = self.shape(x).clone();
        if shape.iter().filter(|d| d.is_none()).count() > 1 {
            return err(format!(
                "Reshape target {} has more than one unknown dimension",
                shape::fmt(&shape)
            ));
        }
        if let Some(n) = shape::num_elements(&from) {
            let known: usize = shape.iter().flatten().product();
            let ok = if shape.iter().any(|d| d.is_none()) {
                known != 0 && n % known == 0
            } else {
                known == n
            };
            if !ok {
                return err(format!(
                    "cannot reshape {} to {}",
                    shape::fmt(&from),
                    shape::fmt(&shape)
                ));
            }
        }
        if from == shape {
            return Ok(x);
        }
        let dtype = self.dtype(x);
        Ok(self.push(
            Op::Reshape {
                shape: shape.clone(),
            },
            vec![x],
            dtype,
            shape,
        ))
    }

    pub fn transpose(&mut self, x: ValueId, perm: Vec<usize>) -> GResult<ValueId> {
        let from = self.shape(x).clone();
        let mut seen = vec![false; from.len()];
        if perm.len() != from.len()
            || perm
                .iter()
                .any(|&p| p >= from.len() || std::mem::replace(&mut seen[p], true))
        {
            return err(format!(
                "bad permutation {perm:?} for shape {}",
                shape::fmt(&from)
            ));
        }
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(x);
        }
        let shape = perm.iter().map(|&p| from[p]).collect();
        let dtype = self.dtype(x);
        Ok(self.push(Op::Transpose { perm }, vec![x], dtype, shape))
    }

    pub fn tile(&mut self, x: ValueId, repeats: Vec<usize>) -> GResult<ValueId> {
        let from = self.shape(x).clone();
        if repeats.len() != from.len() {
            return err("Tile repeats must match the rank");
        }
        let shape = from
            .iter()
            .zip(&repeats)
            .map(|(d, &r)| d.map(|d| d * r))
            .collect();
        let dtype = self.dtype(x);
        Ok(self.push(Op::Tile { repeats }, vec![x], dtype, shape))
    }

    pub fn concat(&mut self, xs: &[ValueId], axis: usize) -> GResult<ValueId> {
        let first = self.shape(xs[0]).clone();
        if axis >= first.len() {
            return err(format!(
                "Concat axis {axis} out of range for rank {}",
                first.len()
            ));
        }
        let dtype = self.dtype(xs[0]);
        let mut total = Some(0usize);
        for &x in xs {
            let s = self.shape(x);
            if s.len() != first.len()
                || s.iter()
                    .zip(&first)
                    .enumerate()
                    .any(|(i, (a, b))| i != axis && a.is_some() && b.is_some() && a != b)
                || self.dtype(x) != dtype
            {
                return err(format!(
                    "Concat inputs disagree: {} vs {} on axis {axis}",
                    shape::fmt(&first),
                    shape::fmt(s)
                ));
            }
            total = total.zip(s[axis]).map(|(a, b)| a + b);
        }
        if xs.len() == 1 {
            return Ok(xs[0]);
        }
        let mut shape = first;
        shape[axis] = total;
        Ok(self.push(Op::Concat { axis }, xs.to_vec(), dtype, shape))
    }

    pub fn slice(
        &mut self,
        x: ValueId,
        axis: usize,
        start: usize,
        stop: usize,
        step: usize,
    ) -> GResult<ValueId> {
        let from = self.shape(x).clone();
        if axis >= from.len() || step == 0 || stop < start {
            return err(format!("bad slice {start}:{stop}:{step} on axis {axis}"));
        }
        if let Some(d) = from[axis] {
            if stop > d {
                return err(format!("slice stop {stop} beyond dimension {d}"));
            }
            if start == 0 && stop == d && step == 1 {
                return Ok(x);
            }
        }
        let mut shape = from;
        shape[axis] = Some((stop - start).div_ceil(step));
        let dtype = self.dtype(x);
        Ok(self.push(
            Op::Slice {
                axis,
                start,
                stop,
                step,
            },
            vec![x],
            dtype,
            shape,
        ))
    }

    pub fn reverse(&mut self, x: ValueId, axis: usize) -> GResult<ValueId> {
        let shape = self.shape(x).clone();
        if axis >= shape.len() {
            return err(format!(
                "reverse axis {axis} out of range for rank {}",
                shape.len()
            ));
        }
        if shape[axis] == Some(1) {
            return Ok(x);
        }
        let dtype = self.dtype(x);
        Ok(self.push(Op::Reverse { axis }, vec![x], dtype, shape))
    }

    pub fn reduce(
        &mut self,
        op: ReduceOp,
        x: ValueId,
        axes: Vec<usize>,
        keep_dims: bool,
    ) -> GResult<ValueId> {
        self.expect_float(x, &format!("Reduce{op:?}"))?;
        let from = self.shape(x).clone();
        let mut axes = axes;
        axes.sort_unstable();
        axes.dedup();
        if axes.iter().any(|&a| a >= from.len()) {
            return err(format!(
                "reduce axes {axes:?} out of range for rank {}",
                from.len()
            ));
        }
        let shape = from
            .iter()
            .enumerate()
            .filter_map(|(i, &d)| match (axes.contains(&i), keep_dims) {
                (false, _) => Some(d),
                (true, true) => Some(Some(1)),
                (true, false) => None,
            })
            .collect();
        Ok(self.push(
            Op::Reduce {
                op,
                axes,
                keep_dims,
            },
            vec![x],
            DType::F32,
            shape,
        ))
    }

    pub fn convert(&mut self, x: ValueId, to: DType) -> GResult<ValueId> {
        if self.dtype(x) == to {
            return Ok(x);
        }
        let shape = self.shape(x).clone();
        Ok(self.push(Op::Convert { to }, vec![x], to, shape))
    }

    pub fn broadcast_like(&mut self, x: ValueId, like: ValueId) -> GResult<ValueId> {
        let shape = broadcast_shapes(self.shape(x), self.shape(like))?;
        if &shape == self.shape(x) && !shape.iter().any(|d| d.is_none()) {
            return Ok(x);
        }
        let dtype = self.dtype(x);
        Ok(self.push(Op::BroadcastLike, vec![x, like], dtype, shape))
    }

    /// Insert a size-1 axis at `axis` (a reshape).
    pub fn expand_dims(&mut self, x: ValueId, axis: usize) -> GResult<ValueId> {
        let mut shape = self.shape(x).clone();
        if axis > shape.len() {
            return err(format!("expand_dims axis {axis} out of range"));
        }
        shape.insert(axis, Some(1));
        self.reshape(x, shape)
    }

    /// Remove size-1 axes (a reshape).
    pub fn squeeze(&mut self, x: ValueId, axes: &[usize]) -> GResult<ValueId> {
        let from = self.shape(x).clone();
        for &a in axes {
            if from.get(a).copied().flatten() != Some(1) {
                return err(format!(
                    "cannot squeeze axis {a} of shape {}",
                    shape::fmt(&from)
                ));
            }
        }
        let shape = from
            .iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, &d)| d)
            .collect();
        self.reshape(x, shape)
    }
}
