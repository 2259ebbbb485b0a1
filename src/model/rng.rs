//! Counter-based random numbers (Philox4x32-10, Salmon et al. 2011), so that every draw is a
//! pure function of `(seed, purpose, step, index)`. A session's sampling is then reproducible
//! from its seed alone, independent of batching, thread count or backend: a CUDA kernel
//! computing the same Philox block draws the same numbers as this CPU code.

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// What a stream of draws is for; keeps streams of one seed independent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Purpose {
    /// Exponential race in the token sampler (one draw per vocabulary entry per step).
    Sampling = 1,
    /// The N(0,1) prior noise of the SoVITS decoder.
    PriorNoise = 2,
    /// Seeded random weights of synthetic models (property tests, benchmarks).
    RandomWeights = 3,
}

/// One Philox4x32-10 block.
pub fn philox4x32(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for _ in 0..10 {
        let p0 = (M0 as u64) * (c[0] as u64);
        let p1 = (M1 as u64) * (c[2] as u64);
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
        k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
    }
    c
}

/// The `index`-th 32-bit word of stream `(seed, purpose, step)`.
pub fn draw_u32(seed: u64, purpose: Purpose, step: u32, index: u32) -> u32 {
    let key = [seed as u32, (seed >> 32) as u32];
    philox4x32([index / 4, step, purpose as u32, 0], key)[(index % 4) as usize]
}

/// Uniform in (0, 1]: 24 random bits, never 0 (so `-ln(u)` is finite).
pub fn uniform(seed: u64, purpose: Purpose, step: u32, index: u32) -> f32 {
    ((draw_u32(seed, purpose, step, index) >> 8) + 1) as f32 * (1.0 / 16_777_216.0)
}

/// Exp(1) draw: `-ln(u)`.
pub fn exp1(seed: u64, purpose: Purpose, step: u32, index: u32) -> f32 {
    -uniform(seed, purpose, step, index).ln()
}

/// N(0,1) draw by Box–Muller over words `2·index` and `2·index + 1`.
pub fn normal(seed: u64, purpose: Purpose, step: u32, index: u32) -> f32 {
    let u1 = uniform(seed, purpose, step, 2 * index);
    let u2 = uniform(seed, purpose, step, 2 * index + 1);
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known-answer test from the Random123 distribution (kat_vectors, philox4x32_10).
    #[test]
    fn philox_known_answers() {
        assert_eq!(philox4x32([0, 0, 0, 0], [0, 0]), [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]);
        assert_eq!(
            philox4x32([0xffff_ffff; 4], [0xffff_ffff; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
    }

    #[test]
    fn draws_look_uniform_and_normal() {
        let n = 20_000;
        let u: Vec<f32> = (0..n).map(|i| uniform(7, Purpose::Sampling, 3, i)).collect();
        assert!(u.iter().all(|&x| x > 0.0 && x <= 1.0));
        let mean = u.iter().sum::<f32>() / n as f32;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        let z: Vec<f32> = (0..n).map(|i| normal(7, Purpose::PriorNoise, 0, i)).collect();
        let m = z.iter().sum::<f32>() / n as f32;
        let v = z.iter().map(|x| (x - m).powi(2)).sum::<f32>() / n as f32;
        assert!(m.abs() < 0.03 && (v - 1.0).abs() < 0.05, "{m} {v}");
        assert_ne!(draw_u32(1, Purpose::Sampling, 0, 0), draw_u32(2, Purpose::Sampling, 0, 0));
    }
}
