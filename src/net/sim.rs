//! The in-process simulator transport: every endpoint is a thread, every directed link its own
//! unbounded channel, so no lock is shared on the data path and a send never blocks. Messages are
//! moved, not copied.
//!
//! Optionally every delivery is delayed by a fixed one-way latency: a message becomes visible to
//! its receiver `latency` after it was sent, as on a network whose links have that latency and
//! unlimited bandwidth. A run's wall time then grows by latency × its critical-path depth, which
//! is how the depth measurement is checked against time.

use super::{Message, Stamp, Transport};
use crate::error::{Error, PartyId, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use std::time::{Duration, Instant};

/// What travels on a simulated link: the message, its clock and when it may be delivered.
type Parcel = (Message, Stamp, Option<Instant>);

/// One endpoint's side of a fully connected in-process network.
pub struct SimTransport {
    id: PartyId,
    to: Vec<Option<Sender<Parcel>>>,
    from: Vec<Option<Receiver<Parcel>>>,
    timeout: Duration,
    latency: Option<Duration>,
}

/// Builds a fully connected network of `endpoints` endpoints; a `recv` that waits longer than
/// `timeout` fails naming the silent peer.
pub fn network(endpoints: usize, timeout: Duration) -> Vec<SimTransport> {
    network_with_latency(endpoints, timeout, None)
}

/// [`network`] whose links deliver each message `latency` after it was sent (none: at once).
pub fn network_with_latency(endpoints: usize, timeout: Duration, latency: Option<Duration>) -> Vec<SimTransport> {
    let latency = latency.filter(|l| !l.is_zero());
    let mut to: Vec<Vec<Option<Sender<Parcel>>>> =
        (0..endpoints).map(|_| (0..endpoints).map(|_| None).collect()).collect();
    let mut from: Vec<Vec<Option<Receiver<Parcel>>>> =
        (0..endpoints).map(|_| (0..endpoints).map(|_| None).collect()).collect();
    for (i, row) in to.iter_mut().enumerate() {
        for (j, slot) in row.iter_mut().enumerate() {
            if i != j {
                let (s, r) = unbounded();
                *slot = Some(s);
                from[j][i] = Some(r);
            }
        }
    }
    to.into_iter()
        .zip(from)
        .enumerate()
        .map(|(id, (to, from))| SimTransport {
            id,
            to,
            from,
            timeout,
            latency,
        })
        .collect()
}

impl SimTransport {
    fn link_error(&self, peer: PartyId, detail: &str) -> Error {
        Error::Net {
            party: self.id,
            peer: format!("endpoint {peer}"),
            detail: detail.to_string(),
        }
    }
}

impl Transport for SimTransport {
    fn id(&self) -> PartyId {
        self.id
    }

    fn endpoints(&self) -> usize {
        self.to.len()
    }

    fn send(&mut self, to: PartyId, msg: Message, stamp: Stamp) -> Result<()> {
        let link = self
            .to
            .get(to)
            .and_then(Option::as_ref)
            .ok_or_else(|| self.link_error(to, "no such link"))?;
        let due = self.latency.map(|l| Instant::now() + l);
        link.send((msg, stamp, due))
            .map_err(|_| self.link_error(to, "peer has gone away"))
    }

    fn recv(&mut self, from: PartyId) -> Result<(Message, Stamp)> {
        let link = self
            .from
            .get(from)
            .and_then(Option::as_ref)
            .ok_or_else(|| self.link_error(from, "no such link"))?;
        let (msg, stamp, due) = link.recv_timeout(self.timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => self.link_error(from, &format!("no message within {:?}", self.timeout)),
            RecvTimeoutError::Disconnected => self.link_error(from, "peer has gone away"),
        })?;
        if let Some(wait) = due.and_then(|d| d.checked_duration_since(Instant::now())) {
            std::thread::sleep(wait);
        }
        Ok((msg, stamp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_move_between_threads_in_order() {
        let mut net = network(3, Duration::from_secs(5));
        let mut c = net.pop().unwrap();
        let mut b = net.pop().unwrap();
        let mut a = net.pop().unwrap();
        let m = |v: Vec<u64>| std::sync::Arc::new(v);
        let s = |depth| Stamp {
            depth,
            ..Stamp::default()
        };
        a.send(2, m(vec![1, 2]), s(1)).unwrap();
        a.send(2, m(vec![3]), s(2)).unwrap();
        b.send(2, m(vec![9]), s(3)).unwrap();
        let t = std::thread::spawn(move || (c.recv(0).unwrap(), c.recv(0).unwrap(), c.recv(1).unwrap()));
        assert_eq!(
            t.join().unwrap(),
            ((m(vec![1, 2]), s(1)), (m(vec![3]), s(2)), (m(vec![9]), s(3)))
        );
        assert!(a.send(0, m(vec![]), s(0)).is_err());
    }

    #[test]
    fn a_latency_delays_every_delivery() {
        let latency = Duration::from_millis(30);
        let mut net = network_with_latency(2, Duration::from_secs(5), Some(latency));
        let mut b = net.pop().unwrap();
        let mut a = net.pop().unwrap();
        let t0 = Instant::now();
        a.send(1, std::sync::Arc::new(vec![1]), Stamp::default()).unwrap();
        b.recv(0).unwrap();
        b.send(0, std::sync::Arc::new(vec![2]), Stamp::default()).unwrap();
        a.recv(1).unwrap();
        let took = t0.elapsed();
        assert!(took >= 2 * latency, "a round trip takes two latencies, took {took:?}");
        assert!(took < 2 * latency + Duration::from_millis(200), "took {took:?}");
    }

    #[test]
    fn a_vanished_peer_is_an_error_not_a_hang() {
        let mut net = network(2, Duration::from_millis(50));
        let b = net.pop().unwrap();
        let mut a = net.pop().unwrap();
        let err = a.recv(1).unwrap_err().to_string();
        assert!(err.contains("no message within"), "{err}");
        drop(b);
        let err = a.recv(1).unwrap_err().to_string();
        assert!(err.contains("gone away"), "{err}");
    }
}
