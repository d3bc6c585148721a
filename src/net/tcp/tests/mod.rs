//! Tests of the TCP transport over loopback: meshes of endpoints in threads of this process.

mod handshake;
mod mesh;
mod tls;

use super::handshake::{PREAMBLE_WORDS, SESSION_FIXED_WORDS};
use super::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::thread;

/// A session description from literal pairs.
fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

fn listeners(n: usize) -> (Vec<TcpListener>, Vec<SocketAddr>) {
    let ls: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let addrs = ls.iter().map(|l| l.local_addr().unwrap()).collect();
    (ls, addrs)
}

fn base_opts() -> TcpOptions {
    TcpOptions {
        session_id: 7,
        session_fields: fields(&[("protocol.family", "\"2pc-ttp\""), ("job.reps", "3")]),
        timeout: Duration::from_secs(20),
        connect_timeout: Duration::from_secs(10),
        ..TcpOptions::default()
    }
}

/// Establishes a mesh of `opts.len()` endpoints concurrently, one thread each.
fn mesh_with(opts: Vec<TcpOptions>) -> Vec<Result<TcpTransport>> {
    let (ls, addrs) = listeners(opts.len());
    let handles: Vec<_> = ls
        .into_iter()
        .zip(opts)
        .enumerate()
        .map(|(id, (l, o))| {
            let addrs = addrs.clone();
            thread::spawn(move || TcpTransport::establish(id, l, &addrs, &o))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn mesh(n: usize, opts: &TcpOptions) -> Vec<TcpTransport> {
    mesh_with(vec![opts.clone(); n])
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

fn tls_opts(n: usize) -> Vec<TcpOptions> {
    TlsSetup::self_signed_session(n)
        .into_iter()
        .map(|t| TcpOptions {
            tls: Some(t),
            ..base_opts()
        })
        .collect()
}

fn big_payload(sender: usize, len: usize) -> Vec<u64> {
    (0..len as u64)
        .map(|k| k.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ((sender as u64) << 60))
        .collect()
}

/// A stamp that tells messages apart (so tests see stamps arrive with their payloads).
fn stamp(k: usize) -> Stamp {
    Stamp {
        epoch: 1,
        depth: k as u32,
        party_depth: 2 * k as u32,
        phase: crate::net::Phase::Online,
    }
}

fn small(sender: usize, to: usize, k: usize) -> Vec<u64> {
    vec![
        sender as u64,
        to as u64,
        k as u64,
        (sender * 1000 + to * 100 + k) as u64,
    ]
}

/// Every endpoint sends, to every other endpoint at once: small messages, one large message,
/// more small ones and an empty one; then receives everything and checks order and content.
/// Returns each endpoint's (messages sent, framing bytes, handshake bytes).
fn exchange(ts: Vec<TcpTransport>, big_words: usize) -> Vec<(u64, u64, u64)> {
    let n = ts.len();
    let handles: Vec<_> = ts
        .into_iter()
        .map(|mut t| {
            thread::spawn(move || {
                let me = t.id();
                let big = Arc::new(big_payload(me, big_words));
                let mut sent = 0u64;
                for to in (0..n).filter(|&p| p != me) {
                    for k in 0..20 {
                        t.send(to, Arc::new(small(me, to, k)), stamp(k)).unwrap();
                        sent += 1;
                    }
                    t.send(to, Arc::clone(&big), stamp(99)).unwrap();
                    for k in 20..40 {
                        t.send(to, Arc::new(small(me, to, k)), stamp(k)).unwrap();
                    }
                    t.send(to, Arc::new(Vec::new()), stamp(100)).unwrap();
                    sent += 22;
                }
                for from in (0..n).filter(|&p| p != me) {
                    for k in 0..20 {
                        assert_eq!(t.recv(from).unwrap(), (Arc::new(small(from, me, k)), stamp(k)));
                    }
                    let (got, got_stamp) = t.recv(from).unwrap();
                    assert_eq!(got_stamp, stamp(99));
                    assert_eq!(got.len(), big_words);
                    assert!(
                        *got == big_payload(from, big_words),
                        "large payload from {from} differs"
                    );
                    drop(got);
                    for k in 20..40 {
                        assert_eq!(*t.recv(from).unwrap().0, small(from, me, k));
                    }
                    assert!(t.recv(from).unwrap().0.is_empty());
                }
                (sent, t.framing_bytes(), t.handshake_bytes())
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// Handshake bytes one endpoint writes on one plain link with session description `fields`: the
/// preamble, and the session frame whose description is a 4-byte length before each string.
fn plain_handshake_bytes_per_link(fields: &[(String, String)]) -> u64 {
    let preamble = 8 + 8 * PREAMBLE_WORDS as u64;
    let bytes: usize = fields.iter().map(|(n, v)| 8 + n.len() + v.len()).sum();
    let session = 8 + 8 * (SESSION_FIXED_WORDS + bytes.div_ceil(8)) as u64;
    preamble + session
}
