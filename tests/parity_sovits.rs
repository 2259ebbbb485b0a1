//! SoVITS decoder and HiFi-GAN against upstream `SynthesizerTrn`, for every model of the fixture
//! sets (`v2-small/sovits.pth` and each `v2pro-small/sovits_v2pro*.pth`; case files
//! `sovits.safetensors`, `sovits_v2pro*.safetensors`: `decode` with noise 0, with injected noise,
//! with another speed) and the v2 `extract_latent` (fixture `hubert.safetensors`). The Pro models'
//! reference conditioning and prompt tokens are in `parity_sovits_pro.rs`. Every tensor is
//! compared with the READMEs' tolerance (atol = 1e-4 × max|expected|; ids exact). Sizes come from
//! the files.
mod common;

use common::{assert_close_rel, f32s, i64s, u32s, SovitsCase};
use sovits_rt::checkpoint::pickle::Value;
use sovits_rt::checkpoint::{open_sovits, SovitsFile, TensorStore};
use sovits_rt::cpu::CpuSovits;
use sovits_rt::model::sovits::SovitsWeights;
use sovits_rt::model::{DecodeParams, ModelError, PriorNoise, SemanticToAudio, Weights};
use sovits_rt::tensor::Tensor;

/// README: atol = 1e-4 × max|expected| for every SoVITS and HuBERT-stage float tensor.
const REL: f32 = 1e-4;

fn sovits_file(dir: &std::path::Path) -> SovitsFile {
    open_sovits(&dir.join("sovits.pth")).unwrap()
}

/// Runs `check` on every SoVITS model of the fixture sets, naming it in a failure.
fn each_model(test: &str, check: impl Fn(&SovitsCase, &SovitsFile, &TensorStore)) {
    for c in common::sovits_cases(test) {
        eprintln!("{test}: {}", c.model.display());
        check(&c, &open_sovits(&c.model).unwrap(), &common::case(&c.dir, &c.case));
    }
}

/// A fixture tensor without its leading batch dimension(s) of size 1.
fn tensor(store: &TensorStore, name: &str) -> Tensor {
    let (shape, data) = f32s(store, name);
    let dims: Vec<usize> = shape.iter().copied().skip_while(|&d| d == 1).collect();
    Tensor::new(if dims.is_empty() { vec![1] } else { dims }, data)
}

fn meta_f32(store: &TensorStore, key: &str) -> f32 {
    store.metadata()[key].parse().unwrap()
}

fn check(what: &str, got: &Tensor, store: &TensorStore, name: &str) {
    let expected = tensor(store, name);
    assert_eq!(got.shape(), expected.shape(), "{what}: shape");
    assert_close_rel(what, got.data(), expected.data(), REL);
}

fn model_int(file: &SovitsFile, key: &str) -> usize {
    file.config.get("model").and_then(|m| m.get(key)).and_then(Value::as_i64).unwrap() as usize
}

fn model_ints(file: &SovitsFile, key: &str) -> Vec<usize> {
    match file.config.get("model").and_then(|m| m.get(key)) {
        Some(Value::List(v)) => v.iter().map(|x| x.as_i64().unwrap() as usize).collect(),
        other => panic!("model.{key}: {other:?}"),
    }
}

/// Every tensor is read except the quantizer's EMA training buffers, and the shape-inferred
/// architecture agrees with the config pickled next to the weights.
#[test]
fn sovits_weights_load_completely() {
    each_model("sovits_weights_load_completely", |_, file, case| {
        let w = Weights::new(&file.weights);
        let (cfg, weights) = SovitsWeights::load(&w, &file.config).unwrap();
        let unused = w.unused();
        let allowed = |n: &str| {
            n.strip_prefix("quantizer.vq.layers.").and_then(|r| r.split_once("._codebook.")).is_some_and(|(i, b)| {
                i.parse::<usize>().is_ok() && ["inited", "cluster_size", "embed_avg"].contains(&b)
            })
        };
        assert!(unused.iter().all(|n| allowed(n)), "unread tensors: {unused:?}");
        assert!(!unused.is_empty(), "the EMA buffers are stored in every SoVITS file");

        assert_eq!(cfg.text.hidden_channels, model_int(file, "hidden_channels"));
        assert_eq!(cfg.inter_channels, model_int(file, "inter_channels"));
        assert_eq!(cfg.text.filter_channels, model_int(file, "filter_channels"));
        assert_eq!(cfg.text.n_heads, model_int(file, "n_heads"));
        assert_eq!(cfg.text.ffn_kernel_size, model_int(file, "kernel_size"));
        let n_layers = model_int(file, "n_layers");
        assert_eq!(
            (cfg.text.n_layers_ssl, cfg.text.n_layers_text, cfg.text.n_layers_post),
            (n_layers / 2, n_layers, n_layers / 2)
        );
        assert_eq!(cfg.gin_channels, model_int(file, "gin_channels"));
        assert_eq!(cfg.generator.upsample_initial_channel, model_int(file, "upsample_initial_channel"));
        assert_eq!(cfg.generator.upsample_rates, model_ints(file, "upsample_rates"));
        assert_eq!(cfg.generator.upsample_kernel_sizes, model_ints(file, "upsample_kernel_sizes"));
        assert_eq!(cfg.generator.resblock_kernel_sizes, model_ints(file, "resblock_kernel_sizes"));
        let hop = file.config.get("data").and_then(|d| d.get("hop_length")).and_then(Value::as_i64).unwrap();
        assert_eq!(cfg.hop_length(), hop as usize);
        // The version comes from the header bytes, and a Pro model has its speaker conditioning.
        if let Some(version) = case.metadata().get("version") {
            assert_eq!(file.kind.name(), version);
        }
        assert_eq!(file.kind.is_pro(), cfg.speaker.is_some());
        assert_eq!(file.kind.is_pro(), weights.speaker.is_some());
    });
}

/// Without the pickled config the upsample rates fall back to the s2.json constants.
#[test]
fn sovits_config_without_pickled_config() {
    each_model("sovits_config_without_pickled_config", |_, file, _| {
        let w = Weights::new(&file.weights);
        let (with, _) = SovitsWeights::load(&w, &file.config).unwrap();
        let (without, _) = SovitsWeights::load(&w, &Value::None).unwrap();
        assert_eq!(with, without);
    });
}

/// The v2 reference encoder: `ge` from the case's `refer_spec`.
#[test]
fn sovits_reference_style_matches_upstream() {
    let Some(dir) = common::model_fixtures("sovits_reference_style_matches_upstream") else { return };
    let model = CpuSovits::load(&sovits_file(&dir)).unwrap();
    let case = common::case(&dir, "sovits.safetensors");
    let ge = model.reference_style(&tensor(&case, "refer_spec"), None).unwrap();
    check("ge", &Tensor::new([ge.len(), 1], ge.data().to_vec()), &case, "ge");
}

/// `decode` from the case's `ge` (each stage fed the fixture's own inputs).
#[test]
fn sovits_decode_matches_upstream() {
    each_model("sovits_decode_matches_upstream", |_, file, case| {
        let model = CpuSovits::load(file).unwrap();
        let tokens = u32s(case, "codes");
        let phones = u32s(case, "text");
        let style = model.prepare_voice(&tensor(case, "ge")).unwrap();
        if model.config().speaker.is_some() {
            check("ge512", &style.mrte, case, "ge512");
        }
        let params = DecodeParams {
            speed: f32s(case, "speed").1[0],
            noise_scale: meta_f32(case, "noise_scale_main"),
            noise: PriorNoise::Seeded { seed: 0, first_frame: 0 },
        };
        let tr = model.decode_traced(&tokens, &phones, &style, &params).unwrap();
        check("quantized", &tr.quantized, case, "quantized");
        check("quantized_up", &tr.quantized_up, case, "quantized_up");
        check("enc_p_ssl_proj", &tr.ssl_proj, case, "enc_p_ssl_proj");
        check("enc_p_encoder_ssl", &tr.encoder_ssl, case, "enc_p_encoder_ssl");
        check("enc_p_encoder_text", &tr.encoder_text, case, "enc_p_encoder_text");
        check("enc_p_mrte", &tr.mrte, case, "enc_p_mrte");
        check("enc_p_x", &tr.x, case, "enc_p_x");
        check("m_p", &tr.m_p, case, "m_p");
        check("logs_p", &tr.logs_p, case, "logs_p");
        check("y_mask", &Tensor::new([tr.m_p.dim(1)], vec![1.0; tr.m_p.dim(1)]), case, "y_mask");
        check("z_p", &tr.z_p, case, "z_p");
        assert_eq!(tr.flow_rev.len(), (0..).take_while(|i| case.contains(&format!("flow_rev_{i}"))).count());
        for (i, f) in tr.flow_rev.iter().enumerate() {
            check(&format!("flow_rev_{i}"), f, case, &format!("flow_rev_{i}"));
        }
        check("z", &tr.z, case, "z");
        check("dec_input", &tr.z, case, "dec_input");

        let voc = model.vocode_traced(&tensor(case, "dec_input"), &style).unwrap();
        check("dec_conv_pre", &voc.conv_pre, case, "dec_conv_pre");
        if case.contains("dec_cond") {
            check("dec_cond", &voc.cond, case, "dec_cond");
        }
        assert_close_rel("wav", &voc.wav, &f32s(case, "wav").1, REL);
        assert_eq!(voc.wav.len(), model.config().hop_length() * tr.z.dim(1));
        // A single latent frame (shorter than every kernel and dilation) still gives one hop.
        let one = Tensor::new([tr.z.dim(0), 1], tr.z.data().chunks_exact(tr.z.dim(1)).map(|r| r[0]).collect());
        let wav = model.vocode(&one, &style).unwrap();
        assert_eq!(wav.len(), model.config().hop_length());
        assert!(wav.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
    });
}

#[test]
fn sovits_decode_with_injected_noise_matches_upstream() {
    each_model("sovits_decode_with_injected_noise_matches_upstream", |_, file, case| {
        let model = CpuSovits::load(file).unwrap();
        let style = model.prepare_voice(&tensor(case, "ge")).unwrap();
        let params = DecodeParams {
            speed: f32s(case, "speed").1[0],
            noise_scale: meta_f32(case, "noise_scale_noise05"),
            noise: PriorNoise::Given(tensor(case, "noise05_noise")),
        };
        let (codes, text) = (u32s(case, "codes"), u32s(case, "text"));
        let tr = model.decode_traced(&codes, &text, &style, &params).unwrap();
        check("noise05_z_p", &tr.z_p, case, "noise05_z_p");
        check("noise05_z", &tr.z, case, "noise05_z");
        let wav = model.vocode(&tensor(case, "noise05_z"), &style).unwrap();
        assert_close_rel("noise05_wav", &wav, &f32s(case, "noise05_wav").1, REL);

        // The seeded path draws N(0,1) noise of the same shape, reproducibly.
        let seeded = DecodeParams { noise: PriorNoise::Seeded { seed: 7, first_frame: 0 }, ..params };
        let a = model.decode_latent(&codes, &text, &style, &seeded).unwrap();
        let b = model.decode_latent(&codes, &text, &style, &seeded).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, tr.z);
    });
}

#[test]
fn sovits_decode_at_other_speed_matches_upstream() {
    each_model("sovits_decode_at_other_speed_matches_upstream", |_, file, case| {
        let model = CpuSovits::load(file).unwrap();
        let style = model.prepare_voice(&tensor(case, "ge")).unwrap();
        let params = DecodeParams {
            speed: f32s(case, "speedalt_speed").1[0],
            noise_scale: 0.0,
            noise: PriorNoise::Seeded { seed: 0, first_frame: 0 },
        };
        let tr = model.decode_traced(&u32s(case, "codes"), &u32s(case, "text"), &style, &params).unwrap();
        check("speedalt_m_p", &tr.m_p, case, "speedalt_m_p");
        check("speedalt_logs_p", &tr.logs_p, case, "speedalt_logs_p");
        check("speedalt_y_mask", &Tensor::new([tr.m_p.dim(1)], vec![1.0; tr.m_p.dim(1)]), case, "speedalt_y_mask");
        check("speedalt_z", &tr.z, case, "speedalt_z");
        let wav = model.vocode(&tensor(case, "speedalt_z"), &style).unwrap();
        assert_close_rel("speedalt_wav", &wav, &f32s(case, "speedalt_wav").1, REL);
    });
}

#[test]
fn sovits_extract_latent_matches_upstream() {
    let Some(dir) = common::model_fixtures("sovits_extract_latent_matches_upstream") else { return };
    let model = CpuSovits::load(&sovits_file(&dir)).unwrap();
    let case = common::case(&dir, "hubert.safetensors");
    // last_hidden_state [1, T, 768] → [768, T], as upstream transposes before extract_latent.
    let ssl = tensor(&case, "last_hidden_state").t();
    let proj = model.analyzer().ssl_projection(&ssl).unwrap();
    check("ssl_proj", &proj, &case, "ssl_proj");
    let codes = model.analyzer().nearest_codes(&tensor(&case, "ssl_proj"));
    let expected: Vec<u32> = i64s(&case, "prompt_semantic").into_iter().map(|v| v as u32).collect();
    assert_eq!(codes, expected, "prompt_semantic from the fixture's ssl_proj");
    assert_eq!(model.extract_latent(&ssl).unwrap(), expected, "prompt_semantic end to end");
    check("quantized", &model.analyzer().codebook_lookup(&codes).unwrap(), &case, "quantized");
}

fn expect_input_error<T: std::fmt::Debug>(what: &str, r: Result<T, ModelError>) {
    match r {
        Err(ModelError::Input(msg)) => eprintln!("{what}: {msg}"),
        other => panic!("{what}: expected ModelError::Input, got {other:?}"),
    }
}

#[test]
fn sovits_rejects_bad_inputs() {
    let Some(dir) = common::model_fixtures("sovits_rejects_bad_inputs") else { return };
    let model = CpuSovits::load(&sovits_file(&dir)).unwrap();
    let cfg = model.config().clone();
    let case = common::case(&dir, "sovits.safetensors");
    let (tokens, phones, ge) = (u32s(&case, "codes"), u32s(&case, "text"), tensor(&case, "ge"));
    let ok = DecodeParams { speed: 1.0, noise_scale: 0.5, noise: PriorNoise::Seeded { seed: 1, first_frame: 0 } };
    let decode = |t: &[u32], p: &[u32], g: &Tensor, params: &DecodeParams| {
        model.prepare_voice(g).and_then(|style| model.decode_latent(t, p, &style, params))
    };

    expect_input_error("empty tokens", decode(&[], &phones, &ge, &ok));
    expect_input_error("token id = codebook size", decode(&[cfg.quantizer.codebook_size as u32], &phones, &ge, &ok));
    expect_input_error("empty phones", decode(&tokens, &[], &ge, &ok));
    expect_input_error("phone id = vocab", decode(&tokens, &[cfg.text.text_vocab as u32], &ge, &ok));
    for speed in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        expect_input_error("bad speed", decode(&tokens, &phones, &ge, &DecodeParams { speed, ..ok.clone() }));
    }
    expect_input_error(
        "NaN noise scale",
        decode(&tokens, &phones, &ge, &DecodeParams { noise_scale: f32::NAN, ..ok.clone() }),
    );
    let wrong_noise = PriorNoise::Given(Tensor::zeros([cfg.inter_channels, 1]));
    expect_input_error(
        "noise of the wrong shape",
        decode(&tokens, &phones, &ge, &DecodeParams { noise: wrong_noise, ..ok.clone() }),
    );
    expect_input_error("ge of the wrong width", decode(&tokens, &phones, &Tensor::zeros([cfg.gin_channels + 1]), &ok));
    let mut nan_ge = ge.clone();
    nan_ge.data_mut()[0] = f32::NAN;
    expect_input_error("NaN ge", decode(&tokens, &phones, &nan_ge, &ok));

    let spec = tensor(&case, "refer_spec");
    let frames = spec.dim(1);
    let few_bins = Tensor::new([cfg.ref_enc.bins - 1, frames], spec.data()[..(cfg.ref_enc.bins - 1) * frames].to_vec());
    expect_input_error("spectrogram with too few bins", model.reference_style(&few_bins, None));
    expect_input_error("spectrogram with no frames", model.reference_style(&Tensor::zeros([spec.dim(0), 0]), None));
    expect_input_error("1-D spectrogram", model.reference_style(&Tensor::zeros([spec.dim(0)]), None));

    expect_input_error(
        "SSL features of the wrong width",
        model.extract_latent(&Tensor::zeros([cfg.quantizer.ssl_dim + 1, 4])),
    );
    expect_input_error(
        "too few SSL frames",
        model.extract_latent(&Tensor::zeros([cfg.quantizer.ssl_dim, cfg.quantizer.ssl_proj_kernel - 1])),
    );

    let style = model.prepare_voice(&ge).unwrap();
    expect_input_error("z of the wrong width", model.vocode(&Tensor::zeros([cfg.inter_channels + 1, 2]), &style));
    expect_input_error("z with no frames", model.vocode(&Tensor::zeros([cfg.inter_channels, 0]), &style));
    expect_input_error("a speaker embedding for a v2 model", model.reference_style(&spec, Some(&Tensor::zeros([8]))));
}
