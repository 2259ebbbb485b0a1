//! What v2Pro/v2ProPlus add to SoVITS, against upstream (fixture set `v2pro-small`, every
//! `sovits_v2pro*.safetensors` present): the reference conditioning `ge = PReLU(ref_enc(spec) +
//! sv_emb(e))` with its terms, `ge_to512`, two references averaged after each PReLU (decoded to
//! the waveform), the prompt tokens of `extract_latent` with the README's near-tie rule, and the
//! typed errors for inputs and files that do not fit. The decode itself (every intermediate, noise,
//! speed) runs for these models in `parity_sovits.rs`. Tolerance: 1e-4 × max|expected|; ids exact.
mod common;

use common::{assert_close_rel, f32s, i64s, u32s, SovitsCase};
use sovits_rt::checkpoint::{open_sovits, CheckpointError, TensorStore};
use sovits_rt::cpu::CpuSovits;
use sovits_rt::model::acoustic::voice_style;
use sovits_rt::model::{DecodeParams, ModelError, PriorNoise, SemanticToAudio};
use sovits_rt::tensor::Tensor;

/// README: SoVITS tensors within 1e-4 × max|expected|.
const REL: f32 = 1e-4;
/// README: a prompt token must equal upstream's where the second-nearest codebook row is at least
/// this much farther (squared distance); nearer ties may pick either of the two.
const LATENT_MARGIN: f32 = 1e-2;

/// A fixture tensor without its leading batch dimension(s) of size 1.
fn tensor(store: &TensorStore, name: &str) -> Tensor {
    let (shape, data) = f32s(store, name);
    let dims: Vec<usize> = shape.iter().copied().skip_while(|&d| d == 1).collect();
    Tensor::new(if dims.is_empty() { vec![1] } else { dims }, data)
}

fn check(what: &str, got: &[f32], store: &TensorStore, name: &str) {
    assert_close_rel(what, got, &f32s(store, name).1, REL);
}

/// The Pro models of the set, each with its case file, and the reference case.
fn pro_models(test: &str) -> Vec<(SovitsCase, CpuSovits, TensorStore, TensorStore)> {
    common::sovits_cases(test)
        .into_iter()
        .filter(|c| c.case.starts_with("sovits_v2pro"))
        .map(|c| {
            eprintln!("{test}: {}", c.model.display());
            let model = CpuSovits::load(&open_sovits(&c.model).unwrap()).unwrap();
            let (case, reference) = (common::case(&c.dir, &c.case), common::case(&c.dir, "ref_sv.safetensors"));
            (c, model, case, reference)
        })
        .collect()
}

#[test]
fn pro_reference_conditioning_matches_upstream() {
    for (_, model, case, reference) in pro_models("pro_reference_conditioning_matches_upstream") {
        let (spec, sv) = (tensor(&reference, "spec"), tensor(&reference, "sv_emb"));
        let style = model.analyzer().reference_style_traced(&spec, Some(&sv)).unwrap();
        check("ge_ref", style.ref_enc.data(), &case, "ge_ref");
        let speaker = style.speaker.as_ref().expect("a Pro model has a speaker term");
        check("sv_proj", speaker.data(), &case, "sv_proj");
        let sum: Vec<f32> = style.ref_enc.data().iter().zip(speaker.data()).map(|(a, b)| a + b).collect();
        check("ge_sum", &sum, &case, "ge_sum");
        check("ge", style.ge.data(), &case, "ge");
        let voice = model.prepare_voice(&style.ge).unwrap();
        check("ge512", voice.mrte.data(), &case, "ge512");
        let trace = model.vocode_traced(&tensor(&case, "dec_input"), &voice).unwrap();
        check("dec_cond", trace.cond.data(), &case, "dec_cond");
    }
}

/// Two references: each gets its own PReLU, then the mean conditions the flow and the generator,
/// and its projection MRTE; the decode with them gives upstream's waveform.
#[test]
fn pro_two_references_average_after_the_prelu() {
    for (_, model, case, reference) in pro_models("pro_two_references_average_after_the_prelu") {
        let second =
            model.reference_style(&tensor(&reference, "ref2_spec"), Some(&tensor(&reference, "ref2_sv_emb"))).unwrap();
        check("multiref_ge_1", second.data(), &case, "multiref_ge_1");
        let first = Tensor::new([second.len()], f32s(&case, "ge").1);
        let ge = voice_style(&[first, second]).unwrap();
        check("multiref_ge", ge.data(), &case, "multiref_ge");
        let voice = model.prepare_voice(&ge).unwrap();
        check("multiref_ge512", voice.mrte.data(), &case, "multiref_ge512");
        let params = DecodeParams {
            speed: f32s(&case, "speed").1[0],
            noise_scale: case.metadata()["noise_scale_main"].parse().unwrap(),
            noise: PriorNoise::Seeded { seed: 0, first_frame: 0 },
        };
        let wav = model.synthesize(&voice, &u32s(&case, "codes"), &u32s(&case, "text"), &params).unwrap();
        check("multiref_wav", &wav, &case, "multiref_wav");
    }
}

/// `extract_latent` with the Pro checkpoint's own `ssl_proj` and codebook.
#[test]
fn pro_extract_latent_matches_upstream() {
    for (_, model, case, reference) in pro_models("pro_extract_latent_matches_upstream") {
        let ssl = tensor(&reference, "hubert_last_hidden_state").t();
        let proj = model.analyzer().ssl_projection(&ssl).unwrap();
        check("latent_ssl_proj", proj.data(), &case, "latent_ssl_proj");
        let codes = model.extract_latent(&ssl).unwrap();
        let (best, second) = (i64s(&case, "latent_codes"), i64s(&case, "latent_second_codes"));
        let margin = f32s(&case, "latent_margin").1;
        assert_eq!(codes.len(), best.len());
        let mut near_ties = 0;
        for (i, &c) in codes.iter().enumerate() {
            if margin[i] >= LATENT_MARGIN {
                assert_eq!(c as i64, best[i], "prompt token {i} (margin {})", margin[i]);
            } else {
                near_ties += 1;
                assert!(c as i64 == best[i] || c as i64 == second[i], "prompt token {i}: {c} (near tie)");
            }
        }
        let same = codes.iter().zip(&best).filter(|(&c, &b)| c as i64 == b).count();
        eprintln!("latent_codes: {same} of {} equal to upstream's; {near_ties} near ties", codes.len());
    }
}

fn expect_input_error<T: std::fmt::Debug>(what: &str, r: Result<T, ModelError>) {
    match r {
        Err(ModelError::Input(msg)) => eprintln!("{what}: {msg}"),
        other => panic!("{what}: expected ModelError::Input, got {other:?}"),
    }
}

#[test]
fn pro_models_reject_what_does_not_fit() {
    for (c, model, _, reference) in pro_models("pro_models_reject_what_does_not_fit") {
        let (spec, sv) = (tensor(&reference, "spec"), tensor(&reference, "sv_emb"));
        expect_input_error("no speaker embedding", model.reference_style(&spec, None));
        let short = Tensor::new([sv.len() - 1], sv.data()[1..].to_vec());
        expect_input_error("speaker embedding of the wrong width", model.reference_style(&spec, Some(&short)));
        let mut nan = sv.clone();
        nan.data_mut()[3] = f32::NAN;
        expect_input_error("NaN speaker embedding", model.reference_style(&spec, Some(&nan)));
        expect_input_error("no references", voice_style(&[]));

        // The same file re-headed to a plain zip: upstream would load it as v2 and fail at decode.
        let bytes = std::fs::read(&c.model).unwrap();
        let plain = std::env::temp_dir().join(format!("sovits-rt-pro-pk-{}.pth", std::process::id()));
        std::fs::write(&plain, [b"PK".as_slice(), &bytes[2..]].concat()).unwrap();
        let e = open_sovits(&plain).err().expect("Pro weights behind a PK header must be refused");
        std::fs::remove_file(&plain).unwrap();
        assert!(matches!(e, CheckpointError::Format { .. }), "{e}");
        assert!(e.to_string().contains(&plain.display().to_string()) && e.to_string().contains("Pro"), "{e}");
    }
}
