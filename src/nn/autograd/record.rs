//! The recording backend, burn-style: [`Autodiff`] wraps any [`AutodiffBackend`] and implements
//! every op family by running the op on the wrapped backend and, when an operand carries a
//! gradient, pushing the op's backward onto a tape. The interpreter (`nn::exec`) runs graphs on it
//! unchanged, so its `match` stays the only one over graph ops.
//!
//! Each family's backward rules sit in `grads/<family>.rs`, beside the forward they wrap. An op
//! whose family method has a default body built from other ops (leaky ReLU, max/min, division,
//! means, tiling, splits, global average pooling) records its parts and needs no rule of its own.

use super::AutodiffBackend;
use super::ctx::{Ctx, MapCache};
use crate::error::{Error, Result};
use crate::nn::ops::Backend;
use crate::nn::tensor::F32Tensor;
use crate::nn::value::Value;
use std::cell::RefCell;

/// A backend tensor and, when a gradient can flow back from it, its entry on the tape.
#[derive(Clone, Debug)]
pub struct Tracked<T> {
    pub t: T,
    pub id: Option<usize>,
}

/// The gradients of an op's operands (`None` where not needed) for its output gradient; the
/// flags say which operands need one.
pub type BackwardFn<'t, B> =
    Box<dyn Fn(&mut Ctx<'_, B>, <B as Backend>::T, &[bool]) -> Result<Vec<Option<<B as Backend>::T>>> + 't>;

/// One recorded op: the tape ids of its operands and its backward (`None` for a leaf, a
/// trainable parameter).
pub struct Entry<'t, B: AutodiffBackend> {
    pub parents: Vec<Option<usize>>,
    pub backward: Option<BackwardFn<'t, B>>,
}

/// The recording backend over `B` (see the module docs).
pub struct Autodiff<'b, 't, B: AutodiffBackend> {
    pub(crate) b: &'b mut B,
    pub(crate) maps: &'b mut MapCache,
    /// Batch norm uses batch statistics (and updates its running statistics) when set.
    pub(crate) train: bool,
    tape: RefCell<Vec<Entry<'t, B>>>,
    /// Updated running statistics of the last batch-norm op in training mode (mean, variance).
    stats: Vec<Value<B::T>>,
}

impl<'b, 't, B: AutodiffBackend + 't> Autodiff<'b, 't, B> {
    pub fn new(b: &'b mut B, maps: &'b mut MapCache, train: bool) -> Self {
        Self {
            b,
            maps,
            train,
            tape: RefCell::new(Vec::new()),
            stats: Vec::new(),
        }
    }

    /// A trainable parameter: a tape entry of its own, where its gradient collects.
    pub fn leaf(&self, t: B::T) -> Tracked<B::T> {
        let mut tape = self.tape.borrow_mut();
        tape.push(Entry {
            parents: Vec::new(),
            backward: None,
        });
        Tracked {
            t,
            id: Some(tape.len() - 1),
        }
    }

    /// The op's output, tracked with `backward` when any operand is tracked (otherwise no
    /// gradient can reach it and nothing is recorded).
    pub(crate) fn record(
        &self,
        t: B::T,
        parents: Vec<Option<usize>>,
        backward: impl Fn(&mut Ctx<'_, B>, B::T, &[bool]) -> Result<Vec<Option<B::T>>> + 't,
    ) -> Tracked<B::T> {
        if parents.iter().all(Option::is_none) {
            return Tracked { t, id: None };
        }
        let mut tape = self.tape.borrow_mut();
        tape.push(Entry {
            parents,
            backward: Some(Box::new(backward)),
        });
        Tracked {
            t,
            id: Some(tape.len() - 1),
        }
    }

    /// The output of an op without a gradient rule: an error if a gradient ever reaches it.
    pub(crate) fn record_no_grad(&self, t: B::T, parents: Vec<Option<usize>>, op: &'static str) -> Tracked<B::T> {
        self.record(t, parents, move |_, _, _| {
            Err(Error::invalid(format!("op {op}"), "has no gradient rule"))
        })
    }

    /// Hands the updated running statistics of a batch norm in training mode to the caller.
    pub(crate) fn set_stats(&mut self, stats: Vec<Value<B::T>>) {
        self.stats = stats;
    }

    /// The running statistics the last op produced, if any (mean, variance).
    pub fn take_stats(&mut self) -> Vec<Value<B::T>> {
        std::mem::take(&mut self.stats)
    }

    /// The recorded tape.
    pub fn into_entries(self) -> Vec<Entry<'t, B>> {
        self.tape.into_inner()
    }

    /// A context on the wrapped backend (for forward work that is not recorded).
    pub(crate) fn cx(&mut self) -> Ctx<'_, B> {
        Ctx {
            b: &mut *self.b,
            maps: &mut *self.maps,
        }
    }
}

impl<B: AutodiffBackend> Backend for Autodiff<'_, '_, B> {
    type T = Tracked<B::T>;

    fn shape_of(&self, x: &Self::T) -> Vec<usize> {
        self.b.shape_of(&x.t)
    }

    fn lift(&self, c: &F32Tensor) -> Result<Self::T> {
        Ok(Tracked {
            t: self.b.lift(c)?,
            id: None,
        })
    }

    fn plaintext<'a>(&self, x: &'a Self::T) -> Option<&'a F32Tensor> {
        self.b.plaintext(&x.t)
    }
}

/// The tape id of a value (public values have none).
pub fn id_of<T>(v: &Value<Tracked<T>>) -> Option<usize> {
    match v {
        Value::Data(x) => x.id,
        _ => None,
    }
}

/// A value as the wrapped backend sees it.
pub fn inner<T: Clone>(v: &Value<Tracked<T>>) -> Value<T> {
    match v {
        Value::Data(x) => Value::Data(x.t.clone()),
        Value::Public(c) => Value::Public(c.clone()),
        Value::Encoded { ring, frac } => Value::Encoded {
            ring: ring.clone(),
            frac: *frac,
        },
    }
}

/// A value as the wrapped backend sees it, by move.
pub fn into_inner<T>(v: Value<Tracked<T>>) -> Value<T> {
    match v {
        Value::Data(x) => Value::Data(x.t),
        Value::Public(c) => Value::Public(c),
        Value::Encoded { ring, frac } => Value::Encoded { ring, frac },
    }
}

/// A wrapped-backend value, untracked.
pub fn untracked<T>(v: Value<T>) -> Value<Tracked<T>> {
    match v {
        Value::Data(t) => Value::Data(Tracked { t, id: None }),
        Value::Public(c) => Value::Public(c),
        Value::Encoded { ring, frac } => Value::Encoded { ring, frac },
    }
}
