//! MeCab morphological analysis over a compiled dictionary: lattice construction with unknown-word
//! processing (`Tokenizer::lookup` in `tokenizer.cpp`) and the best path (`Viterbi::viterbi` /
//! `connect` in `viterbi.cpp`, without all-path or partial modes), as Open JTalk's `Mecab_analysis` runs it.

use std::path::Path;

use super::dictionary::{CharInfo, CharProperty, CompiledDictionary, ConnectionMatrix, Token};
use super::JaError;

/// `DEFAULT_MAX_GROUPING_SIZE` in `common.h` (the dictionary sets no `max-grouping-size`).
const MAX_GROUPING_SIZE: usize = 24;
/// `lookup` never looks further than this many bytes ahead.
const MAX_LOOKUP_BYTES: usize = 65535;

/// One morpheme of the best path: its surface and its dictionary feature CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Morpheme {
    pub surface: String,
    pub feature: String,
}

/// The loaded MeCab dictionary directory.
pub(super) struct Tokenizer {
    system: CompiledDictionary,
    unknown: CompiledDictionary,
    matrix: ConnectionMatrix,
    chars: CharProperty,
    /// Unknown-word tokens per character category, in `char.bin` order.
    unknown_tokens: Vec<Vec<Token>>,
    space: CharInfo,
}

/// A lattice node: its surface is `start..end` (bytes, after any skipped spaces); `cost` is the best path
/// cost up to and including it, reached from node `prev`.
struct Node {
    start: usize,
    end: usize,
    left_id: u16,
    right_id: u16,
    word_cost: i32,
    feature: NodeFeature,
    cost: i64,
    prev: usize,
}

impl Node {
    /// The begin- or end-of-sentence node at byte `pos` (MeCab's BOS/EOS: ids 0, no cost).
    fn boundary(pos: usize) -> Self {
        Node {
            start: pos,
            end: pos,
            left_id: 0,
            right_id: 0,
            word_cost: 0,
            feature: NodeFeature::BeginOrEnd,
            cost: 0,
            prev: BOS,
        }
    }
}

#[derive(Clone, Copy)]
enum NodeFeature {
    BeginOrEnd,
    System(Token),
    Unknown(Token),
}

const BOS: usize = 0;

impl Tokenizer {
    pub(super) fn open(dir: &Path) -> Result<Self, JaError> {
        let system = CompiledDictionary::open(&dir.join("sys.dic"))?;
        let unknown = CompiledDictionary::open(&dir.join("unk.dic"))?;
        let matrix = ConnectionMatrix::open(&dir.join("matrix.bin"))?;
        let chars = CharProperty::open(&dir.join("char.bin"))?;
        let unknown_tokens = chars
            .category_names
            .iter()
            .map(|name| {
                unknown.exact_match(name.as_bytes()).ok_or_else(|| JaError::CorruptDictionary {
                    file: dir.join("unk.dic").display().to_string(),
                    detail: format!("no entry for character category {name}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let space = chars.info_of(0x20);
        Ok(Self { system, unknown, matrix, chars, unknown_tokens, space })
    }

    /// Best-path morphemes of `sentence` (the BOS/EOS nodes excluded).
    pub(super) fn analyze(&self, sentence: &str) -> Vec<Morpheme> {
        let bytes = sentence.as_bytes();
        let len = bytes.len();
        let mut nodes = vec![Node::boundary(0)];
        // Nodes ending at each byte position, most recent last (MeCab prepends; we iterate in reverse).
        let mut ends: Vec<Vec<usize>> = vec![Vec::new(); len + 1];
        ends[0].push(BOS);
        for pos in 0..len {
            if ends[pos].is_empty() {
                continue;
            }
            let candidates = self.lookup(bytes, pos);
            for mut node in candidates.into_iter().rev() {
                let Some((best, cost)) = self.best_left(&nodes, &ends[pos], &node) else {
                    continue;
                };
                node.prev = best;
                node.cost = cost;
                let end = node.end;
                nodes.push(node);
                if let Some(list) = ends.get_mut(end) {
                    list.push(nodes.len() - 1);
                }
            }
        }
        let eos = Node::boundary(len);
        let Some(last) = (0..=len).rev().find(|&pos| !ends[pos].is_empty()) else {
            return Vec::new();
        };
        let Some((mut current, _)) = self.best_left(&nodes, &ends[last], &eos) else {
            return Vec::new();
        };
        let mut path = Vec::new();
        while current != BOS {
            let node = &nodes[current];
            path.push(Morpheme {
                surface: String::from_utf8_lossy(bytes.get(node.start..node.end).unwrap_or(&[])).into_owned(),
                feature: match node.feature {
                    NodeFeature::System(token) => self.system.feature(&token).to_string(),
                    NodeFeature::Unknown(token) => self.unknown.feature(&token).to_string(),
                    NodeFeature::BeginOrEnd => String::new(),
                },
            });
            current = node.prev;
        }
        path.reverse();
        path
    }

    /// `connect`: the left neighbour with the lowest total cost (first found wins ties).
    fn best_left(&self, nodes: &[Node], lefts: &[usize], right: &Node) -> Option<(usize, i64)> {
        let mut best: Option<(usize, i64)> = None;
        for &left in lefts.iter().rev() {
            let left_node = &nodes[left];
            let cost = left_node.cost
                + i64::from(self.matrix.cost(left_node.right_id, right.left_id))
                + i64::from(right.word_cost);
            if best.is_none_or(|(_, best_cost)| cost < best_cost) {
                best = Some((left, cost));
            }
        }
        best
    }

    /// `Tokenizer::lookup<false>`: dictionary words and unknown-word candidates starting at `pos`,
    /// in creation order.
    fn lookup(&self, sentence: &[u8], pos: usize) -> Vec<Node> {
        let end = sentence.len().min(pos + MAX_LOOKUP_BYTES);
        let text = &sentence[..end];
        let (start, info, first_len, _) = self.seek_to_other_type(text, pos, self.space);
        let mut found = Vec::new();
        for (length, tokens) in self.system.common_prefix_search(&text[start..]) {
            for token in tokens {
                found.push(self.node(start, start + length, token, NodeFeature::System(token)));
            }
        }
        if !found.is_empty() && !info.invoke {
            return found;
        }
        let mut unknown_end = start + first_len;
        if unknown_end > end {
            self.add_unknown(&mut found, start, unknown_end, info);
            if !found.is_empty() {
                return found;
            }
        }
        let mut group_end = None;
        if info.group {
            let (after, _, _, count) = self.seek_to_other_type(text, unknown_end, info);
            if count <= MAX_GROUPING_SIZE {
                self.add_unknown(&mut found, start, after, info);
            }
            group_end = Some(after);
        }
        for _ in 1..=info.length {
            if unknown_end > end {
                break;
            }
            if Some(unknown_end) == group_end {
                continue;
            }
            self.add_unknown(&mut found, start, unknown_end, info);
            let (next, next_len) = self.chars.char_info(&text[unknown_end.min(end)..]);
            if !info.is_kind_of(&next) {
                break;
            }
            unknown_end += next_len;
        }
        if found.is_empty() {
            self.add_unknown(&mut found, start, unknown_end, info);
        }
        found
    }

    /// `ADDUNKNWON`: one node per unknown-word entry of the first character's default category.
    fn add_unknown(&self, found: &mut Vec<Node>, start: usize, end: usize, info: CharInfo) {
        if let Some(tokens) = self.unknown_tokens.get(info.default_type) {
            for token in tokens {
                found.push(self.node(start, end, *token, NodeFeature::Unknown(*token)));
            }
        }
    }

    fn node(&self, start: usize, end: usize, token: Token, feature: NodeFeature) -> Node {
        Node {
            start,
            end,
            left_id: token.left_id,
            right_id: token.right_id,
            word_cost: i32::from(token.cost),
            feature,
            cost: 0,
            prev: BOS,
        }
    }

    /// `CharProperty::seekToOtherType`: skips characters while each is of a kind of the previous one
    /// (starting from `kind`). Returns (stop position, info of the character that stopped the scan,
    /// its byte length, number of characters skipped).
    fn seek_to_other_type(&self, text: &[u8], from: usize, kind: CharInfo) -> (usize, CharInfo, usize, usize) {
        let mut pos = from;
        let mut current = kind;
        let mut last = (CharInfo::default(), 0);
        let mut count = 0;
        while pos < text.len() {
            last = self.chars.char_info(&text[pos..]);
            if !current.is_kind_of(&last.0) {
                break;
            }
            pos += last.1;
            count += 1;
            current = last.0;
        }
        (pos, last.0, last.1, count)
    }
}
