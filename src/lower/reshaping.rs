//! Flatten, Reshape, Permute, RepeatVector.

use super::call::LayerCall;
use super::LResult;
use crate::opgraph::{OpGraph, Shape, ValueId};

/// `[B, d1, ..., dn] -> [B, d1*...*dn]` (channels-first inputs are made channels-last first).
pub fn flatten(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let mut x = lc.input()?;
    let rank = g.rank(x);
    if lc.cfg("data_format").and_then(|v| v.as_str()) == Some("channels_first") && rank > 2 {
        let mut perm = vec![0];
        perm.extend(2..rank);
        perm.push(1);
        x = g.transpose(x, perm)?;
    }
    let shape = g.shape(x).clone();
    let rest: Option<usize> = shape[1..].iter().copied().product();
    let target = match (shape[0], rest) {
        (b, Some(n)) => vec![b, Some(n)],
        (Some(b), None) => vec![Some(b), None],
        (None, None) => return Err(lc.error("Flatten needs known non-batch dimensions")),
    };
    Ok(vec![g.reshape(x, target)?])
}

/// `target_shape` excludes the batch axis and may hold one -1.
pub fn reshape(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let target = lc
        .cfg_ints("target_shape")?
        .ok_or_else(|| lc.error("config has no 'target_shape'"))?;
    let shape = g.shape(x).clone();
    let full = resolve_target(&shape[..1], &shape[1..], &target).map_err(|m| lc.error(m))?;
    Ok(vec![g.reshape(x, full)?])
}

/// `prefix` followed by `target` (which may hold one -1, inferred from `rest`'s size).
pub fn resolve_target(
    prefix: &[Option<usize>],
    rest: &[Option<usize>],
    target: &[i64],
) -> Result<Shape, String> {
    let total: Option<usize> = rest.iter().copied().product();
    let known: i64 = target.iter().filter(|&&d| d >= 0).product();
    let mut out: Shape = prefix.to_vec();
    for &d in target {
        out.push(match d {
            -1 => match total {
                Some(t) if known > 0 && t % known as usize == 0 => Some(t / known as usize),
                _ => return Err(format!("cannot infer -1 in target shape {target:?}")),
            },
            d if d >= 0 => Some(d as usize),
            _ => return Err(format!("bad target shape {target:?}")),
        });
    }
    Ok(out)
}

/// `dims` are 1-based permutations of the non-batch axes.
pub fn permute(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let dims = lc
        .cfg_ints("dims")?
        .ok_or_else(|| lc.error("config has no 'dims'"))?;
    let mut perm = vec![0usize];
    for d in dims {
        if d < 1 {
            return Err(lc.error(format!("bad Permute dims entry {d}")));
        }
        perm.push(d as usize);
    }
    Ok(vec![g.transpose(x, perm)?])
}

/// `[B, d] -> [B, n, d]`.
pub fn repeat_vector(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let n = lc
        .cfg_i64("n")?
        .ok_or_else(|| lc.error("config has no 'n'"))? as usize;
    if g.rank(x) != 2 {
        return Err(lc.error("RepeatVector needs a rank-2 input"));
    }
    let x3 = g.expand_dims(x, 1)?;
    Ok(vec![g.tile(x3, vec![1, n, 1])?])
}
