//! SoVITS v1/v2/v2Pro/v2ProPlus on the CPU: [`CpuSovits`] implements [`SemanticToAudio`] (reference style,
//! prompt-token extraction, tokens → latent `z` → HiFi-GAN waveform), reproducing upstream
//! `SynthesizerTrn.decode` / `extract_latent` (`GPT_SoVITS/module/models.py`;
//! research/upstream-v2.md §5.2, §5.3.1, §5.4, §3.1 step 6).
//!
//! Activations are channel-first `[C, T]` (batch 1). Sub-modules: [`attention`] (text encoder
//! blocks), [`flow`], [`generator`], [`ref_enc`].

pub mod attention;
pub mod flow;
pub mod generator;
pub mod ref_enc;

use rayon::prelude::*;

use crate::checkpoint::SovitsFile;
use crate::cpu::ops::{self, Conv1dSpec, MatRef};
use crate::model::acoustic::{check_tokens, check_window, BatchResult, Window};
use crate::model::rng::{self, Purpose};
use crate::model::sovits::{
    Conv1d, CouplingLayer, MelStyleEncoder, SovitsConfig, SovitsWeights, SpeakerConditioning, TextEncoder,
};
use crate::model::{DecodeParams, ModelError, PriorNoise, SemanticToAudio, Weights};
use crate::tensor::Tensor;

pub use generator::GeneratorTrace;
use generator::TimeMajorGenerator;

/// A convolution with the layer's own weight and bias.
fn conv(x: &Tensor, c: &Conv1d, spec: Conv1dSpec) -> Tensor {
    ops::conv1d(x, &c.weight, c.bias.as_ref(), spec)
}

/// The loaded model.
pub struct CpuSovits {
    cfg: SovitsConfig,
    enc_p: TextEncoder,
    flow: Vec<CouplingLayer>,
    analyzer: VoiceAnalyzer,
    dec: TimeMajorGenerator,
}

/// The per-voice half of SoVITS, which every backend runs on the CPU (once per voice): the
/// reference encoder with the Pro models' speaker conditioning (`ge`, and the style MRTE reads)
/// and the semantic front (`ssl_proj` + the codebook: prompt tokens).
pub struct VoiceAnalyzer {
    cfg: SovitsConfig,
    ref_enc: MelStyleEncoder,
    speaker: Option<SpeakerConditioning>,
    ssl_proj: Conv1d,
    codebook: Tensor, // [codebook_size, ssl_dim]
}

/// A voice's conditioning as the CPU decodes with it: `[C, 1]` columns for the convolutions.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleColumns {
    /// `ge` `[gin, 1]`: the flow's and the generator's conditioning.
    pub ge: Tensor,
    /// What MRTE adds `[mrte_channels, 1]`: `ge` for v1/v2, `ge_to512(ge)` for Pro models.
    pub mrte: Tensor,
}

/// One reference's style with its terms (upstream names in brackets).
#[derive(Debug, Clone)]
pub struct StyleTrace {
    /// [ge_ref] `ref_enc(spec)` `[gin]`.
    pub ref_enc: Tensor,
    /// [sv_proj] `sv_emb(embedding)` `[gin]` (Pro models only).
    pub speaker: Option<Tensor>,
    /// [ge] the reference's style: `ref_enc` for v1/v2, `PReLU(ref_enc + speaker)` for Pro.
    pub ge: Tensor,
}

/// Every intermediate of [`CpuSovits::decode_traced`] (upstream names in brackets).
#[derive(Debug, Clone)]
pub struct DecodeTrace {
    /// [quantized] codebook rows of the tokens `[ssl_dim, T]`.
    pub quantized: Tensor,
    /// Nearest ×2 upsampling `[ssl_dim, 2T]` (the `enc_p` input).
    pub quantized_up: Tensor,
    /// `enc_p.ssl_proj` output `[H, 2T]`.
    pub ssl_proj: Tensor,
    /// `enc_p.encoder_ssl` output `[H, 2T]`.
    pub encoder_ssl: Tensor,
    /// `enc_p.encoder_text(text_embedding(phones)ᵀ)` `[H, N]`.
    pub encoder_text: Tensor,
    /// `enc_p.mrte` output `[H, 2T]`.
    pub mrte: Tensor,
    /// [x] the first output of `enc_p`: `encoder2` output, after the speed interpolation `[H, frames]`.
    pub x: Tensor,
    /// [m_p, logs_p] prior mean and log-std `[inter, frames]`.
    pub m_p: Tensor,
    pub logs_p: Tensor,
    /// [z_p] `m_p + ε·exp(logs_p)·noise_scale` `[inter, frames]`.
    pub z_p: Tensor,
    /// Output of each coupling layer of the reverse pass, last coupling first `[inter, frames]`.
    pub flow_rev: Vec<Tensor>,
    /// [z] flow output `[inter, frames]` (the generator input; the mask is all ones).
    pub z: Tensor,
}

fn input(msg: String) -> ModelError {
    ModelError::Input(msg)
}

fn check_finite(what: &str, x: &[f32]) -> Result<(), ModelError> {
    match x.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(input(format!("{what} holds a NaN or infinite value at element {i}"))),
        None => Ok(()),
    }
}

impl CpuSovits {
    /// Loads a SoVITS `.pth` opened with [`crate::checkpoint::open_sovits`].
    pub fn load(file: &SovitsFile) -> Result<Self, ModelError> {
        let (cfg, w) = SovitsWeights::load(&Weights::new(&file.weights), &file.config)?;
        Ok(Self::new(cfg, w))
    }

    /// Takes the weights over; the generator's are re-laid out for time-major activations.
    pub fn new(cfg: SovitsConfig, w: SovitsWeights) -> Self {
        let SovitsWeights { enc_p, dec, flow, ref_enc, speaker, ssl_proj, codebook } = w;
        let dec = TimeMajorGenerator::new(&cfg, &dec);
        let analyzer = VoiceAnalyzer::new(cfg.clone(), ref_enc, speaker, ssl_proj, codebook);
        CpuSovits { cfg, enc_p, flow, analyzer, dec }
    }

    /// The per-voice parts.
    pub fn analyzer(&self) -> &VoiceAnalyzer {
        &self.analyzer
    }

    /// `SynthesizerTrn.decode` up to the flow output, keeping every intermediate.
    pub fn decode_traced(
        &self,
        tokens: &[u32],
        phones: &[u32],
        style: &StyleColumns,
        params: &DecodeParams,
    ) -> Result<DecodeTrace, ModelError> {
        let cfg = &self.cfg;
        check_window(cfg, tokens, phones, params)?;
        let quantized = self.analyzer.codebook_lookup(tokens)?;
        let frames = cfg.latent_frames(tokens.len(), params.speed);
        if let PriorNoise::Given(n) = &params.noise {
            if n.shape() != [cfg.inter_channels, frames] {
                return Err(input(format!(
                    "prior noise has shape {:?}; this decode needs [{}, {frames}]",
                    n.shape(),
                    cfg.inter_channels
                )));
            }
            check_finite("prior noise", n.data())?;
        }

        // Nearest ×2 upsampling (25 Hz → 50 Hz).
        let (d, t) = (quantized.dim(0), quantized.dim(1));
        let up: Vec<f32> = quantized.data().chunks_exact(t).flat_map(|row| row.iter().flat_map(|&v| [v, v])).collect();
        let quantized_up = Tensor::new([d, 2 * t], up);

        // TextEncoder (§5.3.1).
        let e = &self.enc_p;
        let ssl_proj = conv(&quantized_up, &e.ssl_proj, Conv1dSpec::same(0));
        let encoder_ssl = attention::encoder(&e.encoder_ssl, ssl_proj.clone(), cfg.text.n_heads);
        let h = cfg.text.hidden_channels;
        let mut emb = vec![0.0; h * phones.len()];
        for (j, &p) in phones.iter().enumerate() {
            for (c, &v) in e.text_embedding.row(p as usize).iter().enumerate() {
                emb[c * phones.len() + j] = v;
            }
        }
        let encoder_text = attention::encoder(&e.encoder_text, Tensor::new([h, phones.len()], emb), cfg.text.n_heads);
        let mrte = self.mrte(&encoder_ssl, &encoder_text, &style.mrte);
        let mut x = attention::encoder(&e.encoder2, mrte.clone(), cfg.text.n_heads);
        if params.speed != 1.0 {
            x = ops::interpolate_linear(&x, frames);
        }
        let stats = conv(&x, &e.proj, Conv1dSpec::same(0));
        let half = cfg.inter_channels * frames;
        let m_p = Tensor::new([cfg.inter_channels, frames], stats.data()[..half].to_vec());
        let logs_p = Tensor::new([cfg.inter_channels, frames], stats.data()[half..].to_vec());

        // z_p = m_p + ε · exp(logs_p) · noise_scale (§5.2 step 4).
        let eps = |i: usize| match &params.noise {
            PriorNoise::Given(n) => n.data()[i],
            PriorNoise::Seeded { seed, first_frame } => {
                let (channel, frame) = (i / frames, i % frames);
                rng::normal(*seed, Purpose::PriorNoise, channel as u32, (first_frame + frame) as u32)
            }
        };
        let zp: Vec<f32> =
            (0..half).map(|i| m_p.data()[i] + eps(i) * logs_p.data()[i].exp() * params.noise_scale).collect();
        let z_p = Tensor::new([cfg.inter_channels, frames], zp);

        // Flow, reverse (§5.3.4).
        let mut z = z_p.clone();
        let mut flow_rev = Vec::with_capacity(self.flow.len());
        for layer in self.flow.iter().rev() {
            flow::flip_and_uncouple(layer, &mut z, &style.ge);
            flow_rev.push(z.clone());
        }
        Ok(DecodeTrace {
            quantized,
            quantized_up,
            ssl_proj,
            encoder_ssl,
            encoder_text,
            mrte,
            x,
            m_p,
            logs_p,
            z_p,
            flow_rev,
            z,
        })
    }

    /// `MRTE.forward(ssl, text, ge)` (§5.3.3): `c_post(MHA(c_pre(ssl), text_pre(text)) + c_pre(ssl) + ge)`
    /// (`ge` is `ge_to512(ge)` for Pro models).
    fn mrte(&self, ssl: &Tensor, text: &Tensor, ge: &Tensor) -> Tensor {
        let m = &self.enc_p.mrte;
        let s = conv(ssl, &m.c_pre, Conv1dSpec::same(0));
        let u = conv(text, &m.text_pre, Conv1dSpec::same(0));
        let mut a = attention::multi_head_attention(&m.cross_attention, &s, &u, crate::model::sovits::MRTE_HEADS);
        ops::add_in_place(&mut a, &s);
        let t = a.dim(1);
        for (row, &g) in a.data_mut().chunks_exact_mut(t).zip(ge.data()) {
            row.iter_mut().for_each(|v| *v += g);
        }
        conv(&a, &m.c_post, Conv1dSpec::same(0))
    }

    /// The generator with its `conv_pre` intermediate.
    pub fn vocode_traced(&self, z: &Tensor, style: &StyleColumns) -> Result<GeneratorTrace, ModelError> {
        let c = self.cfg.inter_channels;
        if z.shape().len() != 2 || z.dim(0) != c || z.dim(1) == 0 {
            return Err(input(format!("latent z has shape {:?}; expected [{c}, frames ≥ 1]", z.shape())));
        }
        check_finite("latent z", z.data())?;
        Ok(self.dec.generate(z, &style.ge))
    }

    /// `SynthesizerTrn.decode` up to the flow output `z` `[inter, frames]`.
    pub fn decode_latent(
        &self,
        tokens: &[u32],
        phones: &[u32],
        style: &StyleColumns,
        params: &DecodeParams,
    ) -> Result<Tensor, ModelError> {
        Ok(self.decode_traced(tokens, phones, style, params)?.z)
    }

    /// The generator: `z` `[inter, frames]` → waveform in [-1, 1].
    pub fn vocode(&self, z: &Tensor, style: &StyleColumns) -> Result<Vec<f32>, ModelError> {
        Ok(self.vocode_traced(z, style)?.wav)
    }
}

/// Windows decoded at once: the CPU decodes them side by side (each is independent), which helps
/// only where there are spare cores, so a batch is as wide as a quarter of the thread pool.
fn cpu_batch() -> usize {
    (rayon::current_num_threads() / 4).max(1)
}

impl VoiceAnalyzer {
    pub fn new(
        cfg: SovitsConfig,
        ref_enc: MelStyleEncoder,
        speaker: Option<SpeakerConditioning>,
        ssl_proj: Conv1d,
        codebook: Tensor,
    ) -> Self {
        VoiceAnalyzer { cfg, ref_enc, speaker, ssl_proj, codebook }
    }

    /// `quantizer.decode(codes)`: codebook rows of `tokens`, transposed to `[ssl_dim, T]`.
    pub fn codebook_lookup(&self, tokens: &[u32]) -> Result<Tensor, ModelError> {
        let d = self.cfg.quantizer.ssl_dim;
        check_tokens(&self.cfg, tokens)?;
        let t = tokens.len();
        let mut out = vec![0.0; d * t];
        for (j, &tok) in tokens.iter().enumerate() {
            let row = self.codebook.row(tok as usize);
            for (c, &v) in row.iter().enumerate() {
                out[c * t + j] = v;
            }
        }
        Ok(Tensor::new([d, t], out))
    }

    /// `SynthesizerTrn.ssl_proj` (Conv1d, kernel = stride = 2) on HuBERT features `[ssl_dim, T]`
    /// → `[ssl_dim, T/2]` (50 Hz → 25 Hz).
    pub fn ssl_projection(&self, ssl: &Tensor) -> Result<Tensor, ModelError> {
        let (d, k) = (self.cfg.quantizer.ssl_dim, self.cfg.quantizer.ssl_proj_kernel);
        if ssl.shape().len() != 2 || ssl.dim(0) != d {
            return Err(input(format!("SSL features have shape {:?}; expected [{d}, frames]", ssl.shape())));
        }
        if ssl.dim(1) < k {
            return Err(input(format!(
                "{} SSL frames are too few: at least {k} are needed (the reference audio is too short)",
                ssl.dim(1)
            )));
        }
        check_finite("SSL features", ssl.data())?;
        Ok(conv(ssl, &self.ssl_proj, Conv1dSpec { stride: k, padding: 0, dilation: 1, groups: 1 }))
    }

    /// Nearest codebook entry (squared Euclidean distance) of each column of `x [ssl_dim, T]`,
    /// as upstream `EuclideanCodebook.quantize`. Candidates within f32 rounding of the best are
    /// re-ranked with exact f64 distances; ties go to the lower index, as `argmax` does.
    pub fn nearest_codes(&self, x: &Tensor) -> Vec<u32> {
        let (d, t) = (x.dim(0), x.dim(1));
        let e = &self.codebook;
        let n = e.dim(0);
        let enorm: Vec<f32> = (0..n).map(|j| e.row(j).iter().map(|v| v * v).sum()).collect();
        // dots[T, n] = xᵀ · eᵀ
        let mut dots = vec![0.0; t * n];
        ops::matmul_into(t, n, d, MatRef::transposed(x.data(), t), MatRef::transposed(e.data(), d), &mut dots, false);
        let xt = x.t();
        (0..t)
            .map(|i| {
                let xi = xt.row(i);
                let xnorm: f32 = xi.iter().map(|v| v * v).sum();
                let dist: Vec<f32> = (0..n).map(|j| enorm[j] - 2.0 * dots[i * n + j]).collect();
                let best = dist.iter().copied().fold(f32::INFINITY, f32::min);
                let slack = 1e-4 * (xnorm + enorm.iter().copied().fold(0.0, f32::max)) + f32::MIN_POSITIVE;
                let exact = |j: usize| -> f64 {
                    xi.iter().zip(e.row(j)).map(|(&a, &b)| (a as f64 - b as f64) * (a as f64 - b as f64)).sum()
                };
                let mut pick = (f64::INFINITY, 0);
                for j in (0..n).filter(|&j| dist[j] <= best + slack) {
                    let dj = exact(j);
                    if dj < pick.0 {
                        pick = (dj, j);
                    }
                }
                pick.1 as u32
            })
            .collect()
    }

    /// One reference's style vector `[gin]` from its magnitude spectrogram `[1025, frames]` and,
    /// for Pro models (only), its speaker-verification embedding: `ref_enc(spec)` for v1/v2,
    /// `PReLU(ref_enc(spec) + sv_emb(embedding))` for v2Pro/v2ProPlus.
    pub fn reference_style(&self, spec: &Tensor, speaker: Option<&Tensor>) -> Result<Tensor, ModelError> {
        Ok(self.reference_style_traced(spec, speaker)?.ge)
    }

    /// [`reference_style`](Self::reference_style) with its terms.
    pub fn reference_style_traced(&self, spec: &Tensor, speaker: Option<&Tensor>) -> Result<StyleTrace, ModelError> {
        let embedding = match (&self.speaker, speaker) {
            (Some(_), Some(e)) => Some(e),
            (Some(_), None) => {
                return Err(input(
                    "this v2Pro/v2ProPlus model needs the speaker-verification embedding of each reference".into(),
                ))
            }
            (None, Some(_)) => return Err(input("this v1/v2 model takes no speaker-verification embedding".into())),
            (None, None) => None,
        };
        let bins = self.cfg.ref_enc.bins;
        if spec.shape().len() != 2 || spec.dim(0) < bins {
            return Err(input(format!(
                "reference spectrogram has shape {:?}; this model reads the first {bins} frequency bins of a \
                 [1025, frames] magnitude spectrogram",
                spec.shape()
            )));
        }
        if spec.dim(1) == 0 {
            return Err(input("reference spectrogram has no frames (the reference audio is empty)".into()));
        }
        check_finite("reference spectrogram", spec.data())?;
        if let (Some(e), Some(c)) = (embedding, &self.cfg.speaker) {
            if e.len() != c.embedding_dim {
                return Err(input(format!(
                    "speaker embedding has {} values; this model's sv_emb reads {}",
                    e.len(),
                    c.embedding_dim
                )));
            }
            check_finite("speaker embedding", e.data())?;
        }
        let ref_enc = ref_enc::style_vector(&self.ref_enc, spec);
        let Some((s, e)) = self.speaker.as_ref().zip(embedding) else {
            return Ok(StyleTrace { ge: ref_enc.clone(), ref_enc, speaker: None });
        };
        let speaker = ref_enc::speaker_projection(s, e.data());
        let ge = ref_enc::speaker_style(s, ref_enc.data(), &speaker);
        Ok(StyleTrace {
            ge: Tensor::new([ge.len()], ge),
            ref_enc,
            speaker: Some(Tensor::new([speaker.len()], speaker)),
        })
    }

    /// A voice's `ge` `[gin]` checked, and the style MRTE adds.
    pub fn conditioning(&self, ge: &Tensor) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        let g = self.cfg.gin_channels;
        if ge.len() != g || ge.shape().iter().filter(|&&d| d != 1).count() > 1 {
            return Err(input(format!("style vector ge has shape {:?}; this model needs [{g}]", ge.shape())));
        }
        check_finite("style vector ge", ge.data())?;
        Ok((ge.data().to_vec(), ref_enc::mrte_style(self.speaker.as_ref(), ge.data())))
    }

    /// Prompt semantic tokens from HuBERT features `[768, T]` (`ssl_proj` + nearest code).
    pub fn extract_latent(&self, ssl: &Tensor) -> Result<Vec<u32>, ModelError> {
        let proj = self.ssl_projection(ssl)?;
        Ok(self.nearest_codes(&proj))
    }
}

impl SemanticToAudio for CpuSovits {
    type Voice = StyleColumns;

    fn config(&self) -> &SovitsConfig {
        &self.cfg
    }

    fn max_batch(&self) -> usize {
        cpu_batch()
    }

    fn reference_style(&self, spec: &Tensor, speaker: Option<&Tensor>) -> Result<Tensor, ModelError> {
        self.analyzer.reference_style(spec, speaker)
    }

    fn extract_latent(&self, ssl: &Tensor) -> Result<Vec<u32>, ModelError> {
        self.analyzer.extract_latent(ssl)
    }

    fn prepare_voice(&self, ge: &Tensor) -> Result<StyleColumns, ModelError> {
        let (ge, mrte) = self.analyzer.conditioning(ge)?;
        Ok(StyleColumns { ge: Tensor::new([ge.len(), 1], ge), mrte: Tensor::new([mrte.len(), 1], mrte) })
    }

    fn decode(&self, windows: &[Window<'_, StyleColumns>]) -> BatchResult<Vec<f32>> {
        let one = |w: &Window<'_, StyleColumns>| {
            let z = self.decode_latent(w.tokens, w.phones, w.voice, w.params)?;
            self.vocode(&z, w.voice)
        };
        Ok(windows.par_iter().map(one).collect())
    }
}
