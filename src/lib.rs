//! keras2ov: Keras 3 `.keras` models to OpenVINO IR, with derivatives.
//!
//! Pipeline: `loader` (archive -> LayerGraph) -> `lower` (LayerGraph -> OpGraph of primitives)
//! -> `emit` (OpGraph -> IR v11 xml/bin) -> `runtime` (OpenVINO). `interp` evaluates an OpGraph
//! in f64 for tests.

pub mod interp;
pub mod layer_graph;
pub mod lower;
pub mod opgraph;
