//! Python 3.11 `re` character classes for `str` patterns (`\w`, `\d`, `\s`), which are Unicode-aware
//! and differ from Rust's own predicates (Python's `\w` includes `²` and `½` but not combining marks;
//! its `\s` includes the separators U+001C..U+001F). Upstream's rules depend on them through `\b`,
//! `\d` and `\s` (and `str.isspace`/`isdigit`/`strip` in the segmenters), so they are reproduced from
//! tables extracted with CPython 3.11.7 (Unicode 14.0); the tables are Unicode data (Unicode License v3).

use std::sync::OnceLock;

/// Inclusive code-point ranges, one `START END` pair of hex numbers per line.
type Ranges = Vec<(u32, u32)>;

fn parse_ranges(table: &str) -> Ranges {
    table
        .lines()
        .filter_map(|line| {
            let (start, end) = line.split_once(' ')?;
            Some((u32::from_str_radix(start, 16).ok()?, u32::from_str_radix(end, 16).ok()?))
        })
        .collect()
}

fn contains(ranges: &[(u32, u32)], c: char) -> bool {
    let code = u32::from(c);
    let after = ranges.partition_point(|&(start, _)| start <= code);
    after > 0 && ranges[after - 1].1 >= code
}

/// Characters matched by Python's `\w`: `str.isalnum()` or `_`.
const WORD_TABLE: &str = include_str!("data/py_word_ranges.txt");
/// Characters matched by Python's `\d`: general category Nd.
const DECIMAL_TABLE: &str = include_str!("data/py_decimal_ranges.txt");

fn word_ranges() -> &'static [(u32, u32)] {
    static RANGES: OnceLock<Ranges> = OnceLock::new();
    RANGES.get_or_init(|| parse_ranges(WORD_TABLE))
}

fn decimal_ranges() -> &'static [(u32, u32)] {
    static RANGES: OnceLock<Ranges> = OnceLock::new();
    RANGES.get_or_init(|| parse_ranges(DECIMAL_TABLE))
}

/// Python `re` `\w`.
pub fn is_word(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || c == '_'
    } else {
        contains(word_ranges(), c)
    }
}

/// Python `re` `\d`.
pub fn is_decimal(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_digit()
    } else {
        contains(decimal_ranges(), c)
    }
}

/// Python `re` `\s` (`str.isspace()`).
pub fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | '\u{1c}'..=' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// `str.strip()` with no argument.
pub fn strip(text: &str) -> &str {
    text.trim_matches(is_space)
}

/// Characters outside `Nd` for which `str.isdigit()` is true (superscripts, circled digits, …).
const NON_DECIMAL_DIGITS: [(char, char); 20] = [
    ('\u{b2}', '\u{b3}'),
    ('\u{b9}', '\u{b9}'),
    ('\u{1369}', '\u{1371}'),
    ('\u{19da}', '\u{19da}'),
    ('\u{2070}', '\u{2070}'),
    ('\u{2074}', '\u{2079}'),
    ('\u{2080}', '\u{2089}'),
    ('\u{2460}', '\u{2468}'),
    ('\u{2474}', '\u{247c}'),
    ('\u{2488}', '\u{2490}'),
    ('\u{24ea}', '\u{24ea}'),
    ('\u{24f5}', '\u{24fd}'),
    ('\u{24ff}', '\u{24ff}'),
    ('\u{2776}', '\u{277e}'),
    ('\u{2780}', '\u{2788}'),
    ('\u{278a}', '\u{2792}'),
    ('\u{10a40}', '\u{10a43}'),
    ('\u{10e60}', '\u{10e68}'),
    ('\u{11052}', '\u{1105a}'),
    ('\u{1f100}', '\u{1f10a}'),
];

/// `str.isdigit()`: `Nd` plus the `Numeric_Type=Digit` characters.
pub fn is_digit(c: char) -> bool {
    is_decimal(c) || NON_DECIMAL_DIGITS.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// `re.sub(r"\W+", "", text)` leaves something.
pub fn has_word_char(text: &str) -> bool {
    text.chars().any(is_word)
}

/// Python's `\b` just before index `at` of `chars`, when the character there is a word character.
pub fn word_starts_at(chars: &[char], at: usize) -> bool {
    at == 0 || chars.get(at - 1).is_none_or(|&c| !is_word(c))
}

/// Python's `\b` just before index `at` of `chars`, when the character before it is a word character.
pub fn word_ends_at(chars: &[char], at: usize) -> bool {
    chars.get(at).is_none_or(|&c| !is_word(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_parse_completely() {
        assert_eq!(word_ranges().len(), WORD_TABLE.lines().count());
        assert_eq!(decimal_ranges().len(), DECIMAL_TABLE.lines().count());
    }

    #[test]
    fn python_specific_classes() {
        assert!(is_word('²') && is_word('½') && is_word('é') && is_word('_') && is_word('中'));
        assert!(!is_word('\u{301}') && !is_word('°') && !is_word('-'));
        assert!(is_decimal('٣') && !is_decimal('²'));
        assert!(is_space('\u{1f}') && is_space('\u{3000}') && !is_space('\u{200b}'));
        assert!(is_digit('²') && is_digit('①') && !is_digit('½'));
        // Devanagari vowel sign: Rust-alphanumeric (Other_Alphabetic) but not Python `\w`.
        assert!('\u{93f}'.is_alphanumeric() && !is_word('\u{93f}'));
        assert_eq!(strip("\u{3000} a \u{1f}"), "a");
    }
}
