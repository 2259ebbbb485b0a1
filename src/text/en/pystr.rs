//! The Python `str` predicates upstream's English G2P relies on, with CPython's definitions
//! (`strip`/`isdigit` are the shared ones in `text::python_chars`).

pub(super) use crate::text::python_chars::{is_digit, strip};

use std::sync::OnceLock;

use regex::Regex;

/// Titlecase letters (general category `Lt`), which `str.istitle()` treats like upper case.
fn is_titlecase(c: char) -> bool {
    matches!(c, '\u{1C5}' | '\u{1C8}' | '\u{1CB}' | '\u{1F2}' | '\u{1F88}'..='\u{1F8F}' | '\u{1F98}'..='\u{1F9F}'
        | '\u{1FA8}'..='\u{1FAF}' | '\u{1FBC}' | '\u{1FCC}' | '\u{1FFC}')
}

/// `str.istitle()`: cased characters only, upper/titlecase ones only right after uncased ones and
/// lower-case ones only right after cased ones; at least one cased character.
pub(super) fn is_title(s: &str) -> bool {
    let mut cased = false;
    let mut previous_cased = false;
    for c in s.chars() {
        if c.is_uppercase() || is_titlecase(c) {
            if previous_cased {
                return false;
            }
            previous_cased = true;
            cased = true;
        } else if c.is_lowercase() {
            if !previous_cased {
                return false;
            }
            previous_cased = true;
            cased = true;
        } else {
            previous_cased = false;
        }
    }
    cased
}

struct Classes {
    letter: Regex,
}

fn classes() -> Option<&'static Classes> {
    static CLASSES: OnceLock<Option<Classes>> = OnceLock::new();
    CLASSES.get_or_init(|| Some(Classes { letter: Regex::new(r"\A\p{L}\z").ok()? })).as_ref()
}

fn char_matches(class: impl Fn(&Classes) -> &Regex, c: char) -> bool {
    classes().is_some_and(|classes| class(classes).is_match(c.encode_utf8(&mut [0u8; 4])))
}

/// `str.isalpha()` for one character (general category `L*`).
pub(super) fn is_alpha(c: char) -> bool {
    c.is_ascii_alphabetic() || (!c.is_ascii() && char_matches(|k| &k.letter, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istitle_matches_cpython() {
        for (s, expected) in [
            ("Hello", true),
            ("Hello.How", true),
            ("Self-Driving", true),
            ("I's", false),
            ("IBM", false),
            ("hello", false),
            ("A", true),
            ("", false),
            ("'", false),
            ("O'Neil", true),
            ("\u{1C5}ungla", true),
            ("McDonald", false),
        ] {
            assert_eq!(is_title(s), expected, "{s:?}");
        }
    }

    #[test]
    fn strip_and_classes() {
        assert_eq!(strip("\u{1c} a b \u{a0}\n"), "a b");
        assert!(is_alpha('é') && is_alpha('z') && !is_alpha('\'') && !is_alpha('\u{2160}'));
        assert!(is_digit('7') && is_digit('٣') && !is_digit('x'));
    }
}
