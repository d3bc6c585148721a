//! A TCP relay that adds a fixed one-way latency, for validating the network cost model on real
//! links (`scripts/netem-validate.sh`). A test tool: it is not part of the transport.
//!
//! The kernels this project runs on shape bandwidth with `tc ... tbf` but offer no netem, so the
//! latency comes from here: every chunk read from one side is held until `delay` after it was read,
//! then written to the other side, in both directions, so each byte arrives exactly one latency
//! later than it would have. Connections are accepted on `--listen` and forwarded to `--connect`.
//!
//! ```text
//! delay_relay --listen 10.0.0.1:9001 --connect 127.0.0.1:7000 --delay-ms 40 [--max-connections 1] [--seconds 600]
//! ```
//!
//! The relay stops by itself after `--max-connections` connections have closed, or after
//! `--seconds`, whichever comes first.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Args {
    listen: String,
    connect: String,
    delay: Duration,
    max_connections: usize,
    seconds: u64,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        listen: String::new(),
        connect: String::new(),
        delay: Duration::ZERO,
        max_connections: 1,
        seconds: 600,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => a.listen = value()?,
            "--connect" => a.connect = value()?,
            "--delay-ms" => {
                let ms: f64 = value()?
                    .parse()
                    .map_err(|_| "--delay-ms takes milliseconds".to_string())?;
                if !(ms >= 0.0 && ms.is_finite()) {
                    return Err("--delay-ms must be 0 or more".into());
                }
                a.delay = Duration::from_secs_f64(ms / 1000.0);
            }
            "--max-connections" => {
                a.max_connections = value()?
                    .parse()
                    .map_err(|_| "--max-connections takes a count".to_string())?
            }
            "--seconds" => a.seconds = value()?.parse().map_err(|_| "--seconds takes a count".to_string())?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.listen.is_empty() || a.connect.is_empty() {
        return Err(
            "usage: delay_relay --listen ADDR --connect ADDR --delay-ms MS [--max-connections N] [--seconds S]".into(),
        );
    }
    Ok(a)
}

/// Copies `from` to `to`, each chunk written `delay` after it was read; half-closes `to` at the end.
fn pump(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = std::thread::spawn(move || {
        for (due, chunk) in rx {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx.send((Instant::now() + delay, buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.join();
}

fn main() {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(&a.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {}: {e}", a.listen);
            std::process::exit(2);
        }
    };
    // The whole relay ends after `seconds`, whatever its connections are doing.
    let limit = Duration::from_secs(a.seconds);
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        std::process::exit(0);
    });
    let mut done = Vec::new();
    for _ in 0..a.max_connections {
        let (inbound, _) = match listener.accept() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: accept on {}: {e}", a.listen);
                std::process::exit(1);
            }
        };
        // The target may still be starting: retry for up to 10 s.
        let give_up = Instant::now() + Duration::from_secs(10);
        let outbound = loop {
            match TcpStream::connect(&a.connect) {
                Ok(s) => break s,
                Err(_) if Instant::now() < give_up => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => {
                    eprintln!("error: {}: {e}", a.connect);
                    std::process::exit(1);
                }
            }
        };
        for s in [&inbound, &outbound] {
            let _ = s.set_nodelay(true);
        }
        let (in2, out2) = (
            inbound.try_clone().expect("socket clone"),
            outbound.try_clone().expect("socket clone"),
        );
        let delay = a.delay;
        done.push(std::thread::spawn(move || pump(inbound, outbound, delay)));
        done.push(std::thread::spawn(move || pump(out2, in2, delay)));
    }
    for t in done {
        let _ = t.join();
    }
}
