//! `sovits-rt voice add|list|rm`: manage the voices directory (no models are loaded; a voice is
//! prepared on first use and its preparation cached beside it).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use sovits_rt::engine::{NewVoice, RequestParams, VoiceManifest, VoiceStore};

use super::VoicesArg;

#[derive(Subcommand)]
pub enum VoiceCommand {
    /// Add a voice from a reference clip (3-10 s WAV) and its transcript.
    Add(Box<AddArgs>),
    /// List the voices.
    List {
        #[command(flatten)]
        voices: VoicesArg,
    },
    /// Remove a voice.
    Rm {
        name: String,
        #[command(flatten)]
        voices: VoicesArg,
    },
}

/// `voice add`.
#[derive(clap::Args)]
pub struct AddArgs {
    /// Name (letters, digits, '-', '_', '.').
    name: String,
    /// The reference clip.
    #[arg(long = "ref")]
    reference: PathBuf,
    /// What the clip says.
    #[arg(long)]
    text: String,
    /// Language of the transcript (zh, en, ja, ko, yue, auto, ...).
    #[arg(long, default_value = "auto")]
    lang: String,
    /// This voice's own GPT checkpoint (default: the server's base models).
    #[arg(long, requires = "sovits")]
    gpt: Option<PathBuf>,
    /// This voice's own SoVITS checkpoint.
    #[arg(long, requires = "gpt")]
    sovits: Option<PathBuf>,
    /// This voice's defaults for requests that do not set them (every request parameter).
    #[command(flatten)]
    params: super::params::RequestParamArgs,
    #[command(flatten)]
    voices: VoicesArg,
}

pub fn run(command: VoiceCommand) -> anyhow::Result<()> {
    match command {
        VoiceCommand::Add(a) => {
            let AddArgs { name, reference, text, lang, gpt, sovits, params, voices } = *a;
            let store = VoiceStore::open(&voices.dir())?;
            let wav = std::fs::read(&reference).with_context(|| format!("cannot read {}", reference.display()))?;
            let absolute = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
            let manifest = VoiceManifest {
                name,
                transcript: text,
                lang,
                gpt: gpt.map(absolute),
                sovits: sovits.map(absolute),
                defaults: params.apply(&RequestParams::default())?,
            };
            let m = store.add(&NewVoice { manifest, reference_wav: wav })?;
            println!("added voice {} in {}", m.name, store.dir().display());
        }
        VoiceCommand::List { voices } => {
            let store = VoiceStore::open(&voices.dir())?;
            let list = store.list()?;
            if list.is_empty() {
                println!("no voices in {} (add one with `sovits-rt voice add`)", store.dir().display());
            }
            for m in list {
                let models = match (&m.gpt, &m.sovits) {
                    (Some(g), Some(s)) => format!("{} + {}", g.display(), s.display()),
                    _ => "base models".into(),
                };
                println!("{}\t{}\t{}\t{:?}", m.name, m.lang, models, m.transcript);
            }
        }
        VoiceCommand::Rm { name, voices } => {
            VoiceStore::open(&voices.dir())?.remove(&name)?;
            println!("removed voice {name}");
        }
    }
    Ok(())
}
