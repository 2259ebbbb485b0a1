//! English text normalization: a byte-exact port of upstream GPT-SoVITS
//! `GPT_SoVITS/text/english.py::text_normalize` and the `en_normalization/expend.py` rules it runs.

mod arithmetic;
mod clock_and_units;
mod currency;
mod expand;
mod letters;
pub mod number_words;
mod numerals;
mod substitute;

use crate::text::python_chars::is_space;

/// english.py's `rep_map` after `re.escape`: the keys are matched literally, so the bracketed
/// "character classes" only fire on the exact strings `[;:：，；]` and `["’]`; `;`, `:` and curly
/// quotes on their own are left to expend.py's filter, which deletes them.
const LITERAL_REPLACEMENTS: [(&str, &str); 5] =
    [("[;:：，；]", ","), ("[\"’]", "'"), ("。", "."), ("！", "!"), ("？", "?")];

fn replace_literals(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        match LITERAL_REPLACEMENTS.iter().find(|(key, _)| rest.starts_with(key)) {
            Some((key, value)) => {
                out.push_str(value);
                rest = &rest[key.len()..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// The v2 `punctuation` symbols.
fn is_punctuation(c: char) -> bool {
    matches!(c, '!' | '?' | '…' | ',' | '.' | '-')
}

/// Mirrors english.py `replace_consecutive_punctuation`: a punctuation mark or whitespace swallows the
/// punctuation marks that directly follow it ("Hmm..." → "Hmm.", "a -!" → "a ").
fn collapse_punctuation_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if is_punctuation(c) || is_space(c) {
            while chars.next_if(|&next| is_punctuation(next)).is_some() {}
        }
    }
    out
}

/// Mirrors english.py `text_normalize`: literal `rep_map` replacements, expend.py `normalize`, then
/// collapsing of repeated punctuation. "I read 3 books in 2024. Then" →
/// "I read three books in two thousand and twenty-fourth, Then".
pub fn text_normalize(text: &str) -> String {
    collapse_punctuation_runs(&expand::normalize(&replace_literals(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_rep_map_keys_match_only_literally() {
        assert_eq!(replace_literals("a;b[;:：，；]c[\"’]。！？"), "a;b,c'.!?");
        assert_eq!(text_normalize("Wait; what: “now”?"), "Wait what now?");
    }

    #[test]
    fn punctuation_runs_collapse() {
        assert_eq!(collapse_punctuation_runs("Hmm... really?! a - b --c"), "Hmm. really? a  b c");
    }
}
