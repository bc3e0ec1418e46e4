//! Shared helpers of the endpoint tests: a server on an ephemeral port of
//! 127.0.0.1 and a raw HTTP/1.1 client that controls every byte it sends.
#![allow(dead_code, unreachable_pub)]

use core::net::SocketAddr;
use core::time::Duration;

use dispatch_std::endpoint::{Directive, Endpoint, FunctionError, Outcome, Poll, Registry, Run};
use prost_types::Any;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// A failure guard: no test waits longer than this for anything.
pub const GUARD: Duration = Duration::from_secs(20);

/// A running endpoint; dropping it stops the server.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub done: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Serves `endpoint` on an ephemeral port of 127.0.0.1.
    pub async fn start(endpoint: Endpoint) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(endpoint.serve(listener, async {
            stopped.await.ok();
        }));
        Server {
            addr,
            stop: Some(stop),
            done: Some(done),
        }
    }

    /// Asks the server to stop and waits for it to finish.
    pub async fn shutdown(mut self) {
        self.stop.take().unwrap().send(()).ok();
        let done = self.done.take().unwrap();
        tokio::time::timeout(GUARD, done)
            .await
            .expect("the server did not stop")
            .unwrap()
            .unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
    }
}

/// The test functions: `echo` (input unchanged), `fail_throttled`,
/// `fail_io_timeout`, `hang` (never finishes), `panic`, and `suspend` (polls
/// calling `echo`, answers the echoed value on resume).
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register_any("echo", |run: Run<Any>| async move {
        match run.directive {
            Directive::Input(input) => Ok(Outcome::any(input)),
            Directive::Resume(_) => Ok(Outcome::none()),
        }
    });
    registry.register_any("fail_throttled", |_run: Run<Any>| async move {
        Err(FunctionError::throttled("slow down"))
    });
    registry.register_any("fail_io_timeout", |_run: Run<Any>| async move {
        let read: Result<(), std::io::Error> = Err(std::io::ErrorKind::TimedOut.into());
        read?;
        Ok(Outcome::none())
    });
    registry.register_any("hang", |_run: Run<Any>| async move {
        core::future::pending::<()>().await;
        Ok(Outcome::none())
    });
    registry.register_any("tail", |run: Run<Any>| async move {
        let Directive::Input(input) = run.directive else {
            return Ok(Outcome::none());
        };
        Ok(Outcome::tail_call(dispatch_core::proto::sdk::v1::Call {
            endpoint: "http://127.0.0.1".into(),
            function: "echo".into(),
            input: Some(input),
            ..Default::default()
        }))
    });
    registry.register_any("bad_poll", |_run: Run<Any>| async move {
        Ok(Outcome::poll(Poll::new(&1u64).max_wait(Duration::ZERO)))
    });
    registry.register_any("panic", |_run: Run<Any>| async move {
        panic!("a function bug");
    });
    registry.register("suspend", |run: Run<String>| async move {
        match run.directive {
            Directive::Input(text) => Ok(Outcome::poll(
                Poll::new(&text)
                    .call(dispatch_std::endpoint::call(
                        "http://127.0.0.1",
                        "echo",
                        7,
                        &text,
                    ))
                    .min_results(1)
                    .max_results(1)
                    .max_wait(Duration::from_secs(30)),
            )),
            Directive::Resume(resume) => {
                if let Some(error) = resume.error() {
                    return Err(FunctionError::temporary(error.message.clone()));
                }
                let original: String = resume.state()?;
                let output = resume
                    .result(7)
                    .and_then(|result| result.output.clone())
                    .ok_or_else(|| FunctionError::temporary("no result"))?;
                let echoed: String = dispatch_core::any::unpack(&output)?;
                Ok(Outcome::value(&format!("{original}->{echoed}")))
            }
        }
    });
    registry
}

/// A parsed response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as a Connect error: `(code, message)`; panics unless it is
    /// valid JSON with `application/json`.
    pub fn connect_error(&self) -> (String, String) {
        assert_eq!(self.header("content-type"), Some("application/json"));
        let json: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body))
        });
        let code = json["code"].as_str().expect("a code").to_owned();
        let message = json["message"].as_str().unwrap_or_default().to_owned();
        (code, message)
    }

    /// The body as a binary RunResponse.
    pub fn run_response(&self) -> dispatch_core::proto::sdk::v1::RunResponse {
        assert_eq!(
            self.status,
            200,
            "{:?}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), Some("application/proto"));
        prost::Message::decode(self.body.as_slice()).unwrap()
    }
}

/// Reads one HTTP/1.1 response (head and `Content-Length` body).
pub async fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head_len) = response.parse(&buffer).unwrap() {
            let status = response.code.unwrap();
            let headers: Vec<(String, String)> = response
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_owned(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            let length: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse().unwrap())
                .unwrap_or(0);
            while buffer.len() < head_len + length {
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the connection closed mid-body");
                buffer.extend_from_slice(&chunk[..n]);
            }
            let body = buffer[head_len..head_len + length].to_vec();
            return Reply {
                status,
                headers,
                body,
            };
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the connection closed before a response");
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// The head of a request: request line, `Host`, the given headers.
pub fn head(method: &str, path: &str, addr: SocketAddr, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Sends one complete request and reads the reply.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let length = body.len().to_string();
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    all.push(("content-length", &length));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(&head(method, path, addr, &all))
        .await
        .unwrap();
    stream.write_all(body).await.unwrap();
    tokio::time::timeout(GUARD, read_reply(&mut stream))
        .await
        .expect("no reply")
}

/// POSTs a binary RunRequest to the Run path.
pub async fn run(addr: SocketAddr, request: &dispatch_core::proto::sdk::v1::RunRequest) -> Reply {
    send(
        addr,
        "POST",
        dispatch_std::endpoint::RUN_PATH,
        &[("content-type", "application/proto")],
        &prost::Message::encode_to_vec(request),
    )
    .await
}

/// A first-run request of `function` with `input`.
pub fn input_request(function: &str, input: Any) -> dispatch_core::proto::sdk::v1::RunRequest {
    dispatch_core::proto::sdk::v1::RunRequest {
        function: function.to_owned(),
        dispatch_id: "d-1".to_owned(),
        directive: Some(dispatch_core::proto::sdk::v1::run_request::Directive::Input(input)),
        ..Default::default()
    }
}

/// A string packed with its standard type URL.
pub fn string_any(text: &str) -> Any {
    dispatch_core::any::pack(&text.to_owned())
}
