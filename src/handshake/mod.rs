//! The opening handshake (RFC 6455 §4): HTTP/1.1 Upgrade request and response.
//!
//! Parsing of the HTTP head is `httparse`'s job; this module checks what
//! WebSocket requires of it, negotiates, and writes the answers. Both roles
//! can run their half outside the machine, for an HTTP layer that owns the
//! request and response ([`HandshakeRequest::accept_with`],
//! [`ClientHandshake::verify`]); the result is a [`Negotiated`] for
//! [`Connection::upgraded_with`](crate::Connection::upgraded_with).

mod client;
mod headers;
mod negotiated;
mod server;

pub use client::{ClientHandshake, ClientRequest, HandshakeResponse, InvalidUrl};
pub use headers::{accept_key, Header, Headers};
pub use negotiated::Negotiated;
pub use server::{Accept, HandshakeRequest, Upgrade};

pub(crate) use client::parse_response;
pub(crate) use headers::find_head_end;
pub(crate) use server::{parse_request, write_error_response, write_rejection};
