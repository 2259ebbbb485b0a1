//! Dates and clock times; mirrors `zh_normalization/chronology.py`.

use regex::Captures;

use super::pattern::{group, Rule};
use super::verbalize::{num2str, verbalize_cardinal, verbalize_digit};

/// `2024年3月15日`, `24年`, `3月5号` after a year (`RE_DATE`).
static DATE: Rule =
    Rule::new(concat!("([0-9]{4}|[0-9]{2})年", "((0?[1-9]|1[0-2])月)?", "(((0?[1-9])|((1|2)[0-9])|30|31)([日号]))?",));

/// `2024-03-15`, `2024/03/15`, `2024.03.15`, `2024 03 15` (`RE_DATE2`). Upstream requires the
/// second separator to equal the first (`\2`); [`replace_date2`] checks that.
static DATE2: Rule = Rule::new("([0-9]{4})([- /.])(0[1-9]|1[012])([- /.])(0[1-9]|[12][0-9]|3[01])");

/// `8:30-12:30`, `08:00:05~09:00` (`RE_TIME_RANGE`).
static TIME_RANGE: Rule = Rule::new(concat!(
    "([0-1]?[0-9]|2[0-3]):([0-5][0-9])(:([0-5][0-9]))?",
    "(~|-)",
    "([0-1]?[0-9]|2[0-3]):([0-5][0-9])(:([0-5][0-9]))?",
));

/// `8:30`, `23:59:59` (`RE_TIME`).
static TIME: Rule = Rule::new("([0-1]?[0-9]|2[0-3]):([0-5][0-9])(:([0-5][0-9]))?");

/// Mirrors `chronology.py::replace_date`.
pub(super) fn replace_dates(sentence: &str) -> String {
    DATE.replace_all(sentence, |caps| {
        let mut result = format!("{}年", verbalize_digit(group(caps, 1), false));
        let month = group(caps, 3);
        if !month.is_empty() {
            result += &format!("{}月", verbalize_cardinal(month));
        }
        let day = group(caps, 5);
        if !day.is_empty() {
            result += &format!("{}{}", verbalize_cardinal(day), group(caps, 9));
        }
        Some(result)
    })
}

/// Mirrors `chronology.py::replace_date2`.
pub(super) fn replace_dates2(sentence: &str) -> String {
    DATE2.replace_all(sentence, |caps| {
        (group(caps, 2) == group(caps, 4)).then(|| {
            format!(
                "{}年{}月{}日",
                verbalize_digit(group(caps, 1), false),
                verbalize_cardinal(group(caps, 3)),
                verbalize_cardinal(group(caps, 5))
            )
        })
    })
}

/// Minutes or seconds after the hour: a leading zero is read (`05` → 零五).
/// Mirrors `chronology.py::_time_num2str`.
fn time_num2str(digits: &str) -> String {
    let reading = num2str(digits.trim_start_matches('0'));
    if digits.starts_with('0') {
        format!("零{reading}")
    } else {
        reading
    }
}

/// One `hour点[minute分|半][second秒]` reading. `half_hour` decides 半: upstream tests the
/// *first* time's minute for both ends of a range, which is kept.
fn clock_reading(hour: &str, minute: &str, second: &str, half_hour: bool) -> String {
    let mut result = format!("{}点", num2str(hour));
    if !minute.trim_start_matches('0').is_empty() {
        if half_hour {
            result.push('半');
        } else {
            result += &format!("{}分", time_num2str(minute));
        }
    }
    if !second.trim_start_matches('0').is_empty() {
        result += &format!("{}秒", time_num2str(second));
    }
    result
}

/// Mirrors `chronology.py::replace_time` applied with `RE_TIME_RANGE`, then with `RE_TIME`.
pub(super) fn replace_times(sentence: &str) -> String {
    let ranges_done = TIME_RANGE.replace_all(sentence, |caps: &Captures| {
        let first_is_half = group(caps, 2) == "30";
        let start = clock_reading(group(caps, 1), group(caps, 2), group(caps, 4), first_is_half);
        let end = clock_reading(group(caps, 6), group(caps, 7), group(caps, 9), first_is_half);
        Some(format!("{start}至{end}"))
    });
    TIME.replace_all(&ranges_done, |caps| {
        let minute = group(caps, 2);
        Some(clock_reading(group(caps, 1), minute, group(caps, 4), minute == "30"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_rules_compile() {
        assert!([&DATE, &DATE2, &TIME_RANGE, &TIME].iter().all(|rule| rule.compiles()));
    }

    #[test]
    fn dates() {
        assert_eq!(replace_dates("2024年3月15日"), "二零二四年三月十五日");
        assert_eq!(replace_dates("12345年13月"), "1二三四五年13月");
        assert_eq!(replace_dates2("2024-03-15 2024-03/15"), "二零二四年三月十五日 2024-03/15");
    }

    #[test]
    fn times_keep_upstream_half_hour_quirk() {
        assert_eq!(replace_times("8:30-9:05"), "八点半至九点半");
        assert_eq!(replace_times("8:00-9:30"), "八点至九点三十分");
        assert_eq!(replace_times("23:05:09"), "二十三点零五分零九秒");
    }
}
