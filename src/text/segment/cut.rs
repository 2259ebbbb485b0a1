//! The text split methods `cut0`…`cut5`: mirrors `TTS_infer_pack/text_segmentation_method.py`
//! (the webui's copies are identical). Every function returns what upstream returns, a string whose
//! `\n`s separate the pieces, including upstream's quirks (documented per function).

use super::SegmentError;
use crate::text::python_chars::{is_decimal, is_digit};
use std::fmt;

/// Upstream `splits`: the marks after which `split` cuts and which end a sentence.
pub const SPLITS: [char; 13] = ['，', '。', '？', '！', ',', '.', '?', '!', '~', ':', '：', '—', '…'];

/// Upstream `punctuation` of `text_segmentation_method.py`: pieces made only of these are dropped.
const PIECE_PUNCTUATION: [char; 7] = ['!', '?', '…', ',', '.', '-', ' '];

/// `cut5`'s `punds`: it cuts after each of these (and drops pieces made only of them).
const CUT5_MARKS: [char; 12] = [',', '.', ';', '?', '!', '、', '，', '。', '？', '！', '：', '…'];

/// Whether `c` is one of upstream's `splits`.
pub fn is_split_mark(c: char) -> bool {
    SPLITS.contains(&c)
}

/// `set(piece).issubset(marks)`: true for the empty piece too.
fn only_of(piece: &str, marks: &[char]) -> bool {
    piece.chars().all(|c| marks.contains(&c))
}

/// Drops pieces made only of `PIECE_PUNCTUATION` and joins the rest with `\n`.
fn join_kept(pieces: impl IntoIterator<Item = String>) -> String {
    pieces.into_iter().filter(|p| !only_of(p, &PIECE_PUNCTUATION)).collect::<Vec<_>>().join("\n")
}

/// Mirrors `split`: `……`→`。`, `——`→`，`, a final `。` when the text does not end with a split
/// mark, then a cut after every split mark (the mark stays with the left piece). Upstream raises
/// `IndexError` on empty text; this returns no pieces.
pub fn split(text: &str) -> Vec<String> {
    let mut todo = text.replace("……", "。").replace("——", "，");
    match todo.chars().last() {
        None => return Vec::new(),
        Some(last) if !is_split_mark(last) => todo.push('。'),
        Some(_) => {}
    }
    let mut pieces = Vec::new();
    let mut current = String::new();
    for c in todo.chars() {
        current.push(c);
        if is_split_mark(c) {
            pieces.push(std::mem::take(&mut current));
        }
    }
    pieces
}

/// Mirrors `cut0` ("no cut"). Upstream returns the two characters `/n` (not a newline) when the
/// text consists only of `! ? … , . - space` (or is empty); kept as is.
pub fn cut0(text: &str) -> String {
    if only_of(text, &PIECE_PUNCTUATION) {
        "/n".to_string()
    } else {
        text.to_string()
    }
}

/// Mirrors `cut1`: `split` pieces grouped four at a time, except that the last group start is
/// dropped (upstream sets the last index to `None`), so the final group takes 5–8 pieces; with
/// four pieces or fewer the original text is returned unsplit (without `split`'s replacements).
/// Upstream raises `IndexError` on empty text; this returns an empty string.
pub fn cut1(text: &str) -> String {
    let text = text.trim_matches('\n');
    let pieces = split(text);
    let starts: Vec<usize> = (0..pieces.len()).step_by(4).collect();
    if starts.len() <= 1 {
        return join_kept([text.to_string()]);
    }
    let mut bounds = starts;
    if let Some(last) = bounds.last_mut() {
        *last = pieces.len();
    }
    join_kept(bounds.windows(2).map(|w| pieces[w[0]..w[1]].concat()))
}

/// Mirrors `cut2`: `split` pieces accumulated until the running length exceeds 50 characters; a
/// final group shorter than 50 is appended to the previous one. Text with fewer than two pieces is
/// returned unfiltered. Empty text (an upstream `IndexError`) gives an empty string.
pub fn cut2(text: &str) -> String {
    const MAX_LEN: usize = 50;
    let text = text.trim_matches('\n');
    let pieces = split(text);
    if pieces.len() < 2 {
        return text.to_string();
    }
    let mut groups: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for piece in pieces {
        current_len += piece.chars().count();
        current.push_str(&piece);
        if current_len > MAX_LEN {
            current_len = 0;
            groups.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    if groups.len() > 1 && groups.last().is_some_and(|g| g.chars().count() < MAX_LEN) {
        if let Some(tail) = groups.pop() {
            if let Some(previous) = groups.last_mut() {
                previous.push_str(&tail);
            }
        }
    }
    join_kept(groups)
}

/// Mirrors `cut3`: split on `。` after stripping `。` from both ends (the marks are dropped).
pub fn cut3(text: &str) -> String {
    join_kept(text.trim_matches('\n').trim_matches('。').split('。').map(str::to_string))
}

/// Mirrors `cut4`: split on every `.` that is not both preceded and followed by a decimal digit
/// (`re.split(r"(?<!\d)\.(?!\d)", …)` after stripping `.` from both ends; the dots are dropped).
pub fn cut4(text: &str) -> String {
    let chars: Vec<char> = text.trim_matches('\n').trim_matches('.').chars().collect();
    let mut pieces = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let digit_before = i > 0 && is_decimal(chars[i - 1]);
        let digit_after = chars.get(i + 1).is_some_and(|&next| is_decimal(next));
        if c == '.' && !digit_before && !digit_after {
            pieces.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    pieces.push(current);
    join_kept(pieces)
}

/// Mirrors `cut5`: a cut after every mark of `, . ; ? ! 、 ， 。 ？ ！ ： …` except a `.` between
/// two `str.isdigit()` characters; pieces made only of those marks are dropped (so the second `…`
/// of `……` disappears).
pub fn cut5(text: &str) -> String {
    let chars: Vec<char> = text.trim_matches('\n').chars().collect();
    let mut pieces = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        current.push(c);
        let decimal_point =
            c == '.' && i > 0 && i + 1 < chars.len() && is_digit(chars[i - 1]) && is_digit(chars[i + 1]);
        if CUT5_MARKS.contains(&c) && !decimal_point {
            pieces.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces.into_iter().filter(|p| !only_of(p, &CUT5_MARKS)).collect::<Vec<_>>().join("\n")
}

/// Mirrors `split_big_text(text, max_len)`: pieces of at most `max_len` characters cut at split
/// marks. Like upstream, a run longer than `max_len` without marks stays whole, and an empty
/// string is emitted before it when nothing had accumulated yet.
pub fn split_big_text(text: &str, max_len: usize) -> Vec<String> {
    let mut result = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    let mut push_segment = |segment: String| {
        let segment_len = segment.chars().count();
        if current_len + segment_len > max_len {
            result.push(std::mem::replace(&mut current, segment));
            current_len = segment_len;
        } else {
            current.push_str(&segment);
            current_len += segment_len;
        }
    };
    // `re.split` with a capturing group: text, mark, text, mark, …, text (empty strings included).
    let mut between = String::new();
    for c in text.chars() {
        if is_split_mark(c) {
            push_segment(std::mem::take(&mut between));
            push_segment(c.to_string());
        } else {
            between.push(c);
        }
    }
    push_segment(between);
    if !current.is_empty() {
        result.push(current);
    }
    result
}

/// A text split method, by upstream name (`get_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SplitMethod {
    /// `cut0`: no cut.
    Cut0,
    /// `cut1`: four sentences per piece.
    Cut1,
    /// `cut2`: about 50 characters per piece.
    Cut2,
    /// `cut3`: at `。`.
    Cut3,
    /// `cut4`: at `.`.
    Cut4,
    /// `cut5`: at every punctuation mark (`api_v2.py`'s default).
    Cut5,
}

impl SplitMethod {
    /// Every method, in upstream registration order.
    pub const ALL: [SplitMethod; 6] = [Self::Cut0, Self::Cut1, Self::Cut2, Self::Cut3, Self::Cut4, Self::Cut5];

    /// The upstream name (`"cut0"` … `"cut5"`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Cut0 => "cut0",
            Self::Cut1 => "cut1",
            Self::Cut2 => "cut2",
            Self::Cut3 => "cut3",
            Self::Cut4 => "cut4",
            Self::Cut5 => "cut5",
        }
    }

    /// Mirrors `get_method(name)`; unknown names are an error listing the valid ones.
    pub fn parse(name: &str) -> Result<Self, SegmentError> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| SegmentError::UnknownSplitMethod { given: name.to_string() })
    }

    /// Runs the method: upstream's return value, pieces separated by `\n`.
    pub fn apply(self, text: &str) -> String {
        match self {
            Self::Cut0 => cut0(text),
            Self::Cut1 => cut1(text),
            Self::Cut2 => cut2(text),
            Self::Cut3 => cut3(text),
            Self::Cut4 => cut4(text),
            Self::Cut5 => cut5(text),
        }
    }
}

impl std::str::FromStr for SplitMethod {
    type Err = SegmentError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
    }
}

impl fmt::Display for SplitMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_marks_left_and_closes_text() {
        assert_eq!(split("你好，世界"), ["你好，", "世界。"]);
        assert_eq!(split("等等……好——吧"), ["等等。", "好，", "吧。"]);
        assert!(split("").is_empty());
    }

    #[test]
    fn cut0_quirk_returns_slash_n() {
        assert_eq!(cut0("..."), "/n");
        assert_eq!(cut0(""), "/n");
        assert_eq!(cut0("a."), "a.");
    }

    #[test]
    fn cut1_last_group_absorbs_remainder() {
        // 9 pieces: groups [0, 4) and [4, 9).
        let text = "1，2，3，4，5，6，7，8，9。";
        assert_eq!(cut1(text), "1，2，3，4，\n5，6，7，8，9。");
        // 8 pieces: one group, but rebuilt from `split` (the `……` replacement shows).
        assert_eq!(cut1("a,b,c,d,e,f,g,h……"), "a,b,c,d,e,f,g,h。");
        // ≤ 4 pieces: original text.
        assert_eq!(cut1("a……"), "a……");
        assert_eq!(cut1(""), "");
    }

    #[test]
    fn cut4_keeps_decimals_and_cut5_keeps_digit_points() {
        assert_eq!(cut4("Pi is 3.14. e.g. x."), "Pi is 3.14. e\ng\n x");
        assert_eq!(cut5("价格3.5元，好。"), "价格3.5元，\n好。");
        assert_eq!(cut5("等等……"), "等等…");
        assert_eq!(cut5("².³"), "².³");
    }

    #[test]
    fn split_big_text_emits_leading_empty_for_overlong_run() {
        assert_eq!(split_big_text("abcdef。", 3), ["", "abcdef", "。"]);
        assert_eq!(split_big_text("ab，cd，ef", 5), ["ab，cd", "，ef"]);
    }

    #[test]
    fn parse_names() {
        assert_eq!(SplitMethod::parse("cut3").ok(), Some(SplitMethod::Cut3));
        let err = SplitMethod::parse("cut9").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("cut9") && err.contains("cut0") && err.contains("cut5"), "{err}");
    }
}
