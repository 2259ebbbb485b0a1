//! The SoVITS weights laid out for the graph's operations, once at load, on the host in f32:
//!
//! * every convolution as `[out, taps · in]` (tap-major rows: one implicit-GEMM operand);
//! * each transposed convolution as the `[k · out, in]` product of its columns ([`OverlapAdd`]);
//! * the attention projections fused (`q|k|v`, MRTE's `k|v`);
//! * `ssl_proj` folded into the codebook: the lookup yields projected rows directly;
//! * each WaveNet `in_layer`'s tanh and sigmoid halves interleaved, so a thread holds both halves
//!   of a gate (and the voice's conditioning likewise, [`PreparedVoice`]);
//! * the flow's channel flips folded into which half each coupling reads and writes and into the
//!   order of its `pre` inputs and `post` outputs, `post` negated (the coupling subtracts it), and
//!   `pre` widened with zero rows so it also clears the WaveNet's skip sum.
//!
//! [`OverlapAdd`]: super::ops::OverlapAdd

use super::ops::AcousticOps;
use crate::cpu::ops::{matmul_into, MatRef};
use crate::model::sovits::{Conv1d, EncoderLayer, SovitsConfig, SovitsWeights, FLOW_DILATION_RATE};
use crate::model::ModelError;
use crate::tensor::Tensor;

/// A convolution (or linear layer) ready for [`super::ops::Conv`].
pub struct ConvWeights<O: AcousticOps + ?Sized> {
    pub w: O::F16,
    pub bias: Option<O::F16>,
    pub n: usize,
    pub cin: usize,
    pub taps: usize,
    pub dilation: usize,
}

/// One post-norm layer of a relative-attention encoder.
pub struct EncoderLayerWeights<O: AcousticOps + ?Sized> {
    pub qkv: ConvWeights<O>,
    pub o: ConvWeights<O>,
    pub norm_1: [O::F16; 2],
    pub ffn_1: ConvWeights<O>,
    pub ffn_2: ConvWeights<O>,
    pub norm_2: [O::F16; 2],
    pub emb_rel_k: O::F16,
    pub emb_rel_v: O::F16,
    /// Relative-position window (the tables have `2·window + 1` rows).
    pub window: usize,
}

pub struct MrteWeights<O: AcousticOps + ?Sized> {
    pub c_pre: ConvWeights<O>,
    pub text_pre: ConvWeights<O>,
    pub q: ConvWeights<O>,
    pub kv: ConvWeights<O>,
    pub o: ConvWeights<O>,
    pub c_post: ConvWeights<O>,
}

/// One coupling layer, in the order the reverse flow runs them.
pub struct CouplingWeights<O: AcousticOps + ?Sized> {
    /// Which half of the latent the coupling reads (`x0`) and which it updates: `(0, half)` or
    /// `(half, 0)`, the flips being folded into the weights.
    pub read: usize,
    pub write: usize,
    /// After this coupling the stored latent is the upstream one channel-reversed.
    pub leaves_flipped: bool,
    pub pre: ConvWeights<O>,
    pub in_layers: Vec<ConvWeights<O>>,
    pub res_skip: Vec<ConvWeights<O>>,
    pub post: ConvWeights<O>,
}

/// One upsampling stage of the generator.
pub struct StageWeights<O: AcousticOps + ?Sized> {
    /// The transposed convolution's product half: `[k · cout, cin]`.
    pub up: ConvWeights<O>,
    pub up_bias: O::F16,
    pub k: usize,
    pub u: usize,
    pub cout: usize,
    /// Per resblock kernel: `(convs1[m], convs2[m])` for each dilation `m`.
    pub resblocks: Vec<Vec<(ConvWeights<O>, ConvWeights<O>)>>,
}

/// Every weight of the graph, on the executor.
pub struct GraphWeights<O: AcousticOps + ?Sized> {
    /// `codebook · ssl_projᵀ + bias`: `[codebook_size, hidden]`.
    pub ssl_table: O::F16,
    pub text_embedding: O::F16,
    pub encoder_ssl: Vec<EncoderLayerWeights<O>>,
    pub encoder_text: Vec<EncoderLayerWeights<O>>,
    pub encoder_post: Vec<EncoderLayerWeights<O>>,
    pub mrte: MrteWeights<O>,
    pub proj: ConvWeights<O>,
    pub flow: Vec<CouplingWeights<O>>,
    pub conv_pre: ConvWeights<O>,
    pub stages: Vec<StageWeights<O>>,
    pub conv_post: ConvWeights<O>,
}

/// A voice's conditioning, derived from its `ge` once (f32, host): what each step copies into
/// the batch's per-item biases.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedVoice {
    /// Added inside MRTE (`ge` for v1/v2, `ge_to512(ge)` for v2Pro/v2ProPlus) `[mrte_channels]`.
    pub mrte: Vec<f32>,
    /// `cond_layer(ge)` of each coupling in graph order, each layer's slice gate-interleaved:
    /// `[couplings · layers · 2·hidden]`.
    pub flow: Vec<f32>,
    /// The generator's `cond(ge)` `[upsample_initial_channel]`.
    pub generator: Vec<f32>,
}

/// The host-side weights that turn a `ge` into a [`PreparedVoice`].
pub struct Conditioner {
    /// Per coupling in graph order: `cond_layer` `[2·hidden·layers, gin]` and its bias.
    flow: Vec<(Tensor, Vec<f32>)>,
    flow_hidden: usize,
    generator: (Tensor, Vec<f32>),
}

/// Rows `2c` / `2c + 1` ← rows `c` / `half + c` of `[2·half, width]`.
fn interleave_halves(x: &[f32], width: usize) -> Vec<f32> {
    let half = x.len() / width / 2;
    (0..half)
        .flat_map(|c| [&x[c * width..(c + 1) * width], &x[(half + c) * width..(half + c + 1) * width]])
        .flatten()
        .copied()
        .collect()
}

/// `w · x + b` for `w` `[out, in]`.
fn affine(w: &Tensor, b: &[f32], x: &[f32]) -> Vec<f32> {
    let mut y = b.to_vec();
    matmul_into(w.dim(0), 1, w.dim(1), MatRef::rows(w.data(), w.dim(1)), MatRef::rows(x, 1), &mut y, true);
    y
}

impl Conditioner {
    /// A voice's checked `ge` `[gin]` and MRTE style ([`VoiceAnalyzer::conditioning`]) → its
    /// per-item biases.
    ///
    /// [`VoiceAnalyzer::conditioning`]: crate::cpu::VoiceAnalyzer::conditioning
    pub fn prepare(&self, (ge, mrte): (Vec<f32>, Vec<f32>)) -> PreparedVoice {
        let width = 2 * self.flow_hidden;
        let flow = self
            .flow
            .iter()
            .flat_map(|(w, b)| {
                let gc = affine(w, b, &ge);
                gc.chunks_exact(width).flat_map(|layer| interleave_halves(layer, 1)).collect::<Vec<_>>()
            })
            .collect();
        let (gw, gb) = &self.generator;
        PreparedVoice { mrte, flow, generator: affine(gw, gb, &ge) }
    }
}

/// Builds the executor's weights from the checkpoint's.
struct Uploader<'a, O: AcousticOps + ?Sized> {
    ops: &'a O,
}

impl<O: AcousticOps + ?Sized> Uploader<'_, O> {
    fn f16(&self, data: &[f32]) -> Result<O::F16, ModelError> {
        let view = self.ops.alloc_f16(data.len())?;
        self.ops.write_f16(view, data)?;
        Ok(view)
    }

    /// A PyTorch `[out, in, k]` convolution as `[out, k · in]`.
    fn conv(&self, c: &Conv1d, dilation: usize) -> Result<ConvWeights<O>, ModelError> {
        let (n, cin, taps) = (c.weight.dim(0), c.weight.dim(1), c.weight.dim(2));
        let w = tap_major(c.weight.data(), n, cin, taps);
        self.raw(&w, c.bias.as_ref().map(|b| b.data().to_vec()), n, cin, taps, dilation)
    }

    fn raw(
        &self,
        w: &[f32],
        bias: Option<Vec<f32>>,
        n: usize,
        cin: usize,
        taps: usize,
        dilation: usize,
    ) -> Result<ConvWeights<O>, ModelError> {
        debug_assert_eq!(w.len(), n * cin * taps);
        Ok(ConvWeights { w: self.f16(w)?, bias: bias.map(|b| self.f16(&b)).transpose()?, n, cin, taps, dilation })
    }

    /// Several 1×1 convolutions over the same input, side by side in the output.
    fn fused(&self, parts: &[&Conv1d]) -> Result<ConvWeights<O>, ModelError> {
        let cin = parts[0].weight.dim(1);
        let w: Vec<f32> = parts.iter().flat_map(|c| c.weight.data().iter().copied()).collect();
        let b: Vec<f32> = parts.iter().flat_map(|c| c.bias.as_ref().map_or(vec![], |b| b.data().to_vec())).collect();
        let n = w.len() / cin;
        self.raw(&w, Some(b), n, cin, 1, 1)
    }

    fn encoder(&self, layers: &[EncoderLayer]) -> Result<Vec<EncoderLayerWeights<O>>, ModelError> {
        layers
            .iter()
            .map(|l| {
                let a = &l.attn;
                let table = |t: &Option<Tensor>| {
                    t.as_ref().map(|t| self.f16(t.data())).ok_or_else(|| {
                        ModelError::Incompatible("an encoder layer has no relative-position tables".into())
                    })?
                };
                Ok(EncoderLayerWeights {
                    qkv: self.fused(&[&a.conv_q, &a.conv_k, &a.conv_v])?,
                    o: self.conv(&a.conv_o, 1)?,
                    norm_1: [self.f16(l.norm_1.gamma.data())?, self.f16(l.norm_1.beta.data())?],
                    ffn_1: self.conv(&l.ffn.conv_1, 1)?,
                    ffn_2: self.conv(&l.ffn.conv_2, 1)?,
                    norm_2: [self.f16(l.norm_2.gamma.data())?, self.f16(l.norm_2.beta.data())?],
                    emb_rel_k: table(&a.emb_rel_k)?,
                    emb_rel_v: table(&a.emb_rel_v)?,
                    window: a.emb_rel_k.as_ref().map_or(0, |t| t.dim(0) / 2),
                })
            })
            .collect()
    }
}

/// `[out, cin, taps]` → `[out, taps · cin]`.
fn tap_major(w: &[f32], n: usize, cin: usize, taps: usize) -> Vec<f32> {
    let mut out = vec![0.0; w.len()];
    for o in 0..n {
        for ci in 0..cin {
            for t in 0..taps {
                out[(o * taps + t) * cin + ci] = w[(o * cin + ci) * taps + t];
            }
        }
    }
    out
}

impl<O: AcousticOps + ?Sized> GraphWeights<O> {
    /// Lays out and uploads `w`; returns the executor's weights and the voices' conditioner.
    pub fn load(ops: &O, cfg: &SovitsConfig, w: &SovitsWeights) -> Result<(Self, Conditioner), ModelError> {
        let up = Uploader { ops };
        let e = &w.enc_p;
        let (h, ssl) = (cfg.text.hidden_channels, cfg.quantizer.ssl_dim);

        // ssl_proj folded into the codebook rows: [V, ssl] · [ssl, H] + b.
        let v = cfg.quantizer.codebook_size;
        let mut table: Vec<f32> =
            (0..v).flat_map(|_| e.ssl_proj.bias.as_ref().map_or(vec![0.0; h], |b| b.data().to_vec())).collect();
        let proj = MatRef::transposed(e.ssl_proj.weight.data(), ssl);
        matmul_into(v, h, ssl, MatRef::rows(w.codebook.data(), ssl), proj, &mut table, true);

        let m = &e.mrte;
        let mrte = MrteWeights {
            c_pre: up.conv(&m.c_pre, 1)?,
            text_pre: up.conv(&m.text_pre, 1)?,
            q: up.conv(&m.cross_attention.conv_q, 1)?,
            kv: up.fused(&[&m.cross_attention.conv_k, &m.cross_attention.conv_v])?,
            o: up.conv(&m.cross_attention.conv_o, 1)?,
            c_post: up.conv(&m.c_post, 1)?,
        };

        let (flow, flow_conds, flipped) = Self::flow(&up, cfg, w)?;
        // The generator's widths, padded to whole 16-byte vectors (zero weights: exact).
        let mut conv_pre = padded_conv(&w.dec.conv_pre, vector_width(w.dec.conv_pre.weight.dim(0)), cfg.inter_channels);
        if flipped {
            // An odd number of couplings leaves the latent channel-reversed: conv_pre reads it so.
            conv_pre.weight = reverse_inputs(&conv_pre.weight);
        }
        let g = &cfg.generator;
        let n_kernels = g.resblock_kernel_sizes.len();
        let stages = w
            .dec
            .ups
            .iter()
            .enumerate()
            .map(|(i, ups)| {
                let (cin, cout, k) = (ups.weight.dim(0), ups.weight.dim(1), ups.weight.dim(2));
                let (cin_p, cout_p) = (vector_width(cin), vector_width(cout));
                // cols[i, j·cout + co] = Σ_ci x[i, ci] · W[ci, co, j].
                let src = ups.weight.data();
                let mut wt = vec![0.0; k * cout_p * cin_p];
                for ci in 0..cin {
                    for co in 0..cout {
                        for j in 0..k {
                            wt[(j * cout_p + co) * cin_p + ci] = src[(ci * cout + co) * k + j];
                        }
                    }
                }
                let mut bias = ups.bias.as_ref().map_or(vec![0.0; cout], |b| b.data().to_vec());
                bias.resize(cout_p, 0.0);
                let resblocks = (0..n_kernels)
                    .map(|j| {
                        let rb = &w.dec.resblocks[i * n_kernels + j];
                        rb.convs1
                            .iter()
                            .zip(&rb.convs2)
                            .zip(&g.resblock_dilations[j])
                            .map(|((c1, c2), &d)| {
                                Ok((
                                    up.conv(&padded_conv(c1, cout_p, cout_p), d)?,
                                    up.conv(&padded_conv(c2, cout_p, cout_p), 1)?,
                                ))
                            })
                            .collect::<Result<Vec<_>, ModelError>>()
                    })
                    .collect::<Result<Vec<_>, ModelError>>()?;
                Ok(StageWeights {
                    up: up.raw(&wt, None, k * cout_p, cin_p, 1, 1)?,
                    up_bias: up.f16(&bias)?,
                    k,
                    u: g.upsample_rates[i],
                    cout: cout_p,
                    resblocks,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let post = &w.dec.conv_post;
        let conv_post = padded_conv(post, 1, vector_width(post.weight.dim(1)));

        let weights = GraphWeights {
            ssl_table: up.f16(&table)?,
            text_embedding: up.f16(e.text_embedding.data())?,
            encoder_ssl: up.encoder(&e.encoder_ssl.layers)?,
            encoder_text: up.encoder(&e.encoder_text.layers)?,
            encoder_post: up.encoder(&e.encoder2.layers)?,
            mrte,
            proj: up.conv(&e.proj, 1)?,
            flow,
            conv_pre: up.conv(&conv_pre, 1)?,
            stages,
            conv_post: up.conv(&conv_post, 1)?,
        };
        let cond = &w.dec.cond;
        let conditioner = Conditioner {
            flow: flow_conds,
            flow_hidden: cfg.flow.hidden,
            generator: {
                let padded = padded_conv(cond, vector_width(cond.weight.dim(0)), cfg.gin_channels);
                (squeeze_1x1(&padded.weight), padded.bias.map_or(vec![], |b| b.data().to_vec()))
            },
        };
        Ok((weights, conditioner))
    }

    /// The couplings in the order the reverse flow runs them, their conditioning layers, and
    /// whether the latent ends channel-reversed (an odd number of flips).
    #[allow(clippy::type_complexity)]
    fn flow(
        up: &Uploader<'_, O>,
        cfg: &SovitsConfig,
        w: &SovitsWeights,
    ) -> Result<(Vec<CouplingWeights<O>>, Vec<(Tensor, Vec<f32>)>, bool), ModelError> {
        let half = cfg.inter_channels / 2;
        let hf = cfg.flow.hidden;
        let mut reversed = false; // storage = flip(latent)?
        let mut couplings = Vec::new();
        let mut conds = Vec::new();
        for layer in w.flow.iter().rev() {
            // The upstream step flips the latent, then updates its upper half from its lower half.
            // Storage already flipped: that is the natural orientation; else x0 is the stored upper
            // half reversed, and the update lands on the stored lower half reversed.
            reversed = !reversed;
            let natural = !reversed;
            let (read, write) = if natural { (0, half) } else { (half, 0) };
            let mut pre = layer.pre.clone();
            if !natural {
                pre.weight = reverse_inputs(&pre.weight);
            }
            // pre: half → hf, plus hf zero outputs that clear the skip sum.
            let mut pre_w = tap_major(pre.weight.data(), hf, half, 1);
            pre_w.resize(2 * hf * half, 0.0);
            let mut pre_b = pre.bias.as_ref().map_or(vec![0.0; hf], |b| b.data().to_vec());
            pre_b.resize(2 * hf, 0.0);

            let enc = &layer.enc;
            let mut dilation = 1;
            let mut in_layers = Vec::new();
            for c in &enc.in_layers {
                let (n, cin, taps) = (c.weight.dim(0), c.weight.dim(1), c.weight.dim(2));
                let wt = tap_major(c.weight.data(), n, cin, taps);
                let bias = c.bias.as_ref().map(|b| interleave_halves(b.data(), 1));
                in_layers.push(up.raw(&interleave_halves(&wt, taps * cin), bias, n, cin, taps, dilation)?);
                dilation *= FLOW_DILATION_RATE;
            }
            let res_skip = enc.res_skip_layers.iter().map(|c| up.conv(c, 1)).collect::<Result<Vec<_>, _>>()?;

            // post, negated (the coupling subtracts it), output order reversed when writing a
            // reversed half.
            let (pw, pb) = (&layer.post.weight, layer.post.bias.as_ref());
            let rows: Vec<usize> = if natural { (0..half).collect() } else { (0..half).rev().collect() };
            let post_w: Vec<f32> =
                rows.iter().flat_map(|&r| pw.data()[r * hf..(r + 1) * hf].iter().map(|v| -v)).collect();
            let post_b: Vec<f32> = rows.iter().map(|&r| pb.map_or(0.0, |b| -b.data()[r])).collect();

            couplings.push(CouplingWeights {
                read,
                write,
                leaves_flipped: reversed,
                pre: up.raw(&pre_w, Some(pre_b), 2 * hf, half, 1, 1)?,
                in_layers,
                res_skip,
                post: up.raw(&post_w, Some(post_b), half, hf, 1, 1)?,
            });
            let c = &enc.cond_layer;
            conds.push((squeeze_1x1(&c.weight), c.bias.as_ref().map_or(vec![], |b| b.data().to_vec())));
        }
        Ok((couplings, conds, reversed))
    }
}

/// `c` channels rounded up to whole 16-byte vectors of f16 (the kernels' loads).
pub fn vector_width(c: usize) -> usize {
    c.div_ceil(8) * 8
}

/// `c` with `out` outputs and `inp` inputs, the added ones zero (their outputs stay zero through
/// the generator, and nothing reads them with a non-zero weight).
fn padded_conv(c: &Conv1d, out: usize, inp: usize) -> Conv1d {
    let (n, cin, k) = (c.weight.dim(0), c.weight.dim(1), c.weight.dim(2));
    if (n, cin) == (out, inp) {
        return c.clone();
    }
    let mut w = vec![0.0; out * inp * k];
    for o in 0..n {
        w[o * inp * k..o * inp * k + cin * k].copy_from_slice(&c.weight.data()[o * cin * k..(o + 1) * cin * k]);
    }
    let bias = c.bias.as_ref().map(|b| {
        let mut b = b.data().to_vec();
        b.resize(out, 0.0);
        Tensor::new([out], b)
    });
    Conv1d { weight: Tensor::new([out, inp, k], w), bias }
}

/// A `[out, in, 1]` convolution weight as `[out, in]`.
fn squeeze_1x1(w: &Tensor) -> Tensor {
    Tensor::new([w.dim(0), w.dim(1)], w.data().to_vec())
}

/// `[out, in, k]` with the input channels in reverse order.
fn reverse_inputs(w: &Tensor) -> Tensor {
    let (n, cin, k) = (w.dim(0), w.dim(1), w.dim(2));
    let src = w.data();
    let mut out = vec![0.0; src.len()];
    for o in 0..n {
        for ci in 0..cin {
            let (d, s) = ((o * cin + ci) * k, (o * cin + cin - 1 - ci) * k);
            out[d..d + k].copy_from_slice(&src[s..s + k]);
        }
    }
    Tensor::new([n, cin, k], out)
}
