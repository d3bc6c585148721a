//! Endpoint identities for TLS: each endpoint presents one certificate, and a peer accepts exactly
//! the certificate pinned for the id it claims — the SHA-256 of its DER, named in the session file
//! — never a chain to some trust anchor. The TLS handshake still makes the peer prove that it holds
//! the pinned certificate's key.
//!
//! Loading an identity checks what a newcomer gets wrong, and names the file and the fix: a CA
//! certificate (what `openssl req -x509` makes by default), a certificate for another endpoint,
//! one that expired or is not valid yet, a key that does not belong to the certificate.

use crate::error::{Error, PartyId, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, OtherError,
    ServerConfig, SignatureScheme,
};
use std::path::Path;
use std::sync::Arc;

/// The DNS name an endpoint's certificate must be valid for: `testbed-party-{endpoint}` (the
/// dealer, the last endpoint, included).
pub fn tls_name(endpoint: PartyId) -> String {
    format!("testbed-party-{endpoint}")
}

/// The fingerprint that pins an endpoint's certificate: SHA-256 of its DER encoding, written
/// `sha256:` and 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pin(pub [u8; 32]);

impl Pin {
    /// The pin of a certificate.
    pub fn of(cert: &CertificateDer<'_>) -> Pin {
        let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Pin(out)
    }

    /// The first 16 hex digits, for messages.
    pub fn short(&self) -> String {
        format!("sha256:{}…", &hex(&self.0)[..16])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl std::fmt::Display for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", hex(&self.0))
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Pin {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("expected `sha256:` and 64 hex digits (see `testbed certs`), got {s:?}");
        let digits = s.trim().strip_prefix("sha256:").ok_or_else(bad)?;
        if digits.len() != 64 || !digits.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (k, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&digits[2 * k..2 * k + 2], 16).map_err(|_| bad())?;
        }
        Ok(Pin(out))
    }
}

impl TryFrom<String> for Pin {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Self, String> {
        s.parse()
    }
}

impl From<Pin> for String {
    fn from(p: Pin) -> String {
        p.to_string()
    }
}

/// One endpoint's TLS identity and the pins of every endpoint's certificate (DER).
pub struct TlsSetup {
    /// This endpoint's certificate chain, leaf first (peers look at the leaf only).
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// The leaf certificate's private key.
    pub key: PrivateKeyDer<'static>,
    /// `pins[j]`: the exact certificate endpoint `j` must present (this endpoint's own included).
    pub pins: Vec<Pin>,
}

impl Clone for TlsSetup {
    fn clone(&self) -> Self {
        Self {
            cert_chain: self.cert_chain.clone(),
            key: self.key.clone_key(),
            pins: self.pins.clone(),
        }
    }
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("cert_chain", &format_args!("{} certificate(s)", self.cert_chain.len()))
            .field("key", &"<redacted>")
            .field("pins", &self.pins)
            .finish()
    }
}

impl TlsSetup {
    /// Throw-away identities for a local run: a fresh certificate per endpoint
    /// ([`Identity::generate`]), every endpoint pinning all of them.
    ///
    /// # Panics
    /// Only if certificate generation itself fails, which it does not for these fixed parameters;
    /// [`TlsSetup::try_self_signed_session`] returns that as an error instead.
    pub fn self_signed_session(endpoints: usize) -> Vec<TlsSetup> {
        Self::try_self_signed_session(endpoints).expect("self-signed certificate generation")
    }

    /// [`TlsSetup::self_signed_session`], with generation failures as errors.
    pub fn try_self_signed_session(endpoints: usize) -> Result<Vec<TlsSetup>> {
        let made = (0..endpoints)
            .map(|i| Identity::generate(i, DEFAULT_VALID_DAYS))
            .collect::<Result<Vec<_>>>()?;
        let pins: Vec<Pin> = made.iter().map(Identity::pin).collect();
        Ok(made
            .into_iter()
            .map(|id| TlsSetup {
                cert_chain: vec![id.cert.clone()],
                key: id.key_der(),
                pins: pins.clone(),
            })
            .collect())
    }

    /// Loads endpoint `endpoint`'s identity: `cert` holds its certificate (PEM, leaf first), `key`
    /// its private key (PEM: PKCS#8, PKCS#1 or SEC1). Refuses, naming the file and the fix, a
    /// certificate that cannot identify this endpoint (see [`check_certificate`]) and a key that
    /// does not belong to it.
    pub fn load(endpoint: PartyId, cert: &Path, key: &Path, pins: Vec<Pin>) -> Result<TlsSetup> {
        let cert_chain = read_pem_certs(cert)?;
        let key_pem = read_file(key)?;
        let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| Error::config(key.display().to_string(), format!("no private key found: {e}")))?;
        check_certificate(&cert_chain[0], Some(endpoint), UnixTime::now())
            .map_err(|d| Error::config(cert.display().to_string(), d))?;
        let provider = rustls::crypto::ring::default_provider();
        match CertifiedKey::from_der(cert_chain.clone(), key_der.clone_key(), &provider) {
            Ok(_) => {}
            Err(rustls::Error::InconsistentKeys(_)) => {
                return Err(Error::config(
                    key.display().to_string(),
                    format!(
                        "this private key does not belong to the certificate {}: use the key made with it \
                         (`testbed certs` writes them in pairs)",
                        cert.display()
                    ),
                ));
            }
            Err(e) => {
                return Err(Error::config(
                    key.display().to_string(),
                    format!("unusable private key: {e}"),
                ));
            }
        }
        Ok(TlsSetup {
            cert_chain,
            key: key_der,
            pins,
        })
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read_file(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::config(path.display().to_string(), format!("bad pem certificate: {e}")))?;
    if certs.is_empty() {
        return Err(Error::config(path.display().to_string(), "no pem certificate found"));
    }
    Ok(certs)
}

/// How long certificates made by [`Identity::generate`] stay valid by default.
pub const DEFAULT_VALID_DAYS: u32 = 365;

/// A freshly made endpoint identity: an end-entity (not CA) certificate for
/// [`tls_name`]`(endpoint)`, signed by its own new key.
pub struct Identity {
    /// The certificate (DER).
    pub cert: CertificateDer<'static>,
    /// The certificate as PEM.
    pub cert_pem: String,
    /// The private key as PEM (PKCS#8).
    pub key_pem: String,
    key_pkcs8: Vec<u8>,
}

impl Identity {
    /// Makes endpoint `endpoint`'s certificate and key, valid from a day ago (clocks differ between
    /// machines) for `valid_days` days from now.
    pub fn generate(endpoint: PartyId, valid_days: u32) -> Result<Identity> {
        let gen_err = |e: rcgen::Error| Error::invalid("tls", format!("certificate generation: {e}"));
        let name = tls_name(endpoint);
        let mut params = rcgen::CertificateParams::new(vec![name.clone()]).map_err(gen_err)?;
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = rcgen::IsCa::ExplicitNoCa;
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(i64::from(valid_days));
        let key = rcgen::KeyPair::generate().map_err(gen_err)?;
        let cert = params.self_signed(&key).map_err(gen_err)?;
        Ok(Identity {
            cert: cert.der().clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            key_pkcs8: key.serialize_der(),
        })
    }

    /// The certificate's pin.
    pub fn pin(&self) -> Pin {
        Pin::of(&self.cert)
    }

    /// The private key (DER).
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()))
    }
}

/// Accepts any extended key usage: a pin identifies the certificate, whatever it is marked for.
struct AnyUsage;

impl webpki::ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, _: webpki::KeyPurposeIdIter<'_, '_>) -> std::result::Result<(), webpki::Error> {
        Ok(())
    }
}

/// Checks that `cert` can identify an endpoint at time `now`: an end-entity certificate (not a CA)
/// within its validity period and, when `endpoint` is given, valid for [`tls_name`]`(endpoint)`.
/// Returns what is wrong and how to fix it, in one line. Who signed it does not matter.
pub fn check_certificate(
    cert: &CertificateDer<'_>,
    endpoint: Option<PartyId>,
    now: UnixTime,
) -> std::result::Result<(), String> {
    let ee = webpki::EndEntityCert::try_from(cert).map_err(|e| format!("not a usable X.509 certificate ({e:?})"))?;
    // webpki checks the leaf's own properties (validity, basic constraints) before it looks for an
    // issuer; with no trust anchors a sound leaf ends at "unknown issuer".
    let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    match ee.verify_for_usage(algs.all, &[], &[], now, AnyUsage, None, None) {
        Ok(_) | Err(webpki::Error::UnknownIssuer) => {}
        Err(webpki::Error::CaUsedAsEndEntity) => {
            return Err(
                "a CA certificate (basicConstraints CA:TRUE) cannot identify an endpoint: make \
                        certificates with `testbed certs`, or add `-addext basicConstraints=critical,CA:FALSE` \
                        to `openssl req -x509`"
                    .to_string(),
            );
        }
        Err(webpki::Error::CertExpired { not_after, .. }) => {
            return Err(format!(
                "the certificate expired on {}: make new ones with `testbed certs` and update the pins",
                utc(not_after)
            ));
        }
        Err(webpki::Error::CertNotValidYet { not_before, .. }) => {
            return Err(format!(
                "the certificate is not valid before {}: check this machine's clock, or make new ones \
                 with `testbed certs`",
                utc(not_before)
            ));
        }
        Err(e) => return Err(format!("not a usable certificate ({e:?})")),
    }
    if let Some(i) = endpoint {
        let name = tls_name(i);
        let server_name = ServerName::try_from(name.clone()).map_err(|e| format!("{e}"))?;
        if ee.verify_is_valid_for_subject_name(&server_name).is_err() {
            let names: Vec<&str> = ee.valid_dns_names().collect();
            let is_for = if names.is_empty() {
                "names no DNS name (subjectAltName)".to_string()
            } else {
                format!("is for {}", names.join(", "))
            };
            return Err(format!(
                "the certificate {is_for}, not {name} (endpoint {i}): use the one made for endpoint {i} \
                 (`testbed certs`), or add `-addext subjectAltName=DNS:{name}` to `openssl req`"
            ));
        }
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM UTC`.
fn utc(t: UnixTime) -> String {
    let secs = i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute()
        ),
        Err(_) => format!("{secs} s after 1970"),
    }
}

/// Accepts exactly one certificate, the peer's pinned one, in either role of the handshake; the
/// handshake signature is still verified against it.
#[derive(Debug)]
struct PinnedPeer {
    pin: Pin,
    algs: WebPkiSupportedAlgorithms,
}

impl PinnedPeer {
    fn check(&self, end_entity: &CertificateDer<'_>, now: UnixTime) -> std::result::Result<(), rustls::Error> {
        let presented = Pin::of(end_entity);
        if presented != self.pin {
            return Err(refusal(format!(
                "not the pinned certificate (presented {}, pinned {})",
                presented.short(),
                self.pin.short()
            )));
        }
        check_certificate(end_entity, None, now).map_err(refusal)
    }
}

/// One line for a TLS failure; our own refusals read as written, not as rustls's debug form.
pub(super) fn tls_detail(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
            format!("tls: invalid peer certificate: {inner}")
        }
        rustls::Error::AlertReceived(
            alert @ (AlertDescription::CertificateUnknown
            | AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateExpired
            | AlertDescription::DecryptError),
        ) => format!(
            "tls: the peer refused our certificate (alert {alert:?}): check that its session file pins the \
             certificate this endpoint presents"
        ),
        other => format!("tls: {other}"),
    }
}

fn refusal(detail: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(std::io::Error::other(
        detail,
    )))))
}

impl ServerCertVerifier for PinnedPeer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity, now).map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

impl ClientCertVerifier for PinnedPeer {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity, now).map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// This endpoint's TLS material for `establish`: a client or server configuration per peer, each
/// accepting only that peer's pinned certificate (TLS 1.3, no resumption).
pub(super) struct TlsConfigs {
    provider: Arc<CryptoProvider>,
    own: Arc<CertifiedKey>,
    pins: Vec<Pin>,
}

fn tls_invalid(what: &str, e: &dyn std::fmt::Display) -> Error {
    Error::invalid("tls", format!("{what}: {e}"))
}

impl TlsConfigs {
    pub(super) fn new(setup: &TlsSetup, endpoints: usize) -> Result<Self> {
        if setup.pins.len() != endpoints {
            return Err(Error::invalid(
                "tls",
                format!("{} pins for {endpoints} endpoints", setup.pins.len()),
            ));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let own = CertifiedKey::from_der(setup.cert_chain.clone(), setup.key.clone_key(), &provider)
            .map_err(|e| tls_invalid("own certificate or key", &e))?;
        Ok(Self {
            provider,
            own: Arc::new(own),
            pins: setup.pins.clone(),
        })
    }

    fn verifier(&self, peer: PartyId) -> Arc<PinnedPeer> {
        Arc::new(PinnedPeer {
            pin: self.pins[peer],
            algs: self.provider.signature_verification_algorithms,
        })
    }

    /// The configuration for dialling `peer`.
    pub(super) fn client(&self, peer: PartyId) -> Result<Arc<ClientConfig>> {
        let mut client = ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| tls_invalid("client config", &e))?
            .dangerous()
            .with_custom_certificate_verifier(self.verifier(peer))
            .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(Arc::clone(&self.own))));
        client.resumption = rustls::client::Resumption::disabled();
        client.enable_secret_extraction = true;
        Ok(Arc::new(client))
    }

    /// The configuration for accepting `peer` (the id its preamble claimed).
    pub(super) fn server(&self, peer: PartyId) -> Result<Arc<ServerConfig>> {
        let mut server = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| tls_invalid("server config", &e))?
            .with_client_cert_verifier(self.verifier(peer))
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(Arc::clone(&self.own))));
        server.send_tls13_tickets = 0;
        server.enable_secret_extraction = true;
        Ok(Arc::new(server))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::{ClientConnection, Connection, ServerConnection};

    /// Moves `from`'s pending records to `to`; returns `to`'s error, if any.
    fn deliver(from: &mut Connection, to: &mut Connection) -> Option<rustls::Error> {
        let mut buf = Vec::new();
        while from.wants_write() {
            from.write_tls(&mut buf).unwrap();
        }
        let mut rest = &buf[..];
        while !rest.is_empty() {
            to.read_tls(&mut rest).unwrap();
            if let Err(e) = to.process_new_packets() {
                return Some(e);
            }
        }
        None
    }

    /// Runs a TLS handshake in memory; returns the server's error, if any.
    fn handshake(mut client: Connection, mut server: Connection) -> Option<rustls::Error> {
        for _ in 0..20 {
            if let Some(e) = deliver(&mut client, &mut server) {
                return Some(e);
            }
            if let Some(e) = deliver(&mut server, &mut client) {
                panic!("the client failed first: {e}");
            }
            if !client.is_handshaking() && !server.is_handshaking() {
                return None;
            }
        }
        panic!("the handshake did not finish");
    }

    /// Endpoint 1 dials endpoint 0 presenting `cert`, signing with `key`.
    fn dial(
        zero: &Identity,
        one: &Identity,
        cert: &CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
    ) -> Option<rustls::Error> {
        let setup = TlsSetup {
            cert_chain: vec![zero.cert.clone()],
            key: zero.key_der(),
            pins: vec![zero.pin(), one.pin()],
        };
        let server = ServerConnection::new(TlsConfigs::new(&setup, 2).unwrap().server(1).unwrap()).unwrap();
        // A client built by hand: `CertifiedKey::new` does not check that the key fits.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let signer = provider.key_provider.load_private_key(key).unwrap();
        let presented = CertifiedKey::new(vec![cert.clone()], signer);
        let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedPeer {
                pin: zero.pin(),
                algs: provider.signature_verification_algorithms,
            }))
            .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(presented)));
        let name = ServerName::try_from(tls_name(0)).unwrap();
        let client = ClientConnection::new(Arc::new(config), name).unwrap();
        handshake(client.into(), server.into())
    }

    #[test]
    fn a_peer_must_prove_it_holds_the_key_of_its_pinned_certificate() {
        let zero = Identity::generate(0, 30).unwrap();
        let one = Identity::generate(1, 30).unwrap();
        assert!(
            dial(&zero, &one, &one.cert, one.key_der()).is_none(),
            "the right key passes"
        );
        // The pinned certificate, but signed with another key: the handshake signature fails.
        let thief = Identity::generate(1, 30).unwrap();
        let e = dial(&zero, &one, &one.cert, thief.key_der()).expect("refused");
        assert!(
            matches!(e, rustls::Error::InvalidCertificate(CertificateError::BadSignature)),
            "{e:?}"
        );
    }
}
