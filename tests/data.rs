//! Data sets and preprocessing: MFCC against a float64 reference, the restricted .pth reader on
//! fixtures, the speech pipeline on generated audio, and the fetched sets of
//! `scripts/fetch-data.sh test` (MNIST-5k with the pretrained CNN, the VADER lexicon, the speech
//! sets). Tests of the larger sets (`fashion-mnist`, `minilm`) are `#[ignore]`d: fetch them, then
//! run `cargo test --release -- --ignored data::`.

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::f64::consts::PI;
use std::io::Write;
use std::path::{Path, PathBuf};
use testbed::data::audio::{Audio, write_wav};
use testbed::data::mfcc::{Mfcc, MfccConfig};
use testbed::data::speech::{self, SpeechConfig, WORDS};
use testbed::data::{mnist, pth, vader};
use testbed::nn::infer::{Input, run_plain};
use testbed::nn::tensor::F32Tensor;

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("testbed-data-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

// ------------------------------------------------------------------------------------------------
// MFCC
// ------------------------------------------------------------------------------------------------

/// MFCC in float64 from the definitions, written apart from the library: direct DFT, mel
/// triangles evaluated per bin, direct DCT-II.
fn mfcc_reference(x: &[f64], c: &MfccConfig) -> Vec<Vec<f64>> {
    let a = c.preemphasis.map_or(0.0, |a| a as f64);
    let y: Vec<f64> = (0..x.len())
        .map(|i| x[i] - if i == 0 { 0.0 } else { a * x[i - 1] })
        .collect();
    let mel = |f: f64| 2595.0 * (1.0 + f / 700.0).log10();
    let hz = |m: f64| 700.0 * (10f64.powf(m / 2595.0) - 1.0);
    let (m_lo, m_hi) = (mel(c.fmin as f64), mel(c.fmax as f64));
    let edge = |i: usize| hz(m_lo + (m_hi - m_lo) * i as f64 / (c.mels as f64 + 1.0));
    let frames = 1 + (y.len() - c.frame) / c.hop;
    let mut out = Vec::new();
    for t in 0..frames {
        let seg = &y[t * c.hop..t * c.hop + c.frame];
        let power: Vec<f64> = (0..=c.fft / 2)
            .map(|k| {
                let (mut re, mut im) = (0.0, 0.0);
                for (n, &v) in seg.iter().enumerate() {
                    let w = 0.5 * (1.0 - (2.0 * PI * n as f64 / c.frame as f64).cos());
                    let ang = -2.0 * PI * (k * n) as f64 / c.fft as f64;
                    re += v * w * ang.cos();
                    im += v * w * ang.sin();
                }
                re * re + im * im
            })
            .collect();
        let logmel: Vec<f64> = (0..c.mels)
            .map(|m| {
                let (l, ctr, r) = (edge(m), edge(m + 1), edge(m + 2));
                let e: f64 = power
                    .iter()
                    .enumerate()
                    .map(|(k, p)| {
                        let f = k as f64 * c.rate as f64 / c.fft as f64;
                        let w = if f > l && f <= ctr {
                            (f - l) / (ctr - l)
                        } else if f > ctr && f < r {
                            (r - f) / (r - ctr)
                        } else {
                            0.0
                        };
                        w * p
                    })
                    .sum();
                e.max(1e-10).ln()
            })
            .collect();
        let n = c.mels as f64;
        out.push(
            (0..c.coeffs)
                .map(|k| {
                    let s = if k == 0 { (1.0 / n).sqrt() } else { (2.0 / n).sqrt() };
                    s * logmel
                        .iter()
                        .enumerate()
                        .map(|(i, v)| v * (PI * k as f64 * (i as f64 + 0.5) / n).cos())
                        .sum::<f64>()
                })
                .collect(),
        );
    }
    out
}

/// A chirp from 50 Hz to 3.95 kHz plus seeded white noise: energy in every filter.
fn chirp(n: usize, rate: f64) -> Vec<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    let dur = n as f64 / rate;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate;
            let phase = 2.0 * PI * (50.0 * t + (3950.0 - 50.0) * t * t / (2.0 * dur));
            0.5 * phase.sin() + 0.05 * ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5)
        })
        .collect()
}

#[test]
fn mfcc_matches_a_float64_reference() {
    for cfg in [
        MfccConfig::default(),
        MfccConfig {
            preemphasis: None,
            mels: 32,
            coeffs: 13,
            fmax: 8000.0,
            ..Default::default()
        },
    ] {
        let m = Mfcc::new(cfg.clone()).unwrap();
        let x = chirp(m.samples_for(20), cfg.rate as f64);
        let want = mfcc_reference(&x, &cfg);
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let got = m.compute(&xf);
        assert_eq!(want.len(), 20);
        assert_eq!(got.len(), cfg.coeffs * 20);
        let mut worst = 0.0f64;
        for (t, row) in want.iter().enumerate() {
            for (k, &w) in row.iter().enumerate() {
                worst = worst.max((got[k * 20 + t] as f64 - w).abs());
            }
        }
        eprintln!("mfcc vs float64 reference: max abs error {worst:.2e}");
        assert!(worst < 5e-4, "{cfg:?}: max abs error {worst}");
    }
}

#[test]
fn mfcc_properties_tone_peak_and_gain() {
    let cfg = MfccConfig {
        preemphasis: None,
        ..Default::default()
    };
    let m = Mfcc::new(cfg.clone()).unwrap();
    let n = m.samples_for(100);
    // A 1 kHz tone: every frame's loudest mel filter is the one centred nearest 1 kHz.
    let tone: Vec<f32> = (0..n)
        .map(|i| (2.0 * PI * 1000.0 * i as f64 / 16000.0).sin() as f32)
        .collect();
    let lm = m.log_mel(&tone);
    assert_eq!(lm.len(), 100 * cfg.mels);
    let (lo, hi) = (
        testbed::data::mfcc::hz_to_mel(cfg.fmin as f64),
        testbed::data::mfcc::hz_to_mel(cfg.fmax as f64),
    );
    let centre = |j: usize| testbed::data::mfcc::mel_to_hz(lo + (hi - lo) * (j + 1) as f64 / (cfg.mels + 1) as f64);
    let nearest = (0..cfg.mels)
        .min_by(|&a, &b| (centre(a) - 1000.0).abs().total_cmp(&(centre(b) - 1000.0).abs()))
        .unwrap();
    for row in lm.chunks(cfg.mels) {
        let arg = (0..cfg.mels).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        assert_eq!(arg, nearest);
    }
    // Gain g adds 2·ln g to every log-mel energy: only c0 moves, by 2·ln g·√mels.
    let x: Vec<f32> = chirp(n, 16000.0).iter().map(|&v| v as f32).collect();
    let a = m.compute(&x);
    let b = m.compute(&x.iter().map(|v| v * 2.0).collect::<Vec<_>>());
    let shift = 2.0 * 2f32.ln() * (cfg.mels as f32).sqrt();
    for k in 0..cfg.coeffs {
        for t in 0..100 {
            let want = if k == 0 { shift } else { 0.0 };
            let d = b[k * 100 + t] - a[k * 100 + t];
            assert!((d - want).abs() < 2e-3, "c{k} frame {t}: moved by {d}, expected {want}");
        }
    }
}

// ------------------------------------------------------------------------------------------------
// .pth reader
// ------------------------------------------------------------------------------------------------

/// Pickle bytes in the style torch.save writes (protocol 2).
struct Pickle(Vec<u8>);

impl Pickle {
    fn op(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    fn s(&mut self, s: &str) -> &mut Self {
        self.0.push(b'X');
        self.0.extend((s.len() as u32).to_le_bytes());
        self.0.extend(s.as_bytes());
        self
    }
    fn int(&mut self, v: u8) -> &mut Self {
        self.op(&[b'K', v])
    }
    /// `_rebuild_tensor_v2(storage(kind, key, numel), 0, size, stride, False, OrderedDict())`.
    fn tensor(&mut self, kind: &str, key: &str, numel: u8, size: &[u8], stride: &[u8]) -> &mut Self {
        self.op(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        self.op(b"(").s("storage").op(format!("ctorch\n{kind}\n").as_bytes());
        self.s(key).s("cpu").int(numel).op(b"tQ");
        self.int(0).op(b"(");
        for &d in size {
            self.int(d);
        }
        self.op(b"t(");
        for &d in stride {
            self.int(d);
        }
        self.op(b"t\x89ccollections\nOrderedDict\n)RtR")
    }
}

fn zip_file(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut w = zip::ZipWriter::new(&mut buf);
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap();
    buf.into_inner()
}

fn state_dict_pickle() -> Vec<u8> {
    let mut p = Pickle(vec![0x80, 2]);
    p.op(b"ccollections\nOrderedDict\nq\x00)Rq\x01(");
    // A 3x2 view with stride (1, 3) of a 6-element storage: the transpose of [[0,1,2],[3,4,5]].
    p.s("fc.weight").tensor("FloatStorage", "0", 6, &[3, 2], &[1, 3]);
    p.s("fc.bias").tensor("DoubleStorage", "1", 2, &[2], &[1]);
    p.s("bn.num_batches_tracked").tensor("LongStorage", "2", 1, &[], &[]);
    // SETITEMS, then BUILD with the `_metadata` attribute as torch writes it.
    p.op(b"u}")
        .s("_metadata")
        .op(b"h\x00)R(")
        .s("")
        .op(b"}")
        .s("version")
        .int(1)
        .op(b"su");
    p.op(b"sb.");
    p.0
}

#[test]
fn pth_reader_reads_a_state_dict_fixture() {
    let f32s: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let f64s: Vec<u8> = [0.5f64, -1.25].iter().flat_map(|v| v.to_le_bytes()).collect();
    let pkl = state_dict_pickle();
    let bytes = zip_file(&[
        ("m/data.pkl", &pkl),
        ("m/byteorder", b"little"),
        ("m/data/0", &f32s),
        ("m/data/1", &f64s),
        ("m/data/2", &7i64.to_le_bytes()),
        ("m/version", b"3\n"),
    ]);
    let sd = pth::parse_pth(&bytes, "fixture.pth").unwrap();
    let w = &sd.tensors["fc.weight"];
    assert_eq!(w.shape(), &[3, 2]);
    assert_eq!(w.data(), &[0., 3., 1., 4., 2., 5.]);
    assert_eq!(sd.tensors["fc.bias"].data(), &[0.5, -1.25]);
    assert_eq!(sd.skipped, vec!["bn.num_batches_tracked".to_string()]);

    // Through the converter: the safetensors file holds the float tensors.
    let dir = temp_dir("pth");
    let (p, st) = (dir.join("m.pth"), dir.join("m.safetensors"));
    std::fs::write(&p, &bytes).unwrap();
    let (n, skipped) = mnist::convert_pth(&p, &st).unwrap();
    assert_eq!((n, skipped.len()), (2, 1));
    let back = testbed::nn::io::load_safetensors(&st).unwrap();
    assert_eq!(back["fc.weight"], *w);
    // And through the command line: exit 0 and a report; a bad file exits 2 with one line.
    let cli = |args: &[&Path]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_testbed"))
            .arg("convert-pth")
            .args(args)
            .output()
            .unwrap()
    };
    let st2 = dir.join("cli.safetensors");
    let out = cli(&[&p, &st2]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 tensors"));
    assert_eq!(testbed::nn::io::load_safetensors(&st2).unwrap(), back);
    let out = cli(&[&st, &st2]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("m.safetensors") && err.trim().lines().count() == 1,
        "{err}"
    );

    // A missing storage, big-endian storages and a truncated archive are one-line errors.
    let no_storage = zip_file(&[("m/data.pkl", &pkl), ("m/data/0", &f32s)]);
    let e = pth::parse_pth(&no_storage, "x.pth").unwrap_err().to_string();
    assert!(e.starts_with("x.pth: ") && e.contains("m/data/1"), "{e}");
    let big = zip_file(&[("m/data.pkl", &pkl), ("m/byteorder", b"big")]);
    let e = pth::parse_pth(&big, "x.pth").unwrap_err().to_string();
    assert!(e.contains("big endian"), "{e}");
    let e = pth::parse_pth(&bytes[..bytes.len() / 2], "x.pth")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a PyTorch zip checkpoint"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pth_reader_refuses_pickles_that_run_code() {
    let evil: &[&[u8]] = &[
        b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.",
        b"\x80\x02cbuiltins\nexec\nX\x01\x00\x00\x001\x85R.",
        // A reduce of an allowed global reached through the memo with a forged argument tuple.
        b"\x80\x02ccollections\nOrderedDict\nq\x00h\x00X\x01\x00\x00\x00a\x85R.",
        // Protocol 4 STACK_GLOBAL naming os.system.
        b"\x80\x04\x8c\x02os\x8c\x06system\x93.",
        // A persistent id that is not a torch storage.
        b"\x80\x02(X\x07\x00\x00\x00storageX\x01\x00\x00\x00xtQ.",
    ];
    for (i, pkl) in evil.iter().enumerate() {
        let bytes = zip_file(&[("m/data.pkl", pkl)]);
        let e = pth::parse_pth(&bytes, "evil.pth").unwrap_err().to_string();
        assert!(e.starts_with("evil.pth: m/data.pkl: "), "case {i}: {e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
    let e = pth::parse_pth(&zip_file(&[("m/data.pkl", evil[0])]), "evil.pth").unwrap_err();
    assert!(e.to_string().contains("refusing global posix.system"), "{e}");
    assert!(e.is_bad_input());
}

// ------------------------------------------------------------------------------------------------
// Speech pipeline on generated audio
// ------------------------------------------------------------------------------------------------

/// "Word" d: 0.3 s of a tone at 300 + 250·d Hz with a rising second partial, as `voice` alters it.
fn fake_word(d: usize, rate: u32, voice: f64, lead: f64) -> Audio {
    let n = (rate as f64 * 0.8) as usize;
    let f = (300.0 + 250.0 * d as f64) * voice;
    let samples = (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64 - lead;
            if (0.0..0.3).contains(&t) {
                (0.4 * (2.0 * PI * f * t).sin() + 0.2 * (2.0 * PI * (1.5 * f + 400.0 * t) * t).sin()) as f32
            } else {
                0.0
            }
        })
        .collect();
    Audio { rate, samples }
}

fn write_fixture_speech(dir: &Path) -> (PathBuf, PathBuf) {
    let (synth, real) = (dir.join("synth"), dir.join("real"));
    std::fs::create_dir_all(synth.join("wav")).unwrap();
    std::fs::create_dir_all(real.join("a")).unwrap();
    std::fs::create_dir_all(real.join("b")).unwrap();
    let mut manifest = String::from("file\tword\taccent\tvariant\tspeed\tpitch\tsplit\n");
    let mut people = String::from("file\tword\tspeaker\tsource\n");
    for (d, w) in WORDS.iter().enumerate() {
        let voices = [(0.97, "train"), (1.03, "train"), (0.99, "val"), (1.0, "test")];
        for (v, (voice, split)) in voices.iter().enumerate() {
            let name = format!("wav/{w}_{v}.wav");
            write_wav(&synth.join(&name), &fake_word(d, 22050, *voice, 0.1 + 0.1 * v as f64)).unwrap();
            manifest.push_str(&format!("{name}\t{w}\tx\tv{v}\t150\t50\t{split}\n"));
        }
        // Speaker a as WAV, speaker b as headerless 8 kHz mu-law (saytime's format).
        write_wav(&real.join(format!("a/{d}.wav")), &fake_word(d, 8000, 1.01, 0.25)).unwrap();
        let b = fake_word(d, 8000, 0.99, 0.2);
        std::fs::write(
            real.join(format!("b/{d}.au")),
            b.samples.iter().map(|&x| ulaw_encode(x)).collect::<Vec<u8>>(),
        )
        .unwrap();
        people.push_str(&format!("a/{d}.wav\t{w}\ta\tfixture\nb/{d}.au\t{w}\tb\tfixture\n"));
    }
    std::fs::write(synth.join("manifest.tsv"), manifest).unwrap();
    std::fs::write(real.join("manifest.tsv"), people).unwrap();
    (synth, real)
}

/// G.711 mu-law encoding of a sample in [-1, 1] (the inverse of `audio::ulaw` up to quantisation).
fn ulaw_encode(x: f32) -> u8 {
    let v = (x.clamp(-1.0, 1.0) * 32124.0) as i32;
    let (sign, mag) = if v < 0 { (0x80u8, (-v) as u32) } else { (0, v as u32) };
    let biased = (mag + 0x84).min(0x7fff);
    let exponent = (31 - biased.leading_zeros()).saturating_sub(7).min(7);
    let mantissa = (biased >> (exponent + 3)) & 0x0f;
    !(sign | (exponent as u8) << 4 | mantissa as u8)
}

/// Nearest class mean: the share of `test` samples whose closest training-class centroid is their class.
fn centroid_accuracy(train: &testbed::data::Dataset, test: &testbed::data::Dataset) -> f64 {
    let per: usize = train.sample_shape().iter().product();
    let mut mean = vec![vec![0.0f64; per]; train.classes];
    let mut count = vec![0usize; train.classes];
    for (i, &l) in train.labels.iter().enumerate() {
        for (m, &v) in mean[l].iter_mut().zip(&train.inputs.data()[i * per..(i + 1) * per]) {
            *m += v as f64;
        }
        count[l] += 1;
    }
    for (m, c) in mean.iter_mut().zip(&count) {
        m.iter_mut().for_each(|v| *v /= *c as f64);
    }
    let hits = (0..test.len())
        .filter(|&i| {
            let x = &test.inputs.data()[i * per..(i + 1) * per];
            let dist = |m: &Vec<f64>| m.iter().zip(x).map(|(a, &b)| (a - b as f64).powi(2)).sum::<f64>();
            let best = (0..train.classes)
                .min_by(|&a, &b| dist(&mean[a]).total_cmp(&dist(&mean[b])))
                .unwrap();
            best == test.labels[i]
        })
        .count();
    hits as f64 / test.len() as f64
}

#[test]
fn speech_pipeline_on_generated_audio() {
    let dir = temp_dir("speech");
    let (synth, real) = write_fixture_speech(&dir);
    let cfg = SpeechConfig {
        copies: 3,
        real_copies: 2,
        ..Default::default()
    };
    let cache = dir.join("cache");
    let a = speech::load_from(&cfg, &synth, &real, &cache).unwrap();
    assert_eq!(a.train.inputs.shape(), &[10 * 2 * 3, 40, 100]);
    assert_eq!(a.val.inputs.shape(), &[10, 40, 100]);
    assert_eq!(a.test.inputs.shape(), &[10, 40, 100]);
    assert_eq!(a.real.inputs.shape(), &[20 * 3, 40, 100]);
    assert_eq!(a.real.name, "speech/human (2 speakers: a, b)");
    let pairs: Vec<usize> = (0..10).flat_map(|d| [d, d]).collect();
    assert_eq!(&a.real.labels[..20], &pairs[..], "originals first, in manifest order");
    // The mu-law fixture decodes back to the words it encodes.
    let mu = speech::compute(&SpeechConfig::default(), &synth, &real).unwrap();
    assert_eq!(mu.real.len(), 20);
    assert!(a.train.inputs.data().iter().all(|v| v.is_finite()));
    // Copies differ (seeded shifts and noise), the clean sets are deterministic.
    let per = 40 * 100;
    assert_ne!(a.train.inputs.data()[..per], a.train.inputs.data()[per..2 * per]);
    // CMVN: every coefficient row has mean 0 and variance 1.
    let row = &a.test.inputs.data()[..100];
    let mean = row.iter().sum::<f32>() / 100.0;
    let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 100.0;
    assert!(mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-3, "{mean} {var}");
    // The features carry the word: nearest class means recognise held-out and 8 kHz "speech".
    assert!(centroid_accuracy(&a.train, &a.test) >= 0.9);
    assert!(centroid_accuracy(&a.train, &a.val) >= 0.9);
    assert!(centroid_accuracy(&a.train, &mu.real) >= 0.9, "WAV and mu-law speakers");
    // The second load comes from the cache file and is identical; a new seed is a new file.
    let files = || std::fs::read_dir(&cache).unwrap().count();
    assert_eq!(files(), 1);
    let b = speech::load_from(&cfg, &synth, &real, &cache).unwrap();
    assert_eq!(a.train.inputs, b.train.inputs);
    assert_eq!(a.real.labels, b.real.labels);
    let c = speech::compute(&cfg, &synth, &real).unwrap();
    assert_eq!(a.train.inputs, c.train.inputs, "recomputing gives the same features");
    let other = SpeechConfig { seed: 7, ..cfg.clone() };
    speech::load_from(&other, &synth, &real, &cache).unwrap();
    assert_eq!(files(), 2);
    // A manifest line with an unknown word, or a split of the older layout, names file and line.
    for (line, want) in [
        ("wav/x.wav\televen\ta\tv\t1\t1\ttrain", "unknown word"),
        ("wav/x.wav\tone\ta\tv\t1\t1\theldout", "not train, val or test"),
    ] {
        std::fs::write(synth.join("manifest.tsv"), format!("header\n{line}\n")).unwrap();
        let e = speech::compute(&cfg, &synth, &real).unwrap_err().to_string();
        assert!(e.contains("manifest.tsv:2") && e.contains(want), "{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// ------------------------------------------------------------------------------------------------
// Samples
// ------------------------------------------------------------------------------------------------

#[test]
fn stratified_samples_keep_class_shares_and_follow_the_seed() {
    use testbed::data::{Dataset, stratified_indices};
    // Sorted by label, like MNIST-5k: 50 zeros, 30 ones, 20 twos.
    let labels: Vec<usize> = [(0, 50), (1, 30), (2, 20)]
        .iter()
        .flat_map(|&(l, n)| std::iter::repeat_n(l, n))
        .collect();
    let x = F32Tensor::from_vec(&[100, 1], (0..100).map(|i| i as f32).collect()).unwrap();
    let d = Dataset::new("sorted", x, labels.clone(), 3).unwrap();
    let s = d.stratified(10, 1).unwrap();
    assert_eq!(s.class_counts(), vec![5, 3, 2], "shares of the classes");
    // 7 of 100: quotas 3.5, 2.1, 1.4 round down to 3, 2, 1; the largest remainder (0.5) gets one.
    assert_eq!(d.stratified(7, 1).unwrap().class_counts(), vec![4, 2, 1]);
    // 4 of 100: 2.0, 1.2, 0.8 → 2, 1, 0, and the largest remainder (class 2) gets the fourth.
    assert_eq!(d.stratified(4, 9).unwrap().class_counts(), vec![2, 1, 1]);
    // Equal remainders go to the lower label: 2 of 50/25/25 → 1, 0.5, 0.5 → 1, 1, 0.
    let tied: Vec<usize> = [(0, 50), (1, 25), (2, 25)]
        .iter()
        .flat_map(|&(l, n)| std::iter::repeat_n(l, n))
        .collect();
    let picked = stratified_indices(&tied, 3, 2, 5);
    assert_eq!(picked.iter().map(|&i| tied[i]).collect::<Vec<_>>(), vec![0, 1]);
    let idx = stratified_indices(&labels, 3, 10, 1);
    assert!(idx.windows(2).all(|w| w[0] < w[1]), "in the set's order, no repeats");
    assert_eq!(s.labels, idx.iter().map(|&i| labels[i]).collect::<Vec<_>>());
    assert_eq!(s.inputs.data(), &idx.iter().map(|&i| i as f32).collect::<Vec<_>>()[..]);
    assert_eq!(idx, stratified_indices(&labels, 3, 10, 1), "the seed fixes the sample");
    assert_ne!(
        idx,
        stratified_indices(&labels, 3, 10, 2),
        "another seed, another sample"
    );
    assert_ne!(idx, (0..10).collect::<Vec<_>>(), "not a prefix");
    assert_eq!(stratified_indices(&labels, 3, 100, 1), (0..100).collect::<Vec<_>>());
    assert_eq!(stratified_indices(&labels, 3, 500, 1).len(), 100);
    // Every class is reachable: over seeds, each member of class 2 is drawn sometimes.
    let mut seen = [false; 100];
    for seed in 0..200 {
        stratified_indices(&labels, 3, 10, seed)
            .iter()
            .for_each(|&i| seen[i] = true);
    }
    assert!(seen.iter().all(|&s| s));
}

// ------------------------------------------------------------------------------------------------
// Fetched data (`scripts/fetch-data.sh test`)
// ------------------------------------------------------------------------------------------------

fn argmax_rows(t: &F32Tensor) -> Vec<usize> {
    let c = t.shape()[1];
    t.data()
        .chunks(c)
        .map(|r| (0..c).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap())
        .collect()
}

#[test]
fn pretrained_mnist_cnn_is_accurate_on_mnist5k() {
    let data = mnist::load_5k(mnist::Pixels::Standardised).unwrap();
    assert_eq!(data.inputs.shape(), &[5000, 1, 28, 28]);
    let mut per_class = [0usize; 10];
    data.labels.iter().for_each(|&l| per_class[l] += 1);
    assert_eq!(per_class, [500; 10]);
    let batch = 500;
    let g = mnist::pretrained_cnn(batch).unwrap();
    let mut correct = 0;
    for start in (0..5000).step_by(batch) {
        let idx: Vec<usize> = (start..start + batch).collect();
        let (x, y) = data.batch(&idx).unwrap();
        let logits = run_plain(&g, &Input::F32(x)).unwrap();
        correct += argmax_rows(&logits).iter().zip(&y).filter(|(a, b)| a == b).count();
    }
    eprintln!("pretrained MNIST CNN: {correct} / 5000 correct on MNIST-5k");
    // The numpy reference forward pass of the same checkpoint gets 4985 / 5000.
    assert!(correct >= 4980, "{correct} / 5000 correct");
    // The registry's view: 5,000 test samples in [0, 1], no training samples.
    let s = testbed::data::load("mnist5k").unwrap();
    assert_eq!((s.train.len(), s.test.len()), (0, 5000));
    assert!(s.test.inputs.data().iter().all(|&v| (0.0..=1.0).contains(&v)));
}

#[test]
fn pretrained_mnist_cnn_runs_privately() {
    use testbed::nn::infer::{InferJob, WeightPrivacy};
    let data = mnist::load_5k(mnist::Pixels::Standardised).unwrap();
    // One image of each digit.
    let idx: Vec<usize> = (0..10)
        .map(|d| data.labels.iter().position(|&l| l == d).unwrap())
        .collect();
    let (x, y) = data.batch(&idx[..4]).unwrap();
    let g = mnist::pretrained_cnn(4).unwrap();
    let x = [Input::F32(x)];
    let want = run_plain(&g, &x[0]).unwrap();
    let cfg = testbed::protocol::ProtocolConfig::load("2pc-ttp").unwrap();
    let job = InferJob::local(&g, &x, WeightPrivacy::Private, 1);
    let out = crate::common::run(&cfg, 5, &job);
    let got = &crate::common::revealed(&out)[0];
    let err = got.max_abs_diff(&want);
    eprintln!("pretrained MNIST CNN, 2pc-ttp, private weights: max abs logit error {err:.4}");
    assert!(err < 0.01, "max abs logit error {err}");
    assert_eq!(argmax_rows(got), y);
}

#[test]
fn vader_lexicon_polarity_counts() {
    let lex = vader::read_lexicon(&testbed::data::data_dir().join("vader/vader_lexicon.txt")).unwrap();
    assert_eq!(lex.len(), 7520);
    let words = vader::polar_words(&lex);
    let pos = words.iter().filter(|w| w.1 == 1).count();
    assert_eq!((pos, words.len() - pos), (2442, 3144));
    let good = lex.iter().find(|e| e.token == "good").unwrap();
    assert!(good.valence > 1.0);
    let (train, test) = vader::split_words(words);
    assert_eq!((train.len(), test.len()), (4469, 1117));
}

/// The fetched speech sets (`scripts/fetch-data.sh test` fetches them: 2 minutes, mostly
/// espeak-ng; the first load computes the features in about half a minute).
#[test]
fn speech_sets_from_espeak_and_real_recordings() {
    let h = testbed::data::load("speech-human").unwrap();
    assert_eq!(h.train.inputs.shape(), &[3200 * 2, 40, 100]);
    assert_eq!(h.test.inputs.shape(), &[30, 40, 100]);
    assert_eq!(
        h.test.class_counts(),
        vec![3; 10],
        "3 speakers, one recording per digit"
    );
    assert!(h.test.name.starts_with("speech/human (3 speakers"), "{}", h.test.name);
    let val = testbed::data::load("speech-synth-val").unwrap();
    let test = testbed::data::load("speech-synth-test").unwrap();
    assert_eq!(val.test.class_counts(), vec![64; 10]);
    assert_eq!(test.test.class_counts(), vec![128; 10]);
    assert_eq!(testbed::data::training_set("speech-human"), "speech-synth-val");
    // Where it came from: the espeak-ng version and the generated set's hash, the 3 packages.
    let p = testbed::data::provenance("speech-synth-test").unwrap();
    assert!(
        p.contains("espeak-ng") && p.contains("set SHA-256") && p.contains("saytime"),
        "{p}"
    );
    // Nearest class means: far above chance (10 %) on unseen voices.
    let acc = centroid_accuracy(&h.train, &test.test);
    eprintln!(
        "nearest-centroid accuracy: synthetic test voices {acc:.3}, validation {:.3}, human {:.3}",
        centroid_accuracy(&h.train, &val.test),
        centroid_accuracy(&h.train, &h.test)
    );
    assert!(acc > 0.3, "{acc}");
}

/// `scripts/fetch-data.sh` checks the hash of a file already present too (offline: nothing to
/// download when the file is there): a changed file fails and is removed, the right one gets
/// its PROVENANCE; an unknown set name is a usage error.
#[test]
fn fetch_data_checks_the_hash_of_every_file_it_holds() {
    let dir = temp_dir("fetch");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch-data.sh");
    let fetch = |set: &str| {
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg(set)
            .env("TESTBED_DATA", &dir)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let lexicon = dir.join("vader/vader_lexicon.txt");
    std::fs::create_dir_all(lexicon.parent().unwrap()).unwrap();
    std::fs::write(&lexicon, "not the lexicon\n").unwrap();
    let (code, err) = fetch("vader");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("vader_lexicon.txt: SHA-256") && err.contains("expected 1ec9c6e9"),
        "{err}"
    );
    assert!(!lexicon.exists(), "removed, so the next call fetches it again");
    std::fs::copy(testbed::data::data_dir().join("vader/vader_lexicon.txt"), &lexicon).unwrap();
    let (code, err) = fetch("vader");
    assert_eq!(code, Some(0), "{err}");
    let provenance = std::fs::read_to_string(dir.join("vader/PROVENANCE")).unwrap();
    assert!(
        provenance.contains("vaderSentiment 3.3.2") && provenance.contains("1ec9c6e9"),
        "{provenance}"
    );
    let (code, err) = fetch("no-such-set");
    assert_eq!(code, Some(2), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ------------------------------------------------------------------------------------------------
// Larger sets (fetch first; run with --ignored)
// ------------------------------------------------------------------------------------------------

#[test]
#[ignore = "needs scripts/fetch-data.sh fashion-mnist"]
fn fashion_mnist_has_the_official_split() {
    let s = testbed::data::load("fashion-mnist").unwrap();
    assert_eq!(s.train.inputs.shape(), &[60000, 1, 28, 28]);
    assert_eq!(s.test.inputs.shape(), &[10000, 1, 28, 28]);
    let mut per_class = [0usize; 10];
    s.test.labels.iter().for_each(|&l| per_class[l] += 1);
    assert_eq!(per_class, [1000; 10]);
    let max = s.train.inputs.data().iter().copied().fold(0.0f32, f32::max);
    assert_eq!(max, 1.0);
}

#[test]
#[ignore = "needs scripts/fetch-data.sh minilm vader"]
fn minilm_vocabulary_matches_the_onnx_model() {
    use testbed::data::wordpiece::WordPiece;
    let vocab = WordPiece::load(&testbed::data::data_dir().join("minilm/vocab.txt")).unwrap();
    assert_eq!(vocab.len(), 30522);
    // BERT README's example word (bert-base-uncased splits it as below), accents, case, punctuation.
    assert_eq!(vocab.tokenize("unaffable"), vec!["una", "##ffa", "##ble"]);
    assert_eq!(
        vocab.tokenize("Unbelievable PLAYING, café!"),
        vec!["unbelievable", "playing", ",", "cafe", "!"]
    );
    let path = testbed::data::data_dir().join("minilm/paraphrase-MiniLM-L3-v2.onnx");
    let model = testbed::nn::onnx::decode_model(&std::fs::read(&path).unwrap(), "minilm").unwrap();
    let graph = model.graph.unwrap();
    let inputs: Vec<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(inputs, ["input_ids", "attention_mask"]);
    let table = graph
        .initializer
        .iter()
        .find(|t| t.dims.len() == 2 && t.dims[1] == 384 && t.dims[0] > 30000);
    assert_eq!(
        table.unwrap().dims[0] as usize,
        vocab.len(),
        "the vocabulary matches the embedding table"
    );
    let s = testbed::data::load("vader").unwrap();
    assert_eq!(s.test.inputs.shape(), &[1117, 8]);
    assert_eq!(s.train.len(), 4469);
    let s32 = testbed::data::load("vader-32").unwrap();
    assert_eq!(s32.test.inputs.shape(), &[1117, 32]);
    assert_eq!(s32.test.labels, s.test.labels, "the same words at every length");
}

#[test]
#[ignore = "needs scripts/fetch-data.sh minilm"]
fn minilm_l3_runs_in_plaintext_on_wordpiece_ids() {
    use testbed::data::wordpiece::WordPiece;
    use testbed::nn::infer::{Input, run_plain, run_plain_all};
    let vocab = WordPiece::load(&testbed::data::data_dir().join("minilm/vocab.txt")).unwrap();
    let g =
        testbed::nn::onnx::load_onnx(&testbed::data::data_dir().join("minilm/paraphrase-MiniLM-L3-v2.onnx")).unwrap();
    let encoder = testbed::data::minilm::encoder().unwrap();
    let mut pooled8 = None;
    for len in [8, 16, 32] {
        let e = vocab.encode_batch(&["wonderful", "terrible"], len);
        let ids = Input::Ids {
            shape: vec![2, len],
            data: e.input_ids.clone(),
        };
        let mask = Input::Ids {
            shape: vec![2, len],
            data: e.attention_mask.clone(),
        };
        // The export's outputs: ids, mask, token embeddings, sentence embedding (last).
        let out = run_plain_all(&g, &[ids.clone(), mask]).unwrap();
        let h = &out[2];
        assert_eq!(h.shape(), &[2, len, 384]);
        let sentence = out.last().unwrap();
        assert_eq!(sentence.shape(), &[2, 384]);
        assert!(sentence.data().iter().all(|v| v.is_finite()));
        // The rewritten encoder (mask derived from the ids) pools to the same embedding, and
        // padding does not change it.
        let derived = run_plain(&encoder, &ids).unwrap();
        assert!(derived.max_abs_diff(sentence) < 1e-4, "len {len}");
        let first = pooled8.get_or_insert_with(|| derived.clone());
        assert!(first.max_abs_diff(&derived) < 1e-4, "len {len} vs 8");
    }
    // The two words point in different directions.
    let p = pooled8.unwrap();
    let (a, b) = p.data().split_at(384);
    let cos = a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>()
        / (a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt());
    assert!(cos < 0.9, "cosine {cos}");
}

#[test]
#[ignore = "needs scripts/fetch-data.sh minilm vader"]
fn minilm_polarity_runs_privately_like_in_plaintext() {
    use testbed::nn::infer::{InferJob, WeightPrivacy, run_plain, split_batches};
    let s = testbed::data::load("vader").unwrap();
    let g = testbed::data::minilm::polarity_model(1).unwrap();
    assert_eq!(g.inputs.len(), 1, "the mask is derived from the ids");
    let x = split_batches(&g, &s.test.take(4).unwrap().inputs, 4).unwrap().remove(0);
    let want = run_plain(&g, &x).unwrap();
    let cfg = testbed::protocol::ProtocolConfig::load("2pc-ttp").unwrap();
    let out = crate::common::run(
        &cfg,
        3,
        &InferJob::local(&g, std::slice::from_ref(&x), WeightPrivacy::Private, 1),
    );
    let err = crate::common::revealed(&out)[0].max_abs_diff(&want);
    assert!(err < 0.05, "max abs error {err}");
}
