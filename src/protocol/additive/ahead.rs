//! The dealer running ahead of the parties.
//!
//! On demand, party 0 names each step's correlated randomness when the step starts and waits for
//! the dealer's answer: every such step puts the dealer's round trip and its compute (Beaver
//! products, FSS key generation) on the critical path. But a computation repeated on new data
//! (the repetitions of a benchmark, the batches of an evaluation) asks for the same requests in
//! the same order every time: the gate sequence is static. So:
//!
//! 1. during one run every party records the batches of requests it makes ([`Ahead::record`]);
//! 2. party 0 sends that plan to the dealer once, with the number of copies to come
//!    ([`AdditiveParty::plan_ahead_impl`]);
//! 3. before each later run party 0 sends a one-word credit, and the dealer walks the plan,
//!    sending each batch's corrections (and 2pc-fss keys, in chunks) as soon as it has made them,
//!    while the parties compute. Party 0 sends no requests during the copy; it checks that each
//!    step asks for what the plan says, and a computation that strays from it is an error (the
//!    PRG streams are already ahead, there is no way back).
//!
//! Bounded buffer: the dealer makes one copy per credit, so at most one run's material is in
//! flight or waiting at a party. With `prefetch`, every party receives its whole copy before the
//! run starts: the run is then the online phase alone (no dealer hop, no dealer compute on its
//! critical path), which is what "online only" wall times measure.
//!
//! Rounds: with the dealer streaming, only the credit's hop and the first answer precede the
//! parties' first exchange, so a run costs its party rounds plus at most 2; prefetched, exactly
//! its party rounds (asserted in `tests/dealer_ahead.rs`).

use super::AdditiveParty;
use super::keys::{chunks, key_words};
use super::request::{Request, encode_go, encode_plan};
use crate::error::Result;
use crate::net::{Message, Phase};
use std::collections::VecDeque;

/// A party's side of the dealer running ahead (see the module docs).
#[derive(Default)]
pub(crate) struct Ahead {
    /// Batches asked for since recording started.
    recording: Option<Vec<Vec<Request>>>,
    /// The recorded plan the dealer holds.
    plan: Vec<Vec<Request>>,
    /// Copies of the plan the dealer will still make (each on a credit).
    copies: usize,
    /// Inside a copy: the plan's next batch.
    next: Option<usize>,
    /// Dealer messages received before their step (prefetch), in order.
    inbox: VecDeque<Message>,
}

impl AdditiveParty {
    /// Whether this party's dealer can run ahead: a dealer endpoint (not the insecure first-party
    /// variant, where party 0 makes the randomness itself).
    pub(super) fn deals_ahead_impl(&self) -> bool {
        self.dealer.is_some()
    }

    /// Starts recording the requests of the next computation.
    pub(super) fn record_ahead_impl(&mut self) -> Result<()> {
        if self.ahead.next.is_some() || self.ahead.copies > 0 {
            return Err(self.protocol_error("dealer ahead", "cannot record while a plan is being dealt"));
        }
        self.ahead.recording = Some(Vec::new());
        Ok(())
    }

    /// Ends recording; party 0 sends the plan for `copies` more runs to the dealer.
    pub(super) fn plan_ahead_impl(&mut self, copies: usize) -> Result<()> {
        let plan = self
            .ahead
            .recording
            .take()
            .ok_or_else(|| self.protocol_error("dealer ahead", "no recorded computation to plan"))?;
        if let (Some(d), 0) = (self.dealer, self.id) {
            self.net.send(Phase::Control, d, encode_plan(&plan))?;
        }
        self.ahead.plan = plan;
        self.ahead.copies = copies;
        Ok(())
    }

    /// Starts one copy of the plan: party 0 credits the dealer with it; with `prefetch`, every
    /// party then receives all of the copy's dealer messages before returning.
    pub(super) fn next_ahead_impl(&mut self, prefetch: bool) -> Result<()> {
        if self.ahead.next.is_some() {
            return Err(self.protocol_error(
                "dealer ahead",
                "the last run did not use all the randomness dealt for it",
            ));
        }
        if self.ahead.copies == 0 {
            return Err(self.protocol_error("dealer ahead", "no copies of the plan are left"));
        }
        self.ahead.copies -= 1;
        if let (Some(d), 0) = (self.dealer, self.id) {
            self.net.send(Phase::Control, d, encode_go())?;
        }
        self.ahead.next = (!self.ahead.plan.is_empty()).then_some(0);
        if prefetch {
            let d = self.dealer.expect("a dealer endpoint");
            for len in self.copy_messages()? {
                let msg = self.net.recv(d, len)?;
                self.ahead.inbox.push_back(msg);
            }
        }
        Ok(())
    }

    /// The lengths of the dealer messages this party receives for one copy of the plan, in order:
    /// party 0 a batch's corrections (when there are any), then parties 0 and 1 each FSS
    /// request's key chunks (as `Dealer::serve` sends them).
    fn copy_messages(&self) -> Result<Vec<usize>> {
        let mut lens = Vec::new();
        for batch in &self.ahead.plan {
            if self.id == 0 {
                let mut total = 0;
                for r in batch {
                    total += r.correction_len()?;
                }
                if total > 0 {
                    lens.push(total);
                }
            }
            if self.id < 2 {
                for r in batch {
                    if let Some((gate, window)) = r.fss_gate() {
                        lens.extend(chunks(r.fss_elements()).map(|(_, len)| key_words(gate, len, window)));
                    }
                }
            }
        }
        Ok(lens)
    }

    /// Notes a batch of requests at the start of its step. Returns whether the dealer already
    /// has it (inside a copy of the plan), so that party 0 need not send it.
    pub(super) fn ahead_covers(&mut self, reqs: &[Request]) -> Result<bool> {
        if let Some(rec) = &mut self.ahead.recording {
            rec.push(reqs.to_vec());
        }
        let Some(at) = self.ahead.next else {
            return Ok(false);
        };
        if self.ahead.plan[at] != reqs {
            return Err(self.protocol_error(
                "dealer ahead",
                format!(
                    "step {at} asks for {reqs:?}, but the dealer's plan has {:?}",
                    self.ahead.plan[at]
                ),
            ));
        }
        self.ahead.next = (at + 1 < self.ahead.plan.len()).then_some(at + 1);
        Ok(true)
    }

    /// The next message from the dealer, of `len` words: prefetched, or from the network.
    pub(super) fn dealer_message(&mut self, dealer: usize, len: usize) -> Result<Message> {
        match self.ahead.inbox.pop_front() {
            Some(m) if m.len() == len => Ok(m),
            Some(m) => Err(self.protocol_error(
                "dealer ahead",
                format!("expected a dealer message of {len} words, got {}", m.len()),
            )),
            None => self.net.recv(dealer, len),
        }
    }
}
