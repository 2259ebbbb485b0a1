//! Mandarin tone sandhi, mirroring upstream `GPT_SoVITS/text/tone_sandhi.py::ToneSandhi`
//! (PaddleSpeech-derived): word merges before reading (`pre_merge_for_modify`) and the
//! 不 / 一 / neutral-tone / third-tone rules on each word's tone-numbered finals (`modified_tone`).

use std::collections::HashSet;

use crate::text::resource::corrupt;
use crate::text::zh::pinyin::PinyinDict;
use crate::text::zh::segment::{Segmenter, Token};
use crate::text::TextError;

const WHAT: &str = "tone_sandhi_words.txt";
static WORDS_TXT: &str = include_str!("data/tone_sandhi_words.txt");

/// Word-final particles read with the neutral tone.
const NEUTRAL_PARTICLES: &str = "吧呢哈啊呐噻嘛吖嗨呐哦哒额滴哩哟喽啰耶喔诶";
/// `self.punc`: after these, 一 keeps its first tone.
const SANDHI_PUNCTUATION: &str = "：，；。？！“”‘’':,;.?!";
/// Han numerals that Python's `str.isnumeric()` accepts but Rust's `char::is_numeric()` (which
/// only covers the Nd/Nl/No categories) does not (Unicode 14, as in Python 3.11; the repeated
/// looking ones at the end are CJK compatibility ideographs).
const HAN_NUMERIC: &str = "㐅㒃㠪㭍一七万三九二五亖亿什仟仨伍佰億兆兩八六十千卄卅卌叁参參叄四壱壹幺廾廿弌弍弎弐拾捌柒漆玖百肆萬貮貳贰阡陆陌陸零參拾兩零六陸什𠀁𠁤𠃢𠄡𠤪𠦃𠦌𠦜𠫪𠫽𠬙𢎐𢦘𣬛𦉭廾";

/// Python's `str.isnumeric()` for one char.
fn is_py_numeric(c: char) -> bool {
    c.is_numeric() || HAN_NUMERIC.contains(c)
}

/// `final[:-1] + tone`: replaces the tone digit (the last char) of a final.
fn set_tone(final_: &mut String, tone: char) {
    final_.pop();
    final_.push(tone);
}

fn set_tone_at(finals: &mut [String], index: usize, tone: char) {
    if let Some(final_) = finals.get_mut(index) {
        set_tone(final_, tone);
    }
}

fn set_last_tone(finals: &mut [String], tone: char) {
    if let Some(final_) = finals.last_mut() {
        set_tone(final_, tone);
    }
}

fn has_tone(final_: Option<&String>, tone: char) -> bool {
    final_.and_then(|f| f.chars().last()) == Some(tone)
}

/// `_all_tone_three`.
fn all_tone_three(finals: &[String]) -> bool {
    finals.iter().all(|f| has_tone(Some(f), '3'))
}

/// `word[-2:]`.
fn last_two(chars: &[char]) -> String {
    chars[chars.len().saturating_sub(2)..].iter().collect()
}

pub(super) struct ToneSandhi {
    must_neutral: HashSet<String>,
    must_not_neutral: HashSet<String>,
}

impl ToneSandhi {
    /// Parses the two word lists (`# must_neural_tone_words`, `# must_not_neural_tone_words`).
    pub(super) fn load() -> Result<Self, TextError> {
        let mut lists: [HashSet<String>; 2] = Default::default();
        let mut current: Option<usize> = None;
        for line in WORDS_TXT.lines() {
            match line {
                "# must_neural_tone_words" => current = Some(0),
                "# must_not_neural_tone_words" => current = Some(1),
                word => {
                    let list = current.ok_or_else(|| corrupt(WHAT, "word before a section header"))?;
                    lists[list].insert(word.to_string());
                }
            }
        }
        let [must_neutral, must_not_neutral] = lists;
        if must_neutral.is_empty() || must_not_neutral.is_empty() {
            return Err(corrupt(WHAT, "missing word list"));
        }
        Ok(Self { must_neutral, must_not_neutral })
    }

    fn is_must_neutral(&self, word: &str, chars: &[char]) -> bool {
        self.must_neutral.contains(word) || self.must_neutral.contains(&last_two(chars))
    }

    /// `modified_tone`: 不, 一, neutral-tone and third-tone rules, in that order.
    pub(super) fn modified_tone(&self, seg: &Segmenter, word: &str, pos: &str, finals: Vec<String>) -> Vec<String> {
        let chars: Vec<char> = word.chars().collect();
        let finals = bu_sandhi(&chars, finals);
        let finals = yi_sandhi(&chars, finals);
        let finals = self.neutral_sandhi(seg, word, &chars, pos, finals);
        three_sandhi(seg, word, &chars, finals)
    }

    /// `_neural_sandhi`.
    fn neutral_sandhi(
        &self,
        seg: &Segmenter,
        word: &str,
        chars: &[char],
        pos: &str,
        mut finals: Vec<String>,
    ) -> Vec<String> {
        let n = chars.len();
        let pos_class = pos.chars().next();
        // Reduplicated nouns, verbs and adjectives: 奶奶, 试试, 旺旺.
        for j in 1..n {
            if chars[j] == chars[j - 1]
                && matches!(pos_class, Some('n' | 'v' | 'a'))
                && !self.must_not_neutral.contains(word)
            {
                set_tone_at(&mut finals, j, '5');
            }
        }
        let ge_idx = chars.iter().position(|&c| c == '个');
        let last = chars.last().copied();
        let before_last = n.checked_sub(2).map(|i| chars[i]);
        let ends_in = |set: &str| last.is_some_and(|c| set.contains(c));
        // Particles (吧, 的 ...), aspect markers (走了, 看着), plural 们 / noun suffix 子, locatives
        // (桌上, 家里) and directional complements (上来, 下去) end in the neutral tone.
        let neutral_last = ends_in(NEUTRAL_PARTICLES)
            || ends_in("的地得")
            || (n == 1 && ends_in("了着过") && matches!(pos, "ul" | "uz" | "ug"))
            || (n > 1 && ends_in("们子") && matches!(pos, "r" | "n") && !self.must_not_neutral.contains(word))
            || (n > 1 && ends_in("上下里") && matches!(pos, "s" | "l" | "f"))
            || (n > 1 && ends_in("来去") && before_last.is_some_and(|c| "上下进出回过起开".contains(c)));
        if neutral_last {
            set_last_tone(&mut finals, '5');
        } else if let Some(ge) = ge_idx.filter(|&ge| {
            (ge >= 1 && (is_py_numeric(chars[ge - 1]) || "几有两半多各整每做是".contains(chars[ge - 1])))
                || word == "个"
        }) {
            // 个 as a measure word
            set_tone_at(&mut finals, ge, '5');
        } else if self.is_must_neutral(word, chars) {
            set_last_tone(&mut finals, '5');
        }

        let [first, second] = split_word(seg, word);
        let first_len = first.chars().count().min(finals.len());
        let mut parts = [finals[..first_len].to_vec(), finals[first_len..].to_vec()];
        for (part, sub_word) in parts.iter_mut().zip([first, second]) {
            let sub_chars: Vec<char> = sub_word.chars().collect();
            if self.is_must_neutral(&sub_word, &sub_chars) {
                set_last_tone(part, '5');
            }
        }
        parts.concat()
    }

    /// `pre_merge_for_modify`: merges 不 / 一 / reduplications / third-tone pairs / 儿 into
    /// their neighbours so the per-word rules see them together.
    pub(super) fn pre_merge_for_modify(&self, pinyin: &PinyinDict, seg: Vec<Token>) -> Vec<Token> {
        let seg = merge_bu(seg);
        let seg = merge_yi(seg);
        let seg = merge_reduplication(seg);
        let seg = merge_continuous_three_tones(pinyin, seg, |prev, cur| all_tone_three(prev) && all_tone_three(cur));
        let seg = merge_continuous_three_tones(pinyin, seg, |prev, cur| {
            has_tone(prev.last(), '3') && has_tone(cur.first(), '3')
        });
        merge_er(seg)
    }
}

/// `_split_word`: cuts a word in two around its shortest `cut_for_search` sub-word.
fn split_word(seg: &Segmenter, word: &str) -> [String; 2] {
    let mut sub_words = seg.cut_for_search(word);
    sub_words.sort_by_key(|w| w.chars().count()); // stable, like Python's sorted()
    let Some(first) = sub_words.into_iter().next() else {
        return [String::new(), String::new()];
    };
    let chars: Vec<char> = word.chars().collect();
    let first_len = first.chars().count();
    if word.starts_with(first.as_str()) {
        let rest = chars[first_len.min(chars.len())..].iter().collect();
        [first, rest]
    } else {
        let rest = chars[..chars.len().saturating_sub(first_len)].iter().collect();
        [rest, first]
    }
}

/// `_bu_sandhi`: 看不懂 → neutral 不; 不 before a fourth tone → bu2.
fn bu_sandhi(chars: &[char], mut finals: Vec<String>) -> Vec<String> {
    if chars.len() == 3 && chars[1] == '不' {
        set_tone_at(&mut finals, 1, '5');
    } else {
        for i in 0..chars.len() {
            if chars[i] == '不' && i + 1 < chars.len() && has_tone(finals.get(i + 1), '4') {
                set_tone_at(&mut finals, i, '2');
            }
        }
    }
    finals
}

/// `_yi_sandhi`: untouched in numbers, neutral in 看一看, first tone in 第一, else yi2 before a
/// fourth tone and yi4 before other tones (but not before punctuation).
fn yi_sandhi(chars: &[char], mut finals: Vec<String>) -> Vec<String> {
    if chars.contains(&'一') && chars.iter().filter(|&&c| c != '一').all(|&c| is_py_numeric(c)) {
        return finals;
    }
    if chars.len() == 3 && chars[1] == '一' && chars[0] == chars[2] {
        set_tone_at(&mut finals, 1, '5');
    } else if chars.starts_with(&['第', '一']) {
        set_tone_at(&mut finals, 1, '1');
    } else {
        for i in 0..chars.len() {
            if chars[i] == '一' && i + 1 < chars.len() {
                if has_tone(finals.get(i + 1), '4') {
                    set_tone_at(&mut finals, i, '2');
                } else if !SANDHI_PUNCTUATION.contains(chars[i + 1]) {
                    set_tone_at(&mut finals, i, '4');
                }
            }
        }
    }
    finals
}

/// `_three_sandhi`: third tone before third tone becomes second, by sub-word structure.
fn three_sandhi(seg: &Segmenter, word: &str, chars: &[char], mut finals: Vec<String>) -> Vec<String> {
    match chars.len() {
        2 if all_tone_three(&finals) => set_tone_at(&mut finals, 0, '2'),
        3 => {
            let [first, _] = split_word(seg, word);
            let first_len = first.chars().count();
            if all_tone_three(&finals) {
                if first_len == 2 {
                    // disyllabic + monosyllabic: 蒙古/包
                    set_tone_at(&mut finals, 0, '2');
                    set_tone_at(&mut finals, 1, '2');
                } else if first_len == 1 {
                    // monosyllabic + disyllabic: 纸/老虎
                    set_tone_at(&mut finals, 1, '2');
                }
            } else {
                let split = first_len.min(finals.len());
                let mut parts = [finals[..split].to_vec(), finals[split..].to_vec()];
                for i in 0..2 {
                    if all_tone_three(&parts[i]) && parts[i].len() == 2 {
                        // 所有/人
                        set_tone_at(&mut parts[i], 0, '2');
                    } else if i == 1
                        && !all_tone_three(&parts[1])
                        && has_tone(parts[1].first(), '3')
                        && has_tone(parts[0].last(), '3')
                    {
                        // 好/喜欢
                        set_last_tone(&mut parts[0], '2');
                    }
                }
                finals = parts.concat();
            }
        }
        4 => {
            // Idioms: two two-syllable halves.
            let split = 2.min(finals.len());
            let mut parts = [finals[..split].to_vec(), finals[split..].to_vec()];
            for part in &mut parts {
                if all_tone_three(part) {
                    set_tone_at(part, 0, '2');
                }
            }
            finals = parts.concat();
        }
        _ => {}
    }
    finals
}

/// `_merge_bu`: 不 joins the word after it (a final lone 不 becomes its own `d` word).
fn merge_bu(seg: Vec<Token>) -> Vec<Token> {
    let mut merged = Vec::with_capacity(seg.len());
    let mut pending_bu = false;
    for Token { word, pos } in seg {
        let word = if pending_bu { format!("不{word}") } else { word };
        pending_bu = word == "不";
        if !pending_bu {
            merged.push(Token { word, pos });
        }
    }
    if pending_bu {
        merged.push(Token::new("不", "d"));
    }
    merged
}

/// `_merge_yi`: verb 一 verb (听一听) becomes one word, then a lone 一 joins the next word.
/// Both repeats must be tagged `v`, as in the latest upstream revision available (19dfdfc).
///
/// Upstream writes the merged word at index `i - 1` of the output list, which only exists while no
/// earlier merge has shortened it; otherwise it raises, and `pre_merge_for_modify` swallows the
/// error and keeps the segmentation unmerged. That is reproduced here.
fn merge_yi(seg: Vec<Token>) -> Vec<Token> {
    let is_verb = |t: &Token| t.pos == "v";
    let mut reduplicated: Vec<Token> = Vec::with_capacity(seg.len());
    for i in 0..seg.len() {
        let token = &seg[i];
        if i >= 1
            && token.word == "一"
            && i + 1 < seg.len()
            && seg[i - 1].word == seg[i + 1].word
            && is_verb(&seg[i - 1])
            && is_verb(&seg[i + 1])
        {
            let Some(target) = reduplicated.get_mut(i - 1) else {
                return seg;
            };
            target.word = format!("{0}一{0}", target.word);
        } else if i >= 2
            && seg[i - 1].word == "一"
            && seg[i - 2].word == token.word
            && is_verb(token)
            && is_verb(&seg[i - 2])
        {
            continue;
        } else {
            reduplicated.push(token.clone());
        }
    }
    let mut merged: Vec<Token> = Vec::with_capacity(reduplicated.len());
    for token in reduplicated {
        match merged.last_mut() {
            Some(last) if last.word == "一" => last.word.push_str(&token.word),
            _ => merged.push(token),
        }
    }
    merged
}

/// `_merge_reduplication`: a word equal to the (possibly already merged) previous one joins it.
fn merge_reduplication(seg: Vec<Token>) -> Vec<Token> {
    let mut merged: Vec<Token> = Vec::with_capacity(seg.len());
    for token in seg {
        match merged.last_mut() {
            Some(last) if last.word == token.word => last.word.push_str(&token.word),
            _ => merged.push(token),
        }
    }
    merged
}

/// `_merge_continuous_three_tones` / `_merge_continuous_three_tones_2`: joins a word to the
/// previous one when `joins(prev finals, finals)` holds, the previous word was not itself
/// joined, is not a reduplication, and the pair has at most three chars.
fn merge_continuous_three_tones(
    pinyin: &PinyinDict,
    seg: Vec<Token>,
    joins: impl Fn(&[String], &[String]) -> bool,
) -> Vec<Token> {
    let finals: Vec<Vec<String>> =
        seg.iter().map(|t| pinyin.lazy_pinyin(&t.word).into_iter().map(|u| u.final_).collect()).collect();
    let lengths: Vec<usize> = seg.iter().map(|t| t.word.chars().count()).collect();
    let is_reduplication = |word: &str| {
        let mut chars = word.chars();
        matches!((chars.next(), chars.next(), chars.next()), (Some(a), Some(b), None) if a == b)
    };
    let mut merged: Vec<Token> = Vec::with_capacity(seg.len());
    let mut merged_last = vec![false; seg.len()];
    for (i, token) in seg.iter().enumerate() {
        let joined = i >= 1
            && !merged_last[i - 1]
            && joins(&finals[i - 1], &finals[i])
            && !is_reduplication(&seg[i - 1].word)
            && lengths[i - 1] + lengths[i] <= 3;
        match merged.last_mut() {
            Some(last) if joined => {
                last.word.push_str(&token.word);
                merged_last[i] = true;
            }
            _ => merged.push(token.clone()),
        }
    }
    merged
}

/// `_merge_er`: 儿 joins the previous word.
fn merge_er(seg: Vec<Token>) -> Vec<Token> {
    let mut merged: Vec<Token> = Vec::with_capacity(seg.len());
    for token in seg {
        match merged.last_mut() {
            Some(last) if token.word == "儿" && last.word != "#" => last.word.push_str(&token.word),
            _ => merged.push(token),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(pairs: &[(&str, &str)]) -> Vec<Token> {
        pairs.iter().map(|&(w, p)| Token::new(w, p)).collect()
    }

    #[test]
    fn merge_bu_joins_following_word() {
        let merged = merge_bu(tokens(&[("我", "r"), ("不", "d"), ("去", "v"), ("不", "d")]));
        assert_eq!(merged, tokens(&[("我", "r"), ("不去", "v"), ("不", "d")]));
    }

    #[test]
    fn merge_yi_reduplication_and_failure() {
        let merged = merge_yi(tokens(&[("看", "v"), ("一", "m"), ("看", "v"), ("书", "n")]));
        assert_eq!(merged, tokens(&[("看一看", "v"), ("书", "n")]));
        // A second reduplication after a first one makes upstream raise: nothing is merged.
        let seg = tokens(&[("看", "v"), ("一", "m"), ("看", "v"), ("想", "v"), ("一", "m"), ("想", "v")]);
        assert_eq!(merge_yi(seg.clone()), seg);
        // A lone 一 joins the next word.
        assert_eq!(merge_yi(tokens(&[("一", "m"), ("天", "q")])), tokens(&[("一天", "m")]));
    }

    #[test]
    fn merge_er_and_reduplication() {
        assert_eq!(merge_er(tokens(&[("花", "n"), ("儿", "n")])), tokens(&[("花儿", "n")]));
        assert_eq!(merge_er(tokens(&[("儿", "n")])), tokens(&[("儿", "n")]));
        assert_eq!(
            merge_reduplication(tokens(&[("好", "a"), ("好", "a"), ("好好", "a")])),
            tokens(&[("好好好好", "a")])
        );
    }

    #[test]
    fn yi_and_bu_rules() {
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(yi_sandhi(&['一', '段'], f(&["i1", "uan4"])), f(&["i2", "uan4"]));
        assert_eq!(yi_sandhi(&['一', '天'], f(&["i1", "ian1"])), f(&["i4", "ian1"]));
        assert_eq!(yi_sandhi(&['一', ','], f(&["i1", ","])), f(&["i1", ","]));
        assert_eq!(yi_sandhi(&['一', '零'], f(&["i1", "ing2"])), f(&["i1", "ing2"]));
        assert_eq!(yi_sandhi(&['第', '一'], f(&["i4", "i1"])), f(&["i4", "i1"]));
        assert_eq!(bu_sandhi(&['不', '怕'], f(&["u4", "a4"])), f(&["u2", "a4"]));
        assert_eq!(bu_sandhi(&['看', '不', '懂'], f(&["an4", "u4", "ong3"])), f(&["an4", "u5", "ong3"]));
    }

    #[test]
    fn python_isnumeric_includes_han_numerals() {
        assert!(is_py_numeric('零') && is_py_numeric('〇') && is_py_numeric('5') && is_py_numeric('½'));
        assert!(!is_py_numeric('两'));
        assert!(!is_py_numeric('个') && !is_py_numeric('a'));
    }
}
