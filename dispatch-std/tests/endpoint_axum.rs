//! The endpoint mounted in an axum Router, and the verify layer in front of
//! an application's own axum routes, over a real socket on 127.0.0.1.
//! Needs `--features axum`.

mod endpoint_support;

use dispatch_core::status::Status;
use dispatch_std::endpoint::{Endpoint, RUN_PATH};
use dispatch_std::layer::VerifyLayer;
use endpoint_support::*;

async fn serve(router: axum::Router) -> core::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

#[tokio::test]
async fn the_endpoint_runs_inside_an_axum_router() {
    let router = Endpoint::new(registry())
        .router()
        .route("/health", axum::routing::get(|| async { "ok" }));
    let addr = serve(router).await;

    let response = run(addr, &input_request("echo", string_any("hi")))
        .await
        .run_response();
    assert_eq!(response.status, Status::Ok.number());

    let reply = run(addr, &input_request("missing", string_any("hi"))).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.connect_error().0, "not_found");

    let reply = send(addr, "GET", "/health", &[], b"").await;
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b"ok"[..]));
}

#[tokio::test]
async fn the_layer_limits_bodies_in_front_of_axum_routes() {
    let router = axum::Router::new()
        .route(
            "/upload",
            axum::routing::post(|body: axum::body::Bytes| async move { body.len().to_string() }),
        )
        .layer(VerifyLayer::new(None).body_limit(16));
    let addr = serve(router).await;

    let reply = send(addr, "POST", "/upload", &[], b"0123456789").await;
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b"10"[..]));

    let reply = send(addr, "POST", "/upload", &[], &[b'x'; 17]).await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.connect_error().0, "resource_exhausted");
}

#[tokio::test]
async fn a_nested_endpoint_verifies_the_path_the_client_signed() {
    use dispatch_core::signature::{BorrowedRequest, SIGNING_BUFFER_LEN, sign_request};

    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let endpoint = Endpoint::new(registry()).verification_key(Some(key.verifying_key()));
    let router = axum::Router::new().nest("/functions", endpoint.router());
    let addr = serve(router).await;

    let path = format!("/functions{RUN_PATH}");
    let body = prost::Message::encode_to_vec(&input_request("echo", string_any("nested")));
    let url = format!("http://{addr}{path}");
    let unsigned = [("content-type", "application/proto")];
    let request = BorrowedRequest::from_url("POST", &url, &unsigned).unwrap();
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut buffer = [0u8; SIGNING_BUFFER_LEN];
    let signed = sign_request(&request, &body, &key, created, &mut buffer).unwrap();
    let headers = [
        ("content-type", "application/proto"),
        ("content-digest", signed.content_digest),
        ("signature-input", signed.signature_input),
        ("signature", signed.signature),
    ];
    let response = send(addr, "POST", &path, &headers, &body)
        .await
        .run_response();
    assert_eq!(response.status, Status::Ok.number());
}
