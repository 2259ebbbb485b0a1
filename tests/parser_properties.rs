//! The request parsers alone, without a server (the same functions the `cargo fuzz` targets in
//! `fuzz/` run, docs/RELIABILITY.md): whatever arrives, a typed request or a typed error whose
//! message is not empty — never a panic. Thousands of cases run in well under a second.
use proptest::prelude::*;
use serde_json::Value;
use sovits_rt::error::ErrorCode;
use sovits_rt::server::client_message::ClientMessage;
use sovits_rt::server::speech_request::{api_v2, json_fields, openai, query_fields, RequestError};

/// Text that looks like JSON often enough to reach past the syntax check.
fn jsonish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("\"type\":".to_string()),
        Just("\"start\"".to_string()),
        Just("\"text\"".to_string()),
        Just("\"voice\":".to_string()),
        Just("\"input\":".to_string()),
        Just("\"model\":".to_string()),
        Just(",".to_string()),
        Just("null".to_string()),
        Just("[1,2]".to_string()),
        Just("-1e400".to_string()),
        "\\PC{0,6}".prop_map(|s| format!("{s:?}")),
        "\\PC{0,4}",
    ];
    prop::collection::vec(piece, 0..14).prop_map(|p| p.concat())
}

fn assert_typed(e: &RequestError) {
    assert!(!e.message.is_empty());
    assert!(matches!(e.code, ErrorCode::BadRequest | ErrorCode::BadInput | ErrorCode::TooLarge), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_frame_is_a_message_or_a_bad_request(frame in prop_oneof![jsonish(), "\\PC{0,40}"]) {
        match ClientMessage::parse(&frame) {
            Ok(_) => prop_assert!(serde_json::from_str::<Value>(&frame).is_ok()),
            Err(e) => prop_assert!(!e.0.is_empty()),
        }
    }

    #[test]
    fn any_body_is_a_speech_request_or_a_typed_error(body in prop_oneof![jsonish(), "\\PC{0,40}"]) {
        if let Err(e) = openai(body.as_bytes()) {
            assert_typed(&e);
        }
        if let Ok(fields) = json_fields(body.as_bytes()) {
            if let Err(e) = api_v2(fields, 100) {
                assert_typed(&e);
            }
        }
    }

    #[test]
    fn any_query_is_a_tts_request_or_a_typed_error(
        pairs in prop::collection::vec((prop::sample::select(&["text", "text_lang", "voice", "ref_audio_path",
            "prompt_lang", "media_type", "streaming_mode", "top_k", "seed", "speed_factor", "aux_ref_audio_paths",
            "text_split_method", "x"][..]), "\\PC{0,8}"), 0..8),
    ) {
        let query: String = pairs.iter().map(|(k, v)| format!("{k}={}&", v.replace(['&', '='], ""))).collect();
        if let Err(e) = api_v2(query_fields(&query), 100) {
            assert_typed(&e);
        }
    }
}
