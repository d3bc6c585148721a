//! MFCC features (mel-frequency cepstral coefficients), the input of the Wav2Letter model.
//!
//! Per frame: optional pre-emphasis (y[n] = x[n] − a·x[n−1], over the whole signal), a periodic
//! Hann window, the power spectrum |FFT|² (rustfft, zero-padded to `fft` points), a bank of
//! triangular mel filters, the natural log (floored at 1e-10), and an orthonormal DCT-II.
//!
//! Mel scale: HTK, mel(f) = 2595·log10(1 + f/700). The filters' corner frequencies are
//! `mels + 2` points equally spaced in mel between `fmin` and `fmax`; filter m rises linearly
//! (in Hz) from corner m to corner m+1 and falls to corner m+2, peak 1, no area normalisation
//! (torchaudio's `melscale_fbanks(..., norm=None, mel_scale="htk")`).
//!
//! Defaults (16 kHz): 25 ms frames (400 samples), 10 ms hop (160), a 512-point FFT, 40 filters
//! from 20 Hz to 4 kHz, 40 coefficients (torchaudio's Wav2Letter takes 40 MFCC features). The top
//! is 4 kHz because the real test recordings are 8 kHz telephone prompts: features above their
//! Nyquist frequency would separate synthetic training speech from real speech by band alone.
//! A signal of `hop·(T−1) + frame` samples gives exactly T frames (no padding here).

use crate::error::{Error, Result};
use rustfft::num_complex::Complex32;
use std::sync::Arc;

/// MFCC parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct MfccConfig {
    /// Sample rate of the input, Hz.
    pub rate: u32,
    /// Samples per frame.
    pub frame: usize,
    /// Samples between frame starts.
    pub hop: usize,
    /// FFT size (≥ frame; the frame is zero-padded).
    pub fft: usize,
    /// Number of mel filters.
    pub mels: usize,
    /// Number of cepstral coefficients kept (≤ mels).
    pub coeffs: usize,
    /// Lowest and highest filter corner, Hz.
    pub fmin: f32,
    pub fmax: f32,
    /// Pre-emphasis coefficient (0.97 is usual), or none.
    pub preemphasis: Option<f32>,
}

impl Default for MfccConfig {
    fn default() -> Self {
        Self {
            rate: 16000,
            frame: 400,
            hop: 160,
            fft: 512,
            mels: 40,
            coeffs: 40,
            fmin: 20.0,
            fmax: 4000.0,
            preemphasis: Some(0.97),
        }
    }
}

/// HTK mel scale.
pub fn hz_to_mel(f: f64) -> f64 {
    2595.0 * (1.0 + f / 700.0).log10()
}

/// Inverse of [`hz_to_mel`].
pub fn mel_to_hz(m: f64) -> f64 {
    700.0 * (10f64.powf(m / 2595.0) - 1.0)
}

/// One triangular filter: weights for FFT bins `start..start + weights.len()`.
#[derive(Clone, Debug)]
struct Filter {
    start: usize,
    weights: Vec<f32>,
}

/// A planned MFCC computation (FFT plan, window, filters and DCT matrix made once).
pub struct Mfcc {
    cfg: MfccConfig,
    fft: Arc<dyn rustfft::Fft<f32>>,
    window: Vec<f32>,
    filters: Vec<Filter>,
    /// `coeffs × mels`, row-major.
    dct: Vec<f32>,
}

impl Mfcc {
    /// Plans the computation; the configuration is checked.
    pub fn new(cfg: MfccConfig) -> Result<Self> {
        let bad = |d: String| Error::invalid("mfcc", d);
        if cfg.frame == 0 || cfg.hop == 0 || cfg.fft < cfg.frame {
            return Err(bad(format!(
                "frame {}, hop {}, fft {}: need frame, hop > 0 and fft >= frame",
                cfg.frame, cfg.hop, cfg.fft
            )));
        }
        if cfg.mels == 0 || cfg.coeffs == 0 || cfg.coeffs > cfg.mels {
            return Err(bad(format!("{} coefficients of {} mel filters", cfg.coeffs, cfg.mels)));
        }
        let nyquist = cfg.rate as f32 / 2.0;
        if !(0.0 <= cfg.fmin && cfg.fmin < cfg.fmax && cfg.fmax <= nyquist) {
            return Err(bad(format!(
                "filter range {}..{} Hz is not inside 0..{nyquist} Hz",
                cfg.fmin, cfg.fmax
            )));
        }
        let window = (0..cfg.frame)
            .map(|n| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / cfg.frame as f64).cos()) as f32)
            .collect();
        let (lo, hi) = (hz_to_mel(cfg.fmin as f64), hz_to_mel(cfg.fmax as f64));
        let corners: Vec<f64> = (0..cfg.mels + 2)
            .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (cfg.mels + 1) as f64))
            .collect();
        let bins = cfg.fft / 2 + 1;
        let bin_hz = cfg.rate as f64 / cfg.fft as f64;
        let filters = (0..cfg.mels)
            .map(|m| {
                let (a, c, b) = (corners[m], corners[m + 1], corners[m + 2]);
                let w: Vec<(usize, f32)> = (0..bins)
                    .filter_map(|k| {
                        let f = k as f64 * bin_hz;
                        let v = ((f - a) / (c - a)).min((b - f) / (b - c));
                        (v > 0.0).then_some((k, v as f32))
                    })
                    .collect();
                let start = w.first().map_or(0, |&(k, _)| k);
                Filter {
                    start,
                    weights: w.into_iter().map(|(_, v)| v).collect(),
                }
            })
            .collect();
        let m = cfg.mels;
        let dct = (0..cfg.coeffs)
            .flat_map(|k| {
                let s = if k == 0 {
                    (1.0 / m as f64).sqrt()
                } else {
                    (2.0 / m as f64).sqrt()
                };
                (0..m).map(move |n| (s * (std::f64::consts::PI * k as f64 * (n as f64 + 0.5) / m as f64).cos()) as f32)
            })
            .collect();
        let fft = rustfft::FftPlanner::new().plan_fft_forward(cfg.fft);
        Ok(Self {
            cfg,
            fft,
            window,
            filters,
            dct,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MfccConfig {
        &self.cfg
    }

    /// Frames for `n` samples: 1 + (n − frame)/hop, or 0 when shorter than a frame.
    pub fn frames(&self, n: usize) -> usize {
        if n < self.cfg.frame {
            0
        } else {
            1 + (n - self.cfg.frame) / self.cfg.hop
        }
    }

    /// Samples needed for exactly `t` frames.
    pub fn samples_for(&self, t: usize) -> usize {
        if t == 0 {
            0
        } else {
            self.cfg.hop * (t - 1) + self.cfg.frame
        }
    }

    /// The log mel energies `[frames × mels]` (row per frame).
    pub fn log_mel(&self, samples: &[f32]) -> Vec<f32> {
        let c = &self.cfg;
        let x: Vec<f32> = match c.preemphasis {
            Some(a) => (0..samples.len())
                .map(|i| samples[i] - if i > 0 { a * samples[i - 1] } else { 0.0 })
                .collect(),
            None => samples.to_vec(),
        };
        let t = self.frames(x.len());
        let mut out = Vec::with_capacity(t * c.mels);
        let mut buf = vec![Complex32::new(0.0, 0.0); c.fft];
        let mut scratch = vec![Complex32::new(0.0, 0.0); self.fft.get_inplace_scratch_len()];
        let mut power = vec![0.0f32; c.fft / 2 + 1];
        for f in 0..t {
            let frame = &x[f * c.hop..f * c.hop + c.frame];
            for (i, b) in buf.iter_mut().enumerate() {
                *b = Complex32::new(if i < c.frame { frame[i] * self.window[i] } else { 0.0 }, 0.0);
            }
            self.fft.process_with_scratch(&mut buf, &mut scratch);
            for (p, b) in power.iter_mut().zip(&buf) {
                *p = b.norm_sqr();
            }
            for filt in &self.filters {
                let e: f32 = filt.weights.iter().zip(&power[filt.start..]).map(|(w, p)| w * p).sum();
                out.push(e.max(1e-10).ln());
            }
        }
        out
    }

    /// MFCC features `[coeffs × frames]` (row per coefficient, the layout of a 1-D conv input).
    pub fn compute(&self, samples: &[f32]) -> Vec<f32> {
        let (m, k) = (self.cfg.mels, self.cfg.coeffs);
        let lm = self.log_mel(samples);
        let t = lm.len() / m;
        let mut out = vec![0.0f32; k * t];
        for f in 0..t {
            let row = &lm[f * m..(f + 1) * m];
            for c in 0..k {
                out[c * t + f] = self.dct[c * m..(c + 1) * m].iter().zip(row).map(|(d, v)| d * v).sum();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_checked() {
        let base = MfccConfig::default();
        assert!(
            Mfcc::new(MfccConfig {
                fft: 256,
                ..base.clone()
            })
            .is_err()
        );
        assert!(
            Mfcc::new(MfccConfig {
                coeffs: 41,
                ..base.clone()
            })
            .is_err()
        );
        assert!(
            Mfcc::new(MfccConfig {
                fmax: 9000.0,
                ..base.clone()
            })
            .is_err()
        );
        let m = Mfcc::new(base).unwrap();
        assert_eq!(m.frames(m.samples_for(100)), 100);
        assert_eq!(m.frames(399), 0);
        assert!((mel_to_hz(hz_to_mel(1234.5)) - 1234.5).abs() < 1e-9);
        assert!((hz_to_mel(700.0) - 2595.0 * 2f64.log10()).abs() < 1e-9);
    }
}
