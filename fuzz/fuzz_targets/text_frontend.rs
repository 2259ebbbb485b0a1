//! Any text in any language mode and cut method through the whole frontend (normalization, G2P
//! of every language): phones or a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sovits_rt::text::segment::SplitMethod;
use sovits_rt::text::{phonemize_text, LangMode, SymbolSet};

const MODES: [&str; 11] = ["zh", "en", "ja", "ko", "yue", "auto", "auto_yue", "all_zh", "all_ja", "all_ko", "all_yue"];
const METHODS: [&str; 6] = ["cut0", "cut1", "cut2", "cut3", "cut4", "cut5"];

fuzz_target!(|input: (u8, u8, &str)| {
    let (mode, method, text) = input;
    let mode = LangMode::parse(MODES[mode as usize % MODES.len()]).expect("a known mode");
    let method = SplitMethod::parse(METHODS[method as usize % METHODS.len()]).expect("a known method");
    let _ = phonemize_text(text, mode, method, SymbolSet::V2);
});
