//! The four kinds of file a GPT-SoVITS install holds, opened with upstream's rules
//! (research/upstream-v2.md §1.2–1.4): version markers, prefixes, and which model versions
//! we can run; and written back in the same layout, so that models built in memory load
//! through these same functions.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::pickle::Value;
use super::store::TensorStore;
use super::torch::TorchFile;
use super::torch_write::{write_checkpoint, Checkpoint};
use super::{open_safetensors, write_safetensors, CheckpointError};

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
    /// v2Pro (header `05`): v2 plus the speaker-verification conditioning (`sv_emb`, `prelu`,
    /// `ge_to512`); needs the SV network's embedding of each reference.
    V2Pro,
    /// v2ProPlus (header `06`): v2Pro with a wider generator; the same code.
    V2ProPlus,
}

impl SovitsKind {
    /// Whether the model conditions on a speaker-verification embedding of the reference.
    pub fn is_pro(self) -> bool {
        matches!(self, SovitsKind::V2Pro | SovitsKind::V2ProPlus)
    }

    /// Upstream's name for the version.
    pub fn name(self) -> &'static str {
        match self {
            SovitsKind::V1 => "v1",
            SovitsKind::V2 => "v2",
            SovitsKind::V2Pro => "v2Pro",
            SovitsKind::V2ProPlus => "v2ProPlus",
        }
    }
}

impl std::fmt::Display for SovitsKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
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
///
/// As upstream (`get_sovits_version_from_path_fast`), the two header bytes decide v2Pro (`05`)
/// and v2ProPlus (`06`); the pickled `model.version` is ignored. A file whose header and weights
/// disagree (Pro weights behind a v1/v2 header, or the reverse) is refused: upstream would load it
/// and fail inside MRTE at the first decode.
pub fn open_sovits(path: &Path) -> Result<SovitsFile, CheckpointError> {
    let header = read_header(path)?;
    let unsupported = |v: &str| CheckpointError::UnsupportedVersion { path: path.to_path_buf(), version: v.into() };
    let pro = match &header {
        b"PK" | b"00" | b"01" => None,
        b"02" => return Err(unsupported("v3")),
        b"03" => return Err(unsupported("v3 (LoRA)")),
        b"04" => return Err(unsupported("v4 (LoRA)")),
        b"05" => Some(SovitsKind::V2Pro),
        b"06" => Some(SovitsKind::V2ProPlus),
        _ => {
            return Err(CheckpointError::BadMagic {
                path: path.to_path_buf(),
                found: String::from_utf8_lossy(&header).into(),
            })
        }
    };
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
    let has_sv = weights.contains("sv_emb.weight");
    let kind = match pro {
        Some(kind) if has_sv => kind,
        Some(kind) => {
            return Err(CheckpointError::Format {
                path: path.to_path_buf(),
                reason: format!(
                    "the header marks a {kind} model but the weights have no speaker-verification projection \
                     (sv_emb.weight): a v2 model with a Pro header"
                ),
            })
        }
        None if has_sv => {
            return Err(CheckpointError::Format {
                path: path.to_path_buf(),
                reason: format!(
                    "the weights are a v2Pro/v2ProPlus model's (sv_emb.weight) but the header is {:?}, not the Pro \
                     marker '05'/'06' (was the file re-saved or its first two bytes changed?)",
                    String::from_utf8_lossy(&header)
                ),
            })
        }
        None => {
            let rows = weights.require("enc_p.text_embedding.weight")?.shape.first().copied();
            if rows == Some(322) {
                SovitsKind::V1
            } else {
                SovitsKind::V2
            }
        }
    };
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

/// Writes a GPT `.ckpt` that [`open_gpt`] reads back as `file`: the weights under the Lightning
/// `model.` prefix, `config` and `info` as they are.
pub fn write_gpt(file: &GptFile, path: &Path) -> Result<(), CheckpointError> {
    write_checkpoint(
        path,
        &Checkpoint {
            header: *b"PK",
            weights: &file.weights,
            name_prefix: "model.",
            config: &file.config,
            info: file.info.as_deref(),
        },
    )
}

/// Writes a SoVITS `.pth` that [`open_sovits`] reads back as `file`, version marker included.
pub fn write_sovits(file: &SovitsFile, path: &Path) -> Result<(), CheckpointError> {
    write_checkpoint(
        path,
        &Checkpoint {
            header: file.header,
            weights: &file.weights,
            name_prefix: "",
            config: &file.config,
            info: file.info.as_deref(),
        },
    )
}

/// Writes a Hugging Face folder (`config.json` + `model.safetensors`) into `dir`, creating it.
pub fn write_hf_folder(folder: &HfFolder, dir: &Path) -> Result<(), CheckpointError> {
    std::fs::create_dir_all(dir).map_err(|e| CheckpointError::io(dir, e))?;
    let config_path = dir.join("config.json");
    let json = serde_json::to_vec_pretty(&folder.config)
        .map_err(|e| CheckpointError::Config { path: config_path.clone(), reason: e.to_string() })?;
    std::fs::write(&config_path, json).map_err(|e| CheckpointError::io(&config_path, e))?;
    write_safetensors(&folder.weights, &dir.join("model.safetensors"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::checkpoint::store::{Bytes, DType};

    /// A path in the temp folder, unique to this test process.
    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("sovits-rt-unit-{}-{name}", std::process::id()))
    }

    /// One tensor of every element type (a scalar and an empty one among them) plus `extra`
    /// f16 tensors, with arbitrary bytes.
    fn store(extra: &[(&str, Vec<usize>)]) -> TensorStore {
        let mut store = TensorStore::new(Path::new("memory"));
        let mut tensors: Vec<(String, DType, Vec<usize>)> =
            DType::ALL.iter().enumerate().map(|(i, &d)| (format!("t{i}.{d:?}"), d, vec![2, i + 1])).collect();
        tensors[0].2 = vec![];
        tensors[1].2 = vec![0, 3];
        tensors.extend(extra.iter().map(|(n, s)| (n.to_string(), DType::F16, s.clone())));
        for (i, (name, dtype, shape)) in tensors.into_iter().enumerate() {
            let len = shape.iter().product::<usize>() * dtype.size();
            let bytes = (0..len).map(|j| (j * 37 + i * 11) as u8).collect();
            let source = store.add_source(Arc::new(Bytes::Owned(bytes)));
            store.insert(&name, dtype, shape, source, 0..len).unwrap();
        }
        store
    }

    fn assert_same_tensors(got: &TensorStore, want: &TensorStore) {
        assert_eq!(got.names().collect::<Vec<_>>(), want.names().collect::<Vec<_>>());
        for name in want.names() {
            let (g, w) = (got.get(name).unwrap(), want.get(name).unwrap());
            assert_eq!((g.dtype, g.shape, g.bytes), (w.dtype, w.shape, w.bytes), "{name}");
        }
    }

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    #[test]
    fn gpt_files_round_trip() {
        let config = Value::Dict(vec![
            (s("model"), Value::Dict(vec![(s("head"), Value::Int(2)), (s("n_layer"), Value::Int(1))])),
            (s("data"), Value::Dict(vec![(s("max_sec"), Value::Float(54.0))])),
        ]);
        let file = GptFile { path: "memory".into(), weights: store(&[]), config, info: Some("GPT-e15".into()) };
        let path = temp("gpt.ckpt");
        write_gpt(&file, &path).unwrap();
        let back = open_gpt(&path).unwrap();
        assert_same_tensors(&back.weights, &file.weights);
        assert_eq!((back.config, back.info), (file.config, file.info));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn sovits_files_round_trip_with_kind_and_version_marker() {
        let hparams = Value::Object {
            module: "utils".into(),
            name: "HParams".into(),
            args: vec![],
            state: Some(Box::new(Value::Dict(vec![(
                s("model"),
                Value::Dict(vec![(s("upsample_rates"), Value::List([10, 8, 2, 2, 2].map(Value::Int).into()))]),
            )]))),
        };
        for (header, rows, kind) in [(*b"PK", 732, SovitsKind::V2), (*b"00", 322, SovitsKind::V1)] {
            let weights = store(&[("enc_p.text_embedding.weight", vec![rows, 2])]);
            let file = SovitsFile { path: "memory".into(), kind, header, weights, config: hparams.clone(), info: None };
            let path = temp("sovits.pth");
            write_sovits(&file, &path).unwrap();
            let back = open_sovits(&path).unwrap();
            assert_same_tensors(&back.weights, &file.weights);
            assert_eq!((back.kind, back.header, back.config, back.info), (kind, header, file.config, None));
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn hf_folders_round_trip() {
        let config = serde_json::json!({"hidden_size": 8, "conv_dim": [4, 4], "model_type": "hubert"});
        let folder = HfFolder { dir: "memory".into(), config, weights: store(&[]) };
        let dir = temp("hf");
        write_hf_folder(&folder, &dir).unwrap();
        let back = open_hf_folder(&dir).unwrap();
        assert_same_tensors(&back.weights, &folder.weights);
        assert_eq!(back.config, folder.config);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
