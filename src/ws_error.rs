//! What the front-ends (`tokio`, `blocking`) report: the machine's errors,
//! the transport's, and the handshake's outcome.

use crate::error::{Error, SendError};
use crate::handshake::{HandshakeResponse, InvalidUrl};
use std::io;

/// Why a front-end call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum WsError {
    /// The transport failed (including a reset by the peer).
    Io(io::Error),
    /// The connection failed: the peer broke the protocol, a deadline passed
    /// (handshake, keepalive, close), or the transport ended early. The
    /// machine sent the right Close frame or HTTP status.
    Protocol(Error),
    /// A call that makes no sense in this state (sending after close, a
    /// control payload over 125 bytes, ...). The connection is unaffected.
    Send(SendError),
    /// Client: the server answered the handshake with another status than
    /// 101 (its response is here: status, headers such as a redirect's
    /// Location).
    Rejected(Box<HandshakeResponse>),
    /// Server: the request was answered with this status instead of an
    /// upgrade (a rejection, or a page served to a plain HTTP request).
    Refused(u16),
    /// Client: the URL is not `ws://` or `wss://` with a host.
    InvalidUrl(InvalidUrl),
    /// Client: `wss://` needs a TLS connector (feature `rustls`).
    TlsUnavailable,
    /// The TLS handshake or a TLS record failed (a certificate for another
    /// name, expired or from an unknown issuer; an alert from the peer).
    Tls(io::Error),
    /// The proxy did not open the tunnel.
    Proxy(crate::proxy::ProxyError),
    /// Connecting or the handshake took longer than the limit given.
    Timeout,
    /// The connection is closed: nothing more can be sent or received.
    Closed,
}

impl core::fmt::Display for WsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WsError::Io(e) => write!(f, "transport error: {e}"),
            WsError::Protocol(e) => write!(f, "connection failed: {e}"),
            WsError::Send(e) => write!(f, "cannot send: {e}"),
            WsError::Rejected(response) => write!(
                f,
                "server refused the upgrade: {} {}",
                response.status(),
                response.reason()
            ),
            WsError::Refused(status) => write!(f, "answered with HTTP {status}, no upgrade"),
            WsError::InvalidUrl(e) => e.fmt(f),
            WsError::TlsUnavailable => f.write_str("wss:// needs the `rustls` feature"),
            WsError::Tls(e) => write!(f, "TLS failed: {e}"),
            WsError::Proxy(e) => write!(f, "proxy failed: {e}"),
            WsError::Timeout => f.write_str("timed out"),
            WsError::Closed => f.write_str("the connection is closed"),
        }
    }
}

impl std::error::Error for WsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WsError::Io(e) => Some(e),
            WsError::Protocol(e) => Some(e),
            WsError::Send(e) => Some(e),
            WsError::InvalidUrl(e) => Some(e),
            WsError::Tls(e) => Some(e),
            WsError::Proxy(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for WsError {
    fn from(error: io::Error) -> Self {
        WsError::Io(error)
    }
}

impl From<Error> for WsError {
    fn from(error: Error) -> Self {
        WsError::Protocol(error)
    }
}

impl From<SendError> for WsError {
    fn from(error: SendError) -> Self {
        match error {
            SendError::Closed => WsError::Closed,
            other => WsError::Send(other),
        }
    }
}

impl From<crate::proxy::ProxyError> for WsError {
    fn from(error: crate::proxy::ProxyError) -> Self {
        WsError::Proxy(error)
    }
}

impl From<InvalidUrl> for WsError {
    fn from(error: InvalidUrl) -> Self {
        WsError::InvalidUrl(error)
    }
}

impl From<WsError> for io::Error {
    fn from(error: WsError) -> Self {
        match error {
            WsError::Io(e) => e,
            other => io::Error::other(other),
        }
    }
}
