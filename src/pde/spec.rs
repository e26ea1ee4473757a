//! Partial derivative specs (`u/x/x/t`, `u/xy[0]/xy[1]`) and the directions and weights that
//! give a mixed partial from directional derivatives of the same order.

use crate::opgraph::{DType, OpGraph};
use std::collections::BTreeMap;

/// The highest order a `--derivative` may ask for: the cost grows with it (the number of
/// directions of a mixed partial, the terms of Faà di Bruno's formula), and f32 loses about
/// one digit per order.
pub const MAX_ORDER: usize = 6;

/// One scalar input variable: an input and the flat index of one element of its sample.
pub type Var = (String, usize);

/// A parsed `--derivative OUT/IN/IN/...`.
#[derive(Clone, Debug, PartialEq)]
pub struct Partial {
    /// As written: the output is named `derivative/<text>`.
    pub text: String,
    pub output: String,
    /// One entry per differentiation, in order (order = length).
    pub vars: Vec<Var>,
}

impl Partial {
    pub fn order(&self) -> usize {
        self.vars.len()
    }

    /// The distinct variables and how often each occurs (a multi-index).
    pub fn multi_index(&self) -> Vec<(Var, usize)> {
        let mut m: BTreeMap<Var, usize> = BTreeMap::new();
        for v in &self.vars {
            *m.entry(v.clone()).or_default() += 1;
        }
        m.into_iter().collect()
    }
}

/// Parse `spec` against the graph's output and input names.
pub fn parse(spec: &str, g: &OpGraph) -> Result<Partial, String> {
    let mut parts = spec.split('/');
    let output = parts.next().unwrap_or_default().to_string();
    let outputs = g.output_names();
    if !outputs.contains(&output.as_str()) {
        return Err(format!(
            "derivative '{spec}': unknown output '{output}': the model's outputs are {}",
            outputs.join(", ")
        ));
    }
    let (_, y) = g
        .outputs
        .iter()
        .find(|(n, _)| *n == output)
        .expect("listed");
    if g.dtype(*y) != DType::F32 {
        return Err(format!(
            "derivative '{spec}': output '{output}' is not a float tensor: integer outputs are \
             not differentiable"
        ));
    }
    let vars = parts
        .map(|p| parse_var(p, spec, g))
        .collect::<Result<Vec<_>, _>>()?;
    if vars.is_empty() {
        return Err(format!(
            "derivative '{spec}': name at least one input after the output (OUT/IN/IN/...)"
        ));
    }
    if vars.len() > MAX_ORDER {
        return Err(format!(
            "derivative '{spec}': order {} is above the highest supported, {MAX_ORDER}",
            vars.len()
        ));
    }
    Ok(Partial {
        text: spec.to_string(),
        output,
        vars,
    })
}

/// `x` (a one-element input) or `xy[1]` (a flat element of a larger one).
fn parse_var(part: &str, spec: &str, g: &OpGraph) -> Result<Var, String> {
    let (name, index) = match part.split_once('[') {
        Some((n, rest)) => {
            let idx = rest
                .strip_suffix(']')
                .and_then(|i| i.trim().parse::<usize>().ok())
                .ok_or_else(|| format!("derivative '{spec}': bad element index in '{part}'"))?;
            (n, Some(idx))
        }
        None => (part, None),
    };
    let floats: Vec<&str> = g
        .inputs
        .iter()
        .filter(|&&p| g.dtype(p) == DType::F32)
        .map(|&p| g.input_name(p))
        .collect();
    let Some(&p) = g.inputs.iter().find(|&&p| g.input_name(p) == name) else {
        return Err(format!(
            "derivative '{spec}': unknown input '{name}': the model's float inputs are {}",
            floats.join(", ")
        ));
    };
    if g.dtype(p) != DType::F32 {
        return Err(format!(
            "derivative '{spec}': input '{name}' is not a float tensor (the float inputs are {})",
            floats.join(", ")
        ));
    }
    let size = g.shape(p)[1..]
        .iter()
        .copied()
        .product::<Option<usize>>()
        .ok_or_else(|| format!("derivative '{spec}': input '{name}' has a dynamic sample shape"))?;
    match index {
        Some(i) if i < size => Ok((name.to_string(), i)),
        Some(i) => Err(format!(
            "derivative '{spec}': element {i} of input '{name}', which has {size} per sample"
        )),
        None if size == 1 => Ok((name.to_string(), 0)),
        None => Err(format!(
            "derivative '{spec}': input '{name}' has {size} elements per sample: name one, \
             '{name}[0]' to '{name}[{}]'",
            size - 1
        )),
    }
}

/// Directions (integer vectors over the distinct variables of `mi`) and weights with
/// `d^K f / prod dx_v^(j_v) = sum_r w_r D^K_{a_r} f`, `D^K_a` the K-th derivative along `a`.
/// The directions are every `a` with `|a| = K` (Griewank, Utke and Walther, Math. Comp. 2000),
/// divided by their gcd; the weights solve the multinomial expansion
/// `D^K_a f = sum_{|b| = K} K!/b! a^b d^b f` for the unit vector of `j`.
pub fn interpolation(mi: &[usize]) -> Vec<(Vec<usize>, f64)> {
    let k: usize = mi.iter().sum();
    let m = mi.len();
    let set = compositions(k, m);
    let n = set.len();
    // a[i][c] = (K!/b!) a_c^b for monomial b = set[i], direction a = set[c].
    let fact = |x: usize| (1..=x).map(|i| i as f64).product::<f64>();
    let mut a = vec![vec![0.0; n + 1]; n];
    for (i, b) in set.iter().enumerate() {
        let coef = fact(k) / b.iter().map(|&e| fact(e)).product::<f64>();
        for (c, dir) in set.iter().enumerate() {
            a[i][c] = coef
                * dir
                    .iter()
                    .zip(b)
                    .map(|(&d, &e)| (d as f64).powi(e as i32))
                    .product::<f64>();
        }
        a[i][n] = if b.as_slice() == mi { 1.0 } else { 0.0 };
    }
    let w = solve(a);
    set.into_iter()
        .zip(w)
        .filter(|(_, w)| w.abs() > 1e-12)
        .map(|(dir, w)| {
            let d = dir.iter().copied().fold(0, gcd);
            let scaled: Vec<usize> = dir.iter().map(|&x| x / d).collect();
            (scaled, w * (d as f64).powi(k as i32))
        })
        .collect()
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Every vector of `m` non-negative integers summing to `k`.
fn compositions(k: usize, m: usize) -> Vec<Vec<usize>> {
    if m == 1 {
        return vec![vec![k]];
    }
    (0..=k)
        .rev()
        .flat_map(|first| {
            compositions(k - first, m - 1)
                .into_iter()
                .map(move |mut rest| {
                    rest.insert(0, first);
                    rest
                })
        })
        .collect()
}

/// Gauss-Jordan elimination with partial pivoting on an augmented `n x (n+1)` system.
fn solve(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let n = a.len();
    for col in 0..n {
        let piv = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .expect("rows left");
        a.swap(col, piv);
        let p = a[col][col];
        for v in a[col].iter_mut() {
            *v /= p;
        }
        for r in 0..n {
            if r != col {
                let f = a[r][col];
                if f != 0.0 {
                    let pivot_row = a[col].clone();
                    for (v, pv) in a[r].iter_mut().zip(pivot_row) {
                        *v -= f * pv;
                    }
                }
            }
        }
    }
    a.into_iter().map(|row| row[n]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sum_r w_r D^K_{a_r} applied to every monomial x^b must pick out b = j exactly.
    fn check(mi: &[usize]) {
        let k: usize = mi.iter().sum();
        let fact = |x: usize| (1..=x).map(|i| i as f64).product::<f64>();
        for b in compositions(k, mi.len()) {
            let coef = fact(k) / b.iter().map(|&e| fact(e)).product::<f64>();
            let got: f64 = interpolation(mi)
                .iter()
                .map(|(a, w)| {
                    w * coef
                        * a.iter()
                            .zip(&b)
                            .map(|(&d, &e)| (d as f64).powi(e as i32))
                            .product::<f64>()
                })
                .sum();
            let want = if b.as_slice() == mi { 1.0 } else { 0.0 };
            assert!((got - want).abs() < 1e-9, "{mi:?} on {b:?}: {got}");
        }
    }

    #[test]
    fn mixed_partials_come_from_directional_derivatives() {
        for mi in [
            vec![1, 1],
            vec![2, 1],
            vec![1, 2],
            vec![2, 2],
            vec![3, 1],
            vec![1, 1, 1],
            vec![2, 1, 1],
            vec![1, 1, 1, 1],
            vec![4],
        ] {
            check(&mi);
        }
        // f_xy = D2(1,1)/2 - D2(1,0)/2 - D2(0,1)/2.
        let mut w = interpolation(&[1, 1]);
        w.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            w,
            vec![(vec![0, 1], -0.5), (vec![1, 0], -0.5), (vec![1, 1], 0.5)]
        );
        // A pure partial is one direction.
        assert_eq!(interpolation(&[3]), vec![(vec![1], 1.0)]);
    }
}
