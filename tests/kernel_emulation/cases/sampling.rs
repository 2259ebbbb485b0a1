//! kernels/sampling.cu: `sample_tokens_f32` against `model::t2s::sample_step` (EOS blocking,
//! penalty, top-p, temperature, top-k, softmax, exponential race, EOS verdict; the sampling part
//! of `Decoder::step`) with the slot bookkeeping the kernel does on the device, and its Philox
//! generator (device functions, run through two probe kernels of the driver) against
//! `model::rng::philox4x32` and `model::rng::uniform`.

use sovits_rt::cuda::t2s::SamplerSlot;
use sovits_rt::cuda::t2s_kernels::{sample_tokens_launch, SamplerOutput, SamplerState, StepRows};
use sovits_rt::cuda::{Arg, KernelLaunch};
use sovits_rt::model::rng::{philox4x32, uniform, Purpose};
use sovits_rt::model::sampling::SamplingParams;
use sovits_rt::model::t2s::{sample_step, GenerateOptions};

use crate::case::Case;
use crate::inputs::Rng;
use Logits::{AllMasked, EosFavoured, Integers, Peaked, SomeMasked, Spread};

/// The history row of a slot (`max_context` on the device).
const HISTORY_CAP: usize = 64;

pub fn cases() -> Vec<Case> {
    let mut cases = vec![philox_case()];
    cases.extend(CASES.iter().chain(&random_cases(8)).map(sampler_case));
    cases
}

#[derive(Clone, Copy)]
enum Logits {
    /// Uniform in [-4, 4).
    Spread,
    /// Uniform in [-16, 16): a few tokens dominate.
    Peaked,
    /// Integers in [-4, 4] with some -0.0: ties, signed zeros.
    Integers,
    /// Spread, and EOS at 50.
    EosFavoured,
    /// Spread, every third entry -inf.
    SomeMasked,
    /// Every entry -inf.
    AllMasked,
}

#[derive(Clone)]
struct SamplerCase {
    vocab: usize,
    threads: u32,
    /// Batch rows, each on its own slot.
    rows: usize,
    top_k: usize,
    top_p: f32,
    temperature: f32,
    penalty: f32,
    /// The slots' state before the step.
    step: usize,
    history_len: usize,
    logits: Logits,
}

#[allow(clippy::too_many_arguments)]
const fn sampler(
    vocab: usize,
    threads: u32,
    rows: usize,
    top_k: usize,
    top_p: f32,
    temperature: f32,
    penalty: f32,
    step: usize,
    history_len: usize,
    logits: Logits,
) -> SamplerCase {
    SamplerCase { vocab, threads, rows, top_k, top_p, temperature, penalty, step, history_len, logits }
}

const CASES: [SamplerCase; 16] = [
    sampler(1025, 1024, 3, 15, 1.0, 1.0, 1.35, 20, 40, Spread), // upstream's defaults
    sampler(1025, 1024, 2, 15, 1.0, 1.0, 1.35, 3, 40, EosFavoured), // EOS blocked (step < 11)
    sampler(1025, 1024, 2, 15, 1.0, 1.0, 1.35, 11, 40, EosFavoured), // EOS allowed from step 11
    sampler(1025, 1024, 2, 1, 1.0, 1.0, 1.35, 30, 40, Integers), // greedy, with ties
    sampler(1025, 1024, 2, 1030, 0.8, 1.0, 1.35, 12, 40, Spread), // top-p; top-k > V keeps all
    sampler(1025, 1024, 2, 20, 0.5, 0.7, 1.35, 40, 40, Peaked), // top-p and top-k
    sampler(1025, 1024, 2, 50, 0.9, 1e-7, 1.35, 40, 40, Integers), // temperature below 1e-5
    sampler(1025, 1024, 2, 15, 1.0, 1.0, 1.35, 500, HISTORY_CAP, Spread), // full history row
    sampler(1025, 1024, 2, 15, 0.95, 1.0, 1.0, 20, 40, Spread), // no penalty
    sampler(1025, 1024, 2, 100, 0.9, 1.2, 1.35, 20, 40, SomeMasked),
    sampler(1025, 1024, 1, 15, 0.9, 1.0, 1.35, 20, 40, AllMasked),
    sampler(2048, 1024, 2, 1000, 0.95, 1.0, 1.35, 20, 40, Peaked), // the largest vocabulary
    sampler(2, 1024, 2, 15, 1.0, 1.0, 1.35, 0, 5, Spread),         // EOS blocked: width 1
    sampler(3, 1024, 2, 2, 0.6, 1.0, 1.35, 20, 5, Integers),
    sampler(1025, 32, 2, 50, 0.9, 0.8, 1.35, 20, 40, Spread), // one warp
    sampler(1025, 96, 2, 30, 0.7, 1.0, 1.35, 20, 40, Integers),
];

/// A seeded sweep of random settings, on top of the table's chosen ones.
fn random_cases(n: usize) -> Vec<SamplerCase> {
    let mut rng = Rng::new("random sampler settings");
    (0..n)
        .map(|_| {
            let vocab = 2 + rng.below(2047);
            let top_k = match rng.below(3) {
                0 => 1,
                1 => 1 + rng.below(64),
                _ => vocab + 5,
            };
            SamplerCase {
                vocab,
                threads: 32 << rng.below(6), // 32 .. 1024
                rows: 1 + rng.below(3),
                top_k,
                top_p: if rng.below(2) == 1 { 1.0 } else { rng.uniform(0.05, 0.95) },
                temperature: if rng.below(5) == 0 { 1e-7 } else { rng.uniform(0.3, 2.3) },
                penalty: if rng.below(3) == 0 { 1.0 } else { 1.35 },
                step: if rng.below(2) == 1 { rng.below(20) } else { rng.below(1500) },
                history_len: rng.below(HISTORY_CAP + 1),
                logits: [Spread, Peaked, Integers, EosFavoured, SomeMasked][rng.below(5)],
            }
        })
        .collect()
}

fn make_logits(kind: Logits, vocab: usize, rng: &mut Rng) -> Vec<f32> {
    let mut l: Vec<f32> = (0..vocab)
        .map(|_| match kind {
            Peaked => rng.uniform(-16.0, 16.0),
            Integers if rng.below(20) == 0 => -0.0,
            Integers => rng.below(9) as f32 - 4.0,
            AllMasked => f32::NEG_INFINITY,
            Spread | EosFavoured | SomeMasked => rng.uniform(-4.0, 4.0),
        })
        .collect();
    match kind {
        EosFavoured => l[vocab - 1] = 50.0,
        SomeMasked => l.iter_mut().step_by(3).for_each(|x| *x = f32::NEG_INFINITY),
        _ => {}
    }
    l
}

fn sampler_case(c: &SamplerCase) -> Case {
    let (v, rows) = (c.vocab, c.rows);
    let logits_name = match c.logits {
        Spread => "",
        Peaked => " peaked",
        Integers => " integers",
        EosFavoured => " eos=50",
        SomeMasked => " 1/3 -inf",
        AllMasked => " all -inf",
    };
    let threads = if c.threads == 1024 { String::new() } else { format!(" threads={}", c.threads) };
    let config = format!(
        "V={v} k={} p={} T={} pen={} step={} hist={} rows={rows}{threads}{logits_name}",
        c.top_k,
        short(c.top_p),
        short(c.temperature),
        c.penalty,
        c.step,
        c.history_len
    );
    let mut rng = Rng::new(&config);
    let n_slots = rows + 1; // one slot outside the batch must stay untouched
    let slots: Vec<SamplerSlot> = (0..n_slots)
        .map(|_| SamplerSlot {
            seed: rng.next_u64(),
            top_k: c.top_k as i32,
            top_p: c.top_p,
            temperature: c.temperature,
            repetition_penalty: c.penalty,
            step: c.step as i32,
            history_len: c.history_len as i32,
        })
        .collect();
    // Never EOS; every other entry among the first 8 ids, so some tokens repeat (penalised once).
    let history: Vec<i32> =
        (0..n_slots * HISTORY_CAP).map(|i| rng.below(if i % 2 == 1 { v - 1 } else { (v - 1).min(8) }) as i32).collect();
    let mut order: Vec<usize> = (0..n_slots).collect();
    rng.shuffle(&mut order);
    let row_slot: Vec<i32> = order[..rows].iter().map(|&s| s as i32).collect();
    let logits: Vec<f32> = (0..rows).flat_map(|_| make_logits(c.logits, v, &mut rng)).collect();

    let mut case = Case::new("sample_tokens_f32", config, "tokens, EOS, slots exact; p 2e-5 rel");
    let logits_dev = case.buffer("logits", &logits);
    let step = StepRows { row_slot: case.buffer("row_slot", &row_slot), rows };
    let state = SamplerState {
        slots: case.buffer("slots", bytemuck::cast_slice::<SamplerSlot, u8>(&slots)),
        history: case.buffer("history", &history),
        history_cap: HISTORY_CAP,
    };
    let out = SamplerOutput {
        tokens: case.buffer("tokens", &vec![-1; rows]),
        eos: case.buffer("eos", &vec![-1; rows]),
        probs: Some(case.buffer("probs", &vec![f32::NAN; rows * v])),
    };
    let mut launch = sample_tokens_launch(logits_dev, v, step, state, out);
    // The GPU runs 1,024 threads; the kernel takes any multiple of 32, and fewer threads stride
    // over more of the row.
    launch.block = c.threads;
    case.launch(launch);

    // The twin per row, then the slot bookkeeping the kernel does on the device: the token
    // appended to the slot's history (while there is room, even on a stop) and the step counted.
    let (mut tokens, mut eos, mut probs) = (Vec::new(), Vec::new(), Vec::new());
    let (mut slots_after, mut history_after) = (slots.clone(), history.clone());
    for (b, row) in logits.chunks_exact(v).enumerate() {
        let s = row_slot[b] as usize;
        let before = &slots[s];
        let previous: Vec<u32> =
            history[s * HISTORY_CAP..][..c.history_len.min(HISTORY_CAP)].iter().map(|&t| t as u32).collect();
        let sampling = SamplingParams {
            top_k: c.top_k,
            top_p: c.top_p,
            temperature: c.temperature,
            repetition_penalty: c.penalty,
        };
        let options = GenerateOptions { sampling, seed: before.seed, early_stop: None };
        let want = sample_step(row, &previous, c.step, &options).expect("a valid sampling step");
        tokens.push(want.token as i32);
        eos.push(i32::from(want.eos));
        probs.extend(want.probs.iter().map(|&p| f64::from(p)));
        probs.resize((b + 1) * v, 0.0); // the blocked EOS column: probability 0
        if c.history_len < HISTORY_CAP {
            history_after[s * HISTORY_CAP + c.history_len] = want.token as i32;
            slots_after[s].history_len += 1;
        }
        slots_after[s].step += 1;
    }
    case.expect_exact("tokens", &tokens);
    case.expect_exact("eos", &eos);
    let tol: Vec<f64> = probs.iter().map(|p| 2e-5 * p).collect();
    case.expect_near("probs", &probs, &tol);
    case.expect_exact("slots", bytemuck::cast_slice::<SamplerSlot, u8>(&slots_after));
    case.expect_exact("history", &history_after);
    case
}

/// `x` to three significant digits, for the report.
fn short(x: f32) -> String {
    format!("{:.2e}", x).parse::<f32>().map_or_else(|_| x.to_string(), |v| v.to_string())
}

/// Philox4x32-10 on the device against `model::rng::philox4x32` (pinned to Random123's known
/// answers by its unit test; their inputs are among these), and `philox_uniform` against
/// `model::rng::uniform` over 2,000 draws. The driver's probes `philox4x32` and
/// `philox_uniform` call the device functions once per thread.
fn philox_case() -> Case {
    let mut rng = Rng::new("philox");
    let mut counters: Vec<u32> = [[0; 4], [u32::MAX; 4]].concat();
    let mut keys: Vec<u32> = [[0; 2], [u32::MAX; 2]].concat();
    for _ in 0..62 {
        counters.extend((0..4).map(|_| rng.next_u64() as u32));
        keys.extend((0..2).map(|_| rng.next_u64() as u32));
    }
    let blocks = keys.len() / 2;
    let draws = 2000;
    let seeds: Vec<u64> = (0..draws).map(|_| rng.next_u64()).collect();
    let steps: Vec<u32> = (0..draws).map(|_| rng.below(1500) as u32).collect();
    let indices: Vec<u32> = (0..draws).map(|_| rng.below(2048) as u32).collect();

    let mut case = Case::new("philox4x32 / philox_uniform", "64 blocks; 2000 draws vs model::rng", "exact");
    let (counters_dev, keys_dev) = (case.buffer("counters", &counters), case.buffer("keys", &keys));
    let words = case.buffer("words", &vec![0u32; 4 * blocks]);
    case.launch(probe("philox4x32", blocks, vec![Arg::ptr(counters_dev), Arg::ptr(keys_dev), Arg::ptr(words)]));
    let (seeds_dev, steps_dev) = (case.buffer("seeds", &seeds), case.buffer("steps", &steps));
    let (indices_dev, uniforms) = (case.buffer("indices", &indices), case.buffer("uniforms", &vec![f32::NAN; draws]));
    let args = vec![Arg::ptr(seeds_dev), Arg::ptr(steps_dev), Arg::ptr(indices_dev), Arg::ptr(uniforms)];
    case.launch(probe("philox_uniform", draws, args));

    let want_words: Vec<u32> = (0..blocks)
        .flat_map(|i| philox4x32(counters[4 * i..][..4].try_into().unwrap(), keys[2 * i..][..2].try_into().unwrap()))
        .collect();
    let want_uniforms: Vec<f32> =
        (0..draws).map(|i| uniform(seeds[i], Purpose::Sampling, steps[i], indices[i])).collect();
    case.expect_exact("words", &want_words);
    case.expect_exact("uniforms", &want_uniforms);
    case
}

/// A launch of one of the driver's probe kernels: one thread per item, `n` last.
fn probe(kernel: &'static str, n: usize, mut args: Vec<Arg>) -> KernelLaunch {
    args.push(Arg::int(n));
    KernelLaunch { kernel, grid: (n.div_ceil(64) as u32, 1, 1), block: 64, args }
}
