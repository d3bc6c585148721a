//! The in-process simulator transport: every endpoint is a thread, every directed link its own
//! unbounded channel, so no lock is shared on the data path and a send never blocks. Messages are
//! moved, not copied.

use super::{Message, Transport};
use crate::error::{Error, PartyId, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use std::time::Duration;

/// One endpoint's side of a fully connected in-process network.
pub struct SimTransport {
    id: PartyId,
    to: Vec<Option<Sender<Message>>>,
    from: Vec<Option<Receiver<Message>>>,
    timeout: Duration,
}

/// Builds a fully connected network of `endpoints` endpoints; a `recv` that waits longer than
/// `timeout` fails naming the silent peer.
pub fn network(endpoints: usize, timeout: Duration) -> Vec<SimTransport> {
    let mut to: Vec<Vec<Option<Sender<Message>>>> =
        (0..endpoints).map(|_| (0..endpoints).map(|_| None).collect()).collect();
    let mut from: Vec<Vec<Option<Receiver<Message>>>> =
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
        .map(|(id, (to, from))| SimTransport { id, to, from, timeout })
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

    fn send(&mut self, to: PartyId, msg: Message) -> Result<()> {
        let link = self
            .to
            .get(to)
            .and_then(Option::as_ref)
            .ok_or_else(|| self.link_error(to, "no such link"))?;
        link.send(msg).map_err(|_| self.link_error(to, "peer has gone away"))
    }

    fn recv(&mut self, from: PartyId) -> Result<Message> {
        let link = self
            .from
            .get(from)
            .and_then(Option::as_ref)
            .ok_or_else(|| self.link_error(from, "no such link"))?;
        link.recv_timeout(self.timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => self.link_error(from, &format!("no message within {:?}", self.timeout)),
            RecvTimeoutError::Disconnected => self.link_error(from, "peer has gone away"),
        })
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
        a.send(2, m(vec![1, 2])).unwrap();
        a.send(2, m(vec![3])).unwrap();
        b.send(2, m(vec![9])).unwrap();
        let t = std::thread::spawn(move || (c.recv(0).unwrap(), c.recv(0).unwrap(), c.recv(1).unwrap()));
        assert_eq!(t.join().unwrap(), (m(vec![1, 2]), m(vec![3]), m(vec![9])));
        assert!(a.send(0, m(vec![])).is_err());
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
