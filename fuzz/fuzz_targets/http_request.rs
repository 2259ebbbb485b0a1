//! Any body as an OpenAI speech request and as an api_v2 `/tts` JSON body, and any query string
//! as a `GET /tts`: a request or a typed error naming what is wrong.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sovits_rt::server::speech_request::{api_v2, json_fields, openai, query_fields};

fuzz_target!(|data: &[u8]| {
    if let Err(e) = openai(data) {
        assert!(!e.message.is_empty());
    }
    if let Ok(fields) = json_fields(data) {
        let _ = api_v2(fields, 1000);
    }
    if let Ok(query) = std::str::from_utf8(data) {
        let _ = api_v2(query_fields(query), 1000);
    }
});
