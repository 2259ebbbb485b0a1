//! Sentence splitting and the per-sentence rule pipeline of
//! `zh_normalization/text_normlization.py::TextNormalizer`.

use super::char_convert::traditional_to_simplified;
use super::pattern::{group, Rule};
use super::width::to_half_width;
use super::{chronology, numbers, phonecode, quantifier};

/// Characters `_split` deletes before splitting (its `re.sub` character class).
const SPLIT_DELETED: [char; 22] = [
    '—', '《', '》', '【', '】', '<', '>', '{', '}', '(', ')', '（', '）', '#', '&', '@', '“', '”', '^', '_', '|', '\\',
];

/// Characters `_post_replace` deletes last: the `_split` set plus `-` and `=`.
const POST_DELETED: [char; 2] = ['-', '='];

/// Sentence punctuation, optionally followed by a closing quote (`SENTENCE_SPLITOR`).
static SENTENCE_END: Rule = Rule::new("[：、，；。？！,;?!][”’]?");

/// Python's `str.isspace` (what `str.strip` removes): Unicode White_Space plus U+001C–U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn python_strip(text: &str) -> &str {
    text.trim_matches(is_python_space)
}

/// Mirrors `TextNormalizer._split` (default `lang="zh"`): drop ASCII spaces and bracket-like
/// symbols, break after sentence punctuation and at newlines, strip every piece. As upstream,
/// pieces that strip to nothing are kept, and an empty text gives one empty sentence.
fn split_sentences(text: &str) -> Vec<String> {
    let cleaned: String = text.chars().filter(|c| *c != ' ' && !SPLIT_DELETED.contains(c)).collect();
    let marked = SENTENCE_END.replace_all(&cleaned, |caps| Some(format!("{}\n", group(caps, 0))));
    let stripped = python_strip(&marked);
    if stripped.is_empty() {
        return vec![String::new()];
    }
    stripped.split('\n').filter(|piece| !piece.is_empty()).map(|piece| python_strip(piece).to_owned()).collect()
}

/// Reading of the symbols `_post_replace` spells out: `/` → 每, circled numbers, Greek letters,
/// and the arithmetic signs left over by the number rules.
fn symbol_reading(c: char) -> Option<&'static str> {
    Some(match c {
        '/' => "每",
        '①' => "一",
        '②' => "二",
        '③' => "三",
        '④' => "四",
        '⑤' => "五",
        '⑥' => "六",
        '⑦' => "七",
        '⑧' => "八",
        '⑨' => "九",
        '⑩' => "十",
        'α' => "阿尔法",
        'β' => "贝塔",
        'γ' | 'Γ' => "伽玛",
        'δ' | 'Δ' => "德尔塔",
        'ε' => "艾普西龙",
        'ζ' => "捷塔",
        'η' => "依塔",
        'θ' | 'Θ' => "西塔",
        'ι' => "艾欧塔",
        'κ' => "喀帕",
        'λ' | 'Λ' => "拉姆达",
        'μ' => "缪",
        'ν' => "拗",
        'ξ' | 'Ξ' => "克西",
        'ο' => "欧米克伦",
        'π' | 'Π' => "派",
        'ρ' => "肉",
        'ς' | 'Σ' | 'σ' => "西格玛",
        'τ' => "套",
        'υ' => "宇普西龙",
        'φ' | 'Φ' => "服艾",
        'χ' => "器",
        'ψ' | 'Ψ' => "普赛",
        'ω' | 'Ω' => "欧米伽",
        '+' => "加",
        '-' => "减",
        '×' => "乘",
        '÷' => "除",
        '=' => "等",
        _ => return None,
    })
}

/// Mirrors `TextNormalizer._post_replace`. Upstream's chain of `str.replace` calls followed by a
/// deletion class equals this single pass: no reading contains a replaced or deleted character.
fn post_replace(sentence: &str) -> String {
    let mut out = String::with_capacity(sentence.len());
    for c in sentence.chars() {
        if let Some(reading) = symbol_reading(c) {
            out.push_str(reading);
        } else if !SPLIT_DELETED.contains(&c) && !POST_DELETED.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// Mirrors `TextNormalizer.normalize_sentence`; the rule order matters and is upstream's.
fn normalize_sentence(sentence: &str) -> String {
    let text = to_half_width(&traditional_to_simplified(sentence));
    let text = chronology::replace_dates(&text);
    let text = chronology::replace_dates2(&text);
    let text = chronology::replace_times(&text);
    let text = numbers::replace_to_ranges(&text);
    let text = quantifier::replace_temperatures(&text);
    let text = quantifier::replace_measures(&text);
    let text = numbers::replace_arithmetic(&text);
    let text = numbers::replace_fractions_and_percentages(&text);
    let text = phonecode::replace_phone_numbers(&text);
    let text = numbers::replace_ranges(&text);
    let text = numbers::replace_remaining_numbers(&text);
    post_replace(&text)
}

/// Mirrors `TextNormalizer.normalize`: split into sentences, normalize each.
pub fn normalize_sentences(text: &str) -> Vec<String> {
    split_sentences(text).iter().map(|sentence| normalize_sentence(sentence)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_rules_compile() {
        assert!(SENTENCE_END.compiles());
    }

    #[test]
    fn split_keeps_punctuation_and_closing_quote() {
        assert_eq!(split_sentences("你好，世界！他说：“走。”好"), ["你好，", "世界！", "他说：", "走。", "好"]);
        assert_eq!(split_sentences("a’b。’c"), ["a’b。’", "c"]);
        assert_eq!(split_sentences(""), [""]);
        assert_eq!(split_sentences("\u{1c}\n"), [""]);
    }

    #[test]
    fn post_replace_spells_symbols_and_deletes_brackets() {
        assert_eq!(post_replace("α/β+1=2《》-"), "阿尔法每贝塔加1等2减");
    }
}
