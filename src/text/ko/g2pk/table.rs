//! g2pk2's main rule table (`table.csv`, parsed like `utils.parse_table`): one regex rewrite per
//! (coda, onset) cell, applied in row-major order.

use super::rules::RegexRule;

/// g2pk2 0.0.3 `table.csv`, unchanged (including its malformed cells, which upstream truncates at
/// the first `(`).
const TABLE_CSV: &str = include_str!("../data/table.csv");

/// Python's `\W` (Unicode): anything that is not a letter, a number or `_`. The `regex` crate's
/// own `\w` also admits combining marks and connector punctuation, so it is spelled out here.
const PY_NON_WORD: &str = r"[^\p{L}\p{N}_]";

/// Turns one header onset (a Python regex fragment) into `regex` syntax.
fn onset_pattern(onset: &str) -> String {
    onset.replace(r"\W", PY_NON_WORD)
}

/// Turns a Python replacement template (`\1ᄏ`) into `regex` syntax (`${1}ᄏ`).
fn replacement_template(cell: &str) -> String {
    cell.replace(r"\1", "${1}")
}

/// Parses the table into its rewrite rules.
pub fn table_rules() -> Result<Vec<RegexRule>, String> {
    let mut lines = TABLE_CSV.lines();
    let header = lines.next().ok_or("table.csv is empty")?;
    let onsets: Vec<&str> = header.split(',').collect();
    let mut rules = Vec::new();
    for line in lines {
        let cols: Vec<&str> = line.split(',').collect();
        let coda = cols.first().copied().unwrap_or_default();
        for (i, onset) in onsets.iter().enumerate().skip(1) {
            let cell = cols.get(i).ok_or_else(|| format!("table.csv row {coda:?} is too short"))?;
            if cell.is_empty() {
                continue;
            }
            // The text after the first `(` names the rules of the cell (for verbose output only).
            let target = cell.split('(').next().unwrap_or_default();
            let pattern = format!("{coda}{}", onset_pattern(onset));
            rules.push(RegexRule::new(&pattern, &replacement_template(target))?);
        }
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_non_empty_cell() {
        let rules = table_rules().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rules.len(), 402);
    }
}
