//! Erhua (儿化) handling of upstream `chinese2.py::_merge_erhua`: a word-final 儿 takes the
//! tone of the syllable before it, except in words where 儿 is a full syllable (女儿, 婴儿 ...).

/// Words whose final 儿 is always merged.
const MUST_ERHUA: [&str; 8] = ["小院儿", "胡同儿", "范儿", "老汉儿", "撒欢儿", "寻老礼儿", "妥妥儿", "媳妇儿"];

/// Words (or word endings) whose 儿 keeps its own reading.
const NOT_ERHUA: [&str; 44] = [
    "虐儿",
    "为儿",
    "护儿",
    "瞒儿",
    "救儿",
    "替儿",
    "有儿",
    "一儿",
    "我儿",
    "俺儿",
    "妻儿",
    "拐儿",
    "聋儿",
    "乞儿",
    "患儿",
    "幼儿",
    "孤儿",
    "婴儿",
    "婴幼儿",
    "连体儿",
    "脑瘫儿",
    "流浪儿",
    "体弱儿",
    "混血儿",
    "蜜雪儿",
    "舫儿",
    "祖儿",
    "美儿",
    "应采儿",
    "可儿",
    "侄儿",
    "孙儿",
    "侄孙儿",
    "女儿",
    "男儿",
    "红孩儿",
    "花儿",
    "虫儿",
    "马儿",
    "鸟儿",
    "猪儿",
    "猫儿",
    "狗儿",
    "少儿",
];

/// `_merge_erhua`: fixes a final `er1` of 儿 to `er2`, then (unless the word or its POS excludes
/// it) gives a word-final 儿 read `er2`/`er5` the tone of the preceding final.
pub(super) fn merge_erhua(word: &str, pos: &str, finals: &mut [String]) {
    let chars: Vec<char> = word.chars().collect();
    let last = finals.len().wrapping_sub(1);
    if let Some(final_) = finals.get_mut(last) {
        if chars.get(last) == Some(&'儿') && final_ == "er1" {
            *final_ = "er2".to_string();
        }
    }
    if !MUST_ERHUA.contains(&word) && (NOT_ERHUA.contains(&word) || matches!(pos, "a" | "j" | "nr")) {
        return;
    }
    if finals.len() != chars.len() || finals.len() < 2 {
        return;
    }
    let ending: String = chars[chars.len() - 2..].iter().collect();
    let previous_tone = finals[last - 1].chars().last();
    let final_ = &mut finals[last];
    if chars[last] == '儿' && (final_ == "er2" || final_ == "er5") && !NOT_ERHUA.contains(&ending.as_str()) {
        if let Some(tone) = previous_tone {
            *final_ = format!("er{tone}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(word: &str, pos: &str, finals: &[&str]) -> Vec<String> {
        let mut finals: Vec<String> = finals.iter().map(|s| s.to_string()).collect();
        merge_erhua(word, pos, &mut finals);
        finals
    }

    #[test]
    fn erhua_takes_previous_tone() {
        assert_eq!(run("小孩儿", "n", &["iao3", "ai2", "er2"]), ["iao3", "ai2", "er2"]);
        assert_eq!(run("一点儿", "m", &["i4", "ian3", "er5"]), ["i4", "ian3", "er3"]);
        assert_eq!(run("女儿", "n", &["v3", "er2"]), ["v3", "er2"]);
        assert_eq!(run("好儿", "a", &["ao3", "er1"]), ["ao3", "er2"]);
        assert_eq!(run("儿", "n", &["er1"]), ["er2"]);
    }
}
