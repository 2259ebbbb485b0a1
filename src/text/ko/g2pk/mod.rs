//! Port of g2pk2 0.0.3 `G2p.__call__` (default arguments: prescriptive, no vowel grouping) as
//! GPT-SoVITS calls it, i.e. on text whose Latin letters `korean.latin_to_hangul` already spelled
//! out. That makes g2pk2's English step (`convert_eng`, CMUdict lookups of `[A-Za-z']+` runs) a
//! no-op: only apostrophe runs could reach it, and CMUdict has no such entry. It is left out.
//!
//! Steps: idioms → POS annotation (approximated, see [`annotate`]) → numbers → decomposition →
//! special rules → rule table → linking → silent onsets. The result stays decomposed: upstream
//! composes syllables here and GPT-SoVITS decomposes them again right after, which is an identity
//! on the jamo (only the ᄋ placeholders that `compose` inserts remain).

mod annotate;
mod idioms;
mod numerals;
mod rules;
mod table;

use super::jamo;
use annotate::Annotator;
use numerals::NumberSpeller;
use rules::RegexRule;

/// g2pk2's pipeline with its parsed tables.
pub struct G2pk {
    idioms: Vec<(String, String)>,
    annotator: Annotator,
    numbers: NumberSpeller,
    special_rules: Vec<RegexRule>,
    table_rules: Vec<RegexRule>,
}

impl G2pk {
    /// Parses the embedded tables and compiles the rules.
    pub fn load() -> Result<Self, String> {
        Ok(Self {
            idioms: idioms::parse_idioms()?,
            annotator: Annotator::load()?,
            numbers: NumberSpeller::new()?,
            special_rules: rules::special_rules()?,
            table_rules: table::table_rules()?,
        })
    }

    /// Pronunciation of `text` as conjoining jamo (U+11xx) with silent onsets made explicit;
    /// characters other than Hangul pass through (ASCII digits are spelled out).
    pub fn pronounce(&self, text: &str) -> String {
        let text = idioms::apply_idioms(&self.idioms, text);
        let annotated = self.annotator.annotate(&text);
        let spelled = self.numbers.convert(&annotated);
        let mut jamo = jamo::decompose(&spelled);
        for rule in self.special_rules.iter().chain(&self.table_rules) {
            jamo = rule.apply(&jamo);
        }
        jamo::insert_silent_onsets(&rules::link(&jamo))
    }
}
