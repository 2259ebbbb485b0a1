//! Regex rules compiled once, and a Python `re.sub` equivalent for them.
//!
//! Rust's `regex` has no look-around and no back-references, which several upstream rules use.
//! They are restructured by hand, keeping Python's leftmost-first, backtracking match choice:
//! * a trailing negative look-ahead `(?!X)` is written as a final named group
//!   `(?P<ahead>[^X]|$)`: the regex engine then prefers, in the same priority order as Python's
//!   backtracking, the first alternative that is followed by an allowed character, and the
//!   character that group consumes is given back (not replaced, searched again);
//! * a leading negative look-behind `(?<!X)` only constrains where a match may start, so it is a
//!   predicate on the character before the match ([`Rule::not_after`]);
//! * a back-reference is checked by the replacement callback, which returns `None` to reject the
//!   match at that start (see [`Rule::replace_all`]).

use std::sync::OnceLock;

use regex::{Captures, Regex};

/// Name of the trailing group that emulates a negative look-ahead.
const AHEAD: &str = "ahead";

/// One normalization pattern, compiled on first use.
pub(super) struct Rule {
    pattern: &'static str,
    /// Emulated leading `(?<!X)`: true for the characters X that may not precede a match.
    not_after: Option<fn(char) -> bool>,
    compiled: OnceLock<Option<Regex>>,
}

impl Rule {
    pub(super) const fn new(pattern: &'static str) -> Self {
        Self { pattern, not_after: None, compiled: OnceLock::new() }
    }

    /// A rule whose match may not start right after a character for which `forbidden` is true.
    pub(super) const fn not_after(pattern: &'static str, forbidden: fn(char) -> bool) -> Self {
        Self { pattern, not_after: Some(forbidden), compiled: OnceLock::new() }
    }

    /// The compiled pattern; `None` only if a pattern in this module is invalid, which the unit
    /// tests rule out (the rule is then skipped rather than panicking).
    fn regex(&self) -> Option<&Regex> {
        self.compiled.get_or_init(|| Regex::new(self.pattern).ok()).as_ref()
    }

    /// Mirrors Python's `rule.sub(replacement, text)`: matches are found left to right without
    /// overlap, all against the original `text`. `replacement` returning `None` rejects the match
    /// (a failed back-reference check) and the search resumes one character after its start.
    pub(super) fn replace_all(&self, text: &str, mut replacement: impl FnMut(&Captures) -> Option<String>) -> String {
        let Some(regex) = self.regex().filter(|regex| regex.is_match(text)) else {
            return text.to_owned();
        };
        let mut out = String::with_capacity(text.len());
        let mut copied_up_to = 0;
        let mut search_from = 0;
        while search_from <= text.len() {
            let Some(caps) = regex.captures_at(text, search_from) else {
                break;
            };
            let Some(whole) = caps.get(0) else {
                break;
            };
            let start = whole.start();
            let end = caps.name(AHEAD).map_or(whole.end(), |ahead| ahead.start());
            let preceded_badly =
                self.not_after.is_some_and(|forbidden| text[..start].chars().next_back().is_some_and(forbidden));
            let replaced = if preceded_badly { None } else { replacement(&caps) };
            match replaced {
                Some(new_text) if end > start => {
                    out.push_str(&text[copied_up_to..start]);
                    out.push_str(&new_text);
                    copied_up_to = end;
                    search_from = end;
                }
                // Rejected (or empty, which no rule here produces): retry one character later.
                _ => search_from = start + text[start..].chars().next().map_or(1, char::len_utf8),
            }
        }
        out.push_str(&text[copied_up_to..]);
        out
    }
}

#[cfg(test)]
impl Rule {
    /// Whether the pattern compiles; every module's tests check all of its rules.
    pub(super) fn compiles(&self) -> bool {
        self.regex().is_some()
    }
}

/// Text of capture group `index`, or `""` when it did not participate (Python's `None`).
pub(super) fn group<'t>(caps: &Captures<'t>, index: usize) -> &'t str {
    caps.get(index).map_or("", |m| m.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_ahead_group_is_given_back() {
        let rule = Rule::new(r"([0-9]+)(?P<ahead>[^0-9a]|$)");
        // "12a" cannot match (look-ahead), "34" followed by "b" can, "b" stays.
        assert_eq!(rule.replace_all("12a 34b56", |c| Some(format!("<{}>", group(c, 1)))), "12a <34>b<56>");
    }

    #[test]
    fn look_behind_predicate_rejects_start_only() {
        let rule = Rule::not_after(r"[0-9]{2}", |c| c == 'x');
        assert_eq!(rule.replace_all("x123 x12", |_| Some("#".into())), "x1# x12");
    }

    #[test]
    fn rejected_match_retries_one_char_later() {
        let rule = Rule::new(r"(.)(.)");
        let same_pair = |c: &Captures| (group(c, 1) == group(c, 2)).then(|| "=".to_owned());
        assert_eq!(rule.replace_all("abbcdd", same_pair), "a=c=");
    }
}
