//! The scheduler signs its Run requests with the core signer: an endpoint
//! verifying with the matching public key runs the function; one expecting
//! another key refuses it, and the run ends with `PERMISSION_DENIED`
//! without retries.

mod scheduler_support;

use dispatch_core::status::Status;
use dispatch_scheduler::Scheduler;
use dispatch_std::endpoint::{self, Directive, Endpoint, Outcome, Registry, Run};
use ed25519_dalek::SigningKey;
use scheduler_support::fast_config;

async fn verifying_endpoint(key: &SigningKey) -> String {
    let mut registry = Registry::new();
    registry.register("echo", |run: Run<String>| async move {
        match run.directive {
            Directive::Input(text) => Ok(Outcome::value(&text)),
            Directive::Resume(_) => Ok(Outcome::none()),
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let endpoint = Endpoint::new(registry).verification_key(Some(key.verifying_key()));
    tokio::spawn(endpoint.serve(listener, core::future::pending()));
    url
}

async fn run(scheduler_key: Option<SigningKey>, endpoint_key: &SigningKey) -> (Status, u32) {
    let url = verifying_endpoint(endpoint_key).await;
    let scheduler = Scheduler::new(fast_config(3).signing_key(scheduler_key)).unwrap();
    let ids = scheduler
        .dispatch(vec![endpoint::call(&url, "echo", 0, &"signed".to_string())])
        .await
        .unwrap();
    let info = scheduler.wait(&ids[0], None).await.unwrap();
    (info.outcome.unwrap().status, info.attempts)
}

#[tokio::test]
async fn a_signed_request_is_accepted() {
    let key = SigningKey::from_bytes(&[7; 32]);
    assert_eq!(run(Some(key.clone()), &key).await, (Status::Ok, 1));
}

#[tokio::test]
async fn a_request_signed_with_another_key_is_refused() {
    let key = SigningKey::from_bytes(&[7; 32]);
    let other = SigningKey::from_bytes(&[8; 32]);
    assert_eq!(run(Some(other), &key).await, (Status::PermissionDenied, 1));
}

#[tokio::test]
async fn an_unsigned_request_is_refused_by_a_verifying_endpoint() {
    let key = SigningKey::from_bytes(&[7; 32]);
    assert_eq!(run(None, &key).await, (Status::Unauthenticated, 1));
}
