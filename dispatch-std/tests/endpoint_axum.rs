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
    let _ = RUN_PATH;
}
