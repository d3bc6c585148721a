//! The in-process simulator transport: every endpoint is a thread, every directed link its own
//! unbounded channel, so no lock is shared on the data path and a send never blocks. Messages are
//! moved, not copied.
//!
//! Optionally every delivery is delayed by a fixed one-way latency: a message becomes visible to
//! its receiver `latency` after it was sent, as on a network whose links have that latency and
//! unlimited bandwidth. A run's wall time then grows by latency × its critical-path depth, which
//! is how the depth measurement is checked against time.
//!
//! For `testbed audit`, an endpoint can also keep every message it consumes ([`Recorder`]): off
//! unless asked for, and then only a reference count per message (the payload is shared, not
//! copied).

use super::{Message, Stamp, Transport};
use crate::error::{Error, PartyId, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use std::sync::{Arc, Condvar, Mutex};
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
    /// Where the computing parties (endpoints `0..parties`) meet in [`Transport::align`].
    meeting: Arc<Meeting>,
    /// Keeps what this endpoint consumes, when an audit asked for it.
    recorder: Option<Recorder>,
}

/// Every message one endpoint consumed, in order, with the endpoint it came from: its part of a
/// party's view (`testbed audit`). Cloning shares the record.
#[derive(Clone, Debug, Default)]
pub struct Recorder(Arc<Mutex<Vec<(usize, Message)>>>);

impl Recorder {
    /// The messages consumed so far, in order, as (sender, payload).
    pub fn messages(&self) -> Vec<(usize, Message)> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// Builds a fully connected network of `endpoints` endpoints; a `recv` that waits longer than
/// `timeout` fails naming the silent peer.
pub fn network(endpoints: usize, timeout: Duration) -> Vec<SimTransport> {
    network_with_latency(endpoints, endpoints, timeout, None)
}

/// [`network`] whose links deliver each message `latency` after it was sent (none: at once), and
/// whose first `parties` endpoints (the computing parties) align at barriers.
pub fn network_with_latency(
    endpoints: usize,
    parties: usize,
    timeout: Duration,
    latency: Option<Duration>,
) -> Vec<SimTransport> {
    let latency = latency.filter(|l| !l.is_zero());
    let meeting = Arc::new(Meeting::new(parties));
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
            meeting: Arc::clone(&meeting),
            recorder: None,
        })
        .collect()
}

/// A reusable meeting point of a fixed number of threads, with a timeout (a party that never comes
/// is an error, never a hang).
struct Meeting {
    size: usize,
    /// (threads waiting in the current generation, generation).
    state: Mutex<(usize, u64)>,
    changed: Condvar,
}

impl Meeting {
    fn new(size: usize) -> Self {
        Self {
            size,
            state: Mutex::new((0, 0)),
            changed: Condvar::new(),
        }
    }

    /// Waits until `size` threads have arrived; false if `timeout` passed first.
    fn wait(&self, timeout: Duration) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        let generation = state.1;
        state.0 += 1;
        if state.0 == self.size {
            *state = (0, generation + 1);
            self.changed.notify_all();
            return true;
        }
        let deadline = Instant::now() + timeout;
        while state.1 == generation {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                state.0 -= 1;
                return false;
            }
            match self.changed.wait_timeout(state, left) {
                Ok((s, _)) => state = s,
                Err(_) => return false,
            }
        }
        true
    }
}

impl SimTransport {
    /// Starts keeping every message this endpoint consumes from now on; the returned handle reads
    /// them (also after the transport is gone).
    pub fn record(&mut self) -> Recorder {
        self.recorder.get_or_insert_with(Recorder::default).clone()
    }

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
        if let Some(r) = &self.recorder
            && let Ok(mut kept) = r.0.lock()
        {
            kept.push((from, Arc::clone(&msg)));
        }
        Ok((msg, stamp))
    }

    fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    fn align(&mut self) -> Result<()> {
        if self.meeting.wait(self.timeout) {
            Ok(())
        } else {
            Err(Error::Net {
                party: self.id,
                peer: "the other parties".into(),
                detail: format!("they did not reach the barrier within {:?}", self.timeout),
            })
        }
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
    fn parties_align_and_a_missing_one_is_an_error_not_a_hang() {
        let mut net = network_with_latency(3, 2, Duration::from_millis(200), None);
        let mut a = net.remove(0);
        let mut b = net.remove(0);
        let t = std::thread::spawn(move || b.align().is_ok());
        assert!(a.align().is_ok());
        assert!(t.join().unwrap());
        let err = a.align().unwrap_err().to_string();
        assert!(err.contains("did not reach the barrier"), "{err}");
    }

    #[test]
    fn a_latency_delays_every_delivery() {
        let latency = Duration::from_millis(30);
        let mut net = network_with_latency(2, 2, Duration::from_secs(5), Some(latency));
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
    fn a_recorder_keeps_what_its_endpoint_consumes_in_order() {
        let mut net = network(3, Duration::from_secs(5));
        let mut c = net.pop().unwrap();
        let mut b = net.pop().unwrap();
        let mut a = net.pop().unwrap();
        let seen = c.record();
        a.send(2, std::sync::Arc::new(vec![1, 2]), Stamp::default()).unwrap();
        b.send(2, std::sync::Arc::new(vec![3]), Stamp::default()).unwrap();
        c.recv(1).unwrap();
        c.recv(0).unwrap();
        let got: Vec<(usize, Vec<u64>)> = seen.messages().into_iter().map(|(f, m)| (f, m.to_vec())).collect();
        assert_eq!(got, vec![(1, vec![3]), (0, vec![1, 2])]);
        // Sent messages are not part of the sender's record.
        assert!(a.record().messages().is_empty());
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
