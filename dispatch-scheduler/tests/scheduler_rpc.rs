//! The scheduler's HTTP side: the Dispatch RPC (through this crate's own
//! client and by hand) and the wait route.

mod scheduler_support;

use dispatch_core::proto::sdk::v1 as pb;
use dispatch_scheduler::{Scheduler, WAIT_PATH_PREFIX};
use dispatch_std::client::{Client, ClientError};
use dispatch_std::endpoint::{self, Directive, Outcome, Registry, Run};
use prost::Message as _;
use scheduler_support::{fast_config, serve_endpoint, serve_scheduler};

const KEY: &str = "test-api-key";

async fn setup() -> (String, String) {
    let mut registry = Registry::new();
    registry.register("greet", |run: Run<String>| async move {
        match run.directive {
            Directive::Input(name) => Ok(Outcome::value(&format!("hello, {name}"))),
            Directive::Resume(_) => Ok(Outcome::none()),
        }
    });
    let endpoint = serve_endpoint(registry).await;
    let scheduler = Scheduler::new(fast_config(3).api_key(Some(KEY.into()))).unwrap();
    let url = serve_scheduler(&scheduler).await;
    (endpoint, url)
}

fn client(url: &str, key: &str) -> Client {
    Client::builder()
        .api_url(url)
        .api_key(key)
        .build_with_env(|_| None)
        .unwrap()
}

async fn wait_json(url: &str, id: &str, key: Option<&str>) -> (u16, serde_json::Value) {
    let mut request =
        reqwest::Client::new().get(format!("{url}{WAIT_PATH_PREFIX}{id}?wait_ms=30000"));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn a_dispatched_call_runs_and_its_outcome_can_be_awaited() {
    let (endpoint, url) = setup().await;
    let id = client(&url, KEY)
        .dispatch(endpoint::call(&endpoint, "greet", 0, &"world".to_string()))
        .await
        .unwrap();
    let (status, json) = wait_json(&url, id.as_str(), Some(KEY)).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["done"], true);
    assert_eq!(json["status"], "STATUS_OK");
    assert_eq!(json["dispatchId"], id.as_str());
    assert_eq!(json["result"]["output"]["value"], "hello, world");
}

#[tokio::test]
async fn batches_get_one_id_per_call_in_order() {
    let (endpoint, url) = setup().await;
    let calls =
        ["a", "b", "c"].map(|name| endpoint::call(&endpoint, "greet", 0, &name.to_string()));
    let ids = client(&url, KEY).dispatch_batch(calls).await.unwrap();
    assert_eq!(ids.len(), 3);
    for (id, name) in ids.iter().zip(["a", "b", "c"]) {
        let (_, json) = wait_json(&url, id.as_str(), Some(KEY)).await;
        assert_eq!(json["result"]["output"]["value"], format!("hello, {name}"));
    }
}

#[tokio::test]
async fn a_wrong_api_key_is_unauthenticated() {
    let (endpoint, url) = setup().await;
    let error = client(&url, "not-the-key")
        .dispatch(endpoint::call(&endpoint, "greet", 0, &"x".to_string()))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::Unauthenticated { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_missing_authorization_is_401_with_connect_json() {
    let (_, url) = setup().await;
    let response = reqwest::Client::new()
        .post(format!("{url}/dispatch.sdk.v1.DispatchService/Dispatch"))
        .header("content-type", "application/proto")
        .body(pb::DispatchRequest::default().encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let json: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(json["code"], "unauthenticated");
    let (status, json) = wait_json(&url, "whatever", None).await;
    assert_eq!(status, 401, "{json}");
}

#[tokio::test]
async fn an_invalid_call_is_invalid_argument() {
    let (_, url) = setup().await;
    let request = pb::DispatchRequest {
        calls: vec![pb::Call {
            endpoint: "http://127.0.0.1:1".into(),
            function: "9lives".into(),
            ..Default::default()
        }],
    };
    let response = reqwest::Client::new()
        .post(format!("{url}/dispatch.sdk.v1.DispatchService/Dispatch"))
        .bearer_auth(KEY)
        .header("content-type", "application/proto")
        .body(request.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let json: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(json["code"], "invalid_argument");
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("calls[0].function")
    );
}

#[tokio::test]
async fn garbage_bodies_and_codecs_are_refused() {
    let (_, url) = setup().await;
    let http = reqwest::Client::new();
    let dispatch_url = format!("{url}/dispatch.sdk.v1.DispatchService/Dispatch");
    let garbage = http
        .post(&dispatch_url)
        .bearer_auth(KEY)
        .header("content-type", "application/proto")
        .body(vec![0xff, 0xff, 0xff])
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status().as_u16(), 400);
    let text = http
        .post(&dispatch_url)
        .bearer_auth(KEY)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status().as_u16(), 415);
    let get = http
        .get(&dispatch_url)
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);
}

#[tokio::test]
async fn json_dispatch_requests_get_json_answers() {
    let (endpoint, url) = setup().await;
    let body = serde_json::json!({"calls": [{
        "endpoint": endpoint,
        "function": "greet",
        "input": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "json"},
    }]});
    let response = reqwest::Client::new()
        .post(format!("{url}/dispatch.sdk.v1.DispatchService/Dispatch"))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let json: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let id = json["dispatchIds"][0].as_str().unwrap().to_owned();
    let (_, json) = wait_json(&url, &id, Some(KEY)).await;
    assert_eq!(json["result"]["output"]["value"], "hello, json");
}

#[tokio::test]
async fn an_unknown_run_is_not_found() {
    let (_, url) = setup().await;
    let (status, json) = wait_json(&url, "0123", Some(KEY)).await;
    assert_eq!(status, 404);
    assert_eq!(json["code"], "not_found");
}

#[tokio::test]
async fn an_unknown_procedure_is_404_unimplemented() {
    let (_, url) = setup().await;
    let response = reqwest::Client::new()
        .post(format!("{url}/dispatch.sdk.v1.FunctionService/Run"))
        .bearer_auth(KEY)
        .header("content-type", "application/proto")
        .body(pb::RunRequest::default().encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let json: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(json["code"], "unimplemented");
    assert_eq!(
        json["message"],
        "no such route: /dispatch.sdk.v1.FunctionService/Run"
    );
}

/// Sends an empty DispatchRequest with these Authorization header values.
async fn dispatch_with_authorization(url: &str, values: &[&str]) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{url}/dispatch.sdk.v1.DispatchService/Dispatch"))
        .header("content-type", "application/proto");
    for value in values {
        request = request.header("authorization", *value);
    }
    let response = request
        .body(pb::DispatchRequest::default().encode_to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_and_one_header_is_required() {
    let (_, url) = setup().await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let (status, json) = dispatch_with_authorization(&url, &[&format!("{scheme} {KEY}")]).await;
        assert_ne!(status, 401, "{scheme}: {json}");
    }
    let (status, _) = dispatch_with_authorization(&url, &[&format!("Bearer   {KEY}")]).await;
    assert_ne!(status, 401, "several spaces before the token");
    let (status, json) =
        dispatch_with_authorization(&url, &[&format!("Bearer {KEY}"), "Bearer wrong"]).await;
    assert_eq!(
        (status, json["code"].as_str()),
        (400, Some("invalid_argument")),
        "{json}"
    );
    let (status, json) =
        dispatch_with_authorization(&url, &["Bearer wrong", &format!("Bearer {KEY}")]).await;
    assert_eq!(status, 400, "{json}");
    for refused in [
        "Basic abc",
        &format!("Bearer{KEY}"),
        &format!("Token {KEY}"),
        "Bearer wrong",
    ] {
        let (status, json) = dispatch_with_authorization(&url, &[refused]).await;
        assert_eq!(
            (status, json["code"].as_str()),
            (401, Some("unauthenticated")),
            "{refused}: {json}"
        );
    }
}

/// Writes `head` (and `body`) on a fresh connection to the scheduler at
/// `url`, then waits for the answer's status line.
async fn raw_status(url: &str, head: String, body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut answer = vec![0u8; 1024];
    let n = stream.read(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    text.split(' ').nth(1).unwrap().parse().unwrap()
}

fn dispatch_head(url: &str, length: usize) -> String {
    let host = url.trim_start_matches("http://");
    format!(
        "POST /dispatch.sdk.v1.DispatchService/Dispatch HTTP/1.1\r\nHost: {host}\r\n\
         Authorization: Bearer {KEY}\r\nContent-Type: application/proto\r\n\
         Content-Length: {length}\r\n\r\n"
    )
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_413_before_the_body_is_read() {
    let scheduler =
        Scheduler::new(fast_config(1).api_key(Some(KEY.into())).body_limit(1000)).unwrap();
    let url = serve_scheduler(&scheduler).await;
    // Nothing of the body is sent: the answer comes from the head alone.
    assert_eq!(
        raw_status(&url, dispatch_head(&url, 1_000_000), b"").await,
        413
    );
}

#[tokio::test]
async fn a_body_that_stalls_is_408_after_the_read_timeout() {
    let config = fast_config(1)
        .api_key(Some(KEY.into()))
        .read_timeout(core::time::Duration::from_millis(200));
    let scheduler = Scheduler::new(config).unwrap();
    let url = serve_scheduler(&scheduler).await;
    // 10 of the 100 declared bytes, then nothing.
    assert_eq!(
        raw_status(&url, dispatch_head(&url, 100), &[0u8; 10]).await,
        408
    );
}

/// One HTTP/1.1 answer read from a kept-alive connection: the status, the
/// header lines (lower-case names) and the body (by its Content-Length).
async fn read_answer(
    stream: &mut tokio::io::BufReader<tokio::net::TcpStream>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut line = String::new();
    stream.read_line(&mut line).await.unwrap();
    let status = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        stream.read_line(&mut line).await.unwrap();
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .map_or(0, |(_, value)| value.parse().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    (status, headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn dispatch_head_with(url: &str, extra: &str, length: usize) -> String {
    let host = url.trim_start_matches("http://");
    format!(
        "POST /dispatch.sdk.v1.DispatchService/Dispatch HTTP/1.1\r\nHost: {host}\r\n\
         Content-Type: application/proto\r\n{extra}Content-Length: {length}\r\n\r\n"
    )
}

#[tokio::test]
async fn refusals_from_the_head_leave_the_kept_alive_connection_usable() {
    use tokio::io::AsyncWriteExt;
    let (endpoint, url) = setup().await;
    let stream = tokio::net::TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .unwrap();
    let mut stream = tokio::io::BufReader::new(stream);
    let refused_body = vec![0xa5u8; 256 * 1024];
    let valid = pb::DispatchRequest {
        calls: vec![endpoint::call(&endpoint, "greet", 0, &"x".to_string())],
    }
    .encode_to_vec();
    let bearer = format!("Authorization: Bearer {KEY}\r\n");
    // Each refusal is answered from the head, while the client still has
    // most of its body to write: the server reads and drops that body, so
    // the client sees the refusal and the next request on the connection.
    let refusals = [
        ("", "application/proto", 401, "unauthenticated"),
        (
            "Authorization: Basic abc\r\n",
            "application/proto",
            401,
            "unauthenticated",
        ),
        (bearer.as_str(), "text/plain", 415, "unimplemented"),
    ];
    for round in 0..30 {
        let (auth, content_type, status, code) = refusals[round % refusals.len()];
        let host = url.trim_start_matches("http://");
        let head = format!(
            "POST /dispatch.sdk.v1.DispatchService/Dispatch HTTP/1.1\r\nHost: {host}\r\n\
             {auth}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            refused_body.len()
        );
        stream.get_mut().write_all(head.as_bytes()).await.unwrap();
        stream.get_mut().write_all(&refused_body).await.unwrap();
        let (got, headers, body) = read_answer(&mut stream).await;
        assert_eq!(
            got,
            status,
            "round {round}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(header(&headers, "connection"), None, "round {round}");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["code"], code);

        let head = dispatch_head_with(&url, &bearer, valid.len());
        stream.get_mut().write_all(head.as_bytes()).await.unwrap();
        stream.get_mut().write_all(&valid).await.unwrap();
        let (got, _, body) = read_answer(&mut stream).await;
        assert_eq!(
            got,
            200,
            "round {round}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(
            pb::DispatchResponse::decode(&body[..])
                .unwrap()
                .dispatch_ids
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn a_refusal_whose_body_cannot_be_drained_closes_the_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let scheduler =
        Scheduler::new(fast_config(1).api_key(Some(KEY.into())).body_limit(1000)).unwrap();
    let url = serve_scheduler(&scheduler).await;
    for (extra, length) in [
        // Over the limit: answered at once, never read.
        (format!("Authorization: Bearer {KEY}\r\n"), 1_000_000),
        // Unauthenticated and over the limit: not drained either.
        (String::new(), 5_000),
    ] {
        let stream = tokio::net::TcpStream::connect(url.trim_start_matches("http://"))
            .await
            .unwrap();
        let mut stream = tokio::io::BufReader::new(stream);
        let head = dispatch_head_with(&url, &extra, length);
        stream.get_mut().write_all(head.as_bytes()).await.unwrap();
        let (status, headers, _) = read_answer(&mut stream).await;
        assert!(status == 413 || status == 401, "{status}");
        assert_eq!(header(&headers, "connection"), Some("close"));
        // The server closes its side once the answer is flushed.
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(
            core::time::Duration::from_secs(10),
            stream.read_to_end(&mut rest),
        )
        .await;
        assert!(matches!(closed, Ok(Ok(0))), "{closed:?}");
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn gzip_requests_are_accepted_and_large_answers_compressed_when_asked() {
    let (endpoint, url) = setup().await;
    let calls: Vec<pb::Call> = (0..100)
        .map(|i| endpoint::call(&endpoint, "greet", 0, &format!("n{i}")))
        .collect();
    let body = pb::DispatchRequest { calls }.encode_to_vec();
    let response = reqwest::Client::new()
        .post(format!("{url}/dispatch.sdk.v1.DispatchService/Dispatch"))
        .bearer_auth(KEY)
        .header("content-type", "application/proto")
        .header("content-encoding", "gzip")
        .header("accept-encoding", "gzip")
        .body(gzip(&body))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert_eq!(response.headers()["accept-encoding"], "gzip");
    let answer = gunzip(&response.bytes().await.unwrap());
    let ids = pb::DispatchResponse::decode(&answer[..])
        .unwrap()
        .dispatch_ids;
    assert_eq!(ids.len(), 100);
    let (_, json) = wait_json(&url, &ids[99], Some(KEY)).await;
    assert_eq!(json["result"]["output"]["value"], "hello, n99");

    // Without Accept-Encoding the answer is plain.
    let response = reqwest::Client::new()
        .post(format!("{url}/dispatch.sdk.v1.DispatchService/Dispatch"))
        .bearer_auth(KEY)
        .header("content-type", "application/proto")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("content-encoding").is_none());
    let ids = pb::DispatchResponse::decode(response.bytes().await.unwrap())
        .unwrap()
        .dispatch_ids;
    assert_eq!(ids.len(), 100);
}

#[tokio::test]
async fn gzip_that_is_corrupt_or_inflates_past_the_limit_is_refused() {
    let scheduler =
        Scheduler::new(fast_config(1).api_key(Some(KEY.into())).body_limit(10_000)).unwrap();
    let url = serve_scheduler(&scheduler).await;
    let send = |body: Vec<u8>, encoding: &'static str| {
        let url = url.clone();
        async move {
            let response = reqwest::Client::new()
                .post(format!("{url}/dispatch.sdk.v1.DispatchService/Dispatch"))
                .bearer_auth(KEY)
                .header("content-type", "application/proto")
                .header("content-encoding", encoding)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let accept = response
                .headers()
                .get("accept-encoding")
                .map(|v| v.to_str().unwrap().to_owned());
            let json: serde_json::Value =
                serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            (status, json["code"].as_str().unwrap().to_owned(), accept)
        }
    };
    // 1 MB of zeros compresses to about 1 KB, under the 10 KB limit as sent.
    let bomb = gzip(&vec![0u8; 1_000_000]);
    assert!(bomb.len() < 10_000);
    assert_eq!(send(bomb, "gzip").await.0, 413);
    let (status, code, _) = send(b"not gzip".to_vec(), "gzip").await;
    assert_eq!((status, code.as_str()), (400, "invalid_argument"));
    let (status, _, accept) = send(b"x".to_vec(), "br").await;
    assert_eq!((status, accept.as_deref()), (501, Some("gzip, identity")));
}
