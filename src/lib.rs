//! keras2ov: Keras 3 `.keras` models to OpenVINO IR, with derivatives.
//!
//! Stages, each depending only on those before it:
//! - `xml`, `text`, `files`, `tensor`: shared vocabulary (XML text, archive strings in
//!   messages, file paths, dtypes and shapes);
//! - `ir`: the IR v11 file format (layers, ports, weights);
//! - `opgraph`: the graph of primitives; each primitive (`opgraph::prim`) carries all its
//!   rules;
//! - `interp`, `emit`, `autodiff` (and `opgraph::simplify`): passes that walk an OpGraph;
//! - `layer_graph`, `loader`: a `.keras` archive parsed into a layer graph;
//! - `lower`: layer graph -> OpGraph;
//! - `pde`: Laplacians, partial derivatives and residuals (Taylor mode) as graph outputs;
//! - `runtime`: OpenVINO (the only module that touches it), `io` and `npy`: arrays on disk;
//! - `inspect`: the layer table; `fuzz`: the mutation harness for hostile files;
//! - `pipeline`, `sensitivity`: the stages chained for the command line (and the Python
//!   module, `python/`); `ovms`: a model server repository.

pub mod autodiff;
pub mod emit;
pub mod files;
pub mod fuzz;
pub mod inspect;
pub mod interp;
pub mod io;
pub mod ir;
pub mod layer_graph;
pub mod loader;
pub mod lower;
pub mod npy;
pub mod opgraph;
pub mod ovms;
pub mod pde;
pub mod pipeline;
pub mod runtime;
pub mod sensitivity;
pub mod tensor;
#[cfg(test)]
mod testing;
pub mod text;
pub mod xml;
