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

/// A transport error: [`WsError::Tls`] when TLS failed under it (a record
/// that does not authenticate, an alert from the peer), else
/// [`WsError::Io`].
impl From<io::Error> for WsError {
    fn from(error: io::Error) -> Self {
        if tls_error(&error).is_some() {
            return WsError::Tls(error);
        }
        WsError::Io(error)
    }
}

/// The TLS error an I/O error carries, if any.
fn tls_error(error: &io::Error) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
    #[cfg(feature = "rustls")]
    if let Some(inner) = error.get_ref().filter(|inner| inner.is::<rustls::Error>()) {
        return Some(inner);
    }
    let _ = error;
    None
}

#[cfg(any(feature = "tokio", feature = "blocking"))]
impl WsError {
    /// A transport error twice: one to report now, one to keep for later
    /// calls (`io::Error` is not `Clone`); both of the same kind and class.
    pub(crate) fn transport_twice(error: io::Error) -> (WsError, WsError) {
        #[cfg(feature = "rustls")]
        if let Some(tls) = tls_error(&error).and_then(|e| e.downcast_ref::<rustls::Error>()) {
            let copy = io::Error::new(error.kind(), tls.clone());
            return (WsError::Tls(copy), WsError::Tls(error));
        }
        let copy = io::Error::new(error.kind(), error.to_string());
        (WsError::Io(copy), WsError::Io(error))
    }

    /// Whether this is the transport failing (I/O or TLS), which no longer
    /// matters once the peer's Close has arrived.
    pub(crate) fn is_transport(&self) -> bool {
        matches!(self, WsError::Io(_) | WsError::Tls(_))
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
