//! Shared helpers for the parity tests: where the fixtures are, how to read them, and how to
//! compare tensors with a tolerance (abs, relative to the expected tensor's max |value|).
//!
//! The fixture root is `$SOVITS_RT_FIXTURES` (default `../shared/fixtures` next to the crate).
//! When it is absent the tests print a SKIP line and pass, unless
//! `SOVITS_RT_REQUIRE_FIXTURES=1` (set by `.ci/run`), which turns absence into a failure.
#![allow(dead_code)]

use std::path::PathBuf;

use sovits_rt::checkpoint::{open_safetensors, TensorStore};

pub fn fixtures_root() -> PathBuf {
    match std::env::var_os("SOVITS_RT_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"),
    }
}

/// `<root>/v2-small`, or `None` (with a visible SKIP) when absent and not required.
pub fn model_fixtures(test: &str) -> Option<PathBuf> {
    let dir = fixtures_root().join("v2-small");
    if dir.join("manifest.json").is_file() {
        return Some(dir);
    }
    if std::env::var("SOVITS_RT_REQUIRE_FIXTURES").is_ok_and(|v| v == "1") {
        panic!("{test}: fixtures required (SOVITS_RT_REQUIRE_FIXTURES=1) but {} is missing", dir.display());
    }
    eprintln!("SKIP {test}: no fixtures at {} (set SOVITS_RT_FIXTURES)", dir.display());
    None
}

/// Opens one of the `*.safetensors` case files.
pub fn case(dir: &std::path::Path, file: &str) -> TensorStore {
    open_safetensors(&dir.join(file)).unwrap_or_else(|e| panic!("{e}"))
}

pub fn f32s(store: &TensorStore, name: &str) -> (Vec<usize>, Vec<f32>) {
    let v = store.require(name).unwrap_or_else(|e| panic!("{e}"));
    (v.shape.to_vec(), v.to_f32().unwrap_or_else(|e| panic!("{e}")))
}

pub fn i64s(store: &TensorStore, name: &str) -> Vec<i64> {
    store.require(name).unwrap_or_else(|e| panic!("{e}")).to_i64().unwrap_or_else(|e| panic!("{e}"))
}

pub fn u32s(store: &TensorStore, name: &str) -> Vec<u32> {
    i64s(store, name).into_iter().map(|v| u32::try_from(v).expect("id fits u32")).collect()
}

pub fn max_abs(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// Asserts `|got − expected| ≤ rel · max|expected|` elementwise; prints the measured ratio.
/// On failure, shows the first 5 offending pairs and the worst one.
pub fn assert_close_rel(what: &str, got: &[f32], expected: &[f32], rel: f32) {
    let scale = max_abs(expected).max(f32::MIN_POSITIVE);
    assert_close_abs(what, got, expected, rel * scale);
}

pub fn assert_close_abs(what: &str, got: &[f32], expected: &[f32], atol: f32) {
    assert_eq!(got.len(), expected.len(), "{what}: {} values, expected {}", got.len(), expected.len());
    let scale = max_abs(expected).max(f32::MIN_POSITIVE);
    let mut worst = (0usize, 0f32);
    let mut bad = Vec::new();
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        // NaN counts as a mismatch and as the worst difference.
        let d = if g.is_nan() || e.is_nan() { f32::INFINITY } else { (g - e).abs() };
        if d > atol && bad.len() < 5 {
            bad.push((i, *g, *e));
        }
        if d > worst.1 {
            worst = (i, d);
        }
    }
    eprintln!("{what}: max|diff| = {:.3e} = {:.3e} x max|expected| (atol {:.3e})", worst.1, worst.1 / scale, atol);
    assert!(
        bad.is_empty(),
        "{what}: values beyond atol {atol:e}: first {bad:?}; worst at {} (|diff| {:e})",
        worst.0,
        worst.1
    );
}
