//! Digit-string rules of `expend.py::normalize`: list ordinals ("1. "), thousands separators, decimals,
//! fractions, "21st"-style ordinals and plain numbers (with the year readings of `_expand_number`).

use super::number_words::{cardinal, in_pairs, ordinal_digits, ordinal_words};
use super::substitute::{char_at, run_end, substitute, text_between, Attempt};
use crate::text::python_chars::{is_space, word_starts_at};

fn is_digit_at(chars: &[char], index: usize) -> bool {
    char_at(chars, index).is_some_and(|c| c.is_ascii_digit())
}

fn digit_run_end(chars: &[char], from: usize) -> usize {
    run_end(chars, from, |c| c.is_ascii_digit())
}

/// `_ordinal_number_re` with `_convert_ordinal`: `\b([0-9]+)\. ` becomes "<digits><st|nd|rd|th>, ",
/// which the ordinal rule later spells ("in 2024. Then" → "in 2024th, Then").
fn ordinal_before_period_at(chars: &[char], start: usize) -> Attempt {
    if !is_digit_at(chars, start) || !word_starts_at(chars, start) {
        return Attempt::NoMatchBefore(start + 1);
    }
    let digits_end = digit_run_end(chars, start);
    if char_at(chars, digits_end) == Some('.') && char_at(chars, digits_end + 1) == Some(' ') {
        let replacement = format!("{}, ", ordinal_digits(&text_between(chars, start, digits_end)));
        return Attempt::Match { end: digits_end + 2, replacement };
    }
    Attempt::NoMatchBefore(digits_end)
}

/// `re.sub(_ordinal_number_re, _convert_ordinal, text)`.
pub fn mark_list_ordinals(text: &str) -> String {
    substitute(text, ordinal_before_period_at).0
}

/// `_comma_number_re` with `_remove_commas`: `[0-9][0-9,]+[0-9]` loses its commas ("1,234" → "1234").
fn digit_group_at(chars: &[char], start: usize) -> Attempt {
    if !is_digit_at(chars, start) {
        return Attempt::NoMatchBefore(start + 1);
    }
    let run = run_end(chars, start, |c| c.is_ascii_digit() || c == ',');
    let last_digit = (start..run).rev().find(|&i| is_digit_at(chars, i)).unwrap_or(start);
    if last_digit < start + 2 {
        // Later starts in this run end at the same last digit, even closer to their start.
        return Attempt::NoMatchBefore(run);
    }
    let replacement = chars[start..=last_digit].iter().filter(|&&c| c != ',').collect();
    Attempt::Match { end: last_digit + 1, replacement }
}

/// `re.sub(_comma_number_re, _remove_commas, text)`.
pub fn remove_digit_group_commas(text: &str) -> String {
    substitute(text, digit_group_at).0
}

/// `_decimal_number_re` with `_expand_decimal_number`: `[0-9]+\.\s*[0-9]+` → "<int> point d d d"; the
/// characters after the point, whitespace included, are joined with spaces.
fn decimal_at(chars: &[char], start: usize) -> Attempt {
    if !is_digit_at(chars, start) {
        return Attempt::NoMatchBefore(start + 1);
    }
    let point = digit_run_end(chars, start);
    let fraction_start = run_end(chars, point + 1, is_space);
    if char_at(chars, point) != Some('.') || !is_digit_at(chars, fraction_start) {
        return Attempt::NoMatchBefore(point);
    }
    let end = digit_run_end(chars, fraction_start);
    let after_point: Vec<String> = chars[point + 1..end].iter().map(char::to_string).collect();
    let replacement = format!("{} point {}", text_between(chars, start, point), after_point.join(" "));
    Attempt::Match { end, replacement }
}

/// `re.sub(_decimal_number_re, _expand_decimal_number, text)`.
pub fn spell_decimals(text: &str) -> String {
    substitute(text, decimal_at).0
}

fn is_one(digits: &str) -> bool {
    digits.trim_start_matches('0') == "1"
}

/// `_expend_fraction`: numerator as a cardinal, denominator as an ordinal, plural when the numerator
/// exceeds one; a denominator of 2 reads "half"/"halves" and of 1 is dropped.
fn spell_fraction(numerator: &str, denominator: &str) -> String {
    let numerator_words = cardinal(numerator, "and");
    let denominator = denominator.trim_start_matches('0');
    let plural = !numerator.trim_start_matches('0').is_empty() && !is_one(numerator);
    let denominator_words = match denominator {
        "2" if is_one(numerator) => "half".to_string(),
        "2" => "halves".to_string(),
        "1" => return numerator_words,
        _ if plural => ordinal_words(&cardinal(denominator, "and")) + "s",
        _ => ordinal_words(&cardinal(denominator, "and")),
    };
    format!("{numerator_words} {denominator_words}")
}

/// `_fraction_re`: `[0-9]+/[0-9]+`.
fn fraction_at(chars: &[char], start: usize) -> Attempt {
    if !is_digit_at(chars, start) {
        return Attempt::NoMatchBefore(start + 1);
    }
    let slash = digit_run_end(chars, start);
    if char_at(chars, slash) != Some('/') || !is_digit_at(chars, slash + 1) {
        return Attempt::NoMatchBefore(slash);
    }
    let end = digit_run_end(chars, slash + 1);
    let replacement = spell_fraction(&text_between(chars, start, slash), &text_between(chars, slash + 1, end));
    Attempt::Match { end, replacement }
}

/// `re.sub(_fraction_re, _expend_fraction, text)`.
pub fn spell_fractions(text: &str) -> String {
    substitute(text, fraction_at).0
}

/// `_ordinal_re` with `_expand_ordinal`: `[0-9]+(st|nd|rd|th)` (no word boundary, any suffix fits any
/// number) → inflect's ordinal words ("2nd" → "second", "11st" → "eleventh").
fn ordinal_at(chars: &[char], start: usize) -> Attempt {
    if !is_digit_at(chars, start) {
        return Attempt::NoMatchBefore(start + 1);
    }
    let digits_end = digit_run_end(chars, start);
    let suffix = text_between(chars, digits_end, digits_end + 2);
    if !matches!(suffix.as_str(), "st" | "nd" | "rd" | "th") {
        return Attempt::NoMatchBefore(digits_end);
    }
    let replacement = ordinal_words(&cardinal(&text_between(chars, start, digits_end), "and"));
    Attempt::Match { end: digits_end + 2, replacement }
}

/// `re.sub(_ordinal_re, _expand_ordinal, text)`.
pub fn spell_ordinals(text: &str) -> String {
    substitute(text, ordinal_at).0
}

/// `_expand_number`: years between 1001 and 2999 are read as such ("twenty twenty-four", "two thousand
/// five", "nineteen hundred", "nineteen oh five"), everything else as a cardinal without "and".
fn spell_number(digits: &str) -> String {
    let significant = digits.trim_start_matches('0');
    let year = if significant.len() == 4 { significant.parse::<u32>().ok() } else { None };
    match year {
        Some(2000) => "two thousand".to_string(),
        Some(year @ 2001..=2009) => format!("two thousand {}", cardinal(&(year % 100).to_string(), "and")),
        Some(year @ 1001..=2999) if year % 100 == 0 => {
            format!("{} hundred", cardinal(&(year / 100).to_string(), "and"))
        }
        Some(1001..=2999) => in_pairs(significant, "oh").replace(", ", " "),
        _ => cardinal(digits, ""),
    }
}

fn number_at(chars: &[char], start: usize) -> Attempt {
    if !is_digit_at(chars, start) {
        return Attempt::NoMatchBefore(start + 1);
    }
    let end = digit_run_end(chars, start);
    Attempt::Match { end, replacement: spell_number(&text_between(chars, start, end)) }
}

/// `_number_re`: every remaining run of ASCII digits.
pub fn spell_numbers(text: &str) -> String {
    substitute(text, number_at).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_ordinals_need_a_boundary_and_a_space() {
        assert_eq!(mark_list_ordinals("1. a 2024. b x3. c 4."), "1st, a 2024th, b x3. c 4.");
        assert_eq!(mark_list_ordinals("²5. a"), "²5. a");
    }

    #[test]
    fn commas_decimals_fractions() {
        assert_eq!(remove_digit_group_commas("1,234,567 and 1, 2 and ,,1,,2,"), "1234567 and 1, 2 and ,,12,");
        assert_eq!(spell_decimals("3.14 and 1. 5"), "3 point 1 4 and 1 point   5");
        assert_eq!(
            spell_fractions("3/4 1/2 3/2 6/1 0/2 1/3"),
            "three fourths one half three halves six zero halves one third"
        );
        assert_eq!(spell_fractions("2/101"), "two one hundred and firsts");
    }

    #[test]
    fn ordinals_and_years() {
        assert_eq!(spell_ordinals("1st 22nd 11st 15thousand"), "first twenty-second eleventh fifteenthousand");
        assert_eq!(spell_numbers("2024 2000 2005 1900 1905 3000 1000 0042"), 
            "twenty twenty-four two thousand two thousand five nineteen hundred nineteen oh five three thousand one thousand forty-two");
    }
}
