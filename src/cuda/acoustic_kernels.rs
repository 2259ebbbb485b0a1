//! The launches of the acoustic graph's kernels (`kernels/acoustic*.cu`), built from the graph's
//! operation structs (`model::acoustic_graph::ops`) by pure functions that check what the kernels
//! assume (16-byte vectors, head widths) and every operand's size: [`super::acoustic::CudaOps`]
//! runs them, the emulation test runs the same launches on the host.

use half::f16;

use super::acoustic::CudaOps;
use super::launch::{Arg, KernelLaunch};
use super::runtime::{CudaError, Dev};
use crate::model::acoustic_graph::ops::{
    Attention, Conv, Gather, Interpolate, Out, OverlapAdd, PostAct, PreAct, PriorSample, Rows, Seq,
};

/// Threads per block of the elementwise kernels (kernels/acoustic.cu).
const ELEMENTWISE_BLOCK: u32 = 256;
/// Output tile of the convolution kernel (rows and computed columns).
const CONV_TILE: usize = 64;
/// Query rows per block of the attention kernel (one warp each).
const ATTENTION_ROWS: usize = 4;
/// Head widths the attention kernel holds in registers: multiples of 32 up to this.
pub const MAX_ATTENTION_HEAD_DIM: usize = 128;

fn unsupported(what: String) -> CudaError {
    CudaError::Unsupported(what)
}

fn blocks(elements: usize, per_block: usize) -> u32 {
    u32::try_from(elements.div_ceil(per_block)).unwrap_or(u32::MAX)
}

/// `rows` rows of `width` values, `ld` apart, fit in `data`.
fn covers<T>(data: Dev<T>, rows: usize, ld: usize, width: usize) -> bool {
    rows == 0 || (ld >= width && data.len() >= (rows - 1) * ld + width)
}

fn check_seq(seq: &Seq<CudaOps>) {
    assert!(seq.lens.len() >= seq.items && seq.scale > 0 && seq.stride > 0, "batch lengths");
}

/// 16-byte vector loads: 8 halves at a time from a 16-byte aligned start.
fn check_vectors(what: &str, data: Dev<f16>, counts: &[usize]) -> Result<(), CudaError> {
    if !data.raw().is_multiple_of(16) || counts.iter().any(|c| !c.is_multiple_of(8)) {
        return Err(unsupported(format!("{what}: {counts:?} values per row (the kernels read 8 halves at a time)")));
    }
    Ok(())
}

fn rows_arg(r: &Rows<Dev<f16>>) -> [Arg; 2] {
    [Arg::ptr(r.data), Arg::int(r.ld)]
}

/// Matches `conv_mma_f16(x, ldx, cin, lens, len_scale, stride, w, bias, row_bias, n, taps, dilation,
/// pre, pre_slope, pre_gain, post, res0, ld_res0, res1, ld_res1, out_h, out_f, ld_out, rows)`.
pub fn conv_launch(op: &Conv<CudaOps>) -> Result<KernelLaunch, CudaError> {
    let (cin, n, taps) = (op.cin, op.n, op.taps);
    let k = taps * cin;
    let rows = op.seq.rows();
    check_seq(&op.seq);
    check_vectors("a convolution's input", op.x.data, &[cin, op.x.ld])?;
    if taps % 2 == 0 || op.dilation == 0 {
        return Err(unsupported(format!("a convolution of {taps} taps, dilation {}", op.dilation)));
    }
    let width = if op.post == PostAct::Gate { n / 2 } else { n };
    assert!(op.post != PostAct::Gate || n % 2 == 0, "a gate pairs its columns");
    assert!(covers(op.x.data, rows, op.x.ld, cin), "convolution input too small");
    assert!(op.w.len() >= n * k, "convolution weight too small");
    assert!(op.bias.is_none_or(|b| b.len() >= n) && op.row_bias.is_none_or(|b| b.len() >= op.seq.items * n));
    for r in op.residual.iter().flatten() {
        assert!(covers(r.data, rows, r.ld, width), "convolution residual too small");
    }
    let (out_h, out_f, ld_out) = match &op.out {
        Out::F16(o) => {
            assert!(covers(o.data, rows, o.ld, width), "convolution output too small");
            (Arg::ptr(o.data), Arg::NULL, o.ld)
        }
        Out::F32(o) => {
            assert!(covers(o.data, rows, o.ld, width), "convolution output too small");
            (Arg::NULL, Arg::ptr(o.data), o.ld)
        }
    };
    let (pre, slope, gain) = match op.pre {
        PreAct::None => (0, 0.0, 1.0),
        PreAct::LeakyRelu { slope, gain } => (1, slope, gain),
    };
    let post = match op.post {
        PostAct::None => 0,
        PostAct::Relu => 1,
        PostAct::Tanh => 2,
        PostAct::Gate => 3,
    };
    let residual = |i: usize| match &op.residual[i] {
        Some(r) => rows_arg(r),
        None => [Arg::NULL, Arg::I32(0)],
    };
    let mut args = rows_arg(&op.x).to_vec();
    args.extend([Arg::int(cin), Arg::ptr(op.seq.lens), Arg::int(op.seq.scale), Arg::int(op.seq.stride)]);
    args.extend([Arg::ptr(op.w), Arg::opt(op.bias), Arg::opt(op.row_bias), Arg::int(n), Arg::int(taps)]);
    args.extend([Arg::int(op.dilation), Arg::I32(pre), Arg::F32(slope), Arg::F32(gain), Arg::I32(post)]);
    args.extend(residual(0));
    args.extend(residual(1));
    args.extend([out_h, out_f, Arg::int(ld_out), Arg::int(rows)]);
    Ok(KernelLaunch {
        kernel: "conv_mma_f16",
        grid: (blocks(rows, CONV_TILE), blocks(n, CONV_TILE), 1),
        block: 128,
        args,
    })
}

/// Matches `gather_rows_f16(table, width, ids, ids_stride, repeat, lens, len_scale, stride, rows, out)`.
pub fn gather_launch(op: &Gather<CudaOps>) -> Result<KernelLaunch, CudaError> {
    let (w, rows) = (op.width, op.seq.rows());
    check_seq(&op.seq);
    check_vectors("a lookup table", op.table, &[w])?;
    check_vectors("a lookup's output", op.out, &[w])?;
    assert!(op.out.len() >= rows * w && op.repeat > 0, "lookup output too small");
    assert!(op.ids.len() >= op.seq.items * op.ids_stride && op.seq.stride <= op.ids_stride * op.repeat, "lookup ids");
    Ok(KernelLaunch {
        kernel: "gather_rows_f16",
        grid: (blocks(rows * w / 8, ELEMENTWISE_BLOCK as usize), 1, 1),
        block: ELEMENTWISE_BLOCK,
        args: vec![
            Arg::ptr(op.table),
            Arg::int(w),
            Arg::ptr(op.ids),
            Arg::int(op.ids_stride),
            Arg::int(op.repeat),
            Arg::ptr(op.seq.lens),
            Arg::int(op.seq.scale),
            Arg::int(op.seq.stride),
            Arg::int(rows),
            Arg::ptr(op.out),
        ],
    })
}

/// Matches `overlap_add_f16(cols, lens, len_scale, stride_in, k, u, cout, bias, out, rows_out)`.
pub fn overlap_add_launch(op: &OverlapAdd<CudaOps>) -> Result<KernelLaunch, CudaError> {
    let (k, u, cout) = (op.k, op.u, op.cout);
    check_seq(&op.seq_in);
    if u == 0 || u > k || (k - u) % 2 != 0 {
        return Err(unsupported(format!("a transposed convolution of kernel {k}, stride {u}")));
    }
    let rows_out = op.seq_in.rows() * u;
    assert!(op.cols.len() >= op.seq_in.rows() * k * cout && op.bias.len() >= cout && op.out.len() >= rows_out * cout);
    Ok(KernelLaunch {
        kernel: "overlap_add_f16",
        grid: (blocks(rows_out * cout, ELEMENTWISE_BLOCK as usize), 1, 1),
        block: ELEMENTWISE_BLOCK,
        args: vec![
            Arg::ptr(op.cols),
            Arg::ptr(op.seq_in.lens),
            Arg::int(op.seq_in.scale),
            Arg::int(op.seq_in.stride),
            Arg::int(k),
            Arg::int(u),
            Arg::int(cout),
            Arg::ptr(op.bias),
            Arg::ptr(op.out),
            Arg::int(rows_out),
        ],
    })
}

/// Matches `interpolate_linear_f16(x, lens_in, scale_in, stride_in, out, lens_out, scale_out,
/// stride_out, width, rows_out)`.
pub fn interpolate_launch(op: &Interpolate<CudaOps>) -> Result<KernelLaunch, CudaError> {
    let (w, rows_out) = (op.width, op.seq_out.rows());
    check_seq(&op.seq_in);
    check_seq(&op.seq_out);
    assert!(op.seq_in.items == op.seq_out.items, "interpolation keeps the items");
    assert!(op.x.len() >= op.seq_in.rows() * w && op.out.len() >= rows_out * w, "interpolation operands too small");
    Ok(KernelLaunch {
        kernel: "interpolate_linear_f16",
        grid: (blocks(rows_out * w, ELEMENTWISE_BLOCK as usize), 1, 1),
        block: ELEMENTWISE_BLOCK,
        args: vec![
            Arg::ptr(op.x),
            Arg::ptr(op.seq_in.lens),
            Arg::int(op.seq_in.scale),
            Arg::int(op.seq_in.stride),
            Arg::ptr(op.out),
            Arg::ptr(op.seq_out.lens),
            Arg::int(op.seq_out.scale),
            Arg::int(op.seq_out.stride),
            Arg::int(w),
            Arg::int(rows_out),
        ],
    })
}

/// Matches `prior_sample_f16(stats, lens, len_scale, stride, seeds, first_frame, noise_scale,
/// width, out, rows)`.
pub fn prior_sample_launch(op: &PriorSample<CudaOps>) -> Result<KernelLaunch, CudaError> {
    let (w, rows, items) = (op.width, op.seq.rows(), op.seq.items);
    check_seq(&op.seq);
    assert!(op.stats.len() >= rows * 2 * w && op.out.len() >= rows * w, "prior operands too small");
    assert!(op.seeds.len() >= 2 * items && op.first_frame.len() >= items && op.noise_scale.len() >= items);
    Ok(KernelLaunch {
        kernel: "prior_sample_f16",
        grid: (blocks(rows * w, ELEMENTWISE_BLOCK as usize), 1, 1),
        block: ELEMENTWISE_BLOCK,
        args: vec![
            Arg::ptr(op.stats),
            Arg::ptr(op.seq.lens),
            Arg::int(op.seq.scale),
            Arg::int(op.seq.stride),
            Arg::ptr(op.seeds),
            Arg::ptr(op.first_frame),
            Arg::ptr(op.noise_scale),
            Arg::int(w),
            Arg::ptr(op.out),
            Arg::int(rows),
        ],
    })
}

/// Matches `attention_f16(q, ldq, k, ldk, v, ldv, out, ldo, heads, head_dim, q_lens, q_scale,
/// q_stride, k_lens, k_scale, k_stride, scale, emb_k, emb_v, window, q_rows)`.
pub fn attention_launch(op: &Attention<CudaOps>) -> Result<KernelLaunch, CudaError> {
    let (hd, heads) = (op.head_dim, op.heads);
    if hd == 0 || hd % 32 != 0 || hd > MAX_ATTENTION_HEAD_DIM {
        return Err(unsupported(format!(
            "attention heads of {hd} channels (the kernel takes multiples of 32 up to {MAX_ATTENTION_HEAD_DIM})"
        )));
    }
    check_seq(&op.q_seq);
    check_seq(&op.k_seq);
    let (q_rows, k_rows, width) = (op.q_seq.rows(), op.k_seq.rows(), heads * hd);
    assert!(op.q_seq.items == op.k_seq.items, "queries and keys of the same items");
    assert!(covers(op.q.data, q_rows, op.q.ld, width) && covers(op.out.data, q_rows, op.out.ld, width));
    assert!(covers(op.k.data, k_rows, op.k.ld, width) && covers(op.v.data, k_rows, op.v.ld, width));
    let (emb_k, emb_v, window) = match &op.relative {
        Some(r) => {
            assert!(r.emb_k.len() >= (2 * r.window + 1) * hd && r.emb_v.len() >= (2 * r.window + 1) * hd);
            (Arg::ptr(r.emb_k), Arg::ptr(r.emb_v), r.window)
        }
        None => (Arg::NULL, Arg::NULL, 0),
    };
    let mut args = Vec::with_capacity(21);
    for r in [&op.q, &op.k, &op.v, &op.out] {
        args.extend(rows_arg(r));
    }
    args.extend([Arg::int(heads), Arg::int(hd)]);
    for s in [&op.q_seq, &op.k_seq] {
        args.extend([Arg::ptr(s.lens), Arg::int(s.scale), Arg::int(s.stride)]);
    }
    args.extend([Arg::F32(op.scale), emb_k, emb_v, Arg::int(window), Arg::int(q_rows)]);
    Ok(KernelLaunch {
        kernel: "attention_f16",
        grid: (blocks(q_rows, ATTENTION_ROWS), u32::try_from(heads).unwrap_or(u32::MAX), 1),
        block: 32 * ATTENTION_ROWS as u32,
        args,
    })
}
