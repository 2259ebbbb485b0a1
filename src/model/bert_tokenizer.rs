//! The BERT tokenizer upstream runs on normalised Chinese text before `get_bert_feature`
//! (research/upstream-v2.md §2.6; `AutoTokenizer` → `BertTokenizerFast` from `tokenizer.json`):
//! `BertNormalizer` (drop control characters, whitespace → space, a space around every CJK
//! ideograph, lowercase), `BertPreTokenizer` (split at whitespace, every punctuation character
//! its own word), WordPiece (`##` continuations, a word with no match → `[UNK]`), then
//! `[CLS] … [SEP]`. Normalised Chinese text is ideographs and punctuation only, so each character
//! is one token.
//!
//! Not reproduced (never reached by upstream's Chinese path): accent stripping of Latin letters
//! (`strip_accents` follows `lowercase`), and added-token matching of literal `[MASK]`-style
//! strings inside the text. Unicode punctuation is recognised by block ranges (ASCII, Latin-1,
//! General Punctuation, CJK Symbols, CJK compatibility and fullwidth forms) rather than the full
//! general-category table.

use std::collections::HashMap;
use std::path::Path;

use crate::checkpoint::CheckpointError;

use super::ModelError;

/// WordPiece's `max_input_chars_per_word` (the tokenizers default, also in tokenizer.json).
const MAX_INPUT_CHARS_PER_WORD: usize = 100;

/// Vocabulary and special ids of a BERT tokenizer folder.
#[derive(Debug, Clone)]
pub struct BertTokenizer {
    vocab: HashMap<String, u32>,
    lowercase: bool,
    cls: u32,
    sep: u32,
    unk: u32,
}

impl BertTokenizer {
    /// Reads `vocab.txt` (one token per line, id = line number) or, without it, the WordPiece
    /// vocabulary of `tokenizer.json`. Lower-casing follows `tokenizer.json`'s normalizer when
    /// present (default on, as for chinese-roberta-wwm-ext-large).
    pub fn from_folder(dir: &Path) -> Result<Self, ModelError> {
        let vocab_txt = dir.join("vocab.txt");
        let tok_json = dir.join("tokenizer.json");
        let json = if tok_json.is_file() { Some(read_json(&tok_json)?) } else { None };
        let vocab: HashMap<String, u32> = if vocab_txt.is_file() {
            let text = std::fs::read_to_string(&vocab_txt)
                .map_err(|e| CheckpointError::Io { path: vocab_txt.clone(), source: e })?;
            text.lines().enumerate().map(|(i, t)| (t.trim_end_matches('\r').to_string(), i as u32)).collect()
        } else if let Some(json) = &json {
            let bad = |reason: &str| CheckpointError::Config { path: tok_json.clone(), reason: reason.to_string() };
            let map = json["model"]["vocab"].as_object().ok_or_else(|| bad("no model.vocab object"))?;
            map.iter()
                .map(|(k, v)| v.as_u64().and_then(|id| u32::try_from(id).ok()).map(|id| (k.clone(), id)))
                .collect::<Option<_>>()
                .ok_or_else(|| bad("model.vocab ids must be non-negative integers"))?
        } else {
            return Err(CheckpointError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "neither vocab.txt nor tokenizer.json is here",
                ),
            }
            .into());
        };
        let lowercase = json.as_ref().and_then(|j| j["normalizer"]["lowercase"].as_bool()).unwrap_or(true);
        let special = |name: &str| {
            vocab.get(name).copied().ok_or_else(|| ModelError::Architecture {
                file: dir.to_path_buf(),
                reason: format!("the tokenizer vocabulary has no {name} token"),
            })
        };
        let (cls, sep, unk) = (special("[CLS]")?, special("[SEP]")?, special("[UNK]")?);
        Ok(BertTokenizer { vocab, lowercase, cls, sep, unk })
    }

    /// Token ids of `text` wrapped in `[CLS]` … `[SEP]` (`tokenizer(text)["input_ids"]`).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = vec![self.cls];
        for word in self.normalize(text).split(is_whitespace) {
            for piece in split_punctuation(word) {
                self.word_piece(piece, &mut ids);
            }
        }
        ids.push(self.sep);
        ids
    }

    /// `BertNormalizer(clean_text, handle_chinese_chars, lowercase)`.
    fn normalize(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 8);
        for c in text.chars() {
            if c == '\0' || c == '\u{fffd}' || is_control(c) {
                continue;
            }
            if is_whitespace(c) {
                out.push(' ');
            } else if is_chinese_char(c) {
                out.push(' ');
                out.push(c);
                out.push(' ');
            } else if self.lowercase {
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Greedy longest-match-first WordPiece of one word; `[UNK]` when any part has no match.
    fn word_piece(&self, word: &str, ids: &mut Vec<u32>) {
        if word.is_empty() {
            return;
        }
        if word.chars().count() > MAX_INPUT_CHARS_PER_WORD {
            ids.push(self.unk);
            return;
        }
        let first = ids.len();
        let mut start = 0;
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while start < end {
                let sub = &word[start..end];
                let key = if start > 0 { format!("##{sub}") } else { sub.to_string() };
                if let Some(&id) = self.vocab.get(&key) {
                    found = Some(id);
                    break;
                }
                end = word[..end].char_indices().next_back().map_or(0, |(i, _)| i);
            }
            match found {
                Some(id) => ids.push(id),
                None => {
                    ids.truncate(first);
                    ids.push(self.unk);
                    return;
                }
            }
            start = end;
        }
    }
}

fn read_json(path: &Path) -> Result<serde_json::Value, ModelError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| CheckpointError::Io { path: path.to_path_buf(), source: e })?;
    Ok(serde_json::from_str(&text)
        .map_err(|e| CheckpointError::Config { path: path.to_path_buf(), reason: e.to_string() })?)
}

/// `BertPreTokenizer`'s punctuation split: each punctuation character becomes its own piece.
fn split_punctuation(word: &str) -> impl Iterator<Item = &str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for (i, c) in word.char_indices() {
        if is_punctuation(c) {
            pieces.push(&word[start..i]);
            pieces.push(&word[i..i + c.len_utf8()]);
            start = i + c.len_utf8();
        }
    }
    pieces.push(&word[start..]);
    pieces.into_iter().filter(|p| !p.is_empty())
}

fn is_whitespace(c: char) -> bool {
    c.is_whitespace()
}

/// Control and format characters (`Cc`, common `Cf`, private use) except tab/newline/return.
fn is_control(c: char) -> bool {
    if matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    c.is_control()
        || matches!(c as u32,
            0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E
            | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF
            | 0xF0000..=0x10FFFF)
}

/// CJK ideographs as BERT defines them (`_is_chinese_char`).
fn is_chinese_char(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

/// ASCII punctuation and symbols (BERT counts all of them) plus Unicode `P*` characters of the
/// blocks Chinese text uses.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c as u32,
            0xA1 | 0xA7 | 0xAB | 0xB6 | 0xB7 | 0xBB | 0xBF
            | 0x2010..=0x2027 | 0x2030..=0x2043 | 0x2045..=0x2051 | 0x2053..=0x205E
            | 0x207D | 0x207E | 0x208D | 0x208E | 0x2308..=0x230B | 0x2329 | 0x232A
            | 0x2768..=0x2775 | 0x27C5 | 0x27C6 | 0x27E6..=0x27EF | 0x2983..=0x2998
            | 0x29D8..=0x29DB | 0x29FC | 0x29FD | 0x2E00..=0x2E2E | 0x2E30..=0x2E4F
            | 0x3001..=0x3003 | 0x3008..=0x3011 | 0x3014..=0x301F | 0x3030 | 0x303D | 0x30A0 | 0x30FB
            | 0xFE10..=0xFE19 | 0xFE30..=0xFE52 | 0xFE54..=0xFE61 | 0xFE63 | 0xFE68 | 0xFE6A | 0xFE6B
            | 0xFF01..=0xFF03 | 0xFF05..=0xFF0A | 0xFF0C..=0xFF0F | 0xFF1A | 0xFF1B | 0xFF1F | 0xFF20
            | 0xFF3B..=0xFF3D | 0xFF3F | 0xFF5B | 0xFF5D | 0xFF5F..=0xFF65)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer(tokens: &[&str]) -> BertTokenizer {
        let vocab: HashMap<String, u32> = tokens.iter().enumerate().map(|(i, t)| (t.to_string(), i as u32)).collect();
        BertTokenizer { cls: vocab["[CLS]"], sep: vocab["[SEP]"], unk: vocab["[UNK]"], vocab, lowercase: true }
    }

    #[test]
    fn chinese_punctuation_and_wordpiece() {
        let t = tokenizer(&["[PAD]", "[UNK]", "[CLS]", "[SEP]", "你", "好", ",", "…", "play", "##ing", "。"]);
        assert_eq!(t.encode("你好,…"), vec![2, 4, 5, 6, 7, 3]);
        assert_eq!(t.encode(" 你\u{200B}好。 PLAYing"), vec![2, 4, 5, 10, 8, 9, 3]);
        assert_eq!(t.encode("你吗 playx"), vec![2, 4, 1, 1, 3]);
        assert_eq!(t.encode(""), vec![2, 3]);
    }
}
