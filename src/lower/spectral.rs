//! The spectral ops of `keras.ops` (`keras/src/backend/jax/math.py`): `rfft`, `irfft`, `fft`,
//! `fft2`, `ifft2`, numpy's `norm="backward"` (forward transforms unscaled, inverse ones by
//! `1/n`). Complex values are `(real, imag)` pairs of float tensors; an op with a complex
//! result has two outputs (tensor 0 the real part, 1 the imaginary part), each its own node.
//!
//! With static lengths every transform is a constant real matrix per part, applied along the
//! transformed axis (`OpGraph::contract_axis`, one MatMul each): exact to f32 rounding, linear,
//! and differentiated by the MatMul rules. Against OpenVINO's RDFT for 2048 rows
//! (`bench/resample_dft.py`): the matrices are 2.5-6x faster up to n = 64, about 1.4x at
//! n = 256; RDFT wins at n = 1024 (README, "Resampling and spectral ops").

use super::call::LayerCall;
use super::LResult;
use crate::opgraph::{OpGraph, ValueId};
use ndarray::Array2;
use std::f64::consts::PI;

/// `(cos, sin)` of `2 pi k / n`, with `k` reduced mod `n` first and the quarter turns exact.
fn turn(k: usize, n: usize) -> (f64, f64) {
    let k = k % n;
    match (4 * k) % n == 0 {
        true => match 4 * k / n {
            0 => (1.0, 0.0),
            1 => (0.0, 1.0),
            2 => (-1.0, 0.0),
            _ => (0.0, -1.0),
        },
        false => {
            let a = 2.0 * PI * k as f64 / n as f64;
            (a.cos(), a.sin())
        }
    }
}

/// A `[rows, cols]` f32 matrix from `f(row, col)` in f64.
fn matrix(rows: usize, cols: usize, f: impl Fn(usize, usize) -> f64) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(r, c)| f(r, c) as f32)
}

/// A complex value as its two parts.
type Pair = (ValueId, ValueId);

/// The DFT of length `n` along `axis` of `(re, im)`, forward (`exp(-2 pi i jk/n)`) or inverse
/// (`exp(+2 pi i jk/n) / n`): `Y = X M` with `M = Mr + i Mi`, four real products.
fn dft_axis(g: &mut OpGraph, (a, b): Pair, axis: usize, inverse: bool) -> LResult<Pair> {
    let n = g.shape(a)[axis].expect("a static transformed axis");
    let (sign, scale) = if inverse {
        (1.0, 1.0 / n as f64)
    } else {
        (-1.0, 1.0)
    };
    let mr = matrix(n, n, |j, k| turn(j * k, n).0 * scale);
    let mi = matrix(n, n, |j, k| sign * turn(j * k, n).1 * scale);
    let (ar, ai) = (
        g.contract_axis(a, axis, mr.clone())?,
        g.contract_axis(a, axis, mi.clone())?,
    );
    let (br, bi) = (g.contract_axis(b, axis, mr)?, g.contract_axis(b, axis, mi)?);
    Ok((g.sub(ar, bi)?, g.add(ai, br)?))
}

/// The `(real, imag)` argument of a complex op: one list of two tensors of the same shape,
/// with a static last axis (and the one before it, for the 2-D transforms).
fn pair(g: &OpGraph, lc: &LayerCall, axes: usize) -> LResult<Pair> {
    let [re, im] = lc.all_tensors()[..] else {
        return Err(lc.error("expects a (real, imaginary) pair of tensors"));
    };
    if g.shape(re) != g.shape(im) {
        return Err(lc.error(format!(
            "the real and imaginary parts differ in shape: {} and {}",
            crate::opgraph::shape_fmt(g.shape(re)),
            crate::opgraph::shape_fmt(g.shape(im))
        )));
    }
    let rank = g.rank(re);
    if rank < axes + 1 {
        return Err(lc.error(format!(
            "needs a batch axis and {axes} transformed axis(es), got rank {rank}"
        )));
    }
    for axis in rank - axes..rank {
        lc.static_dim(g, re, axis)?;
    }
    Ok((re, im))
}

/// `fft_length` from the config: `None` when absent or null, else a positive integer.
fn fft_length(lc: &LayerCall) -> LResult<Option<usize>> {
    match lc.cfg_i64("fft_length")? {
        None => Ok(None),
        Some(n) => match usize::try_from(n) {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(lc.error(format!("fft_length {n} must be positive"))),
        },
    }
}

/// `fft((re, im))` over the last axis.
pub fn fft(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = pair(g, lc, 1)?;
    let last = g.rank(x.0) - 1;
    let (re, im) = dft_axis(g, x, last, false)?;
    Ok(vec![re, im])
}

/// `fft2((re, im))` over the last two axes.
pub fn fft2(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    two_d(g, lc, false)
}

/// `ifft2((re, im))` over the last two axes, scaled by `1 / (n1 n2)`.
pub fn ifft2(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    two_d(g, lc, true)
}

fn two_d(g: &mut OpGraph, lc: &LayerCall, inverse: bool) -> LResult<Vec<ValueId>> {
    let x = pair(g, lc, 2)?;
    let last = g.rank(x.0) - 1;
    let y = dft_axis(g, x, last, inverse)?;
    let (re, im) = dft_axis(g, y, last - 1, inverse)?;
    Ok(vec![re, im])
}

/// `rfft(x, fft_length)` over the last axis: the input cropped or zero-padded to
/// `n = fft_length` (default its length), the `n/2 + 1` non-negative frequencies.
pub fn rfft(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let rank = g.rank(x);
    if rank < 2 {
        return Err(lc.error("needs a batch axis and a transformed axis"));
    }
    let len = lc.static_dim(g, x, rank - 1)?;
    let n = fft_length(lc)?.unwrap_or(len);
    let bins = n / 2 + 1;
    // Samples past n are cropped; missing ones are zeros, which contribute nothing.
    let part = |f: fn((f64, f64)) -> f64| {
        matrix(
            len,
            bins,
            |j, k| if j < n { f(turn(j * k, n)) } else { 0.0 },
        )
    };
    let (mr, mi) = (part(|(c, _)| c), part(|(_, s)| -s));
    let re = g.contract_axis(x, rank - 1, mr)?;
    let im = g.contract_axis(x, rank - 1, mi)?;
    Ok(vec![re, im])
}

/// `irfft((re, im), fft_length)` over the last axis: a real signal of length
/// `n = fft_length` (default `2 (bins - 1)`) from bins `0 ..= n/2` (extra bins are dropped,
/// missing ones are zero). As numpy and XLA, the imaginary parts of bin 0 and, for even `n`,
/// bin `n/2` are ignored:
/// `y[t] = (1/n) sum_k c_k (Re X_k cos(2 pi k t/n) - Im X_k sin(2 pi k t/n))`, `c_k = 2` but
/// for those bins, where it is 1.
pub fn irfft(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let (re, im) = pair(g, lc, 1)?;
    let last = g.rank(re) - 1;
    let bins = g.shape(re)[last].expect("checked static");
    let n = match fft_length(lc)? {
        Some(n) => n,
        None if bins >= 2 => 2 * (bins - 1),
        None => {
            return Err(lc
                .error("without fft_length the output length 2 * (bins - 1) would be 0 for 1 bin"))
        }
    };
    let weight = |k: usize| -> f64 {
        match k {
            _ if 2 * k > n => 0.0,
            0 => 1.0,
            _ if 2 * k == n => 1.0,
            _ => 2.0,
        }
    };
    let scale = 1.0 / n as f64;
    let a = matrix(bins, n, |k, t| weight(k) * scale * turn(k * t, n).0);
    let b = matrix(bins, n, |k, t| {
        let w = if k == 0 || 2 * k == n { 0.0 } else { weight(k) };
        -w * scale * turn(k * t, n).1
    });
    let yr = g.contract_axis(re, last, a)?;
    let yi = g.contract_axis(im, last, b)?;
    Ok(vec![g.add(yr, yi)?])
}

#[cfg(test)]
mod tests {
    use super::{dft_axis, turn};
    use crate::opgraph::UnaryOp;
    use crate::testing::{check_derivatives, check_transpose};

    /// The transforms are MatMuls with constant matrices, Subs and Adds: their JVP, transpose
    /// and Taylor rules are those primitives', checked here through a nonlinear chain: a
    /// complex pair from `x`, a 2-D DFT, a square of its parts, the inverse along one axis.
    #[test]
    fn dft_derivatives_match_finite_differences() {
        for inverse in [false, true] {
            let name = format!("dft (inverse {inverse}) of axes 1, 2");
            check_derivatives(&name, &[3, 4], |g, x| {
                let s = g.unary(UnaryOp::Sin, x).unwrap();
                let c = g.unary(UnaryOp::Cos, x).unwrap();
                let (a, b) = dft_axis(g, (s, c), 2, inverse).unwrap();
                let (a, b) = dft_axis(g, (a, b), 1, inverse).unwrap();
                let (a2, b2) = (g.mul(a, a).unwrap(), g.mul(b, b).unwrap());
                let (re, im) = dft_axis(g, (a2, b2), 2, !inverse).unwrap();
                g.add(re, im).unwrap()
            });
        }
    }

    /// Both parts of a DFT are linear in the pair: the transpose rules give its adjoint.
    #[test]
    fn dft_transpose_is_the_adjoint() {
        for inverse in [false, true] {
            check_transpose(&format!("dft (inverse {inverse})"), &[5, 3], |g, t| {
                let z = g
                    .binary_scalar(crate::opgraph::BinaryOp::Mul, t, 0.5)
                    .unwrap();
                let (re, im) = dft_axis(g, (t, z), 1, inverse).unwrap();
                let (re, _) = dft_axis(g, (re, im), 2, inverse).unwrap();
                re
            });
        }
    }

    #[test]
    fn quarter_turns_are_exact() {
        assert_eq!(turn(0, 8), (1.0, 0.0));
        assert_eq!(turn(2, 8), (0.0, 1.0));
        assert_eq!(turn(12, 8), (-1.0, 0.0));
        assert_eq!(turn(6, 8), (0.0, -1.0));
        let (c, s) = turn(1, 6);
        assert!((c - 0.5).abs() < 1e-15 && (s - 0.75f64.sqrt()).abs() < 1e-15);
    }
}
