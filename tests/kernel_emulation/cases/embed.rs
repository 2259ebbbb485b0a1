//! kernels/embed.cu: `embed_positions_f16` against `model::t2s::add_embedding` (embedding row +
//! sine positions; prompt rows, and decode rows whose position comes from their slot), and
//! `bert_embed_f16` against `cpu::bert::embedding_sum` rounded to f16 (exact).

use half::f16;
use sovits_rt::cpu::bert::embedding_sum;
use sovits_rt::cuda::bert::{bert_embed_launch, BertEmbeddings};
use sovits_rt::cuda::t2s_kernels::{embed_positions_launch, PositionalEmbedding};
use sovits_rt::model::t2s::add_embedding;

use crate::case::Case;
use crate::inputs::{nan16, narrow, ulp16, widen, Rng};

pub fn cases() -> Vec<Case> {
    let positions = POSITION_CASES.iter().map(positions_case);
    positions.chain(BERT_CASES.iter().map(bert_case)).collect()
}

// ---- embed_positions_f16: grid rows, block 128.

struct PositionsCase {
    rows: usize,
    d: usize,
    vocab: usize,
    /// Text rows: onto the BERT projection already in `out`.
    accumulate: bool,
    /// 0: a prompt (position = row); else a decode step over this many slots.
    n_slots: usize,
}

const fn positions(rows: usize, d: usize, vocab: usize, accumulate: bool, n_slots: usize) -> PositionsCase {
    PositionsCase { rows, d, vocab, accumulate, n_slots }
}

const POSITION_CASES: [PositionsCase; 7] = [
    positions(200, 512, 732, true, 0),  // the text rows of a prompt
    positions(65, 512, 1025, false, 0), // its audio rows
    positions(1, 512, 1025, false, 0),
    positions(7, 96, 50, true, 0),
    positions(5, 512, 1025, false, 8), // a decode step: 4 sessions and a padding row
    positions(16, 512, 1025, false, 64),
    positions(4, 258, 50, false, 6), // d/2 = 129 pairs > 128 threads: the stride loop
];

fn positions_case(c: &PositionsCase) -> Case {
    let (rows, d) = (c.rows, c.d);
    let accumulate = if c.accumulate { " accumulate" } else { "" };
    let kind =
        if c.n_slots > 0 { format!(" decode ({} slots, last row padding)", c.n_slots) } else { " prompt".into() };
    let config = format!("rows={rows} d={d} vocab={}{accumulate}{kind}", c.vocab);
    let mut rng = Rng::new(&config);
    let table = rng.halves(c.vocab * d, -1.0, 1.0);
    let before = if c.accumulate { rng.halves(rows * d, -2.0, 2.0) } else { nan16(rows * d) };
    let ids: Vec<i32> = (0..rows).map(|_| rng.below(c.vocab) as i32).collect();
    // A decode step: distinct slots for all rows but the last, which is padding (slot n_slots,
    // position 0); positions up to 2047, including 0, 1 and 2047.
    let decode = c.n_slots > 0;
    let mut row_slot = vec![0; rows];
    let mut slot_pos = vec![0; c.n_slots + 1];
    if decode {
        let mut slots: Vec<usize> = (0..c.n_slots).collect();
        rng.shuffle(&mut slots);
        for (r, slot) in row_slot.iter_mut().enumerate() {
            *slot = if r + 1 < rows { slots[r] } else { c.n_slots } as i32;
        }
        for pos in &mut slot_pos[..c.n_slots] {
            *pos = rng.below(2048) as i32;
        }
        (slot_pos[slots[0]], slot_pos[slots[1]], slot_pos[slots[2]]) = (0, 1, 2047);
    }
    let alpha = rng.uniform(0.5, 1.5);

    let mut case = Case::new("embed_positions_f16", config, "1 ulp16 + 1e-6");
    let embedding = PositionalEmbedding { table: case.buffer("table", &table), alpha, d };
    let ids_dev = case.buffer("ids", &ids);
    let positions = decode.then(|| (case.buffer("row_slot", &row_slot), case.buffer("slot_pos", &slot_pos)));
    let out = case.buffer("out", &before);
    case.launch(embed_positions_launch(embedding, ids_dev, positions, rows, out, c.accumulate));

    // The twin, row by row: onto the rows already there (text) or zeros (audio).
    let table = widen(&table);
    let mut want = if c.accumulate { widen(&before) } else { vec![0.0; rows * d] };
    for (r, row) in want.chunks_exact_mut(d).enumerate() {
        let pos = if decode { slot_pos[row_slot[r] as usize] as usize } else { r };
        let id = ids[r] as usize;
        add_embedding(row, &table[id * d..(id + 1) * d], pos, alpha);
    }
    // The kernel adds (embedding + α·PE) to the text rows, the CPU (text + embedding) + α·PE: the
    // f32 sums may differ in their last bit before the f16 rounding.
    let want: Vec<f64> = want.iter().map(|&v| f64::from(v)).collect();
    let tol: Vec<f64> = want.iter().map(|&w| ulp16(w) + 1e-6).collect();
    case.expect_near("out", &want, &tol);
    case
}

// ---- bert_embed_f16: grid rows, block 128.

struct BertCase {
    rows: usize,
    d: usize,
    vocab: usize,
    /// word = ±2^k, position = -word and a subnormal token_type: the sum cancels, and w + tt
    /// rounds at w's ulp while tt - w (just below a power of two) is exact, so the f16 result
    /// depends on the order of the two additions.
    cancelling: bool,
}

const fn bert(rows: usize, d: usize, vocab: usize, cancelling: bool) -> BertCase {
    BertCase { rows, d, vocab, cancelling }
}

const BERT_CASES: [BertCase; 5] = [
    bert(1, 1024, 300, false),
    bert(63, 1024, 500, false),
    bert(130, 1024, 500, false),
    bert(3, 100, 10, false),
    bert(20, 1024, 50, true),
];

fn bert_case(c: &BertCase) -> Case {
    let (rows, d) = (c.rows, c.d);
    let cancelling = if c.cancelling { " cancelling sum" } else { "" };
    let config = format!("rows={rows} d={d} vocab={}{cancelling}", c.vocab);
    let mut rng = Rng::new(&config);
    let word: Vec<f16> = if c.cancelling {
        (0..c.vocab * d)
            .map(|_| {
                let sign = if rng.below(2) == 1 { 1.0 } else { -1.0 };
                f16::from_f32(sign * (1 << rng.below(4)) as f32)
            })
            .collect()
    } else {
        rng.halves(c.vocab * d, -1.0, 1.0)
    };
    let token_type: Vec<f16> = if c.cancelling {
        (0..d).map(|_| f16::from_f32(rng.below(16) as f32 * 2f32.powi(-24))).collect()
    } else {
        rng.halves(d, -0.1, 0.1)
    };
    let ids: Vec<i32> = (0..rows).map(|_| rng.below(c.vocab) as i32).collect();
    let position: Vec<f16> = if c.cancelling {
        (0..rows * d).map(|i| -word[ids[i / d] as usize * d + i % d]).collect()
    } else {
        rng.halves(rows * d, -0.3, 0.3)
    };

    let mut case = Case::new("bert_embed_f16", config, "exact");
    let tables = BertEmbeddings {
        word: case.buffer("word", &word),
        token_type0: case.buffer("token_type0", &token_type),
        position: case.buffer("position", &position),
        d,
    };
    let (ids_dev, out) = (case.buffer("ids", &ids), case.buffer("out", &nan16(rows * d)));
    case.launch(bert_embed_launch(tables, ids_dev, rows, out));

    let (word, token_type, position) = (widen(&word), widen(&token_type), widen(&position));
    let mut want = vec![0.0; rows * d];
    for (r, row) in want.chunks_exact_mut(d).enumerate() {
        let id = ids[r] as usize;
        embedding_sum(row, &word[id * d..(id + 1) * d], &token_type, &position[r * d..(r + 1) * d]);
    }
    case.expect_exact("out", &narrow(&want));
    case
}
