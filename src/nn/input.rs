//! Model inputs as the data owner holds them, and their check against a graph's declared inputs.

use super::graph::{Const, DType, Graph};
use super::tensor::F32Tensor;
use crate::error::{Error, Result};

/// A model input as the data owner holds it.
#[derive(Clone, Debug)]
pub enum Input {
    /// Real values.
    F32(F32Tensor),
    /// Token ids.
    Ids { shape: Vec<usize>, data: Vec<i64> },
}

impl Input {
    /// The input's shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Input::F32(t) => t.shape(),
            Input::Ids { shape, .. } => shape,
        }
    }

    /// As a public value (for the plaintext reference).
    pub fn to_const(&self) -> Const {
        match self {
            Input::F32(t) => Const::F32(t.clone()),
            Input::Ids { shape, data } => Const::I64 {
                shape: shape.clone(),
                data: data.clone(),
            },
        }
    }
}

/// Whether the model's weights are shared (private model) or public.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightPrivacy {
    Private,
    Public,
}

/// Checks that `inputs` fit the graph's inputs: one per graph input, each with the declared rank
/// and fixed dimensions, reals for real inputs and integers for integer ones.
pub fn check_inputs(graph: &Graph, inputs: &[Input]) -> Result<()> {
    if inputs.len() != graph.inputs.len() {
        return Err(Error::invalid(
            "input",
            format!("the model has {} inputs, got {}", graph.inputs.len(), inputs.len()),
        ));
    }
    for (info, x) in graph.inputs.iter().zip(inputs) {
        let what = || format!("input \"{}\"", info.name);
        // An empty declared shape is a scalar or an unknown rank: the importer cannot tell them apart.
        let fits = info.shape.is_empty()
            || (info.shape.len() == x.shape().len()
                && info.shape.iter().zip(x.shape()).all(|(d, &n)| d.is_none_or(|d| d == n)));
        if !fits {
            let want: Vec<String> = info
                .shape
                .iter()
                .map(|d| d.map_or("?".into(), |d| d.to_string()))
                .collect();
            return Err(Error::shape(
                "input",
                format!(
                    "\"{}\" has shape {:?}, the model expects [{}]",
                    info.name,
                    x.shape(),
                    want.join(", ")
                ),
            ));
        }
        match (info.dtype, x) {
            (DType::F32, Input::Ids { .. }) => {
                return Err(Error::invalid(what(), "the model expects reals, got integers"));
            }
            (DType::I64, Input::F32(_)) => {
                return Err(Error::invalid(what(), "the model expects integers, got reals"));
            }
            _ => {}
        }
    }
    Ok(())
}
