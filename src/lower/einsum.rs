//! `jnp.einsum` lowered to transposes, reshapes, sums and (batched) matmuls, so that it needs
//! no derivative rule of its own and the CPU plugin gets plain (fused) MatMuls: `EinsumDense`
//! projections become one GEMM with the kernel's output axes merged.
//!
//! Each operand first takes its diagonals (a letter repeated in one operand) and sums the
//! letters nobody else needs; operands are then contracted left to right. A pair contracts
//! as `[batch.., a_lead.., 1.., m, k] @ [batch.., 1.., b_lead.., k, n]`: letters shared and
//! kept are batch axes, shared and not kept are merged into `k`, the trailing static run of
//! each side's own letters is merged into `m` (`n`), and the rest (the model's batch axis
//! among them) stay leading axes, never merged with another axis.

use crate::opgraph::{OpGraph, ReduceOp, Tensor, ValueId};
use ndarray::{ArrayD, IxDyn};

type R<T> = Result<T, String>;

/// An operand: its value and one letter per axis.
#[derive(Clone)]
struct Term {
    v: ValueId,
    letters: Vec<char>,
}

/// `einsum(equation, *operands)`.
pub fn einsum(g: &mut OpGraph, equation: &str, operands: &[ValueId]) -> R<ValueId> {
    let (inputs, output) = parse(g, equation, operands)?;
    let mut terms = Vec::new();
    for (k, &v) in operands.iter().enumerate() {
        let mut needed: Vec<char> = output.clone();
        for (j, other) in inputs.iter().enumerate() {
            if j != k {
                needed.extend(other);
            }
        }
        let t = diagonals(
            g,
            Term {
                v,
                letters: inputs[k].clone(),
            },
        )?;
        terms.push(sum_out(g, t, &needed)?);
    }
    let mut acc = terms.remove(0);
    while !terms.is_empty() {
        let b = terms.remove(0);
        let mut keep: Vec<char> = output.clone();
        keep.extend(terms.iter().flat_map(|t| t.letters.iter().copied()));
        acc = contract(g, acc, b, &keep)?;
    }
    let acc = sum_out(g, acc, &output)?;
    let perm: Vec<usize> = output
        .iter()
        .map(|c| {
            acc.letters
                .iter()
                .position(|l| l == c)
                .ok_or_else(|| format!("output letter '{c}' is in no operand"))
        })
        .collect::<R<_>>()?;
    g.transpose(acc.v, perm).map_err(|e| e.msg)
}

/// The letters of each operand and of the output, `...` expanded into upper-case letters
/// aligned from the right (NumPy's broadcasting of ellipsis axes).
fn parse(g: &OpGraph, equation: &str, operands: &[ValueId]) -> R<(Vec<Vec<char>>, Vec<char>)> {
    let eq: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l.to_string(), Some(r.to_string())),
        None => (eq.clone(), None),
    };
    let specs: Vec<&str> = lhs.split(',').collect();
    if specs.len() != operands.len() {
        return Err(format!(
            "einsum '{equation}' names {} operand(s), {} given",
            specs.len(),
            operands.len()
        ));
    }
    let valid = |s: &str| s.replace("...", "").chars().all(|c| c.is_ascii_lowercase());
    if !specs.iter().all(|s| valid(s)) || rhs.as_deref().is_some_and(|r| !valid(r)) {
        return Err(format!("unsupported einsum equation '{equation}'"));
    }
    let mut ell_rank = 0;
    let mut ins = Vec::new();
    for (s, &v) in specs.iter().zip(operands) {
        let named = s.replace("...", "").chars().count();
        let rank = g.rank(v);
        let e = if s.contains("...") {
            rank.checked_sub(named)
                .ok_or_else(|| format!("einsum '{equation}': operand of rank {rank}"))?
        } else if named != rank {
            return Err(format!(
                "einsum '{equation}': '{s}' for an operand of rank {rank}"
            ));
        } else {
            0
        };
        ell_rank = ell_rank.max(e);
        ins.push((s.to_string(), e));
    }
    let ell: Vec<char> = (0..ell_rank).map(|i| (b'A' + i as u8) as char).collect();
    let expand = |s: &str, e: usize| -> Vec<char> {
        match s.split_once("...") {
            Some((a, b)) => a
                .chars()
                .chain(ell[ell_rank - e..].iter().copied())
                .chain(b.chars())
                .collect(),
            None => s.chars().collect(),
        }
    };
    let inputs: Vec<Vec<char>> = ins.iter().map(|(s, e)| expand(s, *e)).collect();
    let output = match rhs {
        Some(r) => expand(&r, ell_rank),
        None => {
            // Implicit mode: the ellipsis, then letters seen once, sorted.
            let mut once: Vec<char> = ('a'..='z')
                .filter(|c| inputs.iter().flatten().filter(|x| *x == c).count() == 1)
                .collect();
            let mut out = ell.clone();
            out.append(&mut once);
            out
        }
    };
    Ok((inputs, output))
}

/// Repeated letters of one operand: keep the diagonal (`x * eye`, summed over the repeat).
fn diagonals(g: &mut OpGraph, mut t: Term) -> R<Term> {
    loop {
        let dup = (0..t.letters.len()).find_map(|i| {
            (i + 1..t.letters.len())
                .find(|&j| t.letters[j] == t.letters[i])
                .map(|j| (i, j))
        });
        let Some((i, j)) = dup else { return Ok(t) };
        let n = g.shape(t.v)[i].ok_or("a diagonal of unknown size")?;
        let r = t.letters.len();
        let mut shape = vec![1; r];
        shape[i] = n;
        shape[j] = n;
        let eye = ArrayD::from_shape_fn(IxDyn(&shape), |ix| f32::from(u8::from(ix[i] == ix[j])));
        let e = g.constant(Tensor::F32(eye));
        let m = g.mul(t.v, e).map_err(|e| e.msg)?;
        t.v = g
            .reduce(ReduceOp::Sum, m, vec![j], false)
            .map_err(|e| e.msg)?;
        t.letters.remove(j);
    }
}

/// Sum the letters of `t` that are not in `keep`.
fn sum_out(g: &mut OpGraph, t: Term, keep: &[char]) -> R<Term> {
    let axes: Vec<usize> = (0..t.letters.len())
        .filter(|&i| !keep.contains(&t.letters[i]))
        .collect();
    if axes.is_empty() {
        return Ok(t);
    }
    let v = g
        .reduce(ReduceOp::Sum, t.v, axes.clone(), false)
        .map_err(|e| e.msg)?;
    let letters = (0..t.letters.len())
        .filter(|i| !axes.contains(i))
        .map(|i| t.letters[i])
        .collect();
    Ok(Term { v, letters })
}

/// The trailing run of letters of `own` with static sizes in `t` (merged into one axis).
fn trailing_static(g: &OpGraph, t: &Term, own: &[char]) -> usize {
    own.iter()
        .rev()
        .take_while(|c| {
            let i = t.letters.iter().position(|l| l == *c).expect("own letter");
            g.shape(t.v)[i].is_some()
        })
        .count()
}

fn size_of(g: &OpGraph, t: &Term, c: char) -> Option<usize> {
    let i = t
        .letters
        .iter()
        .position(|l| *l == c)
        .expect("a letter of the term");
    g.shape(t.v)[i]
}

/// Contract `a` and `b` over their shared letters not in `keep`.
fn contract(g: &mut OpGraph, a: Term, b: Term, keep: &[char]) -> R<Term> {
    let mut keep_ab: Vec<char> = keep.to_vec();
    keep_ab.extend(b.letters.iter().copied());
    let a = sum_out(g, a, &keep_ab)?;
    let mut keep_ba: Vec<char> = keep.to_vec();
    keep_ba.extend(a.letters.iter().copied());
    let b = sum_out(g, b, &keep_ba)?;
    let shared: Vec<char> = a
        .letters
        .iter()
        .filter(|c| b.letters.contains(c))
        .copied()
        .collect();
    let batch: Vec<char> = shared
        .iter()
        .filter(|c| keep.contains(c))
        .copied()
        .collect();
    let red: Vec<char> = shared
        .iter()
        .filter(|c| !keep.contains(c))
        .copied()
        .collect();
    let a_own: Vec<char> = a
        .letters
        .iter()
        .filter(|c| !b.letters.contains(c))
        .copied()
        .collect();
    let b_own: Vec<char> = b
        .letters
        .iter()
        .filter(|c| !a.letters.contains(c))
        .copied()
        .collect();
    let (am, bn) = (
        trailing_static(g, &a, &a_own),
        trailing_static(g, &b, &b_own),
    );
    let (a_lead, a_m) = a_own.split_at(a_own.len() - am);
    let (b_lead, b_n) = b_own.split_at(b_own.len() - bn);
    let prod = |g: &OpGraph, t: &Term, cs: &[char]| -> Option<usize> {
        cs.iter().map(|&c| size_of(g, t, c)).product()
    };
    let k = prod(g, &a, &red);
    let m = prod(g, &a, a_m).ok_or("static by construction")?;
    let n = prod(g, &b, b_n).ok_or("static by construction")?;
    // a -> [batch, a_lead, 1 per b_lead, m, k]
    let arrange = |g: &mut OpGraph,
                   t: &Term,
                   first: &[char],
                   ones_before: usize,
                   lead: &[char],
                   ones_after: usize,
                   tail: Vec<Option<usize>>,
                   order_tail: &[char]|
     -> R<ValueId> {
        let order: Vec<char> = first
            .iter()
            .chain(lead)
            .chain(order_tail)
            .copied()
            .collect();
        let perm: Vec<usize> = order
            .iter()
            .map(|c| t.letters.iter().position(|l| l == c).expect("letter"))
            .collect();
        let moved = g.transpose(t.v, perm).map_err(|e| e.msg)?;
        let mut shape: Vec<Option<usize>> = first.iter().map(|&c| size_of(g, t, c)).collect();
        shape.extend(std::iter::repeat_n(Some(1), ones_before));
        shape.extend(lead.iter().map(|&c| size_of(g, t, c)));
        shape.extend(std::iter::repeat_n(Some(1), ones_after));
        shape.extend(tail);
        g.reshape(moved, shape).map_err(|e| e.msg)
    };
    let a_tail: Vec<char> = a_m.iter().chain(&red).copied().collect();
    let av = arrange(
        g,
        &a,
        &batch,
        0,
        a_lead,
        b_lead.len(),
        vec![Some(m), k],
        &a_tail,
    )?;
    let b_tail: Vec<char> = red.iter().chain(b_n).copied().collect();
    let bv = arrange(
        g,
        &b,
        &batch,
        a_lead.len(),
        b_lead,
        0,
        vec![k, Some(n)],
        &b_tail,
    )?;
    let y = g.matmul(av, bv).map_err(|e| e.msg)?;
    // [batch, a_lead, b_lead, m, n] -> split m and n back into their letters.
    let mut letters: Vec<char> = batch.clone();
    letters.extend(a_lead);
    letters.extend(b_lead);
    let mut shape: Vec<Option<usize>> = g.shape(y)[..letters.len()].to_vec();
    letters.extend(a_m);
    shape.extend(a_m.iter().map(|&c| size_of(g, &a, c)));
    letters.extend(b_n);
    shape.extend(b_n.iter().map(|&c| size_of(g, &b, c)));
    let v = g.reshape(y, shape).map_err(|e| e.msg)?;
    Ok(Term { v, letters })
}

#[cfg(test)]
mod tests {
    use super::einsum;
    use crate::interp::eval;
    use crate::opgraph::{DType, OpGraph};
    use crate::testing::{check_derivatives, inputs};
    use ndarray::{ArrayD, IxDyn};

    /// Reference einsum by summing over every index assignment.
    fn naive(eq: &str, xs: &[ArrayD<f64>]) -> ArrayD<f64> {
        let (lhs, out) = eq.split_once("->").unwrap();
        let specs: Vec<Vec<char>> = lhs.split(',').map(|s| s.chars().collect()).collect();
        let out: Vec<char> = out.chars().collect();
        let mut sizes = std::collections::BTreeMap::new();
        for (s, x) in specs.iter().zip(xs) {
            for (c, &d) in s.iter().zip(x.shape()) {
                sizes.insert(*c, d);
            }
        }
        let letters: Vec<char> = sizes.keys().copied().collect();
        let oshape: Vec<usize> = out.iter().map(|c| sizes[c]).collect();
        let mut y = ArrayD::zeros(IxDyn(&oshape));
        let total: usize = letters.iter().map(|c| sizes[c]).product();
        for flat in 0..total {
            let mut rem = flat;
            let mut val = std::collections::HashMap::new();
            for c in letters.iter().rev() {
                val.insert(*c, rem % sizes[c]);
                rem /= sizes[c];
            }
            let mut p = 1.0;
            for (s, x) in specs.iter().zip(xs) {
                let ix: Vec<usize> = s.iter().map(|c| val[c]).collect();
                p *= x[IxDyn(&ix)];
            }
            let oix: Vec<usize> = out.iter().map(|c| val[c]).collect();
            y[IxDyn(&oix)] += p;
        }
        y
    }

    #[test]
    fn matches_a_naive_einsum() {
        let cases: &[(&str, &[&[usize]])] = &[
            ("btf,fg->btg", &[&[2, 3, 4], &[4, 5]]),
            ("abc,cde->abde", &[&[2, 3, 4], &[4, 2, 3]]),
            ("abcd,cde->abe", &[&[2, 3, 2, 4], &[2, 4, 3]]),
            ("aecd,abcd->acbe", &[&[2, 5, 2, 3], &[2, 4, 2, 3]]),
            ("acbe,aecd->abcd", &[&[2, 2, 4, 5], &[2, 5, 2, 3]]),
            ("bii->bi", &[&[2, 3, 3]]),
            ("bij->b", &[&[2, 3, 4]]),
            ("bti,btj->bij", &[&[2, 3, 4], &[2, 3, 5]]),
            ("bi,bj->bij", &[&[2, 3], &[2, 4]]),
            ("ij,bjk,kl->bil", &[&[3, 4], &[2, 4, 5], &[5, 2]]),
        ];
        for (eq, shapes) in cases {
            let mut g = OpGraph::new();
            let mut ids = Vec::new();
            let mut vals = Vec::new();
            let specs: Vec<&str> = eq.split("->").next().unwrap().split(',').collect();
            for (k, s) in shapes.iter().enumerate() {
                // The model's batch letter (first, a or b) is the only dynamic dimension.
                let dynamic = specs[k].starts_with(['a', 'b']);
                let mut full = vec![if dynamic { None } else { Some(s[0]) }];
                full.extend(s[1..].iter().map(|&d| Some(d)));
                ids.push(g.parameter(&format!("x{k}"), DType::F32, full));
                vals.push(inputs(s, k + 1));
            }
            let y = einsum(&mut g, eq, &ids).unwrap_or_else(|e| panic!("{eq}: {e}"));
            g.output("y", y);
            let got = eval(&g, &vals).unwrap();
            let want = naive(eq, &vals);
            assert_eq!(got[0].shape(), want.shape(), "{eq}");
            for (a, b) in got[0].iter().zip(want.iter()) {
                assert!((a - b).abs() < 1e-9, "{eq}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn ellipsis_and_implicit_output() {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(3), Some(4)]);
        let y = einsum(&mut g, "...ij->...ji", &[x]).unwrap();
        assert_eq!(g.shape(y), &vec![None, Some(4), Some(3)]);
        let z = einsum(&mut g, "...ij", &[x]).unwrap();
        assert_eq!(g.shape(z), &vec![None, Some(3), Some(4)]);
    }

    #[test]
    fn derivatives_match_finite_differences() {
        check_derivatives("einsum attention", &[3, 2], |g, x| {
            let w = crate::testing::constant(g, &[2, 2, 3], 1);
            let q = einsum(g, "abc,cde->abde", &[x, w]).unwrap();
            einsum(g, "aecd,abcd->acbe", &[q, q]).unwrap()
        });
    }
}
