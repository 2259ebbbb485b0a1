//! Text to phones exactly as upstream GPT-SoVITS v2 computes them (research/upstream-v2.md §2;
//! docs/TEXT.md): sentence cutting ([`segment`]), language routing ([`lang_segment`]),
//! per-language normalization and G2P ([`zh_normalize`] + [`zh`], [`en_normalize`] + [`en`],
//! [`ja`], [`ko`], [`yue`]), the `clean_text` rules around them ([`cleaner`]) and the
//! per-sentence driver ([`frontend`]). Every dictionary ships inside the binary (README,
//! "Licences of bundled data") except Open JTalk's, which Japanese reads at run time.

pub mod cleaner;
pub mod en;
pub mod en_normalize;
pub mod frontend;
pub mod ja;
pub mod ko;
pub mod lang_segment;
mod python_chars;

/// Whether text has anything to speak: a word character as Python's `\w` has it (upstream drops
/// text without one; punctuation, symbols and emoji alone make no sound).
pub use python_chars::has_word_char as has_speakable_text;
mod resource;
pub mod segment;
mod symbols;
pub mod yue;
pub mod zh;
pub mod zh_normalize;

pub use cleaner::{clean_text, CleanedText};
pub use frontend::{phonemize, phonemize_text, Phonemized, PhonemizedSegment};
pub use lang_segment::{Lang, LangMode};
pub use symbols::SymbolSet;

/// Errors turning text or phone strings into ids.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error("unknown phone symbols for the {set:?} table: {symbols:?} (phones are space-separated upstream symbols such as \"n i3 h ao3 .\")")]
    UnknownSymbols { set: SymbolSet, symbols: Vec<String> },
    #[error("no phones given")]
    Empty,
    #[error(transparent)]
    Segment(#[from] segment::SegmentError),
    #[error(transparent)]
    Language(#[from] lang_segment::LangSegmentError),
    #[error(transparent)]
    Japanese(#[from] ja::JaError),
    #[error("the text frontend produces v2 phones; this v1 model needs phones given directly (--phones)")]
    V1Frontend,
    /// An embedded dictionary or model file failed to parse: a build defect, not user input.
    #[error("text resource {what} is corrupt: {detail}")]
    Resource { what: &'static str, detail: String },
}
