//! A tiny HTTP/1.1 server on 127.0.0.1 for the client tests: it records every
//! request and answers each with the next scripted reply.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as the server read it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Header names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The value of a header (case-insensitive name), if sent once.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        let mut values = self.headers.iter().filter(|(n, _)| *n == name);
        let first = values.next().map(|(_, v)| v.as_str());
        assert!(values.next().is_none(), "header {name} sent more than once");
        first
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A response with this status, content type (if any) and body.
    Respond {
        status: u16,
        content_type: Option<String>,
        body: Vec<u8>,
        /// More headers, as written.
        extra_headers: Vec<(String, String)>,
    },
    /// Read the request, then never answer (until the client gives up).
    Hang,
}

impl Reply {
    pub fn new(status: u16, content_type: Option<&str>, body: impl Into<Vec<u8>>) -> Self {
        Self::Respond {
            status,
            content_type: content_type.map(str::to_owned),
            body: body.into(),
            extra_headers: Vec::new(),
        }
    }

    /// The same reply with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let Self::Respond { extra_headers, .. } = &mut self {
            extra_headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// 200 `application/proto` with these ids.
    pub fn ids(ids: &[&str]) -> Self {
        use prost::Message as _;
        let response = dispatch_proto::sdk::v1::DispatchResponse {
            dispatch_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
        };
        Self::new(200, Some("application/proto"), response.encode_to_vec())
    }
}

/// The server; dropped with the test's runtime.
pub struct TestServer {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl TestServer {
    /// Starts serving `replies` in order; the last one repeats.
    pub async fn start(replies: Vec<Reply>) -> Self {
        assert!(!replies.is_empty());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = (Arc::clone(&requests), Arc::new(replies));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (requests, replies) = (Arc::clone(&state.0), Arc::clone(&state.1));
                tokio::spawn(serve_connection(stream, requests, replies));
            }
        });
        Self { url, requests }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    requests: Arc<Mutex<Vec<Recorded>>>,
    replies: Arc<Vec<Reply>>,
) {
    let mut buf = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        let reply = {
            let mut seen = requests.lock().unwrap();
            seen.push(request);
            let index = (seen.len() - 1).min(replies.len() - 1);
            replies[index].clone()
        };
        match reply {
            Reply::Hang => {
                // Keep the connection open without answering until the peer closes it.
                let mut sink = [0u8; 1024];
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                return;
            }
            Reply::Respond {
                status,
                content_type,
                body,
                extra_headers,
            } => {
                let mut head = format!(
                    "HTTP/1.1 {status} Scripted\r\ncontent-length: {}\r\n",
                    body.len()
                );
                if let Some(ct) = content_type {
                    head.push_str(&format!("content-type: {ct}\r\n"));
                }
                for (name, value) in extra_headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str("\r\n");
                let mut out = head.into_bytes();
                out.extend_from_slice(&body);
                if stream.write_all(&out).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads one request (head + Content-Length body); `None` at end of stream.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Recorded> {
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let mut start = lines.next().unwrap().split(' ');
    let method = start.next().unwrap().to_owned();
    let path = start.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    assert!(
        !headers.iter().any(|(n, _)| n == "transfer-encoding"),
        "the client should send a Content-Length body"
    );
    let body_start = head_end + 4;
    while buf.len() < body_start + length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[body_start..body_start + length].to_vec();
    buf.drain(..body_start + length);
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

/// Decodes lowercase or uppercase hex.
pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2));
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A vector file from the shared messages set.
pub fn vectors(file: &str) -> Vec<serde_json::Value> {
    let path = format!(
        "{}/../tests/vectors/messages/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let vectors = doc["vectors"].as_array().unwrap().clone();
    assert!(!vectors.is_empty(), "{path} holds no vectors");
    vectors
}
