//! Polynomial and iterative approximations: exp, log, reciprocal, sqrt, sigmoid, tanh, erf, GELU.
//! (STUB: being written.)

use crate::error::Result;
use crate::protocol::Protocol;

/// e^x (limit method).
pub fn exp<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let _ = (p, x);
    todo!()
}

/// ln x for x > 0.
pub fn log<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let _ = (p, x);
    todo!()
}

/// 1/x.
pub fn reciprocal<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let _ = (p, x);
    todo!()
}

/// √x for x > 0.
pub fn sqrt<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let _ = (p, x);
    todo!()
}

/// 1/√x for x > 0.
pub fn inv_sqrt<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let _ = (p, x);
    todo!()
}

/// σ(x) = 1/(1 + e^−x).
pub fn sigmoid<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let _ = (p, x);
    todo!()
}

/// tanh x.
pub fn tanh<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let _ = (p, x);
    todo!()
}

/// erf x.
pub fn erf<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let _ = (p, x);
    todo!()
}

/// GELU(x) = x·Φ(x) (tanh or erf form, per `functions.gelu_method`).
pub fn gelu<P: Protocol>(p: &mut P, x: &P::Share) -> Result<P::Share> {
    let _ = (p, x);
    todo!()
}
