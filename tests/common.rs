//! Shared helpers for the integration tests.

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use testbed::protocol::{Job, Outcome, ProtocolConfig, SessionOptions, simulate};
use testbed::ring::RingTensor;

/// Every protocol variant shipped in protocols/ (the conformance suite runs on each); a variant
/// whose family takes any number of parties is run with 3, 4, 5 and 8.
pub fn all_protocols() -> Vec<ProtocolConfig> {
    let mut out = Vec::new();
    for n in testbed::protocol::config::known_names() {
        let cfg = ProtocolConfig::load(&n).unwrap_or_else(|e| panic!("{n}: {e}"));
        if cfg.family == testbed::protocol::Family::NpcAdditive {
            for parties in [3, 4, 5, 8] {
                let mut c = cfg.clone().with_parties(parties).unwrap();
                c.name = format!("{n} (N = {parties})");
                out.push(c);
            }
        } else {
            out.push(cfg);
        }
    }
    out
}

/// Runs a job with a fixed (insecure, test-only) share seed, panicking on failure.
pub fn run<J: Job>(cfg: &ProtocolConfig, seed: u64, job: &J) -> Outcome<J::Output> {
    let opts = SessionOptions {
        insecure_share_seed: Some(seed),
        ..Default::default()
    };
    simulate(cfg, &opts, job).unwrap_or_else(|e| panic!("{}: {e}", cfg.name))
}

/// Uniform full-range ring elements (test data).
pub fn random_ring(shape: &[usize], seed: u64) -> RingTensor {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let n = shape.iter().product();
    RingTensor::from_vec(shape, (0..n).map(|_| rng.next_u64()).collect()).unwrap()
}

/// Uniform reals in [lo, hi) (test data).
pub fn random_reals(n: usize, lo: f64, hi: f64, seed: u64) -> Vec<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..n)
        .map(|_| lo + (hi - lo) * ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64))
        .collect()
}

/// Runs the `testbed` binary from the crate root with extra environment variables; returns the
/// exit code (−1 when killed by a signal), stdout and stderr.
pub fn testbed_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_testbed"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the testbed binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// [`testbed_env`] without extra environment.
pub fn testbed(args: &[&str]) -> (i32, String, String) {
    testbed_env(args, &[])
}

/// The outputs of a private inference as the data owner (the last party, who receives them by
/// default) got them.
pub fn revealed(out: &Outcome<testbed::nn::infer::InferRun>) -> &Vec<testbed::nn::tensor::F32Tensor> {
    out.parties
        .last()
        .and_then(|p| p.output.outputs.as_ref())
        .expect("the data owner received the outputs")
}
