//! Decoding of the embedded Mandarin data files (see `data/README.md` for their origin and layout).

use std::io::Read;
use std::sync::Mutex;

use flate2::read::GzDecoder;

use crate::text::TextError;

/// Inflates an embedded gzip file into UTF-8 text.
pub(super) fn gunzip_text(what: &'static str, gz: &[u8]) -> Result<String, TextError> {
    let mut text = String::new();
    GzDecoder::new(gz).read_to_string(&mut text).map_err(|err| corrupt(what, err.to_string()))?;
    Ok(text)
}

/// The error for an embedded file that does not parse (a build defect, never user input).
pub(super) fn corrupt(what: &'static str, detail: impl Into<String>) -> TextError {
    TextError::Resource { what, detail: detail.into() }
}

/// Parses one whitespace-free field, naming the file and line on failure.
pub(super) fn parse_field<T: std::str::FromStr>(
    what: &'static str,
    field: Option<&str>,
    line: &str,
) -> Result<T, TextError> {
    field.and_then(|f| f.parse().ok()).ok_or_else(|| corrupt(what, format!("bad field in line {line:?}")))
}

/// Runs two loaders at once (the first on a scoped thread, or inline if no thread can be
/// spawned): first use parses several megabytes, and the parts are independent.
pub(super) fn load_both<A: Send, B>(
    first: impl FnOnce() -> Result<A, TextError> + Send,
    second: impl FnOnce() -> Result<B, TextError>,
) -> Result<(A, B), TextError> {
    let slot = Mutex::new(Some(first));
    let run_first = || slot.lock().ok().and_then(|mut load| load.take()).map(|load| load());
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new().spawn_scoped(scope, run_first);
        let second = second();
        let first = match spawned {
            Ok(handle) => handle.join().ok().flatten(),
            Err(_) => run_first(),
        };
        let first = first.ok_or_else(|| corrupt("Mandarin G2P data", "a loader thread failed"))?;
        Ok((first?, second?))
    })
}
