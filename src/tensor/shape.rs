//! Shapes with optional dynamic dimensions and NumPy broadcasting.

/// A dimension: `None` is dynamic (unknown until run time, in practice the batch).
pub type Dim = Option<usize>;
pub type Shape = Vec<Dim>;

/// `[?,4,3]`-style text for messages.
pub fn fmt(s: &[Dim]) -> String {
    let dims: Vec<String> = s
        .iter()
        .map(|d| d.map_or("?".to_string(), |v| v.to_string()))
        .collect();
    format!("[{}]", dims.join(","))
}

/// The element count, when every dimension is known and the product fits in `usize`.
pub fn num_elements(s: &[Dim]) -> Option<usize> {
    s.iter()
        .try_fold(1usize, |acc, d| d.and_then(|d| acc.checked_mul(d)))
}

/// The product of the known dimensions; `None` when it overflows `usize`.
pub fn static_product(s: &[Dim]) -> Option<usize> {
    s.iter()
        .flatten()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// `target` with its one unknown dimension (if any) inferred so the element count is `len`:
/// the rule of `reshape(x, (..., -1, ...))`. An error when no dimension fits.
pub fn infer_unknown(target: &[Dim], len: usize) -> Result<Vec<usize>, String> {
    let unknown = target.iter().filter(|d| d.is_none()).count();
    let known = static_product(target).ok_or("the target shape overflows")?;
    let fill = match unknown {
        0 if known == len => 0,
        1 if known > 0 && len % known == 0 => len / known,
        0 | 1 => return Err(format!("cannot reshape {len} elements to {}", fmt(target))),
        _ => {
            return Err(format!(
                "{} has more than one unknown dimension",
                fmt(target)
            ))
        }
    };
    Ok(target.iter().map(|d| d.unwrap_or(fill)).collect())
}

/// NumPy broadcasting of two shapes. A dynamic dimension against 1 or another dynamic one stays
/// dynamic; against a known size > 1 it takes that size.
pub fn broadcast_shapes(a: &[Dim], b: &[Dim]) -> Result<Shape, String> {
    let rank = a.len().max(b.len());
    let pad = |s: &[Dim]| -> Shape {
        let mut v = vec![Some(1); rank - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (a2, b2) = (pad(a), pad(b));
    a2.iter()
        .zip(&b2)
        .map(|(&x, &y)| match (x, y) {
            (Some(1), d) | (d, Some(1)) => Ok(d),
            (None, d) | (d, None) => Ok(d),
            (Some(p), Some(q)) if p == q => Ok(Some(p)),
            _ => Err(format!("shapes {} and {} do not broadcast", fmt(a), fmt(b))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(
            broadcast_shapes(&[None, Some(3)], &[Some(3)]).unwrap(),
            vec![None, Some(3)]
        );
        assert_eq!(
            broadcast_shapes(&[Some(2), Some(1)], &[Some(1), Some(5)]).unwrap(),
            vec![Some(2), Some(5)]
        );
        assert!(broadcast_shapes(&[Some(2)], &[Some(3)]).is_err());
        assert_eq!(broadcast_shapes(&[], &[None]).unwrap(), vec![None]);
    }

    #[test]
    fn the_unknown_dimension_is_inferred_once() {
        assert_eq!(infer_unknown(&[None, Some(3)], 12).unwrap(), vec![4, 3]);
        assert_eq!(infer_unknown(&[Some(2), Some(6)], 12).unwrap(), vec![2, 6]);
        assert!(infer_unknown(&[None, Some(5)], 12).is_err());
        assert!(infer_unknown(&[None, None], 12).is_err());
        assert!(infer_unknown(&[None, Some(0)], 12).is_err());
        assert!(infer_unknown(&[Some(usize::MAX), Some(3)], 12).is_err());
    }

    #[test]
    fn products_do_not_overflow() {
        assert_eq!(num_elements(&[Some(usize::MAX), Some(2)]), None);
        assert_eq!(num_elements(&[Some(3), None]), None);
        assert_eq!(static_product(&[Some(3), None, Some(4)]), Some(12));
    }
}
