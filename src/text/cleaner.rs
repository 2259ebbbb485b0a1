//! One language segment to phones: upstream `text/cleaner.py::clean_text` (research/upstream-v2.md
//! §2.5). The per-language normalizers and G2P live in their own modules; this file holds the
//! rules upstream applies around them: the `￥`/`^` pause symbols for Chinese, the leading comma for
//! short English, and `UNK` for anything outside the symbol table.

use super::lang_segment::Lang;
use super::{en, en_normalize, ja, ko, yue, zh, zh_normalize, SymbolSet, TextError};

/// Normalized text and phones of one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanedText {
    pub norm_text: String,
    pub phones: Vec<String>,
    /// Phones per character of `norm_text` (Chinese and Cantonese only; BERT features need it).
    pub word2ph: Option<Vec<usize>>,
}

/// Characters that, in Chinese text, turn every comma into a longer pause symbol
/// (upstream `cleaner.special`; the first one present wins).
const SPECIAL_PAUSES: [(char, &str); 2] = [('￥', "SP2"), ('^', "SP3")];

/// English output shorter than this gets a leading `,` (upstream pads short words this way).
const MIN_ENGLISH_PHONES: usize = 4;

/// `clean_text(text, lang, "v2")`.
pub fn clean_text(text: &str, lang: Lang, symbols: SymbolSet) -> Result<CleanedText, TextError> {
    let cleaned = match lang {
        Lang::Zh => match SPECIAL_PAUSES.iter().find(|(mark, _)| text.contains(*mark)) {
            // `clean_special`: the mark becomes a comma, then that comma's phone becomes the pause.
            Some(&(mark, pause)) => {
                let mut cleaned = mandarin(&text.replace(mark, ","))?;
                for phone in cleaned.phones.iter_mut().filter(|p| *p == ",") {
                    *phone = pause.to_string();
                }
                cleaned
            }
            None => mandarin(text)?,
        },
        Lang::Yue => {
            let norm_text = yue::text_normalize(text);
            let (phones, word2ph) = yue::CantoneseG2p::shared()?.g2p(&norm_text);
            CleanedText { norm_text, phones, word2ph: Some(word2ph) }
        }
        Lang::En => {
            let norm_text = en_normalize::text_normalize(text);
            let mut phones = en::EnglishG2p::shared()?.g2p(&norm_text);
            if phones.len() < MIN_ENGLISH_PHONES {
                phones.insert(0, ",".to_string());
            }
            CleanedText { norm_text, phones, word2ph: None }
        }
        Lang::Ja => {
            let norm_text = ja::text_normalize(text);
            let phones = ja::JapaneseG2p::load()?.g2p(&norm_text);
            CleanedText { norm_text, phones, word2ph: None }
        }
        // `korean.py` has no normalizer: the text is its own norm_text.
        Lang::Ko => {
            CleanedText { norm_text: text.to_string(), phones: ko::KoreanG2p::shared()?.g2p(text), word2ph: None }
        }
    };
    Ok(map_unknown_to_unk(cleaned, symbols))
}

fn mandarin(text: &str) -> Result<CleanedText, TextError> {
    let norm_text = zh_normalize::text_normalize(text);
    let (phones, word2ph) = zh::MandarinG2p::shared()?.g2p(&norm_text);
    Ok(CleanedText { norm_text, phones, word2ph: Some(word2ph) })
}

fn map_unknown_to_unk(mut cleaned: CleanedText, symbols: SymbolSet) -> CleanedText {
    for phone in &mut cleaned.phones {
        if symbols.id(phone).is_none() {
            *phone = "UNK".to_string();
        }
    }
    cleaned
}
