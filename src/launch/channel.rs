//! How a session's endpoints talk: pinned TLS identities or an explicit plaintext opt-in, the frame
//! limit, and the public description of the session that every link's handshake compares.

use super::SessionFile;
use crate::error::{Error, PartyId, Result};
use crate::net::tcp::{DEFAULT_MAX_FRAME_WORDS, Pin, TcpOptions, TlsSetup};
use crate::protocol::ProtocolConfig;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Printed on stderr whenever endpoints talk plaintext TCP.
pub(super) const PLAINTEXT_WARNING: &str =
    "warning: plaintext TCP (insecure_plaintext): anyone on the network path can read and alter the traffic";

/// Words in a MiB.
const WORDS_PER_MIB: u64 = 1 << 17;

impl SessionFile {
    /// The name errors about this session file use: its path, or `session` when it was made in
    /// memory.
    fn shown(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "session".to_string(), |p| p.display().to_string())
    }

    /// Checks the channel settings: TLS with a pin for every endpoint (each pin different), or no
    /// pins and no TLS files at all with `insecure_plaintext: true`; a positive frame limit.
    pub(super) fn check_channels(&self) -> Result<()> {
        let file = self.shown();
        let bad = |detail: String| Error::config(&file, detail);
        if self.max_frame_mib == Some(0) {
            return Err(bad("field `max_frame_mib`: must be at least 1".to_string()));
        }
        if self.insecure_plaintext {
            if let Some((i, _)) = self
                .endpoints
                .iter()
                .enumerate()
                .find(|(_, e)| e.pin.is_some() || e.tls.is_some())
            {
                return Err(bad(format!(
                    "field `insecure_plaintext`: true, but endpoint {i} has TLS settings (`pin` or \
                     `tls`); remove one or the other"
                )));
            }
            return Ok(());
        }
        if self.endpoints.iter().all(|e| e.pin.is_none() && e.tls.is_none()) {
            return Err(bad(
                "field `insecure_plaintext`: this session has no TLS (no endpoint has a `pin`); make \
                 certificates and pins with `testbed certs`, or set `insecure_plaintext: true` to run \
                 in plaintext"
                    .to_string(),
            ));
        }
        let mut seen: Vec<(Pin, usize)> = Vec::new();
        for (i, e) in self.endpoints.iter().enumerate() {
            let Some(pin) = e.pin else {
                return Err(bad(format!(
                    "endpoint {i} has no `pin`: pin every endpoint's certificate (`testbed certs` \
                     writes them), or set `insecure_plaintext: true`"
                )));
            };
            if let Some((_, j)) = seen.iter().find(|(p, _)| *p == pin) {
                return Err(bad(format!(
                    "endpoints {j} and {i} have the same `pin`: every endpoint needs a certificate of its own"
                )));
            }
            seen.push((pin, i));
        }
        Ok(())
    }

    /// The longest message a party accepts, in words.
    pub fn max_frame_words(&self) -> u64 {
        self.max_frame_mib
            .map_or(DEFAULT_MAX_FRAME_WORDS, |m| m.saturating_mul(WORDS_PER_MIB))
    }

    /// Everything public the endpoints must agree on, as (dotted field name, canonical value) pairs:
    /// the protocol configuration (`protocol.family`, `protocol.functions.exp_iterations`, ...),
    /// the pinned identities (`endpoints.1.pin`) and the job flattened (`job.kind`, `job.reps`, ...).
    /// Addresses, timeouts and TLS file paths may differ between machines and are left out; the
    /// session id is compared by the transport itself.
    pub fn description(&self, cfg: &ProtocolConfig) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut protocol = serde_json::to_value(cfg).unwrap_or_default();
        if let Some(obj) = protocol.as_object_mut() {
            // Compare the truncation in effect, whether the file names it or relies on the default.
            obj.insert(
                "truncation".into(),
                serde_json::to_value(cfg.truncation()).unwrap_or_default(),
            );
        }
        flatten_json("protocol", &protocol, &mut out);
        for (i, e) in self.endpoints.iter().enumerate() {
            if let Some(pin) = e.pin {
                out.push((format!("endpoints.{i}.pin"), pin.to_string()));
            }
        }
        flatten_json("job", &self.job, &mut out);
        // Whether shares are private: every party must know (the seed itself is not sent).
        let shares = if self.insecure_share_seed.is_some() {
            "INSECURE fixed seed"
        } else {
            "os"
        };
        out.push(("share_randomness".into(), shares.into()));
        out
    }

    /// A relative TLS path taken relative to the session file's folder.
    fn resolve(&self, p: &Path) -> PathBuf {
        match self.path.as_ref().and_then(|s| s.parent()) {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }

    /// Endpoint `id`'s transport options: its own identity checked against its pin (or, with
    /// `insecure_plaintext`, a warning on stderr), the session description and the limits.
    pub(super) fn tcp_options(&self, cfg: &ProtocolConfig, id: PartyId) -> Result<TcpOptions> {
        let tls = if self.insecure_plaintext {
            eprintln!("{PLAINTEXT_WARNING}");
            None
        } else {
            Some(self.own_identity(id)?)
        };
        Ok(TcpOptions {
            session_id: self.session_id,
            session_fields: self.description(cfg),
            timeout: Duration::from_secs_f64(self.timeout_s.max(0.05)),
            max_frame_words: self.max_frame_words(),
            tls,
            ..TcpOptions::default()
        })
    }

    /// Loads endpoint `id`'s certificate and key and checks the certificate is the one its pin
    /// names.
    fn own_identity(&self, id: PartyId) -> Result<TlsSetup> {
        let file = self.shown();
        let pins = self
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| {
                e.pin
                    .ok_or_else(|| Error::config(&file, format!("endpoint {i} has no `pin`")))
            })
            .collect::<Result<Vec<Pin>>>()?;
        let files = self.endpoints.get(id).and_then(|e| e.tls.as_ref()).ok_or_else(|| {
            Error::config(
                &file,
                format!(
                    "endpoint {id} has no `tls: {{ cert: ..., key: ... }}`: name this endpoint's \
                     certificate and key files"
                ),
            )
        })?;
        let cert = self.resolve(&files.cert);
        let setup = TlsSetup::load(id, &cert, &self.resolve(&files.key), pins)?;
        let own = Pin::of(&setup.cert_chain[0]);
        let pinned = setup.pins[id];
        if own != pinned {
            return Err(Error::config(
                cert.display().to_string(),
                format!(
                    "its fingerprint {own} is not endpoint {id}'s pin in {file} ({}): use the session \
                     file made with this certificate, or set that endpoint's `pin: {own}`",
                    pinned.short()
                ),
            ));
        }
        Ok(setup)
    }
}

/// Appends `value` flattened under `prefix` to `out`: objects become dotted paths in sorted key
/// order (`job.kind`, `job.model.name`), anything else one field holding its compact JSON (arrays
/// included, so long lists stay one field).
pub fn flatten_json(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for k in keys {
                flatten_json(&format!("{prefix}.{k}"), &map[k], out);
            }
        }
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_flattens_to_sorted_dotted_paths() {
        let mut out = Vec::new();
        flatten_json(
            "job",
            &json!({ "reps": 3, "kind": "bench-op", "shapes": [[10], [10]], "m": { "b": null, "a": "x" }, "e": {} }),
            &mut out,
        );
        let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["job.e", "job.kind", "job.m.a", "job.m.b", "job.reps", "job.shapes"]
        );
        let values: Vec<&str> = out.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(values, ["{}", "\"bench-op\"", "\"x\"", "null", "3", "[[10],[10]]"]);
    }

    #[test]
    fn the_description_names_protocol_fields_pins_and_the_job() {
        let session: SessionFile = serde_saphyr::from_str(
            "session_id: 1\nprotocol: 2pc-ttp\nendpoints: []\ninsecure_plaintext: true\njob: { kind: bench-op, reps: 3 }\n",
        )
        .unwrap();
        let cfg = session.protocol().unwrap();
        let d = session.description(&cfg);
        let get = |n: &str| d.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("protocol.family"), Some("\"2pc-ttp\""));
        assert_eq!(get("protocol.parties"), Some("2"));
        assert_eq!(get("protocol.precision_bits"), Some("16"));
        assert_eq!(get("protocol.dealer"), Some("\"ttp\""));
        assert_eq!(get("protocol.truncation"), Some("\"local\""));
        assert_eq!(get("job.reps"), Some("3"));
        assert!(d.iter().any(|(k, _)| k.starts_with("protocol.functions.")), "{d:?}");
        assert!(get("protocol.name").is_none() && get("protocol.source").is_none());
    }
}
