//! Outright failures of private functions: outputs off by more than a wrapped truncation allows
//! ([`is_failure`]), counted over many evaluations (the failure column of `bench functions`).

use super::funcs::{Func, table_shape};
use super::op::{OpJob, OpKind, OpSpec, make_inputs, plaintext};
use crate::error::Result;
use crate::launch::TransportKind;
use crate::protocol::{ProtocolConfig, SessionOptions, simulate};
use crate::ring::numel;

/// Elements evaluated per function for the failure column of `bench functions`: a local truncation
/// fails with probability ~|x|·2^(2f)/2^64 per product, so a failure rate of 1e-6 needs 10^6 to show.
pub const FAILURE_EVALUATIONS: usize = 1_000_000;

/// Elements per session when counting failures (bounds memory; 10^5 elements take ~100 MB).
pub const FAILURE_CHUNK: usize = 100_000;

/// An output is a failure when its error exceeds 1.0 and the reference's own magnitude: a wrapped
/// truncation (off by 2^(64-2f) = 4.3e9 at f = 16 before later ops), not an approximation's error
/// (exp's limit form is 7.0 off at e^5 = 148). NaN counts too.
pub fn is_failure(got: f64, want: f64) -> bool {
    let err = (got - want).abs();
    !(err <= want.abs().max(1.0))
}

/// What [`count_failures`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Failures {
    /// Input elements evaluated.
    pub inputs: usize,
    /// Outputs checked (fewer than inputs for max and max pooling).
    pub outputs: usize,
    /// Outputs that failed ([`is_failure`]).
    pub failed: usize,
    /// The largest error among them (0 when none failed).
    pub worst: f64,
}

/// Evaluates `f` on about `n` elements of its domain on `cfg` (simulator), `chunk` elements per
/// session with input and share seeds `seed`, `seed + 1`, ..., and counts the failed outputs.
pub fn count_failures(cfg: &ProtocolConfig, f: Func, n: usize, chunk: usize, seed: u64) -> Result<Failures> {
    let mut total = Failures::default();
    let mut k = 0;
    while total.inputs < n {
        let shape = table_shape(f, (n - total.inputs).min(chunk.max(1)));
        let spec = OpSpec {
            op: OpKind::Func(f),
            shapes: vec![shape.clone(); f.arity()],
            conv: Default::default(),
            reps: 1,
            warmup: 0,
            on_demand: false,
            seed: Some(seed.wrapping_add(k)),
            transport: TransportKind::Sim,
            insecure_share_seed: None,
        };
        let (reals, inputs) = make_inputs(cfg, &spec)?;
        let opts = SessionOptions::default();
        let out = simulate(cfg, &opts, &OpJob { spec: &spec, inputs })?;
        let want = plaintext(&spec, &reals);
        for (g, w) in out.parties[0].output.output.iter().zip(&want) {
            if is_failure(*g, *w) {
                total.failed += 1;
                total.worst = total.worst.max((g - w).abs());
            }
        }
        total.inputs += numel(&shape);
        total.outputs += want.len();
        k += 1;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_wild_outputs_not_approximation_errors() {
        // exp's limit form is 7.0 off at e^5 = 148: imprecise, not failed.
        assert!(!is_failure(141.4, 148.4));
        // A wrong comparison bit is off by exactly 1.0: not more than 1.0.
        assert!(!is_failure(1.0, 0.0));
        // Off by more than 1.0 and more than the value: failed, and so is NaN.
        assert!(is_failure(1.6, 0.5));
        assert!(is_failure(-3.0, 1.0));
        assert!(is_failure(2.95e6, 10.0));
        assert!(is_failure(f64::NAN, 1.0));
    }

    /// At 24 fractional bits a local truncation of a product of value x wraps with probability
    /// ~|x|/2^16, so sqrt fails on a few percent of its elements; dealer truncation never wraps.
    #[test]
    fn local_truncation_failures_are_counted_and_dealer_truncation_has_none() {
        let local = ProtocolConfig::load("2pc-ttp").unwrap().with_precision(24).unwrap();
        let c = count_failures(&local, Func::Sqrt, 2_000, 500, 7).unwrap();
        assert_eq!((c.inputs, c.outputs), (2_000, 2_000), "four chunks of 500");
        assert!(c.failed >= 20 && c.failed < 1_000, "{c:?}");
        assert!(c.worst > 1.0, "{c:?}");
        let dealer = ProtocolConfig::load("2pc-ttp-dealer-trunc")
            .unwrap()
            .with_precision(24)
            .unwrap();
        let c = count_failures(&dealer, Func::Sqrt, 2_000, 500, 7).unwrap();
        assert_eq!((c.failed, c.worst), (0, 0.0), "{c:?}");
        // Max pooling checks a quarter as many outputs as it reads inputs.
        let c = count_failures(&local, Func::MaxPool2d, 400, 400, 7).unwrap();
        assert_eq!((c.inputs, c.outputs, c.failed), (400, 100, 0));
    }
}
