//! Audio: WAV files (through `hound`), Sun/NeXT `.au` files (with or without their header) and
//! sample-rate conversion.
//!
//! The resampler is a polyphase windowed-sinc filter: for a rational rate change L/M (reduced by
//! their gcd) the output phases repeat every L samples, so the L sub-filters are computed once.
//! The low-pass cutoff is 0.475 × the lower of the two rates (5 % transition band below the
//! lower Nyquist), the window a Kaiser window (β = 8.6, about 80 dB stop-band attenuation) over
//! 24 zero crossings on each side. Samples outside the signal count as zeros.

use crate::error::{Error, Result};
use std::path::Path;

/// A mono signal in [-1, 1] with its sample rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    pub rate: u32,
    pub samples: Vec<f32>,
}

/// Reads a PCM WAV file (8/16/24/32-bit integer or 32-bit float; channels are averaged).
pub fn read_wav(path: &Path) -> Result<Audio> {
    let file = path.display().to_string();
    let bad = |e: hound::Error| match e {
        hound::Error::IoError(source) => Error::Io {
            path: file.clone(),
            source,
        },
        other => Error::invalid(&file, format!("not a readable WAV file: {other}")),
    };
    let mut r = hound::WavReader::open(path).map_err(bad)?;
    let spec = r.spec();
    let ch = spec.channels.max(1) as usize;
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().collect::<std::result::Result<_, _>>().map_err(bad)?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            r.samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<std::result::Result<_, _>>()
                .map_err(bad)?
        }
    };
    let samples = interleaved
        .chunks(ch)
        .map(|c| c.iter().sum::<f32>() / c.len() as f32)
        .collect();
    Ok(Audio {
        rate: spec.sample_rate,
        samples,
    })
}

/// Reads a recording by its extension: `.au` as [`read_au`], anything else as a WAV file.
pub fn read_audio(path: &Path) -> Result<Audio> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("au") => read_au(path),
        _ => read_wav(path),
    }
}

/// Reads a Sun/NeXT `.au` file: with a `.snd` header, 8-bit mu-law, 8-bit or 16-bit linear PCM
/// at the rate it states (channels averaged); without one, the raw 8 kHz mono mu-law bytes that
/// old Unix `/dev/audio` played (saytime's voice is stored so).
pub fn read_au(path: &Path) -> Result<Audio> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: file.clone(),
        source,
    })?;
    if !bytes.starts_with(b".snd") {
        return Ok(Audio {
            rate: 8000,
            samples: bytes.iter().map(|&u| ulaw(u)).collect(),
        });
    }
    let bad = |d: &str| Error::invalid(&file, d.to_string());
    let word = |i: usize| -> Result<u32> {
        let b = bytes.get(4 * i..4 * i + 4).ok_or_else(|| bad("truncated .au header"))?;
        Ok(u32::from_be_bytes(b.try_into().expect("4 bytes")))
    };
    let (offset, size, encoding, rate, channels) = (word(1)? as usize, word(2)?, word(3)?, word(4)?, word(5)?.max(1));
    let data = bytes
        .get(offset..)
        .ok_or_else(|| bad("data offset past the end of the file"))?;
    // A size of !0 means "unknown": up to the end of the file.
    let data = &data[..(size as usize).min(data.len())];
    let interleaved: Vec<f32> = match encoding {
        1 => data.iter().map(|&u| ulaw(u)).collect(),
        2 => data.iter().map(|&b| b as i8 as f32 / 128.0).collect(),
        3 => data
            .chunks_exact(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]) as f32 / 32768.0)
            .collect(),
        other => {
            return Err(bad(&format!(
                "unsupported .au encoding {other} (mu-law, 8- or 16-bit PCM only)"
            )));
        }
    };
    if rate == 0 {
        return Err(bad("sample rate 0"));
    }
    let samples = interleaved
        .chunks(channels as usize)
        .map(|c| c.iter().sum::<f32>() / c.len() as f32)
        .collect();
    Ok(Audio { rate, samples })
}

/// One G.711 mu-law byte as a sample in [-1, 1].
pub fn ulaw(byte: u8) -> f32 {
    let u = !byte;
    let magnitude = ((((u & 0x0f) as i32) << 3) + 0x84) << ((u >> 4) & 7);
    let v = magnitude - 0x84;
    (if u & 0x80 != 0 { -v } else { v }) as f32 / 32768.0
}

/// Writes a 16-bit mono WAV (clipped to [-1, 1]); for fixtures and listening to augmented data.
pub fn write_wav(path: &Path, audio: &Audio) -> Result<()> {
    let file = path.display().to_string();
    let err = |e: hound::Error| Error::invalid(&file, format!("cannot write WAV: {e}"));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: audio.rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(err)?;
    for &s in &audio.samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .map_err(err)?;
    }
    w.finalize().map_err(err)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Modified Bessel function of the first kind, order 0 (power series; converges fast for the
/// arguments of a Kaiser window).
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, q) = (1.0, 1.0, x * x / 4.0);
    for k in 1..64 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// A resampler from `from` Hz to `to` Hz.
pub struct Resampler {
    up: usize,
    down: usize,
    /// Taps per phase are `-(half - 1) ..= half` around the input sample at or before the output
    /// time; `filters[p]` holds them for phase p (output time = k + p/up in input samples).
    half: usize,
    filters: Vec<Vec<f32>>,
}

impl Resampler {
    /// Zero crossings of the sinc kept on each side.
    const ZEROS: f64 = 24.0;
    /// Kaiser window shape.
    const BETA: f64 = 8.6;
    /// Cutoff as a fraction of the lower Nyquist frequency.
    const ROLLOFF: f64 = 0.95;

    /// Designs the filters for `from` → `to` (both positive).
    pub fn new(from: u32, to: u32) -> Result<Self> {
        if from == 0 || to == 0 {
            return Err(Error::invalid("resampler", format!("rates {from} -> {to} Hz")));
        }
        let g = gcd(from as u64, to as u64);
        let (up, down) = ((to as u64 / g) as usize, (from as u64 / g) as usize);
        if up > 1 << 16 {
            return Err(Error::invalid(
                "resampler",
                format!("rate ratio {to}/{from} needs {up} filter phases; pick rates with a larger common divisor"),
            ));
        }
        // Cutoff in cycles per input sample, and the window's half-width in input samples.
        let fc = 0.5 * Self::ROLLOFF * (up as f64 / down as f64).min(1.0);
        let width = Self::ZEROS / (2.0 * fc);
        let half = width.ceil() as usize + 1;
        let i0b = bessel_i0(Self::BETA);
        let filters = (0..up)
            .map(|p| {
                let frac = p as f64 / up as f64;
                (0..2 * half)
                    .map(|j| {
                        // Tap j reads input k0 + j - (half - 1); its distance from the output time.
                        let tau = frac - (j as f64 - (half as f64 - 1.0));
                        if tau.abs() >= width {
                            return 0.0;
                        }
                        let x = 2.0 * fc * tau;
                        let sinc = if x == 0.0 {
                            1.0
                        } else {
                            (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
                        };
                        let r = tau / width;
                        let win = bessel_i0(Self::BETA * (1.0 - r * r).max(0.0).sqrt()) / i0b;
                        (2.0 * fc * sinc * win) as f32
                    })
                    .collect()
            })
            .collect();
        Ok(Self {
            up,
            down,
            half,
            filters,
        })
    }

    /// Number of output samples for `n` input samples: ceil(n · to / from).
    pub fn output_len(&self, n: usize) -> usize {
        (n * self.up).div_ceil(self.down)
    }

    /// Resamples `x`; output sample i sits at input time i · from / to.
    pub fn process(&self, x: &[f32]) -> Vec<f32> {
        let n = self.output_len(x.len());
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let t = i * self.down;
            let (k0, p) = (t / self.up, t % self.up);
            let h = &self.filters[p];
            // Taps j read x[start + j]; keep the ones inside the signal.
            let start = k0 as isize - (self.half as isize - 1);
            let lo = (-start).max(0) as usize;
            let hi = (x.len() as isize - start).clamp(0, h.len() as isize) as usize;
            let acc: f32 = if lo < hi {
                let xs = &x[(start + lo as isize) as usize..(start + hi as isize) as usize];
                h[lo..hi].iter().zip(xs).map(|(w, v)| w * v).sum()
            } else {
                0.0
            };
            out.push(acc);
        }
        out
    }
}

/// `audio` at `rate` Hz (a copy when it already is).
pub fn resample(audio: &Audio, rate: u32) -> Result<Audio> {
    if audio.rate == rate {
        return Ok(audio.clone());
    }
    Ok(Audio {
        rate,
        samples: Resampler::new(audio.rate, rate)?.process(&audio.samples),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * hz * i as f64 / rate as f64).sin() as f32)
            .collect()
    }

    #[test]
    fn tones_below_nyquist_survive_and_above_are_removed() {
        for (from, to) in [(22050, 16000), (8000, 16000), (16000, 8000), (44100, 16000)] {
            let r = Resampler::new(from, to).unwrap();
            let n = from as usize / 2;
            let y = r.process(&tone(from, 1000.0, n));
            assert_eq!(y.len(), r.output_len(n));
            let want = tone(to, 1000.0, y.len());
            // Away from the edges (where the filter sees zeros) the tone is reproduced closely.
            let margin = 100;
            let err = (margin..y.len() - margin)
                .map(|i| (y[i] - want[i]).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 2e-3, "{from}->{to}: max error {err}");
            // A tone above the new Nyquist frequency is filtered out (when downsampling).
            if to < from {
                let hi = r.process(&tone(from, to as f64 * 0.55, n));
                let rms = (hi[margin..hi.len() - margin].iter().map(|v| v * v).sum::<f32>()
                    / (hi.len() - 2 * margin) as f32)
                    .sqrt();
                assert!(rms < 1e-3, "{from}->{to}: alias rms {rms}");
            }
        }
        assert!(Resampler::new(0, 16000).is_err());
    }

    #[test]
    fn mu_law_bytes_and_au_files() {
        // G.711: 0xff and 0x7f are the two zeros, 0x80 / 0x00 the extremes (±32124 / 32768).
        assert_eq!(ulaw(0xff), 0.0);
        assert_eq!(ulaw(0x7f), 0.0);
        assert_eq!(ulaw(0x80), 32124.0 / 32768.0);
        assert_eq!(ulaw(0x00), -32124.0 / 32768.0);
        assert_eq!(ulaw(0xfe), 8.0 / 32768.0);
        let dir = std::env::temp_dir().join(format!("testbed-au-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let raw = dir.join("raw.au");
        std::fs::write(&raw, [0xffu8, 0x80, 0x00]).unwrap();
        let a = read_audio(&raw).unwrap();
        assert_eq!((a.rate, a.samples.len()), (8000, 3));
        assert_eq!(a.samples[1], ulaw(0x80));
        // With a header: 16-bit big-endian PCM, 16 kHz, 2 channels averaged.
        let mut h = b".snd".to_vec();
        for w in [24u32, 8, 3, 16000, 2] {
            h.extend_from_slice(&w.to_be_bytes());
        }
        h.extend_from_slice(&[0x40, 0x00, 0x00, 0x00, 0xc0, 0x00, 0xc0, 0x00]);
        let p = dir.join("pcm.au");
        std::fs::write(&p, &h).unwrap();
        let b = read_audio(&p).unwrap();
        assert_eq!(b.rate, 16000);
        assert_eq!(b.samples, vec![0.25, -0.5]);
        h[15] = 9;
        std::fs::write(&p, &h).unwrap();
        let e = read_audio(&p).unwrap_err().to_string();
        assert!(e.contains("pcm.au") && e.contains("encoding 9"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wav_round_trip() {
        let dir = std::env::temp_dir().join(format!("testbed-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.wav");
        let a = Audio {
            rate: 8000,
            samples: vec![0.0, 0.5, -0.5, 1.0, -1.0],
        };
        write_wav(&p, &a).unwrap();
        let b = read_wav(&p).unwrap();
        assert_eq!(b.rate, 8000);
        for (x, y) in a.samples.iter().zip(&b.samples) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
        std::fs::write(&p, b"RIFF....not a wav").unwrap();
        let e = read_wav(&p).unwrap_err().to_string();
        assert!(e.contains("t.wav"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
