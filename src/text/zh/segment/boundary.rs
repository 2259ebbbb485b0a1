//! Word-position marks (B/M/E/S) of jieba's two HMMs and how a mark sequence becomes words.

/// Where a char sits in its word. The discriminants follow the C decoder's `"BMES"` order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Boundary {
    Begin = 0,
    Middle = 1,
    End = 2,
    Single = 3,
}

impl Boundary {
    pub(super) const ALL: [Boundary; 4] = [Self::Begin, Self::Middle, Self::End, Self::Single];

    pub(super) fn from_letter(letter: &str) -> Option<Self> {
        match letter {
            "B" => Some(Self::Begin),
            "M" => Some(Self::Middle),
            "E" => Some(Self::End),
            "S" => Some(Self::Single),
            _ => None,
        }
    }

    /// The state letter (the C decoder compares these bytes).
    pub(super) fn letter(self) -> u8 {
        match self {
            Self::Begin => b'B',
            Self::Middle => b'M',
            Self::End => b'E',
            Self::Single => b'S',
        }
    }
}

/// A word cut from a mark sequence: chars `start..end`, named (tagged) by the mark at `tag_at`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct MarkedWord {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) tag_at: usize,
}

/// The `__cut` loop of `posseg` and `finalseg`: a word ends at each `E` (starting at the last
/// `B`) or `S`; chars after the last word end form one final word tagged by its first char.
pub(super) fn words_from_marks(marks: impl IntoIterator<Item = Boundary>) -> Vec<MarkedWord> {
    let mut words = Vec::new();
    let (mut begin, mut next, mut len) = (0, 0, 0);
    for (i, mark) in marks.into_iter().enumerate() {
        len = i + 1;
        match mark {
            Boundary::Begin => begin = i,
            Boundary::End => {
                words.push(MarkedWord { start: begin, end: i + 1, tag_at: i });
                next = i + 1;
            }
            Boundary::Single => {
                words.push(MarkedWord { start: i, end: i + 1, tag_at: i });
                next = i + 1;
            }
            Boundary::Middle => {}
        }
    }
    if next < len {
        words.push(MarkedWord { start: next, end: len, tag_at: next });
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use Boundary::*;

    #[test]
    fn marks_to_words() {
        let words = words_from_marks([Begin, End, Single, Begin, Middle]);
        let spans: Vec<(usize, usize, usize)> = words.iter().map(|w| (w.start, w.end, w.tag_at)).collect();
        assert_eq!(spans, [(0, 2, 1), (2, 3, 2), (3, 5, 3)]);
        // A `B` after another `B` restarts the word; a lone `M`/`E` start is tolerated.
        let spans: Vec<(usize, usize)> =
            words_from_marks([Begin, Begin, End]).iter().map(|w| (w.start, w.end)).collect();
        assert_eq!(spans, [(1, 3)]);
        let spans: Vec<(usize, usize)> = words_from_marks([End, Middle]).iter().map(|w| (w.start, w.end)).collect();
        assert_eq!(spans, [(0, 1), (1, 2)]);
    }
}
