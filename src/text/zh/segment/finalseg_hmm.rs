//! jieba's word-boundary HMM (`finalseg`: states B/M/E/S) as decoded by jieba_fast's C
//! `_viterbi`, which `Tokenizer.cut` uses for runs of characters not found in the dictionary.

use std::collections::HashMap;

use super::boundary::Boundary;
use crate::text::resource::{corrupt, gunzip_text, parse_field};
use crate::text::TextError;

const WHAT: &str = "jieba_finalseg_hmm.txt.gz";
static HMM_GZ: &[u8] = include_bytes!("../data/jieba_finalseg_hmm.txt.gz");

/// `MIN_FLOAT` of the C code: unseen emissions/transitions and the starting maximum.
const MIN_FLOAT: f64 = -3.14e100;

/// `PrevStatus`: the states that may precede `state`, in the C code's order.
fn predecessors(state: Boundary) -> [Boundary; 2] {
    match state {
        Boundary::Begin => [Boundary::End, Boundary::Single],
        Boundary::Middle => [Boundary::Middle, Boundary::Begin],
        Boundary::End => [Boundary::Begin, Boundary::Middle],
        Boundary::Single => [Boundary::Single, Boundary::End],
    }
}

pub(super) struct FinalsegHmm {
    start: [f64; 4],
    /// `trans[from][to]`, `None` where the model has no entry.
    trans: [[Option<f64>; 4]; 4],
    emit: HashMap<char, [Option<f64>; 4]>,
}

impl FinalsegHmm {
    /// Parses the generated file: `start` line, four `trans X Y:p ...` lines, then one line per
    /// char `char<TAB>X:p ...`.
    pub(super) fn load() -> Result<Self, TextError> {
        let text = gunzip_text(WHAT, HMM_GZ)?;
        let mut lines = text.lines();
        let start_line = lines.next().unwrap_or_default();
        let mut start = [0.0; 4];
        let mut fields = start_line.strip_prefix("start ").unwrap_or_default().split(' ');
        for slot in &mut start {
            *slot = parse_field(WHAT, fields.next(), start_line)?;
        }
        let mut trans = [[None; 4]; 4];
        for line in lines.by_ref().take(4) {
            let mut fields = line.split(' ');
            let from = match (fields.next(), fields.next().and_then(Boundary::from_letter)) {
                (Some("trans"), Some(from)) => from,
                _ => return Err(corrupt(WHAT, format!("bad transition line {line:?}"))),
            };
            for (to, prob) in fields.map(|f| parse_pair(f, line)).collect::<Result<Vec<_>, _>>()? {
                trans[from as usize][to as usize] = Some(prob);
            }
        }
        let mut emit = HashMap::with_capacity(8_000);
        for line in lines {
            let (ch, pairs) = line.split_once('\t').ok_or_else(|| corrupt(WHAT, format!("bad line {line:?}")))?;
            let ch = ch.chars().next().ok_or_else(|| corrupt(WHAT, "empty char"))?;
            let mut row = [None; 4];
            for pair in pairs.split(' ') {
                let (state, prob) = parse_pair(pair, line)?;
                row[state as usize] = Some(prob);
            }
            emit.insert(ch, row);
        }
        Ok(Self { start, trans, emit })
    }

    fn emit(&self, state: Boundary, ch: char) -> f64 {
        self.emit.get(&ch).and_then(|row| row[state as usize]).unwrap_or(MIN_FLOAT)
    }

    /// The C `_viterbi`: additions in its order, strict `>` comparisons starting from
    /// `MIN_FLOAT`, and the larger predecessor letter when no candidate beats `MIN_FLOAT`.
    pub(super) fn viterbi(&self, obs: &[char]) -> Vec<Boundary> {
        let Some(&first) = obs.first() else { return Vec::new() };
        let mut probs: [f64; 4] = std::array::from_fn(|i| self.emit(Boundary::ALL[i], first) + self.start[i]);
        let mut back: Vec<[Boundary; 4]> = Vec::with_capacity(obs.len());
        back.push(Boundary::ALL);
        for &ch in &obs[1..] {
            let mut next = [MIN_FLOAT; 4];
            let mut from = Boundary::ALL;
            for y in Boundary::ALL {
                let em_p = self.emit(y, ch);
                let mut best: Option<Boundary> = None;
                let mut max_prob = MIN_FLOAT;
                for y0 in predecessors(y) {
                    let trans = self.trans[y0 as usize][y as usize].unwrap_or(MIN_FLOAT);
                    let prob = em_p + probs[y0 as usize] + trans;
                    if prob > max_prob {
                        max_prob = prob;
                        best = Some(y0);
                    }
                }
                let [a, b] = predecessors(y);
                next[y as usize] = max_prob;
                from[y as usize] = best.unwrap_or(if a.letter() > b.letter() { a } else { b });
            }
            probs = next;
            back.push(from);
        }
        let mut state = if probs[Boundary::Single as usize] > probs[Boundary::End as usize] {
            Boundary::Single
        } else {
            Boundary::End
        };
        let mut path = vec![Boundary::Single; obs.len()];
        for t in (0..obs.len()).rev() {
            path[t] = state;
            state = back[t][state as usize];
        }
        path
    }
}

fn parse_pair(pair: &str, line: &str) -> Result<(Boundary, f64), TextError> {
    let (state, prob) = pair.split_once(':').ok_or_else(|| corrupt(WHAT, format!("bad pair in {line:?}")))?;
    let state = Boundary::from_letter(state).ok_or_else(|| corrupt(WHAT, format!("bad state in {line:?}")))?;
    Ok((state, parse_field(WHAT, Some(prob), line)?))
}
