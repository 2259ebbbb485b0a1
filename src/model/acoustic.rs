//! The acoustic stage — SoVITS decoder + HiFi-GAN: semantic tokens, the sentence's phones and a
//! voice's conditioning in, 32 kHz audio out — as the engine streams it, the same shape on every
//! backend:
//!
//! * per voice, once: the reference style `ge` ([`SemanticToAudio::reference_style`]), the
//!   prompt tokens ([`SemanticToAudio::extract_latent`]) and the model's own form of the
//!   conditioning ([`SemanticToAudio::prepare_voice`]: on the GPU it is what each step uploads);
//! * per sentence of a session: an [`AcousticStream`] that keeps the chunk plan's stitching state;
//! * per step: [`SemanticToAudio::step`] decodes the next chunk of *many* streams in one call
//!   ([`SemanticToAudio::decode`]: one batched pass on the GPU), then stitches each.
//!
//! A backend implements `decode` (windows of tokens → waveforms); opening streams, cutting
//! windows and stitching are shared, so the CPU and the GPU produce the same stream up to
//! rounding.

use std::sync::Arc;

use super::chunk::{Chunk, ChunkPlan, ChunkPlanner, ChunkStitcher};
use super::sovits::SovitsConfig;
use super::{DecodeParams, ModelError, PriorNoise};
use crate::tensor::Tensor;

/// One piece of a decode: `tokens` (a chunk with its left context, or a whole sentence) with the
/// sentence's `phones`, decoded in `voice`. `params.noise` says where the window's prior noise
/// starts in the whole-utterance decode.
pub struct Window<'a, V> {
    pub voice: &'a V,
    pub tokens: &'a [u32],
    pub phones: &'a [u32],
    pub params: &'a DecodeParams,
}

/// Outcome of a batched call: the outer error fails every item (the device failed), an inner
/// one only its item (its input was bad).
pub type BatchResult<T> = Result<Vec<Result<T, ModelError>>, ModelError>;

/// SoVITS `SynthesizerTrn` for inference: the decoder, the vocoder and the per-voice parts.
pub trait SemanticToAudio: Send + Sync {
    /// A voice's conditioning in the form this model decodes with, prepared once per voice.
    type Voice: Send + Sync + 'static;

    fn config(&self) -> &SovitsConfig;

    /// Output sample rate (32 kHz for v1/v2).
    fn sample_rate(&self) -> u32 {
        crate::audio::MODEL_RATE
    }

    /// Most windows worth decoding in one [`decode`](Self::decode) call; a larger batch only
    /// makes its first items wait.
    fn max_batch(&self) -> usize;

    /// One reference's style vector `[gin]` from its magnitude spectrogram `[1025, frames]` and,
    /// for v2Pro/v2ProPlus models only ([`SovitsConfig::speaker`]), its speaker-verification
    /// embedding. A voice's `ge` is the mean over its references ([`voice_style`]).
    fn reference_style(&self, spec: &Tensor, speaker: Option<&Tensor>) -> Result<Tensor, ModelError>;

    /// Prompt semantic tokens from HuBERT features `[768, T]` (`ssl_proj` + nearest code).
    fn extract_latent(&self, ssl: &Tensor) -> Result<Vec<u32>, ModelError>;

    /// The model's form of a voice whose style vector is `ge` (checked here, once).
    fn prepare_voice(&self, ge: &Tensor) -> Result<Self::Voice, ModelError>;

    /// Decodes every window to its waveform (in [-1, 1]; `hop · frames` samples).
    fn decode(&self, windows: &[Window<'_, Self::Voice>]) -> BatchResult<Vec<f32>>;

    /// Starts streaming a sentence: `phones` are its phone ids, `params.noise` must be seeded
    /// (given noise cannot be cut into chunks).
    fn open_stream(
        &self,
        voice: Arc<Self::Voice>,
        phones: Vec<u32>,
        params: DecodeParams,
        plan: &ChunkPlan,
    ) -> Result<AcousticStream<Self::Voice>, ModelError> {
        if !matches!(params.noise, PriorNoise::Seeded { .. }) {
            return Err(ModelError::Input("streamed decoding needs seeded prior noise".into()));
        }
        let stitcher = ChunkStitcher::new(plan.clone(), self.config().samples_per_token(), params.speed)?;
        Ok(AcousticStream { voice, phones, params, stitcher })
    }

    /// Decodes the next chunk of every stream in `work` in one [`decode`](Self::decode) call and
    /// returns, per stream, the samples that are final now.
    fn step(&self, work: &mut [StreamChunk<'_, Self::Voice>]) -> BatchResult<Vec<f32>> {
        let planned: Vec<Result<(usize, DecodeParams), ModelError>> = work
            .iter()
            .map(|w| {
                let window = w.stream.stitcher.window(w.chunk, w.tokens.len())?;
                Ok((window.first, w.stream.params.at_frame(window.first_frame)))
            })
            .collect();
        let windows: Vec<Window<'_, Self::Voice>> = work
            .iter()
            .zip(&planned)
            .filter_map(|(w, p)| {
                let (first, params) = p.as_ref().ok()?;
                let s = &w.stream;
                Some(Window {
                    voice: s.voice.as_ref(),
                    tokens: &w.tokens[*first..w.chunk.end],
                    phones: &s.phones,
                    params,
                })
            })
            .collect();
        let decoded = one_per_item(self.decode(&windows)?, windows.len())?;
        let mut decoded = decoded.into_iter();
        Ok(work
            .iter_mut()
            .zip(planned)
            .map(|(w, p)| {
                let (first, _) = p?;
                // One result per planned window (checked above), so this never runs short.
                let y = decoded.next().ok_or_else(|| ModelError::Device("a window was not decoded".into()))??;
                Ok(w.stream.stitcher.stitch(w.chunk, first, &y))
            })
            .collect())
    }

    /// A whole sentence at once (offline synthesis).
    fn synthesize(
        &self,
        voice: &Self::Voice,
        tokens: &[u32],
        phones: &[u32],
        params: &DecodeParams,
    ) -> Result<Vec<f32>, ModelError> {
        let window = Window { voice, tokens, phones, params };
        let [wav] = <[_; 1]>::try_from(one_per_item(self.decode(std::slice::from_ref(&window))?, 1)?)
            .map_err(|_| ModelError::Device("the acoustic stage decoded a window twice".into()))?;
        wav
    }
}

/// A voice's `ge` from its references' styles: their mean, as upstream's `decode` averages the
/// per-reference `ge` (after each Pro reference's PReLU).
pub fn voice_style(styles: &[Tensor]) -> Result<Tensor, ModelError> {
    let Some(first) = styles.first() else {
        return Err(ModelError::Input("a voice needs at least one reference clip".into()));
    };
    if let Some(other) = styles.iter().find(|s| s.shape() != first.shape()) {
        return Err(ModelError::Input(format!(
            "reference styles of shapes {:?} and {:?} cannot be averaged",
            first.shape(),
            other.shape()
        )));
    }
    let n = styles.len() as f32;
    let mut mean = vec![0.0; first.len()];
    for s in styles {
        mean.iter_mut().zip(s.data()).for_each(|(m, v)| *m += v);
    }
    mean.iter_mut().for_each(|m| *m /= n);
    Ok(Tensor::new(first.shape().to_vec(), mean))
}

/// `results` of a batched call, checked to hold one item per input (a backend that breaks this
/// contract fails the whole call instead of misattributing audio).
fn one_per_item<T>(results: Vec<Result<T, ModelError>>, items: usize) -> BatchResult<T> {
    if results.len() != items {
        return Err(ModelError::Device(format!("{} results for {items} windows", results.len())));
    }
    Ok(results)
}

/// Checks `tokens` against the codebook.
pub fn check_tokens(cfg: &SovitsConfig, tokens: &[u32]) -> Result<(), ModelError> {
    let n = cfg.quantizer.codebook_size;
    if tokens.is_empty() {
        return Err(ModelError::Input("no semantic tokens to decode".into()));
    }
    match tokens.iter().enumerate().find(|(_, &t)| t as usize >= n) {
        Some((i, t)) => {
            Err(ModelError::Input(format!("semantic token {t} at position {i} is outside the {n}-entry codebook")))
        }
        None => Ok(()),
    }
}

/// Checks a window's inputs (every backend, before any work): tokens in the codebook, phones in
/// the symbol table, a positive speed and a finite noise scale.
pub fn check_window(
    cfg: &SovitsConfig,
    tokens: &[u32],
    phones: &[u32],
    params: &DecodeParams,
) -> Result<(), ModelError> {
    let input = |msg: String| Err(ModelError::Input(msg));
    check_tokens(cfg, tokens)?;
    let vocab = cfg.text.text_vocab;
    if phones.is_empty() {
        return input("no phones: SoVITS needs the target text's phone ids".into());
    }
    if let Some((i, p)) = phones.iter().enumerate().find(|(_, &p)| p as usize >= vocab) {
        return input(format!("phone id {p} at position {i} is outside the {vocab}-symbol table"));
    }
    if !(params.speed.is_finite() && params.speed > 0.0) {
        return input(format!("speed must be a positive number, got {}", params.speed));
    }
    if !params.noise_scale.is_finite() {
        return input(format!("noise_scale must be finite, got {}", params.noise_scale));
    }
    Ok(())
}

/// One sentence of a session being streamed: its voice, phones and settings, and where the
/// chunk plan stands.
pub struct AcousticStream<V> {
    voice: Arc<V>,
    phones: Vec<u32>,
    params: DecodeParams,
    stitcher: ChunkStitcher,
}

impl<V> AcousticStream<V> {
    /// Ends the sentence when its tokens turned out to be complete after its last chunk: the
    /// held-back tail.
    pub fn finish(&mut self) -> Vec<f32> {
        self.stitcher.finish()
    }
}

/// A stream's part of a [`SemanticToAudio::step`]: its next `chunk`, with the sentence's tokens
/// so far (at least up to `chunk.end`).
pub struct StreamChunk<'a, V> {
    pub stream: &'a mut AcousticStream<V>,
    pub tokens: &'a [u32],
    pub chunk: Chunk,
}

impl DecodeParams {
    /// These settings for a window that starts at latent frame `first_frame` of the utterance.
    fn at_frame(&self, first_frame: usize) -> DecodeParams {
        let noise = match &self.noise {
            PriorNoise::Seeded { seed, .. } => PriorNoise::Seeded { seed: *seed, first_frame },
            given => given.clone(),
        };
        DecodeParams { noise, ..self.clone() }
    }
}

/// A sentence's tokens streamed through `plan` offline, fed one at a time as the GPT produces
/// them: the waveform a session plays, and the sample positions of the joins between chunks.
/// For measuring a plan against the whole-utterance decode (tests, `benches/chunking.rs`).
pub fn stream_sentence<M: SemanticToAudio + ?Sized>(
    model: &M,
    plan: &ChunkPlan,
    voice: Arc<M::Voice>,
    tokens: &[u32],
    phones: &[u32],
    params: &DecodeParams,
) -> Result<(Vec<f32>, Vec<usize>), ModelError> {
    let mut planner = ChunkPlanner::new(plan.clone())?;
    let mut stream = model.open_stream(voice, phones.to_vec(), params.clone(), plan)?;
    let (mut out, mut joins) = (Vec::new(), Vec::new());
    for n in 1..=tokens.len() {
        let complete = n == tokens.len();
        while let Some(chunk) = planner.next_chunk(n, complete) {
            if !out.is_empty() {
                joins.push(out.len());
            }
            let mut work = [StreamChunk { stream: &mut stream, tokens: &tokens[..n], chunk }];
            for samples in one_per_item(model.step(&mut work)?, 1)? {
                out.extend(samples?);
            }
        }
        if complete && planner.needs_finish(n) {
            out.extend(stream.finish());
        }
    }
    Ok((out, joins))
}

/// Signal-to-noise ratio of `test` against `reference`, in dB.
pub fn snr_db(reference: &[f32], test: &[f32]) -> f64 {
    let signal: f64 = reference.iter().map(|&x| (x as f64).powi(2)).sum();
    let noise: f64 = reference.iter().zip(test).map(|(&a, &b)| ((a - b) as f64).powi(2)).sum();
    10.0 * (signal / noise.max(1e-30)).log10()
}
