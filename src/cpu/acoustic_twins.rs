//! The CPU twins of the acoustic graph's kernels (`kernels/acoustic*.cu`): [`TwinOps`] runs
//! every [`AcousticOps`] operation on host buffers with the kernels' numerics — FP16 storage,
//! FP32 arithmetic, one rounding per output — so that
//!
//! * the batched graph (padding, masks, folded flips, fused epilogues) is checked against the
//!   f32 reference `cpu::sovits` on any machine (`tests/acoustic_graph.rs`), and
//! * each kernel is checked against its twin in the emulation suite (`tests/kernel_emulation`),
//!   which writes these functions' outputs as the expected values.
//!
//! The functions follow the contracts documented on the argument structs in
//! `model::acoustic_graph::ops`, written plainly (a gathered input matrix and a GEMM); speed is
//! not their purpose.

use std::marker::PhantomData;

use half::f16;
use parking_lot::Mutex;

use crate::cpu::ops::{layer_norm_slice, matmul_into, sigmoid, MatRef};
use crate::model::acoustic_graph::ops::{
    AcousticOps, Attention, Conv, Gather, Interpolate, LayerNorm, Out, OverlapAdd, PostAct, PreAct, PriorSample, Seq,
    View,
};
use crate::model::rng::{normal, Purpose};
use crate::model::ModelError;

/// A view of one of [`TwinOps`]' buffers.
#[derive(Debug)]
pub struct HostView<T> {
    buf: usize,
    start: usize,
    len: usize,
    _element: PhantomData<fn() -> T>,
}

impl<T> Clone for HostView<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for HostView<T> {}

impl<T: 'static> View for HostView<T> {
    fn len(&self) -> usize {
        self.len
    }

    fn range(self, start: usize, len: usize) -> Self {
        assert!(start + len <= self.len, "view range {start}+{len} beyond {}", self.len);
        HostView { start: self.start + start, len, ..self }
    }
}

#[derive(Default)]
struct Buffers {
    f16: Vec<Vec<f16>>,
    f32: Vec<Vec<f32>>,
    i32: Vec<Vec<i32>>,
}

/// The graph's operations on host memory.
#[derive(Default)]
pub struct TwinOps {
    buffers: Mutex<Buffers>,
}

impl TwinOps {
    pub fn new() -> Self {
        Self::default()
    }

    fn f16(&self, v: HostView<f16>) -> Vec<f32> {
        self.buffers.lock().f16[v.buf][v.start..v.start + v.len].iter().map(|h| h.to_f32()).collect()
    }

    fn i32(&self, v: HostView<i32>) -> Vec<i32> {
        self.buffers.lock().i32[v.buf][v.start..v.start + v.len].to_vec()
    }

    fn f32(&self, v: HostView<f32>) -> Vec<f32> {
        self.buffers.lock().f32[v.buf][v.start..v.start + v.len].to_vec()
    }

    /// Stores `values[i]` (rounded to FP16) at element `index(i)` of `v`, for every `Some`.
    fn store_f16(&self, v: HostView<f16>, values: impl Iterator<Item = (usize, f32)>) {
        let mut b = self.buffers.lock();
        let buf = &mut b.f16[v.buf][v.start..v.start + v.len];
        for (i, x) in values {
            buf[i] = f16::from_f32(x);
        }
    }

    fn store_f32(&self, v: HostView<f32>, values: impl Iterator<Item = (usize, f32)>) {
        let mut b = self.buffers.lock();
        let buf = &mut b.f32[v.buf][v.start..v.start + v.len];
        for (i, x) in values {
            buf[i] = x;
        }
    }

    /// Valid rows of each item of `seq`.
    fn valid(&self, seq: &Seq<Self>) -> Vec<usize> {
        self.i32(seq.lens.range(0, seq.items)).iter().map(|&l| l.max(0) as usize * seq.scale).collect()
    }
}

/// `(item, row)` of every row of a batch, with its valid length.
fn batch_rows(valid: &[usize], stride: usize) -> impl Iterator<Item = (usize, usize, bool)> + '_ {
    valid.iter().enumerate().flat_map(move |(b, &v)| (0..stride).map(move |t| (b, t, t < v)))
}

impl AcousticOps for TwinOps {
    type F16 = HostView<f16>;
    type F32 = HostView<f32>;
    type I32 = HostView<i32>;

    fn alloc_f16(&self, len: usize) -> Result<Self::F16, ModelError> {
        let mut b = self.buffers.lock();
        b.f16.push(vec![f16::ZERO; len]);
        Ok(HostView { buf: b.f16.len() - 1, start: 0, len, _element: PhantomData })
    }

    fn alloc_f32(&self, len: usize) -> Result<Self::F32, ModelError> {
        let mut b = self.buffers.lock();
        b.f32.push(vec![0.0; len]);
        Ok(HostView { buf: b.f32.len() - 1, start: 0, len, _element: PhantomData })
    }

    fn alloc_i32(&self, len: usize) -> Result<Self::I32, ModelError> {
        let mut b = self.buffers.lock();
        b.i32.push(vec![0; len]);
        Ok(HostView { buf: b.i32.len() - 1, start: 0, len, _element: PhantomData })
    }

    fn write_f16(&self, dst: Self::F16, src: &[f32]) -> Result<(), ModelError> {
        assert!(src.len() <= dst.len, "write of {} values into {}", src.len(), dst.len);
        self.store_f16(dst, src.iter().copied().enumerate());
        Ok(())
    }

    fn write_f32(&self, dst: Self::F32, src: &[f32]) -> Result<(), ModelError> {
        assert!(src.len() <= dst.len, "write of {} values into {}", src.len(), dst.len);
        self.store_f32(dst, src.iter().copied().enumerate());
        Ok(())
    }

    fn write_i32(&self, dst: Self::I32, src: &[i32]) -> Result<(), ModelError> {
        assert!(src.len() <= dst.len, "write of {} values into {}", src.len(), dst.len);
        self.buffers.lock().i32[dst.buf][dst.start..dst.start + src.len()].copy_from_slice(src);
        Ok(())
    }

    fn read_f16(&self, src: Self::F16) -> Result<Vec<f32>, ModelError> {
        Ok(self.f16(src))
    }

    fn read_f32(&self, src: Self::F32) -> Result<Vec<f32>, ModelError> {
        Ok(self.f32(src))
    }

    fn gather(&self, op: &Gather<Self>) -> Result<(), ModelError> {
        assert!(op.width.is_multiple_of(8), "a lookup of {} channels: the kernel copies 8 at a time", op.width);
        let (table, ids, valid) = (self.f16(op.table), self.i32(op.ids), self.valid(&op.seq));
        let w = op.width;
        let mut values = Vec::with_capacity(op.seq.rows() * w);
        for (r, (b, t, ok)) in batch_rows(&valid, op.seq.stride).enumerate() {
            let id = if ok { ids[b * op.ids_stride + t / op.repeat] as usize } else { 0 };
            values.extend((0..w).map(|c| (r * w + c, if ok { table[id * w + c] } else { 0.0 })));
        }
        self.store_f16(op.out, values.into_iter());
        Ok(())
    }

    fn conv(&self, op: &Conv<Self>) -> Result<(), ModelError> {
        let (cin, taps, n) = (op.cin, op.taps, op.n);
        // The kernel's 16-byte loads: the graph must keep every input in whole vectors of 8.
        assert!(
            cin.is_multiple_of(8) && op.x.ld.is_multiple_of(8) && op.x.data.start.is_multiple_of(8),
            "a convolution input of {cin} channels, {} apart, from element {}: the kernels read 8 at a time",
            op.x.ld,
            op.x.data.start
        );
        let k = taps * cin;
        let pad = op.dilation * (taps - 1) / 2;
        let (x, w, valid) = (self.f16(op.x.data), self.f16(op.w), self.valid(&op.seq));
        let stride = op.seq.stride;
        // The activated input is the tensor cores' f16 operand: rounded once more.
        let pre = |v: f32| match op.pre {
            PreAct::None => v,
            PreAct::LeakyRelu { slope, gain } => {
                let v = v * gain;
                f16::from_f32(if v >= 0.0 { v } else { v * slope }).to_f32()
            }
        };
        // The gathered input matrix [rows, taps · cin] (zeros outside each item), then one GEMM.
        let rows = op.seq.rows();
        let mut a = vec![0.0; rows * k];
        for (r, (b, t, ok)) in batch_rows(&valid, stride).enumerate() {
            if !ok {
                continue;
            }
            for tap in 0..taps {
                let Some(src) = (t + tap * op.dilation).checked_sub(pad).filter(|&s| s < valid[b]) else { continue };
                let from = (b * stride + src) * op.x.ld;
                for (dst, &v) in a[r * k + tap * cin..r * k + (tap + 1) * cin].iter_mut().zip(&x[from..from + cin]) {
                    *dst = pre(v);
                }
            }
        }
        let mut acc = vec![0.0; rows * n];
        matmul_into(rows, n, k, MatRef::rows(&a, k), MatRef::transposed(&w, k), &mut acc, false);

        let bias = op.bias.map(|v| self.f16(v));
        let row_bias = op.row_bias.map(|v| self.f16(v));
        let residual: Vec<_> = op.residual.iter().flatten().map(|r| (self.f16(r.data), r.ld)).collect();
        let width = if op.post == PostAct::Gate { n / 2 } else { n };
        let ld = match &op.out {
            Out::F16(o) => o.ld,
            Out::F32(o) => o.ld,
        };
        let mut values = Vec::with_capacity(rows * width);
        for (r, (b, _, ok)) in batch_rows(&valid, stride).enumerate() {
            let v = |c: usize| {
                acc[r * n + c] + bias.as_ref().map_or(0.0, |x| x[c]) + row_bias.as_ref().map_or(0.0, |x| x[b * n + c])
            };
            for c in 0..width {
                let out = if !ok {
                    0.0
                } else {
                    let y = match op.post {
                        PostAct::None => v(c),
                        PostAct::Relu => v(c).max(0.0),
                        PostAct::Tanh => v(c).tanh(),
                        PostAct::Gate => v(2 * c).tanh() * sigmoid(v(2 * c + 1)),
                    };
                    residual.iter().fold(y, |y, (res, rld)| y + res[r * rld + c])
                };
                values.push((r * ld + c, out));
            }
        }
        match &op.out {
            Out::F16(o) => self.store_f16(o.data, values.into_iter()),
            Out::F32(o) => self.store_f32(o.data, values.into_iter()),
        }
        Ok(())
    }

    fn overlap_add(&self, op: &OverlapAdd<Self>) -> Result<(), ModelError> {
        let (cols, bias, valid) = (self.f16(op.cols), self.f16(op.bias), self.valid(&op.seq_in));
        let (k, u, cout) = (op.k, op.u, op.cout);
        let pad = (k - u) / 2;
        let stride_in = op.seq_in.stride;
        let mut values = Vec::new();
        for b in 0..op.seq_in.items {
            for o in 0..stride_in * u {
                let row = b * stride_in * u + o;
                for c in 0..cout {
                    let mut v = 0.0;
                    if o < valid[b] * u {
                        v = bias[c];
                        let q = o + pad;
                        for j in (q % u..k.min(q + 1)).step_by(u) {
                            let i = (q - j) / u;
                            if i < valid[b] {
                                v += cols[(b * stride_in + i) * k * cout + j * cout + c];
                            }
                        }
                    }
                    values.push((row * cout + c, v));
                }
            }
        }
        self.store_f16(op.out, values.into_iter());
        Ok(())
    }

    fn attention(&self, op: &Attention<Self>) -> Result<(), ModelError> {
        let (q, k, v) = (self.f16(op.q.data), self.f16(op.k.data), self.f16(op.v.data));
        let (qv, kv) = (self.valid(&op.q_seq), self.valid(&op.k_seq));
        let rel = op.relative.map(|r| (self.f16(r.emb_k), self.f16(r.emb_v), r.window));
        let hd = op.head_dim;
        let mut values = Vec::new();
        for b in 0..op.q_seq.items {
            for i in 0..op.q_seq.stride {
                let qrow = (b * op.q_seq.stride + i) * op.q.ld;
                let orow = (b * op.q_seq.stride + i) * op.out.ld;
                for h in 0..op.heads {
                    let mut out = vec![0.0f32; hd];
                    if i < qv[b] && kv[b] > 0 {
                        let qs: Vec<f32> = q[qrow + h * hd..qrow + (h + 1) * hd].iter().map(|x| x * op.scale).collect();
                        let key = |j: usize| (b * op.k_seq.stride + j) * op.k.ld + h * hd;
                        let val = |j: usize| (b * op.k_seq.stride + j) * op.v.ld + h * hd;
                        let band = |j: usize| {
                            rel.as_ref().and_then(|(_, _, w)| (j + w).checked_sub(i).filter(|&r| r <= 2 * w))
                        };
                        let mut p: Vec<f32> = (0..kv[b])
                            .map(|j| {
                                let mut s: f32 = qs.iter().zip(&k[key(j)..key(j) + hd]).map(|(a, b)| a * b).sum();
                                if let (Some(r), Some((ek, _, _))) = (band(j), &rel) {
                                    s += qs.iter().zip(&ek[r * hd..(r + 1) * hd]).map(|(a, b)| a * b).sum::<f32>();
                                }
                                s
                            })
                            .collect();
                        crate::cpu::ops::softmax_in_place(&mut p);
                        for (j, &pj) in p.iter().enumerate() {
                            out.iter_mut().zip(&v[val(j)..val(j) + hd]).for_each(|(o, x)| *o += pj * x);
                            if let (Some(r), Some((_, ev, _))) = (band(j), &rel) {
                                out.iter_mut().zip(&ev[r * hd..(r + 1) * hd]).for_each(|(o, x)| *o += pj * x);
                            }
                        }
                    }
                    values.extend(out.into_iter().enumerate().map(|(c, x)| (orow + h * hd + c, x)));
                }
            }
        }
        self.store_f16(op.out.data, values.into_iter());
        Ok(())
    }

    fn layer_norm(&self, op: &LayerNorm<Self>) -> Result<(), ModelError> {
        let (x, res) = (self.f16(op.x), self.f16(op.residual));
        let (gamma, beta) = (self.f16(op.gamma), self.f16(op.beta));
        let c = op.cols;
        let mut values = Vec::with_capacity(op.rows * c);
        for r in 0..op.rows {
            let mut row: Vec<f32> = (0..c).map(|i| x[r * c + i] + res[r * c + i]).collect();
            layer_norm_slice(&mut row, &gamma, &beta, op.eps);
            values.extend(row.into_iter().enumerate().map(|(i, v)| (r * c + i, v)));
        }
        self.store_f16(op.out, values.into_iter());
        Ok(())
    }

    fn interpolate(&self, op: &Interpolate<Self>) -> Result<(), ModelError> {
        let (x, vin, vout) = (self.f16(op.x), self.valid(&op.seq_in), self.valid(&op.seq_out));
        let c = op.width;
        let mut values = Vec::new();
        for b in 0..op.seq_out.items {
            let (t, tout) = (vin[b], vout[b]);
            for o in 0..op.seq_out.stride {
                let row = (b * op.seq_out.stride + o) * c;
                if o >= tout || t == 0 {
                    values.extend((0..c).map(|i| (row + i, 0.0)));
                    continue;
                }
                // cpu::ops::interpolate_linear's arithmetic, per item.
                let scale = t as f32 / tout as f32;
                let src = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (src as usize).min(t - 1);
                let i1 = (i0 + 1).min(t - 1);
                let l = src - i0 as f32;
                let at = |i: usize| (b * op.seq_in.stride + i) * c;
                values.extend((0..c).map(|i| (row + i, (1.0 - l) * x[at(i0) + i] + l * x[at(i1) + i])));
            }
        }
        self.store_f16(op.out, values.into_iter());
        Ok(())
    }

    fn prior_sample(&self, op: &PriorSample<Self>) -> Result<(), ModelError> {
        let (stats, valid) = (self.f16(op.stats), self.valid(&op.seq));
        let (seeds, first) = (self.i32(op.seeds), self.i32(op.first_frame));
        let scales = self.f32(op.noise_scale);
        let c = op.width;
        let mut values = Vec::new();
        for (r, (b, t, ok)) in batch_rows(&valid, op.seq.stride).enumerate() {
            let seed = seeds[2 * b] as u32 as u64 | (seeds[2 * b + 1] as u32 as u64) << 32;
            for ch in 0..c {
                let z = if ok {
                    let (m, logs) = (stats[r * 2 * c + ch], stats[r * 2 * c + c + ch]);
                    let eps = normal(seed, Purpose::PriorNoise, ch as u32, (first[b] as usize + t) as u32);
                    m + eps * logs.exp() * scales[b]
                } else {
                    0.0
                };
                values.push((r * c + ch, z));
            }
        }
        self.store_f16(op.out, values.into_iter());
        Ok(())
    }
}
