//! Meshes that work: large messages both ways, exact framing, bounded reader queues, faults.

use super::*;

#[test]
fn three_endpoints_exchange_large_messages_both_ways() {
    let opts = base_opts();
    let results = exchange(mesh(3, &opts), 16 << 20);
    for (sent, framing, handshake) in results {
        assert_eq!(handshake, 2 * plain_handshake_bytes_per_link(&opts.session_fields));
        assert_eq!(
            framing,
            24 * sent + handshake,
            "framing is 24 bytes per message (length and clock) plus the handshake"
        );
    }
}

#[test]
fn three_endpoints_exchange_large_messages_over_tls() {
    let results = exchange(
        mesh_with(tls_opts(3)).into_iter().map(|r| r.unwrap()).collect(),
        16 << 20,
    );
    for (sent, framing, handshake) in results {
        assert!(
            handshake > 2 * plain_handshake_bytes_per_link(&base_opts().session_fields) + 1000,
            "tls handshakes carry certificates"
        );
        // Every 16 KiB record costs 22 bytes: 128 MiB to each of two peers is ~360 kB.
        assert!(
            framing > 24 * sent + handshake + 300_000,
            "framing {framing} must include tls records"
        );
    }
}

#[test]
fn framing_is_exact_without_tls() {
    let opts = TcpOptions {
        session_fields: fields(&[("job.name", "\"of odd length\""), ("x", "1")]),
        ..base_opts()
    };
    let mut ts = mesh(2, &opts);
    let mut b = ts.pop().unwrap();
    let mut a = ts.pop().unwrap();
    assert_eq!(a.framing_bytes(), plain_handshake_bytes_per_link(&opts.session_fields));
    for k in 0..10 {
        a.send(1, Arc::new(vec![k; k as usize]), stamp(k as usize)).unwrap();
    }
    for k in 0..10 {
        assert_eq!(b.recv(0).unwrap(), (Arc::new(vec![k; k as usize]), stamp(k as usize)));
    }
    assert_eq!(a.framing_bytes(), a.handshake_bytes() + 240);
    assert_eq!(b.framing_bytes(), b.handshake_bytes());
}

#[test]
fn a_crashed_peer_is_reported_quickly_and_a_silent_one_after_the_timeout() {
    let opts = TcpOptions {
        timeout: Duration::from_millis(300),
        ..base_opts()
    };
    for tls in [false, true] {
        let opts: Vec<TcpOptions> = if tls {
            tls_opts(2)
                .into_iter()
                .map(|o| TcpOptions {
                    timeout: opts.timeout,
                    ..o
                })
                .collect()
        } else {
            vec![opts.clone(); 2]
        };
        let mut ts: Vec<TcpTransport> = mesh_with(opts).into_iter().map(|r| r.unwrap()).collect();
        let b = ts.pop().unwrap();
        let mut a = ts.pop().unwrap();

        let start = Instant::now();
        let err = a.recv(1).unwrap_err().to_string();
        let waited = start.elapsed();
        assert_eq!(err, "party 0: link to party 1: no message within 300ms");
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_secs(2),
            "{waited:?}"
        );

        // A long timeout now, so that only the disconnect can end the wait.
        a.timeout = Duration::from_secs(10);
        let crash = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            drop(b);
        });
        let start = Instant::now();
        let err = a.recv(1).unwrap_err().to_string();
        assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
        assert_eq!(err, "party 0: link to party 1: connection closed", "tls {tls}");
        // The failure is sticky, and sending eventually fails too.
        assert!(a.recv(1).is_err());
        crash.join().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while a.send(1, Arc::new(vec![1; 1 << 16]), stamp(1)).is_ok() {
            assert!(
                Instant::now() < deadline,
                "sending to a closed peer must fail eventually"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn queued_messages_are_delivered_before_a_drop_closes_the_link() {
    let mut ts = mesh(2, &base_opts());
    let mut b = ts.pop().unwrap();
    let mut a = ts.pop().unwrap();
    a.send(1, Arc::new(big_payload(0, 1 << 20)), stamp(1)).unwrap();
    a.send(1, Arc::new(vec![42]), stamp(1)).unwrap();
    drop(a);
    assert_eq!(b.recv(0).unwrap().0.len(), 1 << 20);
    assert_eq!(*b.recv(0).unwrap().0, vec![42]);
    assert_eq!(
        b.recv(0).unwrap_err().to_string(),
        "party 1: link to party 0: connection closed"
    );
}

/// A hand-written peer: dials endpoint 0 at `addr` as endpoint 1 of 2, completes the plain
/// handshake with `opts`, then writes `garbage` and closes.
#[test]
fn sending_to_oneself_or_a_stranger_is_an_error() {
    let mut ts = mesh(2, &base_opts());
    assert!(ts[0].send(0, Arc::new(vec![]), stamp(0)).is_err());
    assert!(ts[0].send(5, Arc::new(vec![]), stamp(5)).is_err());
    assert!(ts[0].recv(0).unwrap_err().to_string().contains("no such link"));
    let single = TcpTransport::establish(0, TcpListener::bind("127.0.0.1:0").unwrap(), &[], &base_opts());
    assert!(single.is_err());
}

/// Loopback throughput of one 128 MiB message, one direction (`--nocapture` prints it).
#[test]
fn throughput_of_a_128_mib_message() {
    let words = 16 << 20;
    for tls in [false, true] {
        let opts = if tls { tls_opts(2) } else { vec![base_opts(); 2] };
        let mut ts: Vec<TcpTransport> = mesh_with(opts).into_iter().map(|r| r.unwrap()).collect();
        let msg = Arc::new(big_payload(0, words));
        let mut best = f64::MAX;
        for _ in 0..3 {
            let start = Instant::now();
            ts[0].send(1, Arc::clone(&msg), stamp(1)).unwrap();
            let got = ts[1].recv(0).unwrap().0;
            best = best.min(start.elapsed().as_secs_f64());
            assert_eq!(got.len(), words);
        }
        let gbps = (8 * words) as f64 / best / 1e9;
        println!(
            "tcp loopback, tls {tls}: 128 MiB in {:.1} ms = {gbps:.2} GB/s",
            best * 1e3
        );
    }
}

#[test]
fn a_reader_queues_no_more_than_its_bound_and_every_message_arrives_in_order() {
    // 20 000 messages of 100 words (2M words) against a queue of 10 000 words: the reader stalls,
    // the sender's writer meets TCP backpressure, and `send` never blocks.
    let opts = TcpOptions {
        max_queued_words: 10_000,
        ..base_opts()
    };
    let mut ts = mesh(2, &opts);
    let mut b = ts.pop().unwrap();
    let mut a = ts.pop().unwrap();
    let count = 20_000usize;
    let start = Instant::now();
    for k in 0..count {
        a.send(1, Arc::new(vec![k as u64; 100]), stamp(k % 1000)).unwrap();
    }
    assert!(start.elapsed() < Duration::from_secs(2), "send must not block");
    thread::sleep(Duration::from_millis(300));
    let backlog = &b.links[0].as_ref().unwrap().backlog;
    let queued = backlog.queued();
    assert!(queued > 0, "the reader has started queueing");
    assert!(queued <= 10_000, "queued {queued} words, bound 10000");
    for k in 0..count {
        let (msg, st) = b.recv(0).unwrap();
        assert_eq!((msg.len(), msg[0], st), (100, k as u64, stamp(k % 1000)));
        assert!(b.links[0].as_ref().unwrap().backlog.queued() <= 10_000);
    }
    assert_eq!(b.links[0].as_ref().unwrap().backlog.queued(), 0);
}

#[test]
fn two_peers_sending_large_tensors_to_each_other_with_small_queues_do_not_deadlock() {
    let opts = TcpOptions {
        max_queued_words: 1 << 16,
        ..base_opts()
    };
    for tls in [false, true] {
        let all: Vec<TcpOptions> = if tls {
            tls_opts(2)
                .into_iter()
                .map(|o| TcpOptions {
                    max_queued_words: opts.max_queued_words,
                    ..o
                })
                .collect()
        } else {
            vec![opts.clone(); 2]
        };
        let ts: Vec<TcpTransport> = mesh_with(all).into_iter().map(|r| r.unwrap()).collect();
        let handles: Vec<_> = ts
            .into_iter()
            .map(|mut t| {
                thread::spawn(move || {
                    let (me, peer) = (t.id(), 1 - t.id());
                    for k in 0..4 {
                        t.send(peer, Arc::new(big_payload(me + k, 1 << 21)), stamp(k)).unwrap();
                    }
                    for k in 0..4 {
                        let (got, st) = t.recv(peer).unwrap();
                        assert_eq!(st, stamp(k));
                        assert!(*got == big_payload(peer + k, 1 << 21), "tls {tls}: message {k}");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}

#[test]
fn a_message_over_the_frame_limit_is_refused_naming_the_peer_the_size_and_the_limit() {
    let small_limit = TcpOptions {
        max_frame_words: 1000,
        ..base_opts()
    };
    let mut ts = mesh_with(vec![base_opts(), small_limit])
        .into_iter()
        .map(|r| r.unwrap());
    let mut a = ts.next().unwrap();
    let mut b = ts.next().unwrap();
    a.send(1, Arc::new(vec![1; 1000]), stamp(0)).unwrap();
    a.send(1, Arc::new(vec![2; 2000]), stamp(1)).unwrap();
    assert_eq!(b.recv(0).unwrap().0.len(), 1000, "a message at the limit passes");
    assert_eq!(
        b.recv(0).unwrap_err().to_string(),
        "party 1: link to party 0: bad frame: a frame of 2000 words (15.6 KiB) exceeds the frame limit \
         of 1000 words (7.8 KiB)"
    );
    assert_eq!(TcpOptions::default().max_frame_words * 8, 1 << 30, "1 GiB by default");
}
