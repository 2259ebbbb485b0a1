//! The text frontend against upstream's own output (`<fixtures>/text-v2/cases.jsonl`): for every
//! case, `norm_text`, `phones`, `phone_ids` and `word2ph` must match exactly. Prints the
//! exact-match rate per language and per category and every mismatch, and fails when a rate
//! falls below the floor this engine has reached (the targets: zh ≥ 97 %, en ≥ 95 %,
//! mixed ≥ 95 %).
//!
//! Pipeline cases flagged `lid_lite_not_zh_for_han` were made with fastText's lite model calling
//! Han-only chunks non-Chinese; upstream's full model (and our script rule) call them `zh`, so they
//! also pass when they match `alt_if_han_detected_as_zh` (counted and shown separately).
mod common;

use std::collections::BTreeMap;

use serde_json::Value;
use sovits_rt::text::{clean_text, phonemize, Lang, LangMode, SymbolSet, TextError};

/// What one case produced, in the fixture's terms.
#[derive(Debug, Clone, PartialEq)]
struct Output {
    norm_text: String,
    phones: Vec<String>,
    phone_ids: Vec<u32>,
    word2ph: Option<Vec<usize>>,
}

fn expected(v: &Value) -> Output {
    let strings = |k: &str| v[k].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
    Output {
        norm_text: v["norm_text"].as_str().unwrap().to_string(),
        phones: strings("phones"),
        phone_ids: v["phone_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect(),
        word2ph: v["word2ph"].as_array().map(|a| a.iter().map(|x| x.as_u64().unwrap() as usize).collect()),
    }
}

fn run(case: &Value) -> Result<Output, TextError> {
    let text = case["text"].as_str().unwrap();
    let lang = case["lang"].as_str().unwrap();
    let set = SymbolSet::V2;
    if case["entry"] == "text.cleaner.clean_text" {
        let lang = Lang::parse(lang)?;
        let c = clean_text(text, lang, set)?;
        let phone_ids = c.phones.iter().map(|p| set.id_or_unk(p)).collect();
        return Ok(Output { norm_text: c.norm_text, phones: c.phones, phone_ids, word2ph: c.word2ph });
    }
    let p = phonemize(text, LangMode::parse(lang)?, set)?;
    let word2ph = p.segments.iter().map(|s| s.cleaned.word2ph.clone()).collect::<Option<Vec<_>>>().map(|w| w.concat());
    Ok(Output {
        norm_text: p.norm_text(),
        phones: p.phones().into_iter().map(str::to_string).collect(),
        phone_ids: p.phone_ids(),
        word2ph,
    })
}

/// The language group a case counts towards in the report.
fn group(case: &Value) -> &'static str {
    let category = case["category"].as_str().unwrap();
    if category == "mixed" {
        return "mixed";
    }
    match case["lang"].as_str().unwrap() {
        "zh" | "all_zh" => "zh",
        "en" => "en",
        "ja" | "all_ja" => "ja",
        "ko" | "all_ko" => "ko",
        "yue" | "all_yue" | "auto_yue" => "yue",
        _ => match category {
            "pipeline_en" => "en",
            _ => "other",
        },
    }
}

#[derive(Default)]
struct Tally {
    pass: usize,
    pass_alt: usize,
    total: usize,
}

impl Tally {
    fn rate(&self) -> f64 {
        100.0 * (self.pass + self.pass_alt) as f64 / self.total.max(1) as f64
    }
}

/// Floors: the exact-match percentages this engine reaches today (the issue asks zh ≥ 97,
/// en ≥ 95, mixed ≥ 95). Raise them as it improves.
const FLOORS: [(&str, f64); 6] =
    [("zh", 100.0), ("en", 100.0), ("mixed", 100.0), ("yue", 100.0), ("ja", 100.0), ("ko", 100.0)];

#[test]
fn text_frontend_matches_upstream_cases() {
    let Some(dir) = common::text_fixtures("text_frontend_matches_upstream_cases") else { return };
    // Japanese needs the Open JTalk dictionary; without it (and when not required) only ja is skipped.
    let japanese = common::japanese_dictionary("text_frontend_matches_upstream_cases (ja)").is_some();
    let cases = common::json_lines(&dir, "cases.jsonl");
    let mut by_group: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut by_category: BTreeMap<String, Tally> = BTreeMap::new();
    let mut mismatches = Vec::new();
    for case in &cases {
        let id = case["id"].as_str().unwrap();
        let got = std::panic::catch_unwind(|| run(case)).unwrap_or_else(|_| panic!("{id}: the frontend panicked"));
        let primary = expected(case);
        let alt = case.get("alt_if_han_detected_as_zh").map(|a| {
            let mut alt = expected(a);
            alt.word2ph = None; // the alternative records no word2ph
            alt
        });
        let verdict = match &got {
            Ok(out) if *out == primary => Some(false),
            Ok(out) if alt.as_ref().is_some_and(|a| Output { word2ph: None, ..out.clone() } == *a) => Some(true),
            _ => None,
        };
        for tally in
            [by_group.entry(group(case)).or_default(), by_category.entry(case["category"].to_string()).or_default()]
        {
            tally.total += 1;
            match verdict {
                Some(false) => tally.pass += 1,
                Some(true) => tally.pass_alt += 1,
                None => {}
            }
        }
        if verdict.is_none() {
            mismatches.push(format!("{id} [{}] {:?}\n   got {got:?}\n  want {primary:?}", case["lang"], case["text"]));
        }
    }
    for m in &mismatches {
        eprintln!("MISMATCH {m}");
    }
    eprintln!("exact-match rate per category:");
    for (k, t) in &by_category {
        eprintln!("  {k:<20} {:>3}/{:<3} {:5.1} %", t.pass + t.pass_alt, t.total, t.rate());
    }
    eprintln!("exact-match rate per language (alt = matched the Han-as-zh alternative):");
    for (k, t) in &by_group {
        eprintln!("  {k:<6} {:>3}/{:<3} {:5.1} %  (alt {})", t.pass + t.pass_alt, t.total, t.rate(), t.pass_alt);
    }
    for (group, floor) in FLOORS {
        if !japanese && (group == "ja" || group == "mixed") {
            continue;
        }
        let rate = by_group.get(group).map_or(0.0, Tally::rate);
        assert!(rate >= floor, "{group}: {rate:.1} % exact, below the floor of {floor} %");
    }
}
