//! The speaker-verification checkpoint v2Pro/v2ProPlus voices need
//! (`pretrained_models/sv/pretrained_eres2netv2w24s4ep4.ckpt`): a bare ERes2NetV2 state dict
//! saved with `torch.save`, no wrapper and no config (upstream `sv.SV` hard-codes the
//! architecture; `crate::model::speaker` reads it from the shapes). Tensors are fp16 or fp32.
//! The BatchNorm counters `num_batches_tracked` (int64, unused in eval) are left out.

use std::path::{Path, PathBuf};

use super::pickle::Value;
use super::store::TensorStore;
use super::torch::TorchFile;
use super::CheckpointError;

/// An opened ERes2NetV2 state dict.
pub struct SpeakerVerifierFile {
    pub path: PathBuf,
    /// Every float tensor of the state dict, under its module path (`layer1.0.conv1.weight`).
    pub weights: TensorStore,
}

/// BatchNorm's step counter: a training statistic eval mode never reads.
const BN_COUNTER: &str = "num_batches_tracked";

/// Opens an SV checkpoint as upstream's `torch.load` + `load_state_dict` sees it. A file whose
/// top level is not a flat dict of tensors (e.g. a GPT or SoVITS checkpoint) is a
/// [`CheckpointError::Format`] naming the file.
pub fn open_speaker_verifier(path: &Path) -> Result<SpeakerVerifierFile, CheckpointError> {
    let file = TorchFile::open(path)?;
    let format = |reason: String| CheckpointError::Format { path: path.to_path_buf(), reason };
    let Value::Dict(items) = &file.root else {
        return Err(format(format!(
            "the top level is a {}, not a state dict; is this really a speaker-verification checkpoint?",
            file.root.kind()
        )));
    };
    let mut kept = Vec::with_capacity(items.len());
    for (k, v) in items {
        let name = match k {
            Value::Str(name) => name,
            other => {
                return Err(format(format!("the top-level dict has a {} key; a state dict has names", other.kind())))
            }
        };
        match v {
            Value::Tensor(_) if name.ends_with(BN_COUNTER) => {}
            Value::Tensor(_) => kept.push((k.clone(), v.clone())),
            other => {
                return Err(format(format!(
                    "top-level entry '{name}' is a {}, not a tensor: this is not a bare state dict \
                     (a GPT .ckpt or SoVITS .pth keeps its weights under 'weight')",
                    other.kind()
                )))
            }
        }
    }
    if kept.is_empty() {
        return Err(format("the state dict holds no tensors".into()));
    }
    let weights = file.tensors(&Value::Dict(kept))?;
    Ok(SpeakerVerifierFile { path: path.to_path_buf(), weights })
}
