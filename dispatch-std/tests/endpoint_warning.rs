//! With no verification key, the endpoint logs one warning per process, and
//! none when it is reached through the CLI's `bridge://`.

use std::io::Write;
use std::sync::{Arc, Mutex};

use dispatch_std::endpoint::{Endpoint, Registry};

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn warnings(captured: &Captured) -> usize {
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    text.matches("signature verification is disabled").count()
}

#[test]
fn unverified_endpoints_warn_once_and_bridge_endpoints_never() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let bridge = Endpoint::new(Registry::new()).endpoint_url(Some("bridge://session".into()));
    let _ = bridge.service();
    assert_eq!(warnings(&captured), 0);

    let public = Endpoint::new(Registry::new()).endpoint_url(Some("https://app.example".into()));
    let _ = public.service();
    let _ = public.service();
    let _ = Endpoint::new(Registry::new()).service();
    assert_eq!(warnings(&captured), 1);

    let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key();
    let _ = Endpoint::new(Registry::new())
        .verification_key(Some(key))
        .service();
    assert_eq!(warnings(&captured), 1);
}
