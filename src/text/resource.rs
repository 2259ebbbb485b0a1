//! Loading of the embedded dictionaries (each language's `data/README.md` gives their origin and
//! layout): gzip inflation, parse errors that name the file, a parallel loader, and the
//! build-once-per-process cache every language's `shared()` uses.

use std::io::Read;
use std::sync::{Mutex, OnceLock};

use flate2::read::GzDecoder;

use crate::text::TextError;

/// Inflates an embedded gzip file.
pub(crate) fn gunzip(what: &'static str, gz: &[u8]) -> Result<Vec<u8>, TextError> {
    let mut bytes = Vec::new();
    GzDecoder::new(gz).read_to_end(&mut bytes).map_err(|err| corrupt(what, err.to_string()))?;
    Ok(bytes)
}

/// Inflates an embedded gzip file into UTF-8 text.
pub(crate) fn gunzip_text(what: &'static str, gz: &[u8]) -> Result<String, TextError> {
    let mut text = String::new();
    GzDecoder::new(gz).read_to_string(&mut text).map_err(|err| corrupt(what, err.to_string()))?;
    Ok(text)
}

/// Builds `T` once per process and hands out the same instance after; a failed build is cached
/// too and reported as the same `Resource` error every time (`what` names it when the builder's
/// error is of another kind).
pub(crate) fn build_once<T>(
    cell: &'static OnceLock<Result<T, (&'static str, String)>>,
    what: &'static str,
    build: impl FnOnce() -> Result<T, TextError>,
) -> Result<&'static T, TextError> {
    let built = cell.get_or_init(|| {
        build().map_err(|err| match err {
            TextError::Resource { what, detail } => (what, detail),
            other => (what, other.to_string()),
        })
    });
    built.as_ref().map_err(|(what, detail)| TextError::Resource { what, detail: detail.clone() })
}

/// The error for an embedded file that does not parse (a build defect, never user input).
pub(crate) fn corrupt(what: &'static str, detail: impl Into<String>) -> TextError {
    TextError::Resource { what, detail: detail.into() }
}

/// Parses one whitespace-free field, naming the file and line on failure.
pub(crate) fn parse_field<T: std::str::FromStr>(
    what: &'static str,
    field: Option<&str>,
    line: &str,
) -> Result<T, TextError> {
    field.and_then(|f| f.parse().ok()).ok_or_else(|| corrupt(what, format!("bad field in line {line:?}")))
}

/// Runs two loaders at once (the first on a scoped thread, or inline if no thread can be
/// spawned): first use parses several megabytes, and the parts are independent.
pub(crate) fn load_both<A: Send, B>(
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
        let first = first.ok_or_else(|| corrupt("text data", "a loader thread failed"))?;
        Ok((first?, second?))
    })
}
