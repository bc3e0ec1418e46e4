//! No connection can hold the endpoint hostage: connections that send
//! nothing are closed, an idle kept-alive connection is closed after the
//! idle timeout, and at the connection cap the longest-idle connection makes
//! room for a new one (or, when every one is busy, the new one is refused).

mod endpoint_support;

use core::time::Duration;

use dispatch_std::endpoint::Endpoint;
use endpoint_support::{GUARD, Server, input_request, read_reply, registry, string_any};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Waits until the server closes `stream` (read gives 0 or an error).
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(GUARD, stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

fn echo_request(addr: core::net::SocketAddr) -> Vec<u8> {
    let body = input_request("echo", string_any("hi")).encode_to_vec();
    let length = body.len().to_string();
    let mut bytes = endpoint_support::head(
        "POST",
        dispatch_std::endpoint::RUN_PATH,
        addr,
        &[
            ("content-type", "application/proto"),
            ("content-length", &length),
        ],
    );
    bytes.extend_from_slice(&body);
    bytes
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    let server =
        Server::start(Endpoint::new(registry()).read_timeout(Some(Duration::from_millis(200))))
            .await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert!(closed_by_server(&mut silent).await);
    // And one that sends half a head.
    let mut trickle = TcpStream::connect(server.addr).await.unwrap();
    trickle
        .write_all(b"POST /dispatch.sdk.v1.Fun")
        .await
        .unwrap();
    assert!(closed_by_server(&mut trickle).await);
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let server =
        Server::start(Endpoint::new(registry()).idle_timeout(Duration::from_millis(200))).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&echo_request(server.addr)).await.unwrap();
    let reply = tokio::time::timeout(GUARD, read_reply(&mut stream))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert!(closed_by_server(&mut stream).await);
}

#[tokio::test]
async fn at_the_cap_the_longest_idle_connection_makes_room() {
    let server = Server::start(Endpoint::new(registry()).max_connections(4)).await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Let the server accept all four before the fifth arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for round in 0..8 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(&echo_request(server.addr)).await.unwrap();
        let reply = tokio::time::timeout(GUARD, read_reply(&mut stream))
            .await
            .unwrap_or_else(|_| panic!("round {round}: no answer at the cap"));
        assert_eq!(reply.status, 200, "round {round}");
    }
    // The first idle connection went to make room.
    assert!(closed_by_server(&mut idle[0]).await);
}

#[tokio::test]
async fn when_every_connection_is_busy_a_new_one_is_refused_and_the_busy_ones_finish() {
    let server = Server::start(Endpoint::new(registry()).max_connections(2)).await;
    // Two connections each running `hang`, which never finishes by itself.
    let hang = input_request("hang", string_any("x")).encode_to_vec();
    let length = hang.len().to_string();
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let mut bytes = endpoint_support::head(
            "POST",
            dispatch_std::endpoint::RUN_PATH,
            server.addr,
            &[
                ("content-type", "application/proto"),
                ("content-length", &length),
                ("connect-timeout-ms", "3000"),
            ],
        );
        bytes.extend_from_slice(&hang);
        stream.write_all(&bytes).await.unwrap();
        busy.push(stream);
    }
    // Let both requests start (the server counts them in flight).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut refused = TcpStream::connect(server.addr).await.unwrap();
    assert!(closed_by_server(&mut refused).await);
    // The busy ones were not evicted: they get their answer (504 at the
    // deadline they asked for).
    for stream in &mut busy {
        let reply = tokio::time::timeout(GUARD, read_reply(stream))
            .await
            .unwrap();
        assert_eq!(reply.status, 504);
    }
}
