//! ToJyutping 3.2.0's dictionary trie (`Trie.py`): the packed `trie.txt` parser and the greedy
//! longest-match lookup behind `get_jyutping_list`.

use std::collections::HashMap;
use std::ops::Range;

use super::syllable::Syllable;

/// Key characters are the ones at or above U+0100; value characters lie below `{` (U+007B).
const FIRST_KEY_CHAR: u32 = 0x100;
const FIRST_NON_VALUE_CHAR: u32 = '{' as u32;
/// Value characters encode syllable ids in base 90, two digits each, offset by `!`.
const VALUE_BASE: u32 = 90;
const VALUE_OFFSET: u32 = '!' as u32;
/// Marks a syllable that does not consume a key character (one character read as two syllables).
const EXTRA_SYLLABLE: char = '~';
const DESCEND: char = '{';
const ASCEND: char = '}';
const ROOT: usize = 0;
/// Reading range of a node that is only a prefix of longer words.
const NO_READING: Range<usize> = 0..0;

/// Dictionary from words (1–6 characters) to their preferred Jyutping reading.
pub(super) struct JyutpingTrie {
    children: HashMap<(usize, char), usize>,
    /// Per node, its preferred reading as a range of `syllables` (empty: the node is no word).
    readings: Vec<Range<usize>>,
    syllables: Vec<Syllable>,
}

impl JyutpingTrie {
    /// Parses ToJyutping's `trie.txt`, mirroring the module-level loader in `Trie.py`.
    ///
    /// The format is a preorder walk: a run of key characters descends from the current parent,
    /// then come that node's candidate readings (only the first, preferred one is kept, as
    /// `get_jyutping_list` uses nothing else), then `{` makes the node the parent of what follows
    /// and `}` returns to the previous parent. Malformed input is an error, never a panic or hang.
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        let chars: Vec<char> = text.chars().collect();
        let at = |i: usize| chars.get(i).copied().ok_or_else(|| format!("unexpected end at char {i}"));
        let mut trie = Self { children: HashMap::new(), readings: vec![NO_READING], syllables: Vec::new() };
        // (parent node, its depth); the file opens with the root's `{`.
        let mut parents = vec![(ROOT, 0usize)];
        let mut i = 1;
        while let Some(&(parent, parent_depth)) = parents.last() {
            let start = i;
            let mut node = parent;
            let mut depth = parent_depth;
            while u32::from(at(i)?) >= FIRST_KEY_CHAR {
                node = trie.child_or_insert(node, at(i)?);
                i += 1;
                depth += 1;
            }
            let mut preferred: Option<Range<usize>> = None;
            while u32::from(at(i)?) < FIRST_NON_VALUE_CHAR {
                if depth == 0 {
                    return Err(format!("reading without a key at char {i}"));
                }
                let first = trie.syllables.len();
                let mut keyed = 0;
                while keyed < depth {
                    let id = value_digit(at(i)?)? * VALUE_BASE + value_digit(at(i + 1)?)?;
                    trie.syllables.push(Syllable::from_id(id).ok_or_else(|| format!("bad syllable id {id}"))?);
                    i += 2;
                    if at(i)? == EXTRA_SYLLABLE {
                        i += 1;
                    } else {
                        keyed += 1;
                    }
                }
                let candidate = first..trie.syllables.len();
                if preferred.is_none() {
                    preferred = Some(candidate);
                } else {
                    trie.syllables.truncate(first);
                }
            }
            if let Some(reading) = preferred {
                if let Some(slot) = trie.readings.get_mut(node) {
                    *slot = reading;
                }
            }
            match at(i)? {
                DESCEND => {
                    i += 1;
                    parents.push((node, depth));
                }
                ASCEND => {
                    i += 1;
                    parents.pop();
                }
                other if i == start => return Err(format!("unexpected {other:?} at char {i}")),
                _ => {}
            }
        }
        Ok(trie)
    }

    fn child_or_insert(&mut self, node: usize, key: char) -> usize {
        let next = self.readings.len();
        let child = *self.children.entry((node, key)).or_insert(next);
        if child == next {
            self.readings.push(NO_READING);
        }
        child
    }

    fn reading(&self, node: usize) -> Option<&[Syllable]> {
        let range = self.readings.get(node)?;
        self.syllables.get(range.clone()).filter(|reading| !reading.is_empty())
    }

    /// Per character of `text`, its reading (`None` where the dictionary has none), mirroring
    /// `Trie.get`: at each position take the longest dictionary word starting there; each of its
    /// characters gets the syllable at its own offset, while a single-character match keeps its
    /// whole reading (some characters read as two syllables, e.g. `卅 saa1 aa6`).
    pub(super) fn readings<'a>(&'a self, text: &[char]) -> Vec<Option<&'a [Syllable]>> {
        let mut out = Vec::with_capacity(text.len());
        let mut i = 0;
        while i < text.len() {
            let mut node = ROOT;
            let mut longest: Option<(usize, &[Syllable])> = None;
            for (j, &ch) in text.iter().enumerate().skip(i) {
                match self.children.get(&(node, ch)) {
                    Some(&child) => node = child,
                    None => break,
                }
                if let Some(reading) = self.reading(node) {
                    longest = Some((j, reading));
                }
            }
            match longest {
                Some((end, word)) if end > i => {
                    out.extend((0..=end - i).map(|offset| word.get(offset..=offset)));
                    i = end + 1;
                }
                single => {
                    out.push(single.map(|(_, reading)| reading));
                    i += 1;
                }
            }
        }
        out
    }
}

fn value_digit(ch: char) -> Result<u32, String> {
    let code = u32::from(ch);
    if (VALUE_OFFSET..FIRST_NON_VALUE_CHAR).contains(&code) {
        Ok(code - VALUE_OFFSET)
    } else {
        Err(format!("bad value char {ch:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::syllable::reading_text;
    use super::*;

    /// Encodes a syllable id the way `trie.txt` does.
    fn enc(id: u32) -> String {
        [id / VALUE_BASE, id % VALUE_BASE].iter().filter_map(|d| char::from_u32(d + VALUE_OFFSET)).collect()
    }

    fn lookup(trie: &JyutpingTrie, text: &str) -> Vec<Option<String>> {
        let chars: Vec<char> = text.chars().collect();
        trie.readings(&chars).into_iter().map(|r| r.map(reading_text)).collect()
    }

    /// Packs onset/rhyme/tone indices into an id (see `syllable.rs`).
    fn id(onset: u32, rhyme: u32, tone: u32) -> u32 {
        onset * 402 + rhyme * 6 + tone - 1
    }

    /// 一 jat1, 一二 (2 syllables), 一二三四 (4 syllables; 一二三 is only a prefix), 卅 with an
    /// extra syllable, 三 with two candidates (the first wins).
    fn sample() -> JyutpingTrie {
        let (jat1, ji6, saam1, saam3) = (enc(id(19, 16, 1)), enc(id(19, 27, 6)), enc(id(18, 3, 1)), enc(id(18, 3, 3)));
        let (sei3, saa1, aa6) = (enc(id(18, 19, 3)), enc(id(18, 0, 1)), enc(id(0, 0, 6)));
        let text =
            format!("{{一{jat1}{{二{jat1}{ji6}{{三四{jat1}{ji6}{saam1}{sei3}}}}}卅{saa1}~{aa6}三{saam1}{saam3}}}");
        match JyutpingTrie::parse(&text) {
            Ok(trie) => trie,
            Err(e) => panic!("sample trie: {e}"),
        }
    }

    #[test]
    fn longest_match_and_fallbacks() {
        let trie = sample();
        let got = lookup(&trie, "一二三四一二三x一卅");
        let want = [
            Some("jat1"),
            Some("ji6"),
            Some("saam1"),
            Some("sei3"),
            Some("jat1"),
            Some("ji6"),
            Some("saam1"),
            None,
            Some("jat1"),
            Some("saa1 aa6"),
        ];
        assert_eq!(got, want.iter().map(|w| w.map(str::to_string)).collect::<Vec<_>>());
    }

    #[test]
    fn prefix_nodes_without_reading_fall_back_per_character() {
        // 一二三 is only a prefix of 一二三四: the longest real word starting at 一 is 一二.
        let trie = sample();
        assert_eq!(lookup(&trie, "一二三"), vec![Some("jat1".into()), Some("ji6".into()), Some("saam1".into())]);
    }

    #[test]
    fn malformed_data_is_an_error() {
        for bad in ["", "{", "{一", "{一!", "{!!}", "{一||}", "{一zz}"] {
            assert!(JyutpingTrie::parse(bad).is_err(), "{bad:?}");
        }
    }
}
