//! PyTorch checkpoints (`torch.save(model.state_dict())`) read without torch and without
//! executing pickles.
//!
//! A `.pth` file is a zip archive: `<name>/data.pkl` is a pickle of the state dict, and each
//! tensor storage is a raw little-endian blob `<name>/data/<key>`. The pickle is run by a
//! restricted interpreter that knows only what a state dict needs: containers, numbers, strings,
//! and four callables (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
//! `torch._utils._rebuild_parameter` and the `torch.*Storage` types named by persistent ids).
//! Any other global, and any opcode that builds arbitrary objects, is refused with the byte
//! offset, so a malicious checkpoint cannot run code; it can at worst fail to load.
//!
//! The zip archive is read with the `zip` crate (no default features: stored and deflated
//! entries), which handles zip64 and the other corners of the format; writing one more zip
//! parser for untrusted input would be the riskier choice.

use crate::error::{Error, Result};
use crate::nn::tensor::F32Tensor;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

mod pickle;
mod tensor;
#[cfg(test)]
mod tests;

use pickle::{Unpickler, state_entries};

/// A state dict: floating-point tensors as f32 by name, plus the names of tensors that were not
/// converted (integer tensors such as batch norm's `num_batches_tracked`).
#[derive(Clone, Debug, Default)]
pub struct StateDict {
    pub tensors: BTreeMap<String, F32Tensor>,
    pub skipped: Vec<String>,
}

/// Reads the state dict of the checkpoint at `path`.
pub fn read_pth(path: &Path) -> Result<StateDict> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_pth(&bytes, &path.display().to_string())
}

/// Parses checkpoint bytes; `file` names the source in errors.
pub fn parse_pth(bytes: &[u8], file: &str) -> Result<StateDict> {
    let bad = |detail: String| Error::invalid(file, detail);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| bad(format!("not a PyTorch zip checkpoint: {e}")))?;
    let names: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok())
        .map(|n| n.into_owned())
        .collect();
    let pkl = names
        .iter()
        .find(|n| n.ends_with("/data.pkl") || n.as_str() == "data.pkl")
        .ok_or_else(|| bad("no data.pkl in the archive (a legacy, non-zip checkpoint?)".into()))?
        .clone();
    let prefix = &pkl[..pkl.len() - "data.pkl".len()];
    if let Some(order) = names.iter().find(|n| *n == &format!("{prefix}byteorder")) {
        let order = read_entry(&mut zip, order, bytes.len()).map_err(bad)?;
        if order != b"little" {
            return Err(bad(format!(
                "storages are {} endian; only little endian is supported",
                String::from_utf8_lossy(&order)
            )));
        }
    }
    let program = read_entry(&mut zip, &pkl, bytes.len()).map_err(bad)?;
    let root = Unpickler::new(&program).run().map_err(|e| bad(format!("{pkl}: {e}")))?;
    let entries = state_entries(root).map_err(|e| bad(format!("{pkl}: {e}")))?;
    let mut out = StateDict::default();
    for (name, t) in entries {
        let blob = read_entry(&mut zip, &format!("{prefix}data/{}", t.key), bytes.len()).map_err(bad)?;
        match t.materialise(&blob) {
            Ok(Some(tensor)) => {
                out.tensors.insert(name, tensor);
            }
            Ok(None) => out.skipped.push(name),
            Err(e) => return Err(bad(format!("tensor {name}: {e}"))),
        }
    }
    Ok(out)
}

/// Largest entry we unpack (a guard against zip bombs; one storage of a real checkpoint is
/// far smaller).
const MAX_ENTRY: u64 = 1 << 32;

type Archive<'a> = zip::ZipArchive<std::io::Cursor<&'a [u8]>>;

/// Entry `name` of an archive of `archive_len` bytes.
fn read_entry(zip: &mut Archive, name: &str, archive_len: usize) -> std::result::Result<Vec<u8>, String> {
    let f = zip.by_name(name).map_err(|e| format!("{name}: {e}"))?;
    if f.size() > MAX_ENTRY {
        return Err(format!("{name}: entry of {} bytes is too large", f.size()));
    }
    // The declared size is untrusted: reserve at most what the archive could hold.
    let mut out = Vec::with_capacity(f.size().min(archive_len as u64) as usize);
    f.take(MAX_ENTRY + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("{name}: {e}"))?;
    if out.len() as u64 > MAX_ENTRY {
        return Err(format!("{name}: entry is larger than {MAX_ENTRY} bytes"));
    }
    Ok(out)
}
