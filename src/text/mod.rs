//! Text to phones. For now only the symbol tables, so that phones can be given directly
//! (`--phones "n i3 h ao3 ."`); normalization, segmentation and G2P arrive with the text
//! frontend issue.

mod symbols;

pub use symbols::SymbolSet;

/// Errors turning text or phone strings into ids.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error("unknown phone symbols for the {set:?} table: {symbols:?} (phones are space-separated upstream symbols such as \"n i3 h ao3 .\")")]
    UnknownSymbols { set: SymbolSet, symbols: Vec<String> },
    #[error("no phones given")]
    Empty,
    #[error("text frontend not available yet: pass phones with --phones/--ref-phones (space-separated upstream symbols, e.g. \"n i3 h ao3 .\")")]
    FrontendUnavailable,
}
