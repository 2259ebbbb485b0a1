//! Temperatures and measure units; mirrors `zh_normalization/quantifier.py`.

use super::pattern::{group, Rule};
use super::verbalize::num2str;

/// `-3°C`, `25度`, `36.5摄氏度` (`RE_TEMPERATURE`).
static TEMPERATURE: Rule = Rule::new("(-?)([0-9]+(\\.[0-9]+)?)(°C|℃|度|摄氏度)");

/// Unit symbols in upstream's replacement order (`measure_dict`). They are replaced wherever
/// they occur, inside words too (`mm` is never reached: `m` goes first).
const MEASURES: [(&str, &str); 17] = [
    ("cm2", "平方厘米"),
    ("cm²", "平方厘米"),
    ("cm3", "立方厘米"),
    ("cm³", "立方厘米"),
    ("cm", "厘米"),
    ("db", "分贝"),
    ("ds", "毫秒"),
    ("kg", "千克"),
    ("km", "千米"),
    ("m2", "平方米"),
    ("m²", "平方米"),
    ("m³", "立方米"),
    ("m3", "立方米"),
    ("ml", "毫升"),
    ("m", "米"),
    ("mm", "毫米"),
    ("s", "秒"),
];

/// Mirrors `quantifier.py::replace_temperature`: a minus sign reads 零下, and the unit always
/// reads 度 (upstream means to keep 摄氏度 but tests the decimal-part group instead of the unit).
pub(super) fn replace_temperatures(sentence: &str) -> String {
    TEMPERATURE.replace_all(sentence, |caps| {
        let sign = if group(caps, 1).is_empty() { "" } else { "零下" };
        Some(format!("{sign}{}度", num2str(group(caps, 2))))
    })
}

/// Mirrors `quantifier.py::replace_measure`: one plain substring replacement per unit, in order.
pub(super) fn replace_measures(sentence: &str) -> String {
    let mut text = sentence.to_owned();
    for (symbol, reading) in MEASURES {
        if text.contains(symbol) {
            text = text.replace(symbol, reading);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_rules_compile() {
        assert!(TEMPERATURE.compiles());
    }

    #[test]
    fn temperatures() {
        assert_eq!(replace_temperatures("-3°C到36.5摄氏度"), "零下三度到三十六点五度");
    }

    #[test]
    fn measures_replace_inside_words() {
        assert_eq!(replace_measures("45min 3cm² 2mm"), "45米in 3平方厘米 2米米");
        assert_eq!(replace_measures("test"), "te秒t");
    }
}
