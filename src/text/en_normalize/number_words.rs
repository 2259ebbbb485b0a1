//! English number wording: the parts of inflect 7.6.0's `engine` that `expend.py` reaches
//! (`number_to_words` for non-negative integers, with and without `group=2`, and `ordinal`).
//!
//! inflect builds its text with regex passes and whitespace clean-ups; the functions here produce the
//! same final strings directly. All inputs are strings of ASCII digits so that arbitrarily long
//! numbers never overflow.

const UNITS: [&str; 10] = ["", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
const TEENS: [&str; 10] =
    ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"];
const TENS: [&str; 10] = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
/// inflect's `mill` list: the name of each power of one thousand it knows (index 0 has none).
const THOUSAND_POWERS: [&str; 12] = [
    "",
    "thousand",
    "million",
    "billion",
    "trillion",
    "quadrillion",
    "quintillion",
    "sextillion",
    "septillion",
    "octillion",
    "nonillion",
    "decillion",
];
/// inflect's `ordinal` table: word endings rewritten when a cardinal becomes an ordinal.
const ORDINAL_ENDINGS: [(&str, &str); 8] = [
    ("ty", "tieth"),
    ("one", "first"),
    ("two", "second"),
    ("three", "third"),
    ("five", "fifth"),
    ("eight", "eighth"),
    ("nine", "ninth"),
    ("twelve", "twelfth"),
];

/// The numeric values of the ASCII digits in `digits`, leading zeros removed (anything else is ignored).
fn significant_digits(digits: &str) -> Vec<u8> {
    let values: Vec<u8> = digits.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
    let first_nonzero = values.iter().position(|&d| d != 0).unwrap_or(values.len());
    values[first_nonzero..].to_vec()
}

/// Mirrors inflect `tenfn` (without its trailing thousands word): "twenty-one", "twelve", "forty".
fn tens_and_units(tens: u8, units: u8) -> String {
    let (tens, units) = (usize::from(tens), usize::from(units));
    if tens == 1 {
        return TEENS[units].to_string();
    }
    let hyphen = if tens != 0 && units != 0 { "-" } else { "" };
    format!("{}{hyphen}{}", TENS[tens], UNITS[units])
}

/// Mirrors inflect `hundfn` for one non-zero group of three digits: "two hundred and thirty-four".
fn hundreds_phrase(hundreds: u8, tens: u8, units: u8, andword: &str) -> String {
    let mut words = Vec::new();
    if hundreds != 0 {
        words.push(format!("{} hundred", UNITS[usize::from(hundreds)]));
        if (tens != 0 || units != 0) && !andword.is_empty() {
            words.push(andword.to_string());
        }
    }
    if tens != 0 || units != 0 {
        words.push(tens_and_units(tens, units));
    }
    words.join(" ")
}

/// Reads digits one at a time ("one two zero"): used where inflect gives up with `NumOutOfRangeError`
/// (more than 36 significant digits), so that such numbers are still spoken instead of failing.
fn digit_by_digit(digits: &[u8]) -> String {
    let words: Vec<&str> = digits.iter().map(|&d| if d == 0 { "zero" } else { UNITS[usize::from(d)] }).collect();
    words.join(" ")
}

/// Mirrors inflect `number_to_words(n, andword=andword)` for a non-negative integer given as digits
/// (leading zeros allowed), e.g. 1234567 → "one million, two hundred and thirty-four thousand, five
/// hundred and sixty-seven". A final group below one hundred is joined with `andword` instead of a comma
/// ("one thousand and five"; with an empty `andword`: "one thousand five").
pub fn cardinal(digits: &str, andword: &str) -> String {
    let digits = significant_digits(digits);
    if digits.is_empty() {
        return "zero".to_string();
    }
    let group_count = digits.len().div_ceil(3);
    if group_count > THOUSAND_POWERS.len() {
        return digit_by_digit(&digits);
    }
    let padding = group_count * 3 - digits.len();
    let mut padded = vec![0u8; padding];
    padded.extend_from_slice(&digits);

    let mut phrases: Vec<String> = Vec::new();
    let mut last_is_bare_units = false;
    for (index, group) in padded.chunks_exact(3).enumerate() {
        let power = group_count - 1 - index;
        let (hundreds, tens, units) = (group[0], group[1], group[2]);
        if hundreds == 0 && tens == 0 && units == 0 {
            continue;
        }
        let mut phrase = hundreds_phrase(hundreds, tens, units, andword);
        if power > 0 {
            phrase.push(' ');
            phrase.push_str(THOUSAND_POWERS[power]);
        }
        phrases.push(phrase);
        last_is_bare_units = power == 0 && hundreds == 0;
    }
    // inflect's `COMMA_WORD` pass: ", <one word>" at the very end becomes " <andword> <word>".
    if last_is_bare_units && phrases.len() > 1 {
        if let Some(last) = phrases.pop() {
            let head = phrases.join(", ");
            return if andword.is_empty() { format!("{head} {last}") } else { format!("{head} {andword} {last}") };
        }
    }
    phrases.join(", ")
}

/// Mirrors inflect `number_to_words(n, group=2, zero=zero, andword="")`: the digits read in pairs from
/// the right, pairs separated by ", " (1905 → "nineteen, oh five" with `zero = "oh"`).
pub fn in_pairs(digits: &str, zero: &str) -> String {
    let mut digits: Vec<u8> = digits.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
    if digits.is_empty() {
        digits.push(0);
    }
    let head_len = (digits.len() - 1) % 2 + 1;
    let (head, rest) = digits.split_at(head_len);
    let mut parts = Vec::with_capacity(rest.len() / 2 + 1);
    for part in std::iter::once(head).chain(rest.chunks(2)) {
        let words = match *part {
            [0] => zero.to_string(),
            [units] => UNITS[usize::from(units)].to_string(),
            [0, units] => format!("{zero} {}", if units == 0 { zero } else { UNITS[usize::from(units)] }),
            [tens, units] => tens_and_units(tens, units),
            // `split_at`/`chunks(2)` above only yield parts of one or two digits.
            _ => String::new(),
        };
        parts.push(words);
    }
    parts.join(", ")
}

/// Mirrors inflect `ordinal(digits)` for a string of digits: the digits followed by "st", "nd", "rd"
/// or "th" (`1` → "1st", `112` → "112th", `007` → "007th").
pub fn ordinal_digits(digits: &str) -> String {
    let mut last_two = digits.bytes().rev().take_while(u8::is_ascii_digit).take(2).map(|b| b - b'0');
    let units = last_two.next().unwrap_or(0);
    let tens = last_two.next().unwrap_or(0);
    let suffix = match (tens, units) {
        (1, _) => "th",
        (_, 1) => "st",
        (_, 2) => "nd",
        (_, 3) => "rd",
        _ => "th",
    };
    format!("{digits}{suffix}")
}

/// Mirrors inflect `ordinal(words)` (its `_sub_ord`): turns the last number word into its ordinal
/// ("twenty-one" → "twenty-first", "forty" → "fortieth", "hundred" → "hundredth").
pub fn ordinal_words(words: &str) -> String {
    for (ending, replacement) in ORDINAL_ENDINGS {
        if let Some(stem) = words.strip_suffix(ending) {
            return format!("{stem}{replacement}");
        }
    }
    format!("{words}th")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cardinal_groups_with_commas_and_final_and() {
        assert_eq!(cardinal("1234567", ""), "one million, two hundred thirty-four thousand, five hundred sixty-seven");
        assert_eq!(cardinal("1005", "and"), "one thousand and five");
        assert_eq!(cardinal("1005", ""), "one thousand five");
        assert_eq!(cardinal("1000001", "and"), "one million and one");
        assert_eq!(cardinal("2000000", "and"), "two million");
        assert_eq!(cardinal("0105", "and"), "one hundred and five");
        assert_eq!(cardinal("000", "and"), "zero");
        assert_eq!(cardinal("110", ""), "one hundred ten");
    }

    #[test]
    fn cardinal_beyond_decillions_reads_digits() {
        assert_eq!(cardinal(&"9".repeat(36), "").split(", ").count(), 12);
        assert_eq!(cardinal(&format!("1{}", "0".repeat(36)), ""), format!("one{}", " zero".repeat(36)));
    }

    #[test]
    fn pairs_and_ordinals() {
        assert_eq!(in_pairs("1905", "oh"), "nineteen, oh five");
        assert_eq!(in_pairs("123", "oh"), "one, twenty-three");
        assert_eq!(ordinal_digits("2024"), "2024th");
        assert_eq!(ordinal_digits("111"), "111th");
        assert_eq!(ordinal_digits("21"), "21st");
        assert_eq!(ordinal_words("twenty-one"), "twenty-first");
        assert_eq!(ordinal_words("one hundred and twelve"), "one hundred and twelfth");
        assert_eq!(ordinal_words("ninety"), "ninetieth");
        assert_eq!(ordinal_words("zero"), "zeroth");
    }
}
