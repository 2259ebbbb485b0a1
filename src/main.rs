//! The `sovits-rt` command line. Subcommands: `serve` (HTTP + WebSocket server), `say` (speak on
//! a local audio device), `devices`, `voice add|list|rm`, `synth` (text or phones to a WAV file)
//! and `phonemize` (what the text frontend makes of a text, for debugging pronunciations).
//! Progress and timings go to stderr; errors print their full chain and exit with status 1.

mod cli;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sovits_rt::backend::Backend;
use sovits_rt::engine::RequestParams;
use sovits_rt::model::TextToSemantic as _;
use sovits_rt::pipeline::{PromptText, Synthesizer, SAMPLE_RATE};
use sovits_rt::text::segment::SplitMethod;
use sovits_rt::text::{phonemize_text, LangMode, SymbolSet};

#[derive(Parser)]
#[command(name = "sovits-rt", version, about = "Realtime GPT-SoVITS voice-cloning engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the streaming WebSocket protocol, OpenAI- and api_v2-compatible HTTP and the player page.
    Serve(Box<cli::serve::ServeArgs>),
    /// Speak text on a local audio output device as it is generated.
    Say(Box<cli::say::SayArgs>),
    /// List audio output devices.
    Devices,
    /// Manage voices.
    #[command(subcommand)]
    Voice(cli::voice::VoiceCommand),
    /// Synthesize text (or phones) in the voice of a reference clip and write a 32 kHz WAV.
    Synth(Box<SynthArgs>),
    /// Print the normalized text, phones and phone ids the text frontend produces, per sentence
    /// and language segment.
    Phonemize(PhonemizeArgs),
}

#[derive(clap::Args)]
struct PhonemizeArgs {
    /// Language mode: zh, en, yue, auto, auto_yue, all_zh, all_yue, ... (as upstream).
    #[arg(long, default_value = "auto")]
    lang: String,
    /// Sentence cut method cut0..cut5 (upstream's text_split_method).
    #[arg(long, default_value = "cut1")]
    split: String,
    /// The text.
    text: String,
}

#[derive(clap::Args)]
struct SynthArgs {
    #[command(flatten)]
    models: cli::ModelFiles,
    /// Reference clip (WAV, 3-10 s, any sample rate, mono or stereo).
    #[arg(long = "ref")]
    reference: PathBuf,
    /// More reference clips whose styles are averaged in (upstream's aux_ref_audio_paths);
    /// repeatable. The prompt tokens and transcript come from --ref only.
    #[arg(long = "aux-ref")]
    aux_references: Vec<PathBuf>,
    /// Transcript of the reference clip.
    #[arg(long)]
    ref_text: Option<String>,
    /// Language mode of the transcript (defaults to --lang).
    #[arg(long)]
    ref_lang: Option<String>,
    /// Phones of the reference transcript: space-separated upstream symbols.
    #[arg(long)]
    ref_phones: Option<String>,
    /// Text to speak.
    #[arg(long)]
    text: Option<String>,
    /// Phones to speak: space-separated upstream symbols, e.g. "n i3 h ao3 .".
    #[arg(long)]
    phones: Option<String>,
    /// Language mode of the text: zh, en, yue, auto, auto_yue, all_zh, all_yue, ... (as upstream).
    #[arg(long, default_value = "auto")]
    lang: String,
    /// Sentence cut method cut0..cut5 (upstream's text_split_method; cut1 = every 4 sentences).
    #[arg(long, default_value = "cut1")]
    split: String,
    /// Output WAV path.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    params: cli::params::RequestParamArgs,
}

fn main() {
    // Library logs (sessions, fallbacks, warnings) on stderr; RUST_LOG picks the level (info).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => cli::serve::run(*args),
        Command::Say(args) => cli::say::run(*args),
        Command::Devices => cli::say::devices(),
        Command::Voice(command) => cli::voice::run(command),
        Command::Synth(args) => synth(*args),
        Command::Phonemize(args) => print_phonemes(args),
    }
}

fn print_phonemes(a: PhonemizeArgs) -> anyhow::Result<()> {
    let mode = LangMode::parse(&a.lang)?;
    let method = SplitMethod::parse(&a.split)?;
    let symbols = SymbolSet::V2;
    for (i, (sentence, p)) in phonemize_text(&a.text, mode, method, symbols)?.iter().enumerate() {
        println!("sentence {i}: {sentence}");
        if p.retried_with_dot_prefix {
            println!("  (fewer than 6 phones: redone as {:?}, like upstream)", p.effective_text);
        }
        for s in &p.segments {
            println!("  [{}] {:?}", s.lang.as_str(), s.text);
            println!("    norm_text: {}", s.cleaned.norm_text);
            println!("    phones:    {}", s.cleaned.phones.join(" "));
            println!("    ids:       {}", s.phone_ids.iter().map(u32::to_string).collect::<Vec<_>>().join(" "));
            if let Some(w) = &s.cleaned.word2ph {
                println!("    word2ph:   {}", w.iter().map(usize::to_string).collect::<Vec<_>>().join(" "));
            }
        }
    }
    Ok(())
}

/// Exactly one of a text flag and a phones flag.
enum Input {
    Text(String),
    Phones(String),
}

fn input_arg(text: Option<String>, phones: Option<String>, flags: [&str; 2]) -> anyhow::Result<Input> {
    let [text_flag, phones_flag] = flags;
    match (text, phones) {
        (Some(t), None) => Ok(Input::Text(t)),
        (None, Some(p)) => Ok(Input::Phones(p)),
        (Some(_), Some(_)) => anyhow::bail!("give either --{text_flag} or --{phones_flag}, not both"),
        (None, None) => anyhow::bail!("missing --{text_flag} (or --{phones_flag}: space-separated phone symbols)"),
    }
}

fn synth(a: SynthArgs) -> anyhow::Result<()> {
    let mode = LangMode::parse(&a.lang)?;
    let ref_mode = a.ref_lang.as_deref().map(LangMode::parse).transpose()?.unwrap_or(mode);
    let method = SplitMethod::parse(&a.split)?;
    let reference_input = input_arg(a.ref_text, a.ref_phones, ["ref-text", "ref-phones"])?;
    let target = input_arg(a.text, a.phones, ["text", "phones"])?;
    // The same parameters, ranges and messages as every server route.
    let request = a.params.apply(&RequestParams::default())?;

    let t = Instant::now();
    let backend = Backend::select(a.models.device(), 1)?;
    let paths = a.models.paths();
    let synth = Synthesizer::load(&paths, backend)?;
    eprintln!(
        "loaded models on {} in {:.0} ms ({} SoVITS, {:?} symbols)",
        synth.backend().describe(),
        t.elapsed().as_secs_f64() * 1e3,
        synth.sovits_kind(),
        synth.symbols()
    );

    let t = Instant::now();
    let transcript = match reference_input {
        Input::Text(text) => PromptText::Text { text, mode: ref_mode },
        Input::Phones(p) => PromptText::Phones(synth.symbols().parse_phones(&p)?),
    };
    let voice = synth.prepare_voice(&a.reference, &a.aux_references, &transcript)?;
    eprintln!(
        "reference: {} prompt tokens, {} prompt phones in {:.0} ms",
        voice.prompt_tokens.len(),
        voice.prompt.phone_ids.len(),
        t.elapsed().as_secs_f64() * 1e3
    );

    let params = request.synth_params(synth.t2s().config().vocab);
    let seed = params.seed;
    let out = match target {
        Input::Text(text) => synth.synthesize_text(&voice, &text, mode, method, &params)?,
        Input::Phones(p) => {
            let features = synth.phone_features(synth.symbols().parse_phones(&p)?);
            synth.synthesize(&voice, &features, &params)?
        }
    };
    let secs = out.samples.len() as f64 / SAMPLE_RATE as f64;
    let tm = &out.timings;
    let total = tm.prefill_ms + tm.decode_ms + tm.acoustic_ms;
    eprintln!(
        "seed {seed}: {} tokens ({}) -> {secs:.2} s of audio; prefill {:.0} ms, decode {:.0} ms ({:.1} tok/s), \
         SoVITS + vocoder {:.0} ms, RTF {:.3}",
        tm.tokens,
        if out.eos { "EOS" } else { "step cap" },
        tm.prefill_ms,
        tm.decode_ms,
        tm.tokens as f64 / (tm.decode_ms / 1e3).max(1e-9),
        tm.acoustic_ms,
        total / 1e3 / secs.max(1e-9)
    );
    sovits_rt::audio::write_wav_i16(&a.out, &out.samples, SAMPLE_RATE)
        .with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
