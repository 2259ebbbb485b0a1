//! From NJD words to phonemes with prosody marks. The mora / word / accent-phrase structure mirrors
//! Open JTalk's `JPCommonLabel_push_word` (`jpcommon_label.c`, reached through `njd2jpcommon`); the
//! label fields it would print (phoneme, A1–A3, F1) are read off that structure directly and turned into
//! marks exactly as `japanese.py::pyopenjtalk_g2p_prosody` (ESPnet's rules) does with the label text.

use super::njd::Njd;
use super::rules::mora::MORA_LIST;

const SHORT_PAUSE_PRON: &str = "、";
const QUESTION_PRON: &str = "？";
const LONG_VOWEL: &str = "ー";
const UNVOICE_MARK: &str = "’";
const PAUSE: &str = "pau";
/// `MAX_M` in `jpcommon_label.c`: label fields are clamped to this many moras.
const MAX_MORAS: i64 = 49;
/// `_numeric_feature_by_regex` returns -50 for a field printed as `xx`.
const MISSING: i64 = -50;

struct Phoneme {
    text: String,
    /// `None` for a short pause.
    mora: Option<usize>,
}

struct Mora {
    word: usize,
}

struct Word {
    head_mora: usize,
    tail_mora: usize,
    accent_phrase: Option<usize>,
}

struct AccentPhrase {
    accent: i64,
    head_word: usize,
    tail_word: usize,
}

#[derive(Default)]
struct Utterance {
    phonemes: Vec<Phoneme>,
    moras: Vec<Mora>,
    words: Vec<Word>,
    accent_phrases: Vec<AccentPhrase>,
    short_pause_pending: bool,
}

/// The mora at the start of `pron` (first match in Open JTalk's list) as (length, consonant, vowel).
fn mora_at(pron: &str) -> Option<(usize, &'static str, &'static str)> {
    MORA_LIST.chunks_exact(3).find(|row| pron.starts_with(row[0])).map(|row| (row[0].len(), row[1], row[2]))
}

/// `jpcommon_unvoice_list`.
fn unvoiced(phoneme: &str) -> Option<&'static str> {
    match phoneme {
        "a" => Some("A"),
        "i" => Some("I"),
        "u" => Some("U"),
        "e" => Some("E"),
        "o" => Some("O"),
        _ => None,
    }
}

impl Utterance {
    /// `JPCommonLabel_insert_pause`: a pending short pause is emitted before the next phoneme (a pause
    /// before the first phoneme is dropped).
    fn insert_pause(&mut self) {
        if self.short_pause_pending {
            if !self.phonemes.is_empty() {
                self.phonemes.push(Phoneme { text: PAUSE.to_string(), mora: None });
            }
            self.short_pause_pending = false;
        }
    }

    fn push_phoneme(&mut self, text: &str, mora: usize) {
        self.insert_pause();
        self.phonemes.push(Phoneme { text: text.to_string(), mora: Some(mora) });
    }

    fn push_mora(&mut self, word: usize) -> usize {
        self.moras.push(Mora { word });
        let mora = self.moras.len() - 1;
        if let Some(w) = self.words.get_mut(word) {
            w.tail_mora = mora;
        }
        mora
    }

    /// `JPCommonLabel_push_word`.
    fn push_word(&mut self, pron: &str, acc: i32, chain_flag: i32) {
        if pron == SHORT_PAUSE_PRON || pron == QUESTION_PRON {
            // A question mark only sets the interrogative flag, which the prosody marks never read.
            self.short_pause_pending = true;
            return;
        }
        let mut created_word = false;
        let mut rest = pron;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix(LONG_VOWEL) {
                let previous = self.phonemes.last().map(|p| (p.text.clone(), p.mora));
                if let (Some((text, _)), false) = (previous, self.short_pause_pending) {
                    let word = self.moras.last().map_or(0, |m| m.word);
                    let mora = self.push_mora(word);
                    self.push_phoneme(&text, mora);
                }
                rest = after;
            } else if let Some(after) = rest.strip_prefix(UNVOICE_MARK) {
                if created_word {
                    if let Some(last) = self.phonemes.last_mut() {
                        if let Some(upper) = unvoiced(&last.text) {
                            last.text = upper.to_string();
                        }
                    }
                }
                rest = after;
            } else if let Some((length, consonant, vowel)) = mora_at(rest) {
                let word = if created_word {
                    self.words.len() - 1
                } else {
                    let next_mora = self.moras.len();
                    self.words.push(Word { head_mora: next_mora, tail_mora: next_mora, accent_phrase: None });
                    created_word = true;
                    self.words.len() - 1
                };
                let mora = self.push_mora(word);
                self.push_phoneme(consonant, mora);
                if !vowel.is_empty() {
                    self.push_phoneme(vowel, mora);
                }
                rest = &rest[length..];
            } else {
                break;
            }
        }
        if !created_word {
            return;
        }
        let word = self.words.len() - 1;
        let joins = word > 0 && chain_flag == 1 && !self.accent_phrases.is_empty();
        if joins {
            let phrase = self.accent_phrases.len() - 1;
            self.accent_phrases[phrase].tail_word = word;
            self.words[word].accent_phrase = Some(phrase);
        } else {
            self.accent_phrases.push(AccentPhrase { accent: i64::from(acc), head_word: word, tail_word: word });
            self.words[word].accent_phrase = Some(self.accent_phrases.len() - 1);
        }
    }

    /// Label fields (A1, A2, A3, F1) of the phoneme at `index`, or `None` for a pause.
    fn accent_fields(&self, index: usize) -> Option<(i64, i64, i64, i64)> {
        let mora = self.phonemes.get(index)?.mora?;
        let phrase = self.accent_phrases.get(self.words.get(self.moras.get(mora)?.word)?.accent_phrase?)?;
        let head = self.words.get(phrase.head_word)?.head_mora as i64;
        let tail = self.words.get(phrase.tail_word)?.tail_mora as i64;
        let position = mora as i64 - head + 1;
        let count = tail - head + 1;
        let nucleus = if phrase.accent == 0 { count } else { phrase.accent };
        Some((
            (position - nucleus).clamp(-MAX_MORAS, MAX_MORAS),
            position.clamp(1, MAX_MORAS),
            (count - position + 1).clamp(1, MAX_MORAS),
            count.clamp(1, MAX_MORAS),
        ))
    }

    /// `pyopenjtalk_g2p_prosody(text)[1:-1]`: phonemes (unvoiced vowels lower-cased), `_` for pauses,
    /// `#` after the last mora of an accent phrase, `]` at the pitch fall, `[` at the rise.
    fn prosody_phones(&self) -> Vec<String> {
        let mut phones = Vec::new();
        for (index, phoneme) in self.phonemes.iter().enumerate() {
            let Some((a1, a2, a3, f1)) = self.accent_fields(index) else {
                phones.push("_".to_string());
                continue;
            };
            let text = if matches!(phoneme.text.as_str(), "A" | "E" | "I" | "O" | "U") {
                phoneme.text.to_lowercase()
            } else {
                phoneme.text.clone()
            };
            let a2_next = self.accent_fields(index + 1).map_or(MISSING, |(_, a2, _, _)| a2);
            let ends_phrase = matches!(text.as_str(), "a" | "e" | "i" | "o" | "u" | "N" | "cl");
            phones.push(text);
            if a3 == 1 && a2_next == 1 && ends_phrase {
                phones.push("#".to_string());
            } else if a1 == 0 && a2_next == a2 + 1 && a2 != f1 {
                phones.push("]".to_string());
            } else if a2 == 1 && a2_next == 2 {
                phones.push("[".to_string());
            }
        }
        phones
    }
}

/// Phonemes and prosody marks for an analysed sentence.
pub(super) fn prosody_phones(njd: &Njd) -> Vec<String> {
    let mut utterance = Utterance::default();
    for node in njd.nodes() {
        utterance.push_word(node.pron(), node.acc(), node.chain_flag());
    }
    utterance.prosody_phones()
}

#[cfg(test)]
mod tests {
    use super::Utterance;

    fn phones(words: &[(&str, i32, i32)]) -> String {
        let mut utterance = Utterance::default();
        for &(pron, acc, chain_flag) in words {
            utterance.push_word(pron, acc, chain_flag);
        }
        utterance.prosody_phones().join(" ")
    }

    #[test]
    fn pitch_marks_pause_and_long_vowel() {
        // Accent phrase 1 (nucleus on mora 1) ends in a pause, so no `#` before `_`.
        let words = [("キョー", 1, -1), ("ワ", 0, 1), ("、", 0, 0), ("テンキ", 1, 0)];
        assert_eq!(phones(&words), "ky o ] o w a _ t e ] N k i");
    }

    #[test]
    fn phrase_border_and_rise() {
        // Flat (accent 0) phrase: rise after mora 1, `#` at the border to the next phrase.
        assert_eq!(
            phones(&[("ワタシ", 0, -1), ("ワ", 0, 1), ("ガクセー", 0, 0)]),
            "w a [ t a sh i w a # g a [ k u s e e"
        );
    }

    #[test]
    fn unvoiced_vowels_come_out_lower_case() {
        assert_eq!(phones(&[("デス’", 1, -1)]), "d e ] s u");
    }

    #[test]
    fn leading_pause_and_long_vowel_are_dropped() {
        assert_eq!(phones(&[("、", 0, 0), ("ー", 0, 0), ("ア", 0, 0)]), "a");
        assert_eq!(phones(&[]), "");
    }
}
