//! The client against a local server replaying the `client_http` and
//! `connect_http_inference` vectors: what it sends, and what it surfaces.

mod client_support;

use client_support::{Reply, TestServer, hex, vectors};
use dispatch_std::client::proto::DispatchRequest;
use dispatch_std::client::{Client, ClientError};
use prost::Message as _;

/// The API key the `client_http` vectors were recorded with.
const VECTOR_API_KEY: &str = "test-api-key-0123456789";

fn client_for(server: &TestServer) -> Client {
    Client::builder()
        .api_key(VECTOR_API_KEY)
        .api_url(server.url.clone())
        .build_with_env(|_| None)
        .unwrap()
}

/// docs/protocol/connect.md, HTTP status to code, for responses without a Connect
/// error body (written out here from the spec, independently of the core).
fn spec_code_for_status(status: u16) -> &'static str {
    match status {
        400 => "internal",
        401 => "unauthenticated",
        403 => "permission_denied",
        404 => "unimplemented",
        429 | 502..=504 => "unavailable",
        _ => "unknown",
    }
}

/// The Connect error body of a recorded response, when it is one
/// (JSON content type, an object with a known-looking `code` string).
fn connect_body(content_type: &str, body: &[u8]) -> Option<serde_json::Value> {
    let json = content_type == "application/json"
        || content_type.eq_ignore_ascii_case("application/json; charset=utf-8");
    let value: serde_json::Value = serde_json::from_slice(body).ok().filter(|_| json)?;
    value.get("code")?.as_str()?;
    Some(value)
}

#[tokio::test]
async fn client_http_vectors() {
    for v in vectors("client_http.json") {
        let id = v["id"].as_str().unwrap();
        let response = &v["server_response"];
        let reply = Reply::new(
            u16::try_from(response["status"].as_u64().unwrap()).unwrap(),
            response["content_type"].as_str(),
            hex(response["body_hex"].as_str().unwrap()),
        );
        let server = TestServer::start(vec![reply]).await;
        let client = client_for(&server);

        let sent_body = hex(v["request"]["body_hex"].as_str().unwrap());
        let calls = DispatchRequest::decode(sent_body.as_slice()).unwrap().calls;
        let outcome = client.dispatch_batch(calls).await;

        // What went on the wire.
        let requests = server.requests();
        assert_eq!(requests.len(), 1, "{id}: one request");
        let got = &requests[0];
        assert_eq!(got.method, v["request"]["method"].as_str().unwrap(), "{id}");
        assert_eq!(got.path, v["request"]["path"].as_str().unwrap(), "{id}");
        for (name, want) in v["request"]["sdk_headers"].as_object().unwrap() {
            assert_eq!(
                got.header(name),
                Some(want.as_str().unwrap()),
                "{id}: header {name}"
            );
        }
        assert_eq!(got.body, sent_body, "{id}: request body");

        // What the caller sees.
        let result = &v["sdk_result"];
        if let Some(ids) = result.get("returns") {
            let ids: Vec<&str> = ids
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_str().unwrap())
                .collect();
            let got: Vec<String> = outcome
                .unwrap_or_else(|e| panic!("{id}: {e}"))
                .into_iter()
                .map(String::from)
                .collect();
            assert_eq!(got, ids, "{id}");
            continue;
        }
        let err = outcome.expect_err(id);
        let status = response["status"].as_u64().unwrap();
        assert_eq!(err.http_status().map(u64::from), Some(status), "{id}");
        let body = hex(response["body_hex"].as_str().unwrap());
        let content_type = response["content_type"].as_str().unwrap_or("");
        if status == 401 {
            // docs/protocol/connect.md: name the variable, show at most 3 characters of the key.
            assert!(
                matches!(err, ClientError::Unauthenticated { .. }),
                "{id}: {err:?}"
            );
            let shown = err.to_string();
            assert!(shown.contains("DISPATCH_API_KEY"), "{id}: {shown}");
            assert!(shown.contains("tes********"), "{id}: {shown}");
            assert!(!shown.contains("test"), "{id}: key leaked: {shown}");
        } else if let Some(connect) = connect_body(content_type, &body) {
            // A Connect error body: its code and message, as dispatch-py reports them.
            assert_eq!(err.code().name(), result["code"].as_str().unwrap(), "{id}");
            assert_eq!(err.code().name(), connect["code"].as_str().unwrap(), "{id}");
            if let Some(message) = connect.get("message").and_then(|m| m.as_str()) {
                assert_eq!(err.message(), message, "{id}");
                assert_eq!(err.message(), result["message"].as_str().unwrap(), "{id}");
            }
        } else {
            // No Connect body: dispatch-py says `unknown` with the raw bytes;
            // this project infers the code from the status (docs/protocol/connect.md) and
            // quotes the body.
            assert_eq!(
                err.code().name(),
                spec_code_for_status(status as u16),
                "{id}: {err}"
            );
            let text = String::from_utf8_lossy(&body);
            assert!(err.message().contains(text.trim()), "{id}: {err}");
        }
    }
}

#[tokio::test]
async fn connect_http_inference_vectors() {
    for v in vectors("connect_http_inference.json") {
        let id = v["id"].as_str().unwrap();
        let status = u16::try_from(v["http_status"].as_u64().unwrap()).unwrap();
        let server = TestServer::start(vec![Reply::new(
            status,
            v["content_type"].as_str(),
            v["body_text"].as_str().unwrap(),
        )])
        .await;
        let client = client_for(&server);
        let call = dispatch_std::client::proto::Call {
            endpoint: "https://my-app.example.com".into(),
            function: "greet".into(),
            ..Default::default()
        };
        let err = client.dispatch(call).await.expect_err(id);
        assert_eq!(err.http_status(), Some(status), "{id}");
        assert_eq!(
            err.code().name(),
            v["expected_code"].as_str().unwrap(),
            "{id}: {err}"
        );
        if let Some(message) = v.get("expected_message") {
            assert_eq!(err.message(), message.as_str().unwrap(), "{id}");
        }
        assert!(
            matches!(
                err,
                ClientError::Api { .. } | ClientError::Unauthenticated { .. }
            ),
            "{id}: {err:?}"
        );
    }
}
