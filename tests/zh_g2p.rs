//! Mandarin G2P against the golden fixtures: every `zh` case of `text.cleaner.clean_text` and
//! every `zh` segment of the pipeline cases must give exactly upstream's phones and `word2ph`
//! from its `norm_text`. Needs `SOVITS_RT_FIXTURES` (e.g. `/work/shared/fixtures`).

mod common;

use sovits_rt::text::zh::MandarinG2p;

/// Exact matches required, as a rate over the cases present (the developer set matches all).
const MIN_RATE: f64 = 0.9;

#[test]
fn mandarin_g2p_matches_fixtures() {
    let Some(dir) = common::text_fixtures("mandarin_g2p_matches_fixtures") else { return };
    let g2p = MandarinG2p::shared().unwrap();
    // `clean_special` later turns `,` phones into SP2 (for ￥) / SP3 (for ^); the G2P itself emits `,`.
    let want = |c: &common::G2pCase| {
        let phones = c.phones.iter().map(|p| if p == "SP2" || p == "SP3" { "," } else { p }).map(str::to_string);
        (phones.collect::<Vec<_>>(), c.word2ph.clone().unwrap_or_default())
    };
    let cases = common::g2p_cases(&dir, "zh");
    common::assert_matches("zh g2p", &cases, want, |c| g2p.g2p(&c.norm_text), MIN_RATE);
}
