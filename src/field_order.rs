//! `Poll` and `PollResult`, written by hand so that they encode their fields
//! in field-number order, as every other protobuf runtime does.
//!
//! prost's derive writes a oneof at the place of its lowest field number. The
//! `state` oneofs here hold fields 1 and 6 (`Poll`) and 1 and 4
//! (`PollResult`), so derived code would write `typed_coroutine_state` before
//! the other fields. Parsers accept any order, but byte-identical encodings
//! (the vectors, signatures over bodies, caches) need the canonical one. The
//! oneof enums keep prost's derive; only the field order is by hand.

use prost::bytes::{Buf, BufMut};
use prost::encoding::{DecodeContext, WireType, int32, message, skip_field};
use prost::{DecodeError, Message, Name};

use crate::sdk::v1::{Call, CallResult, Error};

/// The directive of a run that suspends: state to keep, calls to make, and
/// when to resume.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct Poll {
    /// Calls to start while suspended.
    pub calls: prost::alloc::vec::Vec<Call>,
    /// The longest time to stay suspended.
    /// Validation: required; at least 1s.
    pub max_wait: Option<prost_types::Duration>,
    /// The most results to deliver on resume.
    /// Validation: required; 1 to 1000.
    pub max_results: i32,
    /// Resume once this many results are ready (or max_wait elapsed).
    /// Validation: required; 1 to 1000.
    pub min_results: i32,
    /// The state to hand back on resume.
    pub state: Option<poll::State>,
}

/// Nested types of `Poll`.
pub mod poll {
    /// The state to hand back on resume.
    #[derive(Clone, PartialEq, Eq, Hash, prost::Oneof)]
    pub enum State {
        /// Untyped state (legacy).
        #[prost(bytes, tag = "1")]
        CoroutineState(prost::alloc::vec::Vec<u8>),
        /// Typed state (preferred).
        #[prost(message, tag = "6")]
        TypedCoroutineState(prost_types::Any),
    }
}

/// What a resumed run receives.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct PollResult {
    /// The results of the calls that finished in time.
    pub results: prost::alloc::vec::Vec<CallResult>,
    /// Set when the poll itself failed: none of its calls were made.
    pub error: Option<Error>,
    /// The state the run saved when it suspended.
    pub state: Option<poll_result::State>,
}

/// Nested types of `PollResult`.
pub mod poll_result {
    /// The state the run saved when it suspended.
    #[derive(Clone, PartialEq, Eq, Hash, prost::Oneof)]
    pub enum State {
        /// Untyped state (legacy).
        #[prost(bytes, tag = "1")]
        CoroutineState(prost::alloc::vec::Vec<u8>),
        /// Typed state (preferred).
        #[prost(message, tag = "4")]
        TypedCoroutineState(prost_types::Any),
    }
}

/// Adds the field to a decode error, as derived code does.
fn in_field(message: &'static str, field: &'static str) -> impl FnOnce(DecodeError) -> DecodeError {
    move |mut error| {
        error.push(message, field);
        error
    }
}

impl Message for Poll {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if let Some(state @ poll::State::CoroutineState(_)) = &self.state {
            state.encode(buf);
        }
        for call in &self.calls {
            message::encode(2, call, buf);
        }
        if let Some(max_wait) = &self.max_wait {
            message::encode(3, max_wait, buf);
        }
        if self.max_results != 0 {
            int32::encode(4, &self.max_results, buf);
        }
        if self.min_results != 0 {
            int32::encode(5, &self.min_results, buf);
        }
        if let Some(state @ poll::State::TypedCoroutineState(_)) = &self.state {
            state.encode(buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 | 6 => poll::State::merge(&mut self.state, tag, wire_type, buf, ctx)
                .map_err(in_field("Poll", "state")),
            2 => message::merge_repeated(wire_type, &mut self.calls, buf, ctx)
                .map_err(in_field("Poll", "calls")),
            3 => message::merge(
                wire_type,
                self.max_wait.get_or_insert_with(Default::default),
                buf,
                ctx,
            )
            .map_err(in_field("Poll", "max_wait")),
            4 => int32::merge(wire_type, &mut self.max_results, buf, ctx)
                .map_err(in_field("Poll", "max_results")),
            5 => int32::merge(wire_type, &mut self.min_results, buf, ctx)
                .map_err(in_field("Poll", "min_results")),
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        self.state.as_ref().map_or(0, poll::State::encoded_len)
            + message::encoded_len_repeated(2, &self.calls)
            + self
                .max_wait
                .as_ref()
                .map_or(0, |d| message::encoded_len(3, d))
            + if self.max_results != 0 {
                int32::encoded_len(4, &self.max_results)
            } else {
                0
            }
            + if self.min_results != 0 {
                int32::encoded_len(5, &self.min_results)
            } else {
                0
            }
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

impl Name for Poll {
    const NAME: &'static str = "Poll";
    const PACKAGE: &'static str = "dispatch.sdk.v1";
    fn type_url() -> prost::alloc::string::String {
        "buf.build/stealthrocket/dispatch-proto/dispatch.sdk.v1.Poll".into()
    }
}

impl Message for PollResult {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if let Some(state @ poll_result::State::CoroutineState(_)) = &self.state {
            state.encode(buf);
        }
        for result in &self.results {
            message::encode(2, result, buf);
        }
        if let Some(error) = &self.error {
            message::encode(3, error, buf);
        }
        if let Some(state @ poll_result::State::TypedCoroutineState(_)) = &self.state {
            state.encode(buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 | 4 => poll_result::State::merge(&mut self.state, tag, wire_type, buf, ctx)
                .map_err(in_field("PollResult", "state")),
            2 => message::merge_repeated(wire_type, &mut self.results, buf, ctx)
                .map_err(in_field("PollResult", "results")),
            3 => message::merge(
                wire_type,
                self.error.get_or_insert_with(Default::default),
                buf,
                ctx,
            )
            .map_err(in_field("PollResult", "error")),
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        self.state
            .as_ref()
            .map_or(0, poll_result::State::encoded_len)
            + message::encoded_len_repeated(2, &self.results)
            + self
                .error
                .as_ref()
                .map_or(0, |e| message::encoded_len(3, e))
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

impl Name for PollResult {
    const NAME: &'static str = "PollResult";
    const PACKAGE: &'static str = "dispatch.sdk.v1";
    fn type_url() -> prost::alloc::string::String {
        "buf.build/stealthrocket/dispatch-proto/dispatch.sdk.v1.PollResult".into()
    }
}
