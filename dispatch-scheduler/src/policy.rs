//! Which endpoints the scheduler calls: the rule every endpoint URL must
//! meet, and the operator's policy of which hosts may be called.
//!
//! **The URL rule** ([`check_endpoint_url`]), applied to every call at
//! Dispatch time (refused with `INVALID_ARGUMENT`) and before every Run
//! request: an absolute RFC 3986 URI (the protocol's `uri` rule, as
//! protovalidate checks it), with the scheme `http` or `https`, a non-empty
//! host, a port (when given) from 1 to 65535, and no user information.
//!
//! **The policy** ([`EndpointPolicy`]) is a list of entries, each one of:
//!
//! | entry | allows |
//! |---|---|
//! | `app.internal` | the host name in the URL, any port |
//! | `app.internal:8000` | that host name and port |
//! | `*.svc.local`, `*.svc.local:8000` | every name under `svc.local` (not `svc.local` itself) |
//! | `10.1.2.3`, `::1` | the address connected to, whatever name led to it |
//! | `10.0.0.0/8`, `fd00::/8` | every address connected to in the range |
//! | `10.1.2.3:8000`, `[::1]:8000` | a URL whose host is that IP literal, and that port |
//!
//! No entry (the default): every host may be called, loopback included (a
//! self-hosted scheduler usually calls applications on its own machine),
//! except the refused addresses below. With entries, an endpoint is called
//! only when its URL's host matches a host entry or the address connected
//! to is in an address entry.
//!
//! **Refused addresses**: link-local (`169.254.0.0/16`, `fe80::/10`), cloud
//! metadata and platform addresses (`fd00:ec2::254`, `100.100.100.200`,
//! `168.63.129.16`), unspecified, multicast and broadcast addresses are
//! never connected to unless an address entry *inside* one of those ranges
//! names them (`--allow-endpoint 169.254.169.254`; a wide range such as
//! `0.0.0.0/0` does not count, nor does a host name). IPv4-mapped IPv6
//! (`::ffff:169.254.169.254`) and NAT64 (`64:ff9b::/96`) addresses are
//! judged as the IPv4 address they carry.
//!
//! Every decision is made on the address actually connected to: the
//! scheduler's HTTP client resolves names through [`PolicyResolver`], which
//! drops refused addresses before the connector sees them, so a DNS answer
//! cannot smuggle one in; an IP literal is judged before the request is
//! sent. The client uses no proxy (the address judged is the endpoint's) and
//! follows no redirect.
//!
//! ```
//! use dispatch_scheduler::policy::{EndpointPolicy, check_endpoint_url};
//!
//! assert!(check_endpoint_url("http:///x").is_err());
//! let policy = EndpointPolicy::parse(["localhost:8000", "10.0.0.0/8"])?;
//! let url = check_endpoint_url("http://localhost:8000")?;
//! assert!(policy.allows_name(&url));
//! let metadata = "169.254.169.254".parse()?;
//! assert!(policy.check_address(true, "localhost", metadata).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::collections::HashMap;
use std::sync::Arc;

use reqwest::Url;

/// Why an endpoint URL breaks the rule, or an entry of the policy does not
/// parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointError(String);

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for EndpointError {}

/// Why the policy refuses an endpoint: a permanent failure of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRefusal(String);

impl fmt::Display for PolicyRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused by the endpoint policy: {}", self.0)
    }
}

impl core::error::Error for PolicyRefusal {}

/// Checks `endpoint` against the URL rule (see the [module](self)) and
/// returns it parsed.
///
/// ```
/// use dispatch_scheduler::policy::check_endpoint_url;
/// assert!(check_endpoint_url("https://app.example.com/base").is_ok());
/// for bad in ["http://", "http:///x", "http://a:99999", "ftp://a", "http://u@a"] {
///     assert!(check_endpoint_url(bad).is_err(), "{bad}");
/// }
/// ```
pub fn check_endpoint_url(endpoint: &str) -> Result<Url, EndpointError> {
    let bad = |why: &str| EndpointError(format!("endpoint {endpoint:?} {why}"));
    if !dispatch_core::validate::is_absolute_uri(endpoint) {
        return Err(bad("is not an absolute URI"));
    }
    let Some((scheme, rest)) = endpoint.split_once(':') else {
        return Err(bad("is not an absolute URI"));
    };
    if scheme != "http" && scheme != "https" {
        return Err(bad(
            "is not http:// or https:// (the only schemes this scheduler calls)",
        ));
    }
    let Some(after) = rest.strip_prefix("//") else {
        return Err(bad("has no host (write scheme://host[:port][/path])"));
    };
    let authority = after.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(bad(
            "carries user information; put no credentials in endpoint URLs",
        ));
    }
    let (host, port) = split_host_port(authority);
    if host.is_empty() {
        return Err(bad("has no host (write scheme://host[:port][/path])"));
    }
    if let Some(port) = port
        && !port.is_empty()
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Err(bad("has a port outside 1..=65535"));
    }
    let url = Url::parse(endpoint).map_err(|e| bad(&format!("is not a URL: {e}")))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host (write scheme://host[:port][/path])"));
    }
    Ok(url)
}

/// `host[:port]` of an authority (a bracketed IPv6 literal kept whole).
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => {
                let (host, after) = authority.split_at(end + 1);
                (host, after.strip_prefix(':'))
            }
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

/// A range of addresses: `addr/prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRange {
    addr: IpAddr,
    prefix: u8,
}

impl IpRange {
    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Self {
        IpRange {
            addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    const fn v6(addr: Ipv6Addr, prefix: u8) -> Self {
        IpRange {
            addr: IpAddr::V6(addr),
            prefix,
        }
    }

    /// Whether `addr` is in the range (an IPv4 range holds no IPv6 address).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => prefix_eq(&net.octets(), &a.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(a)) => prefix_eq(&net.octets(), &a.octets(), self.prefix),
            _ => false,
        }
    }

    /// Whether every address of `self` is in `other`.
    fn within(&self, other: &IpRange) -> bool {
        self.prefix >= other.prefix && other.contains(self.addr)
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Whether the first `prefix` bits of `a` and `b` are equal.
fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let bits = usize::from(prefix);
    let whole = bits / 8;
    let rest = bits % 8;
    if a.get(..whole) != b.get(..whole) {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    match (a.get(whole), b.get(whole)) {
        (Some(x), Some(y)) => x & mask == y & mask,
        _ => false,
    }
}

/// The addresses refused unless allowed explicitly, and what they are.
const REFUSED: [(IpRange, &str); 11] = [
    (
        IpRange::v4(169, 254, 0, 0, 16),
        "link-local (cloud metadata lives here)",
    ),
    (
        IpRange::v6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
        "link-local",
    ),
    (
        IpRange::v6(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254), 128),
        "the AWS metadata service",
    ),
    (
        IpRange::v4(100, 100, 100, 200, 32),
        "the Alibaba Cloud metadata service",
    ),
    (
        IpRange::v4(168, 63, 129, 16, 32),
        "the Azure platform service",
    ),
    (IpRange::v4(0, 0, 0, 0, 8), "unspecified (\"this host\")"),
    (IpRange::v6(Ipv6Addr::UNSPECIFIED, 128), "unspecified"),
    (IpRange::v4(224, 0, 0, 0, 4), "multicast"),
    (IpRange::v4(240, 0, 0, 0, 4), "reserved or broadcast"),
    (
        IpRange::v6(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
        "multicast",
    ),
    (
        IpRange::v6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
        "documentation",
    ),
];

/// The IPv4 address an IPv6 address carries when it is IPv4-mapped
/// (`::ffff:a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`); otherwise itself.
pub fn effective_address(addr: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = addr else {
        return addr;
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let nat64 = IpRange::v6(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);
    if nat64.contains(addr) {
        let o = v6.octets();
        return IpAddr::V4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    addr
}

/// One entry of the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    /// A URL host as written (a name, lowercase without a trailing dot, or
    /// an IP literal's canonical text), `*.` for every name under it.
    Host {
        host: String,
        wildcard: bool,
        port: Option<u16>,
    },
    /// Addresses connected to.
    Range(IpRange),
}

/// Which endpoints may be called; see the [module](self). The default has no
/// entry: every address but the refused ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointPolicy {
    entries: Vec<Entry>,
    /// Fixed addresses of names, consulted before DNS and judged as its
    /// answers are.
    hosts: HashMap<String, Vec<IpAddr>>,
}

impl EndpointPolicy {
    /// The policy of `entries` (the `--allow-endpoint` syntax); an entry
    /// that does not parse is an error naming it.
    pub fn parse<I, S>(entries: I) -> Result<Self, EndpointError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut policy = EndpointPolicy::default();
        for entry in entries {
            policy.entries.push(parse_entry(entry.as_ref())?);
        }
        Ok(policy)
    }

    /// Whether the policy has no entry (every address but the refused ones).
    pub fn is_open(&self) -> bool {
        self.entries.is_empty()
    }

    /// Resolves `name` to `addresses` instead of asking DNS; the addresses
    /// are judged as DNS answers are (for tests, and names pinned by hand).
    pub fn with_host(mut self, name: &str, addresses: Vec<IpAddr>) -> Self {
        self.hosts.insert(normal_name(name), addresses);
        self
    }

    /// Whether the URL's host (and port) is allowed by a host entry, or the
    /// policy is open: then only the refused addresses are kept from it.
    /// Otherwise the address connected to must be in an address entry.
    pub fn allows_name(&self, url: &Url) -> bool {
        if self.entries.is_empty() {
            return true;
        }
        let Some(host) = url_host(url) else {
            return false;
        };
        let port = url.port_or_known_default();
        self.entries.iter().any(|entry| match entry {
            Entry::Host {
                host: allowed,
                wildcard,
                port: allowed_port,
            } => {
                let name_matches = if *wildcard {
                    // `allowed` is `.svc.local`: something must come before it.
                    host.strip_suffix(allowed.as_str())
                        .is_some_and(|labels| !labels.is_empty())
                } else {
                    host == *allowed
                };
                name_matches && allowed_port.is_none_or(|p| Some(p) == port)
            }
            Entry::Range(_) => false,
        })
    }

    /// Whether the scheduler may connect to `addr` for host `name`:
    /// `name_allowed` is [`EndpointPolicy::allows_name`] of the URL.
    pub fn check_address(
        &self,
        name_allowed: bool,
        name: &str,
        addr: IpAddr,
    ) -> Result<(), PolicyRefusal> {
        let effective = effective_address(addr);
        let shown = if effective == addr {
            addr.to_string()
        } else {
            format!("{addr} (that is {effective})")
        };
        let ranges = || {
            self.entries.iter().filter_map(|entry| match entry {
                Entry::Range(range) => Some(range),
                Entry::Host { .. } => None,
            })
        };
        if let Some((refused, what)) = REFUSED.iter().find(|(range, _)| range.contains(effective)) {
            let explicit = ranges().any(|range| range.within(refused) && range.contains(effective));
            if explicit {
                return Ok(());
            }
            return Err(PolicyRefusal(format!(
                "{name} is at {shown}, which is {what} ({refused}); such addresses are called \
                 only when an --allow-endpoint entry names them (for example \
                 --allow-endpoint {effective})"
            )));
        }
        if name_allowed || ranges().any(|range| range.contains(effective)) {
            return Ok(());
        }
        Err(PolicyRefusal(format!(
            "{name} (at {shown}) matches no --allow-endpoint entry"
        )))
    }

    /// Judges a URL before its request is sent: an IP literal is judged as
    /// the address connected to; a name that no entry can allow is refused.
    /// `Ok(name_allowed)` otherwise, for the choice of the client.
    pub fn check_url(&self, url: &Url) -> Result<bool, PolicyRefusal> {
        let name_allowed = self.allows_name(url);
        let Some(host) = url_host(url) else {
            return Err(PolicyRefusal(format!("{url} has no host")));
        };
        if let Ok(addr) = host.parse::<IpAddr>() {
            self.check_address(name_allowed, &host, addr)?;
        } else if !name_allowed && !self.entries.iter().any(|e| matches!(e, Entry::Range(_))) {
            let port = url.port_or_known_default().unwrap_or(0);
            return Err(PolicyRefusal(format!(
                "{host}:{port} matches no --allow-endpoint entry"
            )));
        }
        Ok(name_allowed)
    }

    /// The addresses of `name` that may be connected to, from `addresses`
    /// (its DNS answer); none allowed is the refusal of the first.
    pub fn filter(
        &self,
        name_allowed: bool,
        name: &str,
        addresses: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, PolicyRefusal> {
        let mut first_refusal = None;
        let mut kept = Vec::new();
        for address in addresses {
            match self.check_address(name_allowed, name, address.ip()) {
                Ok(()) => kept.push(address),
                Err(refusal) => {
                    first_refusal.get_or_insert(refusal);
                }
            }
        }
        match (kept.is_empty(), first_refusal) {
            (true, Some(refusal)) => Err(refusal),
            _ => Ok(kept),
        }
    }
}

/// The URL's host as entries are matched against it.
fn url_host(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some(match bare.parse::<IpAddr>() {
        Ok(addr) => addr.to_string(),
        Err(_) => normal_name(bare),
    })
}

fn normal_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Parses one `--allow-endpoint` entry.
fn parse_entry(text: &str) -> Result<Entry, EndpointError> {
    let bad = |why: &str| EndpointError(format!("--allow-endpoint {text:?}: {why}"));
    let text_trimmed = text.trim();
    if text_trimmed.is_empty() {
        return Err(bad("is empty"));
    }
    if let Some((_, host)) = text_trimmed.split_once("://") {
        return Err(bad(&format!(
            "is neither a host name nor an address: an entry is a host, not a URL \
             (write {})",
            host.split('/').next().unwrap_or(host)
        )));
    }
    if let Some((addr, prefix)) = text_trimmed.split_once('/') {
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| bad("a range is ADDRESS/PREFIX, as 10.0.0.0/8 or fd00::/8"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| bad(&format!("the prefix must be 0 to {max}")))?;
        let range = IpRange { addr, prefix };
        let zeroed = IpRange {
            addr: mask(addr, prefix),
            prefix,
        };
        if zeroed != range {
            return Err(bad(&format!(
                "the address has bits set past the prefix: did you mean {zeroed}?"
            )));
        }
        return Ok(Entry::Range(canonical_range(range)));
    }
    if let Ok(addr) = text_trimmed.parse::<IpAddr>() {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        return Ok(Entry::Range(canonical_range(IpRange { addr, prefix })));
    }
    let (host, port) = split_host_port(text_trimmed);
    let port = match port {
        Some(port) => Some(
            port.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("the port must be 1 to 65535"))?,
        ),
        None => None,
    };
    if let Some(literal) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let addr: Ipv6Addr = literal
            .parse()
            .map_err(|_| bad("the bracketed host is not an IPv6 address"))?;
        return Ok(match port {
            Some(port) => Entry::Host {
                host: addr.to_string(),
                wildcard: false,
                port: Some(port),
            },
            None => Entry::Range(canonical_range(IpRange::v6(addr, 128))),
        });
    }
    if let Ok(addr) = host.parse::<Ipv4Addr>() {
        return Ok(Entry::Host {
            host: addr.to_string(),
            wildcard: false,
            port,
        });
    }
    let (wildcard, name) = match host.strip_prefix("*.") {
        Some(name) => (true, name),
        None => (false, host),
    };
    let name = normal_name(name);
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(bad(
            "is neither a host name (app.internal, *.svc.local, with :PORT or not), \
             an address (10.1.2.3, ::1) nor a range (10.0.0.0/8)",
        ));
    }
    let host = if wildcard { format!(".{name}") } else { name };
    Ok(Entry::Host {
        host,
        wildcard,
        port,
    })
}

/// `addr` with every bit past `prefix` cleared.
fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    fn clear<const N: usize>(mut octets: [u8; N], prefix: u8) -> [u8; N] {
        for (index, octet) in octets.iter_mut().enumerate() {
            let start = index * 8;
            let keep = usize::from(prefix).saturating_sub(start).min(8);
            *octet &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
        }
        octets
    }
    match addr {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(clear(v4.octets(), prefix))),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(clear(v6.octets(), prefix))),
    }
}

/// An IPv4-mapped range (`::ffff:10.0.0.0/104`) as the IPv4 range it is:
/// addresses are judged by [`effective_address`].
fn canonical_range(range: IpRange) -> IpRange {
    if let IpAddr::V6(v6) = range.addr
        && range.prefix >= 96
        && let Some(v4) = v6.to_ipv4_mapped()
    {
        return IpRange {
            addr: IpAddr::V4(v4),
            prefix: range.prefix - 96,
        };
    }
    range
}

/// The HTTP client's resolver: resolves a name (the policy's fixed hosts,
/// else the system's resolver) and keeps only the addresses the policy
/// allows; a name left with none fails with the [`PolicyRefusal`].
#[derive(Clone, Debug)]
pub struct PolicyResolver {
    policy: Arc<EndpointPolicy>,
    name_allowed: bool,
}

impl PolicyResolver {
    /// The resolver of a client used for URLs whose host is allowed by name
    /// (`name_allowed`), or for the others.
    pub fn new(policy: Arc<EndpointPolicy>, name_allowed: bool) -> Self {
        PolicyResolver {
            policy,
            name_allowed,
        }
    }
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        let name_allowed = self.name_allowed;
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = match policy.hosts.get(&normal_name(&name)) {
                Some(fixed) => fixed.iter().map(|ip| SocketAddr::new(*ip, 0)).collect(),
                None => tokio::net::lookup_host((name.as_str(), 0)).await?.collect(),
            };
            let kept = policy.filter(name_allowed, &name, found)?;
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// The two HTTP clients of the scheduler: one for URLs whose host the
/// policy allows by name, one for the others (its resolver also requires an
/// address entry). Both share the policy; a URL always goes to the same one,
/// so connections are reused as with one client.
#[derive(Clone, Debug)]
pub(crate) struct EndpointClients {
    policy: Arc<EndpointPolicy>,
    by_name: reqwest::Client,
    by_address: reqwest::Client,
}

impl EndpointClients {
    pub(crate) fn new(product: &str, policy: EndpointPolicy) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let client = |name_allowed| {
            dispatch_std::client::http_client_builder(product)
                .no_proxy()
                .dns_resolver(PolicyResolver::new(Arc::clone(&policy), name_allowed))
                .build()
        };
        Ok(EndpointClients {
            by_name: client(true)?,
            by_address: client(false)?,
            policy: Arc::clone(&policy),
        })
    }

    /// The client for `url`, or the policy's refusal of it.
    pub(crate) fn client_for(&self, url: &Url) -> Result<&reqwest::Client, PolicyRefusal> {
        Ok(if self.policy.check_url(url)? {
            &self.by_name
        } else {
            &self.by_address
        })
    }
}

/// The policy's refusal in an error's chain of sources, if it is there.
pub(crate) fn refusal_in<'a>(
    error: &'a (dyn core::error::Error + 'static),
) -> Option<&'a PolicyRefusal> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(refusal) = error.downcast_ref::<PolicyRefusal>() {
            return Some(refusal);
        }
        current = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn url(text: &str) -> Url {
        check_endpoint_url(text).unwrap()
    }

    #[test]
    fn the_url_rule() {
        for good in [
            "http://localhost:8000",
            "https://app.example.com/base/path",
            "http://127.0.0.1:1",
            "http://[::1]:65535/x",
            "http://host:/",
        ] {
            assert!(check_endpoint_url(good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("http://", "has no host"),
            ("http:///x", "has no host"),
            ("https://:8000", "has no host"),
            ("http://a:99999", "outside 1..=65535"),
            ("http://a:0", "outside 1..=65535"),
            ("ftp://a", "is not http:// or https://"),
            ("bridge://session", "is not http:// or https://"),
            ("HTTP://a", "is not http:// or https://"),
            ("http:a", "has no host"),
            ("http://a b", "is not an absolute URI"),
            ("http://user:pw@a", "user information"),
            ("http://256.1.1.1", "is not a URL"),
            ("", "is not an absolute URI"),
        ] {
            let error = check_endpoint_url(bad).unwrap_err().to_string();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn entries_parse_or_name_the_mistake() {
        let policy = EndpointPolicy::parse([
            "App.Internal.",
            "app.internal:8000",
            "*.svc.local",
            "10.0.0.0/8",
            "::1",
            "[::1]:9000",
            "10.1.2.3:8000",
            "::ffff:192.168.0.0/112",
        ])
        .unwrap();
        assert_eq!(policy.entries.len(), 8);
        assert_eq!(
            policy.entries[7],
            Entry::Range(IpRange::v4(192, 168, 0, 0, 16))
        );
        for (bad, why) in [
            ("", "is empty"),
            ("10.0.0.1/8", "did you mean 10.0.0.0/8?"),
            ("10.0.0.0/33", "the prefix must be 0 to 32"),
            ("fd00::/129", "0 to 128"),
            ("app:0", "the port must be"),
            ("app:99999", "the port must be"),
            ("a..b", "is neither"),
            ("http://app", "is neither"),
            ("[zz]:80", "not an IPv6 address"),
            ("nonsense/8", "ADDRESS/PREFIX"),
        ] {
            let error = EndpointPolicy::parse([bad]).unwrap_err().to_string();
            assert!(error.contains(why), "{bad}: {error}");
            assert!(error.contains("--allow-endpoint"), "{error}");
        }
    }

    #[test]
    fn an_open_policy_allows_everything_but_the_refused_addresses() {
        let policy = EndpointPolicy::default();
        assert!(policy.is_open());
        for good in [
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "192.168.1.1",
            "8.8.8.8",
            "2001:4860::1",
        ] {
            assert_eq!(policy.check_address(true, "h", ip(good)), Ok(()), "{good}");
        }
        for bad in [
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "febf::1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "fd00:ec2::254",
            "100.100.100.200",
            "168.63.129.16",
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "255.255.255.255",
            "ff02::1",
        ] {
            let refusal = policy.check_address(true, "h", ip(bad)).unwrap_err();
            assert!(
                refusal.to_string().contains("--allow-endpoint"),
                "{refusal}"
            );
        }
        let refusal = policy
            .check_address(true, "meta", ip("::ffff:169.254.169.254"))
            .unwrap_err()
            .to_string();
        assert!(refusal.contains("(that is 169.254.169.254)"), "{refusal}");
        assert!(refusal.contains("link-local"), "{refusal}");
        assert!(policy.check_url(&url("http://169.254.169.254/")).is_err());
        assert!(
            policy
                .check_url(&url("http://[::ffff:a9fe:a9fe]/"))
                .is_err()
        );
        assert_eq!(policy.check_url(&url("http://localhost:1")), Ok(true));
    }

    #[test]
    fn refused_addresses_need_an_entry_inside_their_range() {
        let wide =
            EndpointPolicy::parse(["0.0.0.0/0", "::/0", "metadata.google.internal"]).unwrap();
        assert!(wide.check_address(true, "h", ip("8.8.8.8")).is_ok());
        assert!(wide.check_address(false, "h", ip("8.8.8.8")).is_ok());
        assert!(
            wide.check_address(true, "metadata.google.internal", ip("169.254.169.254"))
                .is_err()
        );
        assert!(wide.check_address(false, "h", ip("fe80::1")).is_err());
        let explicit = EndpointPolicy::parse(["169.254.169.254", "fe80::/64"]).unwrap();
        assert!(
            explicit
                .check_address(false, "h", ip("169.254.169.254"))
                .is_ok()
        );
        assert!(
            explicit
                .check_address(false, "h", ip("::ffff:169.254.169.254"))
                .is_ok()
        );
        assert!(
            explicit
                .check_address(false, "h", ip("169.254.169.253"))
                .is_err()
        );
        assert!(explicit.check_address(false, "h", ip("fe80::9")).is_ok());
        assert!(
            explicit
                .check_address(false, "h", ip("fe80:0:0:1::9"))
                .is_err()
        );
        assert!(explicit.check_url(&url("http://169.254.169.254")).is_ok());
    }

    #[test]
    fn host_entries_match_the_url_and_address_entries_the_connection() {
        let policy = EndpointPolicy::parse([
            "app.internal",
            "api.internal:8443",
            "*.svc.local",
            "10.0.0.0/8",
            "127.0.0.1:9000",
        ])
        .unwrap();
        assert!(policy.allows_name(&url("http://APP.internal.:1234/")));
        assert!(policy.allows_name(&url("https://api.internal:8443")));
        assert!(!policy.allows_name(&url("https://api.internal")));
        assert!(policy.allows_name(&url("http://a.svc.local")));
        assert!(policy.allows_name(&url("http://a.b.svc.local:80")));
        assert!(!policy.allows_name(&url("http://svc.local")));
        assert!(!policy.allows_name(&url("http://xsvc.local")));
        assert!(policy.allows_name(&url("http://127.0.0.1:9000")));
        assert!(!policy.allows_name(&url("http://127.0.0.1:9001")));

        // A listed name may be at any address but a refused one.
        assert!(
            policy
                .check_address(true, "app.internal", ip("192.168.1.1"))
                .is_ok()
        );
        // Any other name must land in an address entry.
        assert!(policy.check_address(false, "other", ip("10.9.9.9")).is_ok());
        let refusal = policy
            .check_address(false, "other", ip("192.168.1.1"))
            .unwrap_err();
        assert!(
            refusal
                .to_string()
                .contains("matches no --allow-endpoint entry")
        );
        // Loopback is not special, but not listed either.
        assert!(policy.check_url(&url("http://127.0.0.1:9001")).is_err());
        assert_eq!(policy.check_url(&url("http://127.0.0.1:9000")), Ok(true));
        assert_eq!(policy.check_url(&url("http://10.1.1.1")), Ok(false));
        // A name that only an address entry can allow waits for its address.
        assert_eq!(policy.check_url(&url("http://other.example")), Ok(false));

        let names_only = EndpointPolicy::parse(["app.internal"]).unwrap();
        let refusal = names_only
            .check_url(&url("http://other.example"))
            .unwrap_err();
        assert!(
            refusal.to_string().contains("other.example:80"),
            "{refusal}"
        );
    }

    #[test]
    fn filtering_keeps_the_allowed_answers_or_refuses() {
        let policy = EndpointPolicy::default();
        let answer = |ips: &[&str]| -> Vec<SocketAddr> {
            ips.iter().map(|i| SocketAddr::new(ip(i), 0)).collect()
        };
        let kept = policy
            .filter(true, "mixed", answer(&["169.254.169.254", "10.0.0.1"]))
            .unwrap();
        assert_eq!(kept, answer(&["10.0.0.1"]));
        let refusal = policy
            .filter(
                true,
                "evil.example",
                answer(&["169.254.169.254", "fe80::1"]),
            )
            .unwrap_err();
        assert!(
            refusal
                .to_string()
                .contains("evil.example is at 169.254.169.254")
        );
        assert_eq!(policy.filter(true, "empty", answer(&[])), Ok(vec![]));
    }

    #[test]
    fn ranges_and_masks() {
        assert!(IpRange::v4(10, 0, 0, 0, 8).contains(ip("10.255.0.1")));
        assert!(!IpRange::v4(10, 0, 0, 0, 8).contains(ip("11.0.0.1")));
        assert!(!IpRange::v4(10, 0, 0, 0, 8).contains(ip("::ffff:10.0.0.1")));
        assert!(IpRange::v4(0, 0, 0, 0, 0).contains(ip("1.2.3.4")));
        assert!(IpRange::v4(169, 254, 169, 254, 32).within(&REFUSED[0].0));
        assert!(!IpRange::v4(0, 0, 0, 0, 0).within(&REFUSED[0].0));
        assert_eq!(mask(ip("10.1.2.3"), 12), ip("10.0.0.0"));
        assert_eq!(mask(ip("fe80::1:2"), 10), ip("fe80::"));
        assert_eq!(effective_address(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
        assert_eq!(effective_address(ip("::1")), ip("::1"));
    }
}
