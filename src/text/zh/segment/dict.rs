//! jieba's prefix dictionary (`dict.txt`: word, frequency, POS tag) and the maximum-probability
//! route through the word DAG of a sentence.

use std::collections::HashMap;

use crate::text::resource::{corrupt, gunzip_text, parse_field};
use crate::text::zh::char_str::CharStr;
use crate::text::TextError;

const WHAT: &str = "jieba_dict.txt.gz";
static DICT_GZ: &[u8] = include_bytes!("../data/jieba_dict.txt.gz");

/// One dictionary word: a byte range of `PrefixDict::words` plus its frequency and tag.
struct Entry {
    start: u32,
    len: u32,
    freq: u64,
    tag: u16,
}

/// What `Tokenizer.FREQ` knows about a fragment: jieba stores every prefix of every word with
/// frequency 0, so "absent", "prefix only" and "word" are distinct answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lookup {
    Absent,
    Prefix,
    Word(usize),
}

/// The two route implementations in jieba_fast differ in how they break ties and cap the DAG.
#[derive(Clone, Copy)]
pub(super) enum RouteFlavor {
    /// `Tokenizer.get_DAG` + `Tokenizer.calc` in Python (used by `posseg`): no cap; Python's
    /// `max((prob, x))` prefers the longer word on equal probability.
    Python,
    /// `_jieba_fast_functions._get_DAG_and_calc` in C (used by `Tokenizer.cut`): at most 12
    /// candidates per position; a strict `>` keeps the shorter word on equal probability.
    NativeC,
}

/// The C route keeps at most this many DAG candidates per start position.
const NATIVE_DAG_CAP: usize = 12;

pub(super) struct PrefixDict {
    /// All words, concatenated; entries point into it.
    words: String,
    /// Sorted by the word's UTF-8 bytes (== code point order) so prefixes are contiguous.
    entries: Vec<Entry>,
    tags: Vec<String>,
    log_total: f64,
}

impl PrefixDict {
    /// Parses the generated file: a `total N` header, then sorted `word freq tag` lines.
    pub(super) fn load() -> Result<Self, TextError> {
        let text = gunzip_text(WHAT, DICT_GZ)?;
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let total: u64 = parse_field(WHAT, header.strip_prefix("total "), header)?;
        let mut entries = Vec::with_capacity(360_000);
        let mut tags: Vec<String> = Vec::new();
        let mut tag_ids: HashMap<String, u16> = HashMap::new();
        let mut words = String::with_capacity(text.len() / 2);
        for line in lines {
            let mut fields = line.split(' ');
            let word = fields.next().unwrap_or_default();
            let freq: u64 = parse_field(WHAT, fields.next(), line)?;
            let tag = fields.next().ok_or_else(|| corrupt(WHAT, format!("no tag in {line:?}")))?;
            let tag_id = match tag_ids.get(tag) {
                Some(&id) => id,
                None => {
                    let id = tags.len() as u16;
                    tags.push(tag.to_string());
                    tag_ids.insert(tag.to_string(), id);
                    id
                }
            };
            entries.push(Entry { start: words.len() as u32, len: word.len() as u32, freq, tag: tag_id });
            words.push_str(word);
        }
        let dict = Self { log_total: (total as f64).ln(), words, entries, tags };
        let sorted = dict.entries.windows(2).all(|w| dict.word(&w[0]) < dict.word(&w[1]));
        if dict.entries.is_empty() || !sorted {
            return Err(corrupt(WHAT, "entries are not strictly sorted"));
        }
        Ok(dict)
    }

    fn word(&self, entry: &Entry) -> &str {
        let start = entry.start as usize;
        &self.words[start..start + entry.len as usize]
    }

    /// Mirrors `frag in FREQ` / `FREQ[frag]` of jieba's prefix dictionary.
    fn lookup(&self, frag: &str) -> Lookup {
        let at = self.entries.partition_point(|e| self.word(e) < frag);
        match self.entries.get(at).map(|e| self.word(e)) {
            Some(word) if word == frag => Lookup::Word(at),
            Some(word) if word.starts_with(frag) => Lookup::Prefix,
            _ => Lookup::Absent,
        }
    }

    /// `FREQ.get(frag)` with prefixes and unknown words reading 0.
    pub(super) fn freq(&self, frag: &str) -> u64 {
        match self.lookup(frag) {
            Lookup::Word(at) => self.entries[at].freq,
            _ => 0,
        }
    }

    /// `word_tag_tab.get(word)` of `posseg`.
    pub(super) fn tag(&self, word: &str) -> Option<&str> {
        match self.lookup(word) {
            Lookup::Word(at) => self.tags.get(self.entries[at].tag as usize).map(String::as_str),
            _ => None,
        }
    }

    /// For every char position, the end (inclusive char index) of the word the best route
    /// takes from there; mirrors `get_DAG` + `calc`.
    pub(super) fn best_route(&self, sentence: &CharStr, flavor: RouteFlavor) -> Vec<usize> {
        let n = sentence.len();
        let dag: Vec<Vec<usize>> = (0..n).map(|k| self.dag_at(sentence, k, flavor)).collect();
        let mut best_prob = vec![0.0_f64; n + 1];
        let mut route = vec![0_usize; n];
        for idx in (0..n).rev() {
            // The C code starts from INT_MIN and only accepts strictly larger scores.
            let mut best: Option<(f64, usize)> = match flavor {
                RouteFlavor::Python => None,
                RouteFlavor::NativeC => Some((f64::from(i32::MIN), idx)),
            };
            for &x in &dag[idx] {
                let freq = self.freq(sentence.slice(idx, x + 1)).max(1);
                let prob = (freq as f64).ln() - self.log_total + best_prob[x + 1];
                let better = match (best, flavor) {
                    (None, _) => true,
                    (Some((p, bx)), RouteFlavor::Python) => prob > p || (prob == p && x > bx),
                    (Some((p, _)), RouteFlavor::NativeC) => prob > p,
                };
                if better {
                    best = Some((prob, x));
                }
            }
            let (prob, x) = best.unwrap_or((0.0, idx));
            best_prob[idx] = prob;
            route[idx] = x;
        }
        route
    }

    /// The DAG row of position `k`: the ends of all dictionary words starting there, or `k`.
    fn dag_at(&self, sentence: &CharStr, k: usize, flavor: RouteFlavor) -> Vec<usize> {
        let cap = match flavor {
            RouteFlavor::Python => usize::MAX,
            RouteFlavor::NativeC => NATIVE_DAG_CAP,
        };
        let mut ends = Vec::new();
        let mut i = k;
        while i < sentence.len() && ends.len() < cap {
            match self.lookup(sentence.slice(k, i + 1)) {
                Lookup::Absent => break,
                Lookup::Word(at) if self.entries[at].freq > 0 => ends.push(i),
                _ => {}
            }
            i += 1;
        }
        if ends.is_empty() {
            ends.push(k);
        }
        ends
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_distinguishes_prefixes_and_words() -> Result<(), TextError> {
        let dict = PrefixDict::load()?;
        assert!(matches!(dict.lookup("中华人民共和国"), Lookup::Word(_)));
        assert_eq!(dict.lookup("中华人民共和"), Lookup::Prefix);
        assert_eq!(dict.lookup("\u{1F600}"), Lookup::Absent);
        assert_eq!(dict.tag("我们"), Some("r"));
        assert!(dict.freq("我们") > 0);
        Ok(())
    }
}
