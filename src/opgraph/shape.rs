//! Shapes with optional dynamic dimensions and NumPy broadcasting.

use super::{GResult, GraphError};

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

/// The element count, when every dimension is known.
pub fn num_elements(s: &[Dim]) -> Option<usize> {
    s.iter().copied().product()
}

/// NumPy broadcasting of two shapes. A dynamic dimension against 1 or another dynamic one stays
/// dynamic; against a known size > 1 it takes that size.
pub fn broadcast_shapes(a: &[Dim], b: &[Dim]) -> GResult<Shape> {
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
            _ => Err(GraphError(format!(
                "shapes {} and {} do not broadcast",
                fmt(a),
                fmt(b)
            ))),
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
}
