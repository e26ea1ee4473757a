//! `--residual [NAME=]EXPR`: a PDE residual built into the graph from the model's inputs and
//! outputs, their partial derivatives (`u_x`, `u_xt`, `d(u/xy[0]/xy[1])`), Laplacians
//! (`laplacian(u)`), numbers, `+ - * / ^`, unary minus, parentheses and
//! `sin cos exp log tanh sqrt abs`. Parsed by pest (grammar in `residual.pest`); errors
//! point at the column. Only the derivatives the expression mentions are built.

use super::spec::{self, Partial};
use super::{laplacians, partial_derivatives, Laplace, PdeError};
use crate::opgraph::{BinaryOp, DType, OpGraph, UnaryOp, ValueId};
use pest::iterators::Pair;
use pest::Parser;
use std::collections::HashMap;

#[derive(pest_derive::Parser)]
#[grammar = "pde/residual.pest"]
struct ExprParser;

/// The longest expression accepted, and the deepest nesting of parentheses.
const MAX_LEN: usize = 4096;
const MAX_DEPTH: usize = 64;

/// An expression, its names resolved.
#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Num(f64),
    /// A model input or output.
    Value(String),
    Partial(String),
    Laplacian(String),
    Neg(Box<Expr>),
    Bin(BinaryOp, Box<Expr>, Box<Expr>),
    Call(UnaryOp, Box<Expr>),
}

/// Build `[NAME=]EXPR` into `g`; returns the output name and value. `laplacian(u)` sums over
/// the elements of the inputs `wrt` (the `--wrt` selection: the spatial inputs of a heat
/// equation, say).
pub fn build(g: &mut OpGraph, text: &str, wrt: &[ValueId]) -> Result<(String, ValueId), PdeError> {
    let (name, expr) = split_name(text);
    let err =
        |col: usize, msg: String| PdeError::Spec(format!("residual '{expr}': column {col}: {msg}"));
    if expr.len() > MAX_LEN {
        return Err(err(1, format!("longer than {MAX_LEN} characters")));
    }
    let mut depth = 0usize;
    for (i, c) in expr.chars().enumerate() {
        depth = match c {
            '(' => depth + 1,
            ')' => depth.saturating_sub(1),
            _ => depth,
        };
        if depth > MAX_DEPTH {
            return Err(err(
                i + 1,
                format!("parentheses nested deeper than {MAX_DEPTH}"),
            ));
        }
    }
    let mut pairs = ExprParser::parse(Rule::residual, expr).map_err(|e| {
        let col = match e.line_col {
            pest::error::LineColLocation::Pos((_, c)) => c,
            pest::error::LineColLocation::Span((_, c), _) => c,
        };
        err(col, describe(&e.variant))
    })?;
    let top = pairs
        .next()
        .expect("residual")
        .into_inner()
        .next()
        .expect("sum");
    let names = Names::of(g);
    let ast = to_expr(top, &names).map_err(|(col, msg)| err(col, msg))?;
    let value = lower(g, &ast, wrt).map_err(|m| err(1, m))?;
    if g.rank(value) == 0 || g.shape(value)[0].is_some() {
        return Err(err(
            1,
            "the residual does not depend on the model's samples".into(),
        ));
    }
    Ok((name, value))
}

/// `NAME=EXPR` (NAME an identifier) or `EXPR`, named `residual`.
fn split_name(text: &str) -> (String, &str) {
    if let Some((n, e)) = text.split_once('=') {
        let n = n.trim();
        if !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
        {
            return (n.to_string(), e.trim());
        }
    }
    ("residual".to_string(), text.trim())
}

fn describe(v: &pest::error::ErrorVariant<Rule>) -> String {
    match v {
        pest::error::ErrorVariant::ParsingError { positives, .. } if !positives.is_empty() => {
            let expected: Vec<&str> = positives
                .iter()
                .map(|r| match r {
                    Rule::number => "a number",
                    Rule::name => "a name",
                    Rule::add_op | Rule::mul_op => "an operator",
                    Rule::EOI => "the end",
                    Rule::path => "a derivative path like u/x/x",
                    _ => "an operand",
                })
                .collect();
            let mut expected = expected;
            expected.dedup();
            format!("expected {}", expected.join(" or "))
        }
        _ => "syntax error".into(),
    }
}

/// The names an expression may use.
struct Names {
    outputs: Vec<String>,
    inputs: Vec<String>,
    /// Float inputs of one element per sample (the `u_x` shorthand).
    scalars: Vec<String>,
}

impl Names {
    fn of(g: &OpGraph) -> Names {
        let scalars = g
            .inputs
            .iter()
            .filter(|&&p| {
                g.dtype(p) == DType::F32
                    && g.shape(p)[1..].iter().copied().product::<Option<usize>>() == Some(1)
            })
            .map(|&p| g.input_name(p).to_string())
            .collect();
        Names {
            outputs: g.output_names().iter().map(|s| s.to_string()).collect(),
            inputs: g.input_names().iter().map(|s| s.to_string()).collect(),
            scalars,
        }
    }

    /// `u_xt` -> `u/x/t` when the suffix splits into scalar input names in exactly one way.
    fn shorthand(&self, name: &str) -> Option<String> {
        for out in &self.outputs {
            let Some(rest) = name
                .strip_prefix(out.as_str())
                .and_then(|r| r.strip_prefix('_'))
            else {
                continue;
            };
            let splits = self.segmentations(rest);
            if let [one] = splits.as_slice() {
                return Some(format!("{out}/{}", one.join("/")));
            }
        }
        None
    }

    fn segmentations(&self, s: &str) -> Vec<Vec<String>> {
        if s.is_empty() {
            return vec![vec![]];
        }
        let mut out = Vec::new();
        for x in &self.scalars {
            if let Some(rest) = s.strip_prefix(x.as_str()) {
                for mut tail in self.segmentations(rest) {
                    tail.insert(0, x.clone());
                    out.push(tail);
                    if out.len() > 1 {
                        return out;
                    }
                }
            }
        }
        out
    }
}

type ExprResult = Result<Expr, (usize, String)>;

fn col(p: &Pair<Rule>) -> usize {
    p.as_span().start_pos().line_col().1
}

fn to_expr(p: Pair<Rule>, names: &Names) -> ExprResult {
    let c = col(&p);
    match p.as_rule() {
        Rule::sum | Rule::product => {
            let mut it = p.into_inner();
            let mut acc = to_expr(it.next().expect("operand"), names)?;
            while let Some(op) = it.next() {
                let rhs = to_expr(it.next().expect("operand"), names)?;
                let bop = match op.as_str() {
                    "+" => BinaryOp::Add,
                    "-" => BinaryOp::Sub,
                    "*" => BinaryOp::Mul,
                    _ => BinaryOp::Div,
                };
                acc = Expr::Bin(bop, Box::new(acc), Box::new(rhs));
            }
            Ok(acc)
        }
        Rule::signed => {
            let mut it = p.into_inner();
            let first = it.next().expect("operand");
            match first.as_rule() {
                Rule::neg => Ok(Expr::Neg(Box::new(to_expr(
                    it.next().expect("operand"),
                    names,
                )?))),
                _ => to_expr(first, names),
            }
        }
        Rule::power => {
            let mut it = p.into_inner();
            let base = to_expr(it.next().expect("base"), names)?;
            match it.next() {
                Some(e) => Ok(Expr::Bin(
                    BinaryOp::Pow,
                    Box::new(base),
                    Box::new(to_expr(e, names)?),
                )),
                None => Ok(base),
            }
        }
        Rule::primary => to_expr(p.into_inner().next().expect("primary"), names),
        Rule::number => p
            .as_str()
            .parse::<f64>()
            .map(Expr::Num)
            .map_err(|e| (c, format!("bad number '{}': {e}", p.as_str()))),
        Rule::call => {
            let mut it = p.into_inner();
            let f = match it.next().expect("func").as_str() {
                "sin" => UnaryOp::Sin,
                "cos" => UnaryOp::Cos,
                "exp" => UnaryOp::Exp,
                "log" => UnaryOp::Log,
                "tanh" => UnaryOp::Tanh,
                "sqrt" => UnaryOp::Sqrt,
                _ => UnaryOp::Abs,
            };
            Ok(Expr::Call(
                f,
                Box::new(to_expr(it.next().expect("argument"), names)?),
            ))
        }
        Rule::derivative => Ok(Expr::Partial(
            p.into_inner().next().expect("path").as_str().to_string(),
        )),
        Rule::laplacian => {
            let n = p.into_inner().next().expect("name");
            let name = n.as_str();
            if names.outputs.iter().any(|o| o == name) {
                Ok(Expr::Laplacian(name.to_string()))
            } else {
                Err((
                    col(&n),
                    format!(
                        "laplacian of '{name}': the model's outputs are {}",
                        names.outputs.join(", ")
                    ),
                ))
            }
        }
        Rule::name => {
            let n = p.as_str();
            if names.outputs.iter().any(|o| o == n) || names.inputs.iter().any(|i| i == n) {
                Ok(Expr::Value(n.to_string()))
            } else if n == "pi" {
                Ok(Expr::Num(std::f64::consts::PI))
            } else if let Some(spec) = names.shorthand(n) {
                Ok(Expr::Partial(spec))
            } else {
                Err((
                    c,
                    format!(
                        "unknown name '{n}': outputs {}, inputs {}; derivatives as u_x or d(u/x/x)",
                        names.outputs.join(", "),
                        names.inputs.join(", ")
                    ),
                ))
            }
        }
        r => Err((c, format!("unexpected {r:?}"))),
    }
}

/// The partial specs and Laplacian outputs an expression mentions.
fn needs(e: &Expr, partials: &mut Vec<String>, laps: &mut Vec<String>) {
    match e {
        Expr::Partial(s) if !partials.contains(s) => partials.push(s.clone()),
        Expr::Laplacian(o) if !laps.contains(o) => laps.push(o.clone()),
        Expr::Neg(a) | Expr::Call(_, a) => needs(a, partials, laps),
        Expr::Bin(_, a, b) => {
            needs(a, partials, laps);
            needs(b, partials, laps);
        }
        _ => {}
    }
}

/// The expression as graph nodes.
fn lower(g: &mut OpGraph, e: &Expr, wrt: &[ValueId]) -> Result<ValueId, String> {
    let (mut ps, mut ls) = (Vec::new(), Vec::new());
    needs(e, &mut ps, &mut ls);
    let partials: Vec<Partial> = ps
        .iter()
        .map(|s| spec::parse(s, g))
        .collect::<Result<_, _>>()?;
    let mut values: HashMap<String, ValueId> = HashMap::new();
    for (p, v) in partial_derivatives(g, &partials).map_err(|e| e.to_string())? {
        values.insert(format!("d:{}", p.text), v);
    }
    let ys: Vec<(String, ValueId)> = g
        .outputs
        .iter()
        .filter(|(n, _)| ls.contains(n))
        .cloned()
        .collect();
    if !ys.is_empty() {
        for (n, v) in laplacians(g, wrt, &ys, Laplace::Laplacian).map_err(|e| e.to_string())? {
            values.insert(format!("lap:{n}"), v);
        }
    }
    build_expr(g, e, &values).map_err(|e| e.to_string())
}

fn build_expr(
    g: &mut OpGraph,
    e: &Expr,
    values: &HashMap<String, ValueId>,
) -> crate::opgraph::GResult<ValueId> {
    Ok(match e {
        Expr::Num(v) => g.scalar(*v as f32),
        Expr::Value(n) => match g.outputs.iter().find(|(o, _)| o == n) {
            Some((_, v)) => *v,
            None => *g
                .inputs
                .iter()
                .find(|&&p| g.input_name(p) == n)
                .expect("a resolved name"),
        },
        Expr::Partial(s) => values[&format!("d:{s}")],
        Expr::Laplacian(o) => values[&format!("lap:{o}")],
        Expr::Neg(a) => {
            let v = build_expr(g, a, values)?;
            g.unary(UnaryOp::Neg, v)?
        }
        Expr::Call(f, a) => {
            let v = build_expr(g, a, values)?;
            g.unary(*f, v)?
        }
        Expr::Bin(op, a, b) => {
            let (x, y) = (build_expr(g, a, values)?, build_expr(g, b, values)?);
            g.binary(*op, x, y)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph() -> OpGraph {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(1)]);
        let t = g.parameter("t", DType::F32, vec![None, Some(1)]);
        let xt = g.concat(&[x, t], 1).unwrap();
        let u = g.unary(UnaryOp::Tanh, xt).unwrap();
        let u = g
            .reduce(crate::opgraph::ReduceOp::Sum, u, vec![1], true)
            .unwrap();
        g.output("u", u);
        g
    }

    fn parse(text: &str) -> Result<Expr, String> {
        let g = graph();
        let names = Names::of(&g);
        let mut pairs = ExprParser::parse(Rule::residual, text).map_err(|e| e.to_string())?;
        let top = pairs.next().unwrap().into_inner().next().unwrap();
        to_expr(top, &names).map_err(|(c, m)| format!("{c}: {m}"))
    }

    #[test]
    fn precedence_and_names() {
        use Expr::*;
        let p = |s: &str| Box::new(Partial(s.to_string()));
        assert_eq!(
            parse("u_t + u*u_x").unwrap(),
            Bin(
                BinaryOp::Add,
                p("u/t"),
                Box::new(Bin(BinaryOp::Mul, Box::new(Value("u".into())), p("u/x")))
            )
        );
        // -x^2 = -(x^2); ^ is right-associative.
        assert_eq!(
            parse("-x^2^3").unwrap(),
            Neg(Box::new(Bin(
                BinaryOp::Pow,
                Box::new(Value("x".into())),
                Box::new(Bin(BinaryOp::Pow, Box::new(Num(2.0)), Box::new(Num(3.0))))
            )))
        );
        assert_eq!(parse("d(u/x/t)").unwrap(), Partial("u/x/t".into()));
        assert_eq!(parse("u_xxt").unwrap(), Partial("u/x/x/t".into()));
        assert_eq!(parse("laplacian(u)").unwrap(), Laplacian("u".into()));
        assert!(parse("1e-3 * sin(pi * x)").is_ok());
    }

    #[test]
    fn errors_point_at_the_column() {
        let mut g = graph();
        let wrt = g.inputs.clone();
        let build = |g: &mut OpGraph, t: &str| build(g, t, &wrt);
        let e = build(&mut g, "u_t + v_x").unwrap_err().to_string();
        assert!(
            e.contains("column 7") && e.contains("unknown name 'v_x'"),
            "{e}"
        );
        let e = build(&mut g, "u_t + * u").unwrap_err().to_string();
        assert!(e.contains("column 7"), "{e}");
        let e = build(&mut g, "laplacian(w)").unwrap_err().to_string();
        assert!(
            e.contains("column 11") && e.contains("outputs are u"),
            "{e}"
        );
        let deep = format!("{}x{}", "(".repeat(100), ")".repeat(100));
        assert!(build(&mut g, &deep)
            .unwrap_err()
            .to_string()
            .contains("nested deeper"));
        assert!(build(&mut g, "2 * 3")
            .unwrap_err()
            .to_string()
            .contains("does not depend"));
    }
}
