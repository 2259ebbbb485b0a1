//! Paragraphs to sentences: upstream's split methods `cut0`…`cut5` ([`cut`]), the two front-ends'
//! sentence preparation ([`mod@preprocess`], research/upstream-v2.md §2.2–2.3), and an incremental
//! splitter for text that arrives piece by piece ([`incremental`]).

pub mod cut;
pub mod incremental;
pub mod preprocess;

pub use cut::{cut0, cut1, cut2, cut3, cut4, cut5, split, split_big_text, SplitMethod, SPLITS};
pub use incremental::{IncrementalSplitter, SplitterConfig};
pub use preprocess::{
    ensure_sentence_end, merge_short_text_in_array, pre_seg_text, preprocess, preprocess_webui,
    replace_consecutive_punctuation,
};

/// Errors of sentence segmentation.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// Every piece was blank after cutting: upstream's "请输入有效文本" / "Please enter valid text.".
    #[error("the text has nothing to speak (it is empty or only punctuation, symbols or spaces); give it some words")]
    NoValidText,
    /// A split method name that upstream does not register.
    #[error("unknown text split method {given:?}; expected one of cut0, cut1, cut2, cut3, cut4, cut5")]
    UnknownSplitMethod { given: String },
}
