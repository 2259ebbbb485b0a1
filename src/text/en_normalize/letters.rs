//! The last steps of `expend.py::normalize`: accent stripping (NFD, drop combining marks), `%` →
//! " percent", the `[^ A-Za-z'.,?!\-]` filter, "i.e."/"e.g." and the space before capitals that do not
//! start a word ("GPT" → "G P T", "OpenAI" → "Open A I").

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::text::python_chars::is_space;

/// Non-ASCII characters whose NFD decomposition, without its Mn marks, leaves a character the filter
/// keeps (always one ASCII letter): `é` → `e`, `Å` (U+212B) → `A`, `K` (U+212A) → `K`. Extracted with
/// CPython 3.11.7 `unicodedata` (Unicode 14.0); one `HEX LETTER` pair per line.
const ACCENTED_LETTERS: &str = include_str!("data/nfd_ascii_letters.txt");

fn accented_letters() -> &'static HashMap<char, char> {
    static TABLE: OnceLock<HashMap<char, char>> = OnceLock::new();
    TABLE.get_or_init(|| {
        ACCENTED_LETTERS
            .lines()
            .filter_map(|line| {
                let (code, letter) = line.split_once(' ')?;
                let accented = char::from_u32(u32::from_str_radix(code, 16).ok()?)?;
                Some((accented, letter.chars().next()?))
            })
            .collect()
    })
}

/// What upstream's filter keeps.
fn is_kept(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, ' ' | '\'' | '.' | ',' | '?' | '!' | '-')
}

/// Accent stripping, the `%` rule and the character filter, which act on each character alone.
pub fn strip_to_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '%' {
            out.push_str(" percent");
        } else if is_kept(c) {
            out.push(c);
        } else if let Some(&letter) = accented_letters().get(&c) {
            out.push(letter);
        }
    }
    out
}

/// `re.sub(r"(?i)<abbreviation>", replacement, text)` for an ASCII `abbreviation`.
fn replace_ignoring_case(text: &str, abbreviation: &str, replacement: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let head = rest.get(..abbreviation.len()).filter(|head| head.eq_ignore_ascii_case(abbreviation));
        if head.is_some() {
            out.push_str(replacement);
            rest = &rest[abbreviation.len()..];
        } else if let Some(c) = rest.chars().next() {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The "i.e." and "e.g." rules, in upstream order.
pub fn expand_latin_abbreviations(text: &str) -> String {
    replace_ignoring_case(&replace_ignoring_case(text, "i.e.", "that is"), "e.g.", "for example")
}

/// `(?<!^)(?<![\s])([A-Z])` → " \1": a capital letter gets a space before it unless it starts the text or
/// follows whitespace.
pub fn space_inner_capitals(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut previous: Option<char> = None;
    for c in text.chars() {
        if c.is_ascii_uppercase() && previous.is_some_and(|p| !is_space(p)) {
            out.push(' ');
        }
        out.push(c);
        previous = Some(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_completely() {
        assert_eq!(accented_letters().len(), ACCENTED_LETTERS.lines().count());
    }

    #[test]
    fn accents_filter_and_percent() {
        assert_eq!(strip_to_ascii("Café 45% ñ Å K—x; “q” 3"), "Cafe  percent n A Kx q ");
    }

    #[test]
    fn abbreviations_and_capitals() {
        assert_eq!(expand_latin_abbreviations("E.G. i.E. ie."), "for example that is ie.");
        assert_eq!(space_inner_capitals("GPT-SoVITS OpenAI's A"), "G P T- So V I T S Open A I's A");
    }
}
