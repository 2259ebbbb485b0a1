//! Telephone numbers, read digit by digit with 1 as 幺; mirrors `zh_normalization/phonecode.py`.

use super::pattern::{group, Rule};
use super::verbalize::verbalize_digit;

fn is_ascii_digit(c: char) -> bool {
    c.is_ascii_digit()
}

/// Mainland mobile numbers, optionally `+86 `-prefixed, not inside a longer digit run
/// (`RE_MOBILE_PHONE`; its look-arounds are emulated, see `pattern`).
static MOBILE: Rule =
    Rule::not_after("((\\+?86 ?)?1([38][0-9]|5[0-35-9]|7[678]|9[89])[0-9]{8})(?P<ahead>[^0-9]|$)", is_ascii_digit);

/// Landlines with an optional area code, not inside a longer digit run (`RE_TELEPHONE`).
static TELEPHONE: Rule =
    Rule::not_after("((0(10|2[1-3]|[3-9][0-9]{2})-?)?[1-9][0-9]{6,7})(?P<ahead>[^0-9]|$)", is_ascii_digit);

/// `400` service numbers (`RE_NATIONAL_UNIFORM_NUMBER`).
static NATIONAL_UNIFORM: Rule = Rule::new("(400)(-)?[0-9]{3}(-)?[0-9]{4}");

/// Reads each part digit by digit, parts joined by `，`. Mirrors `phonecode.py::phone2str`:
/// mobile numbers are split on whitespace (after trimming `+`), landlines on `-`.
fn phone2str(number: &str, mobile: bool) -> String {
    let parts: Vec<String> = if mobile {
        number.trim_matches('+').split_whitespace().map(|part| verbalize_digit(part, true)).collect()
    } else {
        number.split('-').map(|part| verbalize_digit(part, true)).collect()
    };
    parts.join("，")
}

/// Mirrors `text_normlization.py`'s `RE_MOBILE_PHONE`, `RE_TELEPHONE` and
/// `RE_NATIONAL_UNIFORM_NUMBER` substitutions, in that order.
pub(super) fn replace_phone_numbers(sentence: &str) -> String {
    let mobiles = MOBILE.replace_all(sentence, |caps| Some(phone2str(group(caps, 1), true)));
    let landlines = TELEPHONE.replace_all(&mobiles, |caps| Some(phone2str(group(caps, 1), false)));
    NATIONAL_UNIFORM.replace_all(&landlines, |caps| Some(phone2str(group(caps, 0), false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_rules_compile() {
        assert!([&MOBILE, &TELEPHONE, &NATIONAL_UNIFORM].iter().all(|rule| rule.compiles()));
    }

    #[test]
    fn mobile_and_landline() {
        assert_eq!(replace_phone_numbers("+86 13812345678"), "八六，幺三八幺二三四五六七八");
        assert_eq!(replace_phone_numbers("010-12345678"), "零幺零，幺二三四五六七八");
        assert_eq!(replace_phone_numbers("400-123-4567"), "四零零，幺二三，四五六七");
    }

    #[test]
    fn digit_runs_around_numbers_block_them() {
        assert_eq!(replace_phone_numbers("913812345678"), "913812345678");
        assert_eq!(replace_phone_numbers("138123456789"), "138123456789");
    }
}
