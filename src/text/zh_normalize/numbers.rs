//! Number rules of `zh_normalization/num.py`: ranges, arithmetic, powers, fractions,
//! percentages, signed/decimal/version numbers, numbers with measure words, digit strings.

use regex::Captures;

use super::pattern::{group, Rule};
use super::verbalize::{num2str, verbalize_digit};

/// Superscript exponent characters and what they stand for (`num.py::power_map`).
const POWERS: [(char, char); 13] = [
    ('⁰', '0'),
    ('¹', '1'),
    ('²', '2'),
    ('³', '3'),
    ('⁴', '4'),
    ('⁵', '5'),
    ('⁶', '6'),
    ('⁷', '7'),
    ('⁸', '8'),
    ('⁹', '9'),
    ('ˣ', 'x'),
    ('ʸ', 'y'),
    ('ⁿ', 'n'),
];

/// `num.py::asmd_map`.
fn operator_reading(operator: &str) -> &'static str {
    match operator {
        "+" => "加",
        "-" => "减",
        "×" => "乘",
        "÷" => "除",
        _ => "等于",
    }
}

/// `12%~15%`, `3cm~5cm` style ranges: only the `~` is read, as 至 (`RE_TO_RANGE`).
static TO_RANGE: Rule = Rule::new(concat!(
    "((-?)(([0-9]+)(\\.[0-9]+)?)|(\\.([0-9]+)))",
    "(%|°C|℃|度|摄氏度|cm2|cm²|cm3|cm³|cm|db|ds|kg|km|m2|m²|m³|m3|ml|m|mm|s)",
    "[~]",
    "((-?)(([0-9]+)(\\.[0-9]+)?)|(\\.([0-9]+)))",
    "(%|°C|℃|度|摄氏度|cm2|cm²|cm3|cm³|cm|db|ds|kg|km|m2|m²|m³|m3|ml|m|mm|s)",
));

/// `a+b`, `1.5×2²`, `x=3`: operand, operator, operand (`RE_ASMD`).
static ARITHMETIC: Rule = Rule::new(concat!(
    "((-?)(([0-9]+)(\\.[0-9]+)?[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*)|(\\.[0-9]+[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*)|([A-Za-z][⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*))",
    "([+\\-×÷=])",
    "((-?)(([0-9]+)(\\.[0-9]+)?[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*)|(\\.[0-9]+[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*)|([A-Za-z][⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*))",
));

/// Runs of superscript exponents (`RE_POWER`).
static POWER: Rule = Rule::new("[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]+");

/// `3/4`, `-1/2` (`RE_FRAC`).
static FRACTION: Rule = Rule::new("(-?)([0-9]+)/([0-9]+)");

/// `50%`, `-3.5%` (`RE_PERCENTAGE`).
static PERCENTAGE: Rule = Rule::new("(-?)([0-9]+(\\.[0-9]+)?)%");

fn is_range_neighbour(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '+' | '-' | '×' | '÷' | '=')
}

/// `1-5`, `2.5~3` not touching other digits or operators (`RE_RANGE`; look-arounds emulated).
static RANGE: Rule = Rule::not_after(
    concat!("((-?)(([0-9]+)(\\.[0-9]+)?))", "[-~]", "((-?)(([0-9]+)(\\.[0-9]+)?))", "(?P<ahead>[^0-9+\\-×÷=]|$)",),
    is_range_neighbour,
);

/// Negative integers (`RE_INTEGER`).
static NEGATIVE_INTEGER: Rule = Rule::new("(-)([0-9]+)");

/// `1.2.3`: at least two points, read digit by digit (`RE_VERSION_NUM`).
static VERSION: Rule = Rule::new("(([0-9]+)(\\.[0-9]+)(\\.[0-9]+)?(\\.[0-9]+)+)");

/// Decimals with or without integer part (`RE_DECIMAL_NUM`).
static DECIMAL: Rule = Rule::new("(-?)(([0-9]+)(\\.[0-9]+))|(\\.([0-9]+))");

/// A number, an optional 多/余/几/+ and a measure word (`RE_POSITIVE_QUANTIFIERS` built from
/// `COM_QUANTIFIERS`).
static WITH_MEASURE_WORD: Rule = Rule::new(concat!(
    "([0-9]+)([多余几+])?",
    "(处|台|架|枚|趟|幅|平|方|堵|间|床|株|批|项|例|列|篇|栋|注|亩|封|艘|把|目|套|段|人|所|朵|匹|张|座|回|场|",
    "尾|条|个|首|阙|阵|网|炮|顶|丘|棵|只|支|袭|辆|挑|担|颗|壳|窠|曲|墙|群|腔|砣|座|客|贯|扎|捆|刀|令|打|手|",
    "罗|坡|山|岭|江|溪|钟|队|单|双|对|出|口|头|脚|板|跳|枝|件|贴|针|线|管|名|位|身|堂|课|本|页|家|户|层|丝|",
    "毫|厘|分|钱|两|斤|担|铢|石|钧|锱|忽|(千|毫|微)克|毫|厘|(公)分|分|寸|尺|丈|里|寻|常|铺|程|",
    "(千|分|厘|毫|微)米|米|撮|勺|合|升|斗|石|盘|碗|碟|叠|桶|笼|盆|盒|杯|钟|斛|锅|簋|篮|盘|桶|罐|瓶|壶|卮|盏|",
    "箩|箱|煲|啖|袋|钵|年|月|日|季|刻|时|周|天|秒|分|小时|旬|纪|岁|世|更|夜|春|夏|秋|冬|代|伏|辈|丸|泡|粒|",
    "颗|幢|堆|条|根|支|道|面|片|张|颗|块|元|(亿|千万|百万|万|千|百)|(亿|千万|百万|万|千|百|美|)元|",
    "(亿|千万|百万|万|千|百|十|)吨|(亿|千万|百万|万|千|百|)块|角|毛|分)",
));

/// Three or more digits left over: read digit by digit like a code (`RE_DEFAULT_NUM`).
static DIGIT_STRING: Rule = Rule::new("[0-9]{3}[0-9]*");

/// Any remaining number (`RE_NUMBER`).
static NUMBER: Rule = Rule::new("(-?)(([0-9]+)(\\.[0-9]+)?)|(\\.([0-9]+))");

/// Mirrors `num.py::replace_number` for matches of `RE_NUMBER` / `RE_DECIMAL_NUM`.
fn number_reading(caps: &Captures) -> Option<String> {
    let pure_decimal = group(caps, 5);
    if !pure_decimal.is_empty() {
        return Some(num2str(pure_decimal));
    }
    let sign = if group(caps, 1).is_empty() { "" } else { "负" };
    Some(format!("{sign}{}", num2str(group(caps, 2))))
}

/// Mirrors `RE_TO_RANGE.sub(replace_to_range, …)`.
pub(super) fn replace_to_ranges(sentence: &str) -> String {
    TO_RANGE.replace_all(sentence, |caps| Some(group(caps, 0).replace('~', "至")))
}

/// Mirrors upstream's `while RE_ASMD.search(s): s = RE_ASMD.sub(replace_asmd, s)` loop (each
/// pass leaves the right operand of a match for the next pass), then `RE_POWER.sub(replace_power, …)`.
pub(super) fn replace_arithmetic(sentence: &str) -> String {
    let mut text = sentence.to_owned();
    loop {
        // Every match turns an operator into Chinese, so an unchanged text means no match.
        let next = ARITHMETIC.replace_all(&text, |caps| {
            Some(format!("{}{}{}", group(caps, 1), operator_reading(group(caps, 8)), group(caps, 9)))
        });
        if next == text {
            break;
        }
        text = next;
    }
    POWER.replace_all(&text, |caps| {
        let exponent: String = group(caps, 0)
            .chars()
            .filter_map(|c| POWERS.iter().find(|(superscript, _)| *superscript == c).map(|(_, plain)| *plain))
            .collect();
        Some(format!("的{exponent}次方"))
    })
}

/// Mirrors `RE_FRAC.sub(replace_frac, …)` then `RE_PERCENTAGE.sub(replace_percentage, …)`.
pub(super) fn replace_fractions_and_percentages(sentence: &str) -> String {
    let fractions = FRACTION.replace_all(sentence, |caps| {
        let sign = if group(caps, 1).is_empty() { "" } else { "负" };
        Some(format!("{sign}{}分之{}", num2str(group(caps, 3)), num2str(group(caps, 2))))
    });
    PERCENTAGE.replace_all(&fractions, |caps| {
        let sign = if group(caps, 1).is_empty() { "" } else { "负" };
        Some(format!("{sign}百分之{}", num2str(group(caps, 2))))
    })
}

/// Mirrors `RE_RANGE.sub(replace_range, …)`: both ends read as numbers, joined by 到.
pub(super) fn replace_ranges(sentence: &str) -> String {
    RANGE.replace_all(sentence, |caps| {
        let first = NUMBER.replace_all(group(caps, 1), number_reading);
        let second = NUMBER.replace_all(group(caps, 6), number_reading);
        Some(format!("{first}到{second}"))
    })
}

/// Mirrors the final number substitutions of `TextNormalizer.normalize_sentence`, in order:
/// `RE_INTEGER`, `RE_VERSION_NUM`, `RE_DECIMAL_NUM`, `RE_POSITIVE_QUANTIFIERS`,
/// `RE_DEFAULT_NUM`, `RE_NUMBER`.
pub(super) fn replace_remaining_numbers(sentence: &str) -> String {
    let text = NEGATIVE_INTEGER.replace_all(sentence, |caps| Some(format!("负{}", num2str(group(caps, 2)))));
    let text = VERSION.replace_all(&text, |caps| {
        let parts: Vec<String> = group(caps, 1).split('.').map(|part| verbalize_digit(part, false)).collect();
        Some(parts.join("点"))
    });
    let text = DECIMAL.replace_all(&text, number_reading);
    let text = WITH_MEASURE_WORD.replace_all(&text, |caps| {
        let number = num2str(group(caps, 1));
        let number = if number == "二" { "两".to_owned() } else { number };
        let approximately = match group(caps, 2) {
            "+" => "多",
            other => other,
        };
        Some(format!("{number}{approximately}{}", group(caps, 3)))
    });
    let text = DIGIT_STRING.replace_all(&text, |caps| Some(verbalize_digit(group(caps, 0), true)));
    NUMBER.replace_all(&text, number_reading)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_rules_compile() {
        let rules = [
            &TO_RANGE,
            &ARITHMETIC,
            &POWER,
            &FRACTION,
            &PERCENTAGE,
            &RANGE,
            &NEGATIVE_INTEGER,
            &VERSION,
            &DECIMAL,
            &WITH_MEASURE_WORD,
            &DIGIT_STRING,
            &NUMBER,
        ];
        assert!(rules.iter().all(|rule| rule.compiles()));
    }

    #[test]
    fn arithmetic_chains_and_powers() {
        assert_eq!(replace_arithmetic("1+2+3=6"), "1加2加3等于6");
        assert_eq!(replace_arithmetic("x²+y²=r²"), "x的2次方加y的2次方等于r的2次方");
        assert_eq!(replace_arithmetic("3-"), "3-");
    }

    #[test]
    fn ranges_respect_neighbours() {
        assert_eq!(replace_ranges("1-5"), "一到五");
        assert_eq!(replace_ranges("-1~2.5"), "负一到二点五");
        // The look-ahead backtracks into the optional decimal part.
        assert_eq!(replace_ranges("1-2.5+"), "一到二.5+");
        assert_eq!(replace_ranges("x1-2-3"), "x1-2-3");
    }

    #[test]
    fn remaining_numbers() {
        assert_eq!(
            replace_remaining_numbers("2个 3+个 10元 1.2.3 0.50 -7 007 12"),
            "两个 三多个 十元 一点二点三 零点五零 负七 零零七 十二"
        );
        assert_eq!(replace_remaining_numbers("110"), "幺幺零");
    }
}
