//! Backpressure: which Run requests may go out now.
//!
//! Each endpoint origin has a window, the most requests it may have in
//! flight: it starts at the configured limit, is halved (never below 1) when
//! the endpoint throttles (`STATUS_THROTTLED`, HTTP 429 or 503), and grows
//! back by one each time a window's worth of answers came back unthrottled
//! (additive increase, multiplicative decrease). A throttled answer that
//! asked for a delay (`Retry-After`, `RetryInfo`) also pauses the
//! endpoint's sends until then. A global limit caps the requests in flight
//! to all endpoints; endpoints waiting for a slot take turns.
//!
//! An endpoint with nothing in flight, nothing waiting and no pause is
//! forgotten (its window with it), so that the state kept grows with the
//! endpoints in use, not with every endpoint ever called.
//!
//! Sans-IO like the machine: `now` is passed in; pauses end through
//! [`Throttle::poll_timeout`] and [`Throttle::handle_timeout`].

use core::time::Duration;
use std::collections::{BTreeSet, HashMap, VecDeque};

/// What an answer says about the endpoint's load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// It answered and was not throttling: the window may grow.
    Answered,
    /// It is throttling: the window shrinks, and sends pause for the delay
    /// it asked for, if any.
    Throttled(Option<Duration>),
    /// No answer that tells about its load (a transport failure, a timeout,
    /// a request never sent).
    Neutral,
}

/// A request's place in flight, handed back on [`Throttle::release`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    origin: String,
    /// Order of taking: a throttled answer to a request taken before the
    /// last shrink does not shrink the window again.
    seq: u64,
}

#[derive(Debug)]
struct Endpoint {
    /// The most requests in flight now, `1..=limit`.
    window: usize,
    in_flight: usize,
    /// (run, attempt) of the requests waiting for a slot, in order.
    queue: VecDeque<(String, u32)>,
    /// No send before this time (ms since the epoch).
    paused_until: u64,
    /// Unthrottled answers since the window last changed.
    successes: usize,
    /// The first `seq` taken after the last shrink.
    shrunk_at: u64,
    /// Whether it is in `turns`.
    in_turns: bool,
}

/// The windows, the queues and the global count; see the [module](self).
#[derive(Debug)]
pub(crate) struct Throttle {
    per_endpoint: usize,
    global: usize,
    max_pause_ms: u64,
    endpoints: HashMap<String, Endpoint>,
    in_flight: usize,
    /// Endpoints that may send (something waiting, a free slot, no pause),
    /// in the order they get their turn.
    turns: VecDeque<String>,
    /// (end, origin) of every pause.
    pauses: BTreeSet<(u64, String)>,
    seq: u64,
}

impl Throttle {
    /// At most `per_endpoint` requests in flight to one origin, `global` in
    /// all (each at least 1); a pause lasts at most `max_pause`.
    pub(crate) fn new(per_endpoint: usize, global: usize, max_pause: Duration) -> Self {
        Throttle {
            per_endpoint: per_endpoint.max(1),
            global: global.max(1),
            max_pause_ms: u64::try_from(max_pause.as_millis()).unwrap_or(u64::MAX),
            endpoints: HashMap::new(),
            in_flight: 0,
            turns: VecDeque::new(),
            pauses: BTreeSet::new(),
            seq: 0,
        }
    }

    /// Queues attempt `attempt` of run `run` for `origin`.
    pub(crate) fn enqueue(&mut self, now: u64, origin: &str, run: String, attempt: u32) {
        let window = self.per_endpoint;
        let endpoint = self
            .endpoints
            .entry(origin.to_owned())
            .or_insert_with(|| Endpoint {
                window,
                in_flight: 0,
                queue: VecDeque::new(),
                paused_until: 0,
                successes: 0,
                shrunk_at: 0,
                in_turns: false,
            });
        endpoint.queue.push_back((run, attempt));
        self.refresh(now, origin);
    }

    /// The next request that may go out now, with the slot it takes.
    pub(crate) fn next(&mut self, now: u64) -> Option<(Slot, String, u32)> {
        while self.in_flight < self.global {
            let origin = self.turns.pop_front()?;
            let Some(endpoint) = self.endpoints.get_mut(&origin) else {
                continue;
            };
            endpoint.in_turns = false;
            // Not eligible any more: it is put back when that changes.
            if endpoint.paused_until > now || endpoint.in_flight >= endpoint.window {
                continue;
            }
            let Some((run, attempt)) = endpoint.queue.pop_front() else {
                continue;
            };
            endpoint.in_flight += 1;
            self.in_flight += 1;
            let seq = self.seq;
            self.seq = self.seq.wrapping_add(1);
            self.refresh(now, &origin);
            return Some((Slot { origin, seq }, run, attempt));
        }
        None
    }

    /// Gives back the slot of a request that came to `signal`.
    pub(crate) fn release(&mut self, now: u64, slot: Slot, signal: Signal) {
        let Some(endpoint) = self.endpoints.get_mut(&slot.origin) else {
            return;
        };
        endpoint.in_flight = endpoint.in_flight.saturating_sub(1);
        self.in_flight = self.in_flight.saturating_sub(1);
        match signal {
            Signal::Answered => {
                if endpoint.window < self.per_endpoint {
                    endpoint.successes += 1;
                    if endpoint.successes >= endpoint.window {
                        endpoint.window += 1;
                        endpoint.successes = 0;
                    }
                }
            }
            Signal::Throttled(delay) => {
                // Once per window: the requests already out were sent
                // under the old one.
                if slot.seq >= endpoint.shrunk_at {
                    endpoint.window = (endpoint.window / 2).max(1);
                    endpoint.successes = 0;
                    endpoint.shrunk_at = self.seq;
                }
                if let Some(delay) = delay {
                    let delay = u64::try_from(delay.as_millis())
                        .unwrap_or(u64::MAX)
                        .min(self.max_pause_ms);
                    let until = now.saturating_add(delay);
                    if until > endpoint.paused_until {
                        self.pauses
                            .remove(&(endpoint.paused_until, slot.origin.clone()));
                        endpoint.paused_until = until;
                        self.pauses.insert((until, slot.origin.clone()));
                    }
                }
            }
            Signal::Neutral => {}
        }
        self.refresh(now, &slot.origin);
    }

    /// When the next pause ends.
    pub(crate) fn poll_timeout(&self) -> Option<u64> {
        self.pauses.first().map(|(at, _)| *at)
    }

    /// Ends the pauses due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: u64) {
        while let Some((at, origin)) = self.pauses.first().cloned() {
            if at > now {
                break;
            }
            self.pauses.remove(&(at, origin.clone()));
            self.refresh(now, &origin);
        }
    }

    /// Requests in flight, in all.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// How many endpoints have state (something in flight, waiting or a
    /// pause).
    pub(crate) fn endpoints(&self) -> usize {
        self.endpoints.len()
    }

    /// `origin`'s window and requests in flight, if it has state.
    #[cfg(test)]
    pub(crate) fn window(&self, origin: &str) -> Option<(usize, usize)> {
        self.endpoints
            .get(origin)
            .map(|endpoint| (endpoint.window, endpoint.in_flight))
    }

    /// Puts `origin` in line if it may send, or forgets it if it is idle.
    fn refresh(&mut self, now: u64, origin: &str) {
        let Some(endpoint) = self.endpoints.get_mut(origin) else {
            return;
        };
        let paused = endpoint.paused_until > now;
        if !paused && endpoint.in_flight < endpoint.window && !endpoint.queue.is_empty() {
            if !endpoint.in_turns {
                endpoint.in_turns = true;
                self.turns.push_back(origin.to_owned());
            }
        } else if !paused && endpoint.in_flight == 0 && endpoint.queue.is_empty() {
            if endpoint.paused_until > 0 {
                self.pauses
                    .remove(&(endpoint.paused_until, origin.to_owned()));
            }
            self.endpoints.remove(origin);
        }
    }
}

/// The origin requests to `endpoint` count against: its scheme, host and
/// port, in lower case, the default port left out.
pub(crate) fn origin(endpoint: &str) -> String {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("", endpoint));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // Credentials are no part of the origin.
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let scheme = scheme.to_ascii_lowercase();
    let mut authority = authority.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => Some(":80"),
        "https" => Some(":443"),
        _ => None,
    };
    if let Some(port) = default_port
        && authority.ends_with(port)
    {
        authority.truncate(authority.len() - port.len());
    }
    format!("{scheme}://{authority}")
}
