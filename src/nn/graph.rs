//! The model IR: a graph of ONNX-like nodes that every backend executes.
//!
//! ONNX import, the model zoo and training all produce a [`Graph`]; the interpreter in
//! `nn::exec` runs it on the plaintext backend or on shares of any protocol, so model code exists
//! once. Ops mirror ONNX operators (names and attribute meanings), with attributes already parsed
//! into typed fields and defaults filled in.
//!
//! Graphs serialise (serde): a model owner sends its architecture — the graph without the values
//! of its private weights — to the other parties during set-up (see `nn::infer`).

use super::tensor::F32Tensor;
use std::collections::BTreeMap;

/// A constant known to everyone (weights before sharing, shape vectors, indices).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Const {
    /// Real values (weights, biases, scalars).
    F32(F32Tensor),
    /// Integers (shapes, axes, token or gather indices).
    I64 { shape: Vec<usize>, data: Vec<i64> },
}

impl Const {
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Const::F32(t) => t.shape(),
            Const::I64 { shape, .. } => shape,
        }
    }
}

/// Element type of a graph input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DType {
    F32,
    I64,
}

/// A graph input: name, element type and shape (`None` for a symbolic dimension).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ValueInfo {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<Option<usize>>,
}

/// How Pad fills new positions (ONNX's `mode` attribute).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PadKind {
    /// A constant (input 2, default 0).
    Constant,
    /// The nearest edge value.
    Edge,
    /// The mirror image, without repeating the edge.
    Reflect,
}

/// One operator with its parsed attributes. Conv/pool attributes hold one entry per spatial axis
/// (1 for 1-D, 2 for 2-D); `pads` holds all begins then all ends, as in ONNX.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    // ----- linear algebra -----
    /// Y = alpha·op(A)·op(B) + beta·C (C optional, broadcast).
    Gemm {
        alpha: f32,
        beta: f32,
        trans_a: bool,
        trans_b: bool,
    },
    /// numpy-style matmul (batched, broadcasting).
    MatMul,
    /// Convolution: inputs X, W, optional B.
    Conv {
        strides: Vec<usize>,
        pads: Vec<usize>,
        dilations: Vec<usize>,
        group: usize,
    },
    /// Inference batch normalisation: inputs X, scale, B, mean, var.
    BatchNormalization {
        epsilon: f32,
    },
    // ----- elementwise (numpy broadcasting for binary ops) -----
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Neg,
    Sqrt,
    Exp,
    Log,
    Reciprocal,
    Relu,
    Sigmoid,
    Tanh,
    Erf,
    /// GELU; `tanh` selects the tanh approximation.
    Gelu {
        tanh: bool,
    },
    // ----- reductions and normalisation -----
    Softmax {
        axis: i64,
    },
    LogSoftmax {
        axis: i64,
    },
    /// LayerNormalization over axes `axis..`: inputs X, scale, optional B.
    LayerNormalization {
        axis: i64,
        epsilon: f32,
    },
    ReduceMean {
        axes: Vec<i64>,
        keepdims: bool,
    },
    ReduceSum {
        axes: Vec<i64>,
        keepdims: bool,
    },
    // ----- pooling -----
    MaxPool {
        kernel: Vec<usize>,
        strides: Vec<usize>,
        pads: Vec<usize>,
        dilations: Vec<usize>,
        ceil_mode: bool,
    },
    AveragePool {
        kernel: Vec<usize>,
        strides: Vec<usize>,
        pads: Vec<usize>,
        dilations: Vec<usize>,
        ceil_mode: bool,
        count_include_pad: bool,
    },
    GlobalAveragePool,
    // ----- shape and data movement (local on shares) -----
    Flatten {
        axis: i64,
    },
    /// Target shape from the second input (a public I64 value; 0 copies, −1 infers).
    Reshape,
    Transpose {
        perm: Vec<usize>,
    },
    Concat {
        axis: i64,
    },
    /// Axes from the attribute (opset < 13) or the second input.
    Unsqueeze {
        axes: Vec<i64>,
    },
    Squeeze {
        axes: Vec<i64>,
    },
    /// starts, ends, axes, steps from inputs 1..5 (public I64).
    Slice,
    /// Pad: pads from input 1; in constant mode the value from input 2 (optional).
    Pad {
        mode: PadKind,
    },
    /// Tile: repeats from input 1 (public I64, one per axis).
    Tile,
    /// Gather along `axis` with indices from input 1 (public, or private token ids for embedding).
    Gather {
        axis: i64,
    },
    Identity,
    /// Identity at inference.
    Dropout,
    /// The shape of input 0, as a public I64 vector.
    Shape,
    /// Element type conversion (a no-op on shares; converts public constants).
    Cast {
        to: DType,
    },
    /// A constant value (usually folded away at import).
    Constant(Const),
    // ----- further elementwise, comparison and reduction ops -----
    Abs,
    /// −1, 0 or 1.
    Sign,
    LeakyRelu {
        alpha: f32,
    },
    /// max(0, min(1, αx + β)).
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    /// Bounds from the (constant) inputs 1 and 2; `None` when omitted.
    Clip {
        min: Option<f32>,
        max: Option<f32>,
    },
    /// Elementwise over any number of inputs (numpy broadcasting).
    Max,
    Min,
    Sum,
    Mean,
    /// Comparisons: 1 where true, 0 elsewhere.
    Equal,
    Greater,
    Less,
    GreaterOrEqual,
    LessOrEqual,
    /// Input 0 (condition, 0/1) selects input 1 where true, input 2 elsewhere.
    Where,
    /// ReduceMax, ReduceMin, ReduceSumSquare, ReduceL1, ReduceL2.
    Reduce {
        kind: ReduceKind,
        axes: Vec<i64>,
        keepdims: bool,
    },
    /// Broadcast input 0 to the shape in input 1 (public I64), numpy-style.
    Expand,
    /// A tensor of the shape in input 0 (public I64), filled with the value.
    ConstantOfShape(Const),
    GlobalMaxPool,
    /// The number of elements of input 0, as a public I64 scalar.
    Size,
    /// The index of the largest (`min`: smallest) element along `axis`, as an integer; ties go to
    /// the first index, or the last with `select_last_index`.
    ArgMax {
        axis: i64,
        keepdims: bool,
        select_last_index: bool,
        min: bool,
    },
    /// Splits input 0 along `axis` into `parts` outputs: sizes from input 1 (public I64) when
    /// given, else equal parts (the last one smaller when the size does not divide).
    Split {
        axis: i64,
        parts: usize,
    },
}

/// The reductions of [`Op::Reduce`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ReduceKind {
    Max,
    Min,
    SumSquare,
    L1,
    L2,
}

impl Op {
    /// The first input slot from which every input is a public parameter by the op's definition
    /// (it selects which function the node computes: Pow's exponent, Clip's bounds, the shape,
    /// pads, repeats, axes or indices of a data movement), or `None` when no input is.
    pub fn parameter_slots_from(&self) -> Option<usize> {
        match self {
            Op::Pow | Op::Clip { .. } | Op::Gather { .. } => Some(1),
            Op::Reshape | Op::Slice | Op::Pad { .. } | Op::Tile | Op::Expand => Some(1),
            Op::Unsqueeze { .. } | Op::Squeeze { .. } | Op::Split { .. } | Op::ConstantOfShape(_) => Some(1),
            _ => None,
        }
    }

    /// Whether input `k` is a learned weight that training updates even when it is a scalar
    /// (Gemm/Conv weights and biases, a normalisation's scale and shift).
    pub fn is_weight_slot(&self, k: usize) -> bool {
        match self {
            Op::Gemm { .. } | Op::Conv { .. } => k >= 1,
            Op::BatchNormalization { .. } | Op::LayerNormalization { .. } => k == 1 || k == 2,
            _ => false,
        }
    }

    /// Whether input `k` is a running statistic (batch norm's mean and variance): data of the
    /// model, never trained by gradient.
    pub fn is_statistic_slot(&self, k: usize) -> bool {
        matches!(self, Op::BatchNormalization { .. }) && k >= 3
    }

    /// The ONNX operator name.
    pub fn onnx_name(&self) -> &'static str {
        match self {
            Op::Gemm { .. } => "Gemm",
            Op::MatMul => "MatMul",
            Op::Conv { .. } => "Conv",
            Op::BatchNormalization { .. } => "BatchNormalization",
            Op::Add => "Add",
            Op::Sub => "Sub",
            Op::Mul => "Mul",
            Op::Div => "Div",
            Op::Pow => "Pow",
            Op::Neg => "Neg",
            Op::Sqrt => "Sqrt",
            Op::Exp => "Exp",
            Op::Log => "Log",
            Op::Reciprocal => "Reciprocal",
            Op::Relu => "Relu",
            Op::Sigmoid => "Sigmoid",
            Op::Tanh => "Tanh",
            Op::Erf => "Erf",
            Op::Gelu { .. } => "Gelu",
            Op::Softmax { .. } => "Softmax",
            Op::LogSoftmax { .. } => "LogSoftmax",
            Op::LayerNormalization { .. } => "LayerNormalization",
            Op::ReduceMean { .. } => "ReduceMean",
            Op::ReduceSum { .. } => "ReduceSum",
            Op::MaxPool { .. } => "MaxPool",
            Op::AveragePool { .. } => "AveragePool",
            Op::GlobalAveragePool => "GlobalAveragePool",
            Op::Flatten { .. } => "Flatten",
            Op::Reshape => "Reshape",
            Op::Transpose { .. } => "Transpose",
            Op::Concat { .. } => "Concat",
            Op::Unsqueeze { .. } => "Unsqueeze",
            Op::Squeeze { .. } => "Squeeze",
            Op::Slice => "Slice",
            Op::Pad { .. } => "Pad",
            Op::Tile => "Tile",
            Op::Gather { .. } => "Gather",
            Op::Identity => "Identity",
            Op::Dropout => "Dropout",
            Op::Shape => "Shape",
            Op::Cast { .. } => "Cast",
            Op::Constant(_) => "Constant",
            Op::Abs => "Abs",
            Op::Sign => "Sign",
            Op::LeakyRelu { .. } => "LeakyRelu",
            Op::HardSigmoid { .. } => "HardSigmoid",
            Op::Clip { .. } => "Clip",
            Op::Max => "Max",
            Op::Min => "Min",
            Op::Sum => "Sum",
            Op::Mean => "Mean",
            Op::Equal => "Equal",
            Op::Greater => "Greater",
            Op::Less => "Less",
            Op::GreaterOrEqual => "GreaterOrEqual",
            Op::LessOrEqual => "LessOrEqual",
            Op::Where => "Where",
            Op::Reduce { kind, .. } => match kind {
                ReduceKind::Max => "ReduceMax",
                ReduceKind::Min => "ReduceMin",
                ReduceKind::SumSquare => "ReduceSumSquare",
                ReduceKind::L1 => "ReduceL1",
                ReduceKind::L2 => "ReduceL2",
            },
            Op::Expand => "Expand",
            Op::ConstantOfShape(_) => "ConstantOfShape",
            Op::GlobalMaxPool => "GlobalMaxPool",
            Op::Size => "Size",
            Op::ArgMax { min: false, .. } => "ArgMax",
            Op::ArgMax { min: true, .. } => "ArgMin",
            Op::Split { .. } => "Split",
        }
    }
}

/// One node: an op applied to named values, producing named values.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Node {
    /// The node's name (for error messages; may be empty in ONNX, then the importer makes one).
    pub name: String,
    pub op: Op,
    /// Input value names; an empty string marks an omitted optional input.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    /// A ReLU fused after this node's output (`passes::fuse_conv_relu`; Conv and Gemm): one backend
    /// call, so that a protocol can truncate and rectify in one step.
    #[serde(default)]
    pub relu_after: bool,
}

/// A model: nodes in topological order, named constants (initializers), inputs and outputs.
#[derive(Clone, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Graph {
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<String>,
    pub nodes: Vec<Node>,
    pub initializers: BTreeMap<String, Const>,
}
