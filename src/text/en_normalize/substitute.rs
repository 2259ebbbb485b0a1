//! A stand-in for Python's `re.sub` driven by hand-written matchers. Upstream's patterns use Python's
//! Unicode `\b`/`\d`/`\s`, which the `regex` crate cannot reproduce, and a matcher that knows its
//! pattern can also say how far a failed attempt rules out later starts, keeping every pass linear.

/// What a rule found when tried at one start index.
pub enum Attempt {
    /// The pattern matches `start..end` (never empty) and is replaced by `replacement`.
    Match { end: usize, replacement: String },
    /// No match starts anywhere in `start..resume`; scanning goes on at `resume`.
    NoMatchBefore(usize),
}

/// Replaces the non-overlapping matches of `rule` from left to right, as `re.sub` does, and returns
/// the new text with the number of replacements.
pub fn substitute(text: &str, rule: impl Fn(&[char], usize) -> Attempt) -> (String, usize) {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut start = 0;
    while start < chars.len() {
        match rule(&chars, start) {
            Attempt::Match { end, replacement } => {
                out.push_str(&replacement);
                count += 1;
                start = end.clamp(start + 1, chars.len());
            }
            Attempt::NoMatchBefore(resume) => {
                let resume = resume.clamp(start + 1, chars.len());
                out.extend(&chars[start..resume]);
                start = resume;
            }
        }
    }
    (out, count)
}

/// Index just past the run of characters satisfying `pred` that begins at `from`.
pub fn run_end(chars: &[char], from: usize, pred: impl Fn(char) -> bool) -> usize {
    chars.get(from..).map_or(from, |rest| from + rest.iter().take_while(|&&c| pred(c)).count())
}

/// The character at `index`, if any.
pub fn char_at(chars: &[char], index: usize) -> Option<char> {
    chars.get(index).copied()
}

/// `chars[from..to]` as a `String`.
pub fn text_between(chars: &[char], from: usize, to: usize) -> String {
    chars.get(from..to).map(|slice| slice.iter().collect()).unwrap_or_default()
}
