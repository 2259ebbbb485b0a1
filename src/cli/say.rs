//! `sovits-rt say`: speak text on a local audio device (e.g. a virtual cable into OBS / VTube
//! Studio) as it is generated, and `sovits-rt devices`: list output devices.

use sovits_rt::audio::playback::{list_output_devices, Player};
use sovits_rt::engine::{SessionEvent, SessionRequest};

use super::EngineArgs;

#[derive(clap::Args)]
pub struct SayArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// The voice (see `sovits-rt voice list`).
    #[arg(long)]
    voice: String,
    /// Output device name (see `sovits-rt devices`; default: the system default).
    #[arg(long)]
    output_device: Option<String>,
    /// Language mode of the text.
    #[arg(long, default_value = "auto")]
    lang: String,
    #[command(flatten)]
    params: super::params::RequestParamArgs,
    /// The text.
    text: String,
}

pub fn run(a: SayArgs) -> anyhow::Result<()> {
    // Open the device first: without one there is no point loading models.
    let mut player = Player::open(a.output_device.as_deref())?;
    eprintln!("playing on {}", player.device_name());
    let engine = a.engine.engine()?;
    // The voice's defaults, then these flags, checked as every route checks them.
    let request = SessionRequest { voice: a.voice, reference: None, lang: Some(a.lang), params: a.params.overrides() };
    let mut session = engine.open(&request)?;
    session.push_text(&a.text);
    session.close();
    while let Some(event) = session.blocking_next_event() {
        match event {
            SessionEvent::Segment { text, .. } => eprintln!("> {text}"),
            SessionEvent::Audio(samples) => player.push(&samples)?,
            SessionEvent::Warning { code, message } => eprintln!("warning ({code}): {message}"),
            SessionEvent::Done(stats) => {
                player.finish()?;
                let ttfa = stats.ttfa_ms.map_or("-".into(), |t| format!("{t:.0} ms"));
                eprintln!(
                    "{:.2} s of audio, {} tokens, first audio after {ttfa}, {} underruns",
                    stats.audio_ms / 1e3,
                    stats.tokens,
                    player.underruns()
                );
                return Ok(());
            }
        }
    }
    let (code, message) =
        session.failure().unwrap_or((sovits_rt::error::ErrorCode::Internal, "the session ended early".into()));
    anyhow::bail!("{code}: {message}")
}

pub fn devices() -> anyhow::Result<()> {
    let devices = list_output_devices()?;
    if devices.is_empty() {
        println!("no audio output devices found");
    }
    for d in devices {
        let config = d.default_config.map_or("unusable".into(), |c| format!("{} Hz, {} ch", c.sample_rate, c.channels));
        println!("{}{}\t{}\t{}", d.name, if d.is_default { " (default)" } else { "" }, config, d.description);
    }
    Ok(())
}
