//! Reference evaluation helpers shared by the element-wise primitives: NumPy broadcasting of
//! f64 arrays.

use super::Array;
use ndarray::{IxDyn, Zip};

/// The broadcast shape of concrete shapes, NumPy rules.
pub fn broadcast_shape(shapes: &[&[usize]]) -> Result<Vec<usize>, String> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; rank];
    for s in shapes {
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[rank - s.len() + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(format!("shapes {shapes:?} do not broadcast"));
            }
        }
    }
    Ok(out)
}

/// `f(a, b)` element by element, NumPy broadcasting.
pub fn zip2(a: &Array, b: &Array, f: impl Fn(f64, f64) -> f64) -> Result<Array, String> {
    let shape = IxDyn(&broadcast_shape(&[a.shape(), b.shape()])?);
    let (av, bv) = (
        a.broadcast(shape.clone()).ok_or("broadcast failed")?,
        b.broadcast(shape).ok_or("broadcast failed")?,
    );
    Ok(Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y)))
}

/// `f(a, b, c)` element by element, NumPy broadcasting.
pub fn zip3(
    a: &Array,
    b: &Array,
    c: &Array,
    f: impl Fn(f64, f64, f64) -> f64,
) -> Result<Array, String> {
    let shape = IxDyn(&broadcast_shape(&[a.shape(), b.shape(), c.shape()])?);
    let (av, bv, cv) = (
        a.broadcast(shape.clone()).ok_or("broadcast failed")?,
        b.broadcast(shape.clone()).ok_or("broadcast failed")?,
        c.broadcast(shape).ok_or("broadcast failed")?,
    );
    Ok(Zip::from(&av)
        .and(&bv)
        .and(&cv)
        .map_collect(|&x, &y, &z| f(x, y, z)))
}

/// Booleans as the interpreter holds them.
pub fn bool01(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}
