//! Port of split-lang 2.1.1 `LangSplitter.split_by_lang` as GPT-SoVITS configures it
//! (`lang_map` = GPT-SoVITS' map, `merge_across_digit = False`, punctuation and newline merging on,
//! `not_merge_punctuation = ""`). Language detection is [`super::script`] instead of fastText; every
//! other rule (BudouX phrases, the smart-merge passes, the zh/ja special merge) is upstream's,
//! including its order dependence (labels are changed in place while later windows read them).

use super::budoux::Model;
use super::script;
use super::Lang;
use crate::text::python_chars::{is_digit, is_space, strip};

/// A split-lang substring label: a language, or one of split-lang's non-language tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Label {
    Zh,
    Ja,
    Ko,
    En,
    /// Unknown language (`x`): what the language maps give for anything they do not list (here:
    /// text for which [`script::detect`] finds no language).
    X,
    Digit,
    Punctuation,
    Newline,
}

impl From<Lang> for Label {
    fn from(lang: Lang) -> Self {
        match lang {
            Lang::Zh | Lang::Yue => Label::Zh,
            Lang::Ja => Label::Ja,
            Lang::Ko => Label::Ko,
            Lang::En => Label::En,
        }
    }
}

/// One labelled piece (`SubString`). `length` is tracked like upstream, which reads it in merge
/// decisions; it equals the character count of `text` on every path split-lang takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Piece {
    pub(super) lang: Label,
    pub(super) text: String,
    length: usize,
}

impl Piece {
    fn new(lang: Label, text: String) -> Self {
        let length = text.chars().count();
        Self { lang, text, length }
    }

    fn absorb(&mut self, other: &Piece) {
        self.text.push_str(&other.text);
        self.length += other.length;
    }
}

/// split-lang's `LangSectionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SectionKind {
    ZhJa,
    Ko,
    Punctuation,
    Newline,
    Digit,
    Others,
}

/// A `SubStringSection`: a run of one kind of characters and its labelled pieces.
#[derive(Debug)]
struct Section {
    kind: SectionKind,
    pieces: Vec<Piece>,
}

/// split-lang's `PUNCTUATION` string, as a set.
const PUNCTUATION: &str = "〜~,.;:!?，。！？；：、·([{<（【《〈「『“‘)]}>）】》〉」』”’\"-_—#$%&…￥'*+=@\\^`|";

/// `contains_zh_ja` for one character: `[\u4e00-\u9fff\u3040-\u30ff々]`.
fn is_zh_ja_char(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3040}'..='\u{30ff}' | '々')
}

/// `contains_ja_kana`: `[\u3040-\u30ff々]`.
fn contains_ja_kana(text: &str) -> bool {
    text.chars().any(|c| matches!(c, '\u{3040}'..='\u{30ff}' | '々'))
}

/// `fast_lang_detect` followed by the section's `lang_map` lookup (default `x`). Chinese/Japanese
/// sections use `ZH_JA_LANG_MAP` (zh, ja only) and answer `ja` for any kana first
/// (`detect_lang_combined`); other sections use GPT-SoVITS' map (zh, ja, ko, en).
fn detect_label(text: &str, kind: SectionKind) -> Label {
    if kind == SectionKind::ZhJa {
        if contains_ja_kana(text) {
            return Label::Ja;
        }
        return match script::detect(text) {
            Some(Lang::Zh) => Label::Zh,
            Some(Lang::Ja) => Label::Ja,
            _ => Label::X,
        };
    }
    script::detect(text).map_or(Label::X, Label::from)
}

/// `possible_detection_list(text)` (fastText's top 5 above 1 %) contains `lang`: with script-based
/// detection the only candidate is the detected language.
fn possibly(lang: Label, text: &str) -> bool {
    script::detect(strip(&text.replace('\n', ""))).is_some_and(|l| Label::from(l) == lang)
}

/// Mirrors `pre_split`: the stripped text cut into runs of Chinese/Japanese, Hangul syllables,
/// digits (`str.isdigit`), other text, single punctuation marks and single line breaks. Spaces stay
/// in the current run; an apostrophe after a non-space stays in the current run (English `'s`).
fn pre_split(text: &str) -> Vec<(SectionKind, String)> {
    let chars: Vec<char> = strip(text).chars().collect();
    let mut sections = Vec::new();
    let mut kind = SectionKind::Others;
    let mut current = String::new();
    for (index, &c) in chars.iter().enumerate() {
        // The run this character belongs to, and whether it always starts a new one.
        let run = if is_zh_ja_char(c) {
            Some((SectionKind::ZhJa, false))
        } else if matches!(c, '\u{ac00}'..='\u{d7af}') {
            Some((SectionKind::Ko, false))
        } else if is_digit(c) {
            Some((SectionKind::Digit, false))
        } else if PUNCTUATION.contains(c) {
            let word_apostrophe = c == '\'' && index > 0 && !is_space(chars[index - 1]);
            (!word_apostrophe).then_some((SectionKind::Punctuation, true))
        } else if is_space(c) {
            (c == '\n' || c == '\r').then_some((SectionKind::Newline, true))
        } else {
            Some((SectionKind::Others, false))
        };
        if let Some((new_kind, always_new)) = run {
            if always_new || new_kind != kind {
                if !current.is_empty() {
                    sections.push((kind, std::mem::take(&mut current)));
                }
                kind = new_kind;
            }
        }
        current.push(c);
    }
    if !current.is_empty() {
        sections.push((kind, current));
    }
    sections
}

/// Mirrors `_parse_without_zh_ja`: words, each with the spaces that follow it.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut after_space = false;
    for c in text.chars() {
        if !is_space(c) && after_space {
            words.push(std::mem::take(&mut word));
            after_space = false;
        }
        after_space |= is_space(c);
        word.push(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Mirrors `_parse_zh_ja`: BudouX Japanese phrases, each re-cut by the Chinese model; neighbours
/// that both contain kana are joined, a single kana-less character joins a kana-less left
/// neighbour, and a one-character first phrase joins the second.
fn split_zh_ja_phrases(text: &str) -> Vec<String> {
    let chinese = Model::simplified_chinese();
    let phrases = Model::japanese().parse(text).iter().flat_map(|p| chinese.parse(p)).collect::<Vec<_>>();
    let mut merged: Vec<String> = Vec::new();
    for phrase in phrases {
        let Some(left) = merged.last_mut() else {
            merged.push(phrase);
            continue;
        };
        let (left_kana, cur_kana) = (contains_ja_kana(left), contains_ja_kana(&phrase));
        if (left_kana && cur_kana) || (!left_kana && !cur_kana && phrase.chars().count() == 1) {
            left.push_str(&phrase);
        } else {
            merged.push(phrase);
        }
    }
    if merged.len() >= 2 && merged[0].chars().count() == 1 {
        let first = merged.remove(0);
        merged[0].insert_str(0, &first);
    }
    merged
}

/// Mirrors `_merge_substrings`: consecutive pieces with the same label become one.
fn merge_same_label(pieces: Vec<Piece>) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    for piece in pieces {
        match out.last_mut() {
            Some(last) if last.lang == piece.lang => last.absorb(&piece),
            _ => out.push(piece),
        }
    }
    out
}

/// Mirrors `_merge_middle_substr_to_two_side` (in place, left to right, so a relabelled piece is
/// seen by the next window): a middle piece between two pieces of the same language (not `x`, not
/// newline) takes that language when it could be that language, is `x`, or is short (≤ 4) between
/// long sides (≥ 6 together) — the last two only without kana.
fn merge_middle_to_sides(pieces: &mut [Piece]) {
    for i in 0..pieces.len().saturating_sub(2) {
        let (left, middle, right) = (&pieces[i], &pieces[i + 1], &pieces[i + 2]);
        if left.lang != right.lang || matches!(left.lang, Label::X | Label::Newline) {
            continue;
        }
        let no_kana = !contains_ja_kana(&middle.text);
        let could_be_left = possibly(left.lang, &middle.text) && no_kana;
        let short_between_long = middle.length <= 4 && left.length + right.length >= 6 && no_kana;
        if could_be_left || middle.lang == Label::X || short_between_long {
            pieces[i + 1].lang = pieces[i].lang;
        }
    }
}

/// Mirrors `_get_nearest_lang_with_direction`: the first label that is neither `x` nor digit on
/// one side of `index`, else the piece's own label.
fn nearest_label(pieces: &[Piece], index: usize, search_left: bool) -> Label {
    let known = |p: &&Piece| !matches!(p.lang, Label::X | Label::Digit);
    let found = if search_left {
        pieces[..index].iter().rev().find(known)
    } else {
        pieces.get(index + 1..).and_then(|rest| rest.iter().find(known))
    };
    found.map_or(pieces[index].lang, |p| p.lang)
}

/// Mirrors `_fill_unknown_language`: each `x` piece takes the nearest known label, looking right
/// at the start, left at the end, and in the middle towards the longer neighbour (left on ties).
fn fill_unknown(pieces: &mut [Piece]) {
    let last = pieces.len().saturating_sub(1);
    for i in 0..pieces.len() {
        if pieces[i].lang != Label::X {
            continue;
        }
        let search_left = if i == 0 {
            false
        } else if i == last {
            true
        } else {
            pieces[i - 1].text.chars().count() >= pieces[i + 1].text.chars().count()
        };
        pieces[i].lang = nearest_label(pieces, i, search_left);
    }
}

/// Mirrors `_is_cur_short_and_near_long`.
fn short_next_to_long(cur: &Piece, near: &Piece) -> bool {
    let no_kana = !contains_ja_kana(&cur.text) && !contains_ja_kana(&near.text);
    let near_long_zh = near.length > cur.length && near.length >= 6 && near.lang == Label::Zh;
    no_kana && (near_long_zh || possibly(near.lang, &cur.text))
}

/// Mirrors `_merge_side_substr_to_near`: the first and then the last piece take their neighbour's
/// language when they are `x`, short next to a long Chinese piece, or could be the neighbour's
/// (short, ≤ 5) language.
fn merge_sides_to_near(pieces: &mut [Piece]) {
    let n = pieces.len();
    if n == 0 {
        return;
    }
    for (end, near, search_left) in [(0, 1, false), (n - 1, n.wrapping_sub(2), true)] {
        let joins_near = pieces[end].lang == Label::X
            || pieces.get(near).is_some_and(|near| {
                short_next_to_long(&pieces[end], near) || (near.length <= 5 && possibly(near.lang, &pieces[end].text))
            });
        if joins_near {
            pieces[end].lang = nearest_label(pieces, end, search_left);
        }
    }
}

/// Mirrors `_smart_merge` for one section (the `_get_languages` calls in it have no effect).
fn smart_merge(pieces: Vec<Piece>) -> Vec<Piece> {
    let mut pieces = merge_same_label(pieces);
    merge_middle_to_sides(&mut pieces);
    let mut pieces = merge_same_label(pieces);
    merge_middle_to_sides(&mut pieces);
    let mut pieces = merge_same_label(pieces);
    fill_unknown(&mut pieces);
    merge_sides_to_near(&mut pieces);
    let mut pieces = merge_same_label(pieces);
    merge_middle_to_sides(&mut pieces);
    merge_same_label(pieces)
}

/// Mirrors `_split`: labels the pieces of each pre-split run, then smart-merges every run except
/// punctuation and line breaks.
fn label_sections(raw: Vec<(SectionKind, String)>) -> Vec<Section> {
    raw.into_iter()
        .map(|(kind, text)| {
            let single = |lang| vec![Piece::new(lang, text.clone())];
            let pieces = match kind {
                SectionKind::Punctuation => return Section { kind, pieces: single(Label::Punctuation) },
                SectionKind::Newline => return Section { kind, pieces: single(Label::Newline) },
                SectionKind::Digit => single(Label::Digit),
                SectionKind::Ko => single(Label::Ko),
                SectionKind::ZhJa => {
                    split_zh_ja_phrases(&text).into_iter().map(|p| Piece::new(detect_label(&p, kind), p)).collect()
                }
                SectionKind::Others => {
                    split_words(&text).into_iter().map(|w| Piece::new(detect_label(&w, kind), w)).collect()
                }
            };
            Section { kind, pieces: smart_merge(pieces) }
        })
        .collect()
}

/// Concatenates consecutive sections of the same kind (the second pass of each section merge).
fn join_same_kind(sections: Vec<Section>) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::with_capacity(sections.len());
    for section in sections {
        match out.last_mut() {
            Some(last) if last.kind == section.kind => last.pieces.extend(section.pieces),
            _ => out.push(section),
        }
    }
    out
}

/// Mirrors `_merge_substrings_across_punctuation` / `_across_newline` (identical but for the tag):
/// a `tag` piece joins the piece before it; a piece whose label equals the previous input piece's
/// label joins the output's last piece (which takes its label if it was the tag).
fn merge_pieces_across(pieces: Vec<Piece>, tag: Label) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    let mut previous_label = None;
    for piece in pieces {
        let label = piece.lang;
        match out.last_mut() {
            Some(last) if label == tag => last.absorb(&piece),
            Some(last) if Some(label) == previous_label => {
                last.absorb(&piece);
                if last.lang == tag {
                    last.lang = label;
                }
            }
            _ => out.push(piece),
        }
        previous_label = Some(label);
    }
    out
}

/// Appends `next`'s first piece to `section`'s last piece and moves the rest over.
fn splice(section: &mut Section, next: Section, take_label: bool) {
    let mut rest = next.pieces.into_iter();
    if let Some(first) = rest.next() {
        match section.pieces.last_mut() {
            Some(last) => {
                last.absorb(&first);
                if take_label {
                    last.lang = first.lang;
                }
            }
            None => section.pieces.push(first),
        }
    }
    section.pieces.extend(rest);
}

/// Mirrors `_merge_substrings_across_punctuation_based_on_sections`: a punctuation section joins
/// the section after it (taking its kind and its first piece's label) or, when last, the one
/// before it.
fn merge_across_punctuation(sections: Vec<Section>) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::with_capacity(sections.len());
    for section in sections {
        match out.last_mut() {
            Some(last) if last.kind == SectionKind::Punctuation => {
                last.kind = section.kind;
                splice(last, section, true);
            }
            Some(last) if section.kind == SectionKind::Punctuation => splice(last, section, false),
            _ => out.push(section),
        }
    }
    join_same_kind(out)
        .into_iter()
        .map(|s| Section { pieces: merge_pieces_across(s.pieces, Label::Punctuation), ..s })
        .collect()
}

/// Mirrors `_merge_substrings_across_newline_based_on_sections`: a line-break section takes the
/// kind of the section after it and its pieces; a line break after a section joins it.
fn merge_across_newline(sections: Vec<Section>) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::with_capacity(sections.len());
    for section in sections {
        match out.last_mut() {
            Some(last) if last.kind == SectionKind::Newline => {
                last.kind = section.kind;
                last.pieces.extend(section.pieces);
            }
            Some(last) if section.kind == SectionKind::Newline => last.pieces.extend(section.pieces),
            _ => out.push(section),
        }
    }
    join_same_kind(out)
        .into_iter()
        .map(|s| Section { pieces: merge_pieces_across(s.pieces, Label::Newline), ..s })
        .collect()
}

/// Per-label character totals kept by `_special_merge_for_zh_ja` (pieces it absorbs are skipped,
/// as upstream). Its dict has only these six keys; other labels cannot occur in a zh/ja section.
#[derive(Default)]
struct LabelTotals([usize; 6]);

impl LabelTotals {
    /// Upstream's dict order, which decides ties in `max`.
    const ORDER: [Label; 6] = [Label::Zh, Label::Ja, Label::X, Label::Digit, Label::Punctuation, Label::Newline];

    fn add(&mut self, piece: &Piece) {
        if let Some(i) = Self::ORDER.iter().position(|&l| l == piece.lang) {
            self.0[i] += piece.length;
        }
    }

    fn get(&self, label: Label) -> usize {
        Self::ORDER.iter().position(|&l| l == label).map_or(0, |i| self.0[i])
    }

    /// `max(d, key=d.get)`: the first label with the largest total.
    fn most_common(&self) -> Label {
        let mut best = 0;
        for i in 1..Self::ORDER.len() {
            if self.0[i] > self.0[best] {
                best = i;
            }
        }
        Self::ORDER[best]
    }
}

/// Mirrors `_special_merge_for_zh_ja`: a zh/ja/x piece less than a tenth as long as a zh/ja
/// neighbour is absorbed into it (at the ends), a non-`en` piece between two pieces of the same
/// language (zh/ja) that is less than a tenth of their length is absorbed into both; then `x`
/// pieces take the most common label when any `x` was counted, and everything `zh` becomes `ja`
/// when the counted `ja` text is at least ten times the `zh` text (also when both are zero).
fn special_merge_zh_ja(pieces: Vec<Piece>) -> Vec<Piece> {
    if pieces.len() <= 1 {
        return pieces;
    }
    let zh_ja = |l: Label| matches!(l, Label::Zh | Label::Ja);
    let mut totals = LabelTotals::default();
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    let last = pieces.len() - 1;
    let mut i = 0;
    while i <= last {
        let cur = &pieces[i];
        totals.add(cur);
        let absorb_next = if i == 0 {
            let next = &pieces[1];
            zh_ja(next.lang) && (zh_ja(cur.lang) || cur.lang == Label::X) && cur.length * 10 < next.length
        } else {
            false
        };
        if absorb_next {
            let mut merged = Piece { lang: pieces[1].lang, text: cur.text.clone(), length: cur.length };
            merged.absorb(&pieces[1]);
            out.push(merged);
            i += 2;
            continue;
        }
        match out.last_mut() {
            Some(left) if i == last => {
                if zh_ja(left.lang) && (zh_ja(cur.lang) || cur.lang == Label::X) && cur.length * 10 < left.length {
                    left.absorb(cur);
                } else {
                    out.push(cur.clone());
                }
            }
            Some(left) if i > 0 => {
                let right = &pieces[i + 1];
                if left.lang == right.lang
                    && zh_ja(left.lang)
                    && cur.lang != Label::En
                    && cur.length * 10 < left.length + right.length
                {
                    left.absorb(cur);
                    left.absorb(right);
                    i += 1;
                } else {
                    out.push(cur.clone());
                }
            }
            _ => out.push(cur.clone()),
        }
        i += 1;
    }
    if totals.get(Label::X) > 0 {
        let common = totals.most_common();
        out.iter_mut().filter(|p| p.lang == Label::X).for_each(|p| p.lang = common);
    }
    if totals.get(Label::Ja) >= totals.get(Label::Zh) * 10 {
        out.iter_mut().filter(|p| p.lang == Label::Zh).for_each(|p| p.lang = Label::Ja);
    }
    merge_same_label(out)
}

/// Mirrors `LangSplitter.split_by_lang`: the labelled pieces of `text` in order. Text that is empty
/// after stripping gives no pieces (upstream raises `IndexError` there).
pub(super) fn split_by_lang(text: &str) -> Vec<Piece> {
    let sections = label_sections(pre_split(text));
    if sections.is_empty() {
        return Vec::new();
    }
    merge_across_newline(merge_across_punctuation(sections))
        .into_iter()
        .flat_map(|s| if s.kind == SectionKind::ZhJa { special_merge_zh_ja(s.pieces) } else { s.pieces })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str) -> Vec<(Label, String)> {
        split_by_lang(text).into_iter().map(|p| (p.lang, p.text)).collect()
    }

    #[test]
    fn pre_split_runs() {
        let kinds: Vec<_> = pre_split(" Hi, it's 3点\n").into_iter().collect();
        assert_eq!(
            kinds,
            vec![
                (SectionKind::Others, "Hi".to_string()),
                (SectionKind::Punctuation, ", ".to_string()),
                (SectionKind::Others, "it's ".to_string()),
                (SectionKind::Digit, "3".to_string()),
                (SectionKind::ZhJa, "点".to_string()),
            ]
        );
    }

    #[test]
    fn words_keep_trailing_spaces() {
        assert_eq!(split_words("a  b c"), ["a  ", "b ", "c"]);
    }

    #[test]
    fn mixed_text() {
        assert_eq!(
            labels("Hello，欢迎使用GPT-SoVITS"),
            vec![
                (Label::En, "Hello，".to_string()),
                (Label::Zh, "欢迎使用".to_string()),
                (Label::En, "GPT-SoVITS".to_string())
            ]
        );
        assert!(labels(" \n ").is_empty());
    }
}
