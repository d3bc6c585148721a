//! Layer 2: moving ring elements between parties, and counting what moves.
//!
//! May import `crate::error` and `crate::ring`. The [`Transport`] seam carries whole messages of
//! `u64` words between party ids; the in-process simulator ([`sim`]) and the TCP transport implement
//! it, and protocol code never knows which one it runs on. [`Net`] wraps a transport with a
//! [`Meter`] so that every byte a party sends is counted, per link and per phase, and every message
//! carries the logical clock ([`Stamp`]) that measures rounds as the critical path.

pub mod frame;
mod meter;
pub mod sim;
pub mod tcp;

pub use meter::{MessageRecord, Meter, MeterReport, Phase, Rounds, Stamp, critical_path};

use crate::error::{Error, PartyId, Result};
use std::sync::Arc;
use std::time::Duration;

/// One message: a sequence of 64-bit words (ring elements or encoded control data), little-endian
/// on the wire. Shared, so that sending one message to several peers, or keeping it after sending,
/// never copies; the simulator hands the same allocation to the receiver.
pub type Message = Arc<Vec<u64>>;

/// The words of a message, without a copy when nobody else holds it.
pub fn into_words(msg: Message) -> Vec<u64> {
    Arc::try_unwrap(msg).unwrap_or_else(|shared| shared.as_ref().clone())
}

/// A point-to-point link layer between numbered endpoints (parties `0..N`, dealer `N`).
///
/// Messages on one directed link arrive in the order they were sent. `recv` blocks until a message
/// arrives, the peer disconnects, or the transport's timeout expires; the last two are errors.
/// Each message travels with its [`Stamp`] (beside the payload in the simulator, in the frame
/// header over TCP), which the receiver gets back unchanged.
pub trait Transport: Send {
    /// This endpoint's id.
    fn id(&self) -> PartyId;
    /// Number of endpoints in the session, including a dealer.
    fn endpoints(&self) -> usize;
    /// Queues `msg` for endpoint `to`; returns without waiting for the peer to read it.
    fn send(&mut self, to: PartyId, msg: Message, stamp: Stamp) -> Result<()>;
    /// Takes the next message from endpoint `from`, with its stamp.
    fn recv(&mut self, from: PartyId) -> Result<(Message, Stamp)>;
    /// Payload-independent bytes this transport spent on framing (length prefixes, TLS records).
    fn framing_bytes(&self) -> u64 {
        0
    }
    /// Changes how long `recv` waits for a message before declaring the peer silent.
    fn set_timeout(&mut self, timeout: Duration);
    /// Lets the computing parties leave a barrier at the same instant where the transport can
    /// (the simulator: threads of one process). A message barrier alone lets them go up to one
    /// latency apart, which a measured region would otherwise include. Others do nothing.
    fn align(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A transport plus the meter that counts its traffic: what protocol code talks to.
pub struct Net {
    transport: Box<dyn Transport>,
    meter: Meter,
    dealer: Option<PartyId>,
}

impl Net {
    /// Wraps a transport; the meter starts at zero. `dealer` is the dealer's endpoint id, if the
    /// session has one (used to name it in errors).
    pub fn new(transport: Box<dyn Transport>, dealer: Option<PartyId>) -> Self {
        let endpoints = transport.endpoints();
        let id = transport.id();
        Self {
            transport,
            meter: Meter::new(id, endpoints, dealer),
            dealer,
        }
    }

    /// How endpoint `id` is named in messages: `party 2`, or `dealer`.
    pub fn peer_name(&self, id: PartyId) -> String {
        if Some(id) == self.dealer {
            "dealer".to_string()
        } else {
            format!("party {id}")
        }
    }

    /// This endpoint's id.
    pub fn id(&self) -> PartyId {
        self.transport.id()
    }

    /// Number of endpoints, including a dealer.
    pub fn endpoints(&self) -> usize {
        self.transport.endpoints()
    }

    /// Sends `words` to `to`, booking their payload under `phase`.
    pub fn send(&mut self, phase: Phase, to: PartyId, words: Vec<u64>) -> Result<()> {
        self.send_shared(phase, to, &Arc::new(words))
    }

    /// Sends a shared message (no copy, however many peers get it).
    pub fn send_shared(&mut self, phase: Phase, to: PartyId, msg: &Message) -> Result<()> {
        let stamp = self.meter.on_send(phase, to, 8 * msg.len() as u64);
        let msg = Arc::clone(msg);
        let sent = self.transport.send(to, msg, stamp);
        sent.map_err(|e| self.name_peer(e, to))
    }

    /// Receives the next message from `from`, requiring exactly `len` words.
    pub fn recv(&mut self, from: PartyId, len: usize) -> Result<Message> {
        let msg = self.recv_any(from)?;
        if msg.len() != len {
            return Err(Error::Net {
                party: self.id(),
                peer: self.peer_name(from),
                detail: format!("expected a message of {len} words, got {}", msg.len()),
            });
        }
        Ok(msg)
    }

    /// Receives the next message from `from`, of any length (control messages).
    pub fn recv_any(&mut self, from: PartyId) -> Result<Message> {
        self.meter.on_recv();
        let (msg, stamp) = self.transport.recv(from).map_err(|e| self.name_peer(e, from))?;
        self.meter.on_consumed(from, 8 * msg.len() as u64, stamp);
        Ok(msg)
    }

    /// Restarts the logical clock in a new epoch: every party calls it at the end of a barrier,
    /// so that what follows is measured on its own (and, where the transport can, starts at the
    /// same instant on every party).
    pub fn new_epoch(&mut self) -> Result<()> {
        self.meter.new_epoch();
        self.transport.align()
    }

    /// Rewrites a transport error so it names the peer as the session knows it (`dealer`).
    fn name_peer(&self, e: Error, peer: PartyId) -> Error {
        match e {
            Error::Net { party, detail, .. } => Error::Net {
                party,
                peer: self.peer_name(peer),
                detail,
            },
            other => other,
        }
    }

    /// Waits up to `timeout` in every later receive (an endpoint that only answers requests may
    /// idle longer than the parties wait for each other; a vanished peer still fails at once, as
    /// its link closes).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.transport.set_timeout(timeout);
    }

    /// The meter (read-only).
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Closes any open round and returns the final counts, with the transport's framing bytes.
    pub fn finish(&mut self) -> MeterReport {
        self.meter.close_round();
        let mut r = self.meter.report();
        r.framing_bytes = self.transport.framing_bytes();
        r
    }
}
