//! Model weights from safetensors files, by tensor name (torchvision / torchaudio names).

use super::graph::{Const, Graph};
use super::io::{load_safetensors, save_safetensors};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// Replaces the graph's parameters with the tensors of a safetensors file. Every tensor in the
/// file must name a parameter of the same shape; parameters the file lacks keep their values
/// unless `complete` is set, then they are an error.
pub fn load_weights(graph: &mut Graph, path: &Path, complete: bool) -> Result<usize> {
    let file = path.display().to_string();
    let tensors = load_safetensors(path)?;
    for (name, t) in &tensors {
        match graph.initializers.get(name) {
            Some(Const::F32(old)) if old.shape() == t.shape() => {}
            Some(c) => {
                return Err(Error::config(
                    &file,
                    format!(
                        "tensor `{name}` has shape {:?}, the model expects {:?}",
                        t.shape(),
                        c.shape()
                    ),
                ));
            }
            None => {
                return Err(Error::config(
                    &file,
                    format!("tensor `{name}` is not a parameter of the model"),
                ));
            }
        }
    }
    if complete {
        if let Some(missing) = graph
            .initializers
            .iter()
            .find(|(k, c)| matches!(c, Const::F32(_)) && !tensors.contains_key(*k))
        {
            return Err(Error::config(&file, format!("missing tensor `{}`", missing.0)));
        }
    }
    let n = tensors.len();
    for (name, t) in tensors {
        graph.initializers.insert(name, Const::F32(t));
    }
    Ok(n)
}

/// Writes the graph's float parameters to a safetensors file.
pub fn save_weights(graph: &Graph, path: &Path) -> Result<()> {
    let map: BTreeMap<_, _> = graph
        .initializers
        .iter()
        .filter_map(|(k, c)| {
            if let Const::F32(t) = c {
                Some((k.clone(), t.clone()))
            } else {
                None
            }
        })
        .collect();
    save_safetensors(path, &map)
}
