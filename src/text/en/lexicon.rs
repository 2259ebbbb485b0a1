//! Pronunciation dictionaries of upstream `english.py`: the CMU lexicon built by `get_dict`
//! (`read_dict_new` over `cmudict.rep` + `cmudict-fast.rep`, then `hot_reload_hot` with
//! `engdict-hot.rep`, then the six deletions in `en_G2p.__init__`), the name dictionary
//! (`namedict_cache.pickle`, shipped as TSV) and g2p_en's homograph table with upstream's two fixes.

use std::collections::HashMap;

use super::pystr;
use crate::text::resource::{corrupt, gunzip_text};
use crate::text::TextError;

const CMUDICT: &[u8] = include_bytes!("data/cmudict.rep.gz");
const CMUDICT_FAST: &[u8] = include_bytes!("data/cmudict-fast.rep.gz");
const HOT_DICT: &str = include_str!("data/engdict-hot.rep");
const NAME_DICT: &[u8] = include_bytes!("data/namedict.tsv.gz");
const HOMOGRAPHS: &str = include_str!("data/homographs.en");

/// `read_dict_new` skips the licence header: data starts on this (1-based) line of `cmudict.rep`.
const CMUDICT_FIRST_LINE: usize = 57;

/// Abbreviations whose dictionary readings upstream deletes (`en_G2p.__init__`).
const DELETED_WORDS: [&str; 6] = ["AE", "AI", "AR", "IOS", "HUD", "OS"];

/// One pronunciation: ARPAbet phones as the dictionary spells them, separated by single spaces
/// (a few entries carry odd tokens such as `#` or an empty string; the final symbol filter drops
/// those, as upstream). Kept as one string because the lexicon has ~1M phones; an empty string
/// means no phones (Python's `[]`; no entry is `[""]`, which would read the same).
pub(super) struct Pronunciation(Box<str>);

impl Pronunciation {
    /// From phones already joined by single spaces (`"HH AH0 L OW1"`).
    fn from_spaced(phones: &str) -> Self {
        Pronunciation(phones.into())
    }

    /// The phones (none for an empty pronunciation).
    pub fn phones(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ').filter(|_| !self.0.is_empty())
    }
}

/// A g2p_en homograph: `reading_if_pos` when the POS tag matches `pos`, else `reading_otherwise`.
pub(super) struct Homograph {
    pub reading_if_pos: Pronunciation,
    pub reading_otherwise: Pronunciation,
    pub pos: Box<str>,
}

pub(super) struct Lexicon {
    cmu: HashMap<String, Pronunciation>,
    names: HashMap<String, Pronunciation>,
    homographs: HashMap<String, Homograph>,
}

impl Lexicon {
    pub fn load() -> Result<Self, TextError> {
        Ok(Lexicon { cmu: load_cmu()?, names: load_names()?, homographs: load_homographs()? })
    }

    /// `self.cmu[word][0]`.
    pub fn cmu(&self, word: &str) -> Option<&Pronunciation> {
        self.cmu.get(word)
    }

    /// `self.namedict[word][0]`.
    pub fn name(&self, word: &str) -> Option<&Pronunciation> {
        self.names.get(word)
    }

    pub fn homograph(&self, word: &str) -> Option<&Homograph> {
        self.homographs.get(word)
    }

    pub fn is_homograph(&self, word: &str) -> bool {
        self.homographs.contains_key(word)
    }
}

/// `get_dict()` minus the deleted abbreviations.
fn load_cmu() -> Result<HashMap<String, Pronunciation>, TextError> {
    const WHAT: &str = "cmudict.rep";
    let mut dict = HashMap::with_capacity(150_000);
    // cmudict.rep: `WORD  PH PH …` (two spaces); later duplicates replace earlier ones.
    for line in gunzip_text(WHAT, CMUDICT)?.lines().skip(CMUDICT_FIRST_LINE - 1) {
        let mut fields = pystr::strip(line).split("  ");
        let word = fields.next().unwrap_or_default().to_lowercase();
        let phones = fields.next().ok_or_else(|| corrupt(WHAT, format!("line without phones: {line:?}")))?;
        dict.insert(word, Pronunciation::from_spaced(phones));
    }
    // cmudict-fast.rep: `WORD PH PH …` (one space); only words the main file lacks.
    let mut word = String::new();
    for line in gunzip_text("cmudict-fast.rep", CMUDICT_FAST)?.lines() {
        let (head, phones) = split_word(line);
        lowercase_into(head, &mut word);
        if !dict.contains_key(&word) {
            dict.insert(word.clone(), Pronunciation::from_spaced(phones));
        }
    }
    // engdict-hot.rep: same layout, overrides.
    for line in HOT_DICT.lines() {
        let (head, phones) = split_word(line);
        dict.insert(head.to_lowercase(), Pronunciation::from_spaced(phones));
    }
    for word in DELETED_WORDS {
        dict.remove(&word.to_lowercase()).ok_or_else(|| corrupt(WHAT, format!("{word} missing")))?;
    }
    Ok(dict)
}

/// `line.strip().split(" ")` as `(word_split[0], " ".join(word_split[1:]))`.
fn split_word(line: &str) -> (&str, &str) {
    let line = pystr::strip(line);
    line.split_once(' ').unwrap_or((line, ""))
}

/// `word.lower()` into a reused buffer (most dictionary words are ASCII).
fn lowercase_into(word: &str, out: &mut String) {
    out.clear();
    if word.is_ascii() {
        out.push_str(word);
        out.make_ascii_lowercase();
    } else {
        out.push_str(&word.to_lowercase());
    }
}

/// `namedict.tsv`: `word<TAB>PH PH …`, lower-case words (converted from `namedict_cache.pickle`).
fn load_names() -> Result<HashMap<String, Pronunciation>, TextError> {
    const WHAT: &str = "namedict.tsv";
    gunzip_text(WHAT, NAME_DICT)?
        .lines()
        .map(|line| {
            let (word, phones) = line.split_once('\t').ok_or_else(|| corrupt(WHAT, format!("bad line {line:?}")))?;
            Ok((word.to_string(), Pronunciation::from_spaced(phones)))
        })
        .collect()
}

/// g2p_en `construct_homograph_dictionary` (`HEADWORD|PRON1|PRON2|POS`, `#` comments), then the
/// corrected entries for "read" and "complex" from `en_G2p.__init__`.
fn load_homographs() -> Result<HashMap<String, Homograph>, TextError> {
    const WHAT: &str = "homographs.en";
    let mut table = HashMap::new();
    for line in HOMOGRAPHS.lines().filter(|line| !line.starts_with('#')) {
        let fields: Vec<&str> = pystr::strip(line).split('|').collect();
        let [headword, pron1, pron2, pos] = fields[..] else {
            return Err(corrupt(WHAT, format!("bad line {line:?}")));
        };
        table.insert(headword.to_lowercase(), homograph(pron1, pron2, pos));
    }
    table.insert("read".to_string(), homograph("R IY1 D", "R EH1 D", "VBP"));
    table.insert("complex".to_string(), homograph("K AH0 M P L EH1 K S", "K AA1 M P L EH0 K S", "JJ"));
    Ok(table)
}

fn homograph(pron1: &str, pron2: &str, pos: &str) -> Homograph {
    let phones = |pron: &str| Pronunciation::from_spaced(&pron.split_whitespace().collect::<Vec<_>>().join(" "));
    Homograph { reading_if_pos: phones(pron1), reading_otherwise: phones(pron2), pos: pos.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phones(p: Option<&Pronunciation>) -> Option<String> {
        p.map(|p| p.phones().collect::<Vec<_>>().join(" "))
    }

    #[test]
    fn merge_order_and_deletions() {
        let lexicon = Lexicon::load().unwrap();
        // cmudict.rep wins over cmudict-fast.rep; the hot dictionary wins over both.
        assert_eq!(phones(lexicon.cmu("hello")).as_deref(), Some("HH AH0 L OW1"));
        assert_eq!(phones(lexicon.cmu("chatgpt")).as_deref(), Some("CH AE1 T JH IY1 P IY1 T IY1"));
        assert_eq!(phones(lexicon.cmu("conda")).as_deref(), Some("K AA1 N D AH0"));
        for word in ["ae", "ai", "ar", "ios", "hud", "os"] {
            assert!(lexicon.cmu(word).is_none(), "{word}");
        }
        assert_eq!(phones(lexicon.cmu("a")).as_deref(), Some("AH0"));
        assert_eq!(phones(lexicon.name("aadi")).as_deref(), Some("AA1 D IY0"));
        let read = lexicon.homograph("read").unwrap();
        assert_eq!(&*read.pos, "VBP");
        assert!(lexicon.is_homograph("record") && !lexicon.is_homograph("hello"));
    }
}
