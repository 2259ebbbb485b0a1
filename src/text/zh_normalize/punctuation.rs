//! Punctuation mapping and clean-up of `chinese2.py` (`replace_punctuation`,
//! `replace_consecutive_punctuation`).

/// The punctuation kept in normalized text (`text/symbols.py::punctuation`).
const KEPT_PUNCTUATION: [char; 6] = ['!', '?', '…', ',', '.', '-'];

/// `chinese2.py::rep_map`, in its order (the first key matching at a position wins).
const MANDARIN_PUNCTUATION: [(&str, &str); 15] = [
    ("：", ","),
    ("；", ","),
    ("，", ","),
    ("。", "."),
    ("！", "!"),
    ("？", "?"),
    ("\n", "."),
    ("·", ","),
    ("、", ","),
    ("...", "…"),
    ("$", "."),
    ("/", ","),
    ("—", "-"),
    ("~", "…"),
    ("～", "…"),
];

fn is_kept(c: char) -> bool {
    ('\u{4e00}'..='\u{9fa5}').contains(&c) || KEPT_PUNCTUATION.contains(&c)
}

/// Maps punctuation with `map` (scanning left to right, the first key that matches at a position
/// wins, like upstream's `re.escape`d alternation), then deletes every character that is neither
/// CJK U+4E00–U+9FA5 nor one of `!?…,.-`. Shared by the Mandarin and Cantonese cleaners, which
/// differ only in their maps.
pub fn replace_punctuation_with(text: &str, map: &[(&str, &str)]) -> String {
    let mut mapped = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        match map.iter().find(|(key, _)| !key.is_empty() && rest.starts_with(key)) {
            Some((key, replacement)) => {
                mapped.push_str(replacement);
                rest = &rest[key.len()..];
            }
            None => {
                mapped.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    mapped.retain(is_kept);
    mapped
}

/// Mirrors `chinese2.py::replace_punctuation`: 嗯 → 恩, 呣 → 母, then
/// [`replace_punctuation_with`] the Mandarin map.
pub fn replace_punctuation(text: &str) -> String {
    let text = text.replace('嗯', "恩").replace('呣', "母");
    replace_punctuation_with(&text, &MANDARIN_PUNCTUATION)
}

/// Mirrors `chinese2.py::replace_consecutive_punctuation`: a run of kept punctuation marks is
/// reduced to its first mark.
pub fn replace_consecutive_punctuation(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous_was_punctuation = false;
    for c in text.chars() {
        let is_punctuation = KEPT_PUNCTUATION.contains(&c);
        if !(is_punctuation && previous_was_punctuation) {
            out.push(c);
        }
        previous_was_punctuation = is_punctuation;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_and_filters() {
        assert_eq!(replace_punctuation("嗯，好...呣~ab12「」$/—"), "恩,好…母….,-");
    }

    #[test]
    fn collapses_runs_to_first_mark() {
        assert_eq!(replace_consecutive_punctuation("好!?…,.-好..好"), "好!好.好");
    }
}
