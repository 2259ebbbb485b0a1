//! Sentence splitting for text that arrives piece by piece (an LLM token stream), so synthesis can
//! start on the first sentence while the rest is still being written. Not an upstream port: it
//! follows `cut5` (cut after sentence and clause marks) and `merge_short_text_in_array` (short
//! pieces join the next), and adds what a stream needs — a cut is only made once the character
//! after the marks is known, and never inside numbers, abbreviations, URLs or e-mail addresses.
//!
//! Rules, applied to each run of consecutive marks (plus any closing quotes/brackets after it):
//! * a run containing a full-width mark (`。！？；，、：…`) ends a sentence whatever follows;
//! * a run of ASCII marks (`. ! ? ;` and, with clauses on, `, :`) ends a sentence only when followed
//!   by whitespace or a CJK character — so `3.14`, `1,000`, `x.y/z.html`, `a@b.com`, `10:30` and
//!   `e.g.,` stay whole — and a single `.` after an abbreviation (`Dr.`, `Mr.`, `U.S.`, `e.g.`, an
//!   initial like `J.`) does not end one either;
//! * a line break always ends a sentence.
//!
//! Each char is processed once, in order, by a small state machine, so the output does not depend
//! on how the text is cut into pieces: feeding it whole or char by char gives the same sentences.

use crate::text::lang_segment::script::is_cjk;
use crate::text::python_chars::is_word;

/// Marks that end a sentence.
const SENTENCE_MARKS: [char; 10] = ['.', '!', '?', ';', '…', '。', '！', '？', '；', '｡'];
/// Marks that end a clause (used when [`SplitterConfig::split_at_clauses`] is on).
const CLAUSE_MARKS: [char; 6] = [',', ':', '，', '、', '：', '､'];
/// Closing quotes and brackets that stay with the sentence they close.
const CLOSERS: [char; 17] =
    ['"', '\'', '”', '’', '」', '』', ')', '）', ']', '］', '】', '》', '〉', '}', '｝', '〕', '｣'];

/// Lower-case abbreviations after which a `.` does not end a sentence. (`etc.` is left out: it
/// mostly ends sentences.)
const ABBREVIATIONS: [&str; 36] = [
    "mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "mt", "vs", "cf", "fig", "figs", "vol", "approx", "dept",
    "inc", "ltd", "corp", "gen", "capt", "lt", "col", "sgt", "rev", "hon", "gov", "jan", "feb", "aug", "sept", "oct",
    "nov", "dec", "al",
];
/// Longest token considered as an abbreviation (bounds the look-back).
const MAX_ABBREVIATION_CHARS: usize = 12;

/// Settings of an [`IncrementalSplitter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitterConfig {
    /// A sentence with fewer non-whitespace characters than this (or without any letter or digit)
    /// is held back and emitted together with the next one, like upstream's
    /// `merge_short_text_in_array(…, 5)`.
    pub min_chars: usize,
    /// Also cut after clause marks (`, :` `，、：`), as `cut5` does; otherwise only after sentence
    /// marks (`. ! ? ; …` `。！？；`) and line breaks.
    pub split_at_clauses: bool,
}

impl Default for SplitterConfig {
    /// `cut5`'s cuts and upstream's merge threshold of 5.
    fn default() -> Self {
        Self { min_chars: 5, split_at_clauses: true }
    }
}

/// Where the scanner is: in plain text, inside a run of marks, or in closers after such a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Text,
    /// `start`: index of the run's first mark; `ascii`: the run has only ASCII marks;
    /// `single_dot`: the run is exactly one `.`.
    Marks {
        start: usize,
        ascii: bool,
        single_dot: bool,
    },
    Closers {
        start: usize,
        ascii: bool,
        single_dot: bool,
    },
}

/// The part of the pending text already cut off but held back as too short.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Held {
    end: usize,
    visible_chars: usize,
    has_word: bool,
}

/// Splits a stream of text pieces into sentences as soon as each one is complete.
#[derive(Debug, Clone)]
pub struct IncrementalSplitter {
    config: SplitterConfig,
    pending: Vec<char>,
    state: State,
    held: Held,
}

impl Default for IncrementalSplitter {
    fn default() -> Self {
        Self::new(SplitterConfig::default())
    }
}

impl IncrementalSplitter {
    /// A splitter with the given settings.
    pub fn new(config: SplitterConfig) -> Self {
        Self { config, pending: Vec::new(), state: State::Text, held: Held::default() }
    }

    /// Adds the next piece of text; returns the sentences it completed (trimmed, line breaks
    /// inside a sentence turned into spaces).
    pub fn push(&mut self, piece: &str) -> Vec<String> {
        let mut sentences = Vec::new();
        for c in piece.chars() {
            self.feed(c, &mut sentences);
        }
        sentences
    }

    /// Ends the stream: returns whatever is left as a last sentence (nothing if it has no letter or
    /// digit) and resets the splitter for a new stream.
    pub fn flush(&mut self) -> Vec<String> {
        let rest = tidy(&std::mem::take(&mut self.pending));
        self.state = State::Text;
        self.held = Held::default();
        if rest.chars().any(is_word) {
            vec![rest]
        } else {
            Vec::new()
        }
    }

    /// Characters received but not yet returned in a sentence (bounds a stream's unspoken text).
    pub fn pending_chars(&self) -> usize {
        self.pending.len()
    }

    fn is_mark(&self, c: char) -> bool {
        SENTENCE_MARKS.contains(&c) || (self.config.split_at_clauses && CLAUSE_MARKS.contains(&c))
    }

    fn feed(&mut self, c: char, sentences: &mut Vec<String>) {
        self.pending.push(c);
        match self.state {
            State::Marks { start, ascii, single_dot } => {
                if self.is_mark(c) {
                    self.state = State::Marks { start, ascii: ascii && c.is_ascii(), single_dot: false };
                    return;
                }
                if CLOSERS.contains(&c) {
                    self.state = State::Closers { start, ascii, single_dot };
                    return;
                }
                self.after_marks(start, ascii, single_dot, c, sentences);
            }
            State::Closers { start, ascii, single_dot } => {
                if CLOSERS.contains(&c) {
                    return;
                }
                self.after_marks(start, ascii, single_dot, c, sentences);
            }
            State::Text => {}
        }
        // `c` as plain text (its index may have moved if a sentence was just taken off).
        let index = self.pending.len() - 1;
        if c == '\n' {
            self.cut(index + 1, sentences);
        } else if self.is_mark(c) {
            self.state = State::Marks { start: index, ascii: c.is_ascii(), single_dot: c == '.' };
        }
    }

    /// `next` is the first character after a run of marks and its closers: decide the cut.
    fn after_marks(&mut self, start: usize, ascii: bool, single_dot: bool, next: char, sentences: &mut Vec<String>) {
        self.state = State::Text;
        let ends = !ascii
            || ((next.is_whitespace() || is_cjk(next)) && !(single_dot && is_abbreviation(&self.pending[..start])));
        if ends {
            self.cut(self.pending.len() - 1, sentences);
        }
    }

    /// A sentence ends at `end`: emit it if long enough, else hold it for the next one.
    fn cut(&mut self, end: usize, sentences: &mut Vec<String>) {
        let fresh = &self.pending[self.held.end..end];
        let visible_chars = self.held.visible_chars + fresh.iter().filter(|c| !c.is_whitespace()).count();
        let has_word = self.held.has_word || fresh.iter().any(|&c| is_word(c));
        if has_word && visible_chars >= self.config.min_chars {
            sentences.push(tidy(&self.pending[..end]));
            self.pending.drain(..end);
            self.held = Held::default();
        } else {
            self.held = Held { end, visible_chars, has_word };
        }
    }
}

/// Trimmed text with line breaks (and the spaces around them) turned into single spaces.
fn tidy(chars: &[char]) -> String {
    let text: String = chars.iter().collect();
    text.lines().map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Whether the word right before a `.` (at the end of `before`) is an abbreviation or an initial.
fn is_abbreviation(before: &[char]) -> bool {
    let lookback = &before[before.len().saturating_sub(MAX_ABBREVIATION_CHARS + 1)..];
    let token = match lookback.iter().rposition(|c| c.is_whitespace()) {
        Some(space) => &lookback[space + 1..],
        None if lookback.len() == before.len() => lookback,
        None => return false,
    };
    let token: String = token.iter().skip_while(|c| !c.is_alphanumeric()).collect();
    if ABBREVIATIONS.contains(&token.to_lowercase().as_str()) {
        return true;
    }
    let mut chars = token.chars();
    if let (Some(initial), None) = (chars.next(), chars.next()) {
        return initial.is_ascii_uppercase() && initial != 'I';
    }
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() >= 2 && parts.iter().all(|p| (1..=2).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(text: &str) -> Vec<String> {
        let mut splitter = IncrementalSplitter::default();
        let mut out = splitter.push(text);
        out.extend(splitter.flush());
        out
    }

    #[test]
    fn english_sentences_wait_for_the_next_character() {
        let mut splitter = IncrementalSplitter::default();
        assert!(splitter.push("Hello there.").is_empty());
        assert_eq!(splitter.push(" How"), ["Hello there."]);
        assert!(splitter.push(" are you").is_empty());
        assert_eq!(splitter.flush(), ["How are you"]);
        assert!(splitter.flush().is_empty());
    }

    #[test]
    fn numbers_abbreviations_urls_stay_whole() {
        let text =
            "Dr. Smith paid $3.14 for 1,000 apples, e.g. at https://x.y/z.html or a@b.com in the U.S. today. Done!";
        assert_eq!(
            split_all(text),
            [
                "Dr. Smith paid $3.14 for 1,000 apples,",
                "e.g. at https://x.y/z.html or a@b.com in the U.S. today.",
                "Done!"
            ]
        );
        assert_eq!(split_all("Mr. J. K. Rowling wrote it. I did."), ["Mr. J. K. Rowling wrote it.", "I did."]);
    }

    #[test]
    fn chinese_marks_cut_immediately_after_closers() {
        let mut splitter = IncrementalSplitter::default();
        assert!(splitter.push("他说：“好的。”").is_empty());
        assert_eq!(splitter.push("然后"), ["他说：“好的。”"]);
        assert_eq!(split_all("今天天气很好，我们去公园吧。好"), ["今天天气很好，", "我们去公园吧。", "好"]);
    }

    #[test]
    fn short_pieces_join_the_next() {
        assert_eq!(split_all("嗯。啊？哦！好吧，就这样吧。"), ["嗯。啊？哦！", "好吧，就这样吧。"]);
        assert_eq!(split_all("Hi.\nHow are you?"), ["Hi. How are you?"]);
        assert_eq!(split_all("...\n!!"), Vec::<String>::new());
    }

    #[test]
    fn clauses_can_be_kept() {
        let mut splitter = IncrementalSplitter::new(SplitterConfig { min_chars: 1, split_at_clauses: false });
        let mut out = splitter.push("Yes, really. Ok");
        out.extend(splitter.flush());
        assert_eq!(out, ["Yes, really.", "Ok"]);
    }

    #[test]
    fn ascii_mark_before_cjk_cuts() {
        assert_eq!(split_all("你好世界.我们走吧"), ["你好世界.", "我们走吧"]);
        assert_eq!(split_all("版本2.0以上"), ["版本2.0以上"]);
    }
}
