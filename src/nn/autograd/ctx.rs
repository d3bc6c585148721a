//! The context backward rules run in: a backend plus a cache of index maps, with the value-level
//! helpers (products, sums back to a shape, broadcasts, transposes) the rules are written with.

use super::{AutodiffBackend, IndexMap};
use crate::error::{Error, Result};
use crate::nn::exec::{eval, node_error};
use crate::nn::graph::{Const, Node, Op};
use crate::nn::value::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Index maps by op and shape, computed once and reused by every step (and by every share).
#[derive(Default)]
pub struct MapCache {
    maps: HashMap<String, Arc<IndexMap>>,
}

impl MapCache {
    /// The map stored under `key`, computing it with `make` the first time.
    pub fn get(&mut self, key: String, make: impl FnOnce() -> Result<IndexMap>) -> Result<Arc<IndexMap>> {
        if let Some(m) = self.maps.get(&key) {
            return Ok(m.clone());
        }
        let m = Arc::new(make()?);
        self.maps.insert(key, m.clone());
        Ok(m)
    }
}

/// A backend plus the map cache: what forward and backward rules run on.
pub struct Ctx<'a, B: AutodiffBackend> {
    pub b: &'a mut B,
    pub maps: &'a mut MapCache,
}

impl<B: AutodiffBackend> Ctx<'_, B> {
    /// Evaluates `node` like the interpreter: all-public inputs in plaintext, else on the backend.
    pub fn eval(&mut self, node: &Node, args: &[Option<&Value<B::T>>]) -> Result<Vec<Value<B::T>>> {
        eval(self.b, node, args)
    }

    /// One op on values, as an anonymous node.
    pub fn op(&mut self, op: Op, args: &[&Value<B::T>]) -> Result<Value<B::T>> {
        let node = Node {
            name: "backward".into(),
            op,
            inputs: Vec::new(),
            outputs: vec!["y".into()],
            relu_after: false,
        };
        let args: Vec<Option<&Value<B::T>>> = args.iter().map(|a| Some(*a)).collect();
        let mut out = self.eval(&node, &args)?;
        if out.is_empty() {
            return Err(node_error(&node, "produced no output"));
        }
        Ok(out.swap_remove(0))
    }

    /// One op whose result is needed as a backend tensor.
    pub fn t(&mut self, op: Op, args: &[&Value<B::T>]) -> Result<B::T> {
        let v = self.op(op, args)?;
        self.data(&v)
    }

    /// A value as a backend tensor (public values are lifted).
    pub fn data(&self, v: &Value<B::T>) -> Result<B::T> {
        self.b.tensor(v)
    }

    /// The shape of a value.
    pub fn shape(&self, v: &Value<B::T>) -> Vec<usize> {
        self.b.value_shape(v)
    }

    /// a · b elementwise (broadcasting).
    pub fn mul(&mut self, a: &Value<B::T>, b: &Value<B::T>) -> Result<B::T> {
        self.t(Op::Mul, &[a, b])
    }

    /// x · c for a public real c.
    pub fn scale(&mut self, x: &B::T, c: f64) -> Result<B::T> {
        if c == 1.0 {
            return Ok(x.clone());
        }
        Ok(self.b.scale_many(&[(x, c)])?.remove(0))
    }

    /// Sums a broadcast gradient back to `shape` (numpy broadcasting in reverse).
    pub fn sum_to(&mut self, g: B::T, shape: &[usize]) -> Result<B::T> {
        let gs = self.b.shape_of(&g);
        if gs == shape {
            return Ok(g);
        }
        if gs.len() < shape.len() {
            return Err(Error::shape("backward", format!("cannot sum {gs:?} to {shape:?}")));
        }
        let lead = gs.len() - shape.len();
        let mut axes: Vec<i64> = (0..lead as i64).collect();
        for (i, &d) in shape.iter().enumerate() {
            if d == 1 && gs[lead + i] != 1 {
                axes.push((lead + i) as i64);
            }
        }
        let s = if axes.is_empty() {
            g
        } else {
            self.b.reduce_sum(&g, &axes, true)?
        };
        self.b.reshape(&s, shape)
    }

    /// Broadcasts `g` to `shape`.
    pub fn expand(&mut self, g: B::T, shape: &[usize]) -> Result<B::T> {
        if self.b.shape_of(&g) == shape {
            return Ok(g);
        }
        self.b.expand(&g, shape)
    }

    /// A value transposed by `perm`.
    pub fn transpose(&mut self, v: &Value<B::T>, perm: Vec<usize>) -> Result<Value<B::T>> {
        self.op(Op::Transpose { perm }, &[v])
    }

    /// A value with its two last axes swapped.
    pub fn swap_last(&mut self, v: &Value<B::T>) -> Result<Value<B::T>> {
        let r = self.shape(v).len();
        let mut perm: Vec<usize> = (0..r).collect();
        perm.swap(r - 2, r - 1);
        self.transpose(v, perm)
    }

    /// A value reshaped.
    pub fn reshape_value(&self, v: &Value<B::T>, shape: &[usize]) -> Result<Value<B::T>> {
        Ok(match v {
            Value::Data(t) => Value::Data(self.b.reshape(t, shape)?),
            other => Value::Public(Const::F32(other.public_f32("a value")?.reshape_exact(shape)?)),
        })
    }
}
