//! Dictionary-free stand-in for g2pk2's `utils.annotate`, which tags the text with mecab-ko +
//! mecab-ko-dic (~108 MB, not shipped) and appends marks to the last character of some morphemes:
//!
//! * `/B` after a unit bound noun (NNBC): decides whether `convert_num` spells a preceding number
//!   as a whole (`3개` → 세개, `15일` → 십오일) instead of digit by digit;
//! * `/P` after a verb/adjective stem ending in ㄴ ㄵ ㅁ ㄻ ㄺ ㄼ ㄾ: tenses the ending (`신고` → 신꼬);
//! * `/E` after an ending whose syllable ends in ㄹ: tenses the next word (`할 수` → 할 쑤);
//! * `/J` after the particle 의 only matters in g2pk2's descriptive mode and is never produced.
//!
//! Marks are only emitted where a rule can read them; everywhere else they would be removed
//! unread. The word lists below were tuned against real g2pk2 output (see `data/README.md`).

use std::collections::HashSet;

use super::super::jamo::decompose_syllable;

/// Unit bound nouns that mecab-ko tags NNBC right after a number in at least half of the probed
/// contexts (derived from mecab-ko-dic 2.1.1's NNBC entries).
const COUNTERS_TXT: &str = include_str!("../data/counters.txt");
/// Frequent mecab-ko-dic words that start with a counter but which mecab-ko reads as one word
/// after a number (`시간`, `세기`, `단계`, …), so no `/B` is set.
const COUNTER_EXCEPTIONS_TXT: &str = include_str!("../data/counter_exceptions.txt");

/// Characters mecab-ko drops from its tokens; upstream then finds that the tokens no longer
/// spell the text and leaves the whole text unannotated.
const MECAB_DROPPED: [char; 5] = ['\0', '\t', '\n', '\u{0B}', '\r'];

/// Sino-Korean numerals mecab-ko tags NR between a number and its counter (`30만원`).
const NUMERAL_UNITS: &str = "십백천만억조";

/// Bound nouns that typically follow an adnominal `-(으)ㄹ` (`할 수`, `먹을 것`, `갈 데`).
const ADNOMINAL_NOUNS: [&str; 19] = [
    "수", "것", "거", "걸", "건", "게", "겁", "데", "듯", "뻔", "바", "줄", "적", "리", "터", "만큼", "뿐", "동안",
    "때",
];
/// What may follow such a noun inside its word (particles and copula forms).
const ADNOMINAL_NOUN_TAILS: [&str; 31] = [
    "",
    "가",
    "는",
    "도",
    "를",
    "을",
    "이",
    "은",
    "만",
    "밖에",
    "에",
    "로",
    "으로",
    "의",
    "야",
    "다",
    "예요",
    "이다",
    "입니다",
    "이야",
    "이에요",
    "까지",
    "조차",
    "라도",
    "처럼",
    "과",
    "와",
    "인",
    "일",
    "이었다",
    "였다",
];
/// Syllables ending a word with an adnominal `-ㄹ` fused to an open stem (하+ㄹ, 되+ㄹ, …).
const ADNOMINAL_SYLLABLES: &str = "할될갈올볼둘칠킬릴질쓸클낼쉴뛸뵐탈찰줄를울";
/// Stem-final codas that (almost) only occur in verbs and adjectives (있+을, 않+을, 읽+을, …).
const VERBAL_CODAS: &str = "ᆻᆭᆶᆬᆴᆵᆲᆰᆱᆹ";
/// Nouns with such a coda, where `을` is the object particle.
const NOUNS_WITH_VERBAL_CODA: &str = "닭값흙삶덟삯넋몫앎";
/// Frequent one-syllable consonant-final verb stems (`받을`, `찾을`, …).
const CONSONANT_STEMS: &str = "받찾같먹좋높낮작많넣놓닿쌓낳맞잡잊잃씻웃묻믿얻깊덮붙쫓입읽참남넘담삼숨심품감안신얹앉";
/// First syllables of 르-stems whose adnominal form is `X를` (모를, 다를, 부를, …).
const RU_STEM_HEADS: &str = "모다부고오누흐마기자따치이거두";

/// First syllables of endings that get tensed after a `/P` stem (`-고`, `-다`, `-지`, `-게`, …).
const TENSED_ENDING_HEADS: &str = "고다지게거던도더든자죠잖소습";
/// ㄴ/ㅁ-final verb stems (안다, 감다, 담다, 남다, 넘다, 삼다, 숨다, 심다, 품다, 껴안다).
const NIEUN_MIEUM_STEMS: &str = "안감담남넘삼숨심품껴";
/// ㄺ-final verb and adjective stems.
const RIEUL_GIYEOK_STEMS: &str = "읽밝맑늙긁굵붉묽얽낡갉";
/// Prefixes allowed before a ㄴ/ㅁ stem inside its word (`껴안고`, `끌어안고`).
const STEM_PREFIXES: [&str; 5] = ["", "껴", "끌어", "부둥켜", "보듬어"];
/// Syllables that start a noun-like continuation (`신고하다`, `감기를`), ruling out a verb stem.
const NOUN_CONTINUATIONS: &str = "하되를을이가는로의에와과도만은";

const TAIL_NIEUN: char = '\u{11AB}';
const TAIL_NIEUN_JIEUT: char = '\u{11AC}';
const TAIL_RIEUL: char = '\u{11AF}';
const TAIL_RIEUL_GIYEOK: char = '\u{11B0}';
const TAIL_RIEUL_MIEUM: char = '\u{11B1}';
const TAIL_RIEUL_BIEUP: char = '\u{11B2}';
const TAIL_RIEUL_TIEUT: char = '\u{11B4}';
const TAIL_MIEUM: char = '\u{11B7}';

/// The mark appended after a character.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mark {
    BoundNoun,
    VerbStem,
    Ending,
}

impl Mark {
    fn as_str(self) -> &'static str {
        match self {
            Mark::BoundNoun => "/B",
            Mark::VerbStem => "/P",
            Mark::Ending => "/E",
        }
    }
}

/// The approximate annotator with its word lists.
pub struct Annotator {
    counters: HashSet<String>,
    counter_exceptions: HashSet<String>,
    longest_counter: usize,
}

fn is_syllable(ch: char) -> bool {
    decompose_syllable(ch).is_some()
}

/// Leading consonant of a syllable.
fn onset(ch: char) -> Option<char> {
    decompose_syllable(ch).map(|(lead, _, _)| lead)
}

/// Tail consonant of a syllable (`None` for open syllables and non-syllables).
fn coda(ch: char) -> Option<char> {
    decompose_syllable(ch).and_then(|(_, _, tail)| tail)
}

/// Digits mecab-ko tags as numbers (SN): ASCII and full-width.
fn is_number_digit(ch: char) -> bool {
    ch.is_ascii_digit() || ('０'..='９').contains(&ch)
}

fn word_list(text: &str) -> HashSet<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// `word` without the non-Hangul characters at its start and end (punctuation, brackets).
fn hangul_core(word: &[char]) -> &[char] {
    let start = word.iter().position(|&c| is_syllable(c)).unwrap_or(word.len());
    let end = word.iter().rposition(|&c| is_syllable(c)).map_or(start, |i| i + 1);
    &word[start..end.max(start)]
}

fn starts_with_any(chars: &[char], options: &str) -> bool {
    chars.first().is_some_and(|c| options.contains(*c))
}

/// Whether the word after an `-ㄹ` candidate is a bound noun such as `수`, `것이`, `거예요`.
fn is_adnominal_noun_word(word: &[char]) -> bool {
    let end = word.iter().rposition(|c| !matches!(c, '.' | ',' | '!' | '?')).map_or(0, |i| i + 1);
    let text: String = word[..end].iter().collect();
    ADNOMINAL_NOUNS.iter().any(|noun| text.strip_prefix(noun).is_some_and(|rest| ADNOMINAL_NOUN_TAILS.contains(&rest)))
}

/// Whether the ㄹ-final last syllable of `word` is an adnominal ending (tag E) before `next`.
fn is_adnominal_ending(word: &[char], next: &[char]) -> bool {
    let Some(&last) = word.last() else { return false };
    let prev = word.len().checked_sub(2).map(|i| word[i]);
    let before_bound_noun = is_adnominal_noun_word(next);
    match last {
        '를' => before_bound_noun && word.len() == 2 && prev.is_some_and(|p| RU_STEM_HEADS.contains(p)),
        _ if before_bound_noun => true,
        '을' => match prev.and_then(coda) {
            Some(tail) if VERBAL_CODAS.contains(tail) => prev.is_some_and(|p| !NOUNS_WITH_VERBAL_CODA.contains(p)),
            Some(_) => word.len() == 2 && prev.is_some_and(|p| CONSONANT_STEMS.contains(p)),
            None => false,
        },
        _ => ADNOMINAL_SYLLABLES.contains(last),
    }
}

/// Whether syllable `k` of `word` ends a verb stem whose ending (syllable `k + 1`) is tensed.
fn is_tensing_stem(word: &[char], k: usize) -> bool {
    let (Some(&stem), Some(&ending)) = (word.get(k), word.get(k + 1)) else { return false };
    let rest = hangul_core(&word[k + 2..]);
    let ending_is_tensed = TENSED_ENDING_HEADS.contains(ending);
    match coda(stem) {
        Some(TAIL_NIEUN_JIEUT | TAIL_RIEUL_BIEUP | TAIL_RIEUL_TIEUT) => ending_is_tensed || ending == '기',
        Some(TAIL_RIEUL_MIEUM) => ending_is_tensed,
        Some(TAIL_RIEUL_GIYEOK) => RIEUL_GIYEOK_STEMS.contains(stem) && (ending_is_tensed || ending == '기'),
        Some(TAIL_NIEUN | TAIL_MIEUM) => {
            if !NIEUN_MIEUM_STEMS.contains(stem) || !ending_is_tensed {
                return false;
            }
            // 안다 "knows" (알+ㄴ다) and 감지 "detection" are read without a stem boundary.
            if (stem == '안' && ending == '다') || (stem == '감' && ending == '지') {
                return false;
            }
            let prefix: String = word[..k].iter().skip_while(|c| !is_syllable(**c)).collect();
            STEM_PREFIXES.contains(&prefix.as_str()) && rest.len() <= 2 && !starts_with_any(rest, NOUN_CONTINUATIONS)
        }
        _ => false,
    }
}

impl Annotator {
    /// Parses the embedded word lists.
    pub fn load() -> Result<Self, String> {
        let counters = word_list(COUNTERS_TXT);
        let counter_exceptions = word_list(COUNTER_EXCEPTIONS_TXT);
        let longest_counter = counters
            .iter()
            .chain(&counter_exceptions)
            .map(|w| w.chars().count())
            .max()
            .ok_or("counters.txt is empty")?;
        Ok(Self { counters, counter_exceptions, longest_counter })
    }

    /// Annotates `text` the way g2pk2's `annotate` would, as far as the marks matter.
    pub fn annotate(&self, text: &str) -> String {
        if text.contains(MECAB_DROPPED) {
            return text.to_string();
        }
        let chars: Vec<char> = text.chars().collect();
        let mut marks: Vec<Option<Mark>> = vec![None; chars.len()];
        self.mark_bound_nouns(&chars, &mut marks);
        mark_words(&chars, &mut marks);
        let mut out = String::with_capacity(text.len() + 16);
        for (ch, mark) in chars.iter().zip(&marks) {
            out.push(*ch);
            if let Some(mark) = mark {
                out.push_str(mark.as_str());
            }
        }
        out
    }

    /// `/B` after the counter that directly follows a number (possibly after 만, 천, …).
    fn mark_bound_nouns(&self, chars: &[char], marks: &mut [Option<Mark>]) {
        for i in 0..chars.len().saturating_sub(1) {
            if !is_number_digit(chars[i]) || !is_syllable(chars[i + 1]) {
                continue;
            }
            let mut start = i + 1;
            while chars.get(start).is_some_and(|c| NUMERAL_UNITS.contains(*c)) {
                start += 1;
            }
            let run_len = chars[start..].iter().take_while(|c| is_syllable(**c)).count();
            for len in (1..=run_len.min(self.longest_counter)).rev() {
                let candidate: String = chars[start..start + len].iter().collect();
                if self.counter_exceptions.contains(&candidate) {
                    break;
                }
                if self.counters.contains(&candidate) {
                    marks[start + len - 1] = Some(Mark::BoundNoun);
                    break;
                }
            }
        }
    }
}

/// `/P` and `/E` marks, decided word by word (words are separated by spaces, as in upstream).
fn mark_words(chars: &[char], marks: &mut [Option<Mark>]) {
    let mut start = 0;
    while start < chars.len() {
        let end = chars[start..].iter().position(|&c| c == ' ').map_or(chars.len(), |p| start + p);
        let word = &chars[start..end];
        for k in 0..word.len().saturating_sub(1) {
            let (Some(tail), Some(next_onset)) = (coda(word[k]), onset(word[k + 1])) else { continue };
            let tenses = match tail {
                TAIL_RIEUL_GIYEOK => matches!(next_onset, '\u{1100}' | '\u{1101}'),
                TAIL_NIEUN | TAIL_NIEUN_JIEUT | TAIL_MIEUM | TAIL_RIEUL_MIEUM | TAIL_RIEUL_BIEUP | TAIL_RIEUL_TIEUT => {
                    matches!(next_onset, '\u{1100}' | '\u{1103}' | '\u{1109}' | '\u{110C}')
                }
                _ => false,
            };
            if tenses && is_tensing_stem(word, k) {
                marks[start + k] = Some(Mark::VerbStem);
            }
        }
        if let Some(&last) = word.last() {
            // Only a single space followed by ㄱ ㄷ ㅂ ㅅ ㅈ lets `modifying_rieul` read the mark.
            let next_start = end + 1;
            let next_end = chars[next_start.min(chars.len())..]
                .iter()
                .position(|&c| c == ' ')
                .map_or(chars.len(), |p| next_start + p);
            let next = chars.get(next_start..next_end).unwrap_or_default();
            let next_tensable = next
                .first()
                .and_then(|&c| onset(c))
                .is_some_and(|o| matches!(o, '\u{1100}' | '\u{1103}' | '\u{1107}' | '\u{1109}' | '\u{110C}'));
            if coda(last) == Some(TAIL_RIEUL) && next_tensable && is_adnominal_ending(word, next) {
                marks[end - 1] = Some(Mark::Ending);
            }
        }
        start = end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotate(text: &str) -> String {
        Annotator::load().unwrap_or_else(|e| panic!("{e}")).annotate(text)
    }

    #[test]
    fn marks_counters_after_numbers() {
        assert_eq!(annotate("사과 3개와 배 2개를"), "사과 3개/B와 배 2개/B를");
        assert_eq!(annotate("2024년 3월 15일입니다."), "2024년/B 3월/B 15일/B입니다.");
        assert_eq!(annotate("30만원"), "30만원/B");
        // 시간 is one noun after a number: no mark, so the digits are read one by one.
        assert_eq!(annotate("10시간"), "10시간");
    }

    #[test]
    fn marks_adnominal_endings_and_verb_stems() {
        assert_eq!(annotate("할 수 있다"), "할/E 수 있다");
        assert_eq!(annotate("밥을 먹을 거야"), "밥을 먹을/E 거야");
        assert_eq!(annotate("아이를 안고 가"), "아이를 안/P고 가");
        assert_eq!(annotate("앉다"), "앉/P다");
        assert_eq!(annotate("신고하다"), "신고하다");
    }

    #[test]
    fn leaves_text_with_dropped_characters_unannotated() {
        assert_eq!(annotate("할 수\n있다"), "할 수\n있다");
    }
}
