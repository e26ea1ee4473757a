//! Element types, constant tensors and shapes: the vocabulary every stage shares.

mod shape;

pub use shape::{
    broadcast_shapes, fmt as shape_fmt, infer_unknown, num_elements, static_product, Dim, Shape,
};

use ndarray::{ArrayD, ArrayViewD, IxDyn};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    /// Keras' `int32` (JAX computes every integer in int32 unless x64 is enabled).
    I32,
    I64,
    Bool,
}

impl DType {
    /// OpenVINO element type name (`element_type` attribute).
    pub fn ov_name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::Bool => "boolean",
        }
    }

    /// OpenVINO port precision name.
    pub fn ov_precision(self) -> &'static str {
        match self {
            DType::F32 => "FP32",
            DType::I32 => "I32",
            DType::I64 => "I64",
            DType::Bool => "BOOL",
        }
    }

    /// Whether values of this type are integers (never differentiated).
    /// Bytes per element.
    pub fn byte_size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::I64 => 8,
            DType::Bool => 1,
        }
    }

    pub fn is_int(self) -> bool {
        matches!(self, DType::I32 | DType::I64)
    }

    /// The Keras dtype name of a model input of this type.
    pub fn keras_name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::Bool => "bool",
        }
    }
}

/// An array of one element type: constants of a graph (f32 weights and literals, i64 shapes
/// and indices, i32 and bool masks) and the arrays a model is run on.
#[derive(Clone, Debug, PartialEq)]
pub enum Tensor {
    F32(ArrayD<f32>),
    I32(ArrayD<i32>),
    I64(ArrayD<i64>),
    Bool(ArrayD<bool>),
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
            Tensor::I32(_) => DType::I32,
            Tensor::I64(_) => DType::I64,
            Tensor::Bool(_) => DType::Bool,
        }
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Tensor::F32(a) => a.shape(),
            Tensor::I32(a) => a.shape(),
            Tensor::I64(a) => a.shape(),
            Tensor::Bool(a) => a.shape(),
        }
    }

    /// Little-endian bytes in C order, as the IR `.bin` stores them (booleans one byte each).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            Tensor::F32(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Tensor::I32(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Tensor::I64(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Tensor::Bool(a) => a.iter().map(|&v| u8::from(v)).collect(),
        }
    }

    /// The value as f64, for the reference interpreter (booleans are 0/1).
    /// As f32 values (integer ids are exact below 2^24).
    pub fn into_f32(self) -> ArrayD<f32> {
        match self {
            Tensor::F32(a) => a,
            other => other.to_f64().mapv(|v| v as f32),
        }
    }

    pub fn to_f64(&self) -> ArrayD<f64> {
        match self {
            Tensor::F32(a) => a.mapv(f64::from),
            Tensor::I32(a) => a.mapv(f64::from),
            Tensor::I64(a) => a.mapv(|v| v as f64),
            Tensor::Bool(a) => a.mapv(|v| f64::from(u8::from(v))),
        }
    }

    /// An f64 value (as the interpreter holds it) stored as `dtype`: f32 rounded, integers
    /// truncated, booleans non-zero.
    pub fn from_f64(dtype: DType, a: &ArrayD<f64>) -> Tensor {
        match dtype {
            DType::F32 => Tensor::F32(a.mapv(|v| v as f32)),
            DType::I32 => Tensor::I32(a.mapv(|v| v as i32)),
            DType::I64 => Tensor::I64(a.mapv(|v| v as i64)),
            DType::Bool => Tensor::Bool(a.mapv(|v| v != 0.0)),
        }
    }

    /// The value broadcast-aligned to `rank` (leading axes of length 1 added, as NumPy
    /// broadcasting does) with its axes then permuted: output axis `i` is axis `perm[i]`.
    pub fn aligned_permuted(&self, perm: &[usize]) -> Tensor {
        fn go<T: Clone>(a: &ArrayD<T>, perm: &[usize]) -> ArrayD<T> {
            let mut shape = vec![1; perm.len() - a.ndim()];
            shape.extend_from_slice(a.shape());
            let a = a.to_shape(IxDyn(&shape)).expect("same number of elements");
            a.permuted_axes(IxDyn(perm))
                .as_standard_layout()
                .into_owned()
        }
        match self {
            Tensor::F32(a) => Tensor::F32(go(a, perm)),
            Tensor::I32(a) => Tensor::I32(go(a, perm)),
            Tensor::I64(a) => Tensor::I64(go(a, perm)),
            Tensor::Bool(a) => Tensor::Bool(go(a, perm)),
        }
    }

    /// A rank-0 constant of `dtype` holding `v` (converted as [`Tensor::from_f64`] does).
    pub fn scalar_of(dtype: DType, v: f64) -> Tensor {
        Tensor::from_f64(dtype, &ArrayD::from_elem(IxDyn(&[]), v))
    }
}

/// A borrowed array of one element type: what a model is run on.
#[derive(Clone, Debug)]
pub enum TensorView<'a> {
    F32(ArrayViewD<'a, f32>),
    I32(ArrayViewD<'a, i32>),
    I64(ArrayViewD<'a, i64>),
    Bool(ArrayViewD<'a, bool>),
}

impl TensorView<'_> {
    pub fn dtype(&self) -> DType {
        match self {
            TensorView::F32(_) => DType::F32,
            TensorView::I32(_) => DType::I32,
            TensorView::I64(_) => DType::I64,
            TensorView::Bool(_) => DType::Bool,
        }
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            TensorView::F32(a) => a.shape(),
            TensorView::I32(a) => a.shape(),
            TensorView::I64(a) => a.shape(),
            TensorView::Bool(a) => a.shape(),
        }
    }
}

/// Arrays that can be fed to a model: f32 arrays and tensors of any element type.
pub trait AsTensorView {
    fn tensor_view(&self) -> TensorView<'_>;
}

impl AsTensorView for ArrayD<f32> {
    fn tensor_view(&self) -> TensorView<'_> {
        TensorView::F32(self.view())
    }
}

impl AsTensorView for Tensor {
    fn tensor_view(&self) -> TensorView<'_> {
        match self {
            Tensor::F32(a) => TensorView::F32(a.view()),
            Tensor::I32(a) => TensorView::I32(a.view()),
            Tensor::I64(a) => TensorView::I64(a.view()),
            Tensor::Bool(a) => TensorView::Bool(a.view()),
        }
    }
}

impl<T: AsTensorView> AsTensorView for &T {
    fn tensor_view(&self) -> TensorView<'_> {
        (*self).tensor_view()
    }
}
