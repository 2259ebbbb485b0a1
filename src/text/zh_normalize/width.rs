//! Full-width → half-width letters and digits; mirrors the `F2H_ASCII_LETTERS` and `F2H_DIGITS`
//! translations of `zh_normalization/constants.py`. Its `F2H_SPACE` table is keyed by a string,
//! not a code point, so `str.translate` never applies it: U+3000 stays as it is.
//!
//! Other Unicode decimal digits are folded to ASCII as well. Upstream's rules match them (Python's
//! `\d` is Unicode-aware) but then fail on the lookup of their reading (a `KeyError`), so upstream
//! has no output for such text; reading them like 0–9 lets every rule here use `[0-9]`.

/// First code point (digit zero) of every run of ten Unicode decimal digits (category Nd),
/// Unicode 14.0 as used by Python 3.11. Runs are contiguous and ordered 0–9.
const DECIMAL_ZEROS: [u32; 66] = [
    0x0030, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0DE6,
    0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40,
    0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0,
    0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50,
    0x11DA0, 0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950,
    0x1FBF0,
];

const FULL_WIDTH_OFFSET: u32 = 0xFEE0;

/// The ASCII digit of a decimal digit of any script.
fn ascii_digit(c: char) -> Option<char> {
    let code = u32::from(c);
    let zero_index = DECIMAL_ZEROS.partition_point(|&zero| zero <= code).checked_sub(1)?;
    let value = code - DECIMAL_ZEROS[zero_index];
    (value < 10).then(|| char::from_digit(value, 10)).flatten()
}

fn half_width(c: char) -> char {
    match c {
        'Ａ'..='Ｚ' | 'ａ'..='ｚ' => char::from_u32(u32::from(c) - FULL_WIDTH_OFFSET).unwrap_or(c),
        _ => ascii_digit(c).unwrap_or(c),
    }
}

/// Applies the half-width translations (and the digit folding) to every character.
pub(super) fn to_half_width(text: &str) -> String {
    text.chars().map(half_width).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_full_width_and_other_digits() {
        assert_eq!(to_half_width("ＡＢｃ１２\u{3000}٣𝟗Ｃ＋"), "ABc12\u{3000}39C＋");
    }

    #[test]
    fn non_digits_near_digit_runs_are_kept() {
        // U+0669 is ARABIC-INDIC NINE, U+066A (the Arabic percent sign) is not a digit.
        assert_eq!(to_half_width("\u{0669}\u{066A}"), "9\u{066A}");
    }
}
