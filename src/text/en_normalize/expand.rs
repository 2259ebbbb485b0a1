//! Mirrors `GPT_SoVITS/text/en_normalization/expend.py::normalize`: numbers, money, times, units and
//! arithmetic spelled out in English, then the text reduced to letters and `'.,?!-`.

use super::arithmetic::{speak_negative_numbers, speak_operators};
use super::clock_and_units::{spell_measurements, spell_times};
use super::currency::spell_currencies;
use super::letters::{expand_latin_abbreviations, space_inner_capitals, strip_to_ascii};
use super::numerals::{
    mark_list_ordinals, remove_digit_group_commas, spell_decimals, spell_fractions, spell_numbers, spell_ordinals,
};

/// The rules in upstream order; each one sees the output of the previous one.
pub fn normalize(text: &str) -> String {
    let text = mark_list_ordinals(text);
    let text = speak_operators(&text);
    let text = speak_negative_numbers(&text);
    let text = remove_digit_group_commas(&text);
    let text = spell_times(&text);
    let text = spell_measurements(&text);
    let text = spell_currencies(&text);
    let text = spell_decimals(&text);
    let text = spell_fractions(&text);
    let text = spell_ordinals(&text);
    let text = spell_numbers(&text);
    let text = strip_to_ascii(&text);
    let text = expand_latin_abbreviations(&text);
    space_inner_capitals(&text)
}
