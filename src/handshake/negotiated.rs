//! What an opening handshake agreed on, wherever it was done: by the
//! machine itself, or by an HTTP stack (hyper, axum, an HTTP/2 server)
//! through [`HandshakeRequest::accept_with`](crate::HandshakeRequest::accept_with)
//! and [`ClientHandshake::verify`](crate::ClientHandshake::verify).

use crate::extensions::ExtensionParams;
use alloc::boxed::Box;

/// The subprotocol and extension parameters a handshake agreed on; hand it
/// to [`Connection::upgraded_with`](crate::Connection::upgraded_with).
///
/// ```
/// use wsmachine::{Config, Connection, Negotiated, Role};
/// let negotiated = Negotiated::new().with_protocol("chat");
/// let conn = Connection::upgraded_with(Role::Server, Config::default(), negotiated).unwrap();
/// assert_eq!(conn.protocol(), Some("chat"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Negotiated {
    protocol: Option<Box<str>>,
    pub(crate) extensions: ExtensionParams,
}

impl Negotiated {
    /// No subprotocol, no extensions.
    pub fn new() -> Self {
        Negotiated::default()
    }

    /// With this subprotocol.
    pub fn with_protocol(mut self, protocol: &str) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// With permessage-deflate and these parameters.
    #[cfg(feature = "deflate")]
    pub fn with_deflate(mut self, params: crate::DeflateParams) -> Self {
        self.extensions.deflate = Some(params);
        self
    }

    pub(crate) fn with_extensions(mut self, extensions: ExtensionParams) -> Self {
        self.extensions = extensions;
        self
    }

    /// The agreed subprotocol.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The agreed permessage-deflate parameters.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<crate::DeflateParams> {
        self.extensions.deflate
    }

    pub(crate) fn into_protocol(self) -> Option<Box<str>> {
        self.protocol
    }
}
