//! The `sovits-rt` command line. Subcommands: `synth` (one utterance to a WAV file).
//! Progress and timings go to stderr; errors print their full chain and exit with status 1.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sovits_rt::model::sampling::SamplingParams;
use sovits_rt::pipeline::{ModelPaths, SynthParams, Synthesizer, SAMPLE_RATE};
use sovits_rt::text::TextError;

#[derive(Parser)]
#[command(name = "sovits-rt", version, about = "Realtime GPT-SoVITS voice-cloning engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Synthesize one utterance in the voice of a reference clip and write a 32 kHz WAV.
    Synth(SynthArgs),
}

#[derive(clap::Args)]
struct SynthArgs {
    /// GPT checkpoint (.ckpt) as trained by GPT-SoVITS.
    #[arg(long)]
    gpt: PathBuf,
    /// SoVITS checkpoint (.pth) as trained by GPT-SoVITS.
    #[arg(long)]
    sovits: PathBuf,
    /// The chinese-hubert-base folder.
    #[arg(long)]
    hubert: PathBuf,
    /// The chinese-roberta-wwm-ext-large folder.
    #[arg(long)]
    bert: PathBuf,
    /// Reference clip (WAV, 3-10 s, any sample rate, mono or stereo).
    #[arg(long = "ref")]
    reference: PathBuf,
    /// Transcript of the reference clip (needs the text frontend; use --ref-phones for now).
    #[arg(long)]
    ref_text: Option<String>,
    /// Phones of the reference transcript: space-separated upstream symbols.
    #[arg(long)]
    ref_phones: Option<String>,
    /// Text to speak (needs the text frontend; use --phones for now).
    #[arg(long)]
    text: Option<String>,
    /// Phones to speak: space-separated upstream symbols, e.g. "n i3 h ao3 .".
    #[arg(long)]
    phones: Option<String>,
    /// Language of the text: zh, en, ja, ko, yue, auto, ... (used by the text frontend).
    #[arg(long, default_value = "zh")]
    lang: String,
    /// Output WAV path.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 15)]
    top_k: usize,
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    #[arg(long, default_value_t = 1.35)]
    repetition_penalty: f32,
    /// Speaking rate (latent-space interpolation, like upstream's speed_factor).
    #[arg(long, default_value_t = 1.0)]
    speed: f32,
    /// Prior noise scale of the SoVITS decoder.
    #[arg(long, default_value_t = 0.5)]
    noise_scale: f32,
    /// Stop after this many semantic tokens (25 per second of audio); upstream's early_stop_num.
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Random seed; the same seed gives the same audio. Drawn at random when absent.
    #[arg(long)]
    seed: Option<u64>,
}

const LANGUAGES: &[&str] =
    &["zh", "en", "ja", "ko", "yue", "auto", "auto_yue", "all_zh", "all_ja", "all_ko", "all_yue"];

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Synth(args) => synth(args),
    }
}

/// Phones from a `--…phones` flag, or the "frontend not available" error when only text was given.
fn phones_arg(phones: &Option<String>, text: &Option<String>, flag: &str) -> anyhow::Result<String> {
    match (phones, text) {
        (Some(p), _) => Ok(p.clone()),
        (None, Some(_)) => Err(TextError::FrontendUnavailable.into()),
        (None, None) => anyhow::bail!("missing --{flag} (space-separated phone symbols; text needs the frontend)"),
    }
}

fn synth(a: SynthArgs) -> anyhow::Result<()> {
    if !LANGUAGES.contains(&a.lang.as_str()) {
        anyhow::bail!("unknown language {:?}; expected one of {}", a.lang, LANGUAGES.join(", "));
    }
    let ref_phones = phones_arg(&a.ref_phones, &a.ref_text, "ref-phones")?;
    let phones = phones_arg(&a.phones, &a.text, "phones")?;
    let sampling = SamplingParams {
        top_k: a.top_k,
        top_p: a.top_p,
        temperature: a.temperature,
        repetition_penalty: a.repetition_penalty,
    };
    sampling.validate()?;
    if !a.speed.is_finite() || a.speed <= 0.0 || !a.noise_scale.is_finite() || a.noise_scale < 0.0 {
        anyhow::bail!("--speed must be > 0 and --noise-scale >= 0");
    }
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
    });

    let t = Instant::now();
    let paths = ModelPaths { gpt: a.gpt, sovits: a.sovits, hubert: a.hubert, bert: a.bert };
    let synth = Synthesizer::load(&paths)?;
    eprintln!("loaded models in {:.0} ms ({:?} symbols)", t.elapsed().as_secs_f64() * 1e3, synth.symbols());

    let t = Instant::now();
    let voice = synth.prepare_voice(&a.reference, synth.symbols().parse_phones(&ref_phones)?)?;
    eprintln!(
        "reference: {} prompt tokens, {} prompt phones in {:.0} ms",
        voice.prompt_tokens.len(),
        voice.prompt_phones.len(),
        t.elapsed().as_secs_f64() * 1e3
    );

    let phones = synth.symbols().parse_phones(&phones)?;
    let params = SynthParams { sampling, speed: a.speed, noise_scale: a.noise_scale, seed, max_tokens: a.max_tokens };
    let out = synth.synthesize(&voice, &phones, &params)?;
    let secs = out.samples.len() as f64 / SAMPLE_RATE as f64;
    let tm = &out.timings;
    let total = tm.prefill_ms + tm.decode_ms + tm.sovits_ms + tm.vocoder_ms;
    eprintln!(
        "seed {seed}: {} tokens ({}) -> {secs:.2} s of audio; prefill {:.0} ms, decode {:.0} ms ({:.1} tok/s), \
         sovits {:.0} ms, vocoder {:.0} ms, RTF {:.3}",
        tm.tokens,
        if out.eos { "EOS" } else { "step cap" },
        tm.prefill_ms,
        tm.decode_ms,
        tm.tokens as f64 / (tm.decode_ms / 1e3).max(1e-9),
        tm.sovits_ms,
        tm.vocoder_ms,
        total / 1e3 / secs.max(1e-9)
    );
    sovits_rt::audio::write_wav_i16(&a.out, &out.samples, SAMPLE_RATE)
        .with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
