//! What a call answers: the provider's reply, or a fallback standing in for a failure. The
//! fault-tolerance layer decides when a fallback answers (failsafe, failback, a `fallback` option,
//! a forced degradation), so the answer type is its own; the transport only returns bodies.

use bytes::Bytes;

use crate::error::Error;

/// What to answer instead of an error.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Fallback {
    #[default]
    None,
    /// A JSON value.
    Value(Bytes),
    /// A function held by the binding: the core answers with [`Answer::degraded`] set and
    /// [`Answer::external_fallback`] true, and the binding calls the function.
    External,
}

/// The answer of one call: JSON (or empty, meaning `null`).
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: Bytes,
    /// Set when `body` is a fallback standing in for this error (degradation): the call failed
    /// for a non-business reason, or degradation is forced.
    pub degraded: Option<Error>,
    /// The fallback is the binding's function: call it instead of returning `body`.
    pub external_fallback: bool,
}

impl Answer {
    /// The provider's reply.
    pub fn reply(body: Bytes) -> Answer {
        Answer {
            body,
            degraded: None,
            external_fallback: false,
        }
    }

    /// The answer standing in for `error`: the fallback value, or `null`.
    pub fn degraded(fallback: &Fallback, error: Error) -> Answer {
        let body = match fallback {
            Fallback::Value(v) => v.clone(),
            Fallback::None | Fallback::External => Bytes::from_static(b"null"),
        };
        Answer {
            body,
            degraded: Some(error),
            external_fallback: *fallback == Fallback::External,
        }
    }
}
