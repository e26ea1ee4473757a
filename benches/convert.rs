//! Conversion speed: load + lower + emit of bundled fixtures, and building derivative graphs.
//! Run with `cargo bench` (or `make bench`).

use criterion::{criterion_group, criterion_main, Criterion};
use keras2ov::pipeline::{self, Derivatives};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/models/{name}.keras"))
}

fn convert(c: &mut Criterion) {
    let mut group = c.benchmark_group("convert");
    for name in [
        "model_pinn",
        "seq_mlp",
        "model_nested",
        "layer_layernorm_3d",
    ] {
        let path = fixture(name);
        group.bench_function(name, |b| {
            b.iter(|| pipeline::convert(&path, None).expect("converts"))
        });
    }
    let pinn = fixture("model_pinn");
    for (label, hessian) in [
        ("model_pinn --jacobian", false),
        ("model_pinn --hessian", true),
    ] {
        let d = Derivatives {
            jacobian: true,
            hessian,
            ..Default::default()
        };
        group.bench_function(label, |b| {
            b.iter(|| pipeline::convert_with(&pinn, None, &d).expect("converts"))
        });
    }
    group.finish();
}

criterion_group!(benches, convert);
criterion_main!(benches);
