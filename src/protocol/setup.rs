//! What every protocol family's set-up shares: the session options, pairwise PRG seeds, and the
//! setup-phase messages (publish, barrier).
//!
//! The families (`additive`, `replicated`) build their parties from these; [`super::session`] sits
//! above the families and runs them. Keeping these helpers here, below both, is what lets the
//! families and the session import each other in one direction only.

use super::prg::{Prg, Seed, seed_from_u64};
use crate::error::{Error, PartyId, Result};
use crate::net::{Net, Phase};
use std::time::Duration;

/// Options of a session, the same on every endpoint.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// INSECURE: derives every party's share randomness from this seed (tests, parity checks),
    /// so anyone who knows it recomputes every mask. `None`, the default, draws seeds from the OS.
    pub insecure_share_seed: Option<u64>,
    /// How long a receive waits before the silent peer is declared gone.
    pub timeout: Duration,
    /// In the simulator: the one-way latency every delivery is delayed by (none: at once).
    pub sim_latency: Option<Duration>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            insecure_share_seed: None,
            timeout: Duration::from_secs(10),
            sim_latency: None,
        }
    }
}

/// Pairwise PRGs with every other endpoint, plus a private one.
///
/// For each pair of endpoints the lower id draws a seed and sends it to the higher (setup traffic,
/// 16 bytes a pair). With `seed` set, every draw is derived from it, so a run is reproducible and
/// still exchanges exactly the same messages.
pub(crate) fn exchange_seeds(net: &mut Net, seed: Option<u64>) -> Result<(Vec<Option<Prg>>, Prg)> {
    let id = net.id();
    let endpoints = net.endpoints();
    let mut source = match seed {
        Some(s) => Prg::new(&seed_from_u64(s, id as u64)),
        None => Prg::from_os()?,
    };
    let own = Prg::new(&source.next_seed());
    let mut pair: Vec<Option<Prg>> = vec![None; endpoints];
    for (j, slot) in pair.iter_mut().enumerate().skip(id + 1) {
        let s = source.next_seed();
        net.send(Phase::Setup, j, bytemuck::cast::<Seed, [u64; 2]>(s).to_vec())?;
        *slot = Some(Prg::new(&s));
    }
    for (j, slot) in pair.iter_mut().enumerate().take(id) {
        let m = net.recv(j, 2)?;
        *slot = Some(Prg::new(&bytemuck::cast::<[u64; 2], Seed>([m[0], m[1]])));
    }
    Ok((pair, own))
}

/// Sends public words from `owner` to every other computing party (setup phase): what the owner
/// passes is what every party returns.
pub(crate) fn publish(net: &mut Net, parties: usize, owner: PartyId, words: Option<Vec<u64>>) -> Result<Vec<u64>> {
    let id = net.id();
    if owner >= parties {
        return Err(Error::invalid("publish", format!("there is no party {owner}")));
    }
    if id == owner {
        let words = std::sync::Arc::new(words.ok_or_else(|| Error::Protocol {
            party: id,
            op: "publish",
            detail: "the owner has nothing to publish".into(),
        })?);
        for j in (0..parties).filter(|&j| j != id) {
            net.send_shared(Phase::Setup, j, &words)?;
        }
        return Ok(crate::net::into_words(words));
    }
    Ok(crate::net::into_words(net.recv_any(owner)?))
}

/// All-to-all empty messages among the first `parties` endpoints (setup phase), then a new epoch
/// of the logical clock: what follows is measured from depth zero.
pub(crate) fn barrier(net: &mut Net, parties: usize) -> Result<()> {
    let id: PartyId = net.id();
    for j in (0..parties).filter(|&j| j != id) {
        net.send(Phase::Setup, j, Vec::new())?;
    }
    for j in (0..parties).filter(|&j| j != id) {
        net.recv(j, 0)?;
    }
    net.new_epoch()
}
