//! The primitive graph: what Keras layers lower to, what autodiff transforms, what the emitter
//! writes. Each node has exactly one output; node ids are indices, and a node's inputs always
//! have smaller ids, so the node list is a topological order.
//!
//! A node is a graph input, a constant, or a primitive (`prim`): everything about a primitive
//! (shape rule, reference value, IR layers, derivative rules, batch rule, simplifications)
//! lives in its own file under `prim/`; the passes (`interp`, `emit`, `autodiff`, `simplify`)
//! only walk the graph and ask each primitive.
//!
//! Shapes are static except for dynamic dimensions (`None`), which in practice is the batch
//! axis. Element-wise binary ops broadcast like NumPy (and OpenVINO's `numpy` auto_broadcast).

mod build;
pub mod prim;
pub mod samples;
pub mod simplify;
pub mod sink;

pub use crate::tensor::{broadcast_shapes, num_elements, shape_fmt, DType, Dim, Shape, Tensor};
pub use prim::{
    Activation, BinaryOp, ClassifyOp, CompareOp, Prim, Primitive, ReduceOp, ResizeMethod, UnaryOp,
};

use std::fmt;
use std::sync::Arc;

pub type ValueId = usize;

/// The Keras layer or op a node was lowered from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Layer name with enclosing model names (`outer/inner/dense`).
    pub path: String,
    /// Keras class name (`Dense`, `Log10`).
    pub class: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clip = crate::text::clip;
        write!(f, "'{}' ({})", clip(&self.path), clip(&self.class))
    }
}

/// A graph that cannot be built as asked: the message, and the Keras layer being lowered (or
/// differentiated) when it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphError {
    pub msg: String,
    pub origin: Option<Arc<Origin>>,
}

impl GraphError {
    pub fn new(msg: impl Into<String>) -> Self {
        GraphError {
            msg: msg.into(),
            origin: None,
        }
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(o) => write!(f, "layer {o}: {}", self.msg),
            None => f.write_str(&self.msg),
        }
    }
}

impl std::error::Error for GraphError {}

pub type GResult<T> = Result<T, GraphError>;

/// What a node is.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A graph input; `name` is the tensor name users see (the Keras input name).
    Input {
        name: String,
    },
    Constant(Tensor),
    Prim(Prim),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub inputs: Vec<ValueId>,
    pub dtype: DType,
    pub shape: Shape,
}

impl Node {
    /// The primitive, for a node that is one.
    pub fn prim(&self) -> Option<&Prim> {
        match &self.kind {
            Kind::Prim(p) => Some(p),
            _ => None,
        }
    }

    /// A short description: `MatMul`, `Reshape [?,3]`, `Constant f32 [4,3]`, `input x`.
    pub fn label(&self) -> String {
        match &self.kind {
            Kind::Input { name } => format!("input {name}"),
            Kind::Constant(t) => format!(
                "Constant {} {}",
                t.dtype().ov_name(),
                crate::tensor::shape_fmt(&t.shape().iter().map(|&d| Some(d)).collect::<Vec<_>>())
            ),
            Kind::Prim(p) => p.label(),
        }
    }
}

/// A primitive graph with named inputs and outputs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpGraph {
    pub nodes: Vec<Node>,
    /// Input node ids, in input order.
    pub inputs: Vec<ValueId>,
    /// Output names (tensor names in the IR and keys in `.npz` results) and values.
    pub outputs: Vec<(String, ValueId)>,
    /// Per node, the Keras layer or op it was lowered from (for error messages).
    pub origins: Vec<Option<Arc<Origin>>>,
    /// The origin recorded for nodes created from now on.
    current_origin: Option<Arc<Origin>>,
}

impl OpGraph {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn node(&self, id: ValueId) -> &Node {
        &self.nodes[id]
    }

    pub fn shape(&self, id: ValueId) -> &Shape {
        &self.nodes[id].shape
    }

    pub fn rank(&self, id: ValueId) -> usize {
        self.nodes[id].shape.len()
    }

    pub fn dtype(&self, id: ValueId) -> DType {
        self.nodes[id].dtype
    }

    /// The name of an input node.
    pub fn input_name(&self, id: ValueId) -> &str {
        match &self.nodes[id].kind {
            Kind::Input { name } => name,
            _ => panic!("node {id} is not a graph input"),
        }
    }

    /// The input names, in input order.
    pub fn input_names(&self) -> Vec<&str> {
        self.inputs.iter().map(|&p| self.input_name(p)).collect()
    }

    /// The output names, in output order.
    pub fn output_names(&self) -> Vec<&str> {
        self.outputs.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Which nodes some output depends on.
    pub fn live_nodes(&self) -> Vec<bool> {
        let mut live = vec![false; self.nodes.len()];
        for (_, v) in &self.outputs {
            live[*v] = true;
        }
        for id in (0..self.nodes.len()).rev() {
            if live[id] {
                for &i in &self.nodes[id].inputs {
                    live[i] = true;
                }
            }
        }
        live
    }

    /// Record `origin` on the nodes created until the next call; errors of the builder name it.
    pub fn set_origin(&mut self, origin: Option<Arc<Origin>>) {
        self.current_origin = origin;
    }

    /// The origin recorded for node `id`.
    pub fn origin(&self, id: ValueId) -> Option<Arc<Origin>> {
        self.origins.get(id).cloned().flatten()
    }

    /// The layer a node was lowered from and the node itself, for messages.
    pub fn describe(&self, id: ValueId) -> String {
        let label = self.nodes[id].label();
        match self.origin(id) {
            Some(o) => format!("layer {o} (primitive {label})"),
            None => format!("primitive {label}"),
        }
    }

    /// An error naming the layer being built.
    pub fn error(&self, msg: impl Into<String>) -> GraphError {
        GraphError {
            msg: msg.into(),
            origin: self.current_origin.clone(),
        }
    }

    /// Drop the nodes from `len` on (a rewrite that built something it does not need).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.nodes.truncate(len);
        self.origins.truncate(len);
    }

    fn push_node(&mut self, node: Node) -> ValueId {
        self.origins.push(self.current_origin.clone());
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// A graph input (an IR `Parameter`).
    pub fn parameter(&mut self, name: &str, dtype: DType, shape: Shape) -> ValueId {
        let id = self.push_node(Node {
            kind: Kind::Input {
                name: name.to_string(),
            },
            inputs: vec![],
            dtype,
            shape,
        });
        self.inputs.push(id);
        id
    }

    pub fn output(&mut self, name: &str, value: ValueId) {
        self.outputs.push((name.to_string(), value));
    }

    pub fn constant(&mut self, t: Tensor) -> ValueId {
        let shape = t.shape().iter().map(|&d| Some(d)).collect();
        let dtype = t.dtype();
        self.push_node(Node {
            kind: Kind::Constant(t),
            inputs: vec![],
            dtype,
            shape,
        })
    }

    /// A rank-0 f32 constant.
    pub fn scalar(&mut self, v: f32) -> ValueId {
        self.constant(Tensor::scalar(v))
    }

    /// The constant value of a node, if it is a constant.
    pub fn as_constant(&self, id: ValueId) -> Option<&Tensor> {
        match &self.nodes[id].kind {
            Kind::Constant(t) => Some(t),
            _ => None,
        }
    }

    /// Apply primitive `p` to `inputs`: its shape rule gives the node's type. When the
    /// primitive's local simplification finds that an input already is the value (an identity
    /// reshape, a full slice), that input is returned and no node is added.
    pub fn apply(&mut self, p: impl Into<Prim>, inputs: Vec<ValueId>) -> GResult<ValueId> {
        self.apply_with(p.into(), inputs, false)
    }

    /// `apply` that also takes the cheaper primitive a simplification may propose (a transpose
    /// of a transpose as one): the simplify pass, once the graph is built, so that no id
    /// another pass still holds silently loses its users.
    pub(crate) fn apply_rewriting(&mut self, p: Prim, inputs: Vec<ValueId>) -> GResult<ValueId> {
        self.apply_with(p, inputs, true)
    }

    fn apply_with(&mut self, p: Prim, inputs: Vec<ValueId>, rewrite: bool) -> GResult<ValueId> {
        let (mut p, mut inputs) = (p, inputs);
        loop {
            if let Some(&bad) = inputs.iter().find(|&&i| i >= self.nodes.len()) {
                return Err(self.error(format!("{}: input {bad} does not exist", p.label())));
            }
            if !p.arity().accepts(inputs.len()) {
                return Err(self.error(format!(
                    "{} takes {}, got {} input(s)",
                    p.label(),
                    p.arity(),
                    inputs.len()
                )));
            }
            let types: Vec<(DType, &Shape)> = inputs
                .iter()
                .map(|&i| (self.nodes[i].dtype, &self.nodes[i].shape))
                .collect();
            let (dtype, shape) = p
                .infer(&types)
                .map_err(|m| self.error(format!("{}: {m}", p.label())))?;
            match p.simplify(self, &inputs) {
                Some(prim::Rewrite::Input(k)) if self.shape(inputs[k]) == &shape => {
                    return Ok(inputs[k])
                }
                Some(prim::Rewrite::Value(v)) if self.shape(v) == &shape => return Ok(v),
                Some(prim::Rewrite::Prim(q, ins)) if rewrite => {
                    p = q;
                    inputs = ins;
                    continue;
                }
                _ => {}
            }
            return Ok(self.push_node(Node {
                kind: Kind::Prim(p),
                inputs,
                dtype,
                shape,
            }));
        }
    }
}
