//! Any text frame as a WebSocket control message: a typed message or a `bad_request` message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sovits_rt::server::client_message::ClientMessage;

fuzz_target!(|frame: &str| {
    if let Err(e) = ClientMessage::parse(frame) {
        assert!(!e.0.is_empty());
    }
});
