//! `dispatch keygen`, `dispatch sign` and `dispatch verify`, run as a
//! process: exact signatures on a signature vector, verdicts and exit codes,
//! and clear errors on bad input.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_dispatch");

/// The vector `valid-basic-002`: a request signed the scheduler's way.
fn vector() -> serde_json::Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/signatures/valid-basic.json");
    let set: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    set["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "valid-basic-002")
        .unwrap()
        .clone()
}

/// The vector's request as raw HTTP/1.1, keeping the headers `keep` accepts.
fn raw_request(vector: &serde_json::Value, keep: impl Fn(&str) -> bool) -> Vec<u8> {
    let request = &vector["request"];
    let url = request["url"].as_str().unwrap();
    let path = &url[url.find("/dispatch").unwrap()..];
    let mut raw = format!(
        "{} {path} HTTP/1.1\r\n",
        request["method"].as_str().unwrap()
    );
    for header in request["headers"].as_array().unwrap() {
        let (name, value) = (header[0].as_str().unwrap(), header[1].as_str().unwrap());
        if keep(name) {
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    raw.push_str("\r\n");
    let mut raw = raw.into_bytes();
    raw.extend(base64_decode(request["body_b64"].as_str().unwrap()));
    raw
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64ct::Encoding as _;
    base64ct::Base64::decode_vec(text).unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dispatch-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("DISPATCH_VERIFICATION_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The tool may exit before reading stdin (a bad key is found first).
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn key_files(vector: &serde_json::Value, dir: &Path) -> (PathBuf, String) {
    let private = dir.join("private.pem");
    std::fs::write(
        &private,
        vector["verification_key"]["private_pem"].as_str().unwrap(),
    )
    .unwrap();
    let public = vector["verification_key"]["public_raw_b64"]
        .as_str()
        .unwrap()
        .to_owned();
    (private, public)
}

#[test]
fn sign_reproduces_the_vector_signature_and_base() {
    let vector = vector();
    let dir = temp_dir("sign");
    let (private, _) = key_files(&vector, &dir);
    let unsigned = raw_request(&vector, |name| {
        !["Content-Digest", "Signature-Input", "Signature"].contains(&name)
    });
    let output = run(
        &[
            "sign",
            "--signing-key",
            private.to_str().unwrap(),
            "--created",
            "1718236800",
            "--scheme",
            "https",
            "--print-base",
        ],
        &unsigned,
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let signed = text(&output.stdout);
    let signature = vector["request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "Signature")
        .unwrap()[1]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        signed.contains(&format!("Signature: {signature}\r\n")),
        "{signed}"
    );
    assert_eq!(
        text(&output.stderr).trim_end(),
        vector["signing"]["signature_base"].as_str().unwrap()
    );
}

#[test]
fn verify_accepts_the_vector_at_its_time() {
    let vector = vector();
    let signed = raw_request(&vector, |_| true);
    let key = vector["verification_key"]["public_raw_b64"]
        .as_str()
        .unwrap();
    let output = run(&["verify", "--key", key, "--now", "1718236830"], &signed);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    assert!(text(&output.stdout).starts_with("accepted"));
}

#[test]
fn verify_prints_the_base_it_rebuilt() {
    let vector = vector();
    let signed = raw_request(&vector, |_| true);
    let key = vector["verification_key"]["public_raw_b64"]
        .as_str()
        .unwrap();
    let output = run(
        &[
            "verify",
            "--key",
            key,
            "--now",
            "1718236830",
            "--print-base",
        ],
        &signed,
    );
    assert_eq!(output.status.code(), Some(0));
    let base = vector["expected"]["verifier_signature_base"]
        .as_str()
        .unwrap();
    assert!(
        text(&output.stdout).contains(base),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn an_old_request_is_403_without_now() {
    let vector = vector();
    let signed = raw_request(&vector, |_| true);
    let key = vector["verification_key"]["public_raw_b64"]
        .as_str()
        .unwrap();
    let output = run(&["verify", "--key", key], &signed);
    assert_eq!(output.status.code(), Some(4));
    let stdout = text(&output.stdout);
    assert!(stdout.starts_with("HTTP 403"), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(stdout.lines().nth(1).unwrap()).unwrap();
    assert_eq!(json["code"], "permission_denied");
}

#[test]
fn an_unsigned_request_is_401() {
    let vector = vector();
    let unsigned = raw_request(&vector, |name| !name.starts_with("Signature"));
    let key = vector["verification_key"]["public_raw_b64"]
        .as_str()
        .unwrap();
    let output = run(&["verify", "--key", key, "--now", "1718236830"], &unsigned);
    assert_eq!(output.status.code(), Some(3));
    let stdout = text(&output.stdout);
    assert!(stdout.starts_with("HTTP 401"), "{stdout}");
    assert!(stdout.contains(r#""code":"unauthenticated""#), "{stdout}");
}

#[test]
fn a_tampered_body_is_403() {
    let vector = vector();
    let mut signed = raw_request(&vector, |_| true);
    let last = signed.len() - 1;
    signed[last] ^= 1;
    let key = vector["verification_key"]["public_raw_b64"]
        .as_str()
        .unwrap();
    let output = run(&["verify", "--key", key, "--now", "1718236830"], &signed);
    assert_eq!(output.status.code(), Some(4));
    assert!(text(&output.stdout).contains("digest-mismatch"));
}

#[test]
fn the_wrong_key_is_403() {
    let vector = vector();
    let signed = raw_request(&vector, |_| true);
    let other = "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=";
    let output = run(&["verify", "--key", other, "--now", "1718236830"], &signed);
    assert_eq!(output.status.code(), Some(4));
    assert!(text(&output.stdout).contains("signature-mismatch"));
}

#[test]
fn malformed_requests_are_errors_not_panics() {
    let key = "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=";
    for garbage in [
        &b""[..],
        b"not http at all",
        b"POST /x HTTP/1.1\r\nHost: a\r\n",
        b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nshort",
        b"POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        b"\xff\xfe\x00\x01\r\n\r\n",
    ] {
        let output = run(&["verify", "--key", key], garbage);
        assert_eq!(output.status.code(), Some(1), "{:?}", text(garbage));
        assert!(
            text(&output.stderr).starts_with("dispatch: error: not a raw HTTP/1.1 request"),
            "{}",
            text(&output.stderr)
        );
    }
}

#[test]
fn bad_keys_are_clear_errors() {
    let vector = vector();
    let signed = raw_request(&vector, |_| true);
    let output = run(&["verify", "--key", "not a key"], &signed);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("is not an Ed25519 public key"));

    let dir = temp_dir("badkey");
    let bad = dir.join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let output = run(&["sign", "--signing-key", bad.to_str().unwrap()], &signed);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("is not an Ed25519 private key"));

    let missing = dir.join("missing.pem");
    let output = run(
        &["sign", "--signing-key", missing.to_str().unwrap()],
        &signed,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("cannot read"));
}

#[test]
fn keygen_keys_sign_and_verify() {
    let dir = temp_dir("keygen");
    let private = dir.join("k.pem");
    let public = dir.join("k.pub.pem");
    let args = [
        "keygen",
        "--private-key",
        private.to_str().unwrap(),
        "--public-key",
        public.to_str().unwrap(),
    ];
    let output = run(&args, b"");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let base64 = text(&output.stdout).trim().to_owned();
    assert_eq!(base64.len(), 44);
    assert!(
        std::fs::read_to_string(&private)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    assert!(
        std::fs::read_to_string(&public)
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // No overwrite without --force.
    assert_eq!(run(&args, b"").status.code(), Some(1));

    let request = b"POST /dispatch.sdk.v1.FunctionService/Run HTTP/1.1\nHost: 127.0.0.1:8000\nContent-Type: application/proto\nContent-Length: 3\n\nabc";
    let signed = run(
        &["sign", "--signing-key", private.to_str().unwrap()],
        request,
    );
    assert!(signed.status.success(), "{}", text(&signed.stderr));
    for key in [base64.as_str(), public.to_str().unwrap()] {
        let verified = run(&["verify", "--key", key], &signed.stdout);
        assert_eq!(
            verified.status.code(),
            Some(0),
            "{}",
            text(&verified.stdout)
        );
    }
}
