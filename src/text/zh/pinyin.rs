//! `pypinyin.lazy_pinyin(word, style=INITIALS / FINALS_TONE3, neutral_tone_with_five=True)`
//! (pypinyin 0.55.0, strict mode): split the text into Han / non-Han runs, cut Han runs with
//! pypinyin's forward maximum matching over its phrase dictionary, read each phrase from the
//! phrase dictionary and every other char from its first single-char reading.
//!
//! The style conversion of a reading is a pure function of the toned syllable, so the data file
//! stores each distinct syllable already split into (initial, final+tone) by pypinyin itself.

use std::collections::HashMap;

use crate::text::resource::{corrupt, gunzip_text, parse_field};
use crate::text::zh::char_str::{class_runs, CharStr};
use crate::text::TextError;

const WHAT: &str = "pypinyin.txt.gz";
static PINYIN_GZ: &[u8] = include_bytes!("data/pypinyin.txt.gz");

/// One item of `lazy_pinyin`'s output with the number of input chars it covers.
///
/// A Han char gives its initial and tone-numbered final (`zh` + `ong1`; the initial may be
/// empty; both are empty for a Han char pypinyin has no reading for). A non-Han run is echoed
/// unchanged in both styles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PinyinUnit {
    pub(super) initial: String,
    pub(super) final_: String,
    pub(super) chars: usize,
}

/// A phrase: its byte range in `phrase_text` and its first syllable in `phrase_syllables`.
struct Phrase {
    start: u32,
    len: u32,
    first_syllable: u32,
}

pub(super) struct PinyinDict {
    /// Distinct syllables as (initial, final with tone digit).
    syllables: Vec<(String, String)>,
    /// `PINYIN_DICT`: first reading of each char.
    chars: HashMap<char, u16>,
    /// All phrases, concatenated; `phrases` point into it.
    phrase_text: String,
    /// `PHRASES_DICT`, sorted by UTF-8 bytes so prefixes are contiguous.
    phrases: Vec<Phrase>,
    /// One syllable per char of each phrase (first reading).
    phrase_syllables: Vec<u16>,
}

/// `RE_HANS` of `pypinyin.constants`: the chars pypinyin considers Han (its ranges that lie
/// inside U+30000..=U+3134A are folded into that one).
fn is_pypinyin_han(c: char) -> bool {
    matches!(c,
        '\u{3007}' | '\u{E815}'..='\u{E864}' | '\u{FA18}' | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{2A6DF}' | '\u{2A703}'..='\u{2B73F}'
        | '\u{2B740}'..='\u{2B81D}' | '\u{2B825}'..='\u{2BF6E}' | '\u{2C029}'..='\u{2CE93}' | '\u{2D016}'
        | '\u{2D11B}'..='\u{2EBD9}' | '\u{2F80A}'..='\u{2FA1F}' | '\u{30000}'..='\u{3134A}'
        | '\u{31350}'..='\u{32389}')
}

/// Whether a phrase-dictionary lookup found a phrase, a proper prefix of one, or nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PhraseLookup {
    Absent,
    Prefix,
    Phrase(usize),
}

impl PinyinDict {
    /// Parses the generated file: `syllables N` + N lines `initial<TAB>final`, `chars N` + N
    /// lines `char<TAB>syllable`, `phrases N` + N sorted lines `phrase<TAB>syllable ...`.
    pub(super) fn load() -> Result<Self, TextError> {
        let text = gunzip_text(WHAT, PINYIN_GZ)?;
        let mut lines = text.lines();
        let count = section_len(lines.next(), "syllables ")?;
        let mut syllables = Vec::with_capacity(count);
        for line in lines.by_ref().take(count) {
            let (initial, final_) = line.split_once('\t').ok_or_else(|| corrupt(WHAT, format!("bad line {line:?}")))?;
            syllables.push((initial.to_string(), final_.to_string()));
        }
        let check_syllable = |id: u16, line: &str| {
            if usize::from(id) < syllables.len() {
                Ok(id)
            } else {
                Err(corrupt(WHAT, format!("syllable out of range in {line:?}")))
            }
        };
        let count = section_len(lines.next(), "chars ")?;
        let mut chars = HashMap::with_capacity(count);
        for line in lines.by_ref().take(count) {
            let mut fields = line.split('\t');
            let ch = fields.next().and_then(|f| f.chars().next()).ok_or_else(|| corrupt(WHAT, "empty line"))?;
            chars.insert(ch, check_syllable(parse_field(WHAT, fields.next(), line)?, line)?);
        }
        let count = section_len(lines.next(), "phrases ")?;
        let mut phrase_text = String::new();
        let mut phrases = Vec::with_capacity(count);
        let mut phrase_syllables = Vec::with_capacity(count * 3);
        for line in lines.by_ref().take(count) {
            let (phrase, ids) = line.split_once('\t').ok_or_else(|| corrupt(WHAT, format!("bad line {line:?}")))?;
            let first_syllable = phrase_syllables.len() as u32;
            for id in ids.split(' ') {
                phrase_syllables.push(check_syllable(parse_field(WHAT, Some(id), line)?, line)?);
            }
            if phrase_syllables.len() - first_syllable as usize != phrase.chars().count() {
                return Err(corrupt(WHAT, format!("reading count differs from length in {line:?}")));
            }
            phrases.push(Phrase { start: phrase_text.len() as u32, len: phrase.len() as u32, first_syllable });
            phrase_text.push_str(phrase);
        }
        let dict = Self { syllables, chars, phrase_text, phrases, phrase_syllables };
        if dict.phrases.len() != count || dict.phrases.windows(2).any(|w| dict.phrase(&w[0]) >= dict.phrase(&w[1])) {
            return Err(corrupt(WHAT, "phrases truncated or unsorted"));
        }
        Ok(dict)
    }

    fn phrase(&self, phrase: &Phrase) -> &str {
        let start = phrase.start as usize;
        &self.phrase_text[start..start + phrase.len as usize]
    }

    fn lookup(&self, frag: &str) -> PhraseLookup {
        let at = self.phrases.partition_point(|p| self.phrase(p) < frag);
        match self.phrases.get(at).map(|p| self.phrase(p)) {
            Some(phrase) if phrase == frag => PhraseLookup::Phrase(at),
            Some(phrase) if phrase.starts_with(frag) => PhraseLookup::Prefix,
            _ => PhraseLookup::Absent,
        }
    }

    /// `lazy_pinyin(text, ...)`, one unit per Han char and one per non-Han run.
    pub(super) fn lazy_pinyin(&self, text: &str) -> Vec<PinyinUnit> {
        let mut units = Vec::new();
        for (run, is_han) in class_runs(text, is_pypinyin_han) {
            if is_han {
                for piece in self.mmseg(run) {
                    self.read_han_piece(piece, &mut units);
                }
            } else {
                let (initial, final_) = (run.to_string(), run.to_string());
                units.push(PinyinUnit { initial, final_, chars: run.chars().count() });
            }
        }
        units
    }

    /// `DefaultConverter._phrase_pinyin`: the phrase reading if the piece is a phrase, else
    /// each char's first reading (a Han char without one reads as empty initial and final).
    fn read_han_piece(&self, piece: &str, units: &mut Vec<PinyinUnit>) {
        let unit = |id: u16| {
            let (initial, final_) = &self.syllables[usize::from(id)];
            PinyinUnit { initial: initial.clone(), final_: final_.clone(), chars: 1 }
        };
        if let PhraseLookup::Phrase(at) = self.lookup(piece) {
            let first = self.phrases[at].first_syllable as usize;
            let ids = &self.phrase_syllables[first..first + piece.chars().count()];
            units.extend(ids.iter().map(|&id| unit(id)));
            return;
        }
        for c in piece.chars() {
            match self.chars.get(&c) {
                Some(&id) => units.push(unit(id)),
                // Echoed by `handle_nopinyin`, then emptied by the style conversion.
                None => units.push(PinyinUnit { initial: String::new(), final_: String::new(), chars: 1 }),
            }
        }
    }

    /// `pypinyin.seg.mmseg.Seg.cut` with `no_non_phrases=True`: forward maximum matching where
    /// only dictionary phrases (or single chars) are emitted.
    fn mmseg<'a>(&self, text: &'a str) -> Vec<&'a str> {
        let chars = CharStr::new(text);
        let n = chars.len();
        let mut pieces = Vec::new();
        let mut pos = 0;
        while pos < n {
            let mut last_valid_end: Option<usize> = None;
            let mut all_prefixes = true;
            for end in pos + 1..=n {
                match self.lookup(chars.slice(pos, end)) {
                    PhraseLookup::Absent => {
                        all_prefixes = false;
                        break;
                    }
                    PhraseLookup::Phrase(_) => last_valid_end = Some(end),
                    PhraseLookup::Prefix => {}
                }
            }
            match last_valid_end {
                Some(end) => {
                    pieces.push(chars.slice(pos, end));
                    pos = end;
                }
                None if all_prefixes => {
                    // The whole remainder is a prefix but no phrase: upstream splits it into chars.
                    pieces.extend((pos..n).map(|i| chars.slice(i, i + 1)));
                    pos = n;
                }
                None => {
                    pieces.push(chars.slice(pos, pos + 1));
                    pos += 1;
                }
            }
        }
        pieces
    }
}

fn section_len(header: Option<&str>, name: &str) -> Result<usize, TextError> {
    let header = header.unwrap_or_default();
    parse_field(WHAT, header.strip_prefix(name), header)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(dict: &PinyinDict, text: &str) -> Vec<String> {
        dict.lazy_pinyin(text).into_iter().map(|u| format!("{}|{}", u.initial, u.final_)).collect()
    }

    #[test]
    fn phrase_readings_and_non_han_runs() -> Result<(), TextError> {
        let dict = PinyinDict::load()?;
        assert_eq!(render(&dict, "衣裳"), ["|i1", "sh|ang5"]);
        assert_eq!(render(&dict, "中心,."), ["zh|ong1", "x|in1", ",.|,."]);
        assert!(dict.lazy_pinyin("").is_empty());
        Ok(())
    }
}
