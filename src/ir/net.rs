//! The IR network being built: layers with typed ports, edges, and the `.bin` pool.

use std::collections::{HashMap, HashSet};

use super::pool::ConstPool;
use super::Ir;
use crate::tensor::{DType, Shape, Tensor};
use crate::xml::{escape_tensor_name, XmlWriter};

/// An IR port: element type and dims (`-1` dynamic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    pub dtype: DType,
    pub dims: Vec<i64>,
}

impl Port {
    pub fn of(dtype: DType, shape: &Shape) -> Port {
        Port {
            dtype,
            dims: shape.iter().map(|d| d.map_or(-1, |v| v as i64)).collect(),
        }
    }

    /// The `shape` attribute form: `?,4`.
    pub fn shape_attr(&self) -> String {
        self.dims
            .iter()
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
}

/// An output port: (layer index, output index).
pub type PortRef = (usize, usize);

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

/// Layers, edges and constant data of one IR.
#[derive(Default)]
pub struct Net {
    layers: Vec<Layer>,
    /// (from layer, from output index, to layer, to input index)
    edges: Vec<(usize, usize, usize, usize)>,
    pool: ConstPool,
    /// `.bin` span of each keyed constant already written.
    const_spans: HashMap<usize, (usize, usize)>,
    layer_names: HashSet<String>,
}

impl Net {
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

    pub fn port(&self, p: PortRef) -> &Port {
        &self.layers[p.0].outputs[p.1]
    }

    /// The tensor name on an output port, if any.
    pub fn tensor_name(&self, p: PortRef) -> Option<&str> {
        self.layers[p.0].names[p.1].as_deref()
    }

    pub fn set_tensor_name(&mut self, p: PortRef, name: &str) {
        self.layers[p.0].names[p.1] = Some(name.to_string());
    }

    /// Add a layer with one output port fed by `inputs`; its input ports copy the producers'.
    pub fn layer(
        &mut self,
        name: String,
        ty: &'static str,
        version: &'static str,
        data: Vec<(&'static str, String)>,
        inputs: &[PortRef],
        output: Option<Port>,
    ) -> PortRef {
        self.layer_outputs(
            name,
            ty,
            version,
            data,
            inputs,
            output.into_iter().collect(),
        );
        (self.layers.len() - 1, 0)
    }

    /// `layer` with any number of output ports (`Split`); their refs in order.
    pub fn layer_outputs(
        &mut self,
        name: String,
        ty: &'static str,
        version: &'static str,
        data: Vec<(&'static str, String)>,
        inputs: &[PortRef],
        outputs: Vec<Port>,
    ) -> Vec<PortRef> {
        let name = self.unique_name(name);
        let id = self.layers.len();
        let in_ports = inputs.iter().map(|&p| self.port(p).clone()).collect();
        for (k, &(l, o)) in inputs.iter().enumerate() {
            self.edges.push((l, o, id, k));
        }
        let n = outputs.len();
        let names = vec![None; n];
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
        (0..n).map(|k| (id, k)).collect()
    }

    /// A graph input: a `Parameter` layer whose port carries the input's name.
    pub fn parameter(&mut self, name: &str, port: Port) -> PortRef {
        let data = vec![
            ("shape", port.shape_attr()),
            ("element_type", port.dtype.ov_name().to_string()),
        ];
        let p = self.layer(
            name.to_string(),
            "Parameter",
            "opset1",
            data,
            &[],
            Some(port),
        );
        self.set_tensor_name(p, name);
        p
    }

    /// A graph output: a `Result` layer reading `p`, whose tensor name must already be set.
    pub fn result(&mut self, name: &str, p: PortRef) {
        let (l, _) = self.layer(
            format!("{name}/Result"),
            "Result",
            "opset1",
            vec![],
            &[p],
            None,
        );
        self.layers[l].extra = vec![("output_names", escape_tensor_name(name))];
    }

    /// A `Const` layer for `t`. Constants with the same `key` (the OpGraph node they come
    /// from) share their `.bin` data; identical bytes are stored once anyway.
    pub fn constant(&mut self, name: String, t: &Tensor, key: Option<usize>) -> PortRef {
        let dtype = t.dtype();
        let cached = key.and_then(|k| self.const_spans.get(&k).copied());
        let (offset, size) = match cached {
            Some(span) => span,
            None => {
                let span = self.pool.add(dtype, &t.to_le_bytes());
                if let Some(k) = key {
                    self.const_spans.insert(k, span);
                }
                span
            }
        };
        let port = Port {
            dtype,
            dims: t.shape().iter().map(|&d| d as i64).collect(),
        };
        let data = vec![
            ("element_type", dtype.ov_name().to_string()),
            ("shape", port.shape_attr()),
            ("offset", offset.to_string()),
            ("size", size.to_string()),
        ];
        self.layer(name, "Const", "opset1", data, &[], Some(port))
    }

    /// The IR text and weights.
    pub fn finish(self, model_name: &str) -> Ir {
        let xml = self.to_xml(model_name);
        Ir {
            xml,
            bin: self.pool.into_bytes(),
        }
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
                    write_port(&mut w, k, p, None);
                }
                w.close("input");
            }
            if !l.outputs.is_empty() {
                w.open("output", &[]);
                for (k, p) in l.outputs.iter().enumerate() {
                    write_port(&mut w, l.inputs.len() + k, p, l.names[k].as_deref());
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

fn write_port(w: &mut XmlWriter, id: usize, p: &Port, name: Option<&str>) {
    let id_s = id.to_string();
    let names = name.map(escape_tensor_name);
    let mut attrs: Vec<(&str, &str)> = vec![("id", &id_s), ("precision", p.dtype.ov_precision())];
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

/// Where one graph node writes its layers: layer names start with the node's prefix
/// (`n12_MatMul`), and the node's own output port is known.
pub struct LayerCx<'n> {
    pub net: &'n mut Net,
    prefix: String,
    out: Port,
    /// Layers made by `eltwise` so far (for unique names).
    scratch: usize,
}

/// OpenVINO's `auto_broadcast="numpy"`, which every element-wise op here uses.
pub fn numpy_broadcast() -> Vec<(&'static str, String)> {
    vec![("auto_broadcast", "numpy".to_string())]
}

/// `true` / `false` as IR attributes spell them.
pub fn bool_attr(b: bool) -> String {
    if b { "true" } else { "false" }.to_string()
}

impl<'n> LayerCx<'n> {
    pub fn new(net: &'n mut Net, prefix: String, out: Port) -> Self {
        LayerCx {
            net,
            prefix,
            out,
            scratch: 0,
        }
    }

    /// The port of the node's value.
    pub fn out(&self) -> Port {
        self.out.clone()
    }

    pub fn port(&self, p: PortRef) -> &Port {
        self.net.port(p)
    }

    /// The layer that computes the node's value: `{prefix}_{ty}`, with the node's port.
    pub fn op(
        &mut self,
        ty: &'static str,
        version: &'static str,
        data: Vec<(&'static str, String)>,
        ins: &[PortRef],
    ) -> PortRef {
        let out = self.out();
        let name = format!("{}_{ty}", self.prefix);
        self.net.layer(name, ty, version, data, ins, Some(out))
    }

    /// A helper layer `{prefix}_{suffix}` with its own output port.
    pub fn aux(
        &mut self,
        suffix: &str,
        ty: &'static str,
        version: &'static str,
        data: Vec<(&'static str, String)>,
        ins: &[PortRef],
        out: Port,
    ) -> PortRef {
        let name = format!("{}_{suffix}", self.prefix);
        self.net.layer(name, ty, version, data, ins, Some(out))
    }

    /// A helper layer `{prefix}_{suffix}` with several output ports.
    pub fn aux_outputs(
        &mut self,
        suffix: &str,
        ty: &'static str,
        version: &'static str,
        data: Vec<(&'static str, String)>,
        ins: &[PortRef],
        outs: Vec<Port>,
    ) -> Vec<PortRef> {
        let name = format!("{}_{suffix}", self.prefix);
        self.net.layer_outputs(name, ty, version, data, ins, outs)
    }

    /// An element-wise layer `{prefix}_{ty}.{k}` of the node's shape and the given element
    /// type, NumPy broadcasting: for writing a primitive as a small arithmetic subgraph.
    pub fn eltwise(&mut self, ty: &'static str, ins: &[PortRef], dtype: DType) -> PortRef {
        let mut out = self.out();
        out.dtype = dtype;
        self.scratch += 1;
        let name = format!("{}_{ty}.{}", self.prefix, self.scratch);
        let data = if ins.len() > 1 {
            numpy_broadcast()
        } else {
            vec![]
        };
        self.net.layer(name, ty, "opset1", data, ins, Some(out))
    }

    /// A rank-1 i64 `Const` (shapes, axes, permutations), named `{prefix}_{suffix}`.
    pub fn i64s(&mut self, suffix: &str, values: &[i64]) -> PortRef {
        let name = format!("{}_{suffix}", self.prefix);
        self.net.constant(name, &Tensor::i64s(values), None)
    }

    /// A `Const` of any value, named `{prefix}_{suffix}`.
    pub fn constant(&mut self, suffix: &str, t: &Tensor) -> PortRef {
        let name = format!("{}_{suffix}", self.prefix);
        self.net.constant(name, t, None)
    }

    /// A rank-0 f32 `Const`, named `{prefix}_{suffix}`.
    pub fn scalar(&mut self, suffix: &str, v: f32) -> PortRef {
        let name = format!("{}_{suffix}", self.prefix);
        self.net.constant(name, &Tensor::scalar(v), None)
    }

    /// An opset8 `Slice` of `x` along `axis` with `[start, stop, step]`.
    pub fn slice(
        &mut self,
        ty: &'static str,
        x: PortRef,
        bounds: [i64; 3],
        axis: usize,
    ) -> PortRef {
        let start = self.i64s(&format!("{ty}/start"), &[bounds[0]]);
        let stop = self.i64s(&format!("{ty}/stop"), &[bounds[1]]);
        let step = self.i64s(&format!("{ty}/step"), &[bounds[2]]);
        let axes = self.i64s(&format!("{ty}/axes"), &[axis as i64]);
        let out = self.out();
        let name = format!("{}_{ty}", self.prefix);
        self.net.layer(
            name,
            "Slice",
            "opset8",
            vec![],
            &[x, start, stop, step, axes],
            Some(out),
        )
    }
}
