//! Spelling out Arabic numerals, mirroring g2pk2 0.0.3 `numerals.py` (`process_num`, `convert_num`).

use regex::{Captures, Regex};

/// Bound nouns counted with native Korean numerals (한, 두, 세, …). Upstream tests membership with
/// Python's substring operator on this space-separated string, so `데` (inside `군데`) or `루`
/// (inside `그루`) count as well; [`is_native_counter`] keeps that behaviour.
const BOUND_NOUNS: &str =
    "군데 권 개 그루 닢 대 두 마리 모 모금 뭇 발 발짝 방 번 벌 보루 살 수 술 시 쌈 움큼 정 짝 채 척 첩 축 켤레 톨 통";

/// Sino-Korean digit names for 1–9.
const SINO: [&str; 9] = ["일", "이", "삼", "사", "오", "육", "칠", "팔", "구"];
/// Native Korean modifier forms for 1–9 (units position).
const NATIVE_UNITS: [&str; 9] = ["한", "두", "세", "네", "다섯", "여섯", "일곱", "여덟", "아홉"];
/// Native Korean tens for 10–90 (tens position).
const NATIVE_TENS: [&str; 9] = ["열", "스물", "서른", "마흔", "쉰", "예순", "일흔", "여든", "아흔"];
/// Digit-by-digit names for the digits left over after bound-noun numbers are spelled out.
const DIGIT_NAMES: [&str; 10] = ["영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"];

/// Whether the bound noun takes native numerals (upstream `bn in BOUND_NOUNS`).
fn is_native_counter(bound_noun: &str) -> bool {
    BOUND_NOUNS.contains(bound_noun)
}

/// Index 0–8 of an ASCII digit 1–9; other characters (including `0` and non-ASCII digits, which
/// upstream's `dict.get(digit, "")` does not know) have no name.
fn nonzero_index(digit: char) -> Option<usize> {
    match digit {
        '1'..='9' => Some(digit as usize - '1' as usize),
        _ => None,
    }
}

fn sino_name(digit: char) -> &'static str {
    nonzero_index(digit).map_or("", |i| SINO[i])
}

/// A place-value word after the digit name, dropping the `일` of `일십`/`일백`/`일천`/`일만` where
/// upstream does (never for 억, 조 and the places above them).
fn place_name(digit: char, unit: &str, drop_one: bool) -> String {
    if drop_one && digit == '1' {
        unit.to_string()
    } else {
        format!("{}{unit}", sino_name(digit))
    }
}

/// Spells out a number made of digits and commas; mirrors `process_num`, quirks included: a zero
/// group is only skipped when the three places before it are silent, and places past 10^15 reuse
/// the previous place's word (upstream leaves the variable from the last iteration in place; where
/// there is none, upstream raises, and the place is silent here).
pub fn spell_number(num: &str, sino: bool) -> String {
    let digits: Vec<char> = num.chars().filter(|&c| c != ',').collect();
    if digits == ['0'] {
        return "영".to_string();
    }
    if !sino && digits == ['2', '0'] {
        return "스무".to_string();
    }
    let mut spelled: Vec<String> = Vec::with_capacity(digits.len());
    let mut name = String::new();
    for (pos, &digit) in digits.iter().enumerate() {
        let place = digits.len() - pos - 1;
        match (sino, place) {
            (true, 0) => name = sino_name(digit).to_string(),
            (true, 1) => name = place_name(digit, "십", true),
            (false, 0) => name = nonzero_index(digit).map_or("", |i| NATIVE_UNITS[i]).to_string(),
            (false, 1) => name = nonzero_index(digit).map_or("", |i| NATIVE_TENS[i]).to_string(),
            _ => {}
        }
        if digit == '0' {
            let silent_before = spelled.iter().rev().take(3).all(|s| s.is_empty());
            if !place.is_multiple_of(4) || silent_before {
                spelled.push(String::new());
                continue;
            }
        }
        let place_word = match place {
            2 | 6 => Some(("백", true)),
            3 | 7 => Some(("천", true)),
            4 => Some(("만", true)),
            5 => Some(("십", true)),
            8 => Some(("억", false)),
            9 | 13 => Some(("십", false)),
            10 | 14 => Some(("백", false)),
            11 | 15 => Some(("천", false)),
            12 => Some(("조", false)),
            _ => None,
        };
        if let Some((unit, drop_one)) = place_word {
            name = place_name(digit, unit, drop_one);
        }
        spelled.push(name.clone());
    }
    spelled.concat()
}

/// Numbers directly followed by a bound noun the annotator marked with `/B`.
const BOUND_NOUN_NUMBER: &str = r"(\d[\d,]*)([\x{3131}-\x{D7A3}]+)/B";

/// Spells out numbers; mirrors `convert_num`.
pub struct NumberSpeller {
    bound_noun_number: Regex,
}

impl NumberSpeller {
    /// Compiles the number pattern.
    pub fn new() -> Result<Self, String> {
        Ok(Self { bound_noun_number: Regex::new(BOUND_NOUN_NUMBER).map_err(|e| e.to_string())? })
    }

    /// Numbers before a `/B` bound noun are spelled as a whole (native numerals for the nouns of
    /// [`BOUND_NOUNS`], Sino-Korean otherwise), every other ASCII digit one by one. Upstream
    /// replaces each distinct match as a substring, in set order, which can rewrite the tail of a
    /// longer number first (`1일` inside `31일`) depending on Python's hash seed; each match is
    /// spelled out in place here, which is upstream's outcome whenever that order is benign.
    pub fn convert(&self, annotated: &str) -> String {
        let spelled = self.bound_noun_number.replace_all(annotated, |caps: &Captures| {
            let bound_noun = &caps[2];
            format!("{}{bound_noun}/B", spell_number(&caps[1], !is_native_counter(bound_noun)))
        });
        // `char::to_digit(10)` only knows ASCII digits, as upstream's `str.replace` loop.
        spelled
            .chars()
            .map(|ch| match ch.to_digit(10) {
                Some(d) => DIGIT_NAMES[d as usize].to_string(),
                None => ch.to_string(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spells_sino_and_native_numbers_like_upstream_docstrings() {
        assert_eq!(spell_number("123,456,789", true), "일억이천삼백사십오만육천칠백팔십구");
        assert_eq!(spell_number("123,456,789", false), "일억이천삼백사십오만육천칠백여든아홉");
        assert_eq!(spell_number("20", false), "스무");
        assert_eq!(spell_number("0", true), "영");
        assert_eq!(spell_number("10000", true), "만");
        assert_eq!(spell_number("100000000", true), "일억");
        assert_eq!(spell_number("1000", true), "천");
        assert_eq!(spell_number("99", false), "아흔아홉");
    }

    fn convert_numbers(text: &str) -> String {
        NumberSpeller::new().unwrap_or_else(|e| panic!("{e}")).convert(text)
    }

    #[test]
    fn converts_bound_noun_numbers_then_single_digits() {
        assert_eq!(convert_numbers("우리 3시/B 10분/B에 만나자."), "우리 세시/B 십분/B에 만나자.");
        assert_eq!(convert_numbers("12개/B 2개/B 305"), "열두개/B 두개/B 삼영오");
        // A substring match counts as native: 데 is part of 군데.
        assert_eq!(convert_numbers("3데/B"), "세데/B");
    }

    #[test]
    fn handles_places_beyond_upstream_table_without_panicking() {
        assert!(!spell_number("12345678901234567", true).is_empty());
        assert_eq!(spell_number("", true), "");
        assert_eq!(spell_number("３", false), "");
    }
}
