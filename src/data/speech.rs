//! Spoken digits: train on synthetic speech, test on synthetic voices never trained on and on
//! real human speech.
//!
//! - Training (`train`): the ten digit words spoken by espeak-ng (`scripts/fetch-data.sh
//!   speech-synth`) in 8 English accents × 20 voice variants × 2 speed/pitch renditions, 3,200
//!   utterances. Each copy of an utterance gets a seeded random time shift (up to ±`shift_ms`)
//!   and, with probability `noise_prob`, white noise at an SNR drawn from `snr_db`.
//! - Validation (`val`): 4 other voice variants (640 utterances), clean and centred. Training
//!   settings are chosen on these, never on a test set.
//! - Synthetic test (`test`): 8 more voice variants (1,280 utterances), clean and centred. Still
//!   espeak-ng: it measures generalisation to unseen synthetic voices, not to people.
//! - Real (`real`): REAL human speech, 3 speakers × one recording per digit (30 utterances,
//!   8 kHz; `speech-real/manifest.tsv` names speaker and source). `real_copies` adds seeded
//!   perturbed copies (shift and 20–40 dB noise) of each.
//!
//! Every utterance is resampled to 16 kHz, its active part (10 ms blocks within 35 dB of the
//! loudest) placed in the middle of a 1 s window (cropped when longer), scaled to an RMS of 0.1
//! over the active part, dithered (Gaussian, σ = 1e-4), and turned into `[40, 100]` MFCC frames
//! (see [`super::mfcc`]); with `cmvn` each coefficient is then normalised to mean 0 and variance
//! 1 over the utterance, which removes channel differences between synthetic and telephone
//! speech. Features are cached in `data/speech/features-<hash>.safetensors`, keyed by the
//! configuration and the file list, so later loads are fast.

use super::audio::{Audio, read_audio, resample};
use super::mfcc::{Mfcc, MfccConfig};
use super::{Dataset, data_dir, require};
use crate::error::{Error, Result};
use crate::nn::io::{load_safetensors, save_safetensors};
use crate::nn::tensor::F32Tensor;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The keywords, by label.
pub const WORDS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// How utterances become features.
#[derive(Clone, Debug, PartialEq)]
pub struct SpeechConfig {
    pub mfcc: MfccConfig,
    /// Frames per utterance (100 = 1 s at a 10 ms hop).
    pub frames: usize,
    /// Augmented copies of each synthetic training utterance.
    pub copies: usize,
    /// Largest time shift of a training copy, ms.
    pub shift_ms: f32,
    /// Probability that a training copy gets noise, and its SNR range in dB.
    pub noise_prob: f32,
    pub snr_db: (f32, f32),
    /// Perturbed copies of each real recording added after the originals.
    pub real_copies: usize,
    /// Per-utterance mean and variance normalisation of each coefficient.
    pub cmvn: bool,
    /// Seed of every random choice above.
    pub seed: u64,
}

impl Default for SpeechConfig {
    fn default() -> Self {
        Self {
            mfcc: MfccConfig::default(),
            frames: 100,
            copies: 2,
            shift_ms: 100.0,
            noise_prob: 0.8,
            snr_db: (10.0, 40.0),
            real_copies: 0,
            cmvn: true,
            seed: 0x005b_eec4,
        }
    }
}

/// The speech sets, features `[n, coeffs, frames]`.
#[derive(Clone, Debug)]
pub struct SpeechSets {
    /// Synthetic voices, augmented copies.
    pub train: Dataset,
    /// Other synthetic voices, clean: for choosing training settings.
    pub val: Dataset,
    /// Yet other synthetic voices, clean: the synthetic test set.
    pub test: Dataset,
    /// Real human recordings (then their perturbed copies, when asked for).
    pub real: Dataset,
}

/// Random choices for one utterance copy.
#[derive(Clone, Copy, Debug, Default)]
pub struct Perturb {
    /// Shift of the word from the window centre, samples (positive = later).
    pub shift: isize,
    /// Added white noise at this SNR (dB), or none.
    pub snr_db: Option<f32>,
}

impl Perturb {
    /// A seeded draw: shift uniform in ±`max_shift` samples, noise with probability `noise_prob`.
    pub fn draw(rng: &mut impl Rng, max_shift: usize, noise_prob: f32, snr_db: (f32, f32)) -> Self {
        let shift = if max_shift == 0 {
            0
        } else {
            (rng.next_u64() % (2 * max_shift as u64 + 1)) as isize - max_shift as isize
        };
        let snr_db = (uniform(rng) < noise_prob).then(|| snr_db.0 + (snr_db.1 - snr_db.0) * uniform(rng));
        Self { shift, snr_db }
    }
}

fn uniform(rng: &mut impl Rng) -> f32 {
    (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32
}

/// A standard normal draw (Box–Muller).
fn gaussian(rng: &mut impl Rng) -> f32 {
    let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// The active part of a signal: from the first to the last 10 ms block whose energy is within
/// 35 dB of the loudest block. The whole signal when it is silent.
pub fn active_range(x: &[f32], rate: u32) -> std::ops::Range<usize> {
    let block = (rate as usize / 100).max(1);
    let energy: Vec<f32> = x
        .chunks(block)
        .map(|c| c.iter().map(|v| v * v).sum::<f32>() / c.len() as f32)
        .collect();
    let peak = energy.iter().copied().fold(0.0f32, f32::max);
    if peak <= 0.0 {
        return 0..x.len();
    }
    let thr = peak * 10f32.powf(-3.5);
    let first = energy.iter().position(|&e| e >= thr).unwrap_or(0);
    let last = energy.iter().rposition(|&e| e >= thr).unwrap_or(energy.len() - 1);
    first * block..((last + 1) * block).min(x.len())
}

/// Places the active part of `x` (16 kHz) in a window of `len` samples, centred and moved by
/// `p.shift`, scaled to an active RMS of 0.1, with noise and dither from `rng`.
pub fn place(x: &[f32], rate: u32, len: usize, p: Perturb, rng: &mut impl Rng) -> Vec<f32> {
    let act = active_range(x, rate);
    let word = &x[act.clone()];
    let rms = (word.iter().map(|v| v * v).sum::<f32>() / word.len().max(1) as f32).sqrt();
    let gain = if rms > 0.0 { 0.1 / rms } else { 1.0 };
    // Offset of the word's first sample in the window (negative: the word starts before it).
    let start = (len as isize - word.len() as isize) / 2 + p.shift;
    let mut out = vec![0.0f32; len];
    for (i, o) in out.iter_mut().enumerate() {
        let k = i as isize - start;
        if k >= 0 && (k as usize) < word.len() {
            *o = word[k as usize] * gain;
        }
    }
    let noise_sigma = p.snr_db.map_or(0.0, |snr| 0.1 * 10f32.powf(-snr / 20.0));
    for o in &mut out {
        *o += (noise_sigma + 1e-4) * gaussian(rng);
    }
    out
}

/// Features `[coeffs × frames]` of one placed utterance, with optional CMVN.
pub fn features(mfcc: &Mfcc, window: &[f32], cmvn: bool) -> Vec<f32> {
    let mut f = mfcc.compute(window);
    if cmvn {
        let t = mfcc.frames(window.len()).max(1);
        for row in f.chunks_mut(t) {
            let mean = row.iter().sum::<f32>() / t as f32;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / t as f32;
            let inv = 1.0 / (var.sqrt() + 1e-5);
            for v in row {
                *v = (*v - mean) * inv;
            }
        }
    }
    f
}

/// One recording to label, read and resampled to the feature rate.
struct Utterance {
    audio: Audio,
    label: usize,
}

fn read_utterance(path: &Path, label: usize, rate: u32) -> Result<Utterance> {
    Ok(Utterance {
        audio: resample(&read_audio(path)?, rate)?,
        label,
    })
}

/// Features of `copies` perturbed versions of each utterance (or one clean version when
/// `perturb` is false), computed in parallel, each copy with its own seeded generator.
fn featurise(
    name: &str,
    utts: &[Utterance],
    cfg: &SpeechConfig,
    mfcc: &Mfcc,
    copies: usize,
    perturb: bool,
    stream: u64,
) -> Result<Dataset> {
    let len = mfcc.samples_for(cfg.frames);
    let rate = cfg.mfcc.rate;
    let max_shift = (cfg.shift_ms / 1000.0 * rate as f32) as usize;
    let jobs: Vec<(usize, usize)> = (0..utts.len()).flat_map(|u| (0..copies).map(move |c| (u, c))).collect();
    let feats: Vec<Vec<f32>> = jobs
        .par_iter()
        .map(|&(u, c)| {
            let seed = cfg.seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ((u as u64) << 20 | c as u64);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let p = if perturb {
                Perturb::draw(&mut rng, max_shift, cfg.noise_prob, cfg.snr_db)
            } else {
                Perturb::default()
            };
            let w = place(&utts[u].audio.samples, rate, len, p, &mut rng);
            features(mfcc, &w, cfg.cmvn)
        })
        .collect();
    let n = feats.len();
    let data = feats.into_iter().flatten().collect();
    let labels = jobs.iter().map(|&(u, _)| utts[u].label).collect();
    Dataset::new(
        name,
        F32Tensor::from_vec(&[n, cfg.mfcc.coeffs, cfg.frames], data)?,
        labels,
        WORDS.len(),
    )
}

/// The split of a synthetic utterance: disjoint voice variants in each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Train,
    Val,
    Test,
}

/// A recording listed in a manifest: its file, its word, and the split (synthetic) or the
/// speaker (real) in `group`.
struct Entry {
    path: PathBuf,
    label: usize,
    group: String,
}

/// Reads a `manifest.tsv` (a header line, then tab-separated lines of `fields` fields: the file
/// relative to `dir`, the word, ...); `group` is the index of the field kept as the entry's group.
fn manifest(dir: &Path, fields: usize, group: usize) -> Result<Vec<Entry>> {
    let path = dir.join("manifest.tsv");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |d: &str| Error::invalid(format!("{}:{}", path.display(), i + 1), d.to_string());
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != fields {
            return Err(bad(&format!("expected {fields} tab-separated fields")));
        }
        let label = WORDS
            .iter()
            .position(|w| *w == f[1])
            .ok_or_else(|| bad("unknown word"))?;
        if f[0].contains("..") || f[0].starts_with('/') {
            return Err(bad("file path leaves the data set folder"));
        }
        out.push(Entry {
            path: dir.join(f[0]),
            label,
            group: f[group].to_string(),
        });
    }
    Ok(out)
}

/// The synthetic manifest (file, word, accent, variant, speed, pitch, split), with its splits.
fn synth_manifest(dir: &Path) -> Result<Vec<(Entry, Part)>> {
    let path = dir.join("manifest.tsv");
    manifest(dir, 7, 6)?
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let part = match e.group.as_str() {
                "train" => Part::Train,
                "val" => Part::Val,
                "test" => Part::Test,
                other => {
                    return Err(Error::invalid(
                        format!("{}:{}", path.display(), i + 2),
                        format!(
                            "split `{other}` is not train, val or test (an older set? run scripts/fetch-data.sh speech)"
                        ),
                    ));
                }
            };
            Ok((e, part))
        })
        .collect()
}

/// FNV-1a, for cache keys.
fn fnv(bytes: &[u8], mut h: u64) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// The speech sets for `cfg` from the data directory, through the cache in `data/speech/`.
pub fn load(cfg: &SpeechConfig) -> Result<SpeechSets> {
    let synth = require("speech", "speech-synth/manifest.tsv")?;
    let real = require("speech", "speech-real/manifest.tsv")?;
    let parent = |p: &Path| p.parent().expect("a file in a folder").to_path_buf();
    load_from(cfg, &parent(&synth), &parent(&real), &data_dir().join("speech"))
}

/// The speech sets from `synth_dir` and `real_dir` (each with its `manifest.tsv`), from a cache
/// file in `cache_dir` when one matches the configuration, both manifests and the synthetic
/// set's PROVENANCE (its espeak-ng version and hash).
pub fn load_from(cfg: &SpeechConfig, synth_dir: &Path, real_dir: &Path, cache_dir: &Path) -> Result<SpeechSets> {
    let mut key = fnv(format!("speech-v2 {cfg:?}").as_bytes(), 0xcbf2_9ce4_8422_2325);
    for file in [
        synth_dir.join("manifest.tsv"),
        real_dir.join("manifest.tsv"),
        synth_dir.join("PROVENANCE"),
    ] {
        match std::fs::read(&file) {
            Ok(bytes) => key = fnv(&bytes, key),
            Err(_) if file.ends_with("PROVENANCE") => {}
            Err(source) => {
                return Err(Error::Io {
                    path: file.display().to_string(),
                    source,
                });
            }
        }
    }
    let cache = cache_dir.join(format!("features-{key:016x}.safetensors"));
    // A cache file that cannot be read (interrupted write, older layout) is recomputed.
    if let Ok(sets) = from_cache(&cache, &human_name(&manifest(real_dir, 4, 2)?)) {
        return Ok(sets);
    }
    let sets = compute(cfg, synth_dir, real_dir)?;
    std::fs::create_dir_all(cache_dir).map_err(|source| Error::Io {
        path: cache_dir.display().to_string(),
        source,
    })?;
    to_cache(&cache, &sets)?;
    Ok(sets)
}

/// Computes the features without the cache.
pub fn compute(cfg: &SpeechConfig, synth_dir: &Path, real_dir: &Path) -> Result<SpeechSets> {
    let mfcc = Mfcc::new(cfg.mfcc.clone())?;
    let rate = cfg.mfcc.rate;
    let entries = synth_manifest(synth_dir)?;
    let read = |part: Part| -> Result<Vec<Utterance>> {
        entries
            .par_iter()
            .filter(|(_, p)| *p == part)
            .map(|(e, _)| read_utterance(&e.path, e.label, rate))
            .collect()
    };
    let (train, val, test) = (read(Part::Train)?, read(Part::Val)?, read(Part::Test)?);
    let real_entries = manifest(real_dir, 4, 2)?;
    let real: Vec<Utterance> = real_entries
        .par_iter()
        .map(|e| read_utterance(&e.path, e.label, rate))
        .collect::<Result<_>>()?;
    let real_name = human_name(&real_entries);
    let train = featurise(PARTS[0].1, &train, cfg, &mfcc, cfg.copies, true, 1)?;
    let val = featurise(PARTS[1].1, &val, cfg, &mfcc, 1, false, 5)?;
    let test = featurise(PARTS[2].1, &test, cfg, &mfcc, 1, false, 2)?;
    let mut real_set = featurise(&real_name, &real, cfg, &mfcc, 1, false, 3)?;
    if cfg.real_copies > 0 {
        let noisy = SpeechConfig {
            snr_db: (20.0, 40.0),
            noise_prob: 1.0,
            shift_ms: cfg.shift_ms.min(100.0),
            ..cfg.clone()
        };
        let extra = featurise(&real_name, &real, &noisy, &mfcc, cfg.real_copies, true, 4)?;
        real_set = concat(&real_name, &real_set, &extra)?;
    }
    Ok(SpeechSets {
        train,
        val,
        test,
        real: real_set,
    })
}

/// `speech/human (N speakers: a, b, ...)`: the real set's name names its speakers.
fn human_name(entries: &[Entry]) -> String {
    let mut speakers: Vec<&str> = Vec::new();
    for e in entries {
        if !speakers.contains(&e.group.as_str()) {
            speakers.push(&e.group);
        }
    }
    format!("{} ({} speakers: {})", PARTS[3].1, speakers.len(), speakers.join(", "))
}

fn concat(name: &str, a: &Dataset, b: &Dataset) -> Result<Dataset> {
    let x = F32Tensor::concat(&[&a.inputs, &b.inputs], 0)?;
    let labels = a.labels.iter().chain(&b.labels).copied().collect();
    Dataset::new(name, x, labels, a.classes)
}

/// Cache key and data set name of each part.
const PARTS: [(&str, &str); 4] = [
    ("train", "speech/synthetic-train"),
    ("val", "speech/synthetic-val"),
    ("test", "speech/synthetic-test"),
    ("real", "speech/human"),
];

fn to_cache(path: &Path, sets: &SpeechSets) -> Result<()> {
    let mut m = BTreeMap::new();
    for ((part, _), d) in PARTS.iter().zip([&sets.train, &sets.val, &sets.test, &sets.real]) {
        m.insert(format!("{part}.x"), d.inputs.clone());
        let y = d.labels.iter().map(|&l| l as f32).collect();
        m.insert(format!("{part}.y"), F32Tensor::from_vec(&[d.len()], y)?);
    }
    save_safetensors(path, &m)
}

fn from_cache(path: &Path, real_name: &str) -> Result<SpeechSets> {
    let mut m = load_safetensors(path)?;
    let mut take = |part: &str, name: &str| -> Result<Dataset> {
        let x = m.remove(&format!("{part}.x"));
        let y = m.remove(&format!("{part}.y"));
        let (Some(x), Some(y)) = (x, y) else {
            return Err(Error::invalid(path.display().to_string(), format!("no {part} tensors")));
        };
        Dataset::new(name, x, y.data().iter().map(|&l| l as usize).collect(), WORDS.len())
    };
    Ok(SpeechSets {
        train: take(PARTS[0].0, PARTS[0].1)?,
        val: take(PARTS[1].0, PARTS[1].1)?,
        test: take(PARTS[2].0, PARTS[2].1)?,
        real: take(PARTS[3].0, real_name)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_part_is_centred_and_shifted() {
        let rate = 16000;
        // 0.2 s of silence, 0.1 s of a tone, 0.5 s of silence.
        let mut x = vec![0.0f32; 3200];
        x.extend((0..1600).map(|i| (i as f32 * 0.3).sin()));
        x.extend(vec![0.0; 8000]);
        let r = active_range(&x, rate);
        assert_eq!(r, 3200..4800);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let len = 16000;
        let w = place(&x, rate, len, Perturb::default(), &mut rng);
        let a = active_range(&w, rate);
        assert_eq!(a, 7200..8800, "centred");
        let w = place(
            &x,
            rate,
            len,
            Perturb {
                shift: 800,
                snr_db: None,
            },
            &mut rng,
        );
        assert_eq!(active_range(&w, rate), 8000..9600, "shifted by 50 ms");
        // Level: active RMS 0.1; noise at 20 dB has sigma 0.01.
        let w = place(
            &x,
            rate,
            len,
            Perturb {
                shift: 0,
                snr_db: Some(20.0),
            },
            &mut rng,
        );
        let rms = |s: &[f32]| (s.iter().map(|v| v * v).sum::<f32>() / s.len() as f32).sqrt();
        assert!((rms(&w[7200..8800]) - 0.1).abs() < 0.01, "{}", rms(&w[7200..8800]));
        assert!((rms(&w[..7000]) - 0.0101).abs() < 0.001, "{}", rms(&w[..7000]));
    }
}
