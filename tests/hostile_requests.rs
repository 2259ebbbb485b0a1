//! Property runs over the request parsers as a network client meets them: random JSON bodies for
//! the OpenAI route and api_v2's `/tts` (POST and GET), random message sequences on the WebSocket.
//! Whatever arrives, the server answers with a typed JSON error or audio — never a 5xx, never a
//! hang, never a crash — and keeps serving. (The checkpoint reader and the text frontend have their
//! own runs: `bad_checkpoints.rs`, `text_properties.rs`; docs/RELIABILITY.md lists them all.)
mod common;
#[path = "common/engine.rs"]
mod test_engine;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use tokio_tungstenite::tungstenite::Message;

/// Cases per property: short enough for CI (a valid request synthesizes a few tokens); a longer
/// run sets `HOSTILE_CASES` (docs/RELIABILITY.md).
fn cases() -> u32 {
    std::env::var("HOSTILE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

/// A JSON value of any kind, small.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,12}".prop_map(Value::from),
        prop_oneof![Just("alice"), Just("zh"), Just("你好。"), Just("wav"), Just("cut9"), Just("")]
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A request body: some of the route's own fields (any value) plus stray ones.
fn body(fields: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    let known = prop::collection::vec((prop::sample::select(fields), any_json()), 0..6);
    let stray = prop::collection::vec(("[a-z_]{1,10}", any_json()), 0..2);
    (known, stray).prop_map(|(known, stray)| {
        let mut m: Map<String, Value> = known.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        m.extend(stray);
        // Keep what a valid request would synthesize short.
        m.entry("max_tokens").or_insert(json!(3));
        m
    })
}

const SPEECH_FIELDS: &[&str] =
    &["model", "input", "voice", "response_format", "speed", "seed", "stream_format", "top_k", "lang"];
const TTS_FIELDS: &[&str] = &[
    "text",
    "text_lang",
    "ref_audio_path",
    "prompt_text",
    "prompt_lang",
    "aux_ref_audio_paths",
    "media_type",
    "streaming_mode",
    "speed_factor",
    "seed",
    "text_split_method",
    "voice",
];

/// A server on the fixture models, shared by the cases of one property.
struct Served {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
    _voices: test_engine::tempdir::Dir,
}

fn served(test: &str) -> Option<Served> {
    let dir = common::model_fixtures(test)?;
    let (engine, voices) = test_engine::engine(&dir, 2);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let addr = runtime.block_on(test_engine::serve(engine, None));
    Some(Served { runtime, addr, _voices: voices })
}

/// Status and body of one request, within a minute.
async fn answer(request: reqwest::RequestBuilder) -> (u16, Vec<u8>, String) {
    let r = tokio::time::timeout(Duration::from_secs(60), request.send()).await.expect("no answer in 60 s").unwrap();
    let status = r.status().as_u16();
    let content_type = r.headers().get("content-type").map_or("", |v| v.to_str().unwrap_or("")).to_string();
    (status, r.bytes().await.unwrap().to_vec(), content_type)
}

/// A typed refusal (JSON, not 5xx) or audio; the server is still up afterwards.
async fn check(addr: SocketAddr, what: &str, (status, body, content_type): (u16, Vec<u8>, String)) {
    if std::env::var_os("HOSTILE_VERBOSE").is_some() {
        eprintln!("{status} {}", what.chars().take(100).collect::<String>());
    }
    assert!(status < 500, "{what}: HTTP {status}: {}", String::from_utf8_lossy(&body));
    if status >= 400 {
        let v: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!("{what}: HTTP {status} without a JSON body ({e}): {}", String::from_utf8_lossy(&body))
        });
        assert!(v.to_string().contains("message"), "{what}: {v}");
    } else {
        assert!(
            content_type.starts_with("audio/") || content_type.starts_with("text/event-stream"),
            "{what}: {content_type}"
        );
    }
    let health = reqwest::get(format!("http://{addr}/healthz")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200, "{what}: the server stopped answering");
}

#[test]
fn random_http_requests_get_typed_answers() {
    let Some(s) = served("random_http_requests_get_typed_answers") else { return };
    let client = reqwest::Client::new();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases()));
    let strategy = (body(SPEECH_FIELDS), body(TTS_FIELDS));
    runner
        .run(&strategy, |(speech, tts)| {
            s.runtime.block_on(async {
                let url = |p: &str| format!("http://{}{p}", s.addr);
                let speech_body = Value::Object(speech).to_string();
                let a = answer(
                    client
                        .post(url("/v1/audio/speech"))
                        .header("content-type", "application/json")
                        .body(speech_body.clone()),
                )
                .await;
                check(s.addr, &format!("/v1/audio/speech {speech_body}"), a).await;
                let tts_body = Value::Object(tts.clone()).to_string();
                let a =
                    answer(client.post(url("/tts")).header("content-type", "application/json").body(tts_body.clone()))
                        .await;
                check(s.addr, &format!("POST /tts {tts_body}"), a).await;
                let query: Vec<(String, String)> =
                    tts.iter().map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_string))).collect();
                let a = answer(client.get(url("/tts")).query(&query)).await;
                check(s.addr, &format!("GET /tts {query:?}"), a).await;
            });
            Ok(())
        })
        .unwrap();
}

/// A WebSocket client message: a known type with random fields, a random JSON value, or a frame
/// of the wrong kind.
fn ws_message() -> impl Strategy<Value = Message> {
    let typed = (prop::sample::select(vec!["start", "text", "flush", "cancel", "close", "pause"]), body(SPEECH_FIELDS))
        .prop_map(|(kind, mut fields)| {
            fields.insert("type".into(), json!(kind));
            if kind == "start" {
                fields.entry("voice").or_insert(json!("alice"));
            }
            Message::text(Value::Object(fields).to_string())
        });
    prop_oneof![
        4 => typed,
        1 => any_json().prop_map(|v| Message::text(v.to_string())),
        1 => "\\PC{0,40}".prop_map(Message::text),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Message::binary),
    ]
}

#[test]
fn random_websocket_messages_end_with_a_reason() {
    let Some(s) = served("random_websocket_messages_end_with_a_reason") else { return };
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases()));
    runner
        .run(&prop::collection::vec(ws_message(), 1..5), |messages| {
            s.runtime.block_on(async {
                let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/v1/stream", s.addr)).await.unwrap();
                for m in &messages {
                    if ws.send(m.clone()).await.is_err() {
                        break;
                    }
                }
                let _ = ws.send(Message::text(json!({"type": "close"}).to_string())).await;
                // Read until the server closes: it must say why (a close frame), never just vanish
                // or hang.
                let ended = tokio::time::timeout(Duration::from_secs(60), async {
                    while let Some(item) = ws.next().await {
                        match item {
                            Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                            Ok(_) => {}
                            Err(e) => panic!("{messages:?}: the connection broke: {e}"),
                        }
                    }
                    panic!("{messages:?}: the connection ended without a close frame")
                })
                .await
                .unwrap_or_else(|_| panic!("{messages:?}: no close within 60 s"));
                assert!(ended.is_some_and(|c| c != 1011), "{messages:?}: closed with {ended:?}");
                let health = reqwest::get(format!("http://{}/healthz", s.addr)).await.unwrap();
                assert_eq!(health.status().as_u16(), 200);
            });
            Ok(())
        })
        .unwrap();
}
