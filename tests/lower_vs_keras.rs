//! Every fixture, loaded and lowered, then evaluated by the f64 reference interpreter, must
//! reproduce Keras' outputs. This checks the loader and the lowering without OpenVINO.

mod common;

use common::{compare, get, get_tensor, manifest, read_npz, read_tensors};
use keras2ov::interp;

#[test]
fn lowered_graphs_reproduce_keras_outputs() {
    let fixtures = manifest();
    assert!(fixtures.len() > 10, "too few fixtures: {}", fixtures.len());
    let mut failures = Vec::new();
    for f in fixtures
        .iter()
        .filter(|f| !common::expected_unsupported(&f.name))
    {
        let result = (|| -> Result<(), String> {
            let (_, g) = keras2ov::pipeline::load_graph_shaped(&f.keras, &f.input_shapes())
                .map_err(|e| format!("{e:#}"))?;
            let inputs = read_tensors(&f.inputs);
            let args: Vec<_> = g
                .inputs
                .iter()
                .map(|&p| get_tensor(&inputs, g.input_name(p)).to_f64())
                .collect();
            let got = interp::eval(&g, &args)?;
            let want = read_npz(&f.outputs);
            for ((name, _), value) in g.outputs.iter().zip(&got) {
                if let Some(msg) = compare(value, get(&want, name), f.atol, f.rtol) {
                    return Err(format!("output '{name}': {msg}"));
                }
            }
            if g.outputs.len() != want.len() {
                return Err(format!(
                    "{} outputs, Keras has {}",
                    g.outputs.len(),
                    want.len()
                ));
            }
            Ok(())
        })();
        if let Err(e) = result {
            failures.push(format!("{}: {e}", f.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ from Keras:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
}
