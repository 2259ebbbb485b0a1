//! Whole-word pronunciation exceptions, mirroring g2pk2 `G2p.idioms` over its `idioms.txt`.

/// g2pk2 0.0.3 `idioms.txt`, unchanged.
const IDIOMS_TXT: &str = include_str!("../data/idioms.txt");

/// Characters with a meaning in Python regex syntax; no idiom uses them, so upstream's `re.sub`
/// per line is a plain substring replacement (checked when the file is parsed).
const REGEX_META: &[char] = &['.', '^', '$', '*', '+', '?', '{', '}', '[', ']', '\\', '|', '(', ')'];

/// The `str1===str2` lines of `idioms.txt`, in file order (text after `#` is a comment).
pub fn parse_idioms() -> Result<Vec<(String, String)>, String> {
    let mut idioms = Vec::new();
    for line in IDIOMS_TXT.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let Some((from, to)) = line.split_once("===") else { continue };
        if from.contains(REGEX_META) || to.contains(REGEX_META) || to.contains("===") {
            return Err(format!("idioms.txt line {line:?} is not a literal replacement"));
        }
        idioms.push((from.to_string(), to.to_string()));
    }
    Ok(idioms)
}

/// Applies every idiom in order.
pub fn apply_idioms(idioms: &[(String, String)], text: &str) -> String {
    idioms.iter().fold(text.to_string(), |acc, (from, to)| acc.replace(from.as_str(), to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idioms_are_literal_and_ordered() {
        let idioms = parse_idioms().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(idioms.first().map(|(a, b)| (a.as_str(), b.as_str())), Some(("의견란", "의견난")));
        assert_eq!(apply_idioms(&idioms, "10월 50%"), "시월 50퍼센트");
    }
}
