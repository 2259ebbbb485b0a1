//! kernels/norm.cu: `add_layer_norm_f16` against `cpu::encoder::residual_norm` (the residual add
//! and `cpu::ops::layer_norm_slice` per row) and `cpu::ops::layer_norm_rows` without a residual.

use sovits_rt::cpu::encoder::residual_norm;
use sovits_rt::cpu::ops::layer_norm_rows;
use sovits_rt::cuda::ops::{layer_norm_launch, NormWeights};
use sovits_rt::model::layers::Norm;
use sovits_rt::tensor::Tensor;

use crate::case::Case;
use crate::inputs::{nan16, ulp16, widen, Rng};

#[derive(Clone, Copy, PartialEq)]
enum Residual {
    Separate,
    Absent,
    /// `out` is the residual, as the transformer blocks call it.
    InPlace,
}

struct NormCase {
    rows: usize,
    cols: usize,
    residual: Residual,
    eps: f32,
    /// Added to x, so the rows have a large mean.
    offset: f32,
}

const fn case(rows: usize, cols: usize, residual: Residual, eps: f32, offset: f32) -> NormCase {
    NormCase { rows, cols, residual, eps, offset }
}

const CASES: [NormCase; 9] = [
    case(3, 512, Residual::Separate, 1e-5, 0.0), // the GPT's width
    case(3, 512, Residual::Absent, 1e-5, 0.0),
    case(2, 512, Residual::InPlace, 1e-5, 8.0),
    case(2, 1024, Residual::InPlace, 1e-12, 0.0), // BERT's
    case(4, 1024, Residual::Absent, 1e-12, 30.0), // mean >> std: the centred variance matters
    case(2, 300, Residual::Separate, 1e-5, 0.0),  // not a multiple of the block (256 threads)
    case(2, 100, Residual::InPlace, 1e-5, 0.0),   // fewer columns than threads
    case(2, 33, Residual::Separate, 1e-5, 0.0),
    case(1, 1, Residual::Absent, 1e-5, 0.0), // variance 0
];

pub fn cases() -> Vec<Case> {
    CASES.iter().map(norm_case).collect()
}

fn norm_case(c: &NormCase) -> Case {
    let residual_name = match c.residual {
        Residual::Separate => "residual",
        Residual::Absent => "no residual",
        Residual::InPlace => "out=residual",
    };
    let config = format!("rows={} cols={} {residual_name} eps={:e} mean~{}", c.rows, c.cols, c.eps, c.offset);
    let mut rng = Rng::new(&config);
    let n = c.rows * c.cols;
    let x = rng.halves(n, c.offset - 2.0, c.offset + 2.0);
    let residual = rng.halves(n, -1.0, 1.0);
    let gamma = rng.halves(c.cols, 0.7, 1.3);
    let beta = rng.halves(c.cols, -0.2, 0.2);

    let mut case = Case::new("add_layer_norm_f16", config, "1 ulp16 + 1.3e-5*(1 + |mean|/std)");
    let x_dev = case.buffer("x", &x);
    let norm = NormWeights { gamma: case.buffer("gamma", &gamma), beta: case.buffer("beta", &beta), eps: c.eps };
    let (out_name, out, residual_dev) = match c.residual {
        Residual::Absent => ("out", case.buffer("out", &nan16(n)), None),
        Residual::Separate => {
            let r = case.buffer("residual", &residual);
            ("out", case.buffer("out", &nan16(n)), Some(r))
        }
        Residual::InPlace => {
            let r = case.buffer("residual", &residual);
            ("residual", r, Some(r))
        }
    };
    case.launch(layer_norm_launch(norm, out, x_dev, residual_dev, c.rows));

    // The twin, and the rows it normalises (for the tolerance).
    let shape = [c.rows, c.cols];
    let norm = Norm { weight: Tensor::new([c.cols], widen(&gamma)), bias: Tensor::new([c.cols], widen(&beta)) };
    let mut want = Tensor::new(shape, widen(&x));
    let mut summed = want.clone();
    if c.residual == Residual::Absent {
        layer_norm_rows(&mut want, &norm.weight, &norm.bias, c.eps);
    } else {
        let residual = Tensor::new(shape, widen(&residual));
        summed.data_mut().iter_mut().zip(residual.data()).for_each(|(v, r)| *v += r);
        residual_norm(&mut want, &residual, &norm, c.eps);
    }
    // f32 statistics: the error of (v - mean) grows with |mean| / std (and |gamma| <= 1.3).
    let (want, tolerance): (Vec<f64>, Vec<f64>) = summed
        .data()
        .chunks_exact(c.cols)
        .zip(want.data().chunks_exact(c.cols))
        .flat_map(|(row, w)| {
            let slack = 1.3e-5 * (1.0 + mean_over_std(row, c.eps));
            w.iter().map(move |&w| (f64::from(w), ulp16(f64::from(w)) + slack))
        })
        .unzip();
    case.expect_near(out_name, &want, &tolerance);
    case
}

/// `|mean| / std` of a row (the tolerance model, in f64).
fn mean_over_std(row: &[f32], eps: f32) -> f64 {
    let n = row.len() as f64;
    let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = row.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    mean.abs() / (var + f64::from(eps)).sqrt()
}
