//! Pinned identities: a peer is accepted only with exactly the certificate pinned for the id it
//! claims, in either role of the TLS handshake; and loading an identity names what is wrong with it.

use super::*;

fn establish_errors(opts: Vec<TcpOptions>) -> Vec<Option<String>> {
    mesh_with(opts)
        .into_iter()
        .map(|r| r.err().map(|e| e.to_string()))
        .collect()
}

/// `opts` with endpoint `who` presenting `cert` and `key` instead of its own identity (its pins
/// unchanged).
fn presenting(
    mut opts: Vec<TcpOptions>,
    who: usize,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> Vec<TcpOptions> {
    let tls = opts[who].tls.as_mut().unwrap();
    tls.cert_chain = vec![cert];
    tls.key = key;
    opts
}

/// Runs a two-endpoint mesh where `who` presents `cert`/`key`; asserts the other endpoint refuses
/// it as not the pinned certificate, and `who` fails too, quickly.
fn assert_refused(who: usize, cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) {
    assert_refused_with(tls_opts(2), who, cert, key);
}

fn assert_refused_with(opts: Vec<TcpOptions>, who: usize, cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) {
    let start = Instant::now();
    let errs = establish_errors(presenting(opts, who, cert, key));
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    let judge = 1 - who;
    let refused = errs[judge].as_deref().expect("the peer must refuse");
    let wanted = format!(
        "party {judge}: link to party {who}: tls: invalid peer certificate: not the pinned certificate (presented sha256:"
    );
    assert!(refused.starts_with(&wanted), "{refused}");
    let other = errs[who].as_deref().expect("the refused endpoint must fail too");
    assert_eq!(
        other,
        format!(
            "party {who}: link to party {judge}: tls: the peer refused our certificate (alert CertificateUnknown): \
             check that its session file pins the certificate this endpoint presents"
        )
    );
}

#[test]
fn the_pinned_certificates_work() {
    let mut ts: Vec<TcpTransport> = mesh_with(tls_opts(3)).into_iter().map(|r| r.unwrap()).collect();
    ts[2].send(0, Arc::new(vec![5, 6, 7]), stamp(0)).unwrap();
    assert_eq!(*ts[0].recv(2).unwrap().0, vec![5, 6, 7]);
}

#[test]
fn a_leaf_made_for_another_id_and_signed_by_its_own_key_is_refused_in_both_roles() {
    for who in [0, 1] {
        // A fresh certificate naming the other endpoint, with a key of its own.
        let forged = Identity::generate(1 - who, 30).unwrap();
        assert_refused(who, forged.cert.clone(), forged.key_der());
        // And one naming itself: valid in every way but the pin.
        let stranger = Identity::generate(who, 30).unwrap();
        assert_refused(who, stranger.cert.clone(), stranger.key_der());
    }
}

#[test]
fn the_pinned_certificate_of_a_different_endpoint_is_refused_in_both_roles() {
    for who in [0, 1] {
        // `who` presents the other endpoint's pinned certificate, with its key.
        let opts = tls_opts(2);
        let judge = opts[1 - who].tls.clone().unwrap();
        assert_refused_with(opts, who, judge.cert_chain[0].clone(), judge.key);
    }
    // In a mesh of three, endpoint 2 presenting endpoint 1's certificate is refused by endpoint 0,
    // the first it dials; endpoint 1 then waits for it in vain.
    let opts: Vec<TcpOptions> = tls_opts(3)
        .into_iter()
        .map(|o| TcpOptions {
            connect_timeout: Duration::from_secs(2),
            ..o
        })
        .collect();
    let one = opts[1].tls.clone().unwrap();
    let errs = establish_errors(presenting(opts, 2, one.cert_chain[0].clone(), one.key));
    let e0 = errs[0].as_deref().unwrap_or_default();
    assert!(
        e0.starts_with("party 0: link to party 2: tls: invalid peer certificate: not the pinned certificate"),
        "{errs:?}"
    );
    assert!(errs[1].is_some() && errs[2].is_some(), "{errs:?}");
}

#[test]
fn pins_must_cover_every_endpoint() {
    let mut opts = tls_opts(2);
    opts[0].tls.as_mut().unwrap().pins.pop();
    let (mut ls, addrs) = listeners(2);
    let err = TcpTransport::establish(0, ls.remove(0), &addrs, &opts[0])
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "tls: 1 pins for 2 endpoints");
}

#[test]
fn pins_print_and_parse() {
    let id = Identity::generate(0, 1).unwrap();
    let pin = id.pin();
    let text = pin.to_string();
    assert!(text.starts_with("sha256:") && text.len() == 71, "{text}");
    assert_eq!(text.parse::<Pin>().unwrap(), pin);
    assert_eq!(pin.short(), format!("{}…", &text[..23]));
    for bad in ["", "sha256:12", "md5:00", &text[..70], &format!("{}g", &text[..70])] {
        let e = bad.parse::<Pin>().unwrap_err();
        assert!(e.starts_with("expected `sha256:` and 64 hex digits"), "{e}");
    }
}

/// A folder of PEM files for the certificate checks.
struct Files(std::path::PathBuf);

impl Files {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("testbed-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Files(dir)
    }

    fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A certificate for `names` with `params` adjusted by `edit`, and its key.
    fn rcgen(
        &self,
        stem: &str,
        names: &[&str],
        edit: impl FnOnce(&mut rcgen::CertificateParams),
    ) -> (std::path::PathBuf, std::path::PathBuf) {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        edit(&mut params);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (
            self.write(&format!("{stem}.crt"), &cert.pem()),
            self.write(&format!("{stem}.key"), &key.serialize_pem()),
        )
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load_err(endpoint: usize, cert: &std::path::Path, key: &std::path::Path) -> String {
    TlsSetup::load(endpoint, cert, key, Vec::new()).unwrap_err().to_string()
}

#[test]
fn loading_an_identity_names_each_certificate_problem_with_the_file_and_the_fix() {
    let f = Files::new("problems");
    let good = Identity::generate(1, 30).unwrap();
    let (cert, key) = (f.write("good.crt", &good.cert_pem), f.write("good.key", &good.key_pem));
    let setup = TlsSetup::load(1, &cert, &key, vec![good.pin(); 2]).unwrap();
    assert_eq!(Pin::of(&setup.cert_chain[0]), good.pin());

    // What `openssl req -x509` makes by default: a CA certificate.
    let (ca, ca_key) = f.rcgen("ca", &["testbed-party-1"], |p| {
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    });
    assert_eq!(
        load_err(1, &ca, &ca_key),
        format!(
            "{}: a CA certificate (basicConstraints CA:TRUE) cannot identify an endpoint: make certificates \
             with `testbed certs`, or add `-addext basicConstraints=critical,CA:FALSE` to `openssl req -x509`",
            ca.display()
        )
    );

    // A certificate for another endpoint.
    assert_eq!(
        load_err(0, &cert, &key),
        format!(
            "{}: the certificate is for testbed-party-1, not testbed-party-0 (endpoint 0): use the one made \
             for endpoint 0 (`testbed certs`), or add `-addext subjectAltName=DNS:testbed-party-0` to `openssl req`",
            cert.display()
        )
    );
    let (nameless, nameless_key) = f.rcgen("nameless", &[], |_| {});
    assert!(
        load_err(1, &nameless, &nameless_key)
            .contains("the certificate names no DNS name (subjectAltName), not testbed-party-1"),
        "{}",
        load_err(1, &nameless, &nameless_key)
    );

    // Expired, and not valid yet.
    let (old, old_key) = f.rcgen("old", &["testbed-party-1"], |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    assert_eq!(
        load_err(1, &old, &old_key),
        format!(
            "{}: the certificate expired on 2021-01-01 00:00 UTC: make new ones with `testbed certs` and update the pins",
            old.display()
        )
    );
    let (early, early_key) = f.rcgen("early", &["testbed-party-1"], |p| {
        p.not_before = rcgen::date_time_ymd(2090, 6, 1);
        p.not_after = rcgen::date_time_ymd(2091, 1, 1);
    });
    assert!(
        load_err(1, &early, &early_key)
            .contains("the certificate is not valid before 2090-06-01 00:00 UTC: check this machine's clock"),
        "{}",
        load_err(1, &early, &early_key)
    );

    // A key that belongs to another certificate.
    let other = Identity::generate(1, 30).unwrap();
    let other_key = f.write("other.key", &other.key_pem);
    assert_eq!(
        load_err(1, &cert, &other_key),
        format!(
            "{}: this private key does not belong to the certificate {}: use the key made with it (`testbed certs` \
             writes them in pairs)",
            other_key.display(),
            cert.display()
        )
    );

    // Missing and malformed files.
    let missing = f.0.join("nope.crt");
    assert!(load_err(1, &missing, &key).starts_with(&missing.display().to_string()));
    assert!(load_err(1, &cert, &cert).contains("no private key found"));
    assert!(load_err(1, &key, &key).contains("no pem certificate found"));
}

#[test]
fn certificates_made_here_are_end_entities_for_their_endpoint() {
    let id = Identity::generate(3, 10).unwrap();
    let now = rustls::pki_types::UnixTime::now();
    assert_eq!(check_certificate(&id.cert, Some(3), now), Ok(()));
    assert!(check_certificate(&id.cert, Some(2), now).is_err());
    let in_11_days = rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(now.as_secs() + 11 * 86_400));
    let e = check_certificate(&id.cert, None, in_11_days).unwrap_err();
    assert!(e.starts_with("the certificate expired on "), "{e}");
}
