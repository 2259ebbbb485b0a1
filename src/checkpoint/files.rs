//! The four kinds of file a GPT-SoVITS install holds, opened with upstream's rules
//! (research/upstream-v2.md §1.2–1.4): version markers, prefixes, and which model versions
//! we can run.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::pickle::Value;
use super::store::TensorStore;
use super::torch::TorchFile;
use super::{open_safetensors, CheckpointError};

/// A GPT (text-to-semantic) checkpoint: `{"weight": {"model.…": tensor}, "config": dict, "info": str}`.
pub struct GptFile {
    pub path: PathBuf,
    /// Weights with the Lightning `model.` prefix removed.
    pub weights: TensorStore,
    /// `config` as pickled (a plain dict from YAML); the architecture is read from shapes.
    pub config: Value,
    pub info: Option<String>,
}

/// Which SoVITS generation a `.pth` holds, after upstream's detection rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SovitsKind {
    /// v1: 322-symbol table, reference encoder over all 1025 spectrogram bins.
    V1,
    /// v2: 732-symbol table, reference encoder over the first 704 bins.
    V2,
}

/// A SoVITS checkpoint: `{"weight": {name: tensor}, "config": utils.HParams, "info": str}`.
pub struct SovitsFile {
    pub path: PathBuf,
    pub kind: SovitsKind,
    /// The first two bytes as found (`PK`, or a GPT-SoVITS version marker).
    pub header: [u8; 2],
    pub weights: TensorStore,
    /// `config` as pickled (a `utils.HParams` object, read as a dict); holds the few
    /// hyper-parameters no tensor shape reveals, such as `model.upsample_rates`.
    pub config: Value,
    pub info: Option<String>,
}

/// A Hugging Face model folder (`config.json` + weights).
pub struct HfFolder {
    pub dir: PathBuf,
    pub config: serde_json::Value,
    pub weights: TensorStore,
}

fn read_header(path: &Path) -> Result<[u8; 2], CheckpointError> {
    let mut f = std::fs::File::open(path).map_err(|e| CheckpointError::io(path, e))?;
    let mut h = [0u8; 2];
    f.read_exact(&mut h).map_err(|_| CheckpointError::NotATorchFile {
        path: path.to_path_buf(),
        reason: "the file is shorter than 2 bytes".into(),
    })?;
    Ok(h)
}

fn weight_dict<'a>(file: &'a TorchFile, what: &str) -> Result<&'a Value, CheckpointError> {
    file.root.get("weight").ok_or_else(|| CheckpointError::Format {
        path: file.path().to_path_buf(),
        reason: format!(
            "no 'weight' entry at the top level (found a {}); is this really a {what} file?",
            file.root.kind()
        ),
    })
}

fn info(file: &TorchFile) -> Option<String> {
    file.root.get("info").and_then(Value::as_str).map(str::to_string)
}

/// Opens a GPT `.ckpt` as upstream's `init_t2s_weights` does.
pub fn open_gpt(path: &Path) -> Result<GptFile, CheckpointError> {
    let header = read_header(path)?;
    if &header != b"PK" {
        return Err(CheckpointError::BadMagic {
            path: path.to_path_buf(),
            found: String::from_utf8_lossy(&header).into(),
        });
    }
    let file = TorchFile::open(path)?;
    let weights = file.tensors(weight_dict(&file, "GPT")?)?;
    if !weights.names().any(|n| n.starts_with("model.")) {
        return Err(CheckpointError::Format {
            path: path.to_path_buf(),
            reason: "the weights have no 'model.' prefix: this looks like a SoVITS .pth, not a GPT .ckpt".into(),
        });
    }
    let config = file.root.get("config").cloned().unwrap_or(Value::None);
    Ok(GptFile { path: path.to_path_buf(), weights: weights.strip_prefix("model."), config, info: info(&file) })
}

/// Opens a SoVITS `.pth`, rejecting model versions we cannot run with a clear error.
pub fn open_sovits(path: &Path) -> Result<SovitsFile, CheckpointError> {
    let header = read_header(path)?;
    let unsupported = |v: &str| CheckpointError::UnsupportedVersion { path: path.to_path_buf(), version: v.into() };
    match &header {
        b"PK" | b"00" | b"01" => {}
        b"02" => return Err(unsupported("v3")),
        b"03" => return Err(unsupported("v3 (LoRA)")),
        b"04" => return Err(unsupported("v4 (LoRA)")),
        b"05" => return Err(unsupported("v2Pro")),
        b"06" => return Err(unsupported("v2ProPlus")),
        _ => {
            return Err(CheckpointError::BadMagic {
                path: path.to_path_buf(),
                found: String::from_utf8_lossy(&header).into(),
            })
        }
    }
    let file = TorchFile::open(path)?;
    let weights = file.tensors(weight_dict(&file, "SoVITS")?)?;
    if weights.names().any(|n| n.starts_with("model.")) {
        return Err(CheckpointError::Format {
            path: path.to_path_buf(),
            reason: "the weights carry a 'model.' prefix: this looks like a GPT .ckpt, not a SoVITS .pth".into(),
        });
    }
    if weights.names().any(|n| n.starts_with("cfm.")) {
        return Err(unsupported("v3/v4"));
    }
    if weights.contains("sv_emb.weight") {
        return Err(unsupported("v2Pro/v2ProPlus"));
    }
    let rows = weights.require("enc_p.text_embedding.weight")?.shape.first().copied();
    let kind = if rows == Some(322) { SovitsKind::V1 } else { SovitsKind::V2 };
    let config = file.root.get("config").cloned().unwrap_or(Value::None);
    Ok(SovitsFile { path: path.to_path_buf(), kind, header, weights, config, info: info(&file) })
}

/// Opens a Hugging Face folder: `config.json` plus `model.safetensors` or `pytorch_model.bin`.
pub fn open_hf_folder(dir: &Path) -> Result<HfFolder, CheckpointError> {
    let config_path = dir.join("config.json");
    let text = std::fs::read_to_string(&config_path).map_err(|e| CheckpointError::io(&config_path, e))?;
    let config: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| CheckpointError::Config { path: config_path.clone(), reason: e.to_string() })?;
    let st = dir.join("model.safetensors");
    let bin = dir.join("pytorch_model.bin");
    let weights = if st.is_file() {
        open_safetensors(&st)?
    } else if bin.is_file() {
        let file = TorchFile::open(&bin)?;
        file.tensors(&file.root)?
    } else {
        return Err(CheckpointError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "neither model.safetensors nor pytorch_model.bin is in this folder",
            ),
        });
    };
    Ok(HfFolder { dir: dir.to_path_buf(), config, weights })
}
