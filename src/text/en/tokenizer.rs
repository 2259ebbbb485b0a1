//! Word tokenization: NLTK 3.10.4 `TweetTokenizer().tokenize` (`nltk/tokenize/casual.py`, default
//! options), which upstream `english.py` uses as `word_tokenize`.
//!
//! NLTK runs one big alternation (`WORD_RE` with the phone-number branch, flags `VERBOSE | I |
//! UNICODE`) through `findall`: at each position the first alternative that matches wins, else the
//! position is skipped. The Rust `regex` crate has the same leftmost-first preference, so the
//! branches are kept in NLTK's order and tried anchored at each position. The naked-domain branch
//! needs look-around, which `regex` lacks, so it is matched by hand ([`naked_domain_end`]); the
//! `HANG_RE` pre-pass needs a back-reference and is done by hand too ([`shorten_hangs`]).
//!
//! Not ported: `_replace_html_entities` (`&amp;` → `&` …). Normalized English text
//! (`[ A-Za-z'.,?!-]` only) never contains `&`, so it cannot change what reaches the G2P.

use std::sync::OnceLock;

use regex::{Regex, RegexBuilder};

use super::pystr;

/// `[a-z]` under NLTK's case-insensitive `regex` flags: also the long s, the Kelvin sign and the
/// dotted capital I, which `regex` folds onto ASCII letters.
const LATIN_CI: &str = r"a-zA-Z\x{17F}\x{212A}\x{130}";

/// `URLS`, first branch: a scheme or `domain.tld/` followed by a path.
fn url_with_path_pattern() -> String {
    let balanced = r"\([^\s()]{0,255}?\([^\s()]{1,255}\)[^\s()]{0,255}?\)|\([^\s]{1,255}?\)";
    format!(
        r#"(?:https?:(?:/{{1,3}}|[{l}0-9%])|[{l}0-9.\-]{{1,255}}[.](?:[{l}]{{2,13}})/)(?:[^\s()<>{{}}\[\]]+|{b})+(?:{b}|[^\s`!()\[\]{{}};:'".,<>?«»“”‘’])"#,
        l = LATIN_CI,
        b = balanced
    )
}

const PHONE: &str = r"(?:(?:\+?[01][ *\-.)]*)?(?:\(?\d{3}[ *\-.)]*)?\d{3}[ *\-.)]*\d{4})";

/// `EMOTICONS`, then HTML-like tags, arrows, handles and hashtags.
const EMOTICONS_TO_HASHTAGS: &str = concat!(
    r"(?:[<>]?[:;=8][\-o*']?[)\]\(\[dDpP/:}{@|\\]|[)\]\(\[dDpP/:}{@|\\][\-o*']?[:;=8][<>]?|</?3)",
    r"|<[^>\s]+>|[\-]+>|<[\-]+|(?:@[\w_]+)|(?:\#+[\w_]+[\w'_\-]*[\w_]+)"
);

const EMAIL: &str = r"[\w.+\-]{1,64}@[\w\-]{1,63}\.(?:[\w\-]\.?){1,251}[\w\-]";

/// Emoji ZWJ / skin-tone sequences, flags, then words, numbers, ellipses and any other character.
const EMOJI_TO_ANY: &str = concat!(
    r"\S(?:[\x{1f3fb}-\x{1f3ff}]?(?:\x{200d}\S[\x{1f3fb}-\x{1f3ff}]?)+|[\x{1f3fb}-\x{1f3ff}])",
    r"|(?:[\x{1F1E6}-\x{1F1FF}]{2}",
    r"|\x{1F3F4}\x{E0067}\x{E0062}\x{E0065}\x{E006e}\x{E0067}\x{E007F}",
    r"|\x{1F3F4}\x{E0067}\x{E0062}\x{E0073}\x{E0063}\x{E0074}\x{E007F}",
    r"|\x{1F3F4}\x{E0067}\x{E0062}\x{E0077}\x{E006C}\x{E0073}\x{E007F})",
    r"|(?:[^\W\d_](?:[^\W\d_]|['\-_])+[^\W\d_])",
    r"|(?:[+\-]?\d+[,/.:\-]\d+[+\-]?)",
    r"|(?:[\w_]+)",
    r"|(?:\.(?:[^\S\r\n]*\.){1,})",
    r"|(?:\S)"
);

/// One alternative of `WORD_RE` (or a run of consecutive ones), compiled on first use: the URL
/// and e-mail patterns have bounded repetitions in the hundreds and take long to compile, and
/// cannot match text without `:`/`/` or `@`, which normalized English never has.
struct Branch {
    pattern: fn() -> String,
    compiled: OnceLock<Option<Regex>>,
}

impl Branch {
    const fn new(pattern: fn() -> String) -> Self {
        Branch { pattern, compiled: OnceLock::new() }
    }

    /// The pattern anchored at the start of the slice it runs on, with NLTK's `I` flag.
    fn regex(&self) -> Option<&Regex> {
        self.compiled
            .get_or_init(|| {
                let pattern = format!(r"(?i)\A(?:{})", (self.pattern)());
                RegexBuilder::new(&pattern).size_limit(1 << 28).build().ok()
            })
            .as_ref()
    }

    /// End (byte offset in `text`) of this branch's match at `pos`.
    fn match_end(&self, text: &str, pos: usize) -> Option<usize> {
        self.regex()?.find(&text[pos..]).map(|m| pos + m.end())
    }
}

static URL_WITH_PATH: Branch = Branch::new(url_with_path_pattern);
static PHONE_NUMBER: Branch = Branch::new(|| PHONE.to_string());
static EMOTICON_TO_HASHTAG: Branch = Branch::new(|| EMOTICONS_TO_HASHTAGS.to_string());
static E_MAIL: Branch = Branch::new(|| EMAIL.to_string());
static EMOJI_TO_ANY_CHAR: Branch = Branch::new(|| EMOJI_TO_ANY.to_string());

/// Single-character classes.
struct Classes {
    /// `[^\p{L}\p{N}]` (the class `HANG_RE` repeats).
    not_letter_or_number: Regex,
    /// `\w` in Unicode mode (for `\b`).
    word_char: Regex,
}

fn classes() -> Option<&'static Classes> {
    static CLASSES: OnceLock<Option<Classes>> = OnceLock::new();
    CLASSES
        .get_or_init(|| {
            Some(Classes {
                not_letter_or_number: Regex::new(r"\A[^\p{L}\p{N}]\z").ok()?,
                word_char: Regex::new(r"\A\w\z").ok()?,
            })
        })
        .as_ref()
}

/// Whether the patterns normalized text needs compile (checked once when the G2P is built).
pub(super) fn is_ready() -> bool {
    classes().is_some() && EMOTICON_TO_HASHTAG.regex().is_some() && EMOJI_TO_ANY_CHAR.regex().is_some()
}

/// Which `WORD_RE` alternatives can match anywhere in a text.
struct Applicable {
    url: bool,
    phone: bool,
    email: bool,
}

/// `TweetTokenizer().tokenize(text)`.
pub(super) fn tokenize(text: &str) -> Vec<String> {
    let Some(classes) = classes() else {
        return Vec::new();
    };
    let text = shorten_hangs(text, classes);
    let applicable = Applicable {
        url: text.contains([':', '/']),
        phone: text.chars().any(pystr::is_digit),
        email: text.contains('@'),
    };
    let mut tokens = Vec::new();
    let mut pos = 0;
    while let Some(c) = text[pos..].chars().next() {
        match match_end(&text, pos, &applicable, classes) {
            Some(end) => {
                tokens.push(text[pos..end].to_string());
                pos = end;
            }
            None => pos += c.len_utf8(),
        }
    }
    tokens
}

/// End of the `WORD_RE` match starting at byte `pos`, if any: the alternatives in NLTK's order.
fn match_end(text: &str, pos: usize, applicable: &Applicable, classes: &Classes) -> Option<usize> {
    let url = || if applicable.url { URL_WITH_PATH.match_end(text, pos) } else { None };
    let phone = || if applicable.phone { PHONE_NUMBER.match_end(text, pos) } else { None };
    let email = || if applicable.email { E_MAIL.match_end(text, pos) } else { None };
    url()
        .or_else(|| naked_domain_end(text, pos, classes))
        .or_else(phone)
        .or_else(|| EMOTICON_TO_HASHTAG.match_end(text, pos))
        .or_else(email)
        .or_else(|| EMOJI_TO_ANY_CHAR.match_end(text, pos))
}

/// `HANG_RE.sub(r"\1\1\1", text)`: a run of four or more copies of one character that is neither a
/// letter nor a number shrinks to three.
fn shorten_hangs(text: &str, classes: &Classes) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let mut run = 1usize;
        while chars.peek() == Some(&c) {
            chars.next();
            run += 1;
        }
        let keep = if run >= 4 && is_char_in(&classes.not_letter_or_number, c) { 3 } else { run };
        out.extend(std::iter::repeat_n(c, keep));
    }
    out
}

fn is_char_in(class: &Regex, c: char) -> bool {
    class.is_match(c.encode_utf8(&mut [0u8; 4]))
}

fn is_latin_ci(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, '\u{17F}' | '\u{212A}' | '\u{130}')
}

fn is_latin_or_digit_ci(c: char) -> bool {
    is_latin_ci(c) || c.is_ascii_digit()
}

/// Most `[.\-][a-z0-9]+` repetitions the naked-domain branch allows.
const MAX_DOMAIN_LABELS: usize = 126;

/// The naked-domain branch of NLTK's `URLS`:
/// `(?<!@)[a-z0-9]+(?:[.\-][a-z0-9]+){0,126}[.](?:[a-z]{2,13})\b/?(?!@)`, case-insensitive.
///
/// Every `[a-z0-9]+` run must be followed by `.` or `-`, so a backtracking engine can only ever
/// use whole runs; what it does vary is how many `[.\-]run` labels it takes (most first), then the
/// length of the final `[a-z]{2,13}` (longest first), then the optional `/`. This walks the same
/// choices in the same order and returns the first end that passes `\b` and `(?!@)`.
fn naked_domain_end(text: &str, pos: usize, classes: &Classes) -> Option<usize> {
    if text[..pos].ends_with('@') {
        return None;
    }
    // The branch spans `[a-z0-9.\-]` characters only (at most 127 labels), then looks at most two
    // characters further (`\b`, `/`, `(?!@)`).
    let mut chars: Vec<(usize, char)> = Vec::new();
    let (mut separators, mut beyond) = (0, 0);
    for (i, c) in text[pos..].char_indices() {
        let separator = c == '.' || c == '-';
        let in_domain = is_latin_or_digit_ci(c) || (separator && separators <= MAX_DOMAIN_LABELS);
        if beyond > 0 || !in_domain {
            beyond += 1;
        } else if separator {
            separators += 1;
        }
        chars.push((pos + i, c));
        if beyond == 2 {
            break;
        }
    }
    let char_at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let byte_at = |i: usize| chars.get(i).map_or(text.len(), |&(b, _)| b);
    let run_end = |start: usize| {
        let mut i = start;
        while char_at(i).is_some_and(is_latin_or_digit_ci) {
            i += 1;
        }
        i
    };
    // label_ends[k]: char index just after the first run plus k `[.\-]run` labels.
    let mut label_ends = vec![run_end(0)];
    if label_ends[0] == 0 {
        return None;
    }
    while let Some(&last) = label_ends.last() {
        if label_ends.len() > MAX_DOMAIN_LABELS || !matches!(char_at(last), Some('.' | '-')) {
            break;
        }
        let end = run_end(last + 1);
        if end == last + 1 {
            break;
        }
        label_ends.push(end);
    }
    for &after_labels in label_ends.iter().rev() {
        if char_at(after_labels) != Some('.') {
            continue;
        }
        let tld_start = after_labels + 1;
        let mut letters = 0;
        while letters < 13 && char_at(tld_start + letters).is_some_and(is_latin_ci) {
            letters += 1;
        }
        for len in (2..=letters).rev() {
            let end = tld_start + len;
            let next = char_at(end);
            if next.is_some_and(|c| is_char_in(&classes.word_char, c)) {
                continue; // no `\b` after the last letter
            }
            if next == Some('/') && char_at(end + 1) != Some('@') {
                return Some(byte_at(end + 1));
            }
            if next != Some('@') {
                return Some(byte_at(end));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<String> {
        tokenize(text)
    }

    // Expected values below were produced by NLTK 3.10.4 `TweetTokenizer().tokenize`.
    #[test]
    fn words_punctuation_and_apostrophes() {
        assert_eq!(
            toks("Don't you think it's fine? I'd say yes!"),
            ["Don't", "you", "think", "it's", "fine", "?", "I'd", "say", "yes", "!"]
        );
        assert_eq!(toks("dogs' owner"), ["dogs", "'", "owner"]);
        assert_eq!(toks("rock'n'roll well--known _a_"), ["rock'n'roll", "well--known", "_a_"]);
        assert_eq!(toks("G P T- So"), ["G", "P", "T", "-", "So"]);
    }

    #[test]
    fn naked_domains_join_words_around_a_dot() {
        assert_eq!(toks("Hello.How are you"), ["Hello.How", "are", "you"]);
        assert_eq!(toks("St.Louis is a.m. ok"), ["St.Louis", "is", "a", ".", "m", ".", "ok"]);
        assert_eq!(toks("self-driving.Then x"), ["self-driving.Then", "x"]);
        assert_eq!(toks("a.b.c.d.e"), ["a", ".", "b", ".", "c", ".", "d", ".", "e"]);
        assert_eq!(toks("Mr.Smith-Jones.com."), ["Mr.Smith-Jones.com", "."]);
        assert_eq!(toks("ab.cdefghijklmnopq"), ["ab", ".", "cdefghijklmnopq"]);
        assert_eq!(toks("x \u{17F}top.com \u{212A}.ok"), ["x", "\u{17F}top.com", "\u{212A}.ok"]);
        assert_eq!(toks("foo.bar.com@x"), ["foo.bar", ".", "com", "@x"]);
        assert_eq!(toks("é.com"), ["é", ".", "com"]);
    }

    #[test]
    fn naked_domains_take_at_most_126_extra_labels() {
        let lens = |text: &str| toks(text).iter().map(|t| t.chars().count()).collect::<Vec<_>>();
        assert_eq!(lens(&format!("{}com", "ab.".repeat(130))), [383, 1, 9]);
        assert_eq!(lens(&format!("{}y.com", "x-".repeat(200))), [401, 1, 3]);
        assert_eq!(lens(&format!("q{}.cd", ".b".repeat(127))), [1, 1, 256]);
    }

    #[test]
    fn ellipses_and_hangs() {
        assert_eq!(toks("hi....there"), ["hi", "...", "there"]);
        assert_eq!(toks("a . . b"), ["a", ". .", "b"]);
        assert_eq!(toks("''''"), ["'", "'", "'"]);
        assert_eq!(toks("----"), ["-", "-", "-"]);
        assert_eq!(toks("    a"), ["a"]);
    }

    #[test]
    fn twitter_shapes() {
        assert_eq!(
            toks("This is a cooool #dummysmiley: :-) :-P <3 and some arrows < > -> <--"),
            [
                "This",
                "is",
                "a",
                "cooool",
                "#dummysmiley",
                ":",
                ":-)",
                ":-P",
                "<3",
                "and",
                "some",
                "arrows",
                "<",
                ">",
                "->",
                "<--"
            ]
        );
        assert_eq!(toks("call 555-123-4567 or mail a.b@c.org"), ["call", "555-123-4567", "or", "mail", "a.b@c.org"]);
        assert_eq!(toks("see https://example.com/x_(y) now"), ["see", "https://example.com/x_(y)", "now"]);
    }
}
