//! Clock times and measurement units: mirrors `expend.py`'s `_time_re`/`_expand_time` and
//! `_measurement_re`/`_expand_measurement`.

use super::number_words::cardinal;
use super::substitute::{char_at, run_end, substitute, text_between, Attempt};
use crate::text::python_chars::{word_ends_at, word_starts_at};

fn digit_value(chars: &[char], index: usize) -> Option<u32> {
    char_at(chars, index).and_then(|c| c.to_digit(10))
}

/// `_expand_time`: 24-hour time in words, e.g. "13:05" → "one five p.m.", "9:00" → "nine o'clock a.m.".
fn spell_time(hours: u32, minutes: u32) -> String {
    let period = if hours < 12 { "a.m." } else { "p.m." };
    let hours = if hours > 12 { hours - 12 } else { hours };
    let hour_words = cardinal(&hours.to_string(), "and");
    if minutes == 0 {
        format!("{hour_words} o'clock {period}")
    } else {
        format!("{hour_words} {} {period}", cardinal(&minutes.to_string(), "and"))
    }
}

/// `\b([01]?[0-9]|2[0-3]):([0-5][0-9])\b`. At most one way of reading the hour puts the colon where
/// it must be, so no backtracking between the alternatives is needed.
fn time_at(chars: &[char], start: usize) -> Attempt {
    let no_match = Attempt::NoMatchBefore(start + 1);
    let Some(first) = digit_value(chars, start).filter(|_| word_starts_at(chars, start)) else {
        return no_match;
    };
    let second = digit_value(chars, start + 1);
    let colon_next = |at: usize| char_at(chars, at) == Some(':');
    let (hours, colon) = match second {
        Some(second) if first <= 1 && colon_next(start + 2) => (first * 10 + second, start + 2),
        None if colon_next(start + 1) => (first, start + 1),
        Some(second @ 0..=3) if first == 2 && colon_next(start + 2) => (20 + second, start + 2),
        _ => return no_match,
    };
    let minutes = match (digit_value(chars, colon + 1), digit_value(chars, colon + 2)) {
        (Some(tens @ 0..=5), Some(units)) if word_ends_at(chars, colon + 3) => tens * 10 + units,
        _ => return no_match,
    };
    Attempt::Match { end: colon + 3, replacement: spell_time(hours, minutes) }
}

/// `re.sub(_time_re, _expand_time, text)`.
pub fn spell_times(text: &str) -> String {
    substitute(text, time_at).0
}

/// `measurement_map`, in the order of `_measurement_re`'s alternation (which decides, e.g., that
/// "km/h" is never reached because "km" matches first).
const UNITS: [(&str, &str, &str); 12] = [
    ("m", "meter", "meters"),
    ("km", "kilometer", "kilometers"),
    ("km/h", "kilometer per hour", "kilometers per hour"),
    ("ft", "feet", "feet"),
    ("L", "liter", "liters"),
    ("tbsp", "tablespoon", "tablespoons"),
    ("tsp", "teaspoon", "teaspoons"),
    ("h", "hour", "hours"),
    ("min", "minute", "minutes"),
    ("s", "second", "seconds"),
    ("°C", "degree celsius", "degrees celsius"),
    ("°F", "degree fahrenheit", "degrees fahrenheit"),
];

/// `\b([0-9]+(\.[0-9]+)?(m|km|…|°F))\b` → "<number> <unit name>", singular only for a plain 1.
fn measurement_at(chars: &[char], start: usize) -> Attempt {
    if !char_at(chars, start).is_some_and(|c| c.is_ascii_digit()) || !word_starts_at(chars, start) {
        return Attempt::NoMatchBefore(start + 1);
    }
    let integer_end = run_end(chars, start, |c| c.is_ascii_digit());
    let has_fraction =
        char_at(chars, integer_end) == Some('.') && char_at(chars, integer_end + 1).is_some_and(|c| c.is_ascii_digit());
    let number_end = if has_fraction { run_end(chars, integer_end + 1, |c| c.is_ascii_digit()) } else { integer_end };
    let unit = UNITS.iter().find_map(|&(symbol, singular, plural)| {
        let end = number_end + symbol.chars().count();
        let symbol_here = chars.get(number_end..end).is_some_and(|slice| slice.iter().copied().eq(symbol.chars()));
        (symbol_here && word_ends_at(chars, end)).then_some((end, singular, plural))
    });
    let Some((end, singular, plural)) = unit else {
        return Attempt::NoMatchBefore(integer_end);
    };
    let number = text_between(chars, start, number_end);
    let name = if !has_fraction && number.trim_start_matches('0') == "1" { singular } else { plural };
    Attempt::Match { end, replacement: format!("{number} {name}") }
}

/// `re.sub(_measurement_re, _expand_measurement, text)`.
pub fn spell_measurements(text: &str) -> String {
    substitute(text, measurement_at).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(
            spell_times("10:30, 13:00, 0:05, 23:59"),
            "ten thirty a.m., one o'clock p.m., zero five a.m., eleven fifty-nine p.m."
        );
        assert_eq!(spell_times("24:00 123:45 1:305 a1:30"), "24:00 123:45 1:305 a1:30");
    }

    #[test]
    fn measurements() {
        assert_eq!(
            spell_measurements("5km 25min 1L 01m 1.0s 20°C"),
            "5 kilometers 25 minutes 1 liter 01 meter 1.0 seconds 20 degrees celsius"
        );
        assert_eq!(spell_measurements("5km/h 1st 5m² 1.5.3m"), "5 kilometers/h 1st 5m² 1.5.3 meters");
    }
}
