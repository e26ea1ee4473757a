//! keras2ov: Keras 3 `.keras` models to OpenVINO IR, with derivatives.
//!
//! Pipeline: `loader` (archive -> LayerGraph) -> `lower` (LayerGraph -> OpGraph of primitives)
//! -> `emit` (OpGraph -> IR v11 xml/bin) -> `runtime` (OpenVINO). `interp` evaluates an OpGraph
//! in f64 for tests.

pub mod autodiff;
pub mod emit;
pub mod fuzz;
pub mod inspect;
pub mod interp;
pub mod io;
pub mod layer_graph;
pub mod loader;
pub mod lower;
pub mod npy;
pub mod opgraph;
pub mod pipeline;
pub mod runtime;
pub mod sensitivity;
pub mod text;
