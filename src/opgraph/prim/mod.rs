//! The primitives. Each file holds everything about one primitive (or a small family): its
//! shape rule, its reference value in f64, its OpenVINO layers, its JVP rule, its transpose
//! rule (linear primitives) or the statement that it has none, its batch-axis rule and its
//! local simplifications, with its finite-difference tests beside it. JAX keeps its
//! primitives the same way (`jax/_src/lax/lax.py`); so does tract (`core/src/ops/`).
//!
//! Adding a primitive: one new file implementing [`Primitive`] and one line in the
//! `primitives!` list below. The compiler then checks that every rule is there; no pass has a
//! catch-all arm that could let a new primitive through unexamined.

mod ad;
mod batch;
pub mod outer;
pub mod taylor;
mod values;
pub mod window;

pub use ad::{inverse_perm, walk, Jvp, Lin, Tan};
pub use batch::Batch;
pub use taylor::{Series, Taylor};

use super::{DType, GResult, OpGraph, Shape, ValueId};
use crate::ir::{LayerCx, PortRef};
use std::fmt;
use std::hash::{Hash, Hasher};

/// Values of the reference interpreter.
pub type Array = ndarray::ArrayD<f64>;

/// The rules every primitive provides.
pub trait Primitive {
    /// A short description for messages: `MatMul`, `Reshape [?,3]`.
    fn label(&self) -> String;

    /// How many inputs it takes.
    fn arity(&self) -> Arity;

    /// The shape rule: the output's element type and shape from the inputs'.
    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String>;

    /// The reference value in f64 (booleans are 0/1), which defines what the primitive means.
    fn eval(&self, args: &[&Array]) -> Result<Array, String>;

    /// The OpenVINO layers that compute it, fed by `ins`; returns the port of the value.
    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef;

    /// The JVP rule: the tangent of node `y` (this primitive) from its inputs' tangents `tin`
    /// (`None` is a symbolic zero; not all are zero).
    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan>;

    /// The Taylor rule: the series of node `y` (this primitive) along the directions, from its
    /// inputs' series `tin` (see `taylor.rs`; an empty series is zero, not all are).
    fn taylor(&self, cx: &mut Taylor, y: ValueId, tin: &[Series]) -> GResult<Series>;

    /// The transpose rule of a linear primitive: for cotangent `ct` of node `y`, the
    /// contributions to the inputs marked `linear`, as (input position, cotangent). `None`
    /// when the primitive is not linear in those inputs.
    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>>;

    /// The batch rule: which axis of the output holds the samples, given where the inputs
    /// hold them (`None`: the input does not depend on any sample); an error saying why when
    /// the primitive mixes samples.
    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String>;

    /// A local simplification: an input that already is the value, or a cheaper primitive.
    fn simplify(&self, g: &OpGraph, ins: &[ValueId]) -> Option<Rewrite>;

    /// Moving a transpose past this op (`opgraph/sink.rs`): when every input is transposed by
    /// `perm` (output axis `i` is input axis `perm[i]`), `Some((q, out))` such that this op of
    /// the transposed inputs equals `q` of the inputs transposed by `out`. Element-wise ops
    /// answer themselves (`elementwise_sinks!();`), axis ops the permuted axes, ops that
    /// need a layout `None` (`no_transpose_sinking!();`).
    fn sink_transpose(&self, perm: &[usize]) -> Option<(Prim, Vec<usize>)>;
}

/// What [`Primitive::simplify`] can answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Rewrite {
    /// Input `k` already is the value.
    Input(usize),
    /// Another existing value already is the value (a slice of one part of a concat).
    Value(ValueId),
    /// The same value as another primitive on other inputs.
    Prim(Prim, Vec<ValueId>),
}

/// The number of inputs a primitive takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    Exactly(usize),
    AtLeast(usize),
}

impl Arity {
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exactly(k) => n == k,
            Arity::AtLeast(k) => n >= k,
        }
    }
}

impl fmt::Display for Arity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arity::Exactly(k) => write!(f, "{k} input(s)"),
            Arity::AtLeast(k) => write!(f, "at least {k} input(s)"),
        }
    }
}

/// An f32 attribute that takes part in equality and hashing by its bits, so primitives with
/// float parameters can be compared and merged by CSE.
#[derive(Clone, Copy, Debug)]
pub struct F32(pub f32);

impl PartialEq for F32 {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for F32 {}

impl Hash for F32 {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

/// The element type of input `k`, when it must be f32.
pub(crate) fn expect_f32(ins: &[(DType, &Shape)], what: &str) -> Result<(), String> {
    match ins.iter().find(|(d, _)| *d != DType::F32) {
        Some((d, _)) => Err(format!("{what} needs f32 inputs, got {d:?}")),
        None => Ok(()),
    }
}

/// An axis of a rank-`rank` value, checked.
pub(crate) fn check_axis(axis: usize, rank: usize, what: &str) -> Result<(), String> {
    if axis >= rank {
        return Err(format!("{what} axis {axis} out of range for rank {rank}"));
    }
    Ok(())
}

/// The transpose rule of a primitive that is not linear in any input: `not_linear!();` in its
/// `impl Primitive` (a statement, not a default: every primitive still says it).
macro_rules! not_linear {
    () => {
        fn transpose(
            &self,
            _cx: &mut $crate::opgraph::prim::Lin,
            _y: $crate::opgraph::ValueId,
            _ct: $crate::opgraph::ValueId,
            _linear: &[bool],
        ) -> $crate::opgraph::GResult<Option<Vec<(usize, $crate::opgraph::ValueId)>>> {
            Ok(None)
        }
    };
}

/// The Taylor rule of a primitive that is linear in the inputs that carry series (or, like a
/// max or a select, linear once the primal fixes which input wins): every order goes through
/// the primitive's own JVP rule. `linear_taylor!();` in its `impl Primitive`.
macro_rules! linear_taylor {
    () => {
        fn taylor(
            &self,
            cx: &mut $crate::opgraph::prim::Taylor,
            y: $crate::opgraph::ValueId,
            tin: &[$crate::opgraph::prim::Series],
        ) -> $crate::opgraph::GResult<$crate::opgraph::prim::Series> {
            cx.each_order(&self.clone().into(), y, tin)
        }
    };
}

/// The simplification rule of a primitive that has none: `no_simplification!();`.
macro_rules! no_simplification {
    () => {
        fn simplify(
            &self,
            _g: &$crate::opgraph::OpGraph,
            _ins: &[$crate::opgraph::ValueId],
        ) -> Option<$crate::opgraph::prim::Rewrite> {
            None
        }
    };
}

/// The transpose-sinking rule of an element-wise primitive: `elementwise_sinks!();`.
macro_rules! elementwise_sinks {
    () => {
        fn sink_transpose(
            &self,
            perm: &[usize],
        ) -> Option<($crate::opgraph::prim::Prim, Vec<usize>)> {
            Some((self.clone().into(), perm.to_vec()))
        }
    };
}

/// The transpose-sinking rule of a primitive that works along one `axis` (a field):
/// the same op along the input axis the transposed one came from. `one_axis_sinks!();`.
macro_rules! one_axis_sinks {
    () => {
        fn sink_transpose(
            &self,
            perm: &[usize],
        ) -> Option<($crate::opgraph::prim::Prim, Vec<usize>)> {
            let mut q = Clone::clone(self);
            q.axis = *perm.get(self.axis)?;
            Some((q.into(), perm.to_vec()))
        }
    };
}

/// The transpose-sinking rule of a primitive a transpose cannot move past:
/// `no_transpose_sinking!();`.
macro_rules! no_transpose_sinking {
    () => {
        fn sink_transpose(
            &self,
            _perm: &[usize],
        ) -> Option<($crate::opgraph::prim::Prim, Vec<usize>)> {
            None
        }
    };
}

macro_rules! primitives {
    ($($(#[$doc:meta])* $variant:ident($module:ident :: $ty:ident)),* $(,)?) => {
        $(mod $module; pub use $module::$ty;)*

        /// Every primitive: the closed set the passes dispatch over.
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub enum Prim {
            $($(#[$doc])* $variant($ty)),*
        }

        $(impl From<$ty> for Prim {
            fn from(p: $ty) -> Self {
                Prim::$variant(p)
            }
        })*

        impl fmt::Debug for Prim {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self { $(Prim::$variant(p) => fmt::Debug::fmt(p, f)),* }
            }
        }

        impl Primitive for Prim {
            fn label(&self) -> String {
                match self { $(Prim::$variant(p) => p.label()),* }
            }
            fn arity(&self) -> Arity {
                match self { $(Prim::$variant(p) => p.arity()),* }
            }
            fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
                match self { $(Prim::$variant(p) => p.infer(ins)),* }
            }
            fn eval(&self, args: &[&Array]) -> Result<Array, String> {
                match self { $(Prim::$variant(p) => p.eval(args)),* }
            }
            fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
                match self { $(Prim::$variant(p) => p.emit(cx, ins)),* }
            }
            fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
                match self { $(Prim::$variant(p) => p.jvp(cx, y, tin)),* }
            }
            fn taylor(&self, cx: &mut Taylor, y: ValueId, tin: &[Series]) -> GResult<Series> {
                match self { $(Prim::$variant(p) => p.taylor(cx, y, tin)),* }
            }
            fn transpose(
                &self,
                cx: &mut Lin,
                y: ValueId,
                ct: ValueId,
                linear: &[bool],
            ) -> GResult<Option<Vec<(usize, ValueId)>>> {
                match self { $(Prim::$variant(p) => p.transpose(cx, y, ct, linear)),* }
            }
            fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
                match self { $(Prim::$variant(p) => p.batch_axis(b)),* }
            }
            fn simplify(&self, g: &OpGraph, ins: &[ValueId]) -> Option<Rewrite> {
                match self { $(Prim::$variant(p) => p.simplify(g, ins)),* }
            }
            fn sink_transpose(&self, perm: &[usize]) -> Option<(Prim, Vec<usize>)> {
                match self { $(Prim::$variant(p) => p.sink_transpose(perm)),* }
            }
        }
    };
}

primitives! {
    /// Element-wise functions of one f32 value.
    Unary(unary::UnaryOp),
    /// Element-wise arithmetic of two f32 values, NumPy broadcasting.
    Binary(binary::BinaryOp),
    /// Element-wise comparisons: f32 x f32 -> bool.
    Compare(compare::CompareOp),
    /// Floating-point classification: f32 -> bool.
    Classify(classify::ClassifyOp),
    /// `cond ? a : b`, NumPy broadcasting.
    Select(select::Select),
    /// NumPy `matmul` (rank >= 2 both sides, leading dims broadcast).
    MatMul(matmul::MatMul),
    Reshape(reshape::Reshape),
    Transpose(transpose::Transpose),
    Tile(tile::Tile),
    Concat(concat::Concat),
    Slice(slice::Slice),
    Reverse(reverse::Reverse),
    Reduce(reduce::Reduce),
    Convert(convert::Convert),
    BroadcastLike(broadcast_like::BroadcastLike),
    /// Activation functions OpenVINO has as single operations (Relu, Elu, Gelu, ...).
    Activation(activation::Activation),
    /// Softmax and log-softmax along one axis.
    Softmax(softmax::Softmax),
    /// `jax.image.resize` along one axis (nearest, or a kernel's weight matrix).
    Resize(resize::Resize),
    /// `jnp.take`: a gather along one axis with integer indices (JAX's fill mode).
    Take(take::Take),
    /// `jnp.take_along_axis`.
    TakeAlong(take_along::TakeAlong),
    /// Cumulative sum along one axis.
    Cumsum(cumsum::Cumsum),
    /// Indices of the k largest or smallest entries (argmax, argmin, argsort).
    TopKIndices(topk::TopKIndices),
    /// Constant padding (negative counts crop).
    Pad(pad::Pad),
    /// Convolution and grouped convolution, channels first.
    Conv(conv::Conv),
    /// The transposed convolution (backprop data), the transpose of `Conv`.
    ConvTranspose(conv_transpose::ConvTranspose),
    /// Average pooling over the valid cells of each window.
    AvgPool(avg_pool::AvgPool),
    MaxPool(max_pool::MaxPool),
    /// The tangent at the first argmax of each max-pooling window.
    PoolGather(pool_gather::PoolGather),
    /// The transpose of `PoolGather`: a scatter-add to the argmax positions.
    PoolScatter(pool_scatter::PoolScatter),
}

pub use resize::Method as ResizeMethod;

pub use reduce::ReduceOp;
pub use take::one_hot;
pub use transpose::{compose_perms, is_identity_perm};
