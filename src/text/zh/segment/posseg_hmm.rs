//! The part-of-speech HMM of `jieba_fast.posseg` (`char_state_tab`, `prob_start`, `prob_trans`,
//! `prob_emit`) and its Viterbi decoder `posseg/viterbi.py::viterbi`, which tags runs of
//! characters that the dictionary route leaves as unknown single characters.

use std::collections::HashMap;

use super::boundary::Boundary;
use crate::text::resource::{corrupt, gunzip_text, parse_field};
use crate::text::TextError;

const WHAT: &str = "jieba_posseg_hmm.txt.gz";
static HMM_GZ: &[u8] = include_bytes!("../data/jieba_posseg_hmm.txt.gz");

/// `MIN_FLOAT` of `viterbi.py`: the log-probability of an unseen emission.
const MIN_FLOAT: f64 = -3.14e100;

/// An HMM state: a word-position mark and a POS tag.
pub(super) struct State {
    pub(super) position: Boundary,
    pub(super) tag: String,
}

/// What the model knows about one character.
struct CharModel {
    /// `char_state_tab[char]`: the states the character may take.
    states: Vec<u16>,
    /// `prob_emit[state][char]`, sorted by state.
    emit: Vec<(u16, f64)>,
}

pub(super) struct PossegHmm {
    /// Sorted like Python tuples `(position, tag)`, so a larger id wins `max()` ties the same way.
    states: Vec<State>,
    start: Vec<f64>,
    /// `prob_trans[from]` as `(to, logprob)`, sorted by `to`.
    trans: Vec<Vec<(u16, f64)>>,
    /// The same transitions grouped by target: `incoming[to]` lists `(from, logprob)`.
    incoming: Vec<Vec<(u16, f64)>>,
    chars: HashMap<char, CharModel>,
}

/// One Viterbi cell: a state, the best log-probability of reaching it, and its predecessor.
#[derive(Clone, Copy)]
struct Cell {
    state: u16,
    prob: f64,
    prev: u16,
}

impl PossegHmm {
    /// Parses the generated file: `states N` + N lines `position tag start`, `trans` + N lines
    /// of `to:logprob`, `emit` + one line per char `char<TAB>states<TAB>state:logprob ...`.
    pub(super) fn load() -> Result<Self, TextError> {
        let text = gunzip_text(WHAT, HMM_GZ)?;
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let count: usize = parse_field(WHAT, header.strip_prefix("states "), header)?;
        let mut states = Vec::with_capacity(count);
        let mut start = Vec::with_capacity(count);
        for line in lines.by_ref().take(count) {
            let mut fields = line.split(' ');
            let position = fields
                .next()
                .and_then(Boundary::from_letter)
                .ok_or_else(|| corrupt(WHAT, format!("bad state line {line:?}")))?;
            let tag = fields.next().unwrap_or_default().to_string();
            start.push(parse_field(WHAT, fields.next(), line)?);
            states.push(State { position, tag });
        }
        if lines.next() != Some("trans") || states.len() != count {
            return Err(corrupt(WHAT, "bad state table"));
        }
        let mut trans = Vec::with_capacity(count);
        for line in lines.by_ref().take(count) {
            trans.push(parse_pairs(line, count)?);
        }
        if lines.next() != Some("emit") || trans.len() != count {
            return Err(corrupt(WHAT, "bad transition table"));
        }
        let mut chars = HashMap::with_capacity(30_000);
        for line in lines {
            let mut fields = line.split('\t');
            let ch = fields.next().and_then(|f| f.chars().next()).ok_or_else(|| corrupt(WHAT, "empty line"))?;
            let char_states = fields.next().unwrap_or_default();
            let states_of_char = char_states
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(|s| parse_field(WHAT, Some(s), line))
                .collect::<Result<Vec<u16>, _>>()?;
            if states_of_char.iter().any(|&s| usize::from(s) >= count) {
                return Err(corrupt(WHAT, format!("state out of range in {line:?}")));
            }
            let emit = parse_pairs(fields.next().unwrap_or_default(), count)?;
            chars.insert(ch, CharModel { states: states_of_char, emit });
        }
        let mut incoming = vec![Vec::new(); count];
        for (from, row) in trans.iter().enumerate() {
            for &(to, prob) in row {
                incoming[usize::from(to)].push((from as u16, prob));
            }
        }
        Ok(Self { states, start, trans, incoming, chars })
    }

    pub(super) fn state(&self, id: u16) -> Option<&State> {
        self.states.get(usize::from(id))
    }

    /// `prob_emit[state].get(char, MIN_FLOAT)`, given the char's model.
    fn emit(model: Option<&CharModel>, state: u16) -> f64 {
        model
            .and_then(|m| m.emit.binary_search_by_key(&state, |&(s, _)| s).ok().map(|i| m.emit[i].1))
            .unwrap_or(MIN_FLOAT)
    }

    /// `char_state_tab.get(char, all_states)` (chars outside the table have no states here).
    fn candidate_states(&self, model: Option<&CharModel>) -> Vec<u16> {
        match model {
            Some(model) if !model.states.is_empty() => model.states.clone(),
            _ => (0..self.states.len() as u16).collect(),
        }
    }

    /// The most probable state sequence of `obs`, one state id per char.
    pub(super) fn viterbi(&self, obs: &[char]) -> Vec<u16> {
        let Some(&first) = obs.first() else { return Vec::new() };
        let mut columns: Vec<Vec<Cell>> = Vec::with_capacity(obs.len());
        let model = self.chars.get(&first);
        columns.push(
            self.candidate_states(model)
                .into_iter()
                .map(|y| Cell { state: y, prob: self.start[usize::from(y)] + Self::emit(model, y), prev: y })
                .collect(),
        );
        let mut prev_prob: Vec<Option<f64>> = vec![None; self.states.len()];
        for &ch in &obs[1..] {
            let last = columns.last().map(Vec::as_slice).unwrap_or_default();
            let prev: Vec<Cell> =
                last.iter().copied().filter(|c| !self.trans[usize::from(c.state)].is_empty()).collect();
            let mut expect_next = vec![false; self.states.len()];
            for cell in &prev {
                for &(to, _) in &self.trans[usize::from(cell.state)] {
                    expect_next[usize::from(to)] = true;
                }
            }
            let model = self.chars.get(&ch);
            let mut next: Vec<u16> =
                self.candidate_states(model).into_iter().filter(|&y| expect_next[usize::from(y)]).collect();
            if next.is_empty() {
                next = (0..self.states.len() as u16).filter(|&y| expect_next[usize::from(y)]).collect();
            }
            if next.is_empty() {
                next = (0..self.states.len() as u16).collect();
            }
            // Python's `max((V[y0] + trans.get(y, -inf) + emit, y0) for y0 in prev)`: the higher
            // probability, then the larger state. Only predecessors with a transition to `y` can
            // score above -inf; when none does, every candidate ties at -inf and the largest
            // predecessor wins.
            for cell in &prev {
                prev_prob[usize::from(cell.state)] = Some(cell.prob);
            }
            let largest_prev = prev.iter().map(|c| c.state).max();
            let column = next
                .into_iter()
                .map(|y| {
                    let emit = Self::emit(model, y);
                    let best = self.incoming[usize::from(y)]
                        .iter()
                        .filter_map(|&(y0, trans)| Some((prev_prob[usize::from(y0)]? + trans + emit, y0)))
                        .filter(|&(prob, _)| prob > f64::NEG_INFINITY)
                        .fold(None, max_pair);
                    // Upstream raises on an empty predecessor set; no state of the shipped model leads there.
                    let (prob, prev_state) =
                        best.or(largest_prev.map(|s| (f64::NEG_INFINITY, s))).unwrap_or((f64::NEG_INFINITY, y));
                    Cell { state: y, prob, prev: prev_state }
                })
                .collect();
            for cell in &prev {
                prev_prob[usize::from(cell.state)] = None;
            }
            columns.push(column);
        }
        let mut state = columns
            .last()
            .and_then(|col| col.iter().map(|c| (c.prob, c.state)).fold(None, max_pair))
            .map_or(0, |(_, s)| s);
        let mut path = vec![0_u16; obs.len()];
        for (t, column) in columns.iter().enumerate().rev() {
            path[t] = state;
            state = column.iter().find(|c| c.state == state).map_or(state, |c| c.prev);
        }
        path
    }
}

/// `max()` over `(prob, state)` tuples.
fn max_pair(best: Option<(f64, u16)>, cand: (f64, u16)) -> Option<(f64, u16)> {
    match best {
        Some(b) if b >= cand => Some(b),
        _ => Some(cand),
    }
}

/// Parses `id:logprob` pairs, checking the ids.
fn parse_pairs(line: &str, count: usize) -> Result<Vec<(u16, f64)>, TextError> {
    let mut pairs = Vec::new();
    for pair in line.split(' ').filter(|p| !p.is_empty()) {
        let (id, prob) = pair.split_once(':').ok_or_else(|| corrupt(WHAT, format!("bad pair {pair:?}")))?;
        let id: u16 = parse_field(WHAT, Some(id), line)?;
        if usize::from(id) >= count {
            return Err(corrupt(WHAT, format!("state out of range in {line:?}")));
        }
        pairs.push((id, parse_field(WHAT, Some(prob), line)?));
    }
    if pairs.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(corrupt(WHAT, format!("unsorted pairs in {line:?}")));
    }
    Ok(pairs)
}
