//! `testbed convert-pth`: a PyTorch state-dict checkpoint to safetensors, without torch.

use crate::error::Error;
use clap::Args;

#[derive(Args, Debug)]
pub struct ConvertPthArgs {
    /// The checkpoint (`torch.save(model.state_dict(), ...)`).
    input: std::path::PathBuf,
    /// The safetensors file to write (float tensors as f32).
    output: std::path::PathBuf,
}

pub fn run(a: ConvertPthArgs) -> Result<(), Error> {
    let (n, skipped) = crate::data::mnist::convert_pth(&a.input, &a.output)?;
    out!("{}: {n} tensors", a.output.display());
    if !skipped.is_empty() {
        out!("skipped integer tensors: {}", skipped.join(", "));
    }
    Ok(())
}
