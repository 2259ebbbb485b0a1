//! BudouX phrase chunking (budoux 0.10.1, `budoux/parser.py::Parser.parse`), which split-lang uses
//! to cut Chinese/Japanese runs into phrases before it labels them. The two default models ship in
//! `data/` unchanged (see `data/README.md`).

use std::collections::HashMap;
use std::sync::OnceLock;

/// The feature groups of a BudouX model, in the order `parse` adds them: six unigram windows
/// (`UW1`–`UW6`), three bigram (`BW1`–`BW3`) and four trigram (`TW1`–`TW4`) windows.
const GROUPS: [&str; 13] = ["UW1", "UW2", "UW3", "UW4", "UW5", "UW6", "BW1", "BW2", "BW3", "TW1", "TW2", "TW3", "TW4"];

/// One BudouX model: per feature group, n-gram → score.
pub(super) struct Model {
    groups: Vec<HashMap<u64, i64>>,
    /// Sum of every score in the model; upstream's base score is minus half of it.
    total: i64,
}

/// Packs up to three characters into one key (n is fixed per group, so keys cannot collide).
fn key(chars: &[char]) -> u64 {
    chars.iter().fold(0u64, |k, &c| k * 0x11_0000 + u64::from(c))
}

impl Model {
    /// Parses a BudouX JSON model. A malformed file (a build defect: the embedded models are
    /// checked by the unit tests) gives an empty model, i.e. no phrase breaks.
    fn from_json(json: &str) -> Self {
        let parsed: HashMap<String, HashMap<String, i64>> = serde_json::from_str(json).unwrap_or_default();
        let mut total = 0;
        let groups = GROUPS
            .iter()
            .map(|name| {
                let table = parsed.get(*name);
                table
                    .into_iter()
                    .flatten()
                    .map(|(ngram, &score)| {
                        total += score;
                        (key(&ngram.chars().collect::<Vec<_>>()), score)
                    })
                    .collect()
            })
            .collect();
        Self { groups, total }
    }

    /// The default Japanese model (`models/ja.json`).
    pub(super) fn japanese() -> &'static Self {
        static MODEL: OnceLock<Model> = OnceLock::new();
        MODEL.get_or_init(|| Self::from_json(include_str!("data/budoux-ja.json")))
    }

    /// The default Simplified Chinese model (`models/zh-hans.json`).
    pub(super) fn simplified_chinese() -> &'static Self {
        static MODEL: OnceLock<Model> = OnceLock::new();
        MODEL.get_or_init(|| Self::from_json(include_str!("data/budoux-zh-hans.json")))
    }

    fn score(&self, group: usize, ngram: &[char]) -> i64 {
        self.groups.get(group).and_then(|g| g.get(&key(ngram))).copied().unwrap_or(0)
    }

    /// Mirrors `Parser.parse`: a new chunk starts before character `i` when
    /// `base + Σ feature scores > 0`, with `base = -total / 2` (compared here as `2·Σ > total`).
    pub(super) fn parse(&self, sentence: &str) -> Vec<String> {
        let s: Vec<char> = sentence.chars().collect();
        let n = s.len();
        let mut chunks: Vec<String> = Vec::new();
        let Some(&first) = s.first() else {
            return chunks;
        };
        chunks.push(first.to_string());
        for i in 1..n {
            // The character window at `offset` from `i`, when it lies inside the sentence; these
            // are exactly upstream's `if i > 2` / `if i + 1 < len(sentence)` guards.
            let window = |offset: isize, len: usize| {
                let start = i.checked_add_signed(offset)?;
                s.get(start..start.checked_add(len)?)
            };
            let windows = [
                window(-3, 1),
                window(-2, 1),
                window(-1, 1),
                window(0, 1),
                window(1, 1),
                window(2, 1),
                window(-2, 2),
                window(-1, 2),
                window(0, 2),
                window(-3, 3),
                window(-2, 3),
                window(-1, 3),
                window(0, 3),
            ];
            let sum: i64 =
                windows.iter().enumerate().filter_map(|(group, w)| w.map(|ngram| self.score(group, ngram))).sum();
            match chunks.last_mut() {
                Some(last) if 2 * sum <= self.total => last.push(s[i]),
                _ => chunks.push(s[i].to_string()),
            }
        }
        chunks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_models_parse() {
        for (model, entries) in [(Model::japanese(), 2850), (Model::simplified_chinese(), 5626)] {
            assert_eq!(model.groups.iter().map(HashMap::len).sum::<usize>(), entries);
        }
        assert_eq!(Model::japanese().total, 484);
        assert_eq!(Model::simplified_chinese().total, 249);
    }

    #[test]
    fn japanese_phrases() {
        // Reference output of budoux 0.10.1.
        let got = Model::japanese().parse("今日は天気です。");
        assert_eq!(got, ["今日は", "天気です。"]);
        assert!(Model::japanese().parse("").is_empty());
    }
}
