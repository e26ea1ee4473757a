//! Activation functions OpenVINO computes as single operations (Relu, Clamp, Elu, Selu, Gelu,
//! Swish, HSigmoid, HSwish, Mish, SoftSign, PRelu). Emitting them whole is what makes the
//! forward model fast; their meaning and their derivatives are JAX's: each one has a
//! decomposition into simpler primitives written as `jax.nn` writes the function, and the
//! JVP rule differentiates that decomposition (so `relu` passes the tangent where `x > 0`,
//! `relu6` where `0 < x < 6`, clip splits it at ties, as in JAX).

use super::unary::erf;
use super::{expect_f32, Arity, Array, Batch, Jvp, Primitive, Series, Tan, Taylor, F32};
use crate::ir::{LayerCx, PortRef};
use crate::opgraph::{
    BinaryOp, CompareOp, DType, GResult, OpGraph, Shape, Tensor, UnaryOp, ValueId,
};

/// Keras' (and JAX's) selu constants.
pub const SELU_ALPHA: f64 = 1.673_263_242_354_377_2;
pub const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `max(x, 0)`; tangent where `x > 0`.
    Relu,
    /// `min(max(x, 0), 6)`; tangent where `0 < x < 6`.
    Relu6,
    /// `where(x >= 0, x, slope * x)`.
    LeakyRelu(F32),
    /// `where(x > 0, x, alpha * expm1(x))`.
    Elu(F32),
    /// `scale * elu(x, alpha)` with Keras' constants.
    Selu,
    /// `x * Phi(x)`: exact (erf) or the tanh approximation.
    Gelu { approximate: bool },
    /// `x * sigmoid(x)`.
    Silu,
    /// `relu6(x + 3) / 6`.
    HardSigmoid,
    /// `x * hard_sigmoid(x)`.
    HardSilu,
    /// `x * tanh(softplus(x))`.
    Mish,
    /// `x / (1 + |x|)`.
    SoftSign,
    /// `min(max(x, lo), hi)` (`jnp.clip`).
    Clip { lo: F32, hi: F32 },
    /// `where(x > 1, 1, where(x < -1, -1, x))`: the tangent passes on `[-1, 1]`.
    HardTanh,
}

impl Activation {
    /// The value at one point, in f64.
    pub fn apply(self, x: f64) -> f64 {
        // NaN gives 0, as the select form (and OpenVINO's Clamp) does.
        let relu6 = |v: f64| if v > 0.0 { v.min(6.0) } else { 0.0 };
        let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
        match self {
            Activation::Relu => x.max(0.0),
            Activation::Relu6 => relu6(x),
            Activation::LeakyRelu(s) => {
                if x >= 0.0 {
                    x
                } else {
                    f64::from(s.0) * x
                }
            }
            Activation::Elu(a) => elu(x, f64::from(a.0)),
            Activation::Selu => SELU_SCALE * elu(x, SELU_ALPHA),
            Activation::Gelu { approximate: false } => {
                x * (erf(x / std::f64::consts::SQRT_2) + 1.0) / 2.0
            }
            Activation::Gelu { approximate: true } => {
                let k = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * x * (1.0 + (k * (x + 0.044_715 * x.powi(3))).tanh())
            }
            Activation::Silu => x * sigmoid(x),
            Activation::HardSigmoid => relu6(x + 3.0) / 6.0,
            Activation::HardSilu => x * relu6(x + 3.0) / 6.0,
            Activation::Mish => x * UnaryOp::SoftPlus.apply(x).tanh(),
            Activation::SoftSign => x / (1.0 + x.abs()),
            Activation::Clip { lo, hi } => x.max(f64::from(lo.0)).min(f64::from(hi.0)),
            Activation::HardTanh => x.clamp(-1.0, 1.0),
        }
    }

    /// The function written with simpler primitives, as `jax.nn` writes it.
    pub fn decompose(self, g: &mut OpGraph, x: ValueId) -> GResult<ValueId> {
        match self {
            Activation::Relu => relu(g, x),
            Activation::Relu6 => relu6(g, x),
            Activation::LeakyRelu(s) => {
                let zero = g.scalar(0.0);
                let nonneg = g.compare(CompareOp::GreaterEqual, x, zero)?;
                let scaled = g.binary_scalar(BinaryOp::Mul, x, s.0)?;
                g.select(nonneg, x, scaled)
            }
            Activation::Elu(a) => elu_graph(g, x, a.0),
            Activation::Selu => {
                let e = elu_graph(g, x, SELU_ALPHA as f32)?;
                g.binary_scalar(BinaryOp::Mul, e, SELU_SCALE as f32)
            }
            Activation::Gelu { approximate } => gelu(g, x, approximate),
            Activation::Silu => {
                let s = g.unary(UnaryOp::Sigmoid, x)?;
                g.mul(x, s)
            }
            Activation::HardSigmoid => hard_sigmoid(g, x),
            Activation::HardSilu => {
                let h = hard_sigmoid(g, x)?;
                g.mul(x, h)
            }
            Activation::Mish => {
                let sp = g.unary(UnaryOp::SoftPlus, x)?;
                let t = g.unary(UnaryOp::Tanh, sp)?;
                g.mul(x, t)
            }
            Activation::SoftSign => {
                let a = g.unary(UnaryOp::Abs, x)?;
                let d = g.binary_scalar(BinaryOp::Add, a, 1.0)?;
                g.div(x, d)
            }
            Activation::Clip { lo, hi } => {
                let a = g.binary_scalar(BinaryOp::Max, x, lo.0)?;
                g.binary_scalar(BinaryOp::Min, a, hi.0)
            }
            Activation::HardTanh => {
                let lo = g.scalar(-1.0);
                let below = g.compare(CompareOp::Less, x, lo)?;
                let inner = g.select(below, lo, x)?;
                let hi = g.scalar(1.0);
                let above = g.compare(CompareOp::Greater, x, hi)?;
                g.select(above, hi, inner)
            }
        }
    }
}

fn elu(x: f64, alpha: f64) -> f64 {
    if x > 0.0 {
        x
    } else {
        alpha * x.exp_m1()
    }
}

fn attr(v: f64) -> String {
    format!("{v}")
}

impl Primitive for Activation {
    elementwise_sinks!();

    fn label(&self) -> String {
        format!("{self:?}")
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        expect_f32(ins, &self.label())?;
        Ok((DType::F32, ins[0].1.clone()))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        Ok(args[0].mapv(|x| self.apply(x)))
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let x = ins[0];
        let clamp = |cx: &mut LayerCx, lo: f64, hi: f64| {
            let data = vec![("min", attr(lo)), ("max", attr(hi))];
            cx.op("Clamp", "opset1", data, &[x])
        };
        match *self {
            Activation::Relu => cx.op("ReLU", "opset1", vec![], &[x]),
            Activation::Relu6 => clamp(cx, 0.0, 6.0),
            Activation::Clip { lo, hi } => clamp(cx, f64::from(lo.0), f64::from(hi.0)),
            Activation::HardTanh => clamp(cx, -1.0, 1.0),
            Activation::LeakyRelu(s) => {
                let slope = cx.constant(
                    "PRelu/slope",
                    &Tensor::F32(ndarray::arr1(&[s.0]).into_dyn()),
                );
                cx.op("PReLU", "opset1", vec![], &[x, slope])
            }
            Activation::Elu(a) => {
                cx.op("Elu", "opset1", vec![("alpha", attr(f64::from(a.0)))], &[x])
            }
            Activation::Selu => {
                let one = |v: f64| Tensor::F32(ndarray::arr1(&[v as f32]).into_dyn());
                let alpha = cx.constant("Selu/alpha", &one(SELU_ALPHA));
                let lambda = cx.constant("Selu/lambda", &one(SELU_SCALE));
                cx.op("Selu", "opset1", vec![], &[x, alpha, lambda])
            }
            Activation::Gelu { approximate } => {
                let mode = if approximate { "tanh" } else { "erf" };
                cx.op(
                    "Gelu",
                    "opset7",
                    vec![("approximation_mode", mode.into())],
                    &[x],
                )
            }
            Activation::Silu => cx.op("Swish", "opset4", vec![], &[x]),
            Activation::HardSigmoid => cx.op("HSigmoid", "opset5", vec![], &[x]),
            Activation::HardSilu => cx.op("HSwish", "opset4", vec![], &[x]),
            Activation::Mish => cx.op("Mish", "opset4", vec![], &[x]),
            Activation::SoftSign => cx.op("SoftSign", "opset9", vec![], &[x]),
        }
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let f = *self;
        cx.through(y, tin, |g, ins| f.decompose(g, ins[0]))
    }

    fn taylor(&self, cx: &mut Taylor, y: ValueId, tin: &[Series]) -> GResult<Series> {
        let f = *self;
        cx.through(y, tin, |g, ins| f.decompose(g, ins[0]))
    }

    not_linear!();

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        Ok(b.first())
    }

    no_simplification!();
}

/// `select(x > 0, x, 0)`: JAX's relu value and custom JVP.
fn relu(g: &mut OpGraph, x: ValueId) -> GResult<ValueId> {
    let zero = g.scalar(0.0);
    let pos = g.compare(CompareOp::Greater, x, zero)?;
    g.select(pos, x, zero)
}

/// `min(max(x, 0), 6)` with JAX's JVP: the tangent passes only where `0 < x < 6`.
fn relu6(g: &mut OpGraph, x: ValueId) -> GResult<ValueId> {
    let six = g.scalar(6.0);
    let below = g.compare(CompareOp::Less, x, six)?;
    let capped = g.select(below, x, six)?;
    let zero = g.scalar(0.0);
    let pos = g.compare(CompareOp::Greater, x, zero)?;
    g.select(pos, capped, zero)
}

/// `relu6(x + 3) / 6`.
fn hard_sigmoid(g: &mut OpGraph, x: ValueId) -> GResult<ValueId> {
    let s = g.binary_scalar(BinaryOp::Add, x, 3.0)?;
    let r = relu6(g, s)?;
    g.binary_scalar(BinaryOp::Div, r, 6.0)
}

/// `where(x > 0, x, alpha * expm1(where(x > 0, 0, x)))`: the inner select keeps the unused
/// branch finite, as JAX does.
fn elu_graph(g: &mut OpGraph, x: ValueId, alpha: f32) -> GResult<ValueId> {
    let zero = g.scalar(0.0);
    let pos = g.compare(CompareOp::Greater, x, zero)?;
    let safe = g.select(pos, zero, x)?;
    let m1 = g.expm1(safe)?;
    let neg = g.binary_scalar(BinaryOp::Mul, m1, alpha)?;
    g.select(pos, x, neg)
}

/// Exact: `0.5 x (1 + erf(x / sqrt 2))`; approximate: the tanh form of `jax.nn.gelu`.
fn gelu(g: &mut OpGraph, x: ValueId, approximate: bool) -> GResult<ValueId> {
    let inner = if approximate {
        let x2 = g.mul(x, x)?;
        let x3 = g.mul(x2, x)?;
        let c = g.binary_scalar(BinaryOp::Mul, x3, 0.044_715)?;
        let s = g.add(x, c)?;
        let k = (2.0 / std::f64::consts::PI).sqrt() as f32;
        let z = g.binary_scalar(BinaryOp::Mul, s, k)?;
        g.unary(UnaryOp::Tanh, z)?
    } else {
        let z = g.binary_scalar(BinaryOp::Mul, x, std::f64::consts::FRAC_1_SQRT_2 as f32)?;
        g.unary(UnaryOp::Erf, z)?
    };
    let one_plus = g.binary_scalar(BinaryOp::Add, inner, 1.0)?;
    let half_x = g.binary_scalar(BinaryOp::Mul, x, 0.5)?;
    g.mul(half_x, one_plus)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::eval;
    use crate::testing::check_derivatives;
    use ndarray::ArrayD;

    fn all() -> Vec<Activation> {
        vec![
            Activation::Relu,
            Activation::Relu6,
            Activation::LeakyRelu(F32(0.2)),
            Activation::Elu(F32(1.3)),
            Activation::Selu,
            Activation::Gelu { approximate: false },
            Activation::Gelu { approximate: true },
            Activation::Silu,
            Activation::HardSigmoid,
            Activation::HardSilu,
            Activation::Mish,
            Activation::SoftSign,
            Activation::Clip {
                lo: F32(-0.5),
                hi: F32(1.0),
            },
            Activation::HardTanh,
        ]
    }

    /// The fused value equals its decomposition, which is the formula JAX uses, away from
    /// and at the kinks.
    #[test]
    fn the_value_is_the_decomposition() {
        let xs: Vec<f64> = (-40..=40).map(|i| f64::from(i) * 0.25).collect();
        for f in all() {
            let mut g = OpGraph::new();
            let x = g.parameter("x", DType::F32, vec![None]);
            let fused = g.activation(f, x).unwrap();
            let parts = f.decompose(&mut g, x).unwrap();
            g.output("fused", fused);
            g.output("parts", parts);
            let out = eval(
                &g,
                &[ArrayD::from_shape_vec(vec![xs.len()], xs.clone()).unwrap()],
            )
            .unwrap();
            for (a, b) in out[0].iter().zip(out[1].iter()) {
                assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{f:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        for f in all() {
            // Inputs in [0.35, 1.65) scaled to cross 0 and reach past the clip bounds.
            check_derivatives(&format!("{f:?}"), &[3], |g, x| {
                let s = g.binary_scalar(BinaryOp::Mul, x, 3.0).unwrap();
                let c = g.binary_scalar(BinaryOp::Sub, s, 2.9).unwrap();
                g.activation(f, c).unwrap()
            });
        }
    }
}
