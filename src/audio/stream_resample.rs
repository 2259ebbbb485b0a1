//! Streaming fixed-ratio resampler (e.g. 32 kHz model output → 48 kHz for Opus or a sound card).
//!
//! rubato's synchronous FFT resampler works on fixed blocks; this wrapper accepts chunks of any length, buffers
//! them into blocks, drops the resampler's start-up delay and, on `finish`, pumps zeros until exactly
//! `round(n_in · out/in)` samples came out. Blocks are cut at fixed offsets from the stream start, so the output does
//! not depend on how the input was chunked (tested: whole vs random pieces are bit-identical).

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// Why a resampler could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum ResampleError {
    #[error("cannot build a {from} Hz → {to} Hz resampler: {source}")]
    Construct {
        from: u32,
        to: u32,
        #[source]
        source: rubato::ResamplerConstructionError,
    },
    #[error("resampling {from} Hz → {to} Hz failed: {source}")]
    Process {
        from: u32,
        to: u32,
        #[source]
        source: rubato::ResampleError,
    },
    #[error("internal buffer size mismatch in the {from} Hz → {to} Hz resampler: {reason}")]
    Buffer { from: u32, to: u32, reason: String },
}

/// Mono streaming resampler from `from_hz` to `to_hz` (any pair of integer rates; identity when equal).
pub struct StreamResampler {
    from_hz: u32,
    to_hz: u32,
    /// `None` when the rates are equal: samples pass through untouched.
    fft: Option<Box<Fft<f32>>>,
    block_in: usize,
    /// Input waiting for a full block (capacity `block_in`).
    pending: Vec<f32>,
    /// One block of resampler output, reused on every block.
    scratch: Vec<f32>,
    /// Output samples still to drop: the resampler's start-up delay.
    to_trim: usize,
    n_in: u64,
    n_out: u64,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("from_hz", &self.from_hz)
            .field("to_hz", &self.to_hz)
            .field("block_in", &self.block_in)
            .field("n_in", &self.n_in)
            .field("n_out", &self.n_out)
            .finish()
    }
}

impl StreamResampler {
    /// The 32 kHz → 48 kHz resampler used in front of Opus.
    pub fn new_32k_to_48k() -> Result<Self, ResampleError> {
        Self::new(32_000, 48_000)
    }

    /// A resampler with a 20 ms input block (rubato rounds it to the nearest block the ratio allows).
    /// The start-up delay is about half a block and is removed from the output.
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self, ResampleError> {
        if from_hz == to_hz {
            return Ok(Self {
                from_hz,
                to_hz,
                fft: None,
                block_in: 0,
                pending: Vec::new(),
                scratch: Vec::new(),
                to_trim: 0,
                n_in: 0,
                n_out: 0,
            });
        }
        let chunk = (from_hz as usize / 50).max(1);
        let fft = Fft::<f32>::new(from_hz as usize, to_hz as usize, chunk, 1, FixedSync::Both)
            .map_err(|source| ResampleError::Construct { from: from_hz, to: to_hz, source })?;
        let block_in = fft.input_frames_next();
        let block_out = fft.output_frames_max();
        let to_trim = fft.output_delay();
        Ok(Self {
            from_hz,
            to_hz,
            fft: Some(Box::new(fft)),
            block_in,
            pending: Vec::with_capacity(block_in),
            scratch: vec![0.0; block_out],
            to_trim,
            n_in: 0,
            n_out: 0,
        })
    }

    pub fn from_hz(&self) -> u32 {
        self.from_hz
    }

    pub fn to_hz(&self) -> u32 {
        self.to_hz
    }

    /// Output samples the resampler holds back before the first one appears (its latency, in output samples).
    pub fn latency_out(&self) -> usize {
        match &self.fft {
            Some(f) => f.output_delay() + self.scratch.len(),
            None => 0,
        }
    }

    /// Resamples a chunk of any length; returns the output that is ready (may be empty).
    pub fn push(&mut self, input: &[f32]) -> Result<Vec<f32>, ResampleError> {
        let mut out = Vec::with_capacity(self.expected_out(input.len()));
        self.push_into(input, &mut out)?;
        Ok(out)
    }

    /// Like [`push`](Self::push) but appends to `out`, so callers can reuse one buffer.
    pub fn push_into(&mut self, mut input: &[f32], out: &mut Vec<f32>) -> Result<(), ResampleError> {
        self.n_in += input.len() as u64;
        if self.fft.is_none() {
            out.extend_from_slice(input);
            self.n_out += input.len() as u64;
            return Ok(());
        }
        while !input.is_empty() {
            if self.pending.is_empty() && input.len() >= self.block_in {
                // Whole block available in the caller's slice: no copy into `pending`.
                let (block, rest) = input.split_at(self.block_in);
                self.process_block(block, out)?;
                input = rest;
                continue;
            }
            let take = (self.block_in - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() == self.block_in {
                let block = std::mem::take(&mut self.pending);
                let res = self.process_block(&block, out);
                self.pending = block;
                self.pending.clear();
                res?;
            }
        }
        Ok(())
    }

    /// Flushes the tail: after this the total output is exactly `round(n_in · to/from)` samples.
    /// The resampler is reset and can be reused for a new stream.
    pub fn finish(&mut self) -> Result<Vec<f32>, ResampleError> {
        let mut out = Vec::with_capacity(self.latency_out() + self.block_in);
        self.finish_into(&mut out)?;
        Ok(out)
    }

    /// Like [`finish`](Self::finish) but appends to `out`.
    pub fn finish_into(&mut self, out: &mut Vec<f32>) -> Result<(), ResampleError> {
        let target = self.target_len();
        if self.fft.is_some() {
            let mut block = std::mem::take(&mut self.pending);
            block.resize(self.block_in, 0.0);
            let mut res = Ok(());
            // The first iteration flushes the real tail (zero-padded); the rest pump zeros through the delay line.
            while self.n_out < target {
                res = self.process_block(&block, out);
                if res.is_err() {
                    break;
                }
                block.fill(0.0);
            }
            block.clear();
            self.pending = block;
            res?;
            let extra = (self.n_out - target) as usize;
            out.truncate(out.len().saturating_sub(extra));
        }
        self.reset();
        Ok(())
    }

    /// Forgets all state, ready for a new stream.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.n_in = 0;
        self.n_out = 0;
        if let Some(f) = self.fft.as_mut() {
            f.reset();
            self.to_trim = f.output_delay();
        }
    }

    /// `round(n_in · to/from)`: the exact output length of a finished stream.
    fn target_len(&self) -> u64 {
        let (num, den) = (self.to_hz as u64, self.from_hz as u64);
        (self.n_in * num + den / 2) / den
    }

    fn expected_out(&self, n: usize) -> usize {
        (n as u64 * self.to_hz as u64 / self.from_hz as u64) as usize + self.scratch.len()
    }

    fn process_block(&mut self, block: &[f32], out: &mut Vec<f32>) -> Result<(), ResampleError> {
        let (from, to) = (self.from_hz, self.to_hz);
        let Some(fft) = self.fft.as_mut() else {
            return Err(ResampleError::Buffer { from, to, reason: "no resampler for equal rates".into() });
        };
        let input = InterleavedSlice::new(block, 1, block.len()).map_err(|e| ResampleError::Buffer {
            from,
            to,
            reason: e.to_string(),
        })?;
        let frames_out = self.scratch.len();
        let mut output = InterleavedSlice::new_mut(&mut self.scratch, 1, frames_out)
            .map_err(|e| ResampleError::Buffer { from, to, reason: e.to_string() })?;
        let (_, produced) = fft
            .process_into_buffer(&input, &mut output, None)
            .map_err(|source| ResampleError::Process { from, to, source })?;
        let skip = self.to_trim.min(produced);
        self.to_trim -= skip;
        out.extend_from_slice(&self.scratch[skip..produced]);
        self.n_out += (produced - skip) as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(n: usize, f: f64, rate: f64) -> Vec<f32> {
        (0..n).map(|i| (0.5 * (2.0 * std::f64::consts::PI * f * i as f64 / rate).sin()) as f32).collect()
    }

    /// Tiny xorshift so tests need no extra crate.
    pub(crate) fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    fn run_chunked(rs: &mut StreamResampler, x: &[f32], seed: u64) -> Vec<f32> {
        let mut s = seed;
        let mut out = Vec::new();
        let mut i = 0;
        while i < x.len() {
            let n = (rng(&mut s) % 1500) as usize;
            let end = (i + n).min(x.len());
            out.extend(rs.push(&x[i..end]).unwrap());
            i = end;
        }
        out.extend(rs.finish().unwrap());
        out
    }

    #[test]
    fn exact_length_for_many_sizes() {
        for &(a, b) in &[(32_000u32, 48_000u32), (32_000, 24_000), (32_000, 44_100), (32_000, 32_000)] {
            let mut rs = StreamResampler::new(a, b).unwrap();
            for n in [0usize, 1, 7, 639, 640, 641, 3333, 32_000] {
                let x = sine(n, 440.0, a as f64);
                let y = run_chunked(&mut rs, &x, 7 + n as u64);
                let want = ((n as u64 * b as u64 + a as u64 / 2) / a as u64) as usize;
                assert_eq!(y.len(), want, "{a}->{b} n={n}");
            }
        }
    }

    #[test]
    fn chunking_does_not_change_output() {
        let mut seed = 99u64;
        let x: Vec<f32> = (0..20_011).map(|_| (rng(&mut seed) % 2000) as f32 / 1000.0 - 1.0).collect();
        let mut rs = StreamResampler::new_32k_to_48k().unwrap();
        let mut whole = rs.push(&x).unwrap();
        whole.extend(rs.finish().unwrap());
        for seed in [1u64, 2, 3] {
            let pieces = run_chunked(&mut rs, &x, seed);
            assert_eq!(whole, pieces, "seed {seed}");
        }
    }

    #[test]
    fn output_is_time_aligned() {
        for &to in &[48_000u32, 24_000, 44_100] {
            let f = 1000.0;
            let x = sine(32_000, f, 32_000.0);
            let mut rs = StreamResampler::new(32_000, to).unwrap();
            let y = run_chunked(&mut rs, &x, 5);
            let want = sine(y.len(), f, to as f64);
            // Skip the edges (the filter sees zeros beyond them).
            let edge = to as usize / 50;
            let err = y[edge..y.len() - edge]
                .iter()
                .zip(&want[edge..y.len() - edge])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 2e-3, "32k->{to}: max err {err}");
        }
    }
}
