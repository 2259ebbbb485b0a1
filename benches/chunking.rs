//! The chunk plan (`model::chunk`, shared by every backend) against the whole-utterance decode on
//! a full-size v2 SoVITS with seeded random weights (issue 5, item 2; the fixture model's figures
//! come from `tests/streaming_decode.rs`): for first chunks of 4, 8 and 16 tokens, the SNR of the
//! streamed waveform and the largest sample step at a join (vs the largest step anywhere in the
//! whole decode). Run with `cargo bench --bench chunking`.

use std::time::Instant;

use sovits_rt::cpu::CpuSovits;
use std::sync::Arc;

use sovits_rt::model::acoustic::{snr_db, stream_sentence};
use sovits_rt::model::chunk::ChunkPlan;
use sovits_rt::model::{DecodeParams, PriorNoise, SemanticToAudio};
use sovits_rt::synthetic;
use sovits_rt::tensor::Tensor;

fn main() {
    let t = Instant::now();
    let model = CpuSovits::load(&synthetic::sovits(2)).unwrap_or_else(|e| panic!("{e}"));
    let c = model.config().clone();
    println!("full-size SoVITS built in {:.1} s", t.elapsed().as_secs_f64());
    let spec = Tensor::new([1025, 250], (0..1025 * 250).map(|i| ((i * 37 % 101) as f32 / 101.0) * 2.0).collect());
    let ge = model.reference_style(&spec, None).unwrap_or_else(|e| panic!("{e}"));
    let voice = Arc::new(model.prepare_voice(&ge).unwrap_or_else(|e| panic!("{e}")));
    // A 6 s sentence: 150 tokens (a fixed pseudo-random walk) over 60 phones.
    let vocab = c.quantizer.codebook_size as u32;
    let tokens: Vec<u32> = (0..150u32).map(|i| (i * 7919 + 13) % vocab).collect();
    let phones: Vec<u32> = (0..60u32).map(|i| 1 + (i * 31) % (c.text.text_vocab as u32 - 1)).collect();
    let params = DecodeParams { speed: 1.0, noise_scale: 0.5, noise: PriorNoise::Seeded { seed: 5, first_frame: 0 } };
    let z = model.decode_latent(&tokens, &phones, &voice, &params).unwrap_or_else(|e| panic!("{e}"));
    let whole = model.vocode(&z, &voice).unwrap_or_else(|e| panic!("{e}"));
    let max_step = whole.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0f32, f32::max);
    println!("| first chunk | joins | SNR vs whole decode | largest step at a join | largest step anywhere |");
    println!("|------------:|------:|--------------------:|-----------------------:|----------------------:|");
    for first in [4, 8, 16] {
        let plan = ChunkPlan {
            first_tokens: first,
            overlap: ChunkPlan::default().overlap.min(first - 1),
            ..ChunkPlan::default()
        };
        let (streamed, joins) =
            stream_sentence(&model, &plan, voice.clone(), &tokens, &phones, &params).unwrap_or_else(|e| panic!("{e}"));
        let jump = joins.iter().map(|&j| (streamed[j] - streamed[j - 1]).abs()).fold(0.0f32, f32::max);
        println!(
            "| {first:>11} | {:>5} | {:>16.1} dB | {jump:>22.3} | {max_step:>21.3} |",
            joins.len(),
            snr_db(&whole, &streamed)
        );
    }
}
