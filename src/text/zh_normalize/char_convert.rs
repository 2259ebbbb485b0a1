//! Traditional → simplified characters; mirrors `zh_normalization/char_convert.py`
//! (`tranditional_to_simplified`), a plain per-character table lookup.

use std::collections::HashMap;
use std::sync::OnceLock;

/// One `traditional simplified` character pair per line: upstream's `t2s_dict` (later pairs of a
/// repeated traditional character win, as in the Python dict), identity pairs left out.
const TABLE: &str = include_str!("data/t2s.txt");

fn table() -> &'static HashMap<char, char> {
    static PARSED: OnceLock<HashMap<char, char>> = OnceLock::new();
    PARSED.get_or_init(|| {
        TABLE
            .lines()
            .filter_map(|line| {
                let mut chars = line.chars();
                match (chars.next(), chars.next(), chars.next()) {
                    (Some(traditional), Some(simplified), None) => Some((traditional, simplified)),
                    _ => None,
                }
            })
            .collect()
    })
}

/// Replaces every traditional character that upstream's table knows by its simplified form;
/// everything else is kept as is.
pub fn traditional_to_simplified(text: &str) -> String {
    let table = table();
    text.chars().map(|c| table.get(&c).copied().unwrap_or(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_line_parses() {
        assert_eq!(table().len(), TABLE.lines().count());
        assert_eq!(table().len(), 2706);
    }

    #[test]
    fn converts_and_keeps_others() {
        assert_eq!(traditional_to_simplified("說話A1，簡體"), "说话A1，简体");
    }
}
