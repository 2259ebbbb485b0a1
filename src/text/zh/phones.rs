//! Syllable → v2 phones, mirroring the tail of upstream `chinese2.py::_g2p`: punctuation is its
//! own phone; otherwise pypinyin's strict initial/final are rewritten to full pinyin
//! (`uei→ui`, zero-initial `i→yi`, `v→yu` ...) and looked up in `opencpop-strict.txt`, with the
//! tone digit appended to the final.

use std::collections::HashMap;

use crate::text::resource::corrupt;
use crate::text::TextError;

const WHAT: &str = "opencpop-strict.txt";
static OPENCPOP_TXT: &str = include_str!("data/opencpop-strict.txt");

/// The punctuation the v2 symbol set keeps (`text/symbols.py::punctuation`).
pub(super) const PUNCTUATION: [&str; 6] = ["!", "?", "…", ",", ".", "-"];

pub(super) struct PhoneMap {
    /// Toneless pinyin → (initial phone, final phone).
    table: HashMap<String, (String, String)>,
}

impl PhoneMap {
    /// Parses `pinyin<TAB>initial final` lines.
    pub(super) fn load() -> Result<Self, TextError> {
        let mut table = HashMap::new();
        for line in OPENCPOP_TXT.lines().filter(|l| !l.trim().is_empty()) {
            let parsed =
                line.split_once('\t').and_then(|(pinyin, phones)| Some((pinyin, phones.trim().split_once(' ')?)));
            let (pinyin, (initial, final_)) = parsed.ok_or_else(|| corrupt(WHAT, format!("bad line {line:?}")))?;
            table.insert(pinyin.to_string(), (initial.to_string(), final_.to_string()));
        }
        Ok(Self { table })
    }

    /// The phones of one `(initial, final)` pair, or `None` where upstream's assertions fail
    /// (unknown symbol, missing tone, syllable absent from the table).
    pub(super) fn phones(&self, initial: &str, final_: &str) -> Option<Vec<String>> {
        if initial == final_ {
            return PUNCTUATION.contains(&initial).then(|| vec![initial.to_string()]);
        }
        let tone = final_.chars().last().filter(|t| ('1'..='5').contains(t))?;
        let toneless = &final_[..final_.len() - 1];
        let pinyin = if !initial.is_empty() {
            let final_ = match toneless {
                "uei" => "ui",
                "iou" => "iu",
                "uen" => "un",
                other => other,
            };
            format!("{initial}{final_}")
        } else {
            match toneless {
                "ing" => "ying".to_string(),
                "i" => "yi".to_string(),
                "in" => "yin".to_string(),
                "u" => "wu".to_string(),
                other => {
                    let mut chars = other.chars();
                    match chars.next()? {
                        'v' => format!("yu{}", chars.as_str()),
                        'i' => format!("y{}", chars.as_str()),
                        'u' => format!("w{}", chars.as_str()),
                        _ => other.to_string(),
                    }
                }
            }
        };
        let (new_initial, new_final) = self.table.get(&pinyin)?;
        Some(vec![new_initial.clone(), format!("{new_final}{tone}")])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_zero_initials_and_contractions() -> Result<(), TextError> {
        let map = PhoneMap::load()?;
        let phones = |i: &str, f: &str| map.phones(i, f);
        assert_eq!(phones("", "i1"), Some(vec!["y".into(), "i1".into()]));
        assert_eq!(phones("", "ve4"), Some(vec!["y".into(), "ve4".into()]));
        assert_eq!(phones("", "er2"), Some(vec!["EE".into(), "er2".into()]));
        assert_eq!(phones("h", "uei4"), Some(vec!["h".into(), "ui4".into()]));
        assert_eq!(phones("sh", "i4"), Some(vec!["sh".into(), "ir4".into()]));
        assert_eq!(phones(",", ","), Some(vec![",".into()]));
        assert_eq!(phones("#", "#"), None);
        assert_eq!(phones("", ""), None);
        assert_eq!(phones("h", ""), None);
        assert_eq!(phones("b", "ong4"), None);
        Ok(())
    }
}
