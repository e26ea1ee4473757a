//! Reference checks and topological order of a model's layers.
//!
//! The saved `layers` list is not an execution order (a shared layer can be listed before the
//! layer feeding its second call). The loader orders *whole layers*: each layer comes after
//! every other layer whose output any of its calls uses; the saved order is kept wherever the
//! dependencies allow (Kahn's algorithm, always taking the earliest-saved ready layer). A layer
//! may use the output of its own *earlier* calls (`h = shared(shared(x))`): lowering runs a
//! layer's calls in `node_index` order, so that is satisfied too.
//!
//! A layer shared at different depths around another layer (`A(B(A(x)))`) is valid Keras but
//! has no such whole-layer order; it is refused with a message saying so.

use super::error::LoadError;
use crate::layer_graph::{Arg, KerasModel, LayerNode, NodeKind, TensorRef};
use crate::text::clip;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

type R<T> = Result<T, LoadError>;

fn graph_err(file: &str, model: &str, message: String) -> LoadError {
    LoadError::Graph {
        file: file.to_string(),
        model: clip(model).into_owned(),
        message,
    }
}

/// Every tensor reference in an argument, in order.
pub(crate) fn tensors_in<'a>(arg: &'a Arg, out: &mut Vec<&'a TensorRef>) {
    match arg {
        Arg::Tensor(r) => out.push(r),
        Arg::List(items) => items.iter().for_each(|a| tensors_in(a, out)),
        Arg::Literal(_) => {}
    }
}

fn call_tensors(layer: &LayerNode, call: usize) -> Vec<&TensorRef> {
    let mut out = Vec::new();
    let c = &layer.calls[call];
    for a in c.args.iter().chain(c.kwargs.iter().map(|(_, a)| a)) {
        tensors_in(a, &mut out);
    }
    out
}

/// Check every reference of `model` (and of its nested models).
pub(crate) fn validate(model: &KerasModel, file: &str) -> R<()> {
    let index: HashMap<&str, usize> = model
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| (l.name.as_str(), i))
        .collect();
    let err = |m: String| graph_err(file, &model.name, m);
    let check = |r: &TensorRef, whose: &dyn Fn() -> String| -> R<()> {
        let Some(&j) = index.get(r.layer.as_str()) else {
            return Err(err(format!(
                "{} uses an output of layer `{}`, which is not in the model",
                whose(),
                clip(&r.layer)
            )));
        };
        let target = &model.layers[j];
        match &target.kind {
            NodeKind::Input(_) => {
                if r.node_index != 0 || r.tensor_index != 0 {
                    return Err(err(format!(
                        "{} uses output [{}][{}] of InputLayer `{}`, which has only \
                         output [0][0]",
                        whose(),
                        r.node_index,
                        r.tensor_index,
                        clip(&r.layer)
                    )));
                }
            }
            kind => {
                let n = target.calls.len();
                if r.node_index >= n {
                    return Err(err(format!(
                        "{} uses call (node_index) {} of layer `{}`, which has {n} \
                         call(s) in the config",
                        whose(),
                        r.node_index,
                        clip(&r.layer)
                    )));
                }
                if let NodeKind::Model(m) = kind {
                    if r.tensor_index >= m.outputs.len() {
                        return Err(err(format!(
                            "{} uses output {} of nested model `{}`, which has {} \
                             output(s)",
                            whose(),
                            r.tensor_index,
                            clip(&r.layer),
                            m.outputs.len()
                        )));
                    }
                }
            }
        }
        Ok(())
    };
    for layer in &model.layers {
        for c in 0..layer.calls.len() {
            let whose = || format!("call {c} of layer `{}`", clip(&layer.name));
            for r in call_tensors(layer, c) {
                check(r, &whose)?;
                if r.layer == layer.name && r.node_index >= c {
                    return Err(err(format!(
                        "{} uses the output of its own call {}, which does not exist \
                         before it (a cycle)",
                        whose(),
                        r.node_index
                    )));
                }
            }
        }
        if let NodeKind::Model(inner) = &layer.kind {
            validate(inner, file)?;
        }
    }
    if model.inputs.is_empty() {
        return Err(err(
            "the model has no inputs (`input_layers` is empty)".into()
        ));
    }
    if model.outputs.is_empty() {
        return Err(err(
            "the model has no outputs (`output_layers` is empty)".into()
        ));
    }
    for r in &model.inputs {
        check(r, &|| "the model's input list".to_string())?;
        if !matches!(
            model.layers[index[r.layer.as_str()]].kind,
            NodeKind::Input(_)
        ) {
            return Err(err(format!(
                "the model's input list names `{}`, which is not an InputLayer",
                clip(&r.layer)
            )));
        }
    }
    for r in &model.outputs {
        check(r, &|| "the model's output list".to_string())?;
    }
    Ok(())
}

/// Reorder `model.layers` (and nested models' layers) topologically. Assumes `validate` passed.
pub(crate) fn sort(model: &mut KerasModel, file: &str) -> R<()> {
    for layer in &mut model.layers {
        if let NodeKind::Model(inner) = &mut layer.kind {
            sort(inner, file)?;
        }
    }
    let order = topo_order(model).map_err(|m| graph_err(file, &model.name, m))?;
    let mut slots: Vec<Option<LayerNode>> = std::mem::take(&mut model.layers)
        .into_iter()
        .map(Some)
        .collect();
    model.layers = order
        .into_iter()
        .map(|i| slots[i].take().expect("each index once"))
        .collect();
    Ok(())
}

/// Layer-level dependencies: `deps[i]` = other layers whose outputs layer `i` uses.
fn layer_deps(model: &KerasModel) -> Vec<BTreeSet<usize>> {
    let index: HashMap<&str, usize> = model
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| (l.name.as_str(), i))
        .collect();
    model
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            (0..l.calls.len())
                .flat_map(|c| call_tensors(l, c))
                .filter_map(|r| index.get(r.layer.as_str()).copied())
                .filter(|&j| j != i)
                .collect()
        })
        .collect()
}

/// A stable topological order of the layers, or a message describing the cycle.
pub(crate) fn topo_order(model: &KerasModel) -> Result<Vec<usize>, String> {
    let n = model.layers.len();
    let deps = layer_deps(model);
    let mut indeg: Vec<usize> = deps.iter().map(BTreeSet::len).collect();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, d) in deps.iter().enumerate() {
        for &j in d {
            users[j].push(i);
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| indeg[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &u in &users[i] {
            indeg[u] -= 1;
            if indeg[u] == 0 {
                ready.push(Reverse(u));
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    let placed: Vec<bool> = {
        let mut p = vec![false; n];
        order.iter().for_each(|&i| p[i] = true);
        p
    };
    let cycle = find_cycle(&deps, &placed);
    let mut names: Vec<String> = cycle
        .iter()
        .map(|&i| format!("`{}`", clip(&model.layers[i].name)))
        .collect();
    // A cycle can run through every layer: show its start and its end.
    const SHOWN: usize = 8;
    if names.len() > 2 * SHOWN {
        let left_out = names.len() - 2 * SHOWN;
        names.splice(
            SHOWN..names.len() - SHOWN,
            [format!("... ({left_out} more layers) ...")],
        );
    }
    let chain = format!(
        "{} uses the output of {}",
        names[0],
        names[1..].join(", which uses the output of ")
    );
    if calls_acyclic(model) {
        Err(format!(
            "layers are shared at different depths of the graph ({chain}), e.g. A(B(A(x))). \
             Keras allows this, but keras2ov's layer graph orders whole layers and cannot \
             represent it; give each depth its own layer"
        ))
    } else {
        Err(format!(
            "the layer graph has a cycle: {chain}; a model's layers must form a DAG"
        ))
    }
}

/// A cycle among the unplaced layers, as a list starting and ending with the same layer.
fn find_cycle(deps: &[BTreeSet<usize>], placed: &[bool]) -> Vec<usize> {
    let start = placed.iter().position(|p| !p).expect("some layer unplaced");
    // Every unplaced layer has an unplaced dependency: walk until a layer repeats.
    let mut seen: HashMap<usize, usize> = HashMap::new();
    let mut path = Vec::new();
    let mut cur = start;
    loop {
        if let Some(&pos) = seen.get(&cur) {
            let mut cycle = path[pos..].to_vec();
            cycle.push(cur);
            return cycle;
        }
        seen.insert(cur, path.len());
        path.push(cur);
        cur = *deps[cur]
            .iter()
            .find(|&&j| !placed[j])
            .expect("an unplaced layer waits on an unplaced layer");
    }
}

/// Whether the graph of individual calls (plus "call k after call k-1 of the same layer",
/// as Keras creates them in order) is acyclic.
fn calls_acyclic(model: &KerasModel) -> bool {
    let index: HashMap<&str, usize> = model
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| (l.name.as_str(), i))
        .collect();
    // Node ids: (layer, call); InputLayers have one node 0.
    let mut ids: HashMap<(usize, usize), usize> = HashMap::new();
    for (i, l) in model.layers.iter().enumerate() {
        for c in 0..l.calls.len().max(1) {
            let id = ids.len();
            ids.insert((i, c), id);
        }
    }
    let n = ids.len();
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, l) in model.layers.iter().enumerate() {
        for c in 0..l.calls.len() {
            let me = ids[&(i, c)];
            if c > 0 {
                deps[me].push(ids[&(i, c - 1)]);
            }
            for r in call_tensors(l, c) {
                if let Some(&j) = index.get(r.layer.as_str()) {
                    if let Some(&d) = ids.get(&(j, r.node_index)) {
                        deps[me].push(d);
                    }
                }
            }
        }
    }
    let mut indeg: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, d) in deps.iter().enumerate() {
        for &j in d {
            users[j].push(i);
        }
    }
    let mut stack: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut done = 0;
    while let Some(i) = stack.pop() {
        done += 1;
        for &u in &users[i] {
            indeg[u] -= 1;
            if indeg[u] == 0 {
                stack.push(u);
            }
        }
    }
    done == n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer_graph::{Call, InputSpec};

    fn tr(layer: &str, node: usize) -> Arg {
        Arg::Tensor(TensorRef {
            layer: layer.into(),
            node_index: node,
            tensor_index: 0,
        })
    }

    fn input(name: &str) -> LayerNode {
        LayerNode {
            name: name.into(),
            class_name: "InputLayer".into(),
            module: "keras.layers".into(),
            registered_name: None,
            config: serde_json::Value::Null,
            calls: vec![],
            kind: NodeKind::Input(InputSpec {
                name: name.into(),
                shape: vec![None, Some(4)],
                dtype: "float32".into(),
            }),
            weights: vec![],
        }
    }

    fn layer(name: &str, calls: Vec<Vec<Arg>>) -> LayerNode {
        LayerNode {
            name: name.into(),
            class_name: "Dense".into(),
            module: "keras.layers".into(),
            registered_name: None,
            config: serde_json::Value::Null,
            calls: calls
                .into_iter()
                .map(|args| Call {
                    args,
                    kwargs: vec![],
                })
                .collect(),
            kind: NodeKind::Layer,
            weights: vec![],
        }
    }

    fn model(layers: Vec<LayerNode>, out: &str, node: usize) -> KerasModel {
        KerasModel {
            name: "m".into(),
            class_name: "Functional".into(),
            inputs: vec![TensorRef {
                layer: layers[0].name.clone(),
                node_index: 0,
                tensor_index: 0,
            }],
            outputs: vec![TensorRef {
                layer: out.into(),
                node_index: node,
                tensor_index: 0,
            }],
            layers,
        }
    }

    fn names(m: &KerasModel) -> Vec<&str> {
        m.layers.iter().map(|l| l.name.as_str()).collect()
    }

    #[test]
    fn shared_layer_listed_before_its_feeder() {
        // `shared` is listed before `pre`, which feeds its second call.
        let mut m = model(
            vec![
                input("x"),
                layer("shared", vec![vec![tr("x", 0)], vec![tr("pre", 0)]]),
                layer("other", vec![vec![tr("x", 0)]]),
                layer("pre", vec![vec![tr("other", 0)]]),
                layer(
                    "head",
                    vec![vec![Arg::List(vec![tr("shared", 0), tr("shared", 1)])]],
                ),
            ],
            "head",
            0,
        );
        validate(&m, "t.keras").unwrap();
        sort(&mut m, "t.keras").unwrap();
        assert_eq!(names(&m), ["x", "other", "pre", "shared", "head"]);
        // Calls keep their node_index order on the moved layer.
        assert_eq!(m.layers[3].calls[1].args, vec![tr("pre", 0)]);
    }

    #[test]
    fn listed_first_then_fed() {
        // `add` is listed before `d2`, which feeds it; stable order keeps the rest as saved.
        let mut m = model(
            vec![
                input("x"),
                layer("d1", vec![vec![tr("x", 0)]]),
                layer("add", vec![vec![Arg::List(vec![tr("d1", 0), tr("d2", 0)])]]),
                layer("z", vec![vec![tr("x", 0)]]),
                layer("d2", vec![vec![tr("x", 0)]]),
            ],
            "add",
            0,
        );
        validate(&m, "t.keras").unwrap();
        sort(&mut m, "t.keras").unwrap();
        assert_eq!(names(&m), ["x", "d1", "z", "d2", "add"]);
    }

    #[test]
    fn shared_layer_used_by_its_own_later_call() {
        // h = shared(shared(x)): self-dependency through an earlier call is fine.
        let mut m = model(
            vec![
                input("x"),
                layer("shared", vec![vec![tr("x", 0)], vec![tr("shared", 0)]]),
            ],
            "shared",
            1,
        );
        validate(&m, "t.keras").unwrap();
        sort(&mut m, "t.keras").unwrap();
        assert_eq!(names(&m), ["x", "shared"]);
        // ...but a call using its own (or a later) call's output is a cycle.
        let m = model(vec![input("x"), layer("s", vec![vec![tr("s", 0)]])], "s", 0);
        let e = validate(&m, "t.keras").unwrap_err().to_string();
        assert!(
            e.contains("call 0 of layer `s`") && e.contains("cycle"),
            "{e}"
        );
    }

    #[test]
    fn cycles_and_different_depth_sharing() {
        let mut m = model(
            vec![
                input("x"),
                layer("a", vec![vec![tr("b", 0)]]),
                layer("b", vec![vec![tr("a", 0)]]),
            ],
            "b",
            0,
        );
        validate(&m, "t.keras").unwrap();
        let e = sort(&mut m, "t.keras").unwrap_err().to_string();
        assert!(e.contains("t.keras") && e.contains("model `m`"), "{e}");
        assert!(e.contains("has a cycle"), "{e}");
        assert!(e.contains("`a`") && e.contains("`b`"), "{e}");

        // A(B(A(x))): valid in Keras, not representable with whole-layer order.
        let mut m = model(
            vec![
                input("x"),
                layer("a", vec![vec![tr("x", 0)], vec![tr("b", 0)]]),
                layer("b", vec![vec![tr("a", 0)]]),
            ],
            "a",
            1,
        );
        validate(&m, "t.keras").unwrap();
        let e = sort(&mut m, "t.keras").unwrap_err().to_string();
        assert!(e.contains("shared at different depths"), "{e}");
    }

    #[test]
    fn unknown_layers_and_nodes() {
        let m = model(
            vec![input("x"), layer("d", vec![vec![tr("ghost", 0)]])],
            "d",
            0,
        );
        let e = validate(&m, "t.keras").unwrap_err().to_string();
        assert!(
            e.contains("call 0 of layer `d`") && e.contains("`ghost`"),
            "{e}"
        );
        let m = model(
            vec![
                input("x"),
                layer("d", vec![vec![tr("x", 0)]]),
                layer("e", vec![vec![tr("d", 3)]]),
            ],
            "e",
            0,
        );
        let e = validate(&m, "t.keras").unwrap_err().to_string();
        assert!(
            e.contains("node_index) 3 of layer `d`, which has 1 call"),
            "{e}"
        );
        let m = model(vec![input("x"), layer("d", vec![vec![tr("x", 0)]])], "d", 1);
        let e = validate(&m, "t.keras").unwrap_err().to_string();
        assert!(e.contains("output list"), "{e}");
        let m = model(vec![input("x"), layer("d", vec![vec![tr("x", 1)]])], "d", 0);
        let e = validate(&m, "t.keras").unwrap_err().to_string();
        assert!(e.contains("InputLayer `x`"), "{e}");
    }
}
