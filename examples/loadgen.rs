//! Load generator for the WebSocket streaming protocol (`/v1/stream`, docs/PROTOCOL.md).
//!
//! N clients run M sessions in total, back to back, against a running server (`--url`) or against
//! an in-process server on 127.0.0.1 built on the fixture models, or with `--synthetic` on
//! full-size v2 models with seeded random weights that it writes to a temporary folder at start
//! (about 1.1 GB, removed at exit; `sovits_rt::synthetic`), so a GPU machine needs no model files.
//! Their GPT never ends a sentence (each would run to 1500 tokens, 60 s), so give `--max-tokens`.
//! `--device auto|cpu|cuda` picks where the in-process engine runs (default auto: the GPU when
//! usable, else the CPU). Per session it measures, client
//! side: time to first audio (first `text` sent → first binary frame), real-time factor (first
//! `text` → last frame, over the audio's duration at 20 ms a frame), underruns of a player that
//! starts at the first frame and plays 20 ms per frame in real time, bytes received, and errors by
//! code; it also collects the server's own `done.ttfa_ms`. A summary table is printed last
//! (`--json`: one JSON line instead). `LOADGEN_DEBUG=1` prints client-side network errors and the
//! arrival times of each session's first frames.
//!
//! ```text
//! cargo run --release --example loadgen -- --concurrency 4 --sessions 8
//! cargo run --release --example loadgen -- --url ws://127.0.0.1:8080/v1/stream --voice alice --api-key KEY
//! cargo run --release --example loadgen -- --concurrency 4 --stream-text
//! cargo run --release --example loadgen -- --synthetic --device cuda --max-sessions 64 --concurrency 64 --max-tokens 200
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sovits_rt::backend::Device;
use sovits_rt::engine::{Engine, EngineConfig, NewVoice, RequestParams, VoiceManifest};
use sovits_rt::synthetic::{write_model_dir, ModelSizes};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

const DEFAULT_TEXT: &str = "今天天气很好，我们一起去公园散步吧。路上的风有点凉，记得多穿一件外套。明天见！";
/// Every audio frame of the protocol is 20 ms.
const FRAME_MS: f64 = 20.0;
/// Seed of the `--synthetic` weights (the same models on every run).
const SYNTHETIC_SEED: u64 = 1;

#[derive(Parser, Debug, Clone)]
#[command(name = "loadgen", about = "Load generator for the sovits-rt WebSocket streaming protocol")]
struct Args {
    /// Target server, e.g. ws://127.0.0.1:8080/v1/stream. Absent: an in-process server on
    /// 127.0.0.1 with the fixture (or `--synthetic`) models and a voice `loadgen`.
    #[arg(long)]
    url: Option<String>,
    /// Fixture model folder for the in-process server (gpt.ckpt, sovits.pth, chinese-hubert-base,
    /// chinese-roberta-wwm-ext-large, ref.wav, ref.txt). Default: $SOVITS_RT_FIXTURES/v2-small or
    /// ../shared/fixtures/v2-small.
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// In-process server on full-size v2 models with seeded random weights, written to a temporary
    /// folder at start and removed at exit, instead of the fixture models.
    #[arg(long, conflicts_with_all = ["url", "fixtures"])]
    synthetic: bool,
    /// In-process engine: where the models run (`auto`: the GPU when one is usable, else the CPU).
    #[arg(long, value_enum, default_value_t = Device::Auto, conflicts_with = "url")]
    device: Device,
    /// Voice to speak with (default `loadgen`, the in-process server's voice).
    #[arg(long, default_value = "loadgen")]
    voice: String,
    /// Clients running at once; a list (`1,16,64`) runs each level in turn against the same
    /// server, one table row each.
    #[arg(long, value_delimiter = ',', default_value = "4")]
    concurrency: Vec<usize>,
    /// Sessions in total per level (default: = its concurrency); each client runs sessions back to
    /// back.
    #[arg(long)]
    sessions: Option<usize>,
    /// Text each session speaks.
    #[arg(long, default_value = DEFAULT_TEXT)]
    text: String,
    /// Most semantic tokens per sentence, sent in `start` (25 per second of audio; default: the
    /// server's 1500-step cap).
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Language mode sent in `start`.
    #[arg(long, default_value = "zh")]
    lang: String,
    /// Audio format: opus or pcm.
    #[arg(long, default_value = "opus", value_parser = ["opus", "pcm"])]
    format: String,
    /// API key (sent as `Authorization: Bearer KEY`); with the in-process server, it requires it.
    #[arg(long)]
    api_key: Option<String>,
    /// In-process engine: sessions served at once (more get `busy`).
    #[arg(long, default_value_t = 16)]
    max_sessions: usize,
    /// Send the text in small pieces at about LLM speed instead of in one message.
    #[arg(long)]
    stream_text: bool,
    /// With --stream-text: characters per piece.
    #[arg(long, default_value_t = 4)]
    piece_chars: usize,
    /// With --stream-text: milliseconds between pieces.
    #[arg(long, default_value_t = 50)]
    piece_interval_ms: u64,
    /// Seed of the first session; session i uses seed + i.
    #[arg(long, default_value_t = 1000)]
    seed: u64,
    /// Sessions run one at a time before the measurement (not counted): first-use costs.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Audio the simulated player buffers before it starts playing, in ms (0: starts at the first frame).
    #[arg(long, default_value_t = 0.0)]
    prebuffer_ms: f64,
    /// A session that has not finished after this many seconds counts as an error (`timeout`).
    #[arg(long, default_value_t = 300)]
    session_timeout_s: u64,
    /// A session that receives nothing for this many seconds counts as an error (`stalled`).
    #[arg(long, default_value_t = 60)]
    idle_timeout_s: u64,
    /// Print one line per session to stderr.
    #[arg(long, short)]
    verbose: bool,
    /// Print the summary as one JSON line (instead of the table).
    #[arg(long)]
    json: bool,
}

/// What one session measured.
#[derive(Debug, Default, Clone)]
struct SessionResult {
    index: usize,
    /// Error code when the session did not end with `done` (server code or a client-side one:
    /// `connect`, `timeout`, `stalled`, `closed`, `protocol`).
    error: Option<String>,
    /// Non-fatal `error` events (e.g. `bad_input`).
    warnings: Vec<String>,
    ttfa_ms: Option<f64>,
    server_ttfa_ms: Option<f64>,
    server_rtf: Option<f64>,
    rtf: Option<f64>,
    frames: usize,
    bytes: u64,
    underruns: usize,
    stall_ms: f64,
    /// Index of the first frame that arrived late.
    first_underrun: Option<usize>,
    /// Arrival of the first frames and the segment/mouth events among them, ms after the first
    /// text (printed with `LOADGEN_DEBUG`).
    trace: Vec<String>,
}

impl SessionResult {
    fn audio_s(&self) -> f64 {
        self.frames as f64 * FRAME_MS / 1e3
    }
}

/// A player that starts `prebuffer` after the first frame and takes one frame per 20 ms; a frame
/// that arrives after its play time stalls it until then.
struct Player {
    prebuffer: Duration,
    /// Play time of the next frame; `None` before the first frame.
    next_play: Option<Instant>,
    underruns: usize,
    stall: Duration,
    frames: usize,
    first_underrun: Option<usize>,
}

impl Player {
    fn new(prebuffer_ms: f64) -> Self {
        Player {
            prebuffer: Duration::from_secs_f64(prebuffer_ms.max(0.0) / 1e3),
            next_play: None,
            underruns: 0,
            stall: Duration::ZERO,
            frames: 0,
            first_underrun: None,
        }
    }

    fn frame(&mut self, arrival: Instant) {
        let play = match self.next_play {
            None => arrival + self.prebuffer,
            Some(due) if arrival > due => {
                self.underruns += 1;
                self.stall += arrival - due;
                self.first_underrun.get_or_insert(self.frames);
                arrival
            }
            Some(due) => due,
        };
        self.next_play = Some(play + Duration::from_secs_f64(FRAME_MS / 1e3));
        self.frames += 1;
    }
}

/// The text as the client sends it: whole, or in pieces of `piece_chars` characters.
fn pieces(args: &Args) -> Vec<String> {
    if !args.stream_text {
        return vec![args.text.clone()];
    }
    let chars: Vec<char> = args.text.chars().collect();
    chars.chunks(args.piece_chars.max(1)).map(|c| c.iter().collect()).collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One session on its own connection; never panics on network results.
async fn run_session(args: &Args, index: usize) -> SessionResult {
    let mut result = SessionResult { index, ..Default::default() };
    let deadline = Duration::from_secs(args.session_timeout_s);
    match tokio::time::timeout(deadline, session(args, &mut result)).await {
        Ok(Ok(())) => {}
        Ok(Err(code)) => result.error = Some(code),
        Err(_) => result.error = Some("timeout".into()),
    }
    result
}

async fn session(args: &Args, r: &mut SessionResult) -> Result<(), String> {
    let url = args.url.as_deref().ok_or("protocol")?;
    let mut request = url.into_client_request().map_err(|e| client_err("connect", &e))?;
    if let Some(key) = args.api_key.as_deref().filter(|k| !k.is_empty()) {
        let value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|e| client_err("connect", &e))?;
        request.headers_mut().insert("authorization", value);
    }
    let connect = tokio_tungstenite::connect_async_with_config(request, None, true);
    let (ws, _) = match tokio::time::timeout(Duration::from_secs(10), connect).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(client_err("connect", &e)),
        Err(_) => return Err("connect".into()),
    };
    let (mut tx, mut rx) = ws.split();
    let idle = Duration::from_secs(args.idle_timeout_s);

    let mut start = json!({"type": "start", "voice": args.voice, "lang": args.lang, "format": args.format,
        "seed": args.seed + r.index as u64});
    if let Some(n) = args.max_tokens {
        start["max_tokens"] = n.into();
    }
    tx.send(Message::text(start.to_string())).await.map_err(|e| client_err("closed", &e))?;
    // Wait for `ready` (or the error that refuses the session, e.g. `busy`).
    loop {
        match next(&mut rx, idle).await? {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).map_err(|_| "protocol".to_string())?;
                match v["type"].as_str() {
                    Some("ready") => break,
                    Some("error") => return Err(error_code(&v)),
                    _ => return Err("protocol".into()),
                }
            }
            Message::Close(_) => return Err("closed".into()),
            _ => {}
        }
    }

    // The writer sends the text (whole or in pieces) then `close`, while the reader takes audio.
    let texts = pieces(args);
    let interval = Duration::from_millis(args.piece_interval_ms);
    let t0 = Instant::now();
    let writer = async move {
        for (i, piece) in texts.iter().enumerate() {
            if i > 0 {
                tokio::time::sleep_until((t0 + interval * i as u32).into()).await;
            }
            let msg = json!({"type": "text", "text": piece}).to_string();
            tx.send(Message::text(msg)).await.map_err(|e| client_err("closed", &e))?;
        }
        tx.send(Message::text(json!({"type": "close"}).to_string())).await.map_err(|e| client_err("closed", &e))?;
        Ok::<_, String>(tx)
    };
    let reader = async {
        let mut player = Player::new(args.prebuffer_ms);
        let mut last_frame = None;
        let outcome = loop {
            let msg = match next(&mut rx, idle).await {
                Ok(m) => m,
                Err(e) => break Err(e),
            };
            match msg {
                Message::Binary(b) => {
                    let now = Instant::now();
                    if r.frames == 0 {
                        r.ttfa_ms = Some(ms(now - t0));
                    }
                    player.frame(now);
                    if r.frames < 24 {
                        r.trace.push(format!("f{}@{:.0}", r.frames, ms(now - t0)));
                    }
                    last_frame = Some(now);
                    r.frames += 1;
                    r.bytes += b.len() as u64;
                }
                Message::Text(t) => {
                    let Ok(v) = serde_json::from_str::<Value>(&t) else { break Err("protocol".into()) };
                    match v["type"].as_str() {
                        Some("done") => {
                            r.server_ttfa_ms = v["ttfa_ms"].as_f64();
                            r.server_rtf = v["rtf"].as_f64();
                            break Ok(());
                        }
                        Some("error") => {
                            let code = error_code(&v);
                            if code == "bad_input" {
                                r.warnings.push(code);
                            } else {
                                break Err(code);
                            }
                        }
                        Some("segment" | "mouth") => {
                            if r.frames < 24 {
                                r.trace.push(format!("{}@{:.0}", v["type"], ms(Instant::now() - t0)));
                            }
                        }
                        _ => break Err("protocol".into()),
                    }
                }
                Message::Close(_) => break Err("closed".into()),
                _ => {}
            }
        };
        r.underruns = player.underruns;
        r.stall_ms = ms(player.stall);
        r.first_underrun = player.first_underrun;
        if let Some(last) = last_frame.filter(|_| r.frames > 0) {
            r.rtf = Some(ms(last - t0) / (r.frames as f64 * FRAME_MS));
        }
        outcome
    };
    let (sent, read) = tokio::join!(writer, reader);
    read?;
    // The server closes after `done`; answer its close frame politely, ignoring failures.
    if let Ok(mut tx) = sent {
        let _ = tokio::time::timeout(Duration::from_secs(1), tx.close()).await;
    }
    Ok(())
}

/// The next message, or a client-side error code.
async fn next<S>(rx: &mut S, idle: Duration) -> Result<Message, String>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    match tokio::time::timeout(idle, rx.next()).await {
        Err(_) => Err("stalled".into()),
        Ok(None) => Err("closed".into()),
        Ok(Some(Err(e))) => Err(client_err("closed", &e)),
        Ok(Some(Ok(m))) => Ok(m),
    }
}

fn error_code(v: &Value) -> String {
    v["code"].as_str().unwrap_or("error").to_string()
}

fn client_err(code: &str, e: &dyn std::fmt::Display) -> String {
    if std::env::var_os("LOADGEN_DEBUG").is_some() {
        eprintln!("{code}: {e}");
    }
    code.to_string()
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn sorted(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v
}

struct Summary {
    json: Value,
    /// One table row, and a line of details.
    row: String,
}

/// The table's header.
const TABLE_HEADER: &str = "| conc | sessions | errors | TTFA p50 / p95 / p99 ms | server TTFA p50 ms | RTF p50 / p95 | underruns: sessions / stall ms | audio s per wall s |\n|---|---|---|---|---|---|---|---|\n";

fn summarize(args: &Args, concurrency: usize, results: &[SessionResult], wall: Duration) -> Summary {
    let ok: Vec<&SessionResult> = results.iter().filter(|r| r.error.is_none()).collect();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for r in results {
        if let Some(e) = &r.error {
            *errors.entry(e.clone()).or_default() += 1;
        }
    }
    let mut warnings: BTreeMap<String, usize> = BTreeMap::new();
    for w in results.iter().flat_map(|r| &r.warnings) {
        *warnings.entry(w.clone()).or_default() += 1;
    }
    let ttfa = sorted(ok.iter().filter_map(|r| r.ttfa_ms));
    let server_ttfa = sorted(ok.iter().filter_map(|r| r.server_ttfa_ms));
    let rtf = sorted(ok.iter().filter_map(|r| r.rtf));
    // `+ 0.0`: an empty float sum is -0.0.
    let audio_s: f64 = ok.iter().map(|r| r.audio_s()).sum::<f64>() + 0.0;
    let bytes: u64 = results.iter().map(|r| r.bytes).sum();
    let with_underruns = ok.iter().filter(|r| r.underruns > 0).count();
    let underruns: usize = ok.iter().map(|r| r.underruns).sum();
    let stall_ms: f64 = ok.iter().map(|r| r.stall_ms).sum::<f64>() + 0.0;
    let max_stall_ms = ok.iter().map(|r| r.stall_ms).fold(0.0, f64::max);
    let throughput = audio_s / wall.as_secs_f64().max(1e-9);

    let json = json!({
        "concurrency": concurrency,
        "sessions": results.len(),
        "ok": ok.len(),
        "errors": errors,
        "warnings": warnings,
        "format": args.format,
        "stream_text": args.stream_text,
        "ttfa_ms": {"p50": pct(&ttfa, 50.0), "p95": pct(&ttfa, 95.0), "p99": pct(&ttfa, 99.0), "max": ttfa.last()},
        "server_ttfa_ms": {"p50": pct(&server_ttfa, 50.0), "p95": pct(&server_ttfa, 95.0)},
        "rtf": {"p50": pct(&rtf, 50.0), "p95": pct(&rtf, 95.0), "max": rtf.last()},
        "underruns": {"sessions": with_underruns, "count": underruns, "stall_ms": stall_ms, "max_session_stall_ms": max_stall_ms},
        "audio_s": audio_s,
        "bytes": bytes,
        "wall_s": wall.as_secs_f64(),
        "audio_s_per_wall_s": throughput,
    });

    let f = |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |x| format!("{x:.digits$}"));
    let errors_text = if errors.is_empty() {
        "0".to_string()
    } else {
        errors.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(",")
    };
    let mut row = String::new();
    row.push_str(&format!(
        "| {} | {} | {} | {} / {} / {} | {} | {} / {} | {} / {:.0} | {:.2} |\n",
        concurrency,
        results.len(),
        errors_text,
        f(pct(&ttfa, 50.0), 0),
        f(pct(&ttfa, 95.0), 0),
        f(pct(&ttfa, 99.0), 0),
        f(pct(&server_ttfa, 50.0), 0),
        f(pct(&rtf, 50.0), 2),
        f(pct(&rtf, 95.0), 2),
        with_underruns,
        stall_ms,
        throughput,
    ));
    row.push_str(&format!(
        "({} audio, {}; {:.1} s of audio in {:.1} s wall; {} bytes received; {} underrun frames, worst session stalled {:.0} ms{})\n",
        args.format,
        if args.stream_text {
            format!("text streamed {} chars / {} ms", args.piece_chars, args.piece_interval_ms)
        } else {
            "text in one message".into()
        },
        audio_s,
        wall.as_secs_f64(),
        bytes,
        underruns,
        max_stall_ms,
        if warnings.is_empty() { String::new() } else { format!("; warnings {warnings:?}") },
    ));
    Summary { json, row }
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fixtures_dir(args: &Args) -> PathBuf {
    if let Some(d) = &args.fixtures {
        return d.clone();
    }
    match std::env::var_os("SOVITS_RT_FIXTURES") {
        Some(root) => PathBuf::from(root).join("v2-small"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/v2-small"),
    }
}

/// The in-process engine on the models in `dir` (the fixture folder's layout), with the voice
/// `args.voice` from its `ref.wav` / `ref.txt`.
fn in_process_engine(args: &Args, dir: &Path) -> anyhow::Result<(Arc<Engine>, TempDir)> {
    let voices = TempDir(std::env::temp_dir().join(format!("sovits-rt-loadgen-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&voices.0);
    std::fs::create_dir_all(&voices.0).with_context(|| format!("creating {}", voices.0.display()))?;
    let mut config = EngineConfig::new(
        dir.join("gpt.ckpt"),
        dir.join("sovits.pth"),
        dir.join("chinese-hubert-base"),
        dir.join("chinese-roberta-wwm-ext-large"),
        voices.0.clone(),
    );
    config.max_sessions = args.max_sessions;
    config.device = args.device;
    let engine = Engine::new(config).with_context(|| format!("loading the models in {}", dir.display()))?;
    let transcript = std::fs::read_to_string(dir.join("ref.txt")).context("reading ref.txt")?;
    let wav = std::fs::read(dir.join("ref.wav")).context("reading ref.wav")?;
    let manifest = VoiceManifest {
        name: args.voice.clone(),
        transcript: transcript.trim().into(),
        lang: "zh".into(),
        gpt: None,
        sovits: None,
        defaults: RequestParams::default(),
    };
    engine.add_voice(&NewVoice { manifest, reference_wav: wav }).context("adding the voice")?;
    Ok((Arc::new(engine), voices))
}

async fn run(mut args: Args) -> anyhow::Result<()> {
    if args.concurrency.is_empty() || args.concurrency.contains(&0) {
        bail!("--concurrency must be at least 1");
    }
    // Folders removed when the run ends: synthetic models, voices.
    let mut _temp = Vec::new();
    if args.url.is_none() {
        let loaded = Instant::now();
        if args.synthetic && args.max_tokens.is_none() {
            eprintln!("loadgen: warning: the synthetic GPT never ends a sentence; without --max-tokens each runs 1500 tokens (60 s)");
        }
        let dir = if args.synthetic {
            let models = TempDir(std::env::temp_dir().join(format!("sovits-rt-loadgen-models-{}", std::process::id())));
            let dir = models.0.clone();
            _temp.push(models);
            eprintln!("loadgen: writing full-size synthetic models to {}", dir.display());
            let d = dir.clone();
            tokio::task::spawn_blocking(move || write_model_dir(&d, &ModelSizes::full(), SYNTHETIC_SEED)).await??;
            eprintln!("loadgen: models written in {:.1} s", loaded.elapsed().as_secs_f64());
            dir
        } else {
            fixtures_dir(&args)
        };
        eprintln!("loadgen: in-process server on the models in {}", dir.display());
        let (engine, voices) = {
            let a = args.clone();
            tokio::task::spawn_blocking(move || in_process_engine(&a, &dir)).await??
        };
        _temp.push(voices);
        let backend = engine.backend();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let options = sovits_rt::server::ServerOptions { api_key: args.api_key.clone(), ..Default::default() };
        tokio::spawn(async move {
            if let Err(e) = sovits_rt::server::serve(listener, engine, options).await {
                eprintln!("loadgen: server failed: {e}");
            }
        });
        args.url = Some(format!("ws://{addr}/v1/stream"));
        eprintln!("loadgen: engine ready on {backend} in {:.1} s, serving on {addr}", loaded.elapsed().as_secs_f64());
    }
    let args = Arc::new(args);
    // Session indices keep counting across warm-up and levels, so every session's text differs.
    let next_index = Arc::new(AtomicUsize::new(0));
    for _ in 0..args.warmup {
        let r = run_session(&args, next_index.fetch_add(1, Ordering::Relaxed)).await;
        if let Some(e) = &r.error {
            eprintln!("loadgen: warm-up session failed: {e}");
        }
    }
    let mut summaries = Vec::new();
    for &concurrency in &args.concurrency {
        let before = scrape(&args).await;
        let (results, wall) = run_level(&args, concurrency, &next_index).await;
        let mut summary = summarize(&args, concurrency, &results, wall);
        if let (Some(before), Some(after)) = (before, scrape(&args).await) {
            let (line, json) = stage_timings(&before, &after);
            summary.row.push_str(&line);
            summary.json["server_stages"] = json;
        }
        if !args.json {
            eprint!("{TABLE_HEADER}{}", summary.row);
        }
        summaries.push(summary);
    }
    if args.json {
        for s in &summaries {
            println!("{}", s.json);
        }
    } else {
        print!("{TABLE_HEADER}");
        for s in &summaries {
            print!("{}", s.row);
        }
    }
    Ok(())
}

/// The server's `/metrics` (its URL from the WebSocket URL) as series → value; `None` when it
/// cannot be read (the run goes on without the server's side).
async fn scrape(args: &Args) -> Option<BTreeMap<String, f64>> {
    let ws = args.url.as_deref()?;
    let base = ws.replacen("ws://", "http://", 1).replacen("wss://", "https://", 1);
    let url = format!("{}/metrics", base.split("/v1/").next()?);
    let mut request = reqwest::Client::new().get(&url);
    if let Some(key) = &args.api_key {
        request = request.bearer_auth(key);
    }
    let text = request.send().await.ok()?.text().await.ok()?;
    Some(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' ').and_then(|(k, v)| Some((k.to_string(), v.parse().ok()?))))
            .collect(),
    )
}

/// The server's own figures over one level (the difference of two scrapes): mean time per step
/// of each stage with its mean batch size, and the mean TTFA it observed — printed beside the
/// clients' TTFA, so one run shows where the time went.
fn stage_timings(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> (String, Value) {
    let delta = |k: &str| after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0);
    let mean = |name: &str, labels: &str| {
        let n = delta(&format!("{name}_count{labels}"));
        (n > 0.0).then(|| delta(&format!("{name}_sum{labels}")) / n)
    };
    let mut parts = Vec::new();
    let mut json = serde_json::Map::new();
    for stage in ["queue_wait", "gpt_prefill", "gpt_step", "acoustic_step", "encode"] {
        let labels = format!("{{stage=\"{stage}\"}}");
        let Some(seconds) = mean("sovits_stage_seconds", &labels) else { continue };
        let batch = mean("sovits_batch_size", &labels);
        let steps = delta(&format!("sovits_stage_seconds_count{labels}"));
        parts.push(match batch {
            Some(b) => format!("{stage} {:.2} ms × {steps:.0} (batch {b:.1})", seconds * 1e3),
            None => format!("{stage} {:.2} ms × {steps:.0}", seconds * 1e3),
        });
        json.insert(stage.into(), json!({"mean_ms": seconds * 1e3, "steps": steps, "mean_batch": batch}));
    }
    let ttfa = mean("sovits_ttfa_seconds", "").map(|s| s * 1e3);
    json.insert("ttfa_mean_ms".into(), json!(ttfa));
    let behind = delta("sovits_sessions_fell_behind_total");
    json.insert("sessions_fell_behind".into(), json!(behind));
    let line = format!(
        "(server stage timings: {}; server TTFA mean {} ms; {behind:.0} sessions fell behind)\n",
        if parts.is_empty() { "none recorded".to_string() } else { parts.join(", ") },
        ttfa.map_or("-".into(), |t| format!("{t:.0}")),
    );
    (line, Value::Object(json))
}

/// `concurrency` clients running `--sessions` (default: `concurrency`) sessions back to back:
/// their results in order, and the wall time.
async fn run_level(
    args: &Arc<Args>,
    concurrency: usize,
    next_index: &Arc<AtomicUsize>,
) -> (Vec<SessionResult>, Duration) {
    let total = args.sessions.unwrap_or(concurrency);
    eprintln!(
        "loadgen: {} session(s), {} client(s), {} → {}",
        total,
        concurrency,
        if args.stream_text { "streamed text" } else { "whole text" },
        args.url.as_deref().unwrap_or("?")
    );
    let first = next_index.load(Ordering::Relaxed);
    let end = first + total;
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        let (args, next_index) = (args.clone(), next_index.clone());
        clients.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let index = next_index.fetch_add(1, Ordering::Relaxed);
                if index >= end {
                    return out;
                }
                let r = run_session(&args, index).await;
                if args.verbose {
                    eprintln!(
                        "session {:3}: {} ttfa {} ms (server {}), rtf {}, {:.2} s audio, {} underruns / {:.0} ms (first at {} ms of audio)",
                        r.index,
                        r.error.as_deref().unwrap_or("ok"),
                        r.ttfa_ms.map_or("-".into(), |v| format!("{v:.0}")),
                        r.server_ttfa_ms.map_or("-".into(), |v| format!("{v:.0}")),
                        r.rtf.map_or("-".into(), |v| format!("{v:.2}")),
                        r.audio_s(),
                        r.underruns,
                        r.stall_ms,
                        r.first_underrun.map_or("-".into(), |f| format!("{}", f as f64 * FRAME_MS)),
                    );
                }
                if std::env::var_os("LOADGEN_DEBUG").is_some() {
                    eprintln!("session {:3} trace: {}", r.index, r.trace.join(" "));
                }
                out.push(r);
            }
        }));
    }
    let mut results = Vec::new();
    for c in clients {
        match c.await {
            Ok(rs) => results.extend(rs),
            Err(e) => eprintln!("loadgen: a client task failed: {e}"),
        }
    }
    // The shared counter overshoots by one per client when they stop: restart after this level.
    next_index.store(end, Ordering::Relaxed);
    results.sort_by_key(|r| r.index);
    (results, started.elapsed())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // Ctrl-C drops the run, and with it the temporary folders.
    runtime.block_on(async {
        tokio::select! {
            r = run(args) => r,
            _ = tokio::signal::ctrl_c() => bail!("interrupted"),
        }
    })
}
