//! kernels/acoustic_conv.cu, acoustic.cu and acoustic_attention.cu: every operation of the
//! acoustic graph against its CPU twin (`cpu::acoustic_twins::TwinOps`). Each case builds the
//! same operation twice from the same data — once on fake device addresses for the launch
//! builder of `cuda::acoustic_kernels` (what the GPU is given), once on the twins' host buffers —
//! and expects the twin's final buffer contents. Batches mix items of different lengths
//! (including empty ones) and tiles straddle item boundaries, so the per-item bounds, the zeroed
//! padding rows and the untouched columns of strided outputs are all checked.

use half::f16;
use sovits_rt::cpu::acoustic_twins::{HostView, TwinOps};
use sovits_rt::cuda::acoustic_kernels::{
    attention_launch, conv_launch, gather_launch, interpolate_launch, overlap_add_launch, prior_sample_launch,
};
use sovits_rt::cuda::runtime::Dev;
use sovits_rt::cuda::CudaOps;
use sovits_rt::model::acoustic_graph::ops::{
    AcousticOps, Attention, Conv, Gather, Interpolate, Out, OverlapAdd, PostAct, PreAct, PriorSample, Relative, Rows,
    Seq,
};

use crate::case::Case;
use crate::inputs::{nan16, ulp16, widen, Rng};

pub fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = CONV_CASES.iter().map(conv_case).collect();
    cases.extend(ATTENTION_CASES.iter().map(attention_case));
    cases.extend(gather_cases());
    cases.extend(OVERLAP_CASES.iter().map(overlap_case));
    cases.extend(INTERPOLATE_CASES.iter().map(interpolate_case));
    cases.push(prior_case());
    cases
}

// ---- One operation on both sides.

/// A buffer on the fake device and on the twins' host.
struct Pair<T> {
    dev: Dev<T>,
    host: HostView<T>,
}

impl<T> Clone for Pair<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Pair<T> {}

/// Builds a case's buffers on both sides.
struct Mirror {
    case: Case,
    twin: TwinOps,
}

impl Mirror {
    fn new(kernel: &str, config: String, tolerance: &str) -> Mirror {
        Mirror { case: Case::new(kernel, config, tolerance), twin: TwinOps::new() }
    }

    fn f16(&mut self, name: &str, values: &[f16]) -> Pair<f16> {
        let host = self.twin.alloc_f16(values.len()).unwrap();
        self.twin.write_f16(host, &widen(values)).unwrap();
        Pair { dev: self.case.buffer(name, values), host }
    }

    fn f32(&mut self, name: &str, values: &[f32]) -> Pair<f32> {
        let host = self.twin.alloc_f32(values.len()).unwrap();
        self.twin.write_f32(host, values).unwrap();
        Pair { dev: self.case.buffer(name, values), host }
    }

    fn i32(&mut self, name: &str, values: &[i32]) -> Pair<i32> {
        let host = self.twin.alloc_i32(values.len()).unwrap();
        self.twin.write_i32(host, values).unwrap();
        Pair { dev: self.case.buffer(name, values), host }
    }

    /// The twin's final contents of f16 buffer `out`, expected within `tolerance(i, value)`.
    fn expect_f16(&mut self, name: &str, out: Pair<f16>, tolerance: impl Fn(usize, f64) -> f64) {
        let want: Vec<f64> = self.twin.read_f16(out.host).unwrap().into_iter().map(f64::from).collect();
        let tol: Vec<f64> = want.iter().enumerate().map(|(i, &w)| tolerance(i, w)).collect();
        self.case.expect_near(name, &want, &tol);
    }
}

/// Which side's buffers an operation is built on.
trait Side {
    type O: AcousticOps;
    fn f16(p: Pair<f16>) -> <Self::O as AcousticOps>::F16;
    fn f32(p: Pair<f32>) -> <Self::O as AcousticOps>::F32;
    fn i32(p: Pair<i32>) -> <Self::O as AcousticOps>::I32;
}

struct OnDevice;
struct OnHost;

impl Side for OnDevice {
    type O = CudaOps;
    fn f16(p: Pair<f16>) -> Dev<f16> {
        p.dev
    }
    fn f32(p: Pair<f32>) -> Dev<f32> {
        p.dev
    }
    fn i32(p: Pair<i32>) -> Dev<i32> {
        p.dev
    }
}

impl Side for OnHost {
    type O = TwinOps;
    fn f16(p: Pair<f16>) -> HostView<f16> {
        p.host
    }
    fn f32(p: Pair<f32>) -> HostView<f32> {
        p.host
    }
    fn i32(p: Pair<i32>) -> HostView<i32> {
        p.host
    }
}

fn seq<S: Side>(lens: Pair<i32>, scale: usize, stride: usize, items: usize) -> Seq<S::O> {
    Seq { lens: S::i32(lens), scale, stride, items }
}

/// A view of `p` from element `start` on.
fn from<T: Send + Sync + 'static>(p: Pair<T>, start: usize) -> Pair<T> {
    use sovits_rt::model::acoustic_graph::ops::View;
    let len = p.dev.len() - start;
    Pair { dev: p.dev.range(start, len), host: p.host.range(start, len) }
}

/// `n` lengths as the kernels read them.
fn lens(values: &[usize]) -> Vec<i32> {
    values.iter().map(|&v| v as i32).collect()
}

// ---- conv_mma_f16.

struct ConvCase {
    what: &'static str,
    lens: &'static [usize],
    scale: usize,
    stride: usize,
    cin: usize,
    /// The input's row stride (≥ cin; a column block of a wider tensor when larger) and the
    /// column the view starts at.
    ldx: usize,
    x_col: usize,
    n: usize,
    taps: usize,
    dilation: usize,
    bias: bool,
    row_bias: bool,
    pre: PreAct,
    post: PostAct,
    /// Residuals: 0 none, 1 a separate buffer, 2 the output itself.
    residual: [u8; 2],
    f32_out: bool,
    /// The output's row stride (≥ its width) and starting column.
    ldo: usize,
    out_col: usize,
}

const fn conv(what: &'static str, lens: &'static [usize], cin: usize, n: usize, taps: usize) -> ConvCase {
    ConvCase {
        what,
        lens,
        scale: 1,
        stride: 8,
        cin,
        ldx: cin,
        x_col: 0,
        n,
        taps,
        dilation: 1,
        bias: true,
        row_bias: false,
        pre: PreAct::None,
        post: PostAct::None,
        residual: [0, 0],
        f32_out: false,
        ldo: n,
        out_col: 0,
    }
}

const LRELU: PreAct = PreAct::LeakyRelu { slope: 0.1, gain: 1.0 };

const CONV_CASES: [ConvCase; 10] = [
    // A 1×1 layer (QKV, MRTE projections); N not a multiple of the 64-wide tile.
    conv("linear", &[5, 8], 16, 24, 1),
    // The FFN's first conv: 3 taps, ReLU; an empty item and one of a single row.
    ConvCase { post: PostAct::Relu, stride: 6, ..conv("ffn", &[6, 0, 1], 32, 40, 3) },
    // WaveNet in_layer: gate pairs, a voice's per-item bias, written into a wider buffer.
    ConvCase { row_bias: true, post: PostAct::Gate, ldo: 24, ..conv("gate", &[7, 3], 16, 32, 5) },
    // A resblock conv: dilation 3, leaky ReLU on the input, the residual is the output itself.
    ConvCase { dilation: 3, pre: LRELU, residual: [2, 0], ..conv("resblock", &[8, 4], 16, 16, 7) },
    // The chain's last conv: two residuals (the chain's input, and the stage sum = the output),
    // padding wider than short items.
    ConvCase { dilation: 5, pre: LRELU, residual: [1, 2], ..conv("accumulate", &[8, 2, 5], 16, 16, 11) },
    // conv_post: one output channel, leaky ReLU 0.01 with the resblock mean's 1/3, tanh, f32.
    ConvCase {
        pre: PreAct::LeakyRelu { slope: 0.01, gain: 1.0 / 3.0 },
        post: PostAct::Tanh,
        bias: false,
        f32_out: true,
        ..conv("conv_post", &[8, 6], 16, 1, 7)
    },
    // A transposed conv's product: many computed columns (2 tiles), rows over 2 tiles.
    ConvCase {
        pre: PreAct::LeakyRelu { slope: 0.1, gain: 1.0 / 3.0 },
        stride: 40,
        ..conv("upsample", &[40, 33], 16, 128, 1)
    },
    // Frames of tokens (lengths ×2), a tile boundary inside an item.
    ConvCase { scale: 2, stride: 50, ..conv("frames", &[25, 11, 20], 8, 16, 3) },
    // A coupling: reads one half of the latent and writes the other, both column blocks.
    ConvCase { ldx: 32, x_col: 16, ldo: 32, out_col: 0, residual: [2, 0], ..conv("half", &[8, 5], 16, 16, 1) },
    // K = 3·8 = 24: a partial k step.
    conv("short K", &[8, 7], 8, 12, 3),
];

/// A convolution's buffers on both sides.
struct ConvBuffers {
    x: Pair<f16>,
    lens: Pair<i32>,
    w: Pair<f16>,
    bias: Option<Pair<f16>>,
    row_bias: Option<Pair<f16>>,
    residual: [Option<(Pair<f16>, usize)>; 2],
    out: Result<Pair<f16>, Pair<f32>>,
}

fn conv_op<S: Side>(c: &ConvCase, b: &ConvBuffers) -> Conv<S::O> {
    let res = |r: Option<(Pair<f16>, usize)>| r.map(|(p, ld)| Rows { data: S::f16(p), ld });
    Conv {
        x: Rows { data: S::f16(from(b.x, c.x_col)), ld: c.ldx },
        cin: c.cin,
        seq: seq::<S>(b.lens, c.scale, c.stride, c.lens.len()),
        w: S::f16(b.w),
        n: c.n,
        taps: c.taps,
        dilation: c.dilation,
        bias: b.bias.map(S::f16),
        row_bias: b.row_bias.map(S::f16),
        pre: c.pre,
        post: c.post,
        residual: [res(b.residual[0]), res(b.residual[1])],
        out: match b.out {
            Ok(o) => Out::F16(Rows { data: S::f16(from(o, c.out_col)), ld: c.ldo }),
            Err(o) => Out::F32(Rows { data: S::f32(o), ld: c.ldo }),
        },
    }
}

fn conv_case(c: &ConvCase) -> Case {
    let config = format!(
        "{}: lens={:?}x{} stride={} cin={} n={} taps={} dil={} pre={:?} post={:?} res={:?}{}",
        c.what,
        c.lens,
        c.scale,
        c.stride,
        c.cin,
        c.n,
        c.taps,
        c.dilation,
        c.pre,
        c.post,
        c.residual,
        if c.f32_out { " f32-out" } else { "" }
    );
    let mut rng = Rng::new(&config);
    let items = c.lens.len();
    let rows = items * c.stride;
    let k = c.taps * c.cin;
    let width = if c.post == PostAct::Gate { c.n / 2 } else { c.n };
    let w_scale = 2.0 / (k as f32).sqrt();
    let x = rng.halves(rows * c.ldx, -1.0, 1.0);
    let w = rng.halves(c.n * k, -w_scale, w_scale);
    let bias = rng.halves(c.n, -0.5, 0.5);
    let row_bias = rng.halves(items * c.n, -0.5, 0.5);
    let residual = rng.halves(rows * c.ldo, -1.0, 1.0);
    let out_init = if c.residual.contains(&2) { rng.halves(rows * c.ldo, -1.0, 1.0) } else { nan16(rows * c.ldo) };

    let mut m = Mirror::new("conv_mma_f16", config, "1 ulp16 + 1e-5*sum|terms| + 1e-6");
    let b = ConvBuffers {
        x: m.f16("x", &x),
        lens: m.i32("lens", &lens(c.lens)),
        w: m.f16("w", &w),
        bias: c.bias.then(|| m.f16("bias", &bias)),
        row_bias: c.row_bias.then(|| m.f16("row_bias", &row_bias)),
        residual: [None, None],
        out: if c.f32_out { Err(m.f32("out", &vec![f32::NAN; rows * c.ldo])) } else { Ok(m.f16("out", &out_init)) },
    };
    let separate = c.residual.contains(&1).then(|| m.f16("residual", &residual));
    let out = b.out;
    let residual_of = |kind: u8| match (kind, out) {
        (1, _) => separate.map(|p| (p, c.ldo)),
        (2, Ok(o)) => Some((from(o, c.out_col), c.ldo)),
        _ => None,
    };
    let b = ConvBuffers { residual: [residual_of(c.residual[0]), residual_of(c.residual[1])], ..b };
    m.case.launch(conv_launch(&conv_op::<OnDevice>(c, &b)).unwrap());
    m.twin.conv(&conv_op::<OnHost>(c, &b)).unwrap();

    // The tolerance model: Σ|terms| of each output (both columns of a gate pair) in f64.
    let pre = |v: f64| match c.pre {
        PreAct::None => v,
        PreAct::LeakyRelu { slope, gain } => (v * gain as f64).max(v * (gain * slope) as f64),
    };
    let pad = c.dilation * (c.taps - 1) / 2;
    let magnitude = |item: usize, t: usize, j: usize| -> f64 {
        let valid = c.lens[item] * c.scale;
        let mut s = if c.bias { f64::from(bias[j].to_f32()).abs() } else { 0.0 };
        if c.row_bias {
            s += f64::from(row_bias[item * c.n + j].to_f32()).abs();
        }
        for tap in 0..c.taps {
            let Some(src) = (t + tap * c.dilation).checked_sub(pad).filter(|&s| s < valid) else { continue };
            for ci in 0..c.cin {
                let xv = f64::from(x[(item * c.stride + src) * c.ldx + c.x_col + ci].to_f32());
                s += pre(xv).abs() * f64::from(w[j * k + tap * c.cin + ci].to_f32()).abs();
            }
        }
        s
    };
    let out_col = c.out_col;
    let tolerance = move |i: usize, want: f64| {
        let (r, col) = (i / c.ldo, i % c.ldo);
        let (item, t) = (r / c.stride, r % c.stride);
        if col < out_col || col >= out_col + width {
            return 0.0; // never written: still NaN
        }
        if t >= c.lens[item] * c.scale {
            return 0.0; // a padding row: exactly 0
        }
        let col = col - out_col;
        let terms = if c.post == PostAct::Gate {
            magnitude(item, t, 2 * col) + magnitude(item, t, 2 * col + 1)
        } else {
            magnitude(item, t, col)
        };
        let res = 2.0 * c.residual.iter().filter(|&&k| k != 0).count() as f64;
        let rounding = if c.f32_out { 0.0 } else { ulp16(want) };
        rounding + 1e-5 * (terms + res) + 1e-6
    };
    match b.out {
        Ok(out) => m.expect_f16("out", out, tolerance),
        Err(out) => {
            let want: Vec<f64> = m.twin.read_f32(out.host).unwrap().into_iter().map(f64::from).collect();
            let tol: Vec<f64> = want.iter().enumerate().map(|(i, &w)| tolerance(i, w)).collect();
            m.case.expect_near("out", &want, &tol);
        }
    }
    m.case
}

// ---- attention_f16.

struct AttentionCase {
    what: &'static str,
    heads: usize,
    hd: usize,
    q_lens: &'static [usize],
    q_scale: usize,
    q_stride: usize,
    k_lens: &'static [usize],
    k_stride: usize,
    window: Option<usize>,
    /// q, k and v side by side in one buffer (the encoders' fused projection).
    fused: bool,
}

const ATTENTION_CASES: [AttentionCase; 3] = [
    // The VITS encoder: 2 heads of 96, window 4, self-attention over a fused qkv buffer.
    AttentionCase {
        what: "relative",
        heads: 2,
        hd: 96,
        q_lens: &[10, 3],
        q_scale: 1,
        q_stride: 12,
        k_lens: &[10, 3],
        k_stride: 12,
        window: Some(4),
        fused: true,
    },
    // MRTE: 4 heads of 128, frames (2 per token) attending to phones; an item with no phones.
    AttentionCase {
        what: "cross",
        heads: 4,
        hd: 128,
        q_lens: &[5, 3],
        q_scale: 2,
        q_stride: 12,
        k_lens: &[7, 0],
        k_stride: 8,
        window: None,
        fused: false,
    },
    // A long item: the running maximum is rescaled many times; window 1.
    AttentionCase {
        what: "long",
        heads: 1,
        hd: 32,
        q_lens: &[70],
        q_scale: 1,
        q_stride: 72,
        k_lens: &[70],
        k_stride: 72,
        window: Some(1),
        fused: true,
    },
];

fn attention_case(c: &AttentionCase) -> Case {
    let config = format!(
        "{}: {}x{} q={:?}x{} k={:?} window={:?}{}",
        c.what,
        c.heads,
        c.hd,
        c.q_lens,
        c.q_scale,
        c.k_lens,
        c.window,
        if c.fused { " fused qkv" } else { "" }
    );
    let mut rng = Rng::new(&config);
    let items = c.q_lens.len();
    let width = c.heads * c.hd;
    let (q_rows, k_rows) = (items * c.q_stride, items * c.k_stride);
    let table_rows = 2 * c.window.unwrap_or(0) + 1;
    let mut m = Mirror::new("attention_f16", config, "1 ulp16 + 2e-5*(max|v| + max|emb_v|)");
    let ql = m.i32("q_lens", &lens(c.q_lens));
    let kl = m.i32("k_lens", &lens(c.k_lens));
    // Scores of order a few units: q, k in [-1, 1) over up to 128 dims, scaled by 1/sqrt(hd).
    let (q, k, v, ld) = if c.fused {
        let qkv = m.f16("qkv", &rng.halves(q_rows * 3 * width, -1.0, 1.0));
        (qkv, from(qkv, width), from(qkv, 2 * width), 3 * width)
    } else {
        let q = m.f16("q", &rng.halves(q_rows * width, -1.0, 1.0));
        let kv = m.f16("kv", &rng.halves(k_rows * 2 * width, -1.0, 1.0));
        (q, kv, from(kv, width), 2 * width)
    };
    let q_ld = if c.fused { ld } else { width };
    let emb = c.window.map(|_| {
        (
            m.f16("emb_k", &rng.halves(table_rows * c.hd, -1.0, 1.0)),
            m.f16("emb_v", &rng.halves(table_rows * c.hd, -1.0, 1.0)),
        )
    });
    let out = m.f16("out", &nan16(q_rows * width));
    fn op<S: Side>(
        c: &AttentionCase,
        [q, k, v, out]: [(Pair<f16>, usize); 4],
        (ql, kl): (Pair<i32>, Pair<i32>),
        emb: Option<(Pair<f16>, Pair<f16>)>,
    ) -> Attention<S::O> {
        let items = c.q_lens.len();
        Attention {
            q: Rows { data: S::f16(q.0), ld: q.1 },
            k: Rows { data: S::f16(k.0), ld: k.1 },
            v: Rows { data: S::f16(v.0), ld: v.1 },
            out: Rows { data: S::f16(out.0), ld: out.1 },
            heads: c.heads,
            head_dim: c.hd,
            q_seq: seq::<S>(ql, c.q_scale, c.q_stride, items),
            k_seq: seq::<S>(kl, 1, c.k_stride, items),
            scale: 1.0 / (c.hd as f32).sqrt(),
            relative: emb.map(|(k, v)| Relative { emb_k: S::f16(k), emb_v: S::f16(v), window: c.window.unwrap_or(0) }),
        }
    }
    let views = [(q, q_ld), (k, ld), (v, ld), (out, width)];
    m.case.launch(attention_launch(&op::<OnDevice>(c, views, (ql, kl), emb)).unwrap());
    m.twin.attention(&op::<OnHost>(c, views, (ql, kl), emb)).unwrap();
    let max_v = 1.0 + if c.window.is_some() { 1.0 } else { 0.0 };
    m.expect_f16("out", out, |_, want| ulp16(want) + 2e-5 * max_v);
    m.case
}

// ---- gather_rows_f16.

fn gather_cases() -> Vec<Case> {
    [(2usize, &[5usize, 0, 3][..], 16usize), (1, &[4, 7][..], 24)]
        .iter()
        .map(|&(repeat, item_lens, width)| {
            let config = format!("repeat={repeat} lens={item_lens:?} width={width}");
            let mut rng = Rng::new(&config);
            let (items, vocab, ids_stride) = (item_lens.len(), 11, 8);
            let stride = ids_stride * repeat;
            let ids: Vec<i32> = (0..items * ids_stride).map(|_| rng.below(vocab) as i32).collect();
            let mut m = Mirror::new("gather_rows_f16", config, "exact");
            let table = m.f16("table", &rng.halves(vocab * width, -2.0, 2.0));
            let (ids, lens) = (m.i32("ids", &ids), m.i32("lens", &lens(item_lens)));
            let out = m.f16("out", &nan16(items * stride * width));
            fn op<S: Side>(p: [Pair<f16>; 2], ids: Pair<i32>, lens: Pair<i32>, dims: [usize; 5]) -> Gather<S::O> {
                let [width, ids_stride, repeat, stride, items] = dims;
                let seq = seq::<S>(lens, repeat, stride, items);
                Gather { table: S::f16(p[0]), width, ids: S::i32(ids), ids_stride, repeat, seq, out: S::f16(p[1]) }
            }
            let dims = [width, ids_stride, repeat, stride, items];
            m.case.launch(gather_launch(&op::<OnDevice>([table, out], ids, lens, dims)).unwrap());
            m.twin.gather(&op::<OnHost>([table, out], ids, lens, dims)).unwrap();
            let want: Vec<f16> = m.twin.read_f16(out.host).unwrap().into_iter().map(f16::from_f32).collect();
            m.case.expect_exact("out", &want);
            m.case
        })
        .collect()
}

// ---- overlap_add_f16.

struct OverlapCase {
    k: usize,
    u: usize,
    cout: usize,
    lens: &'static [usize],
    stride: usize,
}

const OVERLAP_CASES: [OverlapCase; 3] = [
    OverlapCase { k: 16, u: 8, cout: 8, lens: &[3, 1], stride: 4 }, // the second v2 stage
    OverlapCase { k: 4, u: 2, cout: 16, lens: &[5, 0, 2], stride: 6 }, // the last ones
    OverlapCase { k: 20, u: 10, cout: 8, lens: &[2, 3], stride: 3 }, // v2ProPlus's first
];

fn overlap_case(c: &OverlapCase) -> Case {
    let config = format!("k={} u={} cout={} lens={:?} stride={}", c.k, c.u, c.cout, c.lens, c.stride);
    let mut rng = Rng::new(&config);
    let items = c.lens.len();
    let rows_in = items * c.stride;
    let mut m = Mirror::new("overlap_add_f16", config, "1 ulp16 + 1e-6*sum|terms|");
    let cols = m.f16("cols", &rng.halves(rows_in * c.k * c.cout, -1.0, 1.0));
    let bias = m.f16("bias", &rng.halves(c.cout, -0.5, 0.5));
    let lens_p = m.i32("lens", &lens(c.lens));
    let out = m.f16("out", &nan16(rows_in * c.u * c.cout));
    fn op<S: Side>(c: &OverlapCase, [cols, bias, out]: [Pair<f16>; 3], lens: Pair<i32>) -> OverlapAdd<S::O> {
        OverlapAdd {
            cols: S::f16(cols),
            seq_in: seq::<S>(lens, 1, c.stride, c.lens.len()),
            k: c.k,
            u: c.u,
            cout: c.cout,
            bias: S::f16(bias),
            out: S::f16(out),
        }
    }
    m.case.launch(overlap_add_launch(&op::<OnDevice>(c, [cols, bias, out], lens_p)).unwrap());
    m.twin.overlap_add(&op::<OnHost>(c, [cols, bias, out], lens_p)).unwrap();
    let taps = (c.k.div_ceil(c.u) + 1) as f64;
    m.expect_f16("out", out, |_, want| ulp16(want) + 1e-6 * (taps + 0.5));
    m.case
}

// ---- interpolate_linear_f16.

/// (input lengths, output lengths): equal (speed 1: an exact copy), longer (slower), shorter.
const INTERPOLATE_CASES: [(&[usize], &[usize]); 3] =
    [(&[9, 4], &[9, 4]), (&[10, 7, 0], &[13, 9, 0]), (&[12, 5], &[10, 3])];

fn interpolate_case(&(ins, outs): &(&[usize], &[usize])) -> Case {
    let config = format!("in={ins:?} out={outs:?}");
    let mut rng = Rng::new(&config);
    let (items, width, stride_in, stride_out) = (ins.len(), 16, 12, 16);
    let mut m = Mirror::new("interpolate_linear_f16", config, "1 ulp16");
    let x = m.f16("x", &rng.halves(items * stride_in * width, -2.0, 2.0));
    let (lin, lout) = (m.i32("lens_in", &lens(ins)), m.i32("lens_out", &lens(outs)));
    let out = m.f16("out", &nan16(items * stride_out * width));
    fn op<S: Side>(x: Pair<f16>, out: Pair<f16>, lin: Pair<i32>, lout: Pair<i32>, d: [usize; 4]) -> Interpolate<S::O> {
        let [items, width, stride_in, stride_out] = d;
        Interpolate {
            x: S::f16(x),
            seq_in: seq::<S>(lin, 1, stride_in, items),
            out: S::f16(out),
            seq_out: seq::<S>(lout, 1, stride_out, items),
            width,
        }
    }
    let d = [items, width, stride_in, stride_out];
    m.case.launch(interpolate_launch(&op::<OnDevice>(x, out, lin, lout, d)).unwrap());
    m.twin.interpolate(&op::<OnHost>(x, out, lin, lout, d)).unwrap();
    m.expect_f16("out", out, |_, want| ulp16(want));
    m.case
}

// ---- prior_sample_f16.

fn prior_case() -> Case {
    let item_lens = [6usize, 0, 9];
    let config = format!("lens={item_lens:?} seeds above 2^32, first frames, noise scales 0.5 / 0 / 0.8");
    let mut rng = Rng::new(&config);
    let (items, width, stride) = (item_lens.len(), 16, 10);
    let seeds: [u64; 3] = [0x1234_5678_9abc_def0, 7, u64::MAX - 3];
    let seed_words: Vec<i32> = seeds.iter().flat_map(|&s| [s as u32 as i32, (s >> 32) as u32 as i32]).collect();
    let mut m = Mirror::new("prior_sample_f16", config, "1 ulp16 + 1e-6*(|m| + |noise|)");
    // Log-stds in [-3, 1): exp(logs) up to e.
    let stats: Vec<f16> = (0..items * stride * 2 * width)
        .map(|i| f16::from_f32(if (i / width) % 2 == 0 { rng.uniform(-2.0, 2.0) } else { rng.uniform(-3.0, 1.0) }))
        .collect();
    let stats_p = m.f16("stats", &stats);
    let lens_p = m.i32("lens", &lens(&item_lens));
    let seeds_p = m.i32("seeds", &seed_words);
    let first = m.i32("first_frame", &[0, 5, 123]);
    let scales = m.f32("noise_scale", &[0.5, 0.0, 0.8]);
    let out = m.f16("out", &nan16(items * stride * width));
    fn op<S: Side>(f: [Pair<f16>; 2], i: [Pair<i32>; 3], scales: Pair<f32>, d: [usize; 3]) -> PriorSample<S::O> {
        let [items, width, stride] = d;
        PriorSample {
            stats: S::f16(f[0]),
            seq: seq::<S>(i[0], 1, stride, items),
            seeds: S::i32(i[1]),
            first_frame: S::i32(i[2]),
            noise_scale: S::f32(scales),
            width,
            out: S::f16(f[1]),
        }
    }
    let d = [items, width, stride];
    m.case.launch(prior_sample_launch(&op::<OnDevice>([stats_p, out], [lens_p, seeds_p, first], scales, d)).unwrap());
    m.twin.prior_sample(&op::<OnHost>([stats_p, out], [lens_p, seeds_p, first], scales, d)).unwrap();
    // ε is within ±6, exp(logs) within e, the mean within 2.
    m.expect_f16("out", out, |_, want| ulp16(want) + 1e-6 * (2.0 + 6.0 * std::f64::consts::E));
    m.case
}
