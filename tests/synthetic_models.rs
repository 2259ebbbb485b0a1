//! A synthetic model set written to disk (`synthetic::write_model_dir`, tiny sizes) loads through
//! the normal loaders into an [`Engine`] and speaks on the CPU: the path `loadgen --synthetic`
//! takes with the full-size set.
#[path = "common/engine.rs"]
mod test_engine;

use std::time::Instant;

use serde_json::{Map, Value};
use sovits_rt::engine::{Engine, EngineConfig, NewVoice, RequestParams, SessionEvent, SessionRequest, VoiceManifest};
use sovits_rt::synthetic::{write_model_dir, ModelSizes};
use test_engine::tempdir;

#[test]
fn tiny_synthetic_set_loads_and_speaks() {
    let t = Instant::now();
    let dir = tempdir::Dir::new("synthetic-models");
    let written = write_model_dir(dir.path(), &ModelSizes::tiny(), 1).unwrap();
    let m = &written.models;
    println!("written in {:.2} s", t.elapsed().as_secs_f64());

    let voices = tempdir::Dir::new("synthetic-voices");
    let config = EngineConfig::new(
        m.gpt.clone(),
        m.sovits.clone(),
        m.hubert.clone(),
        m.bert.clone(),
        voices.path().to_path_buf(),
    );
    let engine = Engine::new(config).unwrap();
    assert_eq!(engine.backend(), "cpu");
    let manifest = VoiceManifest {
        name: "synthetic".into(),
        transcript: written.reference_text.clone(),
        lang: "zh".into(),
        gpt: None,
        sovits: None,
        defaults: RequestParams::default(),
    };
    let reference_wav = std::fs::read(&written.reference_wav).unwrap();
    engine.add_voice(&NewVoice { manifest, reference_wav }).unwrap();
    println!("loaded in {:.2} s", t.elapsed().as_secs_f64());

    let max_tokens = 20;
    let mut params = Map::new();
    params.insert("seed".into(), Value::from(1));
    params.insert("max_tokens".into(), Value::from(max_tokens));
    let request = SessionRequest { voice: "synthetic".into(), reference: None, lang: Some("zh".into()), params };
    let mut session = engine.open(&request).unwrap();
    // Every character is in the tiny BERT vocabulary (ideographs from U+4E00 on).
    session.push_text("他们一个人也不会买书。");
    session.close();
    let mut audio = Vec::new();
    let stats = loop {
        match session.blocking_next_event() {
            Some(SessionEvent::Audio(a)) => audio.extend(a),
            Some(SessionEvent::Segment { .. }) => {}
            Some(SessionEvent::Warning { code, message }) => panic!("{code}: {message}"),
            Some(SessionEvent::Done(stats)) => break stats,
            None => panic!("the session ended without done"),
        }
    };
    println!("spoke in {:.2} s", t.elapsed().as_secs_f64());
    // Random weights never predict end-of-sentence: the sentence runs to max_tokens.
    assert_eq!((stats.segments, stats.tokens), (1, max_tokens));
    assert!(audio.len() >= max_tokens * 1280, "{} samples", audio.len());
    assert!(audio.iter().all(|v| v.is_finite()) && audio.iter().any(|&v| v != 0.0));
}
