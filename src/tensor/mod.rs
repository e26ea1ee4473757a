//! Element types, constant tensors and shapes: the vocabulary every stage shares.

mod shape;

pub use shape::{
    broadcast_shapes, fmt as shape_fmt, infer_unknown, num_elements, static_product, Dim, Shape,
};

use ndarray::{ArrayD, IxDyn};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    I64,
    Bool,
}

impl DType {
    /// OpenVINO element type name (`element_type` attribute).
    pub fn ov_name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::I64 => "i64",
            DType::Bool => "boolean",
        }
    }

    /// OpenVINO port precision name.
    pub fn ov_precision(self) -> &'static str {
        match self {
            DType::F32 => "FP32",
            DType::I64 => "I64",
            DType::Bool => "BOOL",
        }
    }
}

/// A constant: f32 data (weights, literals) or i64 data (indices).
#[derive(Clone, Debug, PartialEq)]
pub enum Tensor {
    F32(ArrayD<f32>),
    I64(ArrayD<i64>),
}

impl Tensor {
    pub fn scalar(v: f32) -> Self {
        Tensor::F32(ArrayD::from_elem(IxDyn(&[]), v))
    }

    /// A rank-1 i64 tensor (shapes, axes, permutations).
    pub fn i64s(values: &[i64]) -> Self {
        Tensor::I64(ndarray::Array1::from(values.to_vec()).into_dyn())
    }

    pub fn dtype(&self) -> DType {
        match self {
            Tensor::F32(_) => DType::F32,
            Tensor::I64(_) => DType::I64,
        }
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Tensor::F32(a) => a.shape(),
            Tensor::I64(a) => a.shape(),
        }
    }

    /// Little-endian bytes in C order, as the IR `.bin` stores them.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            Tensor::F32(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Tensor::I64(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// The value as f64, for the reference interpreter.
    pub fn to_f64(&self) -> ArrayD<f64> {
        match self {
            Tensor::F32(a) => a.mapv(f64::from),
            Tensor::I64(a) => a.mapv(|v| v as f64),
        }
    }
}
