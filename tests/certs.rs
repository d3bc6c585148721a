//! `testbed certs` and pinned identities between party processes: what a newcomer sets up for a
//! multi-host run, and every certificate mistake named in one line with the file and the fix.

use crate::common::testbed;
use crate::tcp::run_pair;
use std::path::{Path, PathBuf};
use testbed::net::tcp::Pin;

/// A fresh folder under the temp dir, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let d = std::env::temp_dir().join(format!("testbed-certs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `testbed certs` for two parties (no dealer) into `out`; returns its session as JSON.
fn certs_for_two(out: &Path) -> serde_json::Value {
    let (code, stdout, err) = testbed(&[
        "certs",
        "--parties",
        "2",
        "--protocol",
        "2pc-tfp-insecure",
        "--out",
        s(out),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("next: edit the addresses"), "{stdout}");
    read_session(&out.join("session.yaml"))
}

fn read_session(path: &Path) -> serde_json::Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Writes `session` (as JSON, which is YAML) with fresh loopback ports.
fn write_session(path: &Path, mut session: serde_json::Value) -> String {
    for e in session["endpoints"].as_array_mut().unwrap() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        e["address"] = format!("127.0.0.1:{port}").into();
    }
    session["timeout_s"] = 5.0.into();
    std::fs::write(path, serde_json::to_string_pretty(&session).unwrap()).unwrap();
    s(path).to_string()
}

/// Runs one party alone; returns its exit code and stderr.
fn run_one(id: &str, session: &str) -> (i32, String) {
    let (code, _, err) = testbed(&["party", "--id", id, "--session", session]);
    (code, err.trim().to_string())
}

fn pin_of(cert_pem: &str) -> String {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    Pin::of(&CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()).to_string()
}

#[test]
fn certs_writes_keys_certificates_and_a_pinned_session_that_runs() {
    let d = Dir::new("run");
    let session = certs_for_two(&d.0);
    for i in 0..2 {
        let cert = std::fs::read_to_string(d.path(&format!("party{i}.crt"))).unwrap();
        assert_eq!(session["endpoints"][i]["pin"], pin_of(&cert));
        assert_eq!(session["endpoints"][i]["tls"]["cert"], format!("party{i}.crt"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.path(&format!("party{i}.key")))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "keys are private");
        }
    }
    let text = std::fs::read_to_string(d.path("session.yaml")).unwrap();
    assert!(
        text.contains("#   party 0   (--id 0): session.yaml party0.crt party0.key"),
        "{text}"
    );
    assert!(!text.contains("insecure_plaintext"));
    // Both parties run from the same file (relative paths resolve against its folder).
    let file = write_session(&d.path("run.yaml"), session);
    for (code, err) in run_pair(&file, &file) {
        assert_eq!(code, 0, "{err}");
        assert!(err.trim().is_empty(), "no warning with TLS: {err}");
    }
    // Nothing is ever overwritten.
    let (code, _, err) = testbed(&[
        "certs",
        "--parties",
        "2",
        "--protocol",
        "2pc-tfp-insecure",
        "--out",
        s(&d.0),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("session.yaml: already exists: choose an empty folder"),
        "{err}"
    );
}

#[test]
fn certs_picks_a_protocol_that_fits_and_names_the_dealer() {
    let d = Dir::new("fit");
    let (code, _, err) = testbed(&["certs", "--parties", "4", "--dealer", "--out", s(&d.path("npc"))]);
    assert_eq!(code, 0, "{err}");
    let session = read_session(&d.path("npc/session.yaml"));
    assert_eq!(session["protocol"], "npc-additive");
    assert_eq!(session["parties"], 4, "the file's 3 parties overridden");
    assert_eq!(session["endpoints"].as_array().unwrap().len(), 5);
    assert_eq!(session["endpoints"][4]["tls"]["key"], "dealer.key");
    assert!(d.path("npc/dealer.crt").exists());

    let (code, _, err) = testbed(&["certs", "--parties", "3", "--out", s(&d.path("rss"))]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(read_session(&d.path("rss/session.yaml"))["protocol"], "3pc-replicated");

    let (code, _, err) = testbed(&["certs", "--parties", "2", "--out", s(&d.path("none"))]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim(),
        "error: --parties: no protocol runs 2 parties without a dealer: add --dealer, or name one with --protocol"
    );
    let (code, _, err) = testbed(&[
        "certs",
        "--parties",
        "2",
        "--protocol",
        "2pc-ttp",
        "--out",
        s(&d.path("x")),
    ]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim(),
        "error: --dealer: protocol 2pc-ttp has a dealer endpoint: add --dealer"
    );
    assert!(!d.path("x").exists(), "nothing written on bad input");
}

#[test]
fn a_party_presenting_a_certificate_other_than_its_pin_is_refused() {
    let d = Dir::new("rogue");
    let good = certs_for_two(&d.path("good"));
    // Another run's certificate for party 1: valid for testbed-party-1, signed by its own key.
    let other = certs_for_two(&d.path("other"));
    let good_file = write_session(&d.path("good/s.yaml"), good.clone());
    // The rogue's own session file pins its certificate (so it starts), on the same addresses.
    let mut rogue = read_session(Path::new(&good_file));
    rogue["endpoints"][1]["pin"] = other["endpoints"][1]["pin"].clone();
    rogue["endpoints"][1]["tls"] = serde_json::json!({
        "cert": s(&d.path("other/party1.crt")), "key": s(&d.path("other/party1.key")),
    });
    let rogue_file = d.path("good/rogue.yaml");
    std::fs::write(&rogue_file, serde_json::to_string(&rogue).unwrap()).unwrap();
    let [(c0, e0), (c1, e1)] = run_pair(&good_file, s(&rogue_file));
    assert!(c0 != 0 && c1 != 0, "{e0} {e1}");
    assert!(
        e0.contains("party 0: link to party 1: tls: invalid peer certificate: not the pinned certificate"),
        "{e0}"
    );
    assert!(
        e1.contains("party 1: link to party 0: tls: the peer refused our certificate"),
        "{e1}"
    );

    // A certificate made for another id is refused before it is ever presented.
    let mut wrong = good.clone();
    wrong["endpoints"][1]["pin"] = other["endpoints"][0]["pin"].clone();
    wrong["endpoints"][1]["tls"]["cert"] = s(&d.path("other/party0.crt")).into();
    wrong["endpoints"][1]["tls"]["key"] = s(&d.path("other/party0.key")).into();
    let (code, err) = run_one("1", &write_session(&d.path("good/wrong.yaml"), wrong));
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err,
        format!(
            "error: {}: the certificate is for testbed-party-0, not testbed-party-1 (endpoint 1): use the one made \
             for endpoint 1 (`testbed certs`), or add `-addext subjectAltName=DNS:testbed-party-1` to `openssl req`",
            d.path("other/party0.crt").display()
        )
    );
}

#[test]
fn certificate_mistakes_are_named_with_the_file_and_the_fix() {
    let d = Dir::new("mistakes");
    let good = certs_for_two(&d.0);
    let try_with = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut session = good.clone();
        edit(&mut session);
        run_one("0", &write_session(&d.path(name), session))
    };

    // A pin that does not match the certificate file.
    let (code, err) = try_with("pin.yaml", &|s| {
        s["endpoints"][0]["pin"] = format!("sha256:{}", "ab".repeat(32)).into()
    });
    assert_eq!(code, 2, "{err}");
    let cert0 = d.path("party0.crt");
    let wanted = format!(
        "error: {}: its fingerprint {} is not endpoint 0's pin in {} (sha256:abababababababab…): use the session \
         file made with this certificate, or set that endpoint's `pin: {}`",
        cert0.display(),
        good["endpoints"][0]["pin"].as_str().unwrap(),
        d.path("pin.yaml").display(),
        good["endpoints"][0]["pin"].as_str().unwrap(),
    );
    assert_eq!(err, wanted);

    // A key that belongs to another certificate.
    let (code, err) = try_with("key.yaml", &|s| s["endpoints"][0]["tls"]["key"] = "party1.key".into());
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with(&format!(
            "error: {}: this private key does not belong to the certificate {}",
            d.path("party1.key").display(),
            cert0.display()
        )),
        "{err}"
    );

    // What `openssl req -x509` makes by default: a CA certificate.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["testbed-party-0".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params.self_signed(&key).unwrap();
    std::fs::write(d.path("ca.crt"), ca.pem()).unwrap();
    std::fs::write(d.path("ca.key"), key.serialize_pem()).unwrap();
    let (code, err) = try_with("ca.yaml", &|s| {
        s["endpoints"][0]["pin"] = pin_of(&ca.pem()).into();
        s["endpoints"][0]["tls"] = serde_json::json!({ "cert": "ca.crt", "key": "ca.key" });
    });
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("{}: a CA certificate", d.path("ca.crt").display())),
        "{err}"
    );
    assert!(
        err.contains("add `-addext basicConstraints=critical,CA:FALSE` to `openssl req -x509`"),
        "{err}"
    );

    // Expired.
    let mut params = rcgen::CertificateParams::new(vec!["testbed-party-0".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2019, 1, 1);
    params.not_after = rcgen::date_time_ymd(2020, 1, 1);
    let old = params.self_signed(&key).unwrap();
    std::fs::write(d.path("old.crt"), old.pem()).unwrap();
    let (code, err) = try_with("old.yaml", &|s| {
        s["endpoints"][0]["pin"] = pin_of(&old.pem()).into();
        s["endpoints"][0]["tls"] = serde_json::json!({ "cert": "old.crt", "key": "ca.key" });
    });
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("old.crt: the certificate expired on 2020-01-01 00:00 UTC: make new ones with `testbed certs`"),
        "{err}"
    );

    // Mixing plaintext and pins, one endpoint without a pin, two endpoints sharing one.
    let (code, err) = try_with("mixed.yaml", &|s| s["insecure_plaintext"] = true.into());
    assert_eq!(code, 2);
    assert!(err.ends_with("field `insecure_plaintext`: true, but endpoint 0 has TLS settings (`pin` or `tls`); remove one or the other"), "{err}");
    let (code, err) = try_with("nopin.yaml", &|s| {
        s["endpoints"][1].as_object_mut().unwrap().remove("pin");
    });
    assert_eq!(code, 2);
    assert!(err.ends_with("endpoint 1 has no `pin`: pin every endpoint's certificate (`testbed certs` writes them), or set `insecure_plaintext: true`"), "{err}");
    let (code, err) = try_with("same.yaml", &|s| {
        s["endpoints"][1]["pin"] = s["endpoints"][0]["pin"].clone()
    });
    assert_eq!(code, 2);
    assert!(
        err.ends_with("endpoints 0 and 1 have the same `pin`: every endpoint needs a certificate of its own"),
        "{err}"
    );
    let (code, err) = try_with("badpin.yaml", &|s| s["endpoints"][1]["pin"] = "sha1:00".into());
    assert_eq!(code, 2);
    assert!(err.contains("expected `sha256:` and 64 hex digits"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// The README's three-terminal example: `certs --job infer`, then the model owner, the data owner
/// and the dealer each in a folder of its own with only its own files, over pinned TLS.
#[test]
fn the_readme_three_terminal_inference_runs_over_pinned_tls() {
    let d = Dir::new("infer");
    let (code, _, err) = testbed(&[
        "certs",
        "--parties",
        "2",
        "--dealer",
        "--job",
        "infer",
        "--out",
        s(&d.0),
    ]);
    assert_eq!(code, 0, "{err}");
    let session = read_session(&d.path("session.yaml"));
    assert_eq!(session["job"]["kind"], "model");
    let file = write_session(&d.path("run.yaml"), session);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx");
    let homes: Vec<PathBuf> = ["p0", "p1", "dealer"].iter().map(|h| d.path(h)).collect();
    for h in &homes {
        std::fs::create_dir_all(h).unwrap();
    }
    std::fs::copy(fixtures.join("lenet_small.onnx"), homes[0].join("m.onnx")).unwrap();
    std::fs::copy(fixtures.join("lenet_small.input.npy"), homes[1].join("x.npy")).unwrap();
    let args: [&[&str]; 3] = [&["--model", "m.onnx"], &["--input", "x.npy", "--output", "y.npy"], &[]];
    let children: Vec<_> = args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            std::process::Command::new(env!("CARGO_BIN_EXE_testbed"))
                .args(["party", "--id", &i.to_string(), "--session", &file])
                .args(*a)
                .current_dir(&homes[i])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let o = c.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "endpoint {i}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("`model` job done"), "{out}");
        assert_eq!(out.contains("output written to y.npy"), i == 1, "{out}");
    }
    assert!(homes[1].join("y.npy").is_file());
}
