//! The voices directory: one folder per voice holding `voice.json` (transcript, language, model
//! files, default parameters), the reference clip, and `prepared.cache` — the voice's prompt
//! tokens, style vector and prompt phones/BERT features, computed once and reused until any input
//! file changes (a fingerprint of the manifest, the clip and the model files guards it).
//!
//! ```text
//! voices/alice/voice.json        {"name":"alice","transcript":"…","lang":"zh","gpt":null,…}
//! voices/alice/reference.wav     the clip, copied in by `voice add`
//! voices/alice/prepared.cache    SRTVOICE header line, JSON line, then f32 LE ge + BERT
//! ```

use std::fs;
use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::audio;
use crate::engine::params::RequestParams;
use crate::pipeline::{TextFeatures, Voice};
use crate::tensor::Tensor;
use crate::text::LangMode;

const MANIFEST: &str = "voice.json";
const REFERENCE: &str = "reference.wav";
const CACHE: &str = "prepared.cache";
const CACHE_MAGIC: &str = "SRTVOICE1";
/// Most voices one directory holds, and most bytes of reference clips, by default: an upload
/// route must not be able to fill the disk.
pub const MAX_VOICES: usize = 1000;
pub const MAX_REFERENCE_BYTES: u64 = 2 << 30;

/// What is wrong with a voice or the voices directory.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    #[error("no voice named {0:?}; list them with `sovits-rt voice list` or GET /v1/voices")]
    Unknown(String),
    #[error("a voice named {0:?} already exists; remove it first")]
    Exists(String),
    #[error("invalid voice name {0:?}: use 1-64 letters, digits, '-', '_' or '.', not starting with '.'")]
    BadName(String),
    #[error("voice {name:?}: {reason}")]
    Invalid { name: String, reason: String },
    #[error("the voices directory is full ({0}); remove a voice first")]
    Full(String),
    #[error("voices directory {path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> VoiceError + '_ {
    move |e| VoiceError::Io { path: path.to_path_buf(), reason: e.to_string() }
}

/// A voice as stored in `voice.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceManifest {
    pub name: String,
    /// What the reference clip says.
    pub transcript: String,
    /// Language mode of the transcript (upstream `prompt_lang`).
    pub lang: String,
    /// This voice's own GPT / SoVITS files; `None` = the server's base models.
    #[serde(default)]
    pub gpt: Option<PathBuf>,
    #[serde(default)]
    pub sovits: Option<PathBuf>,
    /// Parameters a request inherits unless it sets them.
    #[serde(default)]
    pub defaults: RequestParams,
}

/// A new voice, as `voice add` and `POST /v1/voices` describe it.
#[derive(Debug, Clone)]
pub struct NewVoice {
    pub manifest: VoiceManifest,
    /// The reference clip's WAV bytes.
    pub reference_wav: Vec<u8>,
}

/// The voices directory.
#[derive(Debug, Clone)]
pub struct VoiceStore {
    dir: PathBuf,
    max_voices: usize,
    max_bytes: u64,
}

/// `$SOVITS_RT_VOICES`, else `$XDG_DATA_HOME/sovits-rt/voices`, else `~/.local/share/sovits-rt/voices`.
pub fn default_voices_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SOVITS_RT_VOICES") {
        return PathBuf::from(d);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    data.unwrap_or_else(|| PathBuf::from(".")).join("sovits-rt/voices")
}

pub fn check_name(name: &str) -> Result<(), VoiceError> {
    let ok = (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(VoiceError::BadName(name.to_string()))
    }
}

impl VoiceStore {
    /// Opens (creating if needed) a voices directory.
    pub fn open(dir: &Path) -> Result<Self, VoiceError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        Ok(VoiceStore { dir: dir.to_path_buf(), max_voices: MAX_VOICES, max_bytes: MAX_REFERENCE_BYTES })
    }

    /// The same store holding at most `max_voices` voices and `max_bytes` of reference clips.
    pub fn with_limits(self, max_voices: usize, max_bytes: u64) -> Self {
        VoiceStore { max_voices, max_bytes, ..self }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn voice_dir(&self, name: &str) -> Result<PathBuf, VoiceError> {
        check_name(name)?;
        Ok(self.dir.join(name))
    }

    pub fn reference_path(&self, name: &str) -> Result<PathBuf, VoiceError> {
        Ok(self.voice_dir(name)?.join(REFERENCE))
    }

    /// Validates and stores a voice: the name, the language, the clip (readable, 3–10 s).
    pub fn add(&self, new: &NewVoice) -> Result<VoiceManifest, VoiceError> {
        let m = &new.manifest;
        let dir = self.voice_dir(&m.name)?;
        let invalid = |reason: String| VoiceError::Invalid { name: m.name.clone(), reason };
        LangMode::parse(&m.lang).map_err(|e| invalid(e.to_string()))?;
        if m.transcript.trim().is_empty() {
            return Err(invalid("the transcript is empty; give the words the reference clip says".into()));
        }
        m.defaults.validate().map_err(invalid)?;
        if m.gpt.is_some() != m.sovits.is_some() {
            return Err(invalid("give both a GPT and a SoVITS file, or neither (the base models)".into()));
        }
        for f in [&m.gpt, &m.sovits].into_iter().flatten() {
            if !f.is_file() {
                return Err(invalid(format!("model file {} does not exist", f.display())));
            }
        }
        if dir.join(MANIFEST).exists() {
            return Err(VoiceError::Exists(m.name.clone()));
        }
        let (voices, bytes) = self.usage()?;
        if voices >= self.max_voices {
            return Err(VoiceError::Full(format!("{voices} voices, the most it holds")));
        }
        if bytes + new.reference_wav.len() as u64 > self.max_bytes {
            return Err(VoiceError::Full(format!(
                "its reference clips take {bytes} bytes; at most {} are kept",
                self.max_bytes
            )));
        }
        // Check the clip before anything is written.
        let staging = self.dir.join(format!(".{}.{}.wav", m.name, std::process::id()));
        fs::write(&staging, &new.reference_wav).map_err(io(&staging))?;
        let checked = audio::read_wav_at_most(&staging, audio::REFERENCE_MAX_SECONDS)
            .and_then(|(samples, rate)| audio::prepare_reference(&samples, rate).map(|_| ()))
            .map_err(|e| {
                invalid(format!(
                    "reference clip: {}",
                    e.to_string().replace(&staging.display().to_string(), "the clip")
                ))
            });
        if let Err(e) = checked {
            let _ = fs::remove_file(&staging);
            return Err(e);
        }
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        fs::rename(&staging, dir.join(REFERENCE)).map_err(io(&dir))?;
        let json = serde_json::to_vec_pretty(m).map_err(|e| invalid(e.to_string()))?;
        fs::write(dir.join(MANIFEST), json).map_err(io(&dir))?;
        Ok(m.clone())
    }

    pub fn get(&self, name: &str) -> Result<VoiceManifest, VoiceError> {
        let path = self.voice_dir(name)?.join(MANIFEST);
        let bytes = fs::read(&path).map_err(|_| VoiceError::Unknown(name.to_string()))?;
        let m: VoiceManifest = serde_json::from_slice(&bytes)
            .map_err(|e| VoiceError::Invalid { name: name.into(), reason: format!("{}: {e}", path.display()) })?;
        if m.name != name {
            return Err(VoiceError::Invalid {
                name: name.into(),
                reason: format!("{} names the voice {:?}", path.display(), m.name),
            });
        }
        Ok(m)
    }

    /// Every readable voice, by name; broken folders are skipped (they report their error on use).
    /// How many voices are stored and the bytes of their reference clips.
    fn usage(&self) -> Result<(usize, u64), VoiceError> {
        let mut usage = (0, 0);
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))?.filter_map(|e| e.ok()) {
            if entry.path().join(MANIFEST).is_file() {
                usage.0 += 1;
                usage.1 += fs::metadata(entry.path().join(REFERENCE)).map_or(0, |m| m.len());
            }
        }
        Ok(usage)
    }

    pub fn list(&self) -> Result<Vec<VoiceManifest>, VoiceError> {
        let mut names: Vec<String> = fs::read_dir(&self.dir)
            .map_err(io(&self.dir))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join(MANIFEST).is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        Ok(names.iter().filter_map(|n| self.get(n).ok()).collect())
    }

    pub fn remove(&self, name: &str) -> Result<(), VoiceError> {
        let dir = self.voice_dir(name)?;
        if !dir.join(MANIFEST).is_file() {
            return Err(VoiceError::Unknown(name.to_string()));
        }
        fs::remove_dir_all(&dir).map_err(io(&dir))
    }

    /// A fingerprint of everything a prepared voice depends on: the manifest, the clip, and the
    /// model files in `models` (sizes and modification times; folders by their files).
    pub fn fingerprint(&self, name: &str, models: &[&Path]) -> Result<u64, VoiceError> {
        let dir = self.voice_dir(name)?;
        let manifest = fs::read(dir.join(MANIFEST)).map_err(|_| VoiceError::Unknown(name.to_string()))?;
        let reference = dir.join(REFERENCE);
        let files: Vec<&Path> = std::iter::once(reference.as_path()).chain(models.iter().copied()).collect();
        fingerprint(&manifest, &files)
    }

    /// The cached preparation, if it was made with this fingerprint.
    pub fn load_cached(&self, name: &str, fingerprint: u64) -> Option<Voice> {
        let bytes = fs::read(self.voice_dir(name).ok()?.join(CACHE)).ok()?;
        decode_cache(&bytes, fingerprint)
    }

    pub fn save_cached(&self, name: &str, fingerprint: u64, voice: &Voice) -> Result<(), VoiceError> {
        let path = self.voice_dir(name)?.join(CACHE);
        let tmp = path.with_extension("tmp");
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&encode_cache(voice, fingerprint)).map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))
    }
}

/// A fingerprint of `bytes` and the sizes and modification times of `files` (folders by their files).
pub fn fingerprint(bytes: &[u8], files: &[&Path]) -> Result<u64, VoiceError> {
    let mut h = Fnv64::default();
    h.write(CACHE_MAGIC.as_bytes());
    h.write(bytes);
    for f in files {
        stamp(&mut h, f)?;
    }
    Ok(h.finish())
}

/// Size and modification time of a file, or of every file in a folder (sorted).
fn stamp(h: &mut Fnv64, path: &Path) -> Result<(), VoiceError> {
    let meta = fs::metadata(path).map_err(io(path))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> =
            fs::read_dir(path).map_err(io(path))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries.iter().filter(|e| e.is_file()) {
            stamp(h, e)?;
        }
        return Ok(());
    }
    h.write(path.as_os_str().as_encoded_bytes());
    h.write_u64(meta.len());
    let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    h.write_u128(modified.map_or(0, |d| d.as_nanos()));
    Ok(())
}

/// FNV-1a: a stable hash (std's `DefaultHasher` may change between Rust releases).
struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv64 {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[derive(Serialize, Deserialize)]
struct CacheHeader {
    fingerprint: String,
    prompt_tokens: Vec<u32>,
    phone_ids: Vec<u32>,
    ge_len: usize,
    bert_shape: [usize; 2],
}

fn encode_cache(voice: &Voice, fingerprint: u64) -> Vec<u8> {
    let bert = &voice.prompt.bert;
    let header = CacheHeader {
        fingerprint: format!("{fingerprint:016x}"),
        prompt_tokens: voice.prompt_tokens.clone(),
        phone_ids: voice.prompt.phone_ids.clone(),
        ge_len: voice.ge.data().len(),
        bert_shape: [bert.dim(0), bert.dim(1)],
    };
    let mut out = format!("{CACHE_MAGIC}\n").into_bytes();
    out.extend(serde_json::to_vec(&header).unwrap_or_default());
    out.push(b'\n');
    for x in voice.ge.data().iter().chain(bert.data()) {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

fn decode_cache(bytes: &[u8], fingerprint: u64) -> Option<Voice> {
    let rest = bytes.strip_prefix(format!("{CACHE_MAGIC}\n").as_bytes())?;
    let nl = rest.iter().position(|&b| b == b'\n')?;
    let header: CacheHeader = serde_json::from_slice(&rest[..nl]).ok()?;
    if header.fingerprint != format!("{fingerprint:016x}") {
        return None;
    }
    let floats: Vec<f32> =
        rest[nl + 1..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let [dim, n] = header.bert_shape;
    if floats.len() != header.ge_len + dim * n || n != header.phone_ids.len() || floats.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let (ge, bert) = floats.split_at(header.ge_len);
    Some(Voice {
        prompt_tokens: header.prompt_tokens,
        ge: Tensor::new([header.ge_len], ge.to_vec()),
        prompt: TextFeatures { phone_ids: header.phone_ids, bert: Tensor::new([dim, n], bert.to_vec()) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for ok in ["alice", "Bob_2", "narrator-v2.1"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".hidden", "../etc", "a/b", "名字", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cache_round_trips_and_rejects_other_fingerprints_and_damage() {
        let voice = Voice {
            prompt_tokens: vec![1, 2, 3],
            ge: Tensor::new([4], vec![0.5, -1.0, 2.0, 0.0]),
            prompt: TextFeatures {
                phone_ids: vec![7, 8],
                bert: Tensor::new([3, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            },
        };
        let bytes = encode_cache(&voice, 42);
        let back = decode_cache(&bytes, 42).unwrap();
        assert_eq!(back.prompt_tokens, voice.prompt_tokens);
        assert_eq!(back.ge.data(), voice.ge.data());
        assert_eq!(back.prompt.bert.data(), voice.prompt.bert.data());
        assert!(decode_cache(&bytes, 43).is_none());
        assert!(decode_cache(&bytes[..bytes.len() - 4], 42).is_none());
        assert!(decode_cache(b"garbage", 42).is_none());
    }

    /// A 4 s, 16 kHz tone as WAV bytes.
    fn clip() -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut bytes = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut bytes, spec).unwrap();
        (0..64_000).for_each(|i| w.write_sample(((i as f32 * 0.05).sin() * 8000.0) as i16).unwrap());
        w.finalize().unwrap();
        bytes.into_inner()
    }

    #[test]
    fn the_store_refuses_voices_past_its_limits() {
        let dir = std::env::temp_dir().join(format!("sovits-rt-voice-limits-{}", std::process::id()));
        let new = |name: &str| NewVoice {
            manifest: VoiceManifest {
                name: name.into(),
                transcript: "你好".into(),
                lang: "zh".into(),
                gpt: None,
                sovits: None,
                defaults: RequestParams::default(),
            },
            reference_wav: clip(),
        };
        let bytes = clip().len() as u64;
        let store = VoiceStore::open(&dir).unwrap().with_limits(2, 10 * bytes);
        store.add(&new("a")).unwrap();
        store.add(&new("b")).unwrap();
        assert!(matches!(store.add(&new("c")), Err(VoiceError::Full(_))));
        let store = VoiceStore::open(&dir).unwrap().with_limits(10, 2 * bytes + bytes / 2);
        assert!(matches!(store.add(&new("c")), Err(VoiceError::Full(_))));
        store.remove("a").unwrap();
        store.add(&new("c")).unwrap();
        assert_eq!(store.list().unwrap().len(), 2);
        fs::remove_dir_all(&dir).unwrap();
    }
}
