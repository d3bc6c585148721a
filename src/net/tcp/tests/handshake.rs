//! Handshakes that must fail, on both sides, with a message naming what differs; and bytes that
//! are not frames.

use super::super::handshake::{self, Setup};
use super::*;
use crate::net::frame::{read_frame, write_frame};
use std::io::Write;
use std::net::TcpStream;

fn expect_both_fail(results: Vec<Result<TcpTransport>>, wanted: &[&str]) -> Vec<String> {
    let errs: Vec<String> = results
        .into_iter()
        .map(|r| r.err().expect("establish must fail").to_string())
        .collect();
    for e in &errs {
        assert!(
            wanted.iter().any(|w| e.contains(w)),
            "{e:?} should mention one of {wanted:?}"
        );
    }
    errs
}

#[test]
fn session_id_mismatch_fails_on_both_sides() {
    let start = Instant::now();
    let errs = expect_both_fail(
        mesh_with(vec![
            base_opts(),
            TcpOptions {
                session_id: 8,
                ..base_opts()
            },
        ]),
        &["session id differs"],
    );
    assert_eq!(
        errs[1],
        "party 1: link to party 0: session id differs (ours 8, theirs 7)"
    );
    assert_eq!(
        errs[0],
        "party 0: link to party 1: session id differs (ours 7, theirs 8)"
    );
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_session_mismatch_names_the_first_differing_field_on_both_sides() {
    let with = |pairs: &[(&str, &str)]| TcpOptions {
        session_fields: fields(pairs),
        ..base_opts()
    };
    let ours = [
        ("protocol.family", "\"2pc-ttp\""),
        ("job.kind", "\"bench-op\""),
        ("job.reps", "3"),
        ("job.seed", "1"),
    ];
    let theirs = [
        ("protocol.family", "\"2pc-ttp\""),
        ("job.kind", "\"bench-op\""),
        ("job.reps", "5"),
        ("job.seed", "2"),
    ];
    let errs = expect_both_fail(mesh_with(vec![with(&ours), with(&theirs)]), &["session differs"]);
    assert_eq!(
        errs[0],
        "party 0: link to party 1: session differs at job.reps (ours 3, theirs 5)"
    );
    assert_eq!(
        errs[1],
        "party 1: link to party 0: session differs at job.reps (ours 5, theirs 3)"
    );

    // A field only one side has.
    let errs = expect_both_fail(mesh_with(vec![with(&ours), with(&ours[..3])]), &["session differs"]);
    assert_eq!(
        errs[0],
        "party 0: link to party 1: session differs at job.seed (ours 1, theirs absent)"
    );
    assert_eq!(
        errs[1],
        "party 1: link to party 0: session differs at job.seed (ours absent, theirs 1)"
    );

    // Long values travel as their hash and still compare exactly.
    let long_a = "a".repeat(1000);
    let long_b = format!("{}b", "a".repeat(999));
    let errs = expect_both_fail(
        mesh_with(vec![with(&[("job.data", &long_a)]), with(&[("job.data", &long_b)])]),
        &["session differs"],
    );
    assert!(
        errs[0].starts_with("party 0: link to party 1: session differs at job.data (ours sha256:"),
        "{}",
        errs[0]
    );
    let same = mesh_with(vec![with(&[("job.data", &long_a)]), with(&[("job.data", &long_a)])]);
    assert!(same.iter().all(Result::is_ok));
}

#[test]
fn a_bad_session_description_fails_before_connecting() {
    let (mut ls, addrs) = listeners(2);
    let opts = TcpOptions {
        session_fields: fields(&[("job.a", "1"), ("job.a", "2")]),
        ..base_opts()
    };
    let err = TcpTransport::establish(0, ls.remove(0), &addrs, &opts)
        .err()
        .unwrap()
        .to_string();
    assert_eq!(err, "session description: field job.a appears twice");
    let many: Vec<(String, String)> = (0..=MAX_SESSION_FIELDS)
        .map(|k| (format!("f{k}"), "0".into()))
        .collect();
    let opts = TcpOptions {
        session_fields: many,
        ..base_opts()
    };
    let err = TcpTransport::establish(0, ls.remove(0), &addrs, &opts)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("4097 fields, at most 4096"), "{err}");
}

#[test]
fn endpoint_count_mismatch_fails_on_both_sides() {
    // Endpoint 1 believes in three endpoints; endpoint 0 in two.
    let (ls, addrs) = listeners(3);
    let mut ls = ls.into_iter();
    let (l0, l1) = (ls.next().unwrap(), ls.next().unwrap());
    let a = {
        let addrs = addrs[..2].to_vec();
        thread::spawn(move || TcpTransport::establish(0, l0, &addrs, &base_opts()))
    };
    let b = thread::spawn(move || TcpTransport::establish(1, l1, &addrs, &base_opts()));
    let errs = expect_both_fail(vec![a.join().unwrap(), b.join().unwrap()], &["endpoint count differs"]);
    assert_eq!(
        errs[0],
        "party 0: link to party 1: endpoint count differs (ours 2, theirs 3)"
    );
    assert_eq!(
        errs[1],
        "party 1: link to party 0: endpoint count differs (ours 3, theirs 2)"
    );
}

#[test]
fn wrong_party_id_fails_on_both_sides() {
    // Endpoint 2 has the addresses of parties 0 and 1 swapped: it dials party 1 thinking it is
    // party 0. Party 0 then waits for party 2 until its (short) connect timeout.
    let opts = TcpOptions {
        connect_timeout: Duration::from_secs(2),
        ..base_opts()
    };
    let (ls, addrs) = listeners(3);
    let swapped = vec![addrs[1], addrs[0], addrs[2]];
    let handles: Vec<_> = ls
        .into_iter()
        .enumerate()
        .map(|(id, l)| {
            let a = if id == 2 { swapped.clone() } else { addrs.clone() };
            let o = opts.clone();
            thread::spawn(move || {
                let start = Instant::now();
                let r = TcpTransport::establish(id, l, &a, &o);
                (r.err().map(|e| e.to_string()), start.elapsed())
            })
        })
        .collect();
    let res: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        res[2].0.as_deref(),
        Some("party 2: link to party 0: party id: expected 0, got 1")
    );
    assert_eq!(
        res[1].0.as_deref(),
        Some("party 1: link to party 2: party id: party 2 dialled party 0, but this is party 1")
    );
    assert!(
        res[1].1 < Duration::from_secs(1) && res[2].1 < Duration::from_secs(1),
        "{res:?}"
    );
    let e0 = res[0].0.as_deref().unwrap();
    assert!(
        e0.starts_with("party 0: link to party 2: no connection within 2s"),
        "{e0}"
    );
}

#[test]
fn tls_on_one_side_only_fails_on_both_sides() {
    let mut opts = tls_opts(2);
    opts[1].tls = None;
    let errs = expect_both_fail(mesh_with(opts), &["tls differs"]);
    assert_eq!(errs[0], "party 0: link to party 1: tls differs (ours on, theirs off)");
}

fn raw_peer(addr: SocketAddr, opts: &TcpOptions, garbage: Vec<u8>) -> thread::JoinHandle<()> {
    let setup = Setup {
        id: 1,
        endpoints: 2,
        opts,
        tls: None,
        fields: handshake::wire_fields(&opts.session_fields).unwrap(),
        counters: Arc::default(),
        io_timeout: Duration::from_secs(5),
    };
    let preamble = setup.preamble(0);
    let session = setup.session_frame();
    thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        write_frame(&mut s, &preamble).unwrap();
        let _ = read_frame(&mut s, 16).unwrap().unwrap();
        let _ = read_frame(&mut s, 64).unwrap().unwrap();
        write_frame(&mut s, &session).unwrap();
        s.write_all(&garbage).unwrap();
        thread::sleep(Duration::from_millis(100));
    })
}

#[test]
fn garbled_and_oversized_frames_are_errors_not_panics() {
    let opts = TcpOptions {
        max_frame_words: 1000,
        ..base_opts()
    };
    // A message header: the word count, then a valid clock (epoch 0, phase online, depth 1).
    let header = |len: u64| [len, 3 << 32, 1].map(u64::to_le_bytes).concat();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            header(1001),
            "bad frame: a frame of 1001 words (7.8 KiB) exceeds the frame limit of 1000 words (7.8 KiB)",
        ),
        (
            header(u64::MAX),
            "bad frame: a frame of 18446744073709551615 words (128.0 EiB) exceeds the frame limit of 1000 \
                 words (7.8 KiB)",
        ),
        (
            [&header(4)[..], &[1, 2, 3]].concat(),
            "bad frame: stream ended inside a frame of 4 words",
        ),
        (vec![1, 2, 3], "bad frame: stream ended inside a message header"),
        (
            [4u64, 7 << 32, 1].map(u64::to_le_bytes).concat(),
            "bad frame: message header holds no valid clock",
        ),
    ];
    for (garbage, wanted) in cases {
        let (mut ls, addrs) = listeners(2);
        drop(ls.pop());
        let peer = raw_peer(addrs[0], &opts, garbage);
        let mut t = TcpTransport::establish(0, ls.pop().unwrap(), &addrs, &opts).unwrap();
        let err = t.recv(1).unwrap_err().to_string();
        assert_eq!(err, format!("party 0: link to party 1: {wanted}"));
        peer.join().unwrap();
    }
}

#[test]
fn a_stray_connection_fails_establish_without_panicking() {
    for junk in [b"GET / HTTP/1.1\r\n\r\n".to_vec(), vec![0xff; 64], vec![]] {
        let (mut ls, addrs) = listeners(2);
        drop(ls.pop());
        let addr = addrs[0];
        let stray = thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let _ = s.write_all(&junk);
            thread::sleep(Duration::from_millis(100));
        });
        let start = Instant::now();
        let err = TcpTransport::establish(0, ls.pop().unwrap(), &addrs, &base_opts())
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("party 0: link to endpoint at 127.0.0.1:"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(2));
        stray.join().unwrap();
    }
}
