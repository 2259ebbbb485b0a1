//! The WebSocket protocol (docs/PROTOCOL.md) end to end: the real server in-process on the
//! fixture models, a real WebSocket client. Audio is checked against the engine's own output for
//! the same request (same seed, same text pieces), never against recorded audio.
mod common;
#[path = "common/engine.rs"]
mod test_engine;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use sovits_rt::audio::encoder::{AudioStreamEncoder, OutputFormat, OutputRate};
use sovits_rt::audio::opus_stream::{FRAME_SAMPLES, PRE_SKIP};
use sovits_rt::audio::stream_resample::StreamResampler;
use sovits_rt::engine::{Engine, SessionEvent, SessionRequest, SessionStats};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest wait for any one message from the server.
const RECV_LIMIT: Duration = Duration::from_secs(120);

/// The happy path's text, sent in two pieces.
const PIECES: [&str; 2] = ["今天天气很好，", "我们一起去公园散步吧。"];

/// Many sentences: speaking all of it takes far longer than any wait in these tests.
const LONG: &str = "今天天气很好，我们一起去公园散步吧。公园里有很多人在跑步。湖边的柳树已经发芽了。\
                    孩子们在草地上放风筝。我们走累了就坐在长椅上休息。远处传来一阵悠扬的笛声。\
                    太阳慢慢落山了，天边的云被染成了红色。我们沿着小路慢慢走回家。";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// What the server sent, one message at a time.
#[derive(Debug)]
enum Got {
    Event(Value),
    Frame(Vec<u8>),
    /// A close frame and its code.
    Close(Option<u16>),
    /// The connection ended cleanly (after the closing handshake, or a plain TCP end).
    End,
    /// The connection broke: a reset, or a protocol error (e.g. no close frame before the end).
    /// The text is read only through `Debug`, in failure messages.
    Broken(#[allow(dead_code)] String),
}

async fn connect(addr: SocketAddr, query: &str) -> Ws {
    let (ws, response) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/stream{query}")).await.unwrap();
    assert_eq!(response.status(), 101);
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

async fn recv(ws: &mut Ws) -> Got {
    loop {
        let msg = tokio::time::timeout(RECV_LIMIT, ws.next()).await.expect("the server sent nothing for 120 s");
        return match msg {
            None | Some(Err(tungstenite::Error::ConnectionClosed)) => Got::End,
            Some(Err(e)) => Got::Broken(e.to_string()),
            Some(Ok(Message::Text(t))) => {
                Got::Event(serde_json::from_str(&t).unwrap_or_else(|e| panic!("event is not JSON ({e}): {t}")))
            }
            Some(Ok(Message::Binary(b))) => Got::Frame(b.to_vec()),
            Some(Ok(Message::Close(f))) => Got::Close(f.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
        };
    }
}

/// Everything up to and including the close frame (or the end of the connection).
async fn recv_until_close(ws: &mut Ws) -> Vec<Got> {
    let mut items = Vec::new();
    loop {
        let got = recv(ws).await;
        let last = matches!(got, Got::Close(_) | Got::End | Got::Broken(_));
        items.push(got);
        if last {
            return items;
        }
    }
}

async fn recv_event(ws: &mut Ws, kind: &str) -> Value {
    match recv(ws).await {
        Got::Event(v) if v["type"] == kind => v,
        other => panic!("expected a {kind} event, got {other:?}"),
    }
}

/// The close code docs/PROTOCOL.md gives for a fatal error code, read from its close-code table
/// so the documentation and the server cannot drift apart.
fn documented_close_code(code: &str) -> u16 {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PROTOCOL.md")).unwrap();
    let table = doc.split("| close code |").nth(1).expect("docs/PROTOCOL.md has no close-code table");
    let wanted = format!("`{code}`");
    table
        .lines()
        .skip(2) // the rest of the header row and the separator
        .take_while(|l| l.starts_with('|'))
        .find_map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            cells[2].split(", ").any(|c| c == wanted).then(|| cells[1].parse().unwrap())
        })
        .unwrap_or_else(|| panic!("docs/PROTOCOL.md gives no close code for {code}"))
}

/// Expects a fatal `error` with `code`, then a close frame with its documented close code, then a
/// clean end of the connection; returns the error's message.
async fn expect_fatal(ws: &mut Ws, code: &str) -> String {
    let error = recv_event(ws, "error").await;
    assert_eq!(error["code"], code, "{error}");
    let message = error["message"].as_str().unwrap_or_default().to_string();
    assert!(!message.is_empty(), "{error}");
    let close = documented_close_code(code);
    match recv(ws).await {
        Got::Close(Some(c)) if c == close => {}
        other => panic!("expected a close frame ({close}) after the {code} error, got {other:?}"),
    }
    match recv(ws).await {
        Got::End => {}
        other => panic!("the connection should end cleanly after the close, got {other:?}"),
    }
    message
}

fn start(voice: &str, format: &str, seed: u64) -> Value {
    json!({"type": "start", "voice": voice, "lang": "zh", "format": format, "seed": seed})
}

/// A stream's content after the ordering checks of `check_stream`.
struct Stream {
    segments: Vec<String>,
    frames: Vec<Vec<u8>>,
    levels: usize,
    done: Value,
}

/// Checks the order and shape of a finished session's messages (after `ready`): a segment before
/// any audio, contiguous segment indices, one `mouth` per batch of frames covering exactly those
/// frames, `done` last and then a normal close.
fn check_stream(items: &[Got]) -> Stream {
    let (mut segments, mut frames, mut levels, mut done) = (Vec::new(), Vec::new(), 0usize, None);
    assert!(matches!(&items[0], Got::Event(v) if v["type"] == "segment"), "first message: {:?}", items[0]);
    for (i, item) in items.iter().enumerate() {
        assert!(done.is_none() || matches!(item, Got::Close(_)), "message after done: {item:?}");
        match item {
            Got::Frame(f) => frames.push(f.clone()),
            Got::Event(v) => match v["type"].as_str() {
                Some("segment") => {
                    assert_eq!(v["index"], segments.len(), "{v}");
                    segments.push(v["text"].as_str().unwrap().to_string());
                }
                Some("mouth") => {
                    let batch = v["levels"].as_array().unwrap();
                    assert!(!batch.is_empty(), "{v}");
                    assert_eq!(v["frame"], levels, "mouth frame indices must be contiguous: {v}");
                    levels += batch.len();
                    // A mouth event follows the frames it describes.
                    assert_eq!(levels, frames.len(), "mouth levels vs frames so far at message {i}");
                    assert!(batch.iter().all(|l| (0.0..=1.0).contains(&l.as_f64().unwrap())), "{v}");
                }
                Some("done") => done = Some(v.clone()),
                _ => panic!("unexpected event {v}"),
            },
            Got::Close(code) => {
                assert_eq!(*code, Some(1000), "close code");
                assert_eq!(i, items.len() - 1);
            }
            Got::End | Got::Broken(_) => panic!("the connection ended without a close frame: {item:?}"),
        }
    }
    assert!(matches!(items.last(), Some(Got::Close(_))), "no close frame after done");
    let done = done.expect("no done event");
    for field in ["ttfa_ms", "rtf", "audio_ms"] {
        assert!(done[field].as_f64().is_some_and(|x| x > 0.0), "done.{field}: {done}");
    }
    assert!(done["tokens"].as_u64().is_some_and(|t| t > 0), "{done}");
    assert_eq!(done["segments"], segments.len(), "{done}");
    assert_eq!(done["cancelled"], false, "{done}");
    assert_eq!(levels, frames.len(), "one mouth level per audio frame");
    Stream { segments, frames, levels, done }
}

/// One WebSocket session: `start`, the pieces, `close`; returns the stream after `ready`.
async fn ws_session(addr: SocketAddr, start: Value, pieces: &[&str]) -> Vec<Got> {
    let mut ws = connect(addr, "").await;
    send(&mut ws, start.clone()).await;
    let ready = recv_event(&mut ws, "ready").await;
    assert!(ready["session"].as_str().is_some_and(|s| s.starts_with("s-")), "{ready}");
    assert_eq!(ready["voice"], start["voice"], "{ready}");
    assert_eq!(ready["format"], start["format"], "{ready}");
    assert_eq!((&ready["sample_rate"], &ready["channels"], &ready["frame_ms"]), (&json!(48000), &json!(1), &json!(20)));
    for p in pieces {
        send(&mut ws, json!({"type": "text", "text": p})).await;
    }
    send(&mut ws, json!({"type": "close"})).await;
    recv_until_close(&mut ws).await
}

/// The same request straight through the engine: 32 kHz audio, segment texts and stats.
/// The same request run on the engine directly: its audio events (32 kHz, as the server receives
/// them), the sentences, the final figures.
async fn offline(
    engine: Arc<Engine>,
    voice: &str,
    seed: u64,
    pieces: &[&str],
) -> (Vec<Vec<f32>>, Vec<String>, SessionStats) {
    let mut params = Map::new();
    params.insert("seed".into(), Value::from(seed));
    let request = SessionRequest { voice: voice.into(), reference: None, lang: Some("zh".into()), params };
    let mut session = tokio::task::spawn_blocking(move || engine.open(&request)).await.unwrap().unwrap();
    for p in pieces {
        session.push_text(p);
    }
    session.close();
    let (mut audio, mut segments) = (Vec::new(), Vec::new());
    while let Some(event) = session.next_event().await {
        match event {
            SessionEvent::Audio(a) => audio.push(a),
            SessionEvent::Segment { text, .. } => segments.push(text),
            SessionEvent::Warning { code, message } => panic!("{code}: {message}"),
            SessionEvent::Done(stats) => return (audio, segments, stats),
        }
    }
    panic!("the offline session ended without done: {:?}", session.failure());
}

/// SNR of `test[lag..]` against `reference`, over their common length.
fn snr_db(reference: &[f32], test: &[f32], lag: usize) -> f64 {
    let test = &test[lag.min(test.len())..];
    let n = reference.len().min(test.len());
    let signal: f64 = reference[..n].iter().map(|&x| (x as f64).powi(2)).sum();
    let noise: f64 = reference[..n].iter().zip(test).map(|(&a, &b)| ((a - b) as f64).powi(2)).sum();
    10.0 * (signal / noise.max(1e-30)).log10()
}

/// `x` through a one-pole DC blocker (-3 dB at about 40 Hz at 48 kHz).
fn dc_blocked(x: &[f32]) -> Vec<f32> {
    let (mut prev_x, mut prev_y) = (0.0f32, 0.0f32);
    x.iter()
        .map(|&v| {
            prev_y = v - prev_x + 0.995 * prev_y;
            prev_x = v;
            prev_y
        })
        .collect()
}

#[test]
fn ws_streams_opus_and_pcm_matching_the_engine() {
    let Some(dir) = common::model_fixtures("ws_streams_opus_and_pcm_matching_the_engine") else { return };
    let (engine, _voices) = test_engine::engine(&dir, 4);
    let t0 = Instant::now();
    runtime().block_on(async {
        let addr = test_engine::serve(engine.clone(), None).await;
        // The three runs are independent sessions of the same request; concurrent sessions produce
        // exactly what they produce alone (tests/engine_sessions.rs), and batching saves time.
        let seed = 20240611;
        let (opus_items, pcm_items, (chunks32, segments, stats)) = tokio::join!(
            ws_session(addr, start("alice", "opus", seed), &PIECES),
            ws_session(addr, start("alice", "pcm", seed), &PIECES),
            offline(engine.clone(), "alice", seed, &PIECES),
        );
        let audio32 = chunks32.concat();
        println!("three sessions of {:.2} s audio in {:.1?}", stats.audio_ms / 1e3, t0.elapsed());
        assert_eq!(segments.concat(), PIECES.concat());
        assert_eq!(stats.audio_ms, audio32.len() as f64 * 1e3 / 32e3);

        // The engine's audio at 48 kHz, as the server resamples it before encoding.
        let mut rs = StreamResampler::new(32_000, 48_000).unwrap();
        let mut reference = rs.push(&audio32).unwrap();
        reference.extend(rs.finish().unwrap());
        assert_eq!(reference.len(), (audio32.len() * 3).div_ceil(2), "48 kHz length");

        // Opus: one 20 ms packet per binary message.
        let opus = check_stream(&opus_items);
        assert_eq!(opus.segments, segments);
        let same_ms = |v: &Value| (v.as_f64().unwrap() - stats.audio_ms).abs() < 1e-6;
        assert!(same_ms(&opus.done["audio_ms"]), "{} vs {}", opus.done, stats.audio_ms);
        assert_eq!(opus.done["tokens"], stats.tokens, "{}", opus.done);
        let mut decoder = opus::Decoder::new(48_000, opus::Channels::Mono).unwrap();
        let mut decoded = Vec::new();
        let mut buf = vec![0f32; 6 * FRAME_SAMPLES];
        for (i, packet) in opus.frames.iter().enumerate() {
            let n = decoder.decode_float(packet, &mut buf, false).unwrap_or_else(|e| panic!("packet {i}: {e}"));
            assert_eq!(n, FRAME_SAMPLES, "packet {i} is not 20 ms");
            decoded.extend_from_slice(&buf[..n]);
        }
        // The packets cover the audio plus the encoder's lookahead, padded to whole frames.
        let pre_skip = PRE_SKIP as usize;
        let decoded_ms = decoded.len() as f64 / 48.0;
        let needed_ms = stats.audio_ms + pre_skip as f64 / 48.0;
        assert!(
            decoded_ms >= needed_ms - 0.05 && decoded_ms < needed_ms + 20.0,
            "decoded {decoded_ms} ms for {} ms of audio",
            stats.audio_ms
        );
        assert_eq!(opus.frames.len(), (reference.len() + pre_skip).div_ceil(FRAME_SAMPLES));
        // The engine's audio carries a DC offset on these random weights (mean ≈ 0.09, a quarter
        // of its energy) that the Opus encoder's DC filter removes by design: compare without it.
        let (hp_ref, hp_dec) = (dc_blocked(&reference), dc_blocked(&decoded));
        // Alignment: the best lag over the first 2 s is the pre-skip (measured: exactly 312
        // samples; the resampler's own delay is already trimmed), so the lag is then fixed.
        let head = &hp_ref[..hp_ref.len().min(96_000)];
        let best =
            (0..=2 * pre_skip).max_by(|&a, &b| snr_db(head, &hp_dec, a).total_cmp(&snr_db(head, &hp_dec, b))).unwrap();
        let raw = snr_db(&reference, &decoded, pre_skip);
        let snr = snr_db(&hp_ref, &hp_dec, pre_skip);
        let misaligned = snr_db(&hp_ref, &hp_dec, pre_skip + 480);
        println!(
            "opus: {} packets, best lag {best}; SNR {snr:.1} dB without DC ({raw:.1} dB with it, \
             {misaligned:.1} dB when misaligned by 10 ms)",
            opus.frames.len()
        );
        // The packets are exactly what the encoder makes of the engine's audio events (Opus is
        // deterministic): nothing dropped, repeated, reordered or foreign, whatever the model
        // says. The SNR above depends on the model's output (Opus codes noise-like audio by band
        // energy, not waveform) and is only printed.
        let mut encoder = AudioStreamEncoder::new(OutputFormat::Opus, OutputRate::Hz48000).unwrap();
        let mut expected: Vec<Vec<u8>> = Vec::new();
        for chunk in &chunks32 {
            expected.extend(encoder.push(chunk).unwrap().frames);
        }
        expected.extend(encoder.finish().unwrap().frames);
        assert_eq!(expected.len(), opus.frames.len(), "packet count");
        let first_differing = expected.iter().zip(&opus.frames).position(|(a, b)| a != b);
        assert_eq!(first_differing, None, "the server's Opus packets differ from the encoder's output");

        // PCM: s16le 48 kHz in 20 ms messages (the last may be shorter).
        let pcm = check_stream(&pcm_items);
        assert_eq!(pcm.segments, segments);
        assert!(same_ms(&pcm.done["audio_ms"]), "{} vs {}", pcm.done, stats.audio_ms);
        let (last, whole) = pcm.frames.split_last().unwrap();
        assert!(whole.iter().all(|f| f.len() == 1920), "PCM messages must be 1920 bytes");
        assert!(
            !last.is_empty() && last.len() <= 1920 && last.len() % 2 == 0,
            "last PCM message: {} bytes",
            last.len()
        );
        assert_eq!(pcm.levels, pcm.frames.len());
        let samples: Vec<f32> =
            pcm.frames.concat().chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0).collect();
        assert_eq!(samples.len(), reference.len(), "PCM length vs the engine's audio at 48 kHz");
        let snr = snr_db(&reference, &samples, 0);
        println!("pcm: {} messages, SNR {snr:.1} dB", pcm.frames.len());
        assert!(snr > 40.0, "PCM SNR {snr:.1} dB");
        assert_eq!(engine.metrics().active(), 0);
    });
    println!("ws_streams_opus_and_pcm_matching_the_engine: {:.1?}", t0.elapsed());
}

/// Reads until the first audio frame (checking nothing but segments come before it).
async fn until_first_frame(ws: &mut Ws) {
    loop {
        match recv(ws).await {
            Got::Frame(_) => return,
            Got::Event(v) if v["type"] == "segment" => {}
            other => panic!("expected segments and audio, got {other:?}"),
        }
    }
}

async fn metrics_text(addr: SocketAddr) -> String {
    let r = reqwest::get(format!("http://{addr}/metrics")).await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// `sovits_errors_total{code="CODE"}`, 0 when absent.
fn error_count(metrics: &str, code: &str) -> u64 {
    let key = format!("sovits_errors_total{{code=\"{code}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&key)).map_or(0, |n| n.trim().parse().unwrap())
}

#[test]
fn ws_cancel_disconnect_and_slow_client_end_the_session() {
    let Some(dir) = common::model_fixtures("ws_cancel_disconnect_and_slow_client_end_the_session") else { return };
    let (engine, _voices) = test_engine::engine(&dir, 4);
    let t0 = Instant::now();
    runtime().block_on(async {
        let addr = test_engine::serve(engine.clone(), None).await;

        // Cancel after the first audio frame: done (cancelled), then a normal close.
        let mut ws = connect(addr, "").await;
        send(&mut ws, start("alice", "opus", 5)).await;
        recv_event(&mut ws, "ready").await;
        send(&mut ws, json!({"type": "text", "text": LONG})).await;
        until_first_frame(&mut ws).await;
        let cancelled_at = Instant::now();
        send(&mut ws, json!({"type": "cancel"})).await;
        let rest = recv_until_close(&mut ws).await;
        let dones: Vec<&Value> = rest
            .iter()
            .filter_map(|g| if let Got::Event(v) = g { Some(v) } else { None })
            .filter(|v| v["type"] == "done")
            .collect();
        assert_eq!(dones.len(), 1, "{rest:?}");
        assert_eq!(dones[0]["cancelled"], true, "{}", dones[0]);
        assert!(rest.iter().all(|g| !matches!(g, Got::Event(v) if v["type"] == "error")), "{rest:?}");
        assert!(matches!(rest.last(), Some(Got::Close(Some(1000)))), "{:?}", rest.last());
        let idle = test_engine::wait_idle(&engine, Duration::from_secs(5)).await;
        println!("cancel: done after {:.1?}, idle {idle:?} later", cancelled_at.elapsed());
        assert!(idle.is_ok(), "{idle:?} sessions still active 5 s after cancel");
        let metrics = metrics_text(addr).await;
        assert!(metrics.lines().any(|l| l == "sovits_active_sessions 0"), "{metrics}");

        // The client vanishes after the first audio frame: the session is freed at once.
        let mut ws = connect(addr, "").await;
        send(&mut ws, start("bob", "opus", 6)).await;
        recv_event(&mut ws, "ready").await;
        send(&mut ws, json!({"type": "text", "text": LONG})).await;
        send(&mut ws, json!({"type": "close"})).await;
        until_first_frame(&mut ws).await;
        assert_eq!(engine.metrics().active(), 1);
        drop(ws);
        let idle = test_engine::wait_idle(&engine, Duration::from_secs(5)).await;
        println!("disconnect: idle after {idle:?}");
        assert!(idle.is_ok(), "{idle:?} sessions still active 5 s after the client left");

        // A client that never reads. Small socket buffers on both ends (the listener's send buffer
        // is inherited by accepted sockets; loopback autotuning would otherwise buffer megabytes),
        // so the server's writes block after well under a second of PCM and its send timeout
        // (5 s) must end the session; without it the whole text would be buffered and spoken. An
        // engine with an 8-event buffer makes that happen whatever the model says: even a model
        // that ends every sentence at once sends more than 8 events for this text.
        let (engine, _slow_voices) = test_engine::engine_with(&dir, |c| c.event_capacity = 8);
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_send_buffer_size(16 * 1024).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(16).unwrap();
        let slow_addr = listener.local_addr().unwrap();
        let served = engine.clone();
        let options = sovits_rt::server::ServerOptions::default();
        tokio::spawn(async move { sovits_rt::server::serve(listener, served, options).await.unwrap() });
        let client = tokio::net::TcpSocket::new_v4().unwrap();
        client.set_recv_buffer_size(4096).unwrap();
        let stream = client.connect(slow_addr).await.unwrap();
        let (mut ws, _) =
            tokio_tungstenite::client_async(format!("ws://{slow_addr}/v1/stream"), MaybeTlsStream::Plain(stream))
                .await
                .unwrap();
        send(&mut ws, start("alice", "pcm", 7)).await;
        recv_event(&mut ws, "ready").await;
        let slow_before = error_count(&engine.metrics().render(), "slow_client");
        send(&mut ws, json!({"type": "text", "text": LONG})).await;
        send(&mut ws, json!({"type": "close"})).await;
        let t = Instant::now();
        // Not reading: wait for the server to give up on us.
        let idle = test_engine::wait_idle(&engine, Duration::from_secs(60)).await;
        println!("slow client: session ended after {idle:?}");
        assert!(idle.is_ok(), "{idle:?} sessions still active 60 s after the client stopped reading");
        assert_eq!(error_count(&engine.metrics().render(), "slow_client"), slow_before + 1);
        // What was buffered arrives, but never a done: the session was dropped.
        let (mut audio, mut events) = (0usize, Vec::new());
        let ending = loop {
            match recv(&mut ws).await {
                Got::Frame(f) => audio += f.len(),
                Got::Event(v) => events.push(v),
                other => break other,
            }
        };
        let kinds: Vec<&str> = events.iter().map(|v| v["type"].as_str().unwrap_or("?")).collect();
        println!("slow client: {audio} bytes of PCM buffered, events {kinds:?}, drained after {:.1?}", t.elapsed());
        assert!(events.iter().all(|v| v["type"] != "done"), "{events:?}");
        // The error is sent once the session is dropped; it reaches a client that reads again.
        assert!(events.iter().any(|v| v["type"] == "error" && v["code"] == "slow_client"), "{events:?}");
        assert!(audio < 48_000 * 2 * 10, "{audio} bytes reached a client that never read");
        let close = documented_close_code("slow_client");
        assert!(
            matches!(ending, Got::Close(Some(c)) if c == close),
            "expected the slow_client close frame, got {ending:?}"
        );
        assert!(matches!(recv(&mut ws).await, Got::End), "the connection should end cleanly after the close");
    });
    println!("ws_cancel_disconnect_and_slow_client_end_the_session: {:.1?}", t0.elapsed());
}

#[test]
fn ws_rejects_bad_input_with_the_documented_codes() {
    let Some(dir) = common::model_fixtures("ws_rejects_bad_input_with_the_documented_codes") else { return };
    // One session at a time, so the busy case is cheap to reach.
    let (engine, _voices) = test_engine::engine(&dir, 1);
    let t0 = Instant::now();
    runtime().block_on(async {
        let addr = test_engine::serve(engine.clone(), None).await;
        let idle = || async { assert!(test_engine::wait_idle(&engine, Duration::from_secs(5)).await.is_ok()) };

        // Before start: malformed JSON, a non-object, an unknown type, text first.
        for (raw, want) in [
            ("{\"type\": \"start\", ", "malformed JSON"),
            ("[1, 2]", "JSON object"),
            ("{\"type\": \"hello\"}", "hello"),
            ("{\"type\": \"text\", \"text\": \"你好\"}", "start first"),
            ("{\"voice\": \"alice\"}", "type"),
        ] {
            let mut ws = connect(addr, "").await;
            ws.send(Message::text(raw)).await.unwrap();
            let message = expect_fatal(&mut ws, "bad_request").await;
            assert!(message.contains(want), "{raw}: {message}");
        }

        // Bad start messages.
        let with = |k: &str, v: Value| {
            let mut s = start("alice", "opus", 1);
            s[k] = v;
            s
        };
        let cases = [
            (start("nobody", "opus", 1), "unknown_voice", "nobody"),
            (with("top_p", json!(7)), "bad_request", "top_p"),
            (with("speed", json!(100)), "bad_request", "speed"),
            (with("volume", json!(1)), "bad_request", "volume"),
            (with("format", json!("mp3")), "bad_request", "mp3"),
            (with("lang", json!("klingon")), "bad_request", "klingon"),
            (json!({"type": "start", "format": "opus"}), "bad_request", "voice"),
        ];
        for (msg, code, want) in cases {
            let mut ws = connect(addr, "").await;
            send(&mut ws, msg.clone()).await;
            let message = expect_fatal(&mut ws, code).await;
            assert!(message.contains(want), "{msg}: {message}");
            assert_eq!(engine.metrics().active(), 0, "a refused start left a session behind");
        }

        // After a valid start: a second start, a binary frame, an oversized text, an unknown type.
        let big = "好".repeat(7000); // 21 000 bytes of UTF-8
        let after_start: [(Message, &str, &str); 4] = [
            (Message::text(start("alice", "opus", 1).to_string()), "bad_request", "already has a session"),
            (Message::binary(vec![1u8, 2, 3]), "bad_request", "binary"),
            (Message::text(json!({"type": "text", "text": big}).to_string()), "too_large", "16384"),
            (Message::text(json!({"type": "pause"}).to_string()), "bad_request", "pause"),
        ];
        for (msg, code, want) in after_start {
            let mut ws = connect(addr, "").await;
            send(&mut ws, start("alice", "opus", 1)).await;
            recv_event(&mut ws, "ready").await;
            ws.send(msg).await.unwrap();
            let message = expect_fatal(&mut ws, code).await;
            assert!(message.contains(want), "{message}");
            idle().await;
        }

        // Capacity: with one session held open, the next start gets busy; the slot is reusable
        // once that session is cancelled.
        let mut holder = connect(addr, "").await;
        send(&mut holder, start("alice", "opus", 1)).await;
        recv_event(&mut holder, "ready").await;
        let mut ws = connect(addr, "").await;
        send(&mut ws, start("bob", "opus", 1)).await;
        expect_fatal(&mut ws, "busy").await;
        send(&mut holder, json!({"type": "cancel"})).await;
        let rest = recv_until_close(&mut holder).await;
        assert!(rest.iter().any(|g| matches!(g, Got::Event(v) if v["type"] == "done" && v["cancelled"] == true)));
        idle().await;
        let mut ws = connect(addr, "").await;
        send(&mut ws, start("bob", "opus", 1)).await;
        recv_event(&mut ws, "ready").await;
        send(&mut ws, json!({"type": "cancel"})).await;
        recv_until_close(&mut ws).await;
        idle().await;

        // Every refusal above was counted once.
        let metrics = metrics_text(addr).await;
        assert_eq!(error_count(&metrics, "bad_request"), 5 + 6 + 3, "{metrics}");
        assert_eq!(error_count(&metrics, "unknown_voice"), 1, "{metrics}");
        assert_eq!(error_count(&metrics, "too_large"), 1, "{metrics}");
        assert_eq!(error_count(&metrics, "busy"), 1, "{metrics}");

        // API key: the upgrade itself is refused (401) without the key or with a wrong one.
        let keyed = test_engine::serve(engine.clone(), Some("s3cret")).await;
        for query in ["", "?api_key=wrong"] {
            match tokio_tungstenite::connect_async(format!("ws://{keyed}/v1/stream{query}")).await {
                Err(tungstenite::Error::Http(response)) => {
                    assert_eq!(response.status(), 401);
                    let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or(b"{}")).unwrap();
                    assert_eq!(body["error"]["code"], "unauthorized", "{body}");
                }
                other => panic!("{query:?}: expected HTTP 401, got {:?}", other.map(|(_, r)| r.status())),
            }
        }
        assert_eq!(error_count(&metrics_text(addr).await, "unauthorized"), 2);
        let mut ws = connect(keyed, "?api_key=s3cret").await;
        send(&mut ws, start("alice", "opus", 1)).await;
        recv_event(&mut ws, "ready").await;
        send(&mut ws, json!({"type": "cancel"})).await;
        recv_until_close(&mut ws).await;
        let mut request = format!("ws://{keyed}/v1/stream").into_client_request().unwrap();
        request.headers_mut().insert("authorization", "Bearer s3cret".parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        send(&mut ws, start("bob", "opus", 1)).await;
        recv_event(&mut ws, "ready").await;
        drop(ws);
        idle().await;
    });
    println!("ws_rejects_bad_input_with_the_documented_codes: {:.1?}", t0.elapsed());
}

/// Sends `first`, then a burst of messages the server will never act on, all without reading —
/// a client that pipelines. Errors writing the burst are ignored: what matters is what arrives.
async fn pipeline(ws: &mut Ws, first: Message) {
    ws.feed(first).await.unwrap();
    let filler = json!({"type": "text", "text": "好".repeat(300)}).to_string();
    for _ in 0..200 {
        if ws.feed(Message::text(filler.clone())).await.is_err() {
            return;
        }
    }
    let _ = ws.flush().await;
}

#[test]
fn ws_error_event_and_close_frame_reach_a_pipelining_client() {
    let Some(dir) = common::model_fixtures("ws_error_event_and_close_frame_reach_a_pipelining_client") else { return };
    let (engine, _voices) = test_engine::engine(&dir, 1);
    runtime().block_on(async {
        let addr = test_engine::serve(engine.clone(), None).await;
        // The server refuses the first message while ~180 KB it never reads are still arriving.
        // Closing a socket with unread input resets it, and a reset can discard the error event
        // and close frame before the client reads them: the server must finish the closing
        // handshake first. Repeated, since a reset's effect depends on timing.
        let cases = [
            (Message::text(start("nobody", "opus", 1).to_string()), "unknown_voice", "nobody"),
            (Message::text(json!({"type": "text", "text": "你好"}).to_string()), "bad_request", "start first"),
            (Message::binary(vec![0u8; 64]), "bad_request", "binary"),
        ];
        for round in 0..5 {
            for (first, code, want) in &cases {
                let mut ws = connect(addr, "").await;
                pipeline(&mut ws, first.clone()).await;
                let message = expect_fatal(&mut ws, code).await;
                assert!(message.contains(want), "round {round}: {message}");
            }
        }
        // A session that had started: the oversized message ends it the same way.
        let mut ws = connect(addr, "").await;
        send(&mut ws, start("alice", "opus", 1)).await;
        recv_event(&mut ws, "ready").await;
        pipeline(&mut ws, Message::text(json!({"type": "text", "text": "好".repeat(7000)}).to_string())).await;
        let mut before = Vec::new();
        let error = loop {
            match recv(&mut ws).await {
                Got::Event(v) if v["type"] == "error" => break v,
                other => before.push(other),
            }
        };
        assert_eq!(error["code"], "too_large", "{error} after {before:?}");
        let close = documented_close_code("too_large");
        assert!(matches!(recv(&mut ws).await, Got::Close(Some(c)) if c == close));
        assert!(matches!(recv(&mut ws).await, Got::End));
        assert!(test_engine::wait_idle(&engine, Duration::from_secs(5)).await.is_ok());
    });
}

#[test]
fn ws_sessions_are_told_when_the_server_stops() {
    let Some(dir) = common::model_fixtures("ws_sessions_are_told_when_the_server_stops") else { return };
    let (engine, _voices) = test_engine::engine(&dir, 4);
    runtime().block_on(async {
        let (addr, stop, served) = test_engine::serve_stoppable(engine.clone()).await;
        // One session speaking, one connection that has not sent `start` yet.
        let mut speaking = connect(addr, "").await;
        send(&mut speaking, start("alice", "opus", 3)).await;
        recv_event(&mut speaking, "ready").await;
        send(&mut speaking, json!({"type": "text", "text": LONG})).await;
        until_first_frame(&mut speaking).await;
        let mut waiting = connect(addr, "").await;

        let t = Instant::now();
        stop.send(()).unwrap();
        expect_fatal(&mut waiting, "shutting_down").await;
        let mut rest = Vec::new();
        let error = loop {
            match recv(&mut speaking).await {
                Got::Event(v) if v["type"] == "error" => break v,
                other @ (Got::Frame(_) | Got::Event(_)) => rest.push(other),
                other => panic!("the speaking session ended without an error: {other:?}"),
            }
        };
        assert_eq!(error["code"], "shutting_down", "{error}");
        assert!(rest.iter().all(|g| !matches!(g, Got::Event(v) if v["type"] == "done")), "{rest:?}");
        let close = documented_close_code("shutting_down");
        assert!(matches!(recv(&mut speaking).await, Got::Close(Some(c)) if c == close));
        assert!(matches!(recv(&mut speaking).await, Got::End));

        // The server returns once its sessions are closed, and the speaking one was cancelled.
        let result = tokio::time::timeout(Duration::from_secs(10), served).await;
        println!("stopped: clients told and server returned after {:.1?}", t.elapsed());
        assert!(matches!(result, Ok(Ok(Ok(())))), "{result:?}");
        assert!(test_engine::wait_idle(&engine, Duration::from_secs(5)).await.is_ok());
        assert!(tokio_tungstenite::connect_async(format!("ws://{addr}/v1/stream")).await.is_err(), "still accepting");
    });
}

/// `/metrics` shows sessions while they run: with two sessions still speaking (neither has ended),
/// their time to first audio, the audio sent, the sentences by phase and every stage's step times
/// are already there.
#[test]
fn metrics_show_sessions_while_they_run() {
    let Some(dir) = common::model_fixtures("metrics_show_sessions_while_they_run") else { return };
    let (engine, _voices) = test_engine::engine(&dir, 4);
    runtime().block_on(async {
        let addr = test_engine::serve(engine.clone(), None).await;
        let mut sessions = Vec::new();
        for _ in 0..2 {
            let mut ws = connect(addr, "").await;
            send(&mut ws, json!({"type": "start", "voice": "alice", "format": "pcm", "text": LONG})).await;
            loop {
                if let Got::Frame(_) = recv(&mut ws).await {
                    break;
                }
            }
            sessions.push(ws);
        }
        let metrics = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
        let value = |series: &str| -> f64 {
            let line = metrics.lines().find(|l| l.starts_with(series)).unwrap_or_else(|| panic!("no {series}"));
            line.rsplit_once(' ').unwrap().1.parse().unwrap()
        };
        assert_eq!(value("sovits_active_sessions "), 2.0, "{metrics}");
        assert_eq!(value("sovits_ttfa_seconds_count "), 2.0, "TTFA of the running sessions:\n{metrics}");
        assert!(value("sovits_audio_seconds_total ") > 0.0, "{metrics}");
        assert!(value("sovits_audio_ahead_seconds_count ") >= 2.0, "{metrics}");
        for stage in ["queue_wait", "gpt_prefill", "gpt_step", "acoustic_step", "encode"] {
            assert!(value(&format!("sovits_stage_seconds_count{{stage=\"{stage}\"}} ")) >= 1.0, "{stage}:\n{metrics}");
        }
        for stage in ["gpt_step", "acoustic_step"] {
            assert!(value(&format!("sovits_batch_size_count{{stage=\"{stage}\"}} ")) >= 1.0, "{stage}:\n{metrics}");
        }
        let phases: f64 = ["queued", "prefilling", "decoding", "vocoding"]
            .iter()
            .map(|p| value(&format!("sovits_sentences{{phase=\"{p}\"}} ")))
            .sum();
        assert!(phases >= 1.0, "two sessions with text left have sentences in some phase:\n{metrics}");
        for mut ws in sessions {
            send(&mut ws, json!({"type": "cancel"})).await;
            recv_until_close(&mut ws).await;
        }
    });
}

/// Text with nothing to speak gets its `bad_input` error event (the session goes on to `done`);
/// a text frame that is not UTF-8 ends the connection with close code 1007.
#[test]
fn ws_reports_unspeakable_text_and_bad_encoding() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(dir) = common::model_fixtures("ws_reports_unspeakable_text_and_bad_encoding") else { return };
    let (engine, _voices) = test_engine::engine(&dir, 4);
    runtime().block_on(async {
        let addr = test_engine::serve(engine.clone(), None).await;
        let mut ws = connect(addr, "").await;
        send(&mut ws, json!({"type": "start", "voice": "alice", "format": "pcm", "text": "。。。！？"})).await;
        send(&mut ws, json!({"type": "close"})).await;
        let items = recv_until_close(&mut ws).await;
        let events: Vec<&Value> =
            items.iter().filter_map(|g| if let Got::Event(v) = g { Some(v) } else { None }).collect();
        assert!(events.iter().any(|v| v["type"] == "error" && v["code"] == "bad_input"), "{events:?}");
        assert!(events.iter().any(|v| v["type"] == "done"), "{events:?}");

        // A raw client: the upgrade, then one masked text frame holding invalid UTF-8.
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let upgrade = format!(
            "GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            addr.port()
        );
        s.write_all(upgrade.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await.unwrap();
            head.push(b[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
        let mask = [1u8, 2, 3, 4];
        let payload: Vec<u8> = [0xffu8, 0xfe, 0xfd].iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m).collect();
        let mut frame = vec![0x81, 0x80 | payload.len() as u8];
        frame.extend(mask);
        frame.extend(payload);
        s.write_all(&frame).await.unwrap();
        // Read frames until a close frame; its code is the first two payload bytes.
        let mut rest = Vec::new();
        let close = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0, "the connection ended without a close frame: {rest:?}");
                rest.extend_from_slice(&buf[..n]);
                let mut at = 0;
                // Server frames are unmasked: opcode, 7-bit length (126: 16-bit, 127: 64-bit follows).
                while at + 2 <= rest.len() {
                    let (opcode, short) = (rest[at] & 0x0f, (rest[at + 1] & 0x7f) as usize);
                    let (header, len) = match short {
                        126 if at + 4 <= rest.len() => (4, u16::from_be_bytes([rest[at + 2], rest[at + 3]]) as usize),
                        127 if at + 10 <= rest.len() => {
                            (10, u64::from_be_bytes(rest[at + 2..at + 10].try_into().unwrap()) as usize)
                        }
                        126 | 127 => break,
                        n => (2, n),
                    };
                    if at + header + len > rest.len() {
                        break;
                    }
                    if opcode == 0x8 {
                        return u16::from_be_bytes([rest[at + header], rest[at + header + 1]]);
                    }
                    at += header + len;
                }
            }
        })
        .await
        .expect("no close frame within 10 s");
        assert_eq!(close, 1007);
    });
}

/// `max_tokens` and `seed` take effect on the WebSocket route too: the same start gives the same
/// audio, and a token cap shortens it.
#[test]
fn ws_max_tokens_and_seed_take_effect() {
    let Some(dir) = common::model_fixtures("ws_max_tokens_and_seed_take_effect") else { return };
    let (engine, _voices) = test_engine::engine(&dir, 4);
    runtime().block_on(async {
        let addr = test_engine::serve(engine.clone(), None).await;
        let pcm = |max_tokens: usize| async move {
            let mut start = start("alice", "pcm", 7);
            start["max_tokens"] = json!(max_tokens);
            check_stream(&ws_session(addr, start, &PIECES[..1]).await).frames.concat()
        };
        let (a, again, short) = tokio::join!(pcm(24), pcm(24), pcm(1));
        assert_eq!(a, again, "the same seed must give the same audio");
        assert!(short.len() < a.len(), "max_tokens 1 gave {} bytes, 24 gave {}", short.len(), a.len());
    });
}
