//! OpGraph -> OpenVINO IR v11 (`.xml` + `.bin`).
//!
//! Each OpGraph node becomes one IR layer at its own opset version, plus the small i64 constants
//! some layers take as inputs (shapes, axes, permutations). Every port carries its precision and
//! dims (`-1` for a dynamic dimension). Graph inputs become `Parameter`s named after the input;
//! each graph output becomes a `Result`, with the output name on the producing port's `names`.
//!
//! Choices worth knowing:
//! - Constant data is deduplicated in the `.bin` (identical dtype + bytes stored once, offsets
//!   aligned to 64 bytes), but every consumer of an OpGraph constant gets its own `Const` layer:
//!   OpenVINO's CPU plugin has been seen computing wrong results when one weight constant fed
//!   two different kinds of ops.
//! - A tensor name belongs to one port, and OpenVINO moves a `Result`'s names onto the port
//!   that feeds it. So when an output is a graph input, or a value already named by an earlier
//!   output, the emitter inserts an identity `Convert` (to the same element type) that carries
//!   the new name; otherwise the input would be renamed or the two outputs would merge.
//! - Nodes that no output depends on are not written (inputs always are).

mod batch;
mod pool;
pub(crate) mod xml;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::opgraph::{
    BinaryOp, ClassifyOp, CompareOp, DType, GraphError, Op, OpGraph, ReduceOp, Shape, Tensor,
    UnaryOp, ValueId,
};

pub use batch::with_static_batch;
use pool::ConstPool;
use xml::{escape_tensor_name, has_unrepresentable_chars, XmlWriter};

/// Options of [`emit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmitOptions {
    /// When set, every dynamic input dimension becomes this size and all shapes are static.
    pub batch: Option<usize>,
    /// The `<net name>` of the IR.
    pub model_name: String,
}

impl Default for EmitOptions {
    fn default() -> Self {
        EmitOptions {
            batch: None,
            model_name: "model".to_string(),
        }
    }
}

/// An IR in memory: the `.xml` text and the `.bin` weights.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ir {
    pub xml: String,
    pub bin: Vec<u8>,
}

impl Ir {
    /// The `.bin` that goes with an `.xml` path: same name, extension `bin`.
    pub fn bin_path(xml_path: impl AsRef<Path>) -> PathBuf {
        xml_path.as_ref().with_extension("bin")
    }

    /// Write `xml_path` and its sibling `.bin`. Both are written to temporary files in the same
    /// directory and renamed into place only once complete, so a failure never leaves a
    /// half-written file under either name.
    pub fn write(&self, xml_path: impl AsRef<Path>) -> io::Result<()> {
        let xml_path = xml_path.as_ref();
        let bin_path = Self::bin_path(xml_path);
        if bin_path == xml_path {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the IR path {} must not end in .bin (the weights go there)",
                    xml_path.display()
                ),
            ));
        }
        let dir = match xml_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let temp = |bytes: &[u8]| -> io::Result<tempfile::NamedTempFile> {
            let mut f = tempfile::Builder::new()
                .prefix(".keras2ov-")
                .suffix(".tmp")
                .tempfile_in(dir)?;
            f.write_all(bytes)?;
            f.as_file().sync_all()?;
            Ok(f)
        };
        let bin_tmp = temp(&self.bin)?;
        let xml_tmp = temp(self.xml.as_bytes())?;
        // Both are complete on disk; rename the weights first so that the xml, once it appears,
        // always finds its bin.
        bin_tmp.persist(&bin_path).map_err(|e| e.error)?;
        xml_tmp.persist(xml_path).map_err(|e| e.error)?;
        Ok(())
    }
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum EmitError {
    #[error("cannot emit this graph: {0}")]
    InvalidGraph(String),
    #[error("tensor name {0:?} is used twice (input and output names must all be distinct)")]
    DuplicateName(String),
    #[error("cannot make the batch dimension {batch}: {source}")]
    Batch { batch: usize, source: GraphError },
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, EmitError> {
    Err(EmitError::InvalidGraph(msg.into()))
}

/// Write `graph` as IR v11.
pub fn emit(graph: &OpGraph, opts: &EmitOptions) -> Result<Ir, EmitError> {
    validate(graph)?;
    match opts.batch {
        Some(0) => Err(EmitError::Batch {
            batch: 0,
            source: GraphError("the batch size must be at least 1".into()),
        }),
        Some(batch) => {
            let g = with_static_batch(graph, batch)
                .map_err(|source| EmitError::Batch { batch, source })?;
            Emitter::default().run(&g, &opts.model_name)
        }
        None => Emitter::default().run(graph, &opts.model_name),
    }
}

/// Structural checks that the OpGraph builder normally guarantees, and name rules.
fn validate(g: &OpGraph) -> Result<(), EmitError> {
    for (id, node) in g.nodes.iter().enumerate() {
        if let Some(&bad) = node.inputs.iter().find(|&&i| i >= id) {
            return invalid(format!(
                "node {id} ({}) reads node {bad}, which does not come before it",
                op_label(&node.op)
            ));
        }
        let arity = match &node.op {
            Op::Parameter { .. } | Op::Constant(_) => Some(0),
            Op::Unary(_)
            | Op::Classify(_)
            | Op::Reshape { .. }
            | Op::Transpose { .. }
            | Op::Tile { .. }
            | Op::Slice { .. }
            | Op::Reduce { .. }
            | Op::Convert { .. }
            | Op::Reverse { .. } => Some(1),
            Op::Binary(_) | Op::Compare(_) | Op::MatMul | Op::BroadcastLike => Some(2),
            Op::Select => Some(3),
            Op::Concat { .. } => None,
        };
        if arity.is_some_and(|n| n != node.inputs.len())
            || node.inputs.is_empty() && arity.is_none()
        {
            return invalid(format!(
                "node {id} ({}) has {} inputs",
                op_label(&node.op),
                node.inputs.len()
            ));
        }
        if let Op::Parameter { .. } = node.op {
            if !g.inputs.contains(&id) {
                return invalid(format!("parameter node {id} is not listed in graph inputs"));
            }
        }
        if let Op::Reshape { shape } = &node.op {
            if shape.iter().filter(|d| d.is_none()).count() > 1 {
                return invalid(format!(
                    "node {id}: reshape target has more than one dynamic dimension"
                ));
            }
        }
    }
    let mut names = HashSet::new();
    for &i in &g.inputs {
        let Some(Op::Parameter { name }) = g.nodes.get(i).map(|n| &n.op) else {
            return invalid(format!("graph input {i} is not a parameter node"));
        };
        check_name(name, "input")?;
        if !names.insert(name.as_str()) {
            return Err(EmitError::DuplicateName(name.clone()));
        }
    }
    if g.outputs.is_empty() {
        return invalid("the graph has no outputs");
    }
    for (name, v) in &g.outputs {
        check_name(name, "output")?;
        if *v >= g.nodes.len() {
            return invalid(format!("output {name:?} refers to missing node {v}"));
        }
        if !names.insert(name.as_str()) {
            return Err(EmitError::DuplicateName(name.clone()));
        }
    }
    Ok(())
}

/// An op for messages (a constant's data left out).
fn op_label(op: &Op) -> String {
    match op {
        Op::Constant(t) => format!("Constant {:?} {:?}", t.dtype(), t.shape()),
        other => format!("{other:?}"),
    }
}

fn check_name(name: &str, what: &str) -> Result<(), EmitError> {
    if name.is_empty() {
        return invalid(format!("an {what} has an empty name"));
    }
    if has_unrepresentable_chars(name) {
        return invalid(format!(
            "{what} name {name:?} has control characters that XML cannot carry"
        ));
    }
    Ok(())
}

/// An IR port: element type and dims (`-1` dynamic).
#[derive(Clone, Debug)]
struct Port {
    dtype: DType,
    dims: Vec<i64>,
}

impl Port {
    fn of(dtype: DType, shape: &Shape) -> Port {
        Port {
            dtype,
            dims: shape.iter().map(|d| d.map_or(-1, |v| v as i64)).collect(),
        }
    }
}

struct Layer {
    name: String,
    ty: &'static str,
    version: &'static str,
    /// Attributes of `<data>`, in order.
    data: Vec<(&'static str, String)>,
    /// Extra attributes of `<layer>` itself (`output_names` of a Result).
    extra: Vec<(&'static str, String)>,
    inputs: Vec<Port>,
    outputs: Vec<Port>,
    /// Tensor name of each output port, if any.
    names: Vec<Option<String>>,
}

/// An output port: (layer index, output index).
type PortRef = (usize, usize);

#[derive(Default)]
struct Emitter {
    layers: Vec<Layer>,
    /// (from layer, from output index, to layer, to input index)
    edges: Vec<(usize, usize, usize, usize)>,
    pool: ConstPool,
    /// `.bin` span of each OpGraph constant already written.
    const_spans: HashMap<ValueId, (usize, usize)>,
    layer_names: HashSet<String>,
}

fn precision(d: DType) -> &'static str {
    match d {
        DType::F32 => "FP32",
        DType::I64 => "I64",
        DType::Bool => "BOOL",
    }
}

fn shape_attr(dims: &[i64]) -> String {
    dims.iter()
        .map(|&d| {
            if d < 0 {
                "?".to_string()
            } else {
                d.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn unary_type(op: UnaryOp) -> (&'static str, &'static str) {
    use UnaryOp::*;
    let t = match op {
        Neg => "Negative",
        Abs => "Abs",
        Sign => "Sign",
        Exp => "Exp",
        Log => "Log",
        Sqrt => "Sqrt",
        Tanh => "Tanh",
        Sigmoid => "Sigmoid",
        SoftPlus => return ("SoftPlus", "opset4"),
        Erf => "Erf",
        Sin => "Sin",
        Cos => "Cos",
        Tan => "Tan",
        Atan => "Atan",
        Sinh => "Sinh",
        Cosh => "Cosh",
        Floor => "Floor",
    };
    (t, "opset1")
}

fn binary_type(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "Add",
        BinaryOp::Sub => "Subtract",
        BinaryOp::Mul => "Multiply",
        BinaryOp::Div => "Divide",
        BinaryOp::Pow => "Power",
        BinaryOp::Max => "Maximum",
        BinaryOp::Min => "Minimum",
    }
}

fn compare_type(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Greater => "Greater",
        CompareOp::GreaterEqual => "GreaterEqual",
        CompareOp::Less => "Less",
        CompareOp::LessEqual => "LessEqual",
        CompareOp::Equal => "Equal",
    }
}

fn reduce_type(op: ReduceOp) -> &'static str {
    match op {
        ReduceOp::Sum => "ReduceSum",
        ReduceOp::Mean => "ReduceMean",
        ReduceOp::Max => "ReduceMax",
        ReduceOp::Min => "ReduceMin",
        ReduceOp::Prod => "ReduceProd",
    }
}

fn numpy() -> Vec<(&'static str, String)> {
    vec![("auto_broadcast", "numpy".to_string())]
}

fn bool_attr(b: bool) -> String {
    if b { "true" } else { "false" }.to_string()
}

fn i64s(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&x| x as i64).collect()
}

impl Emitter {
    fn unique_name(&mut self, base: String) -> String {
        if self.layer_names.insert(base.clone()) {
            return base;
        }
        let mut k = 1;
        loop {
            let cand = format!("{base}.{k}");
            if self.layer_names.insert(cand.clone()) {
                return cand;
            }
            k += 1;
        }
    }

    fn out_port(&self, p: PortRef) -> &Port {
        &self.layers[p.0].outputs[p.1]
    }

    /// Add a layer fed by `inputs`; its input ports copy the producers' ports.
    #[allow(clippy::too_many_arguments)]
    fn layer(
        &mut self,
        name: String,
        ty: &'static str,
        version: &'static str,
        data: Vec<(&'static str, String)>,
        inputs: &[PortRef],
        outputs: Vec<Port>,
    ) -> usize {
        let name = self.unique_name(name);
        let id = self.layers.len();
        let in_ports = inputs.iter().map(|&p| self.out_port(p).clone()).collect();
        for (k, &(l, o)) in inputs.iter().enumerate() {
            self.edges.push((l, o, id, k));
        }
        let names = vec![None; outputs.len()];
        self.layers.push(Layer {
            name,
            ty,
            version,
            data,
            extra: vec![],
            inputs: in_ports,
            outputs,
            names,
        });
        id
    }

    /// A `Const` layer for `t`; `node` (the OpGraph constant it comes from, if any) lets the
    /// data of a constant with several consumers be serialized only once.
    fn const_layer(&mut self, name: String, t: &Tensor, node: Option<ValueId>) -> PortRef {
        let dtype = t.dtype();
        let cached = node.and_then(|v| self.const_spans.get(&v).copied());
        let (offset, size) = match cached {
            Some(span) => span,
            None => {
                let span = self.pool.add(dtype, &t.to_le_bytes());
                if let Some(v) = node {
                    self.const_spans.insert(v, span);
                }
                span
            }
        };
        let dims: Vec<i64> = t.shape().iter().map(|&d| d as i64).collect();
        let data = vec![
            ("element_type", dtype.ov_name().to_string()),
            ("shape", shape_attr(&dims)),
            ("offset", offset.to_string()),
            ("size", size.to_string()),
        ];
        let l = self.layer(
            name,
            "Const",
            "opset1",
            data,
            &[],
            vec![Port { dtype, dims }],
        );
        (l, 0)
    }

    fn i64_const(&mut self, name: String, values: &[i64]) -> PortRef {
        let t = Tensor::I64(ndarray::Array1::from(values.to_vec()).into_dyn());
        self.const_layer(name, &t, None)
    }

    fn run(mut self, g: &OpGraph, model_name: &str) -> Result<Ir, EmitError> {
        let live = g.live_nodes();

        let mut vals: Vec<Option<PortRef>> = vec![None; g.nodes.len()];
        // Inputs first, in graph input order.
        for &p in &g.inputs {
            let node = &g.nodes[p];
            let name = g.input_name(p).to_string();
            let port = Port::of(node.dtype, &node.shape);
            let data = vec![
                ("shape", shape_attr(&port.dims)),
                ("element_type", node.dtype.ov_name().to_string()),
            ];
            let l = self.layer(name.clone(), "Parameter", "opset1", data, &[], vec![port]);
            self.layers[l].names[0] = Some(name);
            vals[p] = Some((l, 0));
        }

        for (id, node) in g.nodes.iter().enumerate() {
            if !live[id] || matches!(node.op, Op::Parameter { .. } | Op::Constant(_)) {
                continue;
            }
            let ins: Vec<PortRef> = node
                .inputs
                .iter()
                .map(|&i| self.value(g, &vals, i, id))
                .collect();
            if let Op::Reduce { axes, .. } = &node.op {
                if axes.is_empty() {
                    // Reducing over no axis is the identity; OpenVINO's CPU plugin refuses a
                    // Reduce with empty axes, so write none.
                    vals[id] = Some(ins[0]);
                    continue;
                }
            }
            let out = vec![Port::of(node.dtype, &node.shape)];
            let l = self.node_layer(id, &node.op, &ins, out)?;
            vals[id] = Some((l, 0));
        }

        // Outputs.
        let mut results = Vec::with_capacity(g.outputs.len());
        for (name, v) in &g.outputs {
            let port = match &g.nodes[*v].op {
                Op::Constant(t) => self.const_layer(format!("n{v}_Const"), t, Some(*v)),
                _ => vals[*v].expect("live value emitted"),
            };
            let port = if self.layers[port.0].names[port.1].is_some() {
                // Already a named tensor (an input, or an earlier output): name a copy.
                let dtype = self.out_port(port).dtype;
                let out = vec![self.out_port(port).clone()];
                let l = self.layer(
                    format!("n{v}_Identity"),
                    "Convert",
                    "opset1",
                    vec![("destination_type", dtype.ov_name().to_string())],
                    &[port],
                    out,
                );
                (l, 0)
            } else {
                port
            };
            self.layers[port.0].names[port.1] = Some(name.clone());
            results.push((name.clone(), port));
        }
        for (name, port) in results {
            let l = self.layer(
                format!("{name}/Result"),
                "Result",
                "opset1",
                vec![],
                &[port],
                vec![],
            );
            self.layers[l].extra = vec![("output_names", escape_tensor_name(&name))];
        }

        let xml = self.to_xml(model_name);
        Ok(Ir {
            xml,
            bin: self.pool.into_bytes(),
        })
    }

    /// The port that carries value `v` for consumer `consumer`: constants get a fresh `Const`
    /// layer per consumer (the data itself is shared in the `.bin`).
    fn value(
        &mut self,
        g: &OpGraph,
        vals: &[Option<PortRef>],
        v: ValueId,
        consumer: ValueId,
    ) -> PortRef {
        match &g.nodes[v].op {
            Op::Constant(t) => self.const_layer(format!("n{v}_Const/n{consumer}"), t, Some(v)),
            _ => vals[v].expect("inputs are emitted before their consumers"),
        }
    }

    fn node_layer(
        &mut self,
        id: ValueId,
        op: &Op,
        ins: &[PortRef],
        out: Vec<Port>,
    ) -> Result<usize, EmitError> {
        let name = |ty: &str| format!("n{id}_{ty}");
        let l = match op {
            Op::Parameter { .. } | Op::Constant(_) => unreachable!("handled by the caller"),
            Op::Unary(UnaryOp::Tanh) => self.tanh_via_sigmoid(id, ins[0], out),
            Op::Unary(u) => {
                let (ty, ver) = unary_type(*u);
                self.layer(name(ty), ty, ver, vec![], ins, out)
            }
            Op::Binary(b) => {
                let ty = binary_type(*b);
                let mut data = numpy();
                if *b == BinaryOp::Div {
                    data.push(("m_pythondiv", "true".to_string()));
                }
                self.layer(name(ty), ty, "opset1", data, ins, out)
            }
            Op::Compare(c) => {
                let ty = compare_type(*c);
                self.layer(name(ty), ty, "opset1", numpy(), ins, out)
            }
            Op::Classify(ClassifyOp::IsNan) => {
                self.layer(name("IsNaN"), "IsNaN", "opset10", vec![], ins, out)
            }
            Op::Classify(c) => {
                let pos = *c == ClassifyOp::IsPosInf;
                let data = vec![
                    ("detect_negative", bool_attr(!pos)),
                    ("detect_positive", bool_attr(pos)),
                ];
                self.layer(name("IsInf"), "IsInf", "opset10", data, ins, out)
            }
            Op::Select => self.layer(name("Select"), "Select", "opset1", numpy(), ins, out),
            Op::MatMul => {
                let data = vec![
                    ("transpose_a", bool_attr(false)),
                    ("transpose_b", bool_attr(false)),
                ];
                self.layer(name("MatMul"), "MatMul", "opset1", data, ins, out)
            }
            Op::Reshape { shape } => {
                let target: Vec<i64> = shape.iter().map(|d| d.map_or(-1, |v| v as i64)).collect();
                let t = self.i64_const(name("Reshape/shape"), &target);
                let data = vec![("special_zero", bool_attr(false))];
                self.layer(
                    name("Reshape"),
                    "Reshape",
                    "opset1",
                    data,
                    &[ins[0], t],
                    out,
                )
            }
            Op::Transpose { perm } => {
                let p = self.i64_const(name("Transpose/perm"), &i64s(perm));
                self.layer(
                    name("Transpose"),
                    "Transpose",
                    "opset1",
                    vec![],
                    &[ins[0], p],
                    out,
                )
            }
            Op::Tile { repeats } => {
                let r = self.i64_const(name("Tile/repeats"), &i64s(repeats));
                self.layer(name("Tile"), "Tile", "opset1", vec![], &[ins[0], r], out)
            }
            Op::Concat { axis } => {
                let data = vec![("axis", axis.to_string())];
                self.layer(name("Concat"), "Concat", "opset1", data, ins, out)
            }
            Op::Slice {
                axis,
                start,
                stop,
                step,
            } => {
                if *step == 0 {
                    return invalid(format!("node {id}: slice step 0"));
                }
                let bounds = [*start as i64, *stop as i64, *step as i64];
                self.slice_layer(name("Slice"), ins[0], bounds, *axis, out)
            }
            Op::Reduce {
                op,
                axes,
                keep_dims,
            } => {
                let ty = reduce_type(*op);
                let a = self.i64_const(format!("n{id}_{ty}/axes"), &i64s(axes));
                let data = vec![("keep_dims", bool_attr(*keep_dims))];
                self.layer(name(ty), ty, "opset1", data, &[ins[0], a], out)
            }
            Op::Convert { to } => {
                let data = vec![("destination_type", to.ov_name().to_string())];
                self.layer(name("Convert"), "Convert", "opset1", data, ins, out)
            }
            // A Slice from the last element backwards with step -1.
            Op::Reverse { axis } => {
                self.slice_layer(name("Reverse"), ins[0], [-1, i64::MIN, -1], *axis, out)
            }
            // ShapeOf(like) feeds a bidirectional Broadcast: dynamic dims come from run time.
            Op::BroadcastLike => {
                let rank = self.out_port(ins[1]).dims.len() as i64;
                let shape_port = Port {
                    dtype: DType::I64,
                    dims: vec![rank],
                };
                let data = vec![("output_type", "i64".to_string())];
                let s = self.layer(
                    name("ShapeOf"),
                    "ShapeOf",
                    "opset3",
                    data,
                    &[ins[1]],
                    vec![shape_port],
                );
                let data = vec![("mode", "bidirectional".to_string())];
                self.layer(
                    name("Broadcast"),
                    "Broadcast",
                    "opset3",
                    data,
                    &[ins[0], (s, 0)],
                    out,
                )
            }
        };
        Ok(l)
    }

    /// An opset8 Slice of `x` along `axis` with `[start, stop, step]`.
    fn slice_layer(
        &mut self,
        name: String,
        x: PortRef,
        bounds: [i64; 3],
        axis: usize,
        out: Vec<Port>,
    ) -> usize {
        let start = self.i64_const(format!("{name}/start"), &[bounds[0]]);
        let stop = self.i64_const(format!("{name}/stop"), &[bounds[1]]);
        let step = self.i64_const(format!("{name}/step"), &[bounds[2]]);
        let axes = self.i64_const(format!("{name}/axes"), &[axis as i64]);
        self.layer(
            name,
            "Slice",
            "opset8",
            vec![],
            &[x, start, stop, step, axes],
            out,
        )
    }

    /// `tanh(x) = 2 sigmoid(2x) - 1`: the CPU plugin's Tanh (fused into a FullyConnected)
    /// ran 4-5x slower than this form on a tanh MLP (OpenVINO 2026.4, batch 16384); the
    /// result differs from tanh by f32 round-off (absolute error ~1e-7).
    fn tanh_via_sigmoid(&mut self, id: ValueId, x: PortRef, out: Vec<Port>) -> usize {
        let name = |ty: &str| format!("n{id}_Tanh/{ty}");
        let inner = out.clone();
        let two = self.const_layer(name("two"), &Tensor::scalar(2.0), None);
        let one = self.const_layer(name("one"), &Tensor::scalar(1.0), None);
        let x2 = self.layer(
            name("2x"),
            "Multiply",
            "opset1",
            numpy(),
            &[x, two],
            inner.clone(),
        );
        let s = self.layer(
            name("Sigmoid"),
            "Sigmoid",
            "opset1",
            vec![],
            &[(x2, 0)],
            inner.clone(),
        );
        let two_b = self.const_layer(name("two_b"), &Tensor::scalar(2.0), None);
        let s2 = self.layer(
            name("2s"),
            "Multiply",
            "opset1",
            numpy(),
            &[(s, 0), two_b],
            inner,
        );
        self.layer(
            format!("n{id}_Tanh"),
            "Subtract",
            "opset1",
            numpy(),
            &[(s2, 0), one],
            out,
        )
    }

    fn to_xml(&self, model_name: &str) -> String {
        let mut w = XmlWriter::new();
        w.open("net", &[("name", model_name), ("version", "11")]);
        w.open("layers", &[]);
        for (id, l) in self.layers.iter().enumerate() {
            let id_s = id.to_string();
            let mut attrs: Vec<(&str, &str)> = vec![
                ("id", &id_s),
                ("name", &l.name),
                ("type", l.ty),
                ("version", l.version),
            ];
            attrs.extend(l.extra.iter().map(|(k, v)| (*k, v.as_str())));
            w.open("layer", &attrs);
            if !l.data.is_empty() {
                let data: Vec<(&str, &str)> =
                    l.data.iter().map(|(k, v)| (*k, v.as_str())).collect();
                w.empty("data", &data);
            }
            if !l.inputs.is_empty() {
                w.open("input", &[]);
                for (k, p) in l.inputs.iter().enumerate() {
                    port(&mut w, k, p, None);
                }
                w.close("input");
            }
            if !l.outputs.is_empty() {
                w.open("output", &[]);
                for (k, p) in l.outputs.iter().enumerate() {
                    port(&mut w, l.inputs.len() + k, p, l.names[k].as_deref());
                }
                w.close("output");
            }
            w.close("layer");
        }
        w.close("layers");
        w.open("edges", &[]);
        for &(fl, fo, tl, ti) in &self.edges {
            let from_port = (self.layers[fl].inputs.len() + fo).to_string();
            w.empty(
                "edge",
                &[
                    ("from-layer", &fl.to_string()),
                    ("from-port", &from_port),
                    ("to-layer", &tl.to_string()),
                    ("to-port", &ti.to_string()),
                ],
            );
        }
        w.close("edges");
        w.open("rt_info", &[]);
        w.empty(
            "info",
            &[("name", "keras2ov"), ("value", env!("CARGO_PKG_VERSION"))],
        );
        w.close("rt_info");
        w.close("net");
        w.out
    }
}

fn port(w: &mut XmlWriter, id: usize, p: &Port, name: Option<&str>) {
    let id_s = id.to_string();
    let names = name.map(escape_tensor_name);
    let mut attrs: Vec<(&str, &str)> = vec![("id", &id_s), ("precision", precision(p.dtype))];
    if let Some(n) = &names {
        attrs.push(("names", n));
    }
    if p.dims.is_empty() {
        w.empty("port", &attrs);
        return;
    }
    w.open("port", &attrs);
    for d in &p.dims {
        w.text("dim", &d.to_string());
    }
    w.close("port");
}

impl fmt::Display for Ir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IR ({} bytes of xml, {} bytes of weights)",
            self.xml.len(),
            self.bin.len()
        )
    }
}

#[cfg(test)]
mod tests;
