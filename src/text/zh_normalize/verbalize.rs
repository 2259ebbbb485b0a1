//! Reading digit strings as Chinese numerals; mirrors the helpers of `zh_normalization/num.py`
//! (`verbalize_digit`, `verbalize_cardinal`, `_get_value`, `num2str`).
//!
//! Inputs are the ASCII digit strings captured by the rules (non-ASCII digits were folded to
//! ASCII beforehand); any other byte is ignored rather than trusted.

const DIGITS: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];

const TEN: &str = "十";
const HUNDRED_MILLION: &str = "亿";

/// Place-value units by number of trailing digits, largest first (`num.py::UNITS`).
const UNITS: [(usize, &str); 5] = [(8, HUNDRED_MILLION), (4, "万"), (3, "千"), (2, "百"), (1, TEN)];

fn digit_name(byte: u8) -> Option<&'static str> {
    DIGITS.get(usize::from(byte.wrapping_sub(b'0'))).copied()
}

/// Digit by digit (`2024` → 二零二四); `alt_one` reads 1 as 幺, as for phone numbers.
/// Mirrors `num.py::verbalize_digit`.
pub(super) fn verbalize_digit(digits: &str, alt_one: bool) -> String {
    digits.bytes().filter_map(digit_name).map(|name| if alt_one && name == DIGITS[1] { "幺" } else { name }).collect()
}

/// Place-value reading of an integer (`1024` → 一千零二十四, `12` → 十二).
/// Mirrors `num.py::verbalize_cardinal`.
pub(super) fn verbalize_cardinal(digits: &str) -> String {
    if digits.is_empty() {
        return String::new();
    }
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        return DIGITS[0].to_owned();
    }
    let mut symbols = Vec::new();
    push_value(significant.as_bytes(), &mut symbols);
    // 一十… is read 十…
    if symbols.len() >= 2 && symbols[0] == DIGITS[1] && symbols[1] == TEN {
        symbols.remove(0);
    }
    symbols.concat()
}

/// Mirrors `num.py::_get_value`: split at the largest unit shorter than the significant digits,
/// read both halves, and write 零 where a half starts with zeros before a single digit.
/// The 亿 split is done in a loop so very long numbers cannot exhaust the stack.
fn push_value(digits: &[u8], out: &mut Vec<&'static str>) {
    let leading_zeros = digits.iter().take_while(|&&b| b == b'0').count();
    let significant = &digits[leading_zeros..];
    match significant {
        [] => {}
        [single] => {
            if leading_zeros > 0 {
                out.push(DIGITS[0]);
            }
            out.extend(digit_name(*single));
        }
        _ => {
            let Some(&(power, unit)) = UNITS.iter().find(|(power, _)| *power < significant.len()) else {
                return;
            };
            if unit == HUNDRED_MILLION {
                let mut head = digits;
                let mut tails = Vec::new();
                while head.len() - leading_zeros > power {
                    let (rest, tail) = head.split_at(head.len() - power);
                    tails.push(tail);
                    head = rest;
                }
                push_value(head, out);
                for tail in tails.iter().rev() {
                    out.push(unit);
                    push_value(tail, out);
                }
            } else {
                let (head, tail) = digits.split_at(digits.len() - power);
                push_value(head, out);
                out.push(unit);
                push_value(tail, out);
            }
        }
    }
}

/// Integer or decimal string (`3.14` → 三点一四, `.5` → 零点五). Mirrors `num.py::num2str`,
/// including its handling of trailing zeros (`3.20` → 三点二零, `3.00` → 三点零).
/// Upstream raises on a second decimal point; no rule here captures one, extra parts are ignored.
pub(super) fn num2str(value: &str) -> String {
    let mut parts = value.split('.');
    let integer = parts.next().unwrap_or_default();
    let decimal = parts.next().unwrap_or_default();
    let mut result = verbalize_cardinal(integer);
    let decimal =
        if decimal.ends_with('0') { format!("{}0", decimal.trim_end_matches('0')) } else { decimal.to_owned() };
    if !decimal.is_empty() {
        if result.is_empty() {
            result.push_str(DIGITS[0]);
        }
        result.push('点');
        result.push_str(&verbalize_digit(&decimal, false));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cardinal_readings() {
        let cases = [
            ("0", "零"),
            ("000", "零"),
            ("7", "七"),
            ("10", "十"),
            ("12", "十二"),
            ("20", "二十"),
            ("101", "一百零一"),
            ("110", "一百一十"),
            ("1001", "一千零一"),
            ("10000", "一万"),
            ("10010", "一万零一十"),
            ("100000", "十万"),
            ("120000", "十二万"),
            ("100000000", "一亿"),
            ("10000000000000000", "一亿亿"),
            ("123456789", "一亿二千三百四十五万六千七百八十九"),
        ];
        for (digits, expected) in cases {
            assert_eq!(verbalize_cardinal(digits), expected, "{digits}");
        }
    }

    #[test]
    fn decimal_readings_keep_upstream_trailing_zero_rule() {
        assert_eq!(num2str("3.14"), "三点一四");
        assert_eq!(num2str(".5"), "零点五");
        assert_eq!(num2str("3.20"), "三点二零");
        assert_eq!(num2str("3.00"), "三点零");
        assert_eq!(num2str("3."), "三");
    }

    #[test]
    fn digits_and_alt_one() {
        assert_eq!(verbalize_digit("2024", false), "二零二四");
        assert_eq!(verbalize_digit("110", true), "幺幺零");
    }

    #[test]
    fn very_long_number_does_not_overflow_the_stack() {
        let digits = "9".repeat(200_000);
        assert!(verbalize_cardinal(&digits).ends_with("九千九百九十九万九千九百九十九"));
    }
}
