//! Phone symbol tables (upstream `GS/text/symbols.py` and `symbols2.py`, research/upstream-v2.md
//! §2.1, Appendix A). The v2 table is 732 symbols; v1 is its first 322 (identical ids). The id of
//! a symbol is its index, exactly as upstream's `cleaned_text_to_sequence`.
//!
//! `symbols_v2.txt` is upstream's table written one symbol per line (GPT-SoVITS, MIT licence).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::TextError;

const V2_TABLE: &str = include_str!("symbols_v2.txt");

/// Id of `UNK` in both tables (asserted by the tests).
const UNK_ID: u32 = 86;

/// Number of v1 symbols (the v2 table extends the v1 table).
const V1_LEN: usize = 322;

/// Which symbol table a model was trained with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolSet {
    V1,
    V2,
}

impl SymbolSet {
    /// The set whose table has `rows` entries (an embedding's row count), if any.
    pub fn from_vocab_size(rows: usize) -> Option<Self> {
        match rows {
            V1_LEN => Some(SymbolSet::V1),
            n if n == v2_symbols().len() => Some(SymbolSet::V2),
            _ => None,
        }
    }

    /// The symbols in id order.
    pub fn symbols(self) -> &'static [&'static str] {
        let all = v2_symbols();
        match self {
            SymbolSet::V1 => &all[..V1_LEN],
            SymbolSet::V2 => all,
        }
    }

    /// Number of symbols (never zero).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(self) -> usize {
        self.symbols().len()
    }

    /// Id of one symbol.
    pub fn id(self, symbol: &str) -> Option<u32> {
        let id = *ids().get(symbol)?;
        (id < self.len()).then_some(id as u32)
    }

    /// Id of a phone produced by the text frontend: anything outside the table is `UNK`, as
    /// upstream's `clean_text` does before `cleaned_text_to_sequence`.
    pub fn id_or_unk(self, symbol: &str) -> u32 {
        self.id(symbol).unwrap_or(UNK_ID)
    }

    /// Ids of space-separated symbols (`"n i3 h ao3 ."`). Unknown symbols are an error that names them.
    pub fn parse_phones(self, text: &str) -> Result<Vec<u32>, TextError> {
        let mut out = Vec::new();
        let mut unknown = Vec::new();
        for sym in text.split_whitespace() {
            match self.id(sym) {
                Some(id) => out.push(id),
                None => unknown.push(sym.to_string()),
            }
        }
        if !unknown.is_empty() {
            return Err(TextError::UnknownSymbols { set: self, symbols: unknown });
        }
        if out.is_empty() {
            return Err(TextError::Empty);
        }
        Ok(out)
    }
}

fn v2_symbols() -> &'static [&'static str] {
    static TABLE: OnceLock<Vec<&'static str>> = OnceLock::new();
    TABLE.get_or_init(|| V2_TABLE.lines().filter(|l| !l.is_empty()).collect())
}

fn ids() -> &'static HashMap<&'static str, usize> {
    static IDS: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    IDS.get_or_init(|| v2_symbols().iter().enumerate().map(|(i, s)| (*s, i)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ids_from_the_spec() {
        let v2 = SymbolSet::V2;
        assert_eq!(v2.len(), 732);
        assert_eq!(SymbolSet::V1.len(), 322);
        // research/upstream-v2.md §2.1 worked example: "n i3 h ao3 ." → 227 168 158 119 3
        assert_eq!(v2.parse_phones("n i3 h ao3 .").unwrap(), vec![227, 168, 158, 119, 3]);
        for (s, id) in [("_", 95), ("UNK", 86), ("SP", 77), ("…", 321), ("[", 322), ("空", 352)] {
            assert_eq!(v2.id(s), Some(id), "{s}");
        }
        assert_eq!(SymbolSet::V1.id("["), None);
        for set in [SymbolSet::V1, SymbolSet::V2] {
            assert_eq!(set.id("UNK"), Some(UNK_ID));
            assert_eq!(set.id_or_unk("["), if set == SymbolSet::V2 { 322 } else { UNK_ID });
        }
        assert!(matches!(v2.parse_phones("n xx3"), Err(TextError::UnknownSymbols { .. })));
        assert!(matches!(v2.parse_phones("  "), Err(TextError::Empty)));
        assert_eq!(SymbolSet::from_vocab_size(732), Some(SymbolSet::V2));
        assert_eq!(SymbolSet::from_vocab_size(512), None);
    }
}
