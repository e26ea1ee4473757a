//! Flatten, Reshape, Permute, RepeatVector.

use super::call::LayerCall;
use super::LResult;
use crate::opgraph::{OpGraph, Shape, ValueId};
use crate::tensor::{infer_unknown, num_elements};

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
    if shape.is_empty() {
        return Err(lc.error("Flatten needs an input with a batch axis"));
    }
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

/// `prefix` followed by `target`, whose one -1 is inferred from `rest`'s size (the rule of
/// `tensor::infer_unknown`).
pub fn resolve_target(
    prefix: &[Option<usize>],
    rest: &[Option<usize>],
    target: &[i64],
) -> Result<Shape, String> {
    if target.iter().any(|&d| d < -1) || target.iter().filter(|&&d| d == -1).count() > 1 {
        return Err(format!("bad target shape {target:?}"));
    }
    let dims: Shape = target.iter().map(|&d| usize::try_from(d).ok()).collect();
    let total = num_elements(rest)
        .ok_or_else(|| format!("cannot reshape an input of unknown size to {target:?}"))?;
    let resolved =
        infer_unknown(&dims, total).map_err(|e| format!("target shape {target:?}: {e}"))?;
    Ok(prefix
        .iter()
        .copied()
        .chain(resolved.into_iter().map(Some))
        .collect())
}

/// `dims` are 1-based permutations of the non-batch axes.
pub fn permute(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let dims = lc
        .cfg_ints("dims")?
        .ok_or_else(|| lc.error("config has no 'dims'"))?;
    let mut perm = vec![0usize];
    for d in dims {
        match usize::try_from(d) {
            Ok(d) if d >= 1 => perm.push(d),
            _ => return Err(lc.error(format!("bad Permute dims entry {d}"))),
        }
    }
    Ok(vec![g.transpose(x, perm)?])
}

/// `[B, d] -> [B, n, d]`.
pub fn repeat_vector(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let n = lc
        .cfg_i64("n")?
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| lc.error("config has no 'n' (a count of at least 0)"))?;
    if g.rank(x) != 2 {
        return Err(lc.error("RepeatVector needs a rank-2 input"));
    }
    let x3 = g.expand_dims(x, 1)?;
    Ok(vec![g.tile(x3, vec![1, n, 1])?])
}

/// UpSampling1D/2D/3D with nearest neighbours: each spatial axis repeated `size` times
/// (`ops.repeat`). UpSampling2D's other interpolations are resizes, not repeats.
pub fn up_sampling(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let rank = g.rank(x);
    if rank < 3 {
        return Err(lc.error(format!("needs an input of rank 3 or more, got {rank}")));
    }
    match lc.cfg("interpolation").and_then(|v| v.as_str()) {
        None | Some("nearest") => {}
        Some(other) => {
            return Err(lc.error(format!(
                "unsupported: interpolation '{other}' (only 'nearest')"
            )))
        }
    }
    let sizes = super::convolutional::spatial_ints(lc, "size", rank - 2, 2)?;
    let first = if super::convolutional::channels_first(lc)? {
        2
    } else {
        1
    };
    let mut y = x;
    for (k, &s) in sizes.iter().enumerate() {
        y = repeat(g, y, first + k, s)?;
    }
    Ok(vec![y])
}

/// Every element of axis `a` repeated `s` times in place: `[.., n, ..] -> [.., n s, ..]`.
fn repeat(g: &mut OpGraph, x: ValueId, a: usize, s: usize) -> LResult<ValueId> {
    if s == 1 {
        return Ok(x);
    }
    let e = g.expand_dims(x, a + 1)?;
    let mut reps = vec![1; g.rank(e)];
    reps[a + 1] = s;
    let t = g.tile(e, reps)?;
    let mut shape = g.shape(x).clone();
    shape[a] = shape[a].map(|n| n * s);
    Ok(g.reshape(t, shape)?)
}
