//! Compound splitting: `wordsegment` 1.3.1 `segment(text)` (Grant Jenks, after Peter Norvig's
//! "Natural Language Corpus Data"): the most probable split under a unigram/bigram model, searched
//! over 250-character chunks. The counts are the package's own `unigrams.txt` / `bigrams.txt`
//! (Apache-2.0), shipped gzipped.

use std::collections::HashMap;

use crate::text::resource::{corrupt, gunzip_text};
use crate::text::TextError;

const UNIGRAMS: &[u8] = include_bytes!("data/wordsegment_unigrams.txt.gz");
const BIGRAMS: &[u8] = include_bytes!("data/wordsegment_bigrams.txt.gz");

/// `Segmenter.TOTAL`: word count of the corpus the counts come from.
const TOTAL: f64 = 1024908267229.0;
/// `Segmenter.LIMIT`: longest word considered.
const LIMIT: usize = 24;
/// `isegment` searches this many characters at a time…
const CHUNK: usize = 250;
/// …and re-searches the last this many words together with the next chunk.
const CARRIED_WORDS: usize = 5;
/// The `previous` word of the first search.
const SENTENCE_START: &str = "<s>";

pub(super) struct WordSegmenter {
    unigrams: HashMap<Box<str>, f64>,
    bigrams: HashMap<Box<str>, f64>,
    /// `10 ** n` as Python's `float * int` rounds it, for the unknown-word score.
    powers_of_ten: Vec<f64>,
}

/// Best split of the text after some position, given the word before it.
#[derive(Clone, Copy)]
struct Best {
    score: f64,
    first_word_len: usize,
}

impl WordSegmenter {
    pub fn load() -> Result<Self, TextError> {
        let powers_of_ten = (0..=LIMIT).map(|n| format!("1e{n}").parse().unwrap_or(f64::INFINITY)).collect();
        Ok(WordSegmenter {
            unigrams: parse_counts("wordsegment unigrams.txt", UNIGRAMS)?,
            bigrams: parse_counts("wordsegment bigrams.txt", BIGRAMS)?,
            powers_of_ten,
        })
    }

    /// `wordsegment.segment(text)`.
    pub fn segment(&self, text: &str) -> Vec<String> {
        let clean = clean(text);
        let mut words = Vec::new();
        let mut carried = String::new();
        let mut offset = 0;
        while offset < clean.len() {
            let chunk_end = (offset + CHUNK).min(clean.len());
            let mut chunk_words = self.search(&format!("{carried}{}", &clean[offset..chunk_end]));
            let keep = chunk_words.len().saturating_sub(CARRIED_WORDS);
            carried = chunk_words.split_off(keep).concat();
            words.extend(chunk_words);
            offset = chunk_end;
        }
        words.extend(self.search(&carried));
        words
    }

    /// `isegment`'s inner `search(text, '<s>')`, bottom-up instead of memoized recursion.
    ///
    /// Python takes `max` over `(score, words)` tuples, so on equal scores the greater word list
    /// wins; all candidates differ in their first word and a shorter first word is a prefix of a
    /// longer one, so that is simply the candidate with the longer first word.
    fn search(&self, text: &str) -> Vec<String> {
        let n = text.len(); // ASCII after `clean`
        if n == 0 {
            return Vec::new();
        }
        let scorer = Scorer::new(self, text);
        // best[i][p]: best split of text[i..] when the previous word is text[i - p..i]
        // (p = 0 stands for the sentence start, used at i = 0 only).
        let mut best = vec![[Best { score: 0.0, first_word_len: 0 }; LIMIT + 1]; n + 1];
        let mut bigram_key = String::new();
        for i in (0..n).rev() {
            let previous_lens = if i == 0 { 0..=0 } else { 1..=i.min(LIMIT) };
            for p in previous_lens {
                let mut winner: Option<Best> = None;
                for len in 1..=(n - i).min(LIMIT) {
                    let rest = if i + len == n { 0.0 } else { best[i + len][len].score };
                    let score = scorer.score(i, len, p, &mut bigram_key).log10() + rest;
                    if winner.is_none_or(|w| score >= w.score) {
                        winner = Some(Best { score, first_word_len: len });
                    }
                }
                if let Some(winner) = winner {
                    best[i][p] = winner;
                }
            }
        }
        let mut words = Vec::new();
        let (mut i, mut p) = (0, 0);
        while i < n {
            let len = best[i][p].first_word_len.max(1);
            words.push(text[i..(i + len).min(n)].to_string());
            i += len;
            p = len;
        }
        words
    }
}

/// `Segmenter.score` over the substrings of one search text, with the unigram counts looked up
/// once per substring.
struct Scorer<'a> {
    model: &'a WordSegmenter,
    text: &'a str,
    /// unigrams[i][len - 1]: count of text[i..i + len].
    unigrams: Vec<[Option<f64>; LIMIT]>,
    sentence_start: Option<f64>,
}

impl<'a> Scorer<'a> {
    fn new(model: &'a WordSegmenter, text: &'a str) -> Self {
        let unigrams = (0..text.len())
            .map(|i| {
                let mut counts = [None; LIMIT];
                for (len, count) in counts.iter_mut().enumerate().take(text.len() - i) {
                    *count = model.unigrams.get(&text[i..=i + len]).copied();
                }
                counts
            })
            .collect();
        Scorer { model, text, unigrams, sentence_start: model.unigrams.get(SENTENCE_START).copied() }
    }

    fn unigram(&self, start: usize, len: usize) -> Option<f64> {
        self.unigrams.get(start).and_then(|counts| counts.get(len.wrapping_sub(1))).copied().flatten()
    }

    /// `score(text[i..i + len], previous)` where `previous` is text[i - p..i], or `'<s>'` for p = 0.
    fn score(&self, i: usize, len: usize, p: usize, bigram_key: &mut String) -> f64 {
        let word = &self.text[i..i + len];
        let (previous, previous_count) = match p {
            0 => (SENTENCE_START, self.sentence_start),
            _ => (&self.text[i - p..i], self.unigram(i - p, p)),
        };
        // bigram known and previous word known: P(word | previous)
        if let Some(previous_count) = previous_count {
            bigram_key.clear();
            bigram_key.push_str(previous);
            bigram_key.push(' ');
            bigram_key.push_str(word);
            if let Some(&count) = self.model.bigrams.get(bigram_key.as_str()) {
                return count / TOTAL / (previous_count / TOTAL);
            }
        }
        match self.unigram(i, len) {
            Some(count) => count / TOTAL,
            // unknown word: the longer, the less likely
            None => 10.0 / (TOTAL * self.model.powers_of_ten.get(len).copied().unwrap_or(f64::INFINITY)),
        }
    }
}

/// `Segmenter.clean`: lower-case, keep only `a-z0-9`.
fn clean(text: &str) -> String {
    text.to_lowercase().chars().filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit()).collect()
}

/// `Segmenter.parse`: `word<TAB>count` lines; a repeated word keeps its last count.
fn parse_counts(what: &'static str, gz: &[u8]) -> Result<HashMap<Box<str>, f64>, TextError> {
    let text = gunzip_text(what, gz)?;
    let mut counts = HashMap::with_capacity(350_000);
    for line in text.lines() {
        let parsed = line.split_once('\t').and_then(|(word, count)| Some((word, count.trim().parse::<f64>().ok()?)));
        let (word, count) = parsed.ok_or_else(|| corrupt(what, format!("bad line {line:?}")))?;
        counts.insert(Box::from(word), count);
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected splits from wordsegment 1.3.1.
    #[test]
    fn splits_like_wordsegment() {
        let segmenter = WordSegmenter::load().unwrap();
        let seg = |s: &str| segmenter.segment(s);
        assert_eq!(seg("thisisatest"), ["this", "is", "a", "test"]);
        assert_eq!(seg("conda"), ["cond", "a"]);
        assert_eq!(seg("Ninety-Nine"), ["ninety", "nine"]);
        assert_eq!(seg(""), Vec::<String>::new());
        assert_eq!(seg("-'"), Vec::<String>::new());
    }

    #[test]
    fn clean_keeps_ascii_alphanumerics() {
        assert_eq!(clean("Self-Driving 2 Cars!"), "selfdriving2cars");
        assert_eq!(clean("\u{212A}é"), "k");
    }
}
