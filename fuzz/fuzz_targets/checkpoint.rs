//! Any bytes as a checkpoint file: the unpickler directly, then the file as every opener reads
//! it (zip + pickle for `.ckpt`/`.pth`, safetensors, the speaker-verification file). Each must
//! answer a typed error or a file, never panic.
#![no_main]

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sovits_rt::checkpoint::{self, pickle};

/// One scratch file per process, rewritten for every input.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("sovits-fuzz-{}.ckpt", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    let _ = pickle::parse(data);
    let path = scratch();
    let Ok(mut f) = std::fs::File::create(path) else { return };
    if f.write_all(data).is_err() {
        return;
    }
    drop(f);
    let _ = checkpoint::open_gpt(path);
    let _ = checkpoint::open_sovits(path);
    let _ = checkpoint::open_safetensors(path);
    let _ = checkpoint::open_speaker_verifier(path);
});
