//! librosa's `resample(res_type="soxr_hq")`, which upstream's `librosa.load(path, sr=16000)` uses
//! for the HuBERT input (research/upstream-v2.md §3.1 step 1), through libsoxr itself (the `soxr`
//! crate over the system library, as python-soxr does): the `SOXR_HQ` recipe (20-bit precision),
//! one thread, float32, the whole clip in one stream then drained, and librosa's
//! `fix_length(ceil(n · to / from))`. With Debian's libsoxr 0.1.3 this is sample-exact against the
//! fixture's upstream output (tests/parity_hubert.rs).

use soxr::format::Mono;
use soxr::params::{QualityRecipe, QualitySpec, RuntimeSpec};
use soxr::Soxr;

use super::AudioError;

/// Resamples mono `x` from `from` Hz to `to` Hz exactly like librosa's `soxr_hq`.
pub fn resample_soxr_hq(x: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
    for rate in [from, to] {
        if rate == 0 {
            return Err(AudioError::InvalidRate { rate });
        }
    }
    let want = (x.len() as u128 * to as u128).div_ceil(from as u128) as usize;
    if from == to || x.is_empty() {
        return Ok(x.to_vec());
    }
    let soxr_err = |e: soxr::Error| AudioError::Resample { from, to, reason: e.to_string() };
    let quality = QualitySpec::new(QualityRecipe::high());
    let mut s =
        Soxr::<Mono<f32>>::new_with_params(from as f64, to as f64, quality, RuntimeSpec::new(1)).map_err(soxr_err)?;
    // Room for the whole output plus the filter's tail; soxr writes at most the space it is given.
    let mut out = vec![0.0f32; want + 1024];
    let mut consumed = 0;
    let mut produced = 0;
    while consumed < x.len() {
        let p = s.process(&x[consumed..], &mut out[produced..]).map_err(soxr_err)?;
        consumed += p.input_frames;
        produced += p.output_frames;
        if p.input_frames == 0 && p.output_frames == 0 {
            out.resize(out.len() * 2, 0.0);
        }
    }
    loop {
        if produced == out.len() {
            out.resize(out.len() + 1024, 0.0);
        }
        let n = s.drain(&mut out[produced..]).map_err(soxr_err)?;
        if n == 0 {
            break;
        }
        produced += n;
    }
    out.truncate(produced);
    // librosa.util.fix_length: zero-pad or trim to ceil(n · to / from).
    out.resize(want, 0.0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rule_and_tone() {
        let x: Vec<f32> =
            (0..44_100).map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 44_100.0).sin()).collect();
        let y = resample_soxr_hq(&x, 44_100, 16_000).unwrap();
        assert_eq!(y.len(), 16_000);
        for (i, v) in y.iter().enumerate().skip(200).take(15_000) {
            let expect = (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 16_000.0).sin();
            assert!((v - expect).abs() < 1e-3, "{i}: {v} vs {expect}");
        }
        assert_eq!(resample_soxr_hq(&[0.5; 7], 16_000, 16_000).unwrap(), vec![0.5; 7]);
        assert!(resample_soxr_hq(&[], 44_100, 16_000).unwrap().is_empty());
        assert!(matches!(resample_soxr_hq(&x, 0, 16_000), Err(AudioError::InvalidRate { rate: 0 })));
    }
}
