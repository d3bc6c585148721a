//! The restricted unpickler and tensor extraction against hand-made pickles and blobs.

use super::pickle::{PResult, Unpickler, Val};
use super::tensor::{DType, TensorRef, f16_to_f32};

fn run(code: &[u8]) -> PResult<Val> {
    Unpickler::new(code).run()
}

#[test]
fn containers_numbers_strings_and_memo() {
    // (1, -2, 300, 'ab', [True, None], {'k': 1.5}) with a memo round trip.
    let mut p = vec![0x80, 2, b'('];
    p.extend([b'K', 1, b'J']);
    p.extend((-2i32).to_le_bytes());
    p.extend([b'M', 0x2c, 0x01, 0x8c, 2, b'a', b'b', b'q', 0]);
    p.extend([b']', 0x88, b'a', b'N', b'a', b'}', b'X', 1, 0, 0, 0, b'k', b'G']);
    p.extend(1.5f64.to_be_bytes());
    p.extend([b's', b't', b'.']);
    let v = run(&p).unwrap();
    assert_eq!(
        v,
        Val::Tuple(vec![
            Val::Int(1),
            Val::Int(-2),
            Val::Int(300),
            Val::Str("ab".into()),
            Val::List(vec![Val::Bool(true), Val::None]),
            Val::Dict(vec![(Val::Str("k".into()), Val::Float(1.5))]),
        ])
    );
    assert_eq!(
        run(&[b'K', 7, b'q', 3, b'h', 3, 0x86, b'.']).unwrap(),
        Val::Tuple(vec![Val::Int(7); 2])
    );
    assert_eq!(run(&[0x8a, 2, 0xff, 0xff, b'.']).unwrap(), Val::Int(-1));
}

#[test]
fn refuses_code_execution() {
    let e = run(b"cos\nsystem\n(S'echo hi'\ntR.").unwrap_err();
    assert!(e.contains("refusing global os.system"), "{e}");
    let e = run(b"cbuiltins\neval\n.").unwrap_err();
    assert!(e.contains("refusing global builtins.eval"), "{e}");
    // INST, OBJ and NEWOBJ build arbitrary objects.
    for op in [b'i', b'o', 0x81, 0x92] {
        let e = run(&[b'(', op, b'.']).unwrap_err();
        assert!(e.contains("not allowed"), "{e}");
    }
    // An allowed callable with the wrong arguments.
    let e = run(b"ccollections\nOrderedDict\n(K\x01tR.").unwrap_err();
    assert!(e.contains("unexpected arguments"), "{e}");
    // Deep nesting and memo doubling are bounded.
    let deep = [vec![b'K', 1], vec![0x85; 100_000], vec![b'.']].concat();
    assert!(run(&deep).unwrap_err().contains("nest deeper"));
    let mut doubling = vec![b']', b'q', 0];
    for _ in 0..40 {
        doubling.extend([b'(', b'h', 0, b'h', 0, b'l', b'q', 0]);
    }
    doubling.push(b'.');
    assert!(run(&doubling).unwrap_err().contains("copies too many"));
    // Truncated input and stack underflow are errors, not panics.
    assert!(run(&[b'X', 9, 0, 0, 0, b'a']).unwrap_err().contains("ends inside"));
    assert!(run(b"s.").unwrap_err().contains("underflow"));
    assert!(run(b"").is_err());
}

#[test]
fn strided_views_and_dtypes() {
    // A 2x3 float storage read as its transpose (shape [3, 2], stride [1, 3]).
    let blob: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let t = TensorRef {
        key: "0".into(),
        dtype: DType::F32,
        numel: 6,
        offset: 0,
        shape: vec![3, 2],
        stride: vec![1, 3],
    };
    let out = t.materialise(&blob).unwrap().unwrap();
    assert_eq!(out.data(), &[0., 3., 1., 4., 2., 5.]);
    let past = TensorRef { offset: 1, ..t.clone() };
    assert!(past.materialise(&blob).unwrap_err().contains("past the storage"));
    let long = TensorRef {
        dtype: DType::I64,
        numel: 1,
        shape: vec![],
        stride: vec![],
        ..t.clone()
    };
    assert_eq!(long.materialise(&[0; 8]).unwrap(), None);
    assert_eq!(f16_to_f32(0x3c00), 1.0);
    assert_eq!(f16_to_f32(0xc000), -2.0);
    assert_eq!(DType::BF16.get(&[0x80, 0x3f], 0), 1.0);
}
