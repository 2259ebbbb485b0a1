//! The player page (`/`) in headless Chromium against the real server in-process on the fixture
//! models: WebSocket session, WebCodecs Opus decoding, the page's test summary. Skips with a
//! message when no browser is installed, unless `SOVITS_RT_REQUIRE_BROWSER=1`.
#[path = "support/chromium.rs"]
mod chromium;
mod common;
#[path = "common/engine.rs"]
mod test_engine;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chromium::{browser_required, run_player_page, PlayerError};
use serde_json::Value;
use sovits_rt::engine::Engine;

const TIMEOUT: Duration = Duration::from_secs(120);

/// Serves the engine on an ephemeral port from a background runtime; returns the base URL.
fn start_server(engine: Arc<Engine>, api_key: Option<&'static str>) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            tx.send(test_engine::serve(engine, api_key).await).unwrap();
            std::future::pending::<()>().await
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Runs the page; `None` means "no browser, skipped".
fn run(url: &str) -> Option<Value> {
    let t = Instant::now();
    match run_player_page(url, TIMEOUT) {
        Ok(v) => {
            println!("page summary after {:.1?}: {v}", t.elapsed());
            Some(v)
        }
        Err(PlayerError::NoBrowser(why)) if !browser_required() => {
            eprintln!("SKIP player page: {why}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn player_page_speaks_and_decodes_opus() {
    let Some(dir) = common::model_fixtures("player_page_speaks_and_decodes_opus") else { return };
    if let Err(PlayerError::NoBrowser(why)) = chromium::find_chromium() {
        assert!(!browser_required(), "SOVITS_RT_REQUIRE_BROWSER=1 but {why}");
        eprintln!("SKIP player_page_speaks_and_decodes_opus: {why}");
        return;
    }
    let t0 = Instant::now();
    let (engine, _voices) = test_engine::engine(&dir, 4);
    let base = start_server(engine.clone(), None);
    let text = "今天天气很好，我们去公园吧。";
    let Some(v) = run(&format!("{base}/?test=1&autoplay=1&voice=alice&lang=zh&seed=1&text={}", enc(text))) else {
        return;
    };
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["errors"], serde_json::json!([]), "{v}");
    assert_eq!(v["close_code"], 1000, "{v}");
    let frames = v["frames"].as_u64().unwrap();
    assert!(frames > 0, "{v}");
    // Every packet decodes to 960 samples; a decoder may trim the 312-sample pre-skip.
    let decoded = v["decoded_samples"].as_u64().unwrap();
    assert!(decoded <= frames * 960 && decoded + 960 >= frames * 960, "decoded {decoded} for {frames} frames");
    let done = &v["done"];
    assert_eq!(done["type"], "done", "{v}");
    assert_eq!(done["cancelled"], false, "{v}");
    let audio_ms = done["audio_ms"].as_f64().unwrap();
    // The packets cover the audio plus the encoder's 6.5 ms lookahead, in whole 20 ms frames.
    let covered = frames as f64 * 20.0 - 312.0 / 48.0;
    assert!(covered >= audio_ms - 0.05 && covered < audio_ms + 20.0, "{frames} frames for {audio_ms} ms");
    assert!(v["segments"].as_u64().unwrap() >= 1 && v["segments"] == done["segments"], "{v}");
    assert!(v["mouth_events"].as_u64().unwrap() >= 1, "{v}");
    let idle = Instant::now();
    while engine.metrics().active() > 0 && idle.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(engine.metrics().active(), 0);

    // With an API key: `?api_key=` lets the page load and is passed on to its WebSocket.
    // An unknown voice then comes back as the server's error event (no audio is generated).
    let keyed = start_server(engine.clone(), Some("s3cret"));
    let Some(v) = run(&format!("{keyed}/?api_key=s3cret&test=1&autoplay=1&voice=nobody&text=hi")) else {
        return;
    };
    assert_eq!(v["ok"], false, "{v}");
    // The error event, then the close frame with its documented code: never a bare 1006 (issue 17).
    assert_eq!(
        v["errors"],
        serde_json::json!([{"code": "unknown_voice", "message": v["errors"][0]["message"]}]),
        "{v}"
    );
    assert_eq!(v["close_code"], 4004, "{v}");
    assert_eq!(v["frames"], 0, "{v}");
    println!("player_page_speaks_and_decodes_opus: {:.1?}", t0.elapsed());
}
