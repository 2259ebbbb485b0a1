//! Money amounts: mirrors `expend.py`'s `_pounds_re_start`/`_pounds_re_end` with `_expand_pounds` and
//! `_dollars_re_start`/`_dollars_re_end` with `_expand_dollars`. The amounts stay in digits
//! ("$19.99" → "19 dollars and 99 cents"); the later number rule spells them out.

use super::substitute::{char_at, run_end, substitute, text_between, Attempt};

/// One currency: its symbol and the singular/plural names of its units.
struct Currency {
    symbol: char,
    major: (&'static str, &'static str),
    minor: (&'static str, &'static str),
}

const POUNDS: Currency = Currency { symbol: '£', major: ("pound", "pounds"), minor: ("penny", "pence") };
const DOLLARS: Currency = Currency { symbol: '$', major: ("dollar", "dollars"), minor: ("cent", "cents") };

/// Python's `"%s" % int(part)`: the digits without leading zeros, or `None` for zero. Upstream raises
/// `ValueError` when a stray `,` or `(` reached the amount; here such characters are ignored.
fn amount_value(part: &str) -> Option<String> {
    let digits: String = part.chars().filter(char::is_ascii_digit).skip_while(|&c| c == '0').collect();
    (!digits.is_empty()).then_some(digits)
}

fn unit_name(value: &str, (singular, plural): (&'static str, &'static str)) -> &'static str {
    if value == "1" {
        singular
    } else {
        plural
    }
}

/// Mirrors `_expand_pounds`/`_expand_dollars` for the matched amount (symbol excluded).
fn spell_amount(amount: &str, currency: &Currency) -> String {
    let parts: Vec<&str> = amount.split('.').collect();
    if parts.len() > 2 {
        return format!("{amount} {}", currency.major.1);
    }
    let major = parts.first().and_then(|part| amount_value(part));
    let minor = parts.get(1).filter(|part| !part.is_empty()).and_then(|part| {
        let digits: String = part.chars().filter(char::is_ascii_digit).collect();
        amount_value(&format!("{digits:0<2}"))
    });
    match (major, minor) {
        (Some(major), Some(minor)) => {
            format!("{major} {} and {minor} {}", unit_name(&major, currency.major), unit_name(&minor, currency.minor))
        }
        (Some(major), None) => format!("{major} {}", unit_name(&major, currency.major)),
        (None, Some(minor)) => format!("{minor} {}", unit_name(&minor, currency.minor)),
        (None, None) => format!("zero {}", currency.major.1),
    }
}

fn is_amount_char(c: char) -> bool {
    c.is_ascii_digit() || c == '.' || c == ','
}

/// Where an amount `[0-9.,]*[0-9]+` starting at `from` ends: after the last digit of the run.
fn amount_end(chars: &[char], from: usize, is_amount: impl Fn(char) -> bool) -> Option<usize> {
    let run = run_end(chars, from, is_amount);
    (from..run).rev().find(|&i| char_at(chars, i).is_some_and(|c| c.is_ascii_digit())).map(|last| last + 1)
}

/// The symbol, then an amount: `£([0-9\.\,]*[0-9]+)`.
fn symbol_first_at(chars: &[char], start: usize, currency: &Currency) -> Attempt {
    if char_at(chars, start) != Some(currency.symbol) {
        return Attempt::NoMatchBefore(start + 1);
    }
    match amount_end(chars, start + 1, is_amount_char) {
        Some(end) => Attempt::Match { end, replacement: spell_amount(&text_between(chars, start + 1, end), currency) },
        None => Attempt::NoMatchBefore(start + 1),
    }
}

/// An amount, then the symbol: `([0-9\.\,]*[0-9]+)£`, where upstream's dollar pattern also admits `(`.
fn symbol_last_at(chars: &[char], start: usize, currency: &Currency, is_amount: impl Fn(char) -> bool) -> Attempt {
    if !char_at(chars, start).is_some_and(&is_amount) {
        return Attempt::NoMatchBefore(start + 1);
    }
    let run = run_end(chars, start, &is_amount);
    let digit_before_symbol = run > 0 && char_at(chars, run - 1).is_some_and(|c| c.is_ascii_digit());
    if digit_before_symbol && char_at(chars, run) == Some(currency.symbol) {
        Attempt::Match { end: run + 1, replacement: spell_amount(&text_between(chars, start, run), currency) }
    } else {
        // Every later start inside the run reaches the same end.
        Attempt::NoMatchBefore(run)
    }
}

/// The four currency passes of `expend.py::normalize`, in upstream order.
pub fn spell_currencies(text: &str) -> String {
    let text = substitute(text, |chars, start| symbol_first_at(chars, start, &POUNDS)).0;
    let text = substitute(&text, |chars, start| symbol_last_at(chars, start, &POUNDS, is_amount_char)).0;
    let text = substitute(&text, |chars, start| symbol_first_at(chars, start, &DOLLARS)).0;
    substitute(&text, |chars, start| symbol_last_at(chars, start, &DOLLARS, |c| c == '(' || is_amount_char(c))).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_both_positions() {
        assert_eq!(spell_currencies("$19.99 or 15£"), "19 dollars and 99 cents or 15 pounds");
        assert_eq!(spell_currencies("$1.5, $.01, $0, $007"), "1 dollar and 50 cents, 1 cent, zero dollars, 7 dollars");
        assert_eq!(spell_currencies("£1.2.3 and 32.3$"), "1.2.3 pounds and 32 dollars and 30 cents");
        assert_eq!(spell_currencies("£1 and 1.01£"), "1 pound and 1 pound and 1 penny");
        assert_eq!(spell_currencies("$ 5 and £."), "$ 5 and £.");
    }
}
