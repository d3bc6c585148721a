//! Every movement against a plain index-by-index oracle, on fixed cases that reach the fast paths
//! (tiled transposes, parallel copies) and on random shapes with proptest.

use super::*;
use proptest::prelude::*;

/// Multi-index of linear position `i` in `shape`.
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for a in (0..shape.len()).rev() {
        idx[a] = i % shape[a];
        i /= shape[a];
    }
    idx
}

/// Linear position of `idx` in `shape`.
fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i)
}

/// `0, 1, 2, ...` shaped `shape`.
fn iota(shape: &[usize]) -> Vec<u64> {
    (0..numel(shape) as u64).collect()
}

/// Builds the output of `shape` by asking `at` for each multi-index.
fn oracle(shape: &[usize], at: impl Fn(&[usize]) -> u64) -> Dense<u64> {
    let data = (0..numel(shape)).map(|i| at(&unravel(i, shape))).collect();
    Dense::new(shape.to_vec(), data)
}

fn permute_oracle(shape: &[usize], axes: &[usize]) -> Dense<u64> {
    let x = iota(shape);
    let out: Vec<usize> = axes.iter().map(|&a| shape[a]).collect();
    oracle(&out, |o| {
        let mut i = vec![0; shape.len()];
        for (k, &a) in axes.iter().enumerate() {
            i[a] = o[k];
        }
        x[ravel(&i, shape)]
    })
}

fn slice_oracle(shape: &[usize], spec: &[AxisSlice]) -> Dense<u64> {
    let x = iota(shape);
    let out: Vec<usize> = spec.iter().map(|s| s.len).collect();
    oracle(&out, |o| {
        let i: Vec<usize> = o
            .iter()
            .zip(spec)
            .map(|(&k, s)| (s.start as isize + k as isize * s.step) as usize)
            .collect();
        x[ravel(&i, shape)]
    })
}

fn tile_oracle(shape: &[usize], reps: &[usize]) -> Dense<u64> {
    let x = iota(shape);
    let out: Vec<usize> = shape.iter().zip(reps).map(|(d, r)| d * r).collect();
    oracle(&out, |o| {
        let i: Vec<usize> = o.iter().zip(shape).map(|(&k, &d)| k % d).collect();
        x[ravel(&i, shape)]
    })
}

fn pad_oracle(shape: &[usize], pads: &[(i64, i64)], mode: PadMode<u64>) -> Dense<u64> {
    let x = iota(shape);
    let out: Vec<usize> = shape
        .iter()
        .zip(pads)
        .map(|(&d, &(b, a))| (d as i64 + b + a) as usize)
        .collect();
    oracle(&out, |o| {
        let mut i = Vec::new();
        for (a, (&k, &(b, _))) in o.iter().zip(pads).enumerate() {
            let d = shape[a] as i64;
            let mut p = k as i64 - b;
            match mode {
                PadMode::Constant(v) if p < 0 || p >= d => return v,
                PadMode::Constant(_) => {}
                PadMode::Edge => p = p.clamp(0, d - 1),
                PadMode::Reflect => {
                    while d > 1 && (p < 0 || p >= d) {
                        p = if p < 0 { -p } else { 2 * (d - 1) - p };
                    }
                    if d == 1 {
                        p = 0;
                    }
                }
            }
            i.push(p as usize);
        }
        x[ravel(&i, shape)]
    })
}

fn run_permute(shape: &[usize], axes: &[usize]) {
    let got = permute(&iota(shape), shape, axes).unwrap();
    assert_eq!(got, permute_oracle(shape, axes), "shape {shape:?} axes {axes:?}");
}

#[test]
fn permute_fast_paths() {
    // Tiled transposes (8x16 micro tiles and ragged edges), batched, and parallel sizes.
    run_permute(&[37, 45], &[1, 0]);
    run_permute(&[3, 33, 17], &[0, 2, 1]);
    run_permute(&[4, 5, 6, 7], &[3, 1, 0, 2]);
    run_permute(&[300, 200], &[1, 0]);
    run_permute(&[2, 300, 200], &[0, 2, 1]);
    run_permute(&[40, 30, 50], &[1, 0, 2]);
    run_permute(&[1, 5, 1, 3], &[3, 2, 1, 0]);
    assert_eq!(transpose(&iota(&[2, 3]), &[2, 3]).unwrap().data, vec![0, 3, 1, 4, 2, 5]);
    assert!(permute(&iota(&[2, 3]), &[2, 3], &[0, 0]).is_err());
    assert!(permute(&iota(&[2, 3]), &[2, 3], &[0]).is_err());
    assert!(transpose(&iota(&[3]), &[3]).is_err());
}

#[test]
fn slice_concat_gather_fixed() {
    let s = [300, 7, 40];
    let spec = [
        AxisSlice::full(300),
        AxisSlice {
            start: 6,
            step: -2,
            len: 3,
        },
        AxisSlice {
            start: 1,
            step: 1,
            len: 38,
        },
    ];
    assert_eq!(slice(&iota(&s), &s, &spec).unwrap(), slice_oracle(&s, &spec));
    assert!(slice_axis(&iota(&s), &s, 1, 3, 8).is_err());
    let a = slice_axis(&iota(&s), &s, 1, 0, 3).unwrap();
    let b = slice_axis(&iota(&s), &s, 1, 3, 7).unwrap();
    let joined = concat(&[(&a.data, &a.shape), (&b.data, &b.shape)], 1).unwrap();
    assert_eq!(joined.data, iota(&s));
    let g = gather(&iota(&[2, 3, 2]), &[2, 3, 2], 1, &[2, 0, 2]).unwrap();
    assert_eq!(g.data, vec![4, 5, 0, 1, 4, 5, 10, 11, 6, 7, 10, 11]);
    assert!(gather(&iota(&[2, 3]), &[2, 3], 1, &[3]).is_err());
    assert!(concat::<u64>(&[], 0).is_err());
}

#[test]
fn onnx_slice_clamps_like_numpy() {
    let spec = onnx_slice(&[10], &[-3], &[i64::MAX], &[], &[]).unwrap();
    assert_eq!(
        spec[0],
        AxisSlice {
            start: 7,
            step: 1,
            len: 3
        }
    );
    let spec = onnx_slice(&[10], &[i64::MAX], &[i64::MIN], &[], &[-3]).unwrap();
    assert_eq!(slice(&iota(&[10]), &[10], &spec).unwrap().data, vec![9, 6, 3, 0]);
    let spec = onnx_slice(&[4, 5], &[1], &[0], &[-1], &[1]).unwrap();
    assert_eq!(spec[1].len, 0);
    assert!(onnx_slice(&[4], &[0], &[1], &[], &[0]).is_err());
    assert!(onnx_slice(&[4, 4], &[0, 0], &[1, 1], &[1, -1], &[]).is_err());
}

#[test]
fn pad_modes_fixed() {
    let x = iota(&[3]);
    let r = pad(&x, &[3], &[(2, 3)], PadMode::Reflect).unwrap();
    assert_eq!(r.data, vec![2, 1, 0, 1, 2, 1, 0, 1]);
    let e = pad(&x, &[3], &[(2, 1)], PadMode::Edge).unwrap();
    assert_eq!(e.data, vec![0, 0, 0, 1, 2, 2]);
    let c = pad(&x, &[3], &[(-1, 2)], PadMode::Constant(9)).unwrap();
    assert_eq!(c.data, vec![1, 2, 9, 9]);
    assert!(pad(&x, &[3], &[(-4, 0)], PadMode::Constant(0)).is_err());
    assert!(pad::<u64>(&[], &[0], &[(1, 0)], PadMode::Edge).is_err());
    let s = [200, 300];
    let big = pad(&iota(&s), &s, &[(1, 2), (3, 0)], PadMode::Constant(7)).unwrap();
    assert_eq!(big, pad_oracle(&s, &[(1, 2), (3, 0)], PadMode::Constant(7)));
}

#[test]
fn broadcast_and_tile_fixed() {
    let b = broadcast_to(&[1u64, 2, 3], &[3, 1], &[2, 3, 4]).unwrap();
    assert_eq!(&b.data[..8], &[1, 1, 1, 1, 2, 2, 2, 2]);
    assert!(broadcast_to(&[1u64, 2], &[2], &[3]).is_err());
    let big = broadcast_to(&iota(&[300, 1]), &[300, 1], &[2, 300, 120]).unwrap();
    assert_eq!(big.data[120 * 300 + 121], 1);
    let t = tile(&iota(&[2, 2]), &[2, 2], &[2, 3]).unwrap();
    assert_eq!(t, tile_oracle(&[2, 2], &[2, 3]));
    let z = zip_broadcast(&[1i64, 2], &[2, 1], &[10i64, 20, 30], &[3], "add", |a, b| a + b).unwrap();
    assert_eq!(z.data, vec![11, 21, 31, 12, 22, 32]);
    assert!(zip_broadcast(&[1i64, 2], &[2], &[1i64, 2, 3], &[3], "add", |a, b| a + b).is_err());
}

fn im2col_oracle(g: &Window, image: &[u64], fill: u64) -> Vec<u64> {
    let mut out = Vec::new();
    for ch in 0..g.c {
        for i in 0..g.kh {
            for j in 0..g.kw {
                for oy in 0..g.ho {
                    for ox in 0..g.wo {
                        let y = (oy * g.stride[0] + i * g.dilation[0]) as isize - g.pad[0] as isize;
                        let x = (ox * g.stride[1] + j * g.dilation[1]) as isize - g.pad[1] as isize;
                        let inside = y >= 0 && x >= 0 && (y as usize) < g.h && (x as usize) < g.w;
                        out.push(if inside {
                            image[(ch * g.h + y as usize) * g.w + x as usize]
                        } else {
                            fill
                        });
                    }
                }
            }
        }
    }
    out
}

fn window(c: usize, hw: [usize; 2], k: [usize; 2], s: [usize; 2], p: [usize; 2], d: [usize; 2]) -> Option<Window> {
    Some(Window {
        c,
        h: hw[0],
        w: hw[1],
        kh: k[0],
        kw: k[1],
        stride: s,
        pad: p,
        dilation: d,
        ho: Window::out_len(hw[0], k[0], s[0], d[0], p[0], p[0], false)?,
        wo: Window::out_len(hw[1], k[1], s[1], d[1], p[1], p[1], false)?,
    })
}

fn check_window(g: &Window) {
    let image: Vec<u64> = (1..=(g.c * g.h * g.w) as u64)
        .map(|v| v.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect();
    let mut cols = vec![5u64; g.rows() * g.cols()];
    g.im2col(&image, &mut cols, 0);
    assert_eq!(cols, im2col_oracle(g, &image, 0), "{g:?}");
    // col2im is the adjoint: <im2col(x), y> == <x, col2im(y)>.
    let y: Vec<u64> = (0..cols.len() as u64)
        .map(|v| v.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 7)
        .collect();
    let mut back = vec![0u64; image.len()];
    g.col2im_add(&y, &mut back, u64::wrapping_add);
    let dot = |a: &[u64], b: &[u64]| {
        a.iter()
            .zip(b)
            .fold(0u64, |s, (&p, &q)| s.wrapping_add(p.wrapping_mul(q)))
    };
    assert_eq!(dot(&cols, &y), dot(&image, &back), "{g:?}");
}

#[test]
fn im2col_fixed() {
    check_window(&window(2, [5, 6], [3, 3], [1, 1], [1, 1], [1, 1]).unwrap());
    check_window(&window(3, [7, 5], [2, 3], [2, 3], [1, 2], [2, 1]).unwrap());
    check_window(&window(64, [20, 20], [3, 3], [1, 1], [1, 1], [1, 1]).unwrap());
    assert_eq!(Window::out_len(5, 2, 2, 1, 0, 0, true), Some(3));
    assert_eq!(Window::out_len(5, 2, 2, 1, 0, 0, false), Some(2));
    assert_eq!(Window::out_len(2, 4, 1, 1, 0, 0, false), None);
}

/// A shape of rank 0..=4 with axes of size 0..=4, and random data for it.
fn shape_strategy() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..5, 0..=4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn permute_matches_oracle(shape in shape_strategy(), seed in any::<u64>()) {
        let mut axes: Vec<usize> = (0..shape.len()).collect();
        // A seeded Fisher-Yates shuffle.
        let mut s = seed;
        for i in (1..axes.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            axes.swap(i, (s >> 33) as usize % (i + 1));
        }
        prop_assert_eq!(permute(&iota(&shape), &shape, &axes).unwrap(), permute_oracle(&shape, &axes));
    }

    #[test]
    fn slice_matches_oracle(shape in shape_strategy(), picks in prop::collection::vec((0usize..5, -3isize..4, 0usize..5), 4)) {
        let spec: Vec<AxisSlice> = shape.iter().zip(&picks).map(|(&d, &(s, st, l))| {
            if d == 0 { return AxisSlice { start: 0, step: 1, len: 0 }; }
            let start = s % d;
            let step = if st == 0 { 1 } else { st };
            // The longest run from `start` with this step that stays inside the axis.
            let room = if step > 0 { (d - 1 - start) / step as usize } else { start / (-step) as usize };
            AxisSlice { start, step, len: l.min(room + 1) }
        }).collect();
        prop_assert_eq!(slice(&iota(&shape), &shape, &spec).unwrap(), slice_oracle(&shape, &spec));
    }

    #[test]
    fn concat_matches_oracle(shape in prop::collection::vec(1usize..5, 1..=4), axis in 0usize..4, extra in 0usize..4) {
        let axis = axis % shape.len();
        let mut other = shape.clone();
        other[axis] = extra;
        let (a, b) = (iota(&shape), iota(&other).iter().map(|v| v + 1000).collect::<Vec<_>>());
        let got = concat(&[(&a, &shape), (&b, &other)], axis).unwrap();
        let mut out = shape.clone();
        out[axis] += extra;
        let want = oracle(&out, |o| {
            let mut i = o.to_vec();
            if o[axis] < shape[axis] { a[ravel(&i, &shape)] } else { i[axis] -= shape[axis]; b[ravel(&i, &other)] }
        });
        prop_assert_eq!(got, want);
    }

    #[test]
    fn gather_matches_oracle(shape in prop::collection::vec(1usize..5, 1..=4), axis in 0usize..4, picks in prop::collection::vec(0usize..5, 0..6)) {
        let axis = axis % shape.len();
        let idx: Vec<usize> = picks.iter().map(|&p| p % shape[axis]).collect();
        let x = iota(&shape);
        let mut out = shape.clone();
        out[axis] = idx.len();
        let want = oracle(&out, |o| { let mut i = o.to_vec(); i[axis] = idx[o[axis]]; x[ravel(&i, &shape)] });
        prop_assert_eq!(gather(&x, &shape, axis, &idx).unwrap(), want);
    }

    #[test]
    fn broadcast_matches_oracle(to in prop::collection::vec(0usize..4, 0..=4), keep in prop::collection::vec(any::<bool>(), 4), lead in 0usize..3) {
        let lead = lead.min(to.len());
        let shape: Vec<usize> = to[lead..].iter().zip(&keep).map(|(&d, &k)| if k { d } else { 1 }).collect();
        let x = iota(&shape);
        let want = oracle(&to, |o| {
            let i: Vec<usize> = o[lead..].iter().zip(&shape).map(|(&k, &d)| if d == 1 { 0 } else { k }).collect();
            x[ravel(&i, &shape)]
        });
        prop_assert_eq!(broadcast_to(&x, &shape, &to).unwrap(), want);
    }

    #[test]
    fn tile_matches_oracle(shape in shape_strategy(), reps in prop::collection::vec(0usize..4, 4)) {
        let reps = &reps[..shape.len()];
        prop_assert_eq!(tile(&iota(&shape), &shape, reps).unwrap(), tile_oracle(&shape, reps));
    }

    #[test]
    fn pad_matches_oracle(shape in prop::collection::vec(1usize..5, 0..=4), pads in prop::collection::vec((-2i64..5, -2i64..5), 4), mode in 0u8..3) {
        let pads: Vec<(i64, i64)> = shape.iter().zip(&pads).map(|(&d, &(b, a))| {
            // Crop at most the whole axis.
            let b = b.max(-(d as i64));
            (b, a.max(-(d as i64) - b))
        }).collect();
        let mode = match mode { 0 => PadMode::Constant(77), 1 => PadMode::Edge, _ => PadMode::Reflect };
        let got = pad(&iota(&shape), &shape, &pads, mode);
        let out_empty = shape.iter().zip(&pads).any(|(&d, &(b, a))| d as i64 + b + a == 0);
        if !matches!(mode, PadMode::Constant(_)) && out_empty { return Ok(()); }
        prop_assert_eq!(got.unwrap(), pad_oracle(&shape, &pads, mode));
    }

    #[test]
    fn im2col_matches_oracle(c in 1usize..3, h in 1usize..7, w in 1usize..7, k in (1usize..4, 1usize..4), s in (1usize..3, 1usize..3), p in (0usize..3, 0usize..3), d in (1usize..3, 1usize..3)) {
        if let Some(g) = window(c, [h, w], [k.0, k.1], [s.0, s.1], [p.0, p.1], [d.0, d.1]) {
            check_window(&g);
        }
    }
}
