//! String helpers for the ported Python: a char-indexed view (Python slices strings by code
//! point) and `re.split`-style runs of a character class.

/// A string with the byte offset of every char boundary.
pub(super) struct CharStr<'a> {
    text: &'a str,
    /// `offsets[i]` is the byte offset of char `i`; the last entry is `text.len()`.
    offsets: Vec<usize>,
}

impl<'a> CharStr<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        let mut offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        offsets.push(text.len());
        Self { text, offsets }
    }

    /// Number of chars.
    pub(super) fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The chars `start..end` (clamped to the string).
    pub(super) fn slice(&self, start: usize, end: usize) -> &'a str {
        let end = end.min(self.len());
        let start = start.min(end);
        &self.text[self.offsets[start]..self.offsets[end]]
    }
}

/// Splits `text` into maximal runs of chars inside / outside a class, like `re.split` with a
/// capturing `([class]+)` pattern (empty pieces dropped).
pub(super) fn class_runs(text: &str, in_class: impl Fn(char) -> bool) -> Vec<(&str, bool)> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut current: Option<bool> = None;
    for (i, c) in text.char_indices() {
        let class = in_class(c);
        if current.is_some_and(|k| k != class) {
            runs.push((&text[start..i], !class));
            start = i;
        }
        current = Some(class);
    }
    if let Some(class) = current {
        runs.push((&text[start..], class));
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_runs_alternate() {
        assert_eq!(class_runs("ab,c", |c| c.is_alphabetic()), vec![("ab", true), (",", false), ("c", true)]);
        assert!(class_runs("", |_| true).is_empty());
    }
}
