//! The streaming engine on the fixture models (CPU backend): a session's streamed audio against
//! the whole-utterance synthesis of the same sentences, concurrent sessions producing exactly
//! what they produce alone, cancellation and capacity.
mod common;
#[path = "common/engine.rs"]
mod test_engine;

use serde_json::{Map, Value};
use sovits_rt::engine::{Engine, RequestParams, Session, SessionEvent, SessionRequest, SessionStats};
use sovits_rt::model::acoustic::snr_db;
use sovits_rt::pipeline::SAMPLE_RATE;
use sovits_rt::text::segment::{preprocess, SplitMethod};
use sovits_rt::text::LangMode;
use test_engine::engine;

fn request(voice: &str, seed: u64) -> SessionRequest {
    let mut params = Map::new();
    params.insert("seed".into(), Value::from(seed));
    // Keeps the untrained model's sentences short (it rarely predicts their end).
    params.insert("max_tokens".into(), Value::from(60));
    SessionRequest { voice: voice.into(), reference: None, lang: Some("zh".into()), params }
}

/// Runs a session to its end: (audio, segment texts, stats).
fn collect(mut s: Session) -> (Vec<f32>, Vec<String>, SessionStats) {
    let (mut audio, mut segments) = (Vec::new(), Vec::new());
    while let Some(ev) = s.blocking_next_event() {
        match ev {
            SessionEvent::Audio(a) => audio.extend(a),
            SessionEvent::Segment { text, .. } => segments.push(text),
            SessionEvent::Warning { code, message } => panic!("{code}: {message}"),
            SessionEvent::Done(stats) => return (audio, segments, stats),
        }
    }
    panic!("the session ended without done");
}

fn speak(engine: &Engine, voice: &str, seed: u64, pieces: &[&str]) -> (Vec<f32>, Vec<String>, SessionStats) {
    let s = engine.open(&request(voice, seed)).unwrap();
    for p in pieces {
        s.push_text(p);
    }
    s.close();
    collect(s)
}

const TEXT: [&str; 4] = ["今天天气很好，", "我们一起去公园", "散步吧。明天", "见！"];

#[test]
fn streamed_session_matches_whole_sentence_synthesis() {
    let Some(dir) = common::model_fixtures("streamed_session_matches_whole_sentence_synthesis") else { return };
    let (engine, _voices) = engine(&dir, 4);
    let (audio, segments, stats) = speak(&engine, "alice", 11, &TEXT);
    assert_eq!(segments, ["今天天气很好，", "我们一起去公园散步吧。", "明天见！"]);
    assert_eq!(stats.segments, 3);
    assert!(!stats.cancelled && stats.tokens > 0 && stats.ttfa_ms.is_some());
    assert!((stats.audio_ms - audio.len() as f64 * 1e3 / SAMPLE_RATE as f64).abs() < 1e-6);

    // The same sentences through the offline pipeline, sentence by sentence (0.3 s between).
    let synth = engine.voice("alice").unwrap();
    let params = RequestParams { seed: Some(11), max_tokens: Some(60), ..Default::default() }.synth_params(1025);
    let mut whole = Vec::new();
    let zh = LangMode::parse("zh").unwrap();
    for s in segments.iter().flat_map(|s| preprocess(s, zh, SplitMethod::Cut0).unwrap()) {
        let f = synth.pair.synth.sentence_features(&s, zh).unwrap().unwrap();
        let part = synth.pair.synth.synthesize(&synth.voice, &f, &params).unwrap();
        whole.extend(part.samples);
        whole.resize(whole.len() + (0.3 * SAMPLE_RATE as f32) as usize, 0.0);
    }
    assert_eq!(audio.len(), whole.len(), "streamed and offline audio differ in length");
    let snr = snr_db(&whole, &audio);
    println!("streamed session vs offline synthesis: SNR {snr:.1} dB over {:.2} s", audio.len() as f64 / 32e3);
    assert!(snr >= 14.0, "SNR {snr:.1} dB");
}

#[test]
fn concurrent_sessions_equal_sessions_alone() {
    let Some(dir) = common::model_fixtures("concurrent_sessions_equal_sessions_alone") else { return };
    let (engine, _voices) = engine(&dir, 8);
    let jobs: Vec<(&str, u64)> = (0..8).map(|i| (if i % 2 == 0 { "alice" } else { "bob" }, 100 + i as u64)).collect();
    let alone: Vec<Vec<f32>> = jobs.iter().map(|(v, seed)| speak(&engine, v, *seed, &TEXT[..2]).0).collect();
    let together: Vec<Vec<f32>> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            jobs.iter().map(|(v, seed)| scope.spawn(|| speak(&engine, v, *seed, &TEXT[..2]).0)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, (a, t)) in alone.iter().zip(&together).enumerate() {
        assert!(a == t, "session {i} ({:?}) differs when run with 7 others", jobs[i]);
    }
    assert_ne!(alone[0], alone[2], "different seeds should give different audio");
    assert_eq!(engine.metrics().active(), 0);
}

#[test]
fn cancel_frees_the_session_and_capacity_is_enforced() {
    let Some(dir) = common::model_fixtures("cancel_frees_the_session_and_capacity_is_enforced") else { return };
    let (engine, _voices) = engine(&dir, 2);
    let a = engine.open(&request("alice", 1)).unwrap();
    let b = engine.open(&request("bob", 2)).unwrap();
    let busy = engine.open(&request("alice", 3)).err().unwrap();
    assert_eq!(busy.code(), "busy");
    a.push_text("今天天气很好，我们一起去公园散步吧。");
    a.cancel();
    let (_, _, stats) = collect(a);
    assert!(stats.cancelled);
    drop(b); // a client that vanishes
    for _ in 0..100 {
        if engine.metrics().active() == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(engine.metrics().active(), 0, "sessions still counted after cancel/drop");
    assert_eq!(engine.open(&request("nobody", 1)).err().unwrap().code(), "unknown_voice");
    let mut bad = request("alice", 1);
    bad.params.insert("top_p".into(), Value::from(7));
    assert_eq!(engine.open(&bad).err().unwrap().code(), "bad_request");
    assert_eq!(engine.metrics().active(), 0);
}

#[test]
fn flush_speaks_unfinished_text_and_marks_alone_join_the_next_sentence() {
    let Some(dir) = common::model_fixtures("flush_speaks_unfinished_text_and_marks_alone_join_the_next_sentence")
    else {
        return;
    };
    let (engine, _voices) = engine(&dir, 2);
    let mut s = engine.open(&request("alice", 5)).unwrap();
    s.push_text("今天天气很好");
    s.flush();
    // Wait for the flushed sentence's audio before sending more: flush must not need more text.
    let mut events = Vec::new();
    while !events.iter().any(|e| matches!(e, SessionEvent::Audio(_))) {
        events.push(s.blocking_next_event().expect("the session ended early"));
    }
    s.push_text("……！！！\n明天见！");
    s.close();
    while let Some(e) = s.blocking_next_event() {
        let done = matches!(e, SessionEvent::Done(_));
        events.push(e);
        if done {
            break;
        }
    }
    let segments: Vec<&str> = events
        .iter()
        .filter_map(|e| if let SessionEvent::Segment { text, .. } = e { Some(text.as_str()) } else { None })
        .collect();
    // Marks with nothing to say are not a sentence of their own: they ride with the next one.
    assert_eq!(segments, ["今天天气很好", "……！！！ 明天见！"]);
    assert!(!events.iter().any(|e| matches!(e, SessionEvent::Warning { .. })));
    let Some(SessionEvent::Done(stats)) = events.last() else { panic!("no done") };
    assert_eq!(stats.segments, segments.len());
    assert!(!stats.cancelled);
}
