use super::*;
use crate::opgraph::{DType, OpGraph, Tensor, UnaryOp};
use ndarray::{arr2, ArrayD, IxDyn};

fn doc(ir: &Ir) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(&ir.xml).expect("well-formed XML")
}

fn layers<'a>(d: &'a roxmltree::Document<'a>) -> Vec<roxmltree::Node<'a, 'a>> {
    d.descendants()
        .filter(|n| n.has_tag_name("layer"))
        .collect()
}

fn dims(port: roxmltree::Node) -> Vec<i64> {
    port.children()
        .filter(|n| n.has_tag_name("dim"))
        .map(|n| n.text().unwrap().parse().unwrap())
        .collect()
}

fn out_port<'a>(layer: roxmltree::Node<'a, 'a>) -> roxmltree::Node<'a, 'a> {
    layer
        .children()
        .find(|n| n.has_tag_name("output"))
        .unwrap()
        .children()
        .find(|n| n.has_tag_name("port"))
        .unwrap()
}

fn by_type<'a>(ls: &[roxmltree::Node<'a, 'a>], ty: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    ls.iter()
        .copied()
        .filter(|l| l.attribute("type") == Some(ty))
        .collect()
}

/// x[?,4] @ w[4,3] + b[3] -> tanh -> "y"
fn mlp() -> OpGraph {
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(4)]);
    let w = g.constant(Tensor::F32(ArrayD::from_elem(IxDyn(&[4, 3]), 0.5)));
    let b = g.constant(Tensor::F32(ArrayD::from_elem(IxDyn(&[3]), 0.25)));
    let h = g.matmul(x, w).unwrap();
    let h = g.add(h, b).unwrap();
    let y = g.unary(UnaryOp::Tanh, h).unwrap();
    g.output("y", y);
    g
}

#[test]
fn small_graph_structure() {
    let ir = emit(&mlp(), &EmitOptions::default()).unwrap();
    let d = doc(&ir);
    let net = d.root_element();
    assert_eq!(net.tag_name().name(), "net");
    assert_eq!(net.attribute("version"), Some("11"));
    assert_eq!(net.attribute("name"), Some("model"));
    let ls = layers(&d);
    let types: Vec<&str> = ls.iter().map(|l| l.attribute("type").unwrap()).collect();
    // Tanh is written as 2 * Sigmoid(2x) - 1 (see `tanh_via_sigmoid`).
    assert_eq!(
        types,
        [
            "Parameter",
            "Const",
            "MatMul",
            "Const",
            "Add",
            "Const",
            "Const",
            "Multiply",
            "Sigmoid",
            "Const",
            "Multiply",
            "Subtract",
            "Result"
        ]
    );
    // ids are 0..n, names unique
    for (i, l) in ls.iter().enumerate() {
        assert_eq!(l.attribute("id"), Some(i.to_string().as_str()));
    }
    let names: HashSet<&str> = ls.iter().map(|l| l.attribute("name").unwrap()).collect();
    assert_eq!(names.len(), ls.len());

    let p = ls[0];
    assert_eq!(p.attribute("name"), Some("x"));
    assert_eq!(p.attribute("version"), Some("opset1"));
    let data = p.children().find(|n| n.has_tag_name("data")).unwrap();
    assert_eq!(data.attribute("shape"), Some("?,4"));
    assert_eq!(data.attribute("element_type"), Some("f32"));
    assert_eq!(out_port(p).attribute("names"), Some("x"));
    assert_eq!(dims(out_port(p)), [-1, 4]);

    let mm = ls[2];
    assert!(mm.attribute("name").unwrap().ends_with("_MatMul"));
    let ins: Vec<_> = mm
        .descendants()
        .filter(|n| n.has_tag_name("port") && n.parent().unwrap().has_tag_name("input"))
        .collect();
    assert_eq!(ins.len(), 2);
    assert_eq!(dims(ins[1]), [4, 3]);
    assert_eq!(out_port(mm).attribute("id"), Some("2"));
    assert_eq!(dims(out_port(mm)), [-1, 3]);

    let tanh = ls[11];
    assert!(tanh.attribute("name").unwrap().ends_with("_Tanh"));
    assert_eq!(out_port(tanh).attribute("names"), Some("y"));
    let res = ls[12];
    assert_eq!(res.attribute("output_names"), Some("y"));

    // every edge joins existing ports with equal dims
    let edges: Vec<_> = d.descendants().filter(|n| n.has_tag_name("edge")).collect();
    assert_eq!(edges.len(), 12);
    for e in edges {
        let get = |a: &str| -> usize { e.attribute(a).unwrap().parse().unwrap() };
        let port = |layer: usize, id: usize| {
            ls[layer]
                .descendants()
                .find(|n| n.has_tag_name("port") && n.attribute("id") == Some(&id.to_string()))
                .unwrap()
        };
        let (from, to) = (
            port(get("from-layer"), get("from-port")),
            port(get("to-layer"), get("to-port")),
        );
        assert!(from.parent().unwrap().has_tag_name("output"));
        assert!(to.parent().unwrap().has_tag_name("input"));
        assert_eq!(dims(from), dims(to));
        assert_eq!(from.attribute("precision"), to.attribute("precision"));
    }
}

#[test]
fn constants_are_deduplicated_in_the_bin() {
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(2)]);
    let a = g.constant(Tensor::F32(arr2(&[[1.0f32, 2.0], [3.0, 4.0]]).into_dyn()));
    let b = g.constant(Tensor::F32(arr2(&[[1.0f32, 2.0], [3.0, 4.0]]).into_dyn()));
    let c = g.constant(Tensor::F32(arr2(&[[5.0f32, 6.0], [7.0, 8.0]]).into_dyn()));
    let h = g.matmul(x, a).unwrap();
    let h = g.matmul(h, b).unwrap();
    let h = g.matmul(h, c).unwrap();
    // `a` again: a second consumer of the same constant node
    let h = g.matmul(h, a).unwrap();
    g.output("y", h);
    let ir = emit(&g, &EmitOptions::default()).unwrap();
    let d = doc(&ir);
    let ls = layers(&d);
    let consts = by_type(&ls, "Const");
    assert_eq!(consts.len(), 4, "one Const layer per consumer");
    let spans: Vec<(usize, usize)> = consts
        .iter()
        .map(|l| {
            let data = l.children().find(|n| n.has_tag_name("data")).unwrap();
            assert_eq!(data.attribute("shape"), Some("2,2"));
            (
                data.attribute("offset").unwrap().parse().unwrap(),
                data.attribute("size").unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(spans, [(0, 16), (0, 16), (16, 16), (0, 16)]);
    assert_eq!(ir.bin.len(), 32);
    let f = |o: usize| f32::from_le_bytes(ir.bin[o..o + 4].try_into().unwrap());
    assert_eq!((f(0), f(12), f(16), f(28)), (1.0, 4.0, 5.0, 8.0));
}

#[test]
fn batch_makes_every_shape_static() {
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(4)]);
    let flat = g.reshape(x, vec![None]).unwrap(); // [?] is 4*batch, not batch
    let s = g.unary(UnaryOp::Exp, flat).unwrap();
    let back = g.reshape(s, vec![None, Some(2)]).unwrap();
    g.output("y", back);
    let opts = EmitOptions {
        batch: Some(3),
        model_name: "fixed".into(),
        ..Default::default()
    };
    let ir = emit(&g, &opts).unwrap();
    let d = doc(&ir);
    assert_eq!(d.root_element().attribute("name"), Some("fixed"));
    let ls = layers(&d);
    assert!(!ir.xml.contains("<dim>-1</dim>"));
    for data in d.descendants().filter(|n| n.has_tag_name("data")) {
        assert!(!data.attribute("shape").unwrap_or("").contains('?'));
    }
    let p = ls[0];
    let data = p.children().find(|n| n.has_tag_name("data")).unwrap();
    assert_eq!(data.attribute("shape"), Some("3,4"));
    let exp = by_type(&ls, "Exp")[0];
    assert_eq!(dims(out_port(exp)), [12]);
    let reshapes = by_type(&ls, "Reshape");
    assert_eq!(dims(out_port(reshapes[1])), [6, 2]);

    // without --batch the reshape targets carry -1 and the dims are dynamic
    let ir = emit(&g, &EmitOptions::default()).unwrap();
    let d = doc(&ir);
    let ls = layers(&d);
    assert_eq!(dims(out_port(by_type(&ls, "Exp")[0])), [-1]);
    let target_consts: Vec<_> = by_type(&ls, "Const");
    assert_eq!(target_consts.len(), 2);
    let data = target_consts[1]
        .children()
        .find(|n| n.has_tag_name("data"))
        .unwrap();
    let off: usize = data.attribute("offset").unwrap().parse().unwrap();
    let v: Vec<i64> = (0..2)
        .map(|k| i64::from_le_bytes(ir.bin[off + 8 * k..off + 8 * k + 8].try_into().unwrap()))
        .collect();
    assert_eq!(v, [-1, 2]);

    assert!(matches!(
        emit(
            &g,
            &EmitOptions {
                batch: Some(0),
                ..Default::default()
            }
        ),
        Err(EmitError::Batch { batch: 0, .. })
    ));
}

#[test]
fn outputs_sharing_a_value_or_an_input_get_their_own_port() {
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(2)]);
    let t = g.unary(UnaryOp::Tanh, x).unwrap();
    g.output("a", t);
    g.output("b,c", t);
    g.output("x_out", x);
    let k = g.scalar(2.0);
    g.output("k", k);
    let ir = emit(&g, &EmitOptions::default()).unwrap();
    let d = doc(&ir);
    let ls = layers(&d);
    let named: Vec<&str> = ls
        .iter()
        .filter(|l| l.children().any(|n| n.has_tag_name("output")))
        .filter_map(|l| out_port(*l).attribute("names"))
        .collect();
    assert_eq!(named, ["x", "a", r"b\,c", "x_out", "k"]);
    let results = by_type(&ls, "Result");
    let rn: Vec<&str> = results
        .iter()
        .map(|r| r.attribute("output_names").unwrap())
        .collect();
    assert_eq!(rn, ["a", r"b\,c", "x_out", "k"]);
    // two identity Converts (second use of tanh, the input) with f32 -> f32
    let conv = by_type(&ls, "Convert");
    assert_eq!(conv.len(), 2);
    for c in conv {
        let data = c.children().find(|n| n.has_tag_name("data")).unwrap();
        assert_eq!(data.attribute("destination_type"), Some("f32"));
    }
    // the scalar constant output has no dims
    let kc = by_type(&ls, "Const")[0];
    assert_eq!(dims(out_port(kc)), Vec::<i64>::new());
    let data = kc.children().find(|n| n.has_tag_name("data")).unwrap();
    assert_eq!(data.attribute("shape"), Some(""));
}

#[test]
fn names_are_escaped_and_checked() {
    let mut g = OpGraph::new();
    let x = g.parameter("in<&\">", DType::F32, vec![Some(2)]);
    let y = g.unary(UnaryOp::Exp, x).unwrap();
    g.output("jacobian/u/x", y);
    let ir = emit(&g, &EmitOptions::default()).unwrap();
    let d = doc(&ir);
    let ls = layers(&d);
    assert_eq!(ls[0].attribute("name"), Some("in<&\">"));
    assert_eq!(out_port(ls[0]).attribute("names"), Some("in<&\">"));
    assert_eq!(out_port(ls[1]).attribute("names"), Some("jacobian/u/x"));

    let mut dup = g.clone();
    dup.output("in<&\">", y);
    assert_eq!(
        emit(&dup, &EmitOptions::default()),
        Err(EmitError::DuplicateName("in<&\">".into()))
    );
    let mut bad = g.clone();
    bad.output("a\u{1}", y);
    assert!(matches!(
        emit(&bad, &EmitOptions::default()),
        Err(EmitError::InvalidGraph(_))
    ));
    let mut none = g;
    none.outputs.clear();
    assert!(emit(&none, &EmitOptions::default()).is_err());
}

#[test]
fn dead_nodes_are_dropped_but_inputs_kept() {
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(2)]);
    let _unused_input = g.parameter("z", DType::F32, vec![Some(1)]);
    let _dead = g.unary(UnaryOp::Exp, x).unwrap();
    let y = g.unary(UnaryOp::Log, x).unwrap();
    g.output("y", y);
    let ir = emit(&g, &EmitOptions::default()).unwrap();
    let d = doc(&ir);
    let types: Vec<&str> = layers(&d)
        .iter()
        .map(|l| l.attribute("type").unwrap())
        .collect();
    assert_eq!(types, ["Parameter", "Parameter", "Log", "Result"]);
}

/// Types of the emitted layers, in order, without Parameters, Consts and Results.
fn op_types(g: &OpGraph) -> Vec<String> {
    let ir = emit(g, &EmitOptions::default()).unwrap();
    let d = doc(&ir);
    layers(&d)
        .iter()
        .map(|l| l.attribute("type").unwrap().to_string())
        .filter(|t| !["Parameter", "Const", "Result"].contains(&t.as_str()))
        .collect()
}

#[test]
fn sums_over_a_short_leading_axis_are_split_and_added() {
    // The sum over directions [3, B, 4] -> [1, B, 4]: Split and two Adds, no ReduceSum; a
    // long leading axis keeps the ReduceSum.
    for (r, want) in [(3, (1, 2, 0)), (9, (0, 0, 1))] {
        let mut g = OpGraph::new();
        let t = g.parameter("t", DType::F32, vec![Some(r), None, Some(4)]);
        let s = g
            .reduce(crate::opgraph::ReduceOp::Sum, t, vec![0], true)
            .unwrap();
        g.output("s", s);
        let types = op_types(&g);
        let count = |ty: &str| types.iter().filter(|t| *t == ty).count();
        assert_eq!((count("Split"), count("Add"), count("ReduceSum")), want);
    }
}

#[test]
fn write_is_atomic_and_leaves_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let ir = emit(&mlp(), &EmitOptions::default()).unwrap();
    let xml = dir.path().join("m.xml");
    ir.write(&xml).unwrap();
    assert_eq!(std::fs::read_to_string(&xml).unwrap(), ir.xml);
    assert_eq!(std::fs::read(dir.path().join("m.bin")).unwrap(), ir.bin);
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 2);
    // a directory that does not exist: an error, nothing written
    assert!(ir.write(dir.path().join("no/such/m.xml")).is_err());
    assert!(ir.write(dir.path().join("m.bin")).is_err());
}

#[test]
fn a_large_batch_of_small_samples_is_cut_into_chunks_of_about_a_cache() {
    // mlp(): the widest value holds 4 f32 per sample (x), 16 bytes.
    let g = mlp();
    let p = ChunkPolicy {
        target_bytes: 16 * 1000,
        min_rows: 500,
        max_bytes: usize::MAX,
        max_chunks: 8,
    };
    assert_eq!(chunk_sizes(&g, 4000, &p), [1000; 4]);
    assert_eq!(chunk_sizes(&g, 4001, &p), [801, 800, 800, 800, 800]);
    assert_eq!(chunk_sizes(&g, 999, &p), [999], "no chunk below min_rows");
    assert_eq!(
        chunk_sizes(&g, 100_000, &p),
        [12_500; 8],
        "at most max_chunks"
    );
    // The default aims at 1 MiB: 16 bytes a sample fit 65536 rows.
    assert_eq!(chunk_sizes(&g, 16384, &ChunkPolicy::default()), [16384]);
    assert_eq!(
        chunk_sizes(&g, 200_000, &ChunkPolicy::default()),
        [50_000; 4]
    );

    let ir = emit(
        &g,
        &EmitOptions {
            batch: Some(4001),
            chunking: Some(p),
            ..Default::default()
        },
    )
    .unwrap();
    let d = doc(&ir);
    let ls = layers(&d);
    assert_eq!(by_type(&ls, "Parameter").len(), 1);
    assert_eq!(by_type(&ls, "MatMul").len(), 5);
    let concat = by_type(&ls, "Concat");
    assert_eq!(concat.len(), 1);
    assert_eq!(dims(out_port(concat[0])), [4001, 3]);
    let rows: Vec<i64> = by_type(&ls, "MatMul")
        .iter()
        .map(|l| dims(out_port(*l))[0])
        .collect();
    assert_eq!(rows, [801, 800, 800, 800, 800]);
    // Without a static batch, or with chunking off, the graph stays whole.
    for opts in [
        EmitOptions::default(),
        EmitOptions {
            batch: Some(4001),
            chunking: None,
            ..Default::default()
        },
    ] {
        let ir = emit(&g, &opts).unwrap();
        let d = doc(&ir);
        assert_eq!(by_type(&layers(&d), "MatMul").len(), 1);
    }
}

#[test]
fn graphs_that_mix_samples_are_not_cut() {
    let p = ChunkPolicy {
        target_bytes: 1,
        min_rows: 1,
        max_bytes: usize::MAX,
        max_chunks: 4,
    };
    let mut g = mlp();
    let y = g.outputs[0].1;
    let total = g
        .reduce(crate::opgraph::ReduceOp::Sum, y, vec![0], true)
        .unwrap();
    g.outputs[0].1 = total;
    assert_eq!(chunk_sizes(&g, 400, &p), [400]);
    // A product of two values of the same sample (attention's scores) is not a dense layer.
    let mut g = mlp();
    let y = g.outputs[0].1;
    let col = g.reshape(y, vec![None, Some(3), Some(1)]).unwrap();
    let row = g.reshape(y, vec![None, Some(1), Some(3)]).unwrap();
    let outer = g.matmul(col, row).unwrap();
    g.output("outer", outer);
    assert!(crate::opgraph::samples::sample_axes(&g).is_ok());
    assert_eq!(chunk_sizes(&g, 400, &p), [400]);
    // A dynamic dimension besides the batch (a flattened batch) leaves the graph whole too.
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(4)]);
    let flat = g.reshape(x, vec![None]).unwrap();
    g.output("y", flat);
    assert_eq!(chunk_sizes(&g, 400, &p), [400]);
}

#[test]
fn large_samples_are_not_cut() {
    // 16 bytes a sample: 500 rows hold 8000 bytes, over a 4000-byte limit.
    let p = ChunkPolicy {
        target_bytes: 1,
        min_rows: 500,
        max_bytes: 4000,
        max_chunks: 8,
    };
    assert_eq!(chunk_sizes(&mlp(), 4000, &p), [4000]);
    let p = ChunkPolicy {
        max_bytes: 8000,
        ..p
    };
    assert_eq!(chunk_sizes(&mlp(), 4000, &p), [500; 8]);
}
