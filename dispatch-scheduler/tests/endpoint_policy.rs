//! The endpoint policy on real connections: names pinned with
//! `EndpointPolicy::with_host` go through the scheduler's own resolver (the
//! names do not exist in DNS), so a name whose address is refused is
//! refused on the address it resolves to, and an allowed one reaches the
//! endpoint; IP literals are judged before the send; URLs that break the
//! rule are refused at Dispatch time.

mod scheduler_support;

use core::net::IpAddr;

use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::status::Status;
use dispatch_scheduler::{DispatchError, EndpointPolicy, RunInfo, Scheduler};
use dispatch_std::endpoint::{self, Directive, FunctionError, Outcome, Registry, Run};
use scheduler_support::{fast_config, serve_endpoint};

fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register("double", |run: Run<i64>| async move {
        match run.directive {
            Directive::Input(n) => Ok(Outcome::value(&(2 * n))),
            Directive::Resume(_) => Err(FunctionError::permanent("double never polls")),
        }
    });
    registry.register("hop", |run: Run<String>| async move {
        match run.directive {
            Directive::Input(to) => Ok(Outcome::tail_call(endpoint::call(&to, "double", 0, &1i64))),
            Directive::Resume(_) => Err(FunctionError::permanent("hop never polls")),
        }
    });
    registry
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|ip| ip.parse().unwrap()).collect()
}

/// The port of the endpoint at `url` (`http://127.0.0.1:PORT`).
fn port(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

fn scheduler(policy: EndpointPolicy) -> Scheduler {
    Scheduler::new(fast_config(2).endpoint_policy(policy)).unwrap()
}

async fn run_to_end(scheduler: &Scheduler, call: pb::Call) -> RunInfo {
    let ids = scheduler.dispatch(vec![call]).await.unwrap();
    scheduler.wait(&ids[0], None).await.unwrap()
}

fn double(endpoint: &str) -> pb::Call {
    endpoint::call(endpoint, "double", 0, &21i64)
}

fn outcome(info: &RunInfo) -> (Status, String) {
    let outcome = info.outcome.as_ref().expect("the run is done");
    let message = outcome
        .result
        .error
        .as_ref()
        .map(|e| format!("{}: {}", e.r#type, e.message))
        .unwrap_or_default();
    (outcome.status, message)
}

#[tokio::test]
async fn a_name_is_judged_on_the_address_it_resolves_to() {
    let url = serve_endpoint(registry()).await;
    let port = port(&url);
    let policy = EndpointPolicy::default()
        .with_host("app.test", ips(&["127.0.0.1"]))
        .with_host("metadata.test", ips(&["169.254.169.254"]))
        .with_host("mapped.test", ips(&["::ffff:169.254.169.254"]))
        .with_host("mixed.test", ips(&["169.254.169.254", "127.0.0.1"]));
    let scheduler = scheduler(policy);

    // The pinned name reaches the endpoint: the scheduler's resolver is used.
    let info = run_to_end(&scheduler, double(&format!("http://app.test:{port}"))).await;
    assert_eq!(outcome(&info).0, Status::Ok, "{:?}", outcome(&info));

    for name in ["metadata.test", "mapped.test"] {
        let info = run_to_end(&scheduler, double(&format!("http://{name}:{port}"))).await;
        let (status, message) = outcome(&info);
        assert_eq!(status, Status::PermissionDenied, "{name}: {message}");
        assert_eq!(info.attempts, 1, "a refusal is permanent: {message}");
        assert!(
            message.contains("refused by the endpoint policy"),
            "{message}"
        );
        assert!(message.contains("169.254.169.254"), "{message}");
        assert!(message.contains("link-local"), "{message}");
        assert!(message.contains("--allow-endpoint"), "{message}");
    }

    // Of a mixed answer only the allowed address is connected to.
    let info = run_to_end(&scheduler, double(&format!("http://mixed.test:{port}"))).await;
    assert_eq!(outcome(&info).0, Status::Ok, "{:?}", outcome(&info));
}

#[tokio::test]
async fn an_ip_literal_is_judged_before_the_send() {
    let scheduler = scheduler(EndpointPolicy::default());
    for endpoint in [
        "http://169.254.169.254/",
        "http://[::ffff:169.254.169.254]:8080",
        "http://[fe80::1]:8080",
    ] {
        let info = run_to_end(&scheduler, double(endpoint)).await;
        let (status, message) = outcome(&info);
        assert_eq!(status, Status::PermissionDenied, "{endpoint}: {message}");
        assert!(message.contains("link-local"), "{message}");
    }
}

#[tokio::test]
async fn entries_restrict_which_hosts_and_addresses_are_called() {
    let url = serve_endpoint(registry()).await;
    let port = port(&url);
    // Host entries match the URL; range entries the address connected to.
    let policy = EndpointPolicy::parse(["app.test", "127.0.0.0/8"])
        .unwrap()
        .with_host("app.test", ips(&["127.0.0.1"]))
        .with_host("other.test", ips(&["127.0.0.2"]))
        .with_host("outside.test", ips(&["192.0.2.1"]));
    let scheduler = scheduler(policy);
    let info = run_to_end(&scheduler, double(&format!("http://app.test:{port}"))).await;
    assert_eq!(outcome(&info).0, Status::Ok, "{:?}", outcome(&info));
    let info = run_to_end(&scheduler, double(&url)).await;
    assert_eq!(outcome(&info).0, Status::Ok, "{:?}", outcome(&info));
    let info = run_to_end(&scheduler, double(&format!("http://outside.test:{port}"))).await;
    let (status, message) = outcome(&info);
    assert_eq!(status, Status::PermissionDenied, "{message}");
    assert!(
        message.contains("matches no --allow-endpoint entry"),
        "{message}"
    );

    let names_only = EndpointPolicy::parse(["app.test"])
        .unwrap()
        .with_host("app.test", ips(&["127.0.0.1"]));
    let scheduler = self::scheduler(names_only);
    let info = run_to_end(&scheduler, double(&url)).await;
    let (status, message) = outcome(&info);
    assert_eq!(status, Status::PermissionDenied, "{message}");
}

#[tokio::test]
async fn a_tail_call_to_a_refused_endpoint_ends_the_run() {
    let url = serve_endpoint(registry()).await;
    let port = port(&url);
    let policy = EndpointPolicy::default().with_host("metadata.test", ips(&["169.254.169.254"]));
    let scheduler = scheduler(policy);
    let call = endpoint::call(&url, "hop", 0, &format!("http://metadata.test:{port}"));
    let info = run_to_end(&scheduler, call).await;
    let (status, message) = outcome(&info);
    assert_eq!(status, Status::PermissionDenied, "{message}");
    assert_eq!(info.attempts, 2, "the hop, then the refused tail call");

    let call = endpoint::call(&url, "hop", 0, &"http://:80".to_owned());
    let info = run_to_end(&scheduler, call).await;
    let (status, message) = outcome(&info);
    assert_eq!(status, Status::InvalidArgument, "{message}");
    assert!(message.contains("has no host"), "{message}");
}

#[tokio::test]
async fn urls_that_break_the_rule_are_refused_at_dispatch_time() {
    let scheduler = scheduler(EndpointPolicy::default());
    for (endpoint, why) in [
        ("http://", "has no host"),
        ("http:///x", "has no host"),
        ("http://app:99999", "outside 1..=65535"),
        ("bridge://session", "is not http:// or https://"),
        ("http://user:secret@app", "user information"),
    ] {
        let good = double("http://127.0.0.1:1");
        let error = scheduler
            .dispatch(vec![good, double(endpoint)])
            .await
            .unwrap_err();
        let DispatchError::InvalidCalls(message) = error else {
            panic!("{endpoint}: {error:?}");
        };
        assert!(message.contains("calls[1]"), "{endpoint}: {message}");
        assert!(message.contains(why), "{endpoint}: {message}");
    }
}
