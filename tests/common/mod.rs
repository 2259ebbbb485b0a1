//! Shared helpers for the parity tests: where the fixtures are, how to read them, and how to
//! compare tensors with a tolerance (abs, relative to the expected tensor's max |value|).
//!
//! The fixture root is `$SOVITS_RT_FIXTURES` (default `../shared/fixtures` next to the crate).
//! When it is absent the tests print a SKIP line and pass, unless
//! `SOVITS_RT_REQUIRE_FIXTURES=1` (set by `.ci/run`), which turns absence into a failure.
#![allow(dead_code)]

pub mod acoustic;

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
    fixture_set(test, "v2-small", "manifest.json")
}

/// `<root>/v2pro-small` (v2Pro/v2ProPlus: SV branch and Pro SoVITS), or `None` (with a visible
/// SKIP) when absent and not required.
pub fn pro_fixtures(test: &str) -> Option<PathBuf> {
    fixture_set(test, "v2pro-small", "manifest.json")
}

/// A SoVITS checkpoint of a fixture set with the case file made from it.
#[derive(Debug, Clone)]
pub struct SovitsCase {
    pub dir: PathBuf,
    pub model: PathBuf,
    pub case: String,
}

/// Every SoVITS model with a case file: `v2-small/sovits.pth` and each
/// `v2pro-small/sovits_v2pro*.pth` present (v2Pro, v2ProPlus: whichever the set holds).
pub fn sovits_cases(test: &str) -> Vec<SovitsCase> {
    let mut cases = Vec::new();
    if let Some(dir) = model_fixtures(test) {
        cases.push(SovitsCase { model: dir.join("sovits.pth"), case: "sovits.safetensors".into(), dir });
    }
    if let Some(dir) = pro_fixtures(test) {
        let mut pro: Vec<SovitsCase> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().ok()?;
                let stem = name.strip_prefix("sovits_v2pro")?.strip_suffix(".safetensors")?;
                let model = dir.join(format!("sovits_v2pro{stem}.pth"));
                Some(SovitsCase { model, case: name, dir: dir.clone() })
            })
            .collect();
        assert!(!pro.is_empty(), "{test}: no sovits_v2pro*.safetensors in {}", dir.display());
        pro.sort_by(|a, b| a.case.cmp(&b.case));
        cases.extend(pro);
    }
    cases
}

/// `<root>/text-v2`, or `None` (with a visible SKIP) when absent and not required.
pub fn text_fixtures(test: &str) -> Option<PathBuf> {
    fixture_set(test, "text-v2", "cases.jsonl")
}

fn fixture_set(test: &str, name: &str, marker: &str) -> Option<PathBuf> {
    let dir = fixtures_root().join(name);
    if dir.join(marker).is_file() {
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

/// The JSON lines of a `text-v2` fixture file (`cases.jsonl`, `splits.jsonl`).
pub fn json_lines(dir: &std::path::Path, file: &str) -> Vec<serde_json::Value> {
    let path = dir.join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: bad line: {e}", path.display())))
        .collect()
}

/// One `clean_text(text, lang)` call recorded in the text fixtures.
#[derive(Debug, Clone)]
pub struct G2pCase {
    pub id: String,
    pub text: String,
    pub norm_text: String,
    pub phones: Vec<String>,
    pub word2ph: Option<Vec<usize>>,
}

/// Every `clean_text` case of language `lang` plus every `lang` segment of a pipeline case.
pub fn g2p_cases(dir: &std::path::Path, lang: &str) -> Vec<G2pCase> {
    let parse = |id: String, v: &serde_json::Value| G2pCase {
        text: v["text"].as_str().unwrap_or_else(|| panic!("{id}: no text")).to_string(),
        norm_text: v["norm_text"].as_str().unwrap_or_else(|| panic!("{id}: no norm_text")).to_string(),
        phones: v["phones"].as_array().into_iter().flatten().map(|p| p.as_str().unwrap_or("?").to_string()).collect(),
        word2ph: v["word2ph"].as_array().map(|a| a.iter().map(|n| n.as_u64().unwrap_or(0) as usize).collect()),
        id,
    };
    let mut cases = Vec::new();
    for case in json_lines(dir, "cases.jsonl") {
        let id = case["id"].as_str().unwrap_or_default().to_string();
        if case["lang"] == lang && case["entry"] == "text.cleaner.clean_text" {
            cases.push(parse(id.clone(), &case));
        }
        for (n, segment) in case["segments"].as_array().into_iter().flatten().enumerate() {
            if segment["lang"] == lang {
                cases.push(parse(format!("{id}/seg{n}"), segment));
            }
        }
    }
    cases
}

/// Runs `got` on every case, compares with `want`, prints each mismatch and the tally, and fails
/// when fewer than `floor` cases match exactly (the count this engine has reached).
pub fn assert_matches<T: PartialEq + std::fmt::Debug>(
    what: &str,
    cases: &[G2pCase],
    want: impl Fn(&G2pCase) -> T,
    got: impl Fn(&G2pCase) -> T,
    min_rate: f64,
) {
    let mut passes = 0;
    for case in cases {
        let (want, got) = (want(case), got(case));
        if want == got {
            passes += 1;
        } else {
            println!("MISMATCH {what} {} {:?}\n  expected {want:?}\n  got      {got:?}", case.id, case.text);
        }
    }
    assert_rate(what, passes, cases.len(), min_rate);
}

/// Asserts that `passes` of `total` (at least one) cases match exactly, at a rate of at least
/// `min_rate`: a rate over the cases present, so the suite runs unchanged on another fixture set.
pub fn assert_rate(what: &str, passes: usize, total: usize, min_rate: f64) {
    println!("{what}: {passes}/{total} exact");
    assert!(total > 0, "{what}: the fixture set has no cases");
    let rate = passes as f64 / total as f64;
    assert!(
        rate >= min_rate,
        "{what}: {passes}/{total} exact ({:.1} %), below the floor of {:.1} %",
        rate * 100.0,
        min_rate * 100.0
    );
}

/// Phones as the cleaner leaves them: symbols outside the v2 table become `UNK`.
pub fn unk_mapped(phones: Vec<String>) -> Vec<String> {
    let set = sovits_rt::text::SymbolSet::V2;
    phones.into_iter().map(|p| if set.id(&p).is_some() { p } else { "UNK".to_string() }).collect()
}

/// The Open JTalk dictionary (Debian `open-jtalk-mecab-naist-jdic` or `$OPEN_JTALK_DICT_DIR`), or
/// `None` with a SKIP line when it is not installed; required (absence fails) under
/// `SOVITS_RT_REQUIRE_FIXTURES=1`, where CI installs it.
pub fn japanese_dictionary(test: &str) -> Option<&'static sovits_rt::text::ja::JapaneseG2p> {
    use sovits_rt::text::ja::{JaError, JapaneseG2p};
    match JapaneseG2p::load() {
        Ok(g2p) => Some(g2p),
        Err(e @ JaError::DictionaryNotFound { .. }) => {
            if std::env::var("SOVITS_RT_REQUIRE_FIXTURES").is_ok_and(|v| v == "1") {
                panic!("{test}: {e}");
            }
            eprintln!("SKIP {test}: {e}");
            None
        }
        Err(e) => panic!("{test}: dictionary present but unusable: {e}"),
    }
}

/// GPU 0 with every kernel loaded, or `None` with a visible SKIP when this machine has no
/// usable GPU — unless `SOVITS_RT_REQUIRE_GPU=1` (set for runs on the GPU machine), which turns
/// absence into a failure. A GPU whose kernels fail to compile always fails the test.
pub fn gpu(test: &str) -> Option<std::sync::Arc<sovits_rt::cuda::GpuRuntime>> {
    use sovits_rt::cuda::{CudaError, GpuRuntime};
    let required = std::env::var("SOVITS_RT_REQUIRE_GPU").is_ok_and(|v| v == "1");
    match GpuRuntime::open(0) {
        Ok(rt) => {
            println!("{test}: GPU {} (sm_{}{})", rt.gpu.name, rt.gpu.capability.0, rt.gpu.capability.1);
            Some(rt)
        }
        Err(CudaError::Unavailable(why)) if !required => {
            eprintln!("SKIP {test}: {why}");
            None
        }
        Err(e) => panic!("{test}: {e}"),
    }
}
