//! Spoken arithmetic: mirrors `expend.py`'s `RE_ASMD`/`replace_asmd` ("3 + 4" → "3 plus 4") and
//! `RE_INTEGER`/`replace_negative_num` (" -5" → "negative 5").

use super::substitute::{char_at, run_end, substitute, text_between, Attempt};
use crate::text::python_chars::{is_decimal, is_space};

/// Characters `RE_ASMD` accepts after an operand (superscript digits and x, y, n).
fn is_superscript(c: char) -> bool {
    matches!(c, '⁰' | '¹' | '²' | '³' | '⁴' | '⁵' | '⁶' | '⁷' | '⁸' | '⁹' | 'ˣ' | 'ʸ' | 'ⁿ')
}

/// `asmd_map`: the spoken form of each operator, spaces included.
fn operator_words(c: char) -> Option<&'static str> {
    match c {
        '+' => Some(" plus "),
        '-' => Some(" minus "),
        '×' => Some(" times "),
        '÷' => Some(" divided by "),
        '=' => Some(" Equals "),
        _ => None,
    }
}

/// End of the `RE_ASMD` operand starting at `start`, which is one of `-?\d+(\.\d+)?`, `\.\d+` or a
/// single ASCII letter, each followed by superscripts. Every part is greedy, and nothing an operand
/// can end with may begin the text that follows it, so the greedy parse is the only one that matters.
fn operand_end(chars: &[char], start: usize) -> Option<usize> {
    let first = char_at(chars, start)?;
    let digits_after = |at: usize| char_at(chars, at).is_some_and(is_decimal);
    let body_end = if first == '.' || (first == '-' && digits_after(start + 1)) || is_decimal(first) {
        let digits_start = if is_decimal(first) { start } else { start + 1 };
        if !digits_after(digits_start) {
            return None;
        }
        let integer_end = run_end(chars, digits_start, is_decimal);
        if first != '.' && char_at(chars, integer_end) == Some('.') && digits_after(integer_end + 1) {
            run_end(chars, integer_end + 1, is_decimal)
        } else {
            integer_end
        }
    } else if first.is_ascii_alphabetic() {
        start + 1
    } else {
        return None;
    };
    Some(run_end(chars, body_end, is_superscript))
}

/// One `RE_ASMD` attempt: operand, spaces, operator, spaces, operand.
fn operation_at(chars: &[char], start: usize) -> Attempt {
    let Some(left_end) = operand_end(chars, start) else {
        return Attempt::NoMatchBefore(start + 1);
    };
    // A start inside the operand's leading digit run would reach the same continuation and fail alike.
    let fail = Attempt::NoMatchBefore(if char_at(chars, start).is_some_and(is_decimal) {
        run_end(chars, start, is_decimal)
    } else {
        start + 1
    });
    let operator_at = run_end(chars, left_end, is_space);
    let Some(words) = char_at(chars, operator_at).filter(|_| operator_at > left_end).and_then(operator_words) else {
        return fail;
    };
    let right_start = run_end(chars, operator_at + 1, is_space);
    if right_start == operator_at + 1 {
        return fail;
    }
    let Some(right_end) = operand_end(chars, right_start) else {
        return fail;
    };
    let replacement =
        format!("{}{words}{}", text_between(chars, start, left_end), text_between(chars, right_start, right_end));
    Attempt::Match { end: right_end, replacement }
}

/// Mirrors the `while RE_ASMD.search(text): text = RE_ASMD.sub(replace_asmd, text)` loop: a chain such
/// as "1 + 2 + 3" needs several passes because matches cannot overlap.
pub fn speak_operators(text: &str) -> String {
    let mut text = text.to_string();
    loop {
        let (next, count) = substitute(&text, operation_at);
        if count == 0 {
            return text;
        }
        text = next;
    }
}

/// One `RE_INTEGER` attempt, `(?:^|\s+)(-)(\d+)`: the whitespace before the sign is dropped.
fn negative_number_at(chars: &[char], start: usize) -> Attempt {
    let sign_at = if start == 0 && char_at(chars, 0) == Some('-') {
        0
    } else if char_at(chars, start).is_some_and(is_space) {
        run_end(chars, start, is_space)
    } else {
        return Attempt::NoMatchBefore(start + 1);
    };
    if char_at(chars, sign_at) == Some('-') && char_at(chars, sign_at + 1).is_some_and(is_decimal) {
        let end = run_end(chars, sign_at + 1, is_decimal);
        return Attempt::Match { end, replacement: format!("negative {}", text_between(chars, sign_at + 1, end)) };
    }
    Attempt::NoMatchBefore(sign_at)
}

/// Mirrors `RE_INTEGER.sub(replace_negative_num, text)`.
pub fn speak_negative_numbers(text: &str) -> String {
    substitute(text, negative_number_at).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_chain_and_keep_operands() {
        assert_eq!(speak_operators("1 + 2 + 3 = x"), "1 plus 2 plus 3 Equals x");
        assert_eq!(speak_operators("hello - world"), "hello minus world");
        assert_eq!(speak_operators("-1.5² × .5"), "-1.5² times .5");
        assert_eq!(speak_operators("a - - b"), "a - - b");
        assert_eq!(speak_operators("5.3.4 + 1"), "5.3.4 plus 1");
    }

    #[test]
    fn negative_numbers_swallow_leading_space() {
        assert_eq!(speak_negative_numbers("-19°C, -5 and x-3"), "negative 19°C,negative 5 and x-3");
        assert_eq!(speak_negative_numbers(" \u{1f}-٣"), "negative ٣");
    }
}
