//! One batched step of the graph: the decode of many windows (tokens + phones + voice) at once,
//! from the codebook lookup to the waveform, as a fixed sequence of [`AcousticOps`] calls whose
//! buffers depend only on the step's padded [`Shape`] — so on the GPU each shape's sequence is
//! captured once as a CUDA graph and replayed.
//!
//! research/upstream-v2.md §5.2–§5.3 is the math; `cpu::sovits` the f32 reference it matches.

use super::ops::{
    AcousticOps, Attention, Conv, Gather, Interpolate, LayerNorm, Out, OverlapAdd, PostAct, PreAct, PriorSample,
    Relative, Rows, Seq, View,
};
use super::weights::{vector_width, ConvWeights, EncoderLayerWeights, GraphWeights, PreparedVoice};
use crate::model::sovits::{SovitsConfig, FINAL_LRELU_SLOPE, LAYER_NORM_EPS, LRELU_SLOPE, MRTE_HEADS};
use crate::model::{DecodeParams, ModelError, PriorNoise};
use crate::tensor::Tensor;

/// The padded sizes of a step: items, and per item tokens, phones and output latent frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    pub items: usize,
    pub tokens: usize,
    pub phones: usize,
    pub out_frames: usize,
}

/// One window of a step, as the host hands it over.
pub struct StepItem<'a> {
    pub tokens: &'a [u32],
    pub phones: &'a [u32],
    pub voice: &'a PreparedVoice,
    pub params: &'a DecodeParams,
}

/// Rounds `n` up to its bucket: few distinct sizes (each is a captured graph), little padding.
pub fn bucket(n: usize) -> usize {
    let step = match n {
        0..=64 => 16,
        65..=256 => 32,
        257..=1024 => 128,
        _ => 512,
    };
    n.max(1).div_ceil(step) * step
}

impl Shape {
    /// The bucket that holds `items`.
    pub fn of(cfg: &SovitsConfig, items: &[StepItem<'_>]) -> Shape {
        let max = |f: &dyn Fn(&StepItem<'_>) -> usize| items.iter().map(f).max().unwrap_or(1);
        let tokens = bucket(max(&|i| i.tokens.len()));
        let all_unit_speed = items.iter().all(|i| i.params.speed == 1.0);
        let out_frames = if all_unit_speed {
            2 * tokens
        } else {
            bucket(max(&|i| cfg.latent_frames(i.tokens.len(), i.params.speed))).max(2 * tokens)
        };
        Shape { items: items.len().next_power_of_two(), tokens, phones: bucket(max(&|i| i.phones.len())), out_frames }
    }

    pub fn frames(&self) -> usize {
        2 * self.tokens
    }
}

/// The channel counts the graph needs, from the model's config.
#[derive(Debug, Clone)]
struct Dims {
    hidden: usize,
    filter: usize,
    heads: usize,
    mrte: usize,
    inter: usize,
    flow_hidden: usize,
    flow_layers: usize,
    flows: usize,
    initial: usize,
    /// Per stage: (k, u, cout).
    stages: Vec<(usize, usize, usize)>,
}

impl Dims {
    fn new(cfg: &SovitsConfig) -> Self {
        let g = &cfg.generator;
        Dims {
            hidden: cfg.text.hidden_channels,
            filter: cfg.text.filter_channels,
            heads: cfg.text.n_heads,
            mrte: cfg.text.mrte_channels,
            inter: cfg.inter_channels,
            flow_hidden: cfg.flow.hidden,
            flow_layers: cfg.flow.wn_layers,
            flows: cfg.flow.n_flows,
            initial: vector_width(g.upsample_initial_channel),
            stages: (0..g.upsample_rates.len())
                .map(|i| (g.upsample_kernel_sizes[i], g.upsample_rates[i], vector_width(g.stage_channels(i))))
                .collect(),
        }
    }
}

/// Sizes of the workspace's three arenas for one shape.
struct Layout {
    f16: usize,
    f32: usize,
    i32: usize,
}

/// Hands out consecutive regions of an arena.
struct Regions<'a> {
    at: usize,
    out: &'a mut dyn FnMut((usize, usize)),
}

impl Regions<'_> {
    fn take(&mut self, len: usize) {
        // Every region starts 16-byte aligned (vector loads) for elements of up to 4 bytes.
        (self.out)((self.at, len));
        self.at += len.div_ceil(8) * 8;
    }
}

/// The views of one step's buffers.
pub struct Views<O: AcousticOps + ?Sized> {
    dims: Dims,
    shape: Shape,
    // Inputs.
    tokens: O::I32,
    phones: O::I32,
    token_lens: O::I32,
    phone_lens: O::I32,
    out_lens: O::I32,
    seeds: O::I32,
    first_frames: O::I32,
    noise_scales: O::F32,
    mrte_cond: O::F16,
    flow_cond: O::F16,
    generator_cond: O::F16,
    // Encoders.
    x: O::F16,
    text: O::F16,
    qkv: O::F16,
    attn: O::F16,
    y: O::F16,
    ffn: O::F16,
    // MRTE.
    s: O::F16,
    u: O::F16,
    q: O::F16,
    kv: O::F16,
    o: O::F16,
    // Prior and flow.
    x_out: O::F16,
    stats: O::F16,
    z: O::F16,
    hs: O::F16,
    acts: O::F16,
    // Generator.
    cols: O::F16,
    up: O::F16,
    res: O::F16,
    hidden: O::F16,
    sums: [O::F16; 2],
    wav: O::F32,
}

/// The buffers of every step, allocated once for the largest step allowed and cut into views
/// per shape (the same views each time a shape recurs, as a captured graph needs).
pub struct Workspace<O: AcousticOps + ?Sized> {
    dims: Dims,
    f16: O::F16,
    f32: O::F32,
    i32: O::I32,
}

impl<O: AcousticOps + ?Sized> Workspace<O> {
    /// Room for any step no larger, in total, than one of `room_for`.
    pub fn new(ops: &O, cfg: &SovitsConfig, room_for: &[Shape]) -> Result<Self, ModelError> {
        let dims = Dims::new(cfg);
        let sizes: Vec<Layout> = room_for.iter().map(|&s| Self::plan(&dims, s, &mut |_| ())).collect();
        let most = |f: fn(&Layout) -> usize| sizes.iter().map(f).max().unwrap_or(0);
        Ok(Workspace {
            f16: ops.alloc_f16(most(|l| l.f16))?,
            f32: ops.alloc_f32(most(|l| l.f32))?,
            i32: ops.alloc_i32(most(|l| l.i32))?,
            dims,
        })
    }

    /// Whether a step of `shape` fits.
    pub fn fits(&self, shape: Shape) -> bool {
        let size = Self::plan(&self.dims, shape, &mut |_| ());
        size.f16 <= self.f16.len() && size.f32 <= self.f32.len() && size.i32 <= self.i32.len()
    }

    /// Whether a step of `shape` fits a workspace made with room for `room_for`, before making it.
    pub fn would_fit(cfg: &SovitsConfig, room_for: &[Shape], shape: Shape) -> bool {
        let dims = Dims::new(cfg);
        let need = Self::plan(&dims, shape, &mut |_| ());
        let sizes: Vec<Layout> = room_for.iter().map(|&s| Self::plan(&dims, s, &mut |_| ())).collect();
        let most = |f: fn(&Layout) -> usize| sizes.iter().map(f).max().unwrap_or(0);
        need.f16 <= most(|l| l.f16) && need.f32 <= most(|l| l.f32) && need.i32 <= most(|l| l.i32)
    }

    /// The layout of a step of `shape`; `regions` receives each buffer's (start, len) in order:
    /// the i32 arena's, the f32 arena's, then the f16 arena's (as [`Self::views`] takes them).
    fn plan(d: &Dims, sh: Shape, regions: &mut dyn FnMut((usize, usize))) -> Layout {
        let (b, f, p, fo) = (sh.items, sh.frames(), sh.phones, sh.out_frames);
        let rows = (b * f).max(b * p);
        let mut stage_rows = b * fo;
        let (mut cols, mut act) = (0, b * fo * d.initial);
        for &(k, u, cout) in &d.stages {
            cols = cols.max(stage_rows * k * cout);
            stage_rows *= u;
            act = act.max(stage_rows * cout);
        }
        let hf2 = 2 * d.flow_hidden;
        let arenas: [&[usize]; 3] = [
            // tokens, phones, token / phone / output-frame lengths, seeds, first frames.
            &[b * sh.tokens, b * p, b, b, b, 2 * b, b],
            // noise scales, waveform.
            &[b, stage_rows],
            &[
                b * d.mrte,
                d.flows * d.flow_layers * b * hf2,
                b * d.initial,
                b * f * d.hidden,
                b * p * d.hidden,
                rows * 3 * d.hidden,
                rows * d.hidden,
                rows * d.hidden,
                rows * d.filter,
                b * f * d.mrte,
                b * p * d.mrte,
                b * f * d.mrte,
                b * p * 2 * d.mrte,
                b * f * d.mrte,
                b * fo * d.hidden,
                b * fo * 2 * d.inter,
                b * fo * d.inter,
                b * fo * hf2,
                b * fo * d.flow_hidden,
                cols,
                act,
                act,
                act,
                act,
                act,
            ],
        ];
        let sizes = arenas.map(|lens| {
            let mut r = Regions { at: 0, out: regions };
            lens.iter().for_each(|&len| r.take(len));
            r.at
        });
        Layout { i32: sizes[0], f32: sizes[1], f16: sizes[2] }
    }

    /// The views of a step of `shape` (which must [fit](Self::fits)).
    pub fn views(&self, shape: Shape) -> Views<O> {
        let mut regions = Vec::new();
        Self::plan(&self.dims, shape, &mut |r| regions.push(r));
        let mut r = regions.into_iter();
        let mut i = |v: O::I32| {
            let (s, l) = r.next().unwrap_or_default();
            v.range(s, l)
        };
        let (tokens, phones, token_lens, phone_lens, out_lens, seeds, first_frames) =
            (i(self.i32), i(self.i32), i(self.i32), i(self.i32), i(self.i32), i(self.i32), i(self.i32));
        let (s, l) = r.next().unwrap_or_default();
        let noise_scales = self.f32.range(s, l);
        let (s, l) = r.next().unwrap_or_default();
        let wav = self.f32.range(s, l);
        let mut h = || {
            let (s, l) = r.next().unwrap_or_default();
            self.f16.range(s, l)
        };
        Views {
            dims: self.dims.clone(),
            shape,
            tokens,
            phones,
            token_lens,
            phone_lens,
            out_lens,
            seeds,
            first_frames,
            noise_scales,
            mrte_cond: h(),
            flow_cond: h(),
            generator_cond: h(),
            x: h(),
            text: h(),
            qkv: h(),
            attn: h(),
            y: h(),
            ffn: h(),
            s: h(),
            u: h(),
            q: h(),
            kv: h(),
            o: h(),
            x_out: h(),
            stats: h(),
            z: h(),
            hs: h(),
            acts: h(),
            cols: h(),
            up: h(),
            res: h(),
            hidden: h(),
            sums: [h(), h()],
            wav,
        }
    }
}

/// Intermediates of a step, per item, channel-first `[channels, valid rows]` like the CPU
/// reference's trace (tests).
#[derive(Default)]
pub struct Trace {
    pub tensors: Vec<(String, Vec<Tensor>)>,
}

impl Trace {
    /// Records `width` columns of `data` under `name`; `flipped`: stored channel-reversed.
    #[allow(clippy::too_many_arguments)]
    fn record<O: AcousticOps + ?Sized>(
        &mut self,
        ops: &O,
        name: &str,
        data: Rows<O::F16>,
        width: usize,
        flipped: bool,
        seq: Seq<O>,
        lens: &[usize],
    ) -> Result<(), ModelError> {
        let all = ops.read_f16(data.data)?;
        let items = lens
            .iter()
            .enumerate()
            .map(|(b, &len)| {
                let valid = len * seq.scale;
                let mut t = vec![0.0; width * valid];
                for r in 0..valid {
                    let row = (b * seq.stride + r) * data.ld;
                    for c in 0..width {
                        let to = if flipped { width - 1 - c } else { c };
                        t[to * valid + r] = all[row + c];
                    }
                }
                Tensor::new([width, valid], t)
            })
            .collect();
        self.tensors.push((name.to_string(), items));
        Ok(())
    }

    /// Item `item`'s tensor `name`.
    pub fn get(&self, name: &str, item: usize) -> Option<&Tensor> {
        self.tensors.iter().find(|(n, _)| n == name).and_then(|(_, t)| t.get(item))
    }
}

impl<O: AcousticOps + ?Sized> Views<O> {
    /// Writes the step's inputs: ids, lengths, noise settings and the voices' conditioning.
    /// Items past `items.len()` (bucket padding) get zero lengths: they compute nothing.
    pub fn write_inputs(&self, ops: &O, cfg: &SovitsConfig, items: &[StepItem<'_>]) -> Result<(), ModelError> {
        let sh = self.shape;
        let b = sh.items;
        let mut tokens = vec![0i32; b * sh.tokens];
        let mut phones = vec![0i32; b * sh.phones];
        let (mut token_lens, mut phone_lens, mut out_lens) = (vec![0i32; b], vec![0i32; b], vec![0i32; b]);
        let (mut seeds, mut first_frames, mut noise_scales) = (vec![0i32; 2 * b], vec![0i32; b], vec![0f32; b]);
        let d = &self.dims;
        let hf2 = 2 * d.flow_hidden;
        let mut mrte = vec![0.0; b * d.mrte];
        let mut flow = vec![0.0; d.flows * d.flow_layers * b * hf2];
        let mut generator = vec![0.0; b * d.initial];
        let int =
            |v: usize| i32::try_from(v).map_err(|_| ModelError::Input(format!("{v} does not fit the GPU's ints")));
        for (i, item) in items.iter().enumerate() {
            for (dst, &t) in tokens[i * sh.tokens..].iter_mut().zip(item.tokens) {
                *dst = int(t as usize)?;
            }
            for (dst, &p) in phones[i * sh.phones..].iter_mut().zip(item.phones) {
                *dst = int(p as usize)?;
            }
            token_lens[i] = int(item.tokens.len())?;
            phone_lens[i] = int(item.phones.len())?;
            out_lens[i] = int(cfg.latent_frames(item.tokens.len(), item.params.speed))?;
            let PriorNoise::Seeded { seed, first_frame } = item.params.noise else {
                return Err(ModelError::Input("the batched decode draws its own prior noise (seeded)".into()));
            };
            seeds[2 * i] = seed as u32 as i32;
            seeds[2 * i + 1] = (seed >> 32) as u32 as i32;
            first_frames[i] = int(first_frame)?;
            noise_scales[i] = item.params.noise_scale;
            let v = item.voice;
            mrte[i * d.mrte..(i + 1) * d.mrte].copy_from_slice(&v.mrte);
            for (l, cond) in v.flow.chunks_exact(hf2).enumerate() {
                flow[(l * b + i) * hf2..(l * b + i + 1) * hf2].copy_from_slice(cond);
            }
            generator[i * d.initial..(i + 1) * d.initial].copy_from_slice(&v.generator);
        }
        ops.write_i32(self.tokens, &tokens)?;
        ops.write_i32(self.phones, &phones)?;
        ops.write_i32(self.token_lens, &token_lens)?;
        ops.write_i32(self.phone_lens, &phone_lens)?;
        ops.write_i32(self.out_lens, &out_lens)?;
        ops.write_i32(self.seeds, &seeds)?;
        ops.write_i32(self.first_frames, &first_frames)?;
        ops.write_f32(self.noise_scales, &noise_scales)?;
        ops.write_f16(self.mrte_cond, &mrte)?;
        ops.write_f16(self.flow_cond, &flow)?;
        ops.write_f16(self.generator_cond, &generator)
    }

    /// The waveform of each of the first `out_frames.len()` items (`hop` samples per frame).
    pub fn read_waves(&self, ops: &O, cfg: &SovitsConfig, out_frames: &[usize]) -> Result<Vec<Vec<f32>>, ModelError> {
        let hop = cfg.hop_length();
        let per_item = self.shape.out_frames * hop;
        out_frames.iter().enumerate().map(|(b, &f)| ops.read_f32(self.wav.range(b * per_item, f * hop))).collect()
    }
}

/// A view of every row with `ld` values each.
fn rows<V>(data: V, ld: usize) -> Rows<V> {
    Rows { data, ld }
}

/// A convolution of `x` (`cin` = the weights' input width) into `out`, nothing fused around it.
fn conv<O: AcousticOps + ?Sized>(w: &ConvWeights<O>, x: Rows<O::F16>, seq: Seq<O>, out: Rows<O::F16>) -> Conv<O> {
    Conv {
        x,
        cin: w.cin,
        seq,
        w: w.w,
        n: w.n,
        taps: w.taps,
        dilation: w.dilation,
        bias: w.bias,
        row_bias: None,
        pre: PreAct::None,
        post: PostAct::None,
        residual: [None, None],
        out: Out::F16(out),
    }
}

/// Runs one step over the inputs [`Views::write_inputs`] wrote. With `trace`, records the
/// intermediates of the first `lens.len()` items (`lens` = their token counts; tests only).
pub fn run<O: AcousticOps + ?Sized>(
    ops: &O,
    w: &GraphWeights<O>,
    v: &Views<O>,
    mut trace: Option<(&mut Trace, &[StepLens])>,
) -> Result<(), ModelError> {
    let sh = v.shape;
    let b = sh.items;
    let d = &v.dims;
    let seq = |lens: O::I32, scale: usize, stride: usize| Seq::<O> { lens, scale, stride, items: b };
    let frames = seq(v.token_lens, 2, sh.frames());
    let phones = seq(v.phone_lens, 1, sh.phones);
    let out = seq(v.out_lens, 1, sh.out_frames);
    let (h, m, i2) = (d.hidden, d.mrte, d.inter);
    macro_rules! record {
        ($name:expr, $data:expr, $width:expr, $seq:expr, $pick:expr) => {
            record!($name, $data, $width, false, $seq, $pick)
        };
        ($name:expr, $data:expr, $width:expr, $flipped:expr, $seq:expr, $pick:expr) => {
            if let Some((t, lens)) = trace.as_mut() {
                let l: Vec<usize> = lens.iter().map($pick).collect();
                t.record(ops, $name, $data, $width, $flipped, $seq, &l)?;
            }
        };
    }

    // Codebook rows (ssl_proj folded in), each token twice: 25 Hz → 50 Hz.
    ops.gather(&Gather {
        table: w.ssl_table,
        width: h,
        ids: v.tokens,
        ids_stride: sh.tokens,
        repeat: 2,
        seq: frames,
        out: v.x,
    })?;
    record!("ssl_proj", rows(v.x, h), h, frames, |l: &StepLens| l.tokens);
    encoder(ops, &w.encoder_ssl, v, rows(v.x, h), frames, d.heads)?;
    record!("encoder_ssl", rows(v.x, h), h, frames, |l: &StepLens| l.tokens);
    ops.gather(&Gather {
        table: w.text_embedding,
        width: h,
        ids: v.phones,
        ids_stride: sh.phones,
        repeat: 1,
        seq: phones,
        out: v.text,
    })?;
    encoder(ops, &w.encoder_text, v, rows(v.text, h), phones, d.heads)?;
    record!("encoder_text", rows(v.text, h), h, phones, |l: &StepLens| l.phones);

    // MRTE: c_post(MHA(c_pre(x), text_pre(text)) + c_pre(x) + ge).
    let mr = &w.mrte;
    ops.conv(&conv(&mr.c_pre, rows(v.x, h), frames, rows(v.s, m)))?;
    ops.conv(&conv(&mr.text_pre, rows(v.text, h), phones, rows(v.u, m)))?;
    ops.conv(&conv(&mr.q, rows(v.s, m), frames, rows(v.q, m)))?;
    ops.conv(&conv(&mr.kv, rows(v.u, m), phones, rows(v.kv, 2 * m)))?;
    ops.attention(&Attention {
        q: rows(v.q, m),
        k: rows(v.kv, 2 * m),
        v: rows(v.kv.range(m, v.kv.len() - m), 2 * m),
        out: rows(v.o, m),
        heads: MRTE_HEADS,
        head_dim: m / MRTE_HEADS,
        q_seq: frames,
        k_seq: phones,
        scale: 1.0 / ((m / MRTE_HEADS) as f32).sqrt(),
        relative: None,
    })?;
    // (q is free again after the attention: it takes the output projection.)
    ops.conv(&Conv {
        row_bias: Some(v.mrte_cond),
        residual: [Some(rows(v.s, m)), None],
        ..conv(&mr.o, rows(v.o, m), frames, rows(v.q, m))
    })?;
    ops.conv(&conv(&mr.c_post, rows(v.q, m), frames, rows(v.x, h)))?;
    record!("mrte", rows(v.x, h), h, frames, |l: &StepLens| l.tokens);
    encoder(ops, &w.encoder_post, v, rows(v.x, h), frames, d.heads)?;

    // Speed (latent interpolation; an exact copy at speed 1), prior stats, z_p.
    ops.interpolate(&Interpolate { x: v.x, seq_in: frames, out: v.x_out, seq_out: out, width: h })?;
    record!("x", rows(v.x_out, h), h, out, |l: &StepLens| l.out_frames);
    ops.conv(&conv(&w.proj, rows(v.x_out, h), out, rows(v.stats, 2 * i2)))?;
    record!("m_p", rows(v.stats, 2 * i2), i2, out, |l: &StepLens| l.out_frames);
    record!("logs_p", rows(v.stats.range(i2, v.stats.len() - i2), 2 * i2), i2, out, |l: &StepLens| l.out_frames);
    ops.prior_sample(&PriorSample {
        stats: v.stats,
        seq: out,
        seeds: v.seeds,
        first_frame: v.first_frames,
        noise_scale: v.noise_scales,
        width: i2,
        out: v.z,
    })?;
    record!("z_p", rows(v.z, i2), i2, out, |l: &StepLens| l.out_frames);

    // The flow in reverse.
    let hf = d.flow_hidden;
    let half = |start: usize| rows(v.z.range(start, v.z.len() - start), i2);
    let skip = rows(v.hs.range(hf, v.hs.len() - hf), 2 * hf);
    for (c, coupling) in w.flow.iter().enumerate() {
        ops.conv(&conv(&coupling.pre, half(coupling.read), out, rows(v.hs, 2 * hf)))?;
        let last = coupling.in_layers.len() - 1;
        for (l, (inl, rs)) in coupling.in_layers.iter().zip(&coupling.res_skip).enumerate() {
            let cond = v.flow_cond.range((c * d.flow_layers + l) * b * 2 * hf, b * 2 * hf);
            ops.conv(&Conv {
                row_bias: Some(cond),
                post: PostAct::Gate,
                ..conv(inl, rows(v.hs, 2 * hf), out, rows(v.acts, hf))
            })?;
            let target = if l < last { rows(v.hs, 2 * hf) } else { skip };
            ops.conv(&Conv { residual: [Some(target), None], ..conv(rs, rows(v.acts, hf), out, target) })?;
        }
        let target = half(coupling.write);
        ops.conv(&Conv { residual: [Some(target), None], ..conv(&coupling.post, skip, out, target) })?;
        let flipped = coupling.leaves_flipped;
        record!(&format!("flow_rev_{c}"), rows(v.z, i2), i2, flipped, out, |l: &StepLens| l.out_frames);
    }

    // The generator.
    let gain = 1.0 / w.stages.first().map_or(1, |s| s.resblocks.len()).max(1) as f32;
    let (mut g, mut g_width, mut g_seq, mut sum) = (v.sums[0], d.initial, out, 1);
    ops.conv(&Conv { row_bias: Some(v.generator_cond), ..conv(&w.conv_pre, rows(v.z, i2), out, rows(g, g_width)) })?;
    for (i, st) in w.stages.iter().enumerate() {
        let pre = PreAct::LeakyRelu { slope: LRELU_SLOPE, gain: if i == 0 { 1.0 } else { gain } };
        ops.conv(&Conv { pre, ..conv(&st.up, rows(g, g_width), g_seq, rows(v.cols, st.k * st.cout)) })?;
        ops.overlap_add(&OverlapAdd {
            cols: v.cols,
            seq_in: g_seq,
            k: st.k,
            u: st.u,
            cout: st.cout,
            bias: st.up_bias,
            out: v.up,
        })?;
        g_seq = g_seq.upsampled(st.u);
        let c = st.cout;
        let total = v.sums[sum];
        for (j, chain) in st.resblocks.iter().enumerate() {
            for (n, (c1, c2)) in chain.iter().enumerate() {
                let input = if n == 0 { v.up } else { v.res };
                let lrelu = PreAct::LeakyRelu { slope: LRELU_SLOPE, gain: 1.0 };
                ops.conv(&Conv { pre: lrelu, ..conv(c1, rows(input, c), g_seq, rows(v.hidden, c)) })?;
                // x ← x + c2(lrelu(c1(lrelu(x)))); the chain's last step lands in the stage sum.
                let (target, accumulate) = if n + 1 < chain.len() { (v.res, false) } else { (total, j > 0) };
                ops.conv(&Conv {
                    pre: lrelu,
                    residual: [Some(rows(input, c)), accumulate.then(|| rows(total, c))],
                    ..conv(c2, rows(v.hidden, c), g_seq, rows(target, c))
                })?;
            }
        }
        (g, g_width, sum) = (total, c, 1 - sum);
    }
    ops.conv(&Conv {
        pre: PreAct::LeakyRelu { slope: FINAL_LRELU_SLOPE, gain },
        post: PostAct::Tanh,
        out: Out::F32(rows(v.wav, 1)),
        ..conv(&w.conv_post, rows(g, g_width), g_seq, rows(g, g_width))
    })
}

/// The true sizes of a traced item.
#[derive(Debug, Clone, Copy)]
pub struct StepLens {
    pub tokens: usize,
    pub phones: usize,
    pub out_frames: usize,
}

/// A relative-attention encoder over `x` (post-norm layers, in place).
fn encoder<O: AcousticOps + ?Sized>(
    ops: &O,
    layers: &[EncoderLayerWeights<O>],
    v: &Views<O>,
    x: Rows<O::F16>,
    seq: Seq<O>,
    heads: usize,
) -> Result<(), ModelError> {
    let h = x.ld;
    let hd = h / heads;
    let n = seq.rows();
    for l in layers {
        ops.conv(&conv(&l.qkv, x, seq, rows(v.qkv, 3 * h)))?;
        let part = |i: usize| rows(v.qkv.range(i * h, v.qkv.len() - i * h), 3 * h);
        ops.attention(&Attention {
            q: part(0),
            k: part(1),
            v: part(2),
            out: rows(v.attn, h),
            heads,
            head_dim: hd,
            q_seq: seq,
            k_seq: seq,
            scale: 1.0 / (hd as f32).sqrt(),
            relative: Some(Relative { emb_k: l.emb_rel_k, emb_v: l.emb_rel_v, window: l.window }),
        })?;
        ops.conv(&conv(&l.o, rows(v.attn, h), seq, rows(v.y, h)))?;
        let [g1, b1] = l.norm_1;
        ops.layer_norm(&LayerNorm {
            out: x.data,
            x: v.y,
            residual: x.data,
            gamma: g1,
            beta: b1,
            rows: n,
            cols: h,
            eps: LAYER_NORM_EPS,
        })?;
        ops.conv(&Conv { post: PostAct::Relu, ..conv(&l.ffn_1, x, seq, rows(v.ffn, l.ffn_1.n)) })?;
        ops.conv(&conv(&l.ffn_2, rows(v.ffn, l.ffn_1.n), seq, rows(v.y, h)))?;
        let [g2, b2] = l.norm_2;
        ops.layer_norm(&LayerNorm {
            out: x.data,
            x: v.y,
            residual: x.data,
            gamma: g2,
            beta: b2,
            rows: n,
            cols: h,
            eps: LAYER_NORM_EPS,
        })?;
    }
    Ok(())
}
