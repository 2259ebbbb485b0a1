//! Seeded test data for the emulation cases: a small generator keyed by the case's name (so a
//! case's data do not depend on which other cases exist), f16-representable values for what the
//! kernels read as f16, and the binary16 spacing the tolerances are built from.

use half::f16;

/// splitmix64, seeded with the FNV-1a hash of a key.
pub struct Rng(u64);

impl Rng {
    pub fn new(key: &str) -> Rng {
        Rng(key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `[lo, hi)` (24 random bits).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * (self.next_u64() >> 40) as f32 * (1.0 / 16_777_216.0)
    }

    /// `n` values uniform in `[lo, hi)`, rounded to f16.
    pub fn halves(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f16> {
        (0..n).map(|_| f16::from_f32(self.uniform(lo, hi))).collect()
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// f16 values as the f32 the CPU twins take (exact).
pub fn widen(h: &[f16]) -> Vec<f32> {
    h.iter().map(|v| v.to_f32()).collect()
}

/// f32 values stored as f16 (only for values already representable, or as the kernel rounds).
pub fn narrow(v: &[f32]) -> Vec<f16> {
    v.iter().map(|&x| f16::from_f32(x)).collect()
}

/// `n` f16 NaNs: an output that must be written everywhere, or a position never written.
pub fn nan16(n: usize) -> Vec<f16> {
    vec![f16::NAN; n]
}

/// One unit in the last place of binary16 at `|x|` (the subnormal spacing below 2⁻¹⁴): the
/// rounding of an f16 output is within half of it.
pub fn ulp16(x: f64) -> f64 {
    let a = x.abs();
    if a < 6.103_515_625e-5 {
        return 5.960_464_477_539_063e-8;
    }
    let exponent = ((a.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    2f64.powi(exponent - 10)
}
