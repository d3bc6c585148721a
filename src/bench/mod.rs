//! Benchmarks: `testbed bench op` ([`op`]: one private op), `bench functions` ([`table`]: the
//! function catalogue's accuracy and cost) and `bench model` (a model on a random input, run by
//! [`crate::launch::model`]). The float64 oracle every private op is checked against is in
//! [`reference`]; the catalogue of functions in [`funcs`].

pub mod failures;
pub mod funcs;
pub mod op;
pub mod reference;
pub mod table;

pub use crate::launch::report::{OpReport, WeightSetup};
pub use op::{
    ConvArgs, OpJob, OpKind, OpSpec, PartyRun, make_inputs, parse_shape, random_inputs, run_op, run_op_delayed,
    run_op_with,
};
pub use table::{FunctionRow, function_table, write_function_table};

use crate::error::Result;

/// A random input for a model: token ids where the model's input is integer, else uniform reals
/// in [−1, 1] (test data).
pub fn random_model_input(
    graph: &crate::nn::graph::Graph,
    shape: &[usize],
    seed: u64,
) -> Result<crate::nn::infer::Input> {
    use crate::nn::graph::DType;
    let int = graph.inputs.first().is_some_and(|i| i.dtype == DType::I64);
    let t = random_inputs(&[shape.to_vec()], (-1.0, 1.0), seed).remove(0);
    if int {
        let vocab = crate::nn::exec::token_inputs(graph)
            .values()
            .copied()
            .min()
            .unwrap_or(2) as i64;
        let data = t
            .data
            .iter()
            .map(|&v| (((v + 1.0) / 2.0 * vocab as f64) as i64).clamp(0, vocab - 1))
            .collect();
        return Ok(crate::nn::infer::Input::Ids {
            shape: shape.to_vec(),
            data,
        });
    }
    let data = t.data.iter().map(|&v| v as f32).collect();
    Ok(crate::nn::infer::Input::F32(crate::nn::tensor::F32Tensor::from_vec(
        shape, data,
    )?))
}
