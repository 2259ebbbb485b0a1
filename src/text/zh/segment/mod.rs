//! Word segmentation with part-of-speech tags, as `jieba_fast` 0.53 does it: `posseg.lcut` for
//! the sentence and `cut_for_search` for the sub-word splits of the tone-sandhi rules.

mod boundary;
mod dict;
mod finalseg_hmm;
mod posseg_hmm;

use boundary::words_from_marks;
use dict::{PrefixDict, RouteFlavor};
use finalseg_hmm::FinalsegHmm;
use posseg_hmm::PossegHmm;

use crate::text::resource::load_both;
use crate::text::zh::char_str::{class_runs, CharStr};
use crate::text::TextError;

/// A word and its jieba POS tag (`n`, `v`, `m`, `x`, `eng`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Token {
    pub(super) word: String,
    pub(super) pos: String,
}

impl Token {
    pub(super) fn new(word: impl Into<String>, pos: impl Into<String>) -> Self {
        Self { word: word.into(), pos: pos.into() }
    }
}

pub(super) struct Segmenter {
    dict: PrefixDict,
    posseg: PossegHmm,
    finalseg: FinalsegHmm,
}

/// `[\u4E00-\u9FD5]`: jieba's notion of a Han character.
fn is_jieba_han(c: char) -> bool {
    ('\u{4E00}'..='\u{9FD5}').contains(&c)
}

/// `re_han_internal` of posseg: chars the dictionary route may handle.
fn is_posseg_block_char(c: char) -> bool {
    is_jieba_han(c) || c.is_ascii_alphanumeric() || "+#&._".contains(c)
}

/// `re_han_default` of `Tokenizer.cut`: as posseg's class plus `%`.
fn is_tokenizer_block_char(c: char) -> bool {
    is_posseg_block_char(c) || c == '%'
}

/// The pieces of a block outside the main class: `re_skip.split` on `(\r\n|\s)` keeps `\r\n`
/// together, and every other char ends up as its own piece.
fn skip_block_pieces(block: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = block;
    while let Some(c) = rest.chars().next() {
        let len = if rest.starts_with("\r\n") { 2 } else { c.len_utf8() };
        pieces.push(&rest[..len]);
        rest = &rest[len..];
    }
    pieces
}

impl Segmenter {
    pub(super) fn load() -> Result<Self, TextError> {
        let (dict, (posseg, finalseg)) = load_both(PrefixDict::load, || load_both(PossegHmm::load, FinalsegHmm::load))?;
        Ok(Self { dict, posseg, finalseg })
    }

    /// `jieba_fast.posseg.lcut(sentence)` (HMM on).
    pub(super) fn pos_cut(&self, sentence: &str) -> Vec<Token> {
        let mut tokens = Vec::new();
        for (block, is_main) in class_runs(sentence, is_posseg_block_char) {
            if is_main {
                self.pos_cut_block(block, &mut tokens);
            } else {
                // `re_num`/`re_eng` cannot match here: digits, letters and '.' are main-class chars.
                tokens.extend(skip_block_pieces(block).into_iter().map(|p| Token::new(p, "x")));
            }
        }
        tokens
    }

    /// `POSTokenizer.__cut_DAG`: dictionary words keep their tag; runs of single chars are
    /// tagged char by char when the run is itself a word, else go through the HMM.
    fn pos_cut_block(&self, block: &str, tokens: &mut Vec<Token>) {
        let chars = CharStr::new(block);
        for step in route_steps(&chars, &self.dict.best_route(&chars, RouteFlavor::Python)) {
            match step {
                RouteStep::Word(word) => tokens.push(Token::new(word, self.dict.tag(word).unwrap_or("x"))),
                RouteStep::Singles(buf) => self.pos_flush_singles(buf, tokens),
            }
        }
    }

    /// Flushes a run of single-char route steps: one char keeps its dictionary tag, an unknown
    /// run goes to `__cut_detail`, a run that is itself a word is emitted char by char.
    fn pos_flush_singles(&self, buf: &str, tokens: &mut Vec<Token>) {
        let single = buf.chars().nth(1).is_none();
        if !single && self.dict.freq(buf) == 0 {
            self.pos_cut_detail(buf, tokens);
        } else {
            for c in buf.chars() {
                let word = c.to_string();
                let tag = self.dict.tag(&word).unwrap_or("x").to_string();
                tokens.push(Token { word, pos: tag });
            }
        }
    }

    /// `POSTokenizer.__cut_detail`: HMM for Han runs, number / latin / other runs otherwise.
    fn pos_cut_detail(&self, buf: &str, tokens: &mut Vec<Token>) {
        for (block, is_han) in class_runs(buf, is_jieba_han) {
            if is_han {
                self.pos_hmm_cut(block, tokens);
            } else {
                for (piece, kind) in detail_pieces(block) {
                    let pos = match kind {
                        DetailKind::Number => "m",
                        DetailKind::Latin => "eng",
                        DetailKind::Other => "x",
                    };
                    tokens.push(Token::new(piece, pos));
                }
            }
        }
    }

    /// `POSTokenizer.__cut`: words from the POS HMM's B/M/E/S marks, tagged by their last state.
    fn pos_hmm_cut(&self, block: &str, tokens: &mut Vec<Token>) {
        let chars: Vec<char> = block.chars().collect();
        let text = CharStr::new(block);
        let states: Vec<_> = self.posseg.viterbi(&chars).into_iter().filter_map(|id| self.posseg.state(id)).collect();
        for word in words_from_marks(states.iter().map(|s| s.position)) {
            let tag = states.get(word.tag_at).map_or("x", |s| s.tag.as_str());
            tokens.push(Token::new(text.slice(word.start, word.end), tag));
        }
    }

    /// `jieba_fast.cut_for_search(word)`: the accurate cut, each long word preceded by its
    /// dictionary 2-grams and 3-grams.
    pub(super) fn cut_for_search(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for word in self.cut(text) {
            let chars = CharStr::new(&word);
            let n = chars.len();
            for gram in [2, 3] {
                if n > gram {
                    for i in 0..=n - gram {
                        let sub = chars.slice(i, i + gram);
                        if self.dict.freq(sub) > 0 {
                            out.push(sub.to_string());
                        }
                    }
                }
            }
            out.push(word);
        }
        out
    }

    /// `Tokenizer.cut(text)` (accurate mode, HMM on).
    fn cut(&self, text: &str) -> Vec<String> {
        let mut words = Vec::new();
        for (block, is_main) in class_runs(text, is_tokenizer_block_char) {
            if is_main {
                self.cut_block(block, &mut words);
            } else {
                words.extend(skip_block_pieces(block).into_iter().map(str::to_string));
            }
        }
        words
    }

    /// `Tokenizer.__cut_DAG` with the C route.
    fn cut_block(&self, block: &str, words: &mut Vec<String>) {
        let chars = CharStr::new(block);
        for step in route_steps(&chars, &self.dict.best_route(&chars, RouteFlavor::NativeC)) {
            match step {
                RouteStep::Word(word) => words.push(word.to_string()),
                RouteStep::Singles(buf) => self.flush_singles(buf, words),
            }
        }
    }

    /// As [`Self::pos_flush_singles`] without tags, and with the boundary HMM for unknown runs.
    fn flush_singles(&self, buf: &str, words: &mut Vec<String>) {
        let single = buf.chars().nth(1).is_none();
        if !single && self.dict.freq(buf) == 0 {
            self.finalseg_cut(buf, words);
        } else {
            words.extend(buf.chars().map(String::from));
        }
    }

    /// `finalseg.cut`: the boundary HMM for Han runs; latin/number tokens kept whole.
    fn finalseg_cut(&self, buf: &str, words: &mut Vec<String>) {
        for (block, is_han) in class_runs(buf, is_jieba_han) {
            if is_han {
                let chars: Vec<char> = block.chars().collect();
                let text = CharStr::new(block);
                let marks = self.finalseg.viterbi(&chars);
                words.extend(words_from_marks(marks).into_iter().map(|w| text.slice(w.start, w.end).to_string()));
            } else {
                words.extend(finalseg_skip_pieces(block).into_iter().map(str::to_string));
            }
        }
    }
}

/// A step of the route walk of `__cut_DAG`: a multi-char dictionary word, or a maximal run of
/// single-char steps, which jieba buffers and resolves as a whole.
enum RouteStep<'a> {
    Word(&'a str),
    Singles(&'a str),
}

/// Walks `route` (the end of the best word at each position) over `chars`.
fn route_steps<'a>(chars: &CharStr<'a>, route: &[usize]) -> Vec<RouteStep<'a>> {
    let mut steps = Vec::new();
    let mut singles_start: Option<usize> = None;
    let mut x = 0;
    while x < chars.len() {
        let y = route.get(x).map_or(x, |&end| end.max(x)) + 1;
        if y - x == 1 {
            singles_start.get_or_insert(x);
        } else {
            if let Some(start) = singles_start.take() {
                steps.push(RouteStep::Singles(chars.slice(start, x)));
            }
            steps.push(RouteStep::Word(chars.slice(x, y)));
        }
        x = y;
    }
    if let Some(start) = singles_start {
        steps.push(RouteStep::Singles(chars.slice(start, chars.len())));
    }
    steps
}

/// Kinds of pieces `re_skip_detail` (`([\.0-9]+|[a-zA-Z0-9]+)`) cuts a non-Han run into.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum DetailKind {
    Number,
    Latin,
    Other,
}

/// `re.split` with a capturing pattern: matches and the non-empty gaps between them (`None`).
/// `matcher` returns the byte length of the match starting at the front of its argument.
fn split_keeping_matches<K>(block: &str, matcher: impl Fn(&str) -> Option<(usize, K)>) -> Vec<(&str, Option<K>)> {
    let mut pieces = Vec::new();
    let (mut gap_start, mut i) = (0, 0);
    while let Some(c) = block[i..].chars().next() {
        match matcher(&block[i..]).filter(|&(len, _)| len > 0) {
            Some((len, kind)) => {
                if gap_start < i {
                    pieces.push((&block[gap_start..i], None));
                }
                pieces.push((&block[i..i + len], Some(kind)));
                i += len;
                gap_start = i;
            }
            None => i += c.len_utf8(),
        }
    }
    if gap_start < block.len() {
        pieces.push((&block[gap_start..], None));
    }
    pieces
}

/// `re_skip_detail.split` with each piece's tag class: a match starting with `.`/digit is
/// `re_num` (`m`), one starting with a letter is `re_eng` (`eng`), the gaps are `x`.
fn detail_pieces(block: &str) -> Vec<(&str, DetailKind)> {
    let is_number = |c: char| c == '.' || c.is_ascii_digit();
    let pieces = split_keeping_matches(block, |rest| match rest.chars().next() {
        Some(c) if is_number(c) => Some((prefix_len(rest, is_number), DetailKind::Number)),
        Some(c) if c.is_ascii_alphabetic() => {
            Some((prefix_len(rest, |c| c.is_ascii_alphanumeric()), DetailKind::Latin))
        }
        _ => None,
    });
    pieces.into_iter().map(|(piece, kind)| (piece, kind.unwrap_or(DetailKind::Other))).collect()
}

/// `finalseg.re_skip.split` on `([a-zA-Z0-9]+(?:\.\d+)?%?)`, keeping matches and gaps.
/// (`\d` only ever meets ASCII digits here: the run comes from the `re_han_default` class.)
fn finalseg_skip_pieces(block: &str) -> Vec<&str> {
    let pieces = split_keeping_matches(block, |rest| {
        let mut end = prefix_len(rest, |c| c.is_ascii_alphanumeric());
        if end == 0 {
            return None;
        }
        if rest[end..].starts_with('.') {
            let digits = prefix_len(&rest[end + 1..], |c| c.is_ascii_digit());
            if digits > 0 {
                end += 1 + digits;
            }
        }
        if rest[end..].starts_with('%') {
            end += 1;
        }
        Some((end, ()))
    });
    pieces.into_iter().map(|(piece, _)| piece).collect()
}

/// Byte length of the longest prefix whose chars all satisfy `pred`.
fn prefix_len(s: &str, pred: impl Fn(char) -> bool) -> usize {
    s.char_indices().find(|&(_, c)| !pred(c)).map_or(s.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_pieces_follow_python_alternation() {
        use DetailKind::*;
        assert_eq!(detail_pieces("12ab+#"), vec![("12", Number), ("ab", Latin), ("+#", Other)]);
        assert_eq!(detail_pieces("ab12.5"), vec![("ab12", Latin), (".5", Number)]);
    }

    #[test]
    fn finalseg_skip_keeps_decimals_and_percent() {
        assert_eq!(finalseg_skip_pieces("+ab3.5%x"), vec!["+", "ab3.5%", "x"]);
        assert_eq!(finalseg_skip_pieces("a.b"), vec!["a", ".", "b"]);
    }

    #[test]
    fn skip_pieces_keep_crlf() {
        assert_eq!(skip_block_pieces("\r\n ,"), vec!["\r\n", " ", ","]);
    }
}
