//! Checks of the batched acoustic graph (`model::acoustic_graph`) that run on any executor: the
//! CPU twins of its kernels in CI (`tests/acoustic_graph.rs`, on the fixture model), the kernels
//! themselves on a GPU (`tests/gpu/acoustic.rs`, on full-size random weights). They compare with
//! upstream's tensors (fixture `sovits.safetensors`) and with the f32 CPU reference
//! (`cpu::sovits`), intermediate by intermediate.
//!
//! Tolerances (fixture README, "Tolerances"): FP16 storage against f32, every tensor within
//! 2e-2 × max|expected|. Batching is exact: a window decoded among others gives the same samples,
//! bit for bit, as decoded alone (every row is computed from its own item only, in the same order).

use std::sync::Arc;

use sovits_rt::checkpoint::{open_sovits, TensorStore};
use sovits_rt::cpu::CpuSovits;
use sovits_rt::model::acoustic::{snr_db, stream_sentence, Window};
use sovits_rt::model::acoustic_graph::{AcousticOps, BatchedSovits, PreparedVoice};
use sovits_rt::model::chunk::ChunkPlan;
use sovits_rt::model::sovits::{SovitsConfig, SovitsWeights};
use sovits_rt::model::{DecodeParams, PriorNoise, SemanticToAudio, Weights};
use sovits_rt::tensor::Tensor;

use super::{assert_close_rel, f32s, u32s};

/// FP16 storage against f32 (fixture README).
pub const FP16_REL: f32 = 2e-2;

/// The fixture's SoVITS configuration and weights.
pub fn fixture_sovits(dir: &std::path::Path) -> (SovitsConfig, SovitsWeights) {
    let file = open_sovits(&dir.join("sovits.pth")).unwrap();
    SovitsWeights::load(&Weights::new(&file.weights), &file.config).unwrap()
}

/// A fixture tensor without its leading dimensions of size 1.
pub fn tensor(store: &TensorStore, name: &str) -> Tensor {
    let (shape, data) = f32s(store, name);
    let dims: Vec<usize> = shape.iter().copied().skip_while(|&d| d == 1).collect();
    Tensor::new(dims, data)
}

pub fn seeded(speed: f32, noise_scale: f32, seed: u64, first_frame: usize) -> DecodeParams {
    DecodeParams { speed, noise_scale, noise: PriorNoise::Seeded { seed, first_frame } }
}

/// What the checks decode: a sentence's tokens and phones, and a style vector.
pub struct Inputs {
    pub tokens: Vec<u32>,
    pub phones: Vec<u32>,
    pub ge: Tensor,
}

impl Inputs {
    /// The fixture's codes (continued with a fixed pseudo-random walk to 120 tokens), phones and
    /// `ge`.
    pub fn fixture(dir: &std::path::Path, cfg: &SovitsConfig) -> Inputs {
        let case = super::case(dir, "sovits.safetensors");
        let mut tokens = u32s(&case, "codes");
        while tokens.len() < 120 {
            let prev = tokens[tokens.len() - 1];
            tokens.push((prev * 1103 + 12345 + tokens.len() as u32) % cfg.quantizer.codebook_size as u32);
        }
        Inputs { tokens, phones: u32s(&case, "text"), ge: tensor(&case, "ge") }
    }

    /// 120 pseudo-random tokens over 60 phones, `ge` from a synthetic spectrogram through the
    /// model's own reference encoder.
    pub fn synthetic(cpu: &CpuSovits) -> Inputs {
        let cfg = cpu.config();
        let spec = Tensor::new([1025, 250], (0..1025 * 250).map(|i| ((i * 37 % 101) as f32 / 101.0) * 2.0).collect());
        Inputs {
            tokens: (0..120u32).map(|i| (i * 7919 + 13) % cfg.quantizer.codebook_size as u32).collect(),
            phones: (0..60u32).map(|i| 1 + (i * 31) % (cfg.text.text_vocab as u32 - 1)).collect(),
            ge: cpu.reference_style(&spec, None).unwrap(),
        }
    }
}

/// Every intermediate of the graph against upstream's case file `case` (`sovits.safetensors` of
/// the v2 set, `sovits_v2pro*.safetensors` of the Pro set), for the main case (noise 0) and the
/// other speed.
pub fn check_upstream_tensors<O: AcousticOps + Send + Sync>(
    model: &BatchedSovits<O>,
    dir: &std::path::Path,
    case: &str,
) {
    let cfg = model.config().clone();
    let case = super::case(dir, case);
    let (tokens, phones) = (u32s(&case, "codes"), u32s(&case, "text"));
    let voice = model.prepare_voice(&tensor(&case, "ge")).unwrap();
    let meta = |k: &str| case.metadata()[k].parse::<f32>().unwrap();

    let main = seeded(f32s(&case, "speed").1[0], meta("noise_scale_main"), 0, 0);
    let window = Window { voice: &voice, tokens: &tokens, phones: &phones, params: &main };
    let (waves, traces) = model.decode_traced(&[window]).unwrap();
    let mut names: Vec<(String, String)> = [
        ("ssl_proj", "enc_p_ssl_proj"),
        ("encoder_ssl", "enc_p_encoder_ssl"),
        ("encoder_text", "enc_p_encoder_text"),
        ("mrte", "enc_p_mrte"),
        ("x", "enc_p_x"),
        ("m_p", "m_p"),
        ("logs_p", "logs_p"),
        ("z_p", "z_p"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    names.extend((0..cfg.flow.n_flows).map(|i| (format!("flow_rev_{i}"), format!("flow_rev_{i}"))));
    for (ours, theirs) in &names {
        let got = traces[0].get(ours, 0).unwrap_or_else(|| panic!("no trace of {ours}"));
        let want = tensor(&case, theirs);
        assert_eq!(got.shape(), want.shape(), "{ours}");
        assert_close_rel(ours, got.data(), want.data(), FP16_REL);
    }
    assert_close_rel("wav", &waves[0], &f32s(&case, "wav").1, FP16_REL);

    let alt = seeded(meta("speed_alt"), 0.0, 0, 0);
    let window = Window { voice: &voice, tokens: &tokens, phones: &phones, params: &alt };
    let (waves, traces) = model.decode_traced(&[window]).unwrap();
    for (ours, theirs) in [("m_p", "speedalt_m_p"), ("logs_p", "speedalt_logs_p")] {
        assert_close_rel(ours, traces[0].get(ours, 0).unwrap().data(), tensor(&case, theirs).data(), FP16_REL);
    }
    let last = format!("flow_rev_{}", cfg.flow.n_flows - 1);
    let z = traces[0].get(&last, 0).unwrap();
    assert_close_rel("speedalt_z", z.data(), tensor(&case, "speedalt_z").data(), FP16_REL);
    assert_close_rel("speedalt_wav", &waves[0], &f32s(&case, "speedalt_wav").1, FP16_REL);
}

/// Every intermediate and the waveform against the f32 CPU's, without and with prior noise (the
/// graph's noise is the CPU's draw per absolute frame) and at another speed.
pub fn check_tensors_against_cpu<O: AcousticOps + Send + Sync>(
    model: &BatchedSovits<O>,
    cpu: &CpuSovits,
    inputs: &Inputs,
) {
    let n_flows = model.config().flow.n_flows;
    let voice = model.prepare_voice(&inputs.ge).unwrap();
    let (tokens, phones) = (&inputs.tokens[..60], &inputs.phones);
    let cpu_voice = cpu.prepare_voice(&inputs.ge).unwrap();
    for params in [seeded(1.0, 0.0, 0, 0), seeded(1.0, 0.5, 7, 0), seeded(0.8, 0.7, 3, 17)] {
        let window = Window { voice: &voice, tokens, phones, params: &params };
        let (waves, traces) = model.decode_traced(&[window]).unwrap();
        let t = cpu.decode_traced(tokens, phones, &cpu_voice, &params).unwrap();
        let mut expected = vec![
            ("ssl_proj", &t.ssl_proj),
            ("encoder_ssl", &t.encoder_ssl),
            ("encoder_text", &t.encoder_text),
            ("mrte", &t.mrte),
            ("x", &t.x),
            ("m_p", &t.m_p),
            ("logs_p", &t.logs_p),
            ("z_p", &t.z_p),
        ];
        let flow_names: Vec<String> = (0..n_flows).map(|i| format!("flow_rev_{i}")).collect();
        expected.extend(flow_names.iter().map(|n| n.as_str()).zip(&t.flow_rev));
        for (name, want) in expected {
            let got = traces[0].get(name, 0).unwrap_or_else(|| panic!("no trace of {name}"));
            assert_eq!(got.shape(), want.shape(), "{name}");
            assert_close_rel(name, got.data(), want.data(), FP16_REL);
        }
        let wav = cpu.vocode(&t.z, &cpu_voice).unwrap();
        assert_close_rel("wav", &waves[0], &wav, FP16_REL);
        println!(
            "speed {}, noise {}: waveform SNR vs the f32 CPU {:.1} dB",
            params.speed,
            params.noise_scale,
            snr_db(&wav, &waves[0])
        );
    }
}

/// `n` windows of different voices, lengths, speeds and chunk positions decoded in one call give
/// exactly what each gives alone.
pub fn check_batch_equals_alone<O: AcousticOps + Send + Sync>(model: &BatchedSovits<O>, inputs: &Inputs, n: usize) {
    let cfg = model.config().clone();
    let (tokens, text, ge) = (&inputs.tokens, &inputs.phones, &inputs.ge);
    let voices: Vec<PreparedVoice> = (0..n)
        .map(|i| {
            let s = 1.0 - 0.3 * i as f32;
            model.prepare_voice(&Tensor::new([ge.len()], ge.data().iter().map(|v| v * s).collect())).unwrap()
        })
        .collect();
    let params: Vec<DecodeParams> = (0..n)
        .map(|i| {
            let speed = [1.0, 1.0, 0.8, 1.0, 1.25][i % 5];
            seeded(speed, 0.3 + 0.05 * i as f32, i as u64, 13 * i)
        })
        .collect();
    let spans: Vec<(usize, usize, usize)> =
        (0..n).map(|i| ((7 * i) % 60, (7 * i) % 60 + 8 + (19 * i) % 50, 3 + (5 * i) % (text.len() - 3))).collect();
    let windows: Vec<Window<'_, PreparedVoice>> = (0..n)
        .map(|i| {
            let (a, b, p) = spans[i];
            Window { voice: &voices[i], tokens: &tokens[a..b], phones: &text[..p], params: &params[i] }
        })
        .collect();
    let together = model.decode(&windows).unwrap();
    for (i, w) in windows.iter().enumerate() {
        let alone = model.decode(std::slice::from_ref(w)).unwrap().pop().unwrap().unwrap();
        let with_others = together[i].as_ref().unwrap();
        assert_eq!(alone.len(), cfg.hop_length() * cfg.latent_frames(w.tokens.len(), w.params.speed), "window {i}");
        assert!(with_others == &alone, "window {i}: batched samples differ from the window decoded alone");
    }
    println!("{n} windows: batched = alone, bit for bit");
}

/// Chunked streaming vs the whole decode: within 1 dB of the CPU's figure (the chunk plan, not
/// the backend, sets it); a bad window is a typed error of its own.
pub fn check_streaming<O: AcousticOps + Send + Sync>(model: &BatchedSovits<O>, cpu: &CpuSovits, inputs: &Inputs) {
    let (tokens, phones, ge) = (&inputs.tokens[..100], &inputs.phones, &inputs.ge);
    let params = seeded(1.0, 0.5, 5, 0);
    let plan = ChunkPlan::default();
    let streamed_snr = |m: &dyn Fn() -> (Vec<f32>, Vec<f32>)| {
        let (whole, streamed) = m();
        snr_db(&whole, &streamed)
    };
    let voice = Arc::new(model.prepare_voice(ge).unwrap());
    let ours = streamed_snr(&|| {
        let whole = model.synthesize(&voice, tokens, phones, &params).unwrap();
        (whole, stream_sentence(model, &plan, voice.clone(), tokens, phones, &params).unwrap().0)
    });
    let cpu_voice = Arc::new(cpu.prepare_voice(ge).unwrap());
    let reference = streamed_snr(&|| {
        let whole = cpu.synthesize(&cpu_voice, tokens, phones, &params).unwrap();
        (whole, stream_sentence(cpu, &plan, cpu_voice.clone(), tokens, phones, &params).unwrap().0)
    });
    println!("streamed vs whole decode: graph {ours:.2} dB, CPU {reference:.2} dB");
    assert!((ours - reference).abs() <= 1.0, "graph {ours:.2} dB vs CPU {reference:.2} dB");

    let bad = [tokens[0], model.config().quantizer.codebook_size as u32];
    let windows = [
        Window { voice: voice.as_ref(), tokens: &tokens[..10], phones, params: &params },
        Window { voice: voice.as_ref(), tokens: &bad, phones, params: &params },
    ];
    let out = model.decode(&windows).unwrap();
    assert!(out[0].is_ok());
    assert!(out[1].as_ref().unwrap_err().to_string().contains("outside"), "{:?}", out[1].as_ref().err());
}

/// Whole sentences of `seconds` of audio against the f32 CPU: the FP16 path keeps `min_db` of
/// waveform SNR.
pub fn check_sentence_snr<O: AcousticOps + Send + Sync>(
    model: &BatchedSovits<O>,
    cpu: &CpuSovits,
    inputs: &Inputs,
    seconds: &[f32],
    min_db: f64,
) {
    let cfg = model.config();
    let voice = model.prepare_voice(&inputs.ge).unwrap();
    let cpu_voice = cpu.prepare_voice(&inputs.ge).unwrap();
    for &s in seconds {
        let n = (s * 25.0).round() as usize;
        let tokens: Vec<u32> = (0..n as u32).map(|i| (i * 7919 + 13) % cfg.quantizer.codebook_size as u32).collect();
        let params = seeded(1.0, 0.5, 5, 0);
        let ours = model.synthesize(&voice, &tokens, &inputs.phones, &params).unwrap();
        let want = cpu.synthesize(&cpu_voice, &tokens, &inputs.phones, &params).unwrap();
        let snr = snr_db(&want, &ours);
        println!("{s} s of audio: waveform SNR vs the f32 CPU {snr:.1} dB");
        assert!(snr >= min_db, "{s} s: {snr:.1} dB < {min_db} dB");
    }
}
