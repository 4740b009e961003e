//! What the front-ends (`tokio`, `blocking`) share: the server's answer
//! when it refuses an upgrade, the client's options, and which events a
//! caller of `recv` sees.

use crate::handshake::InvalidUrl;
use crate::{ClientRequest, Config};
use core::time::Duration;

#[cfg(feature = "bytes")]
mod deliver;
#[cfg(feature = "bytes")]
pub(crate) use deliver::deliverable;

/// An answer other than the upgrade: status, headers, body. The connection
/// is closed after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reject {
    /// An answer with this status (403 for a refused Origin, 401, 404, a
    /// redirect, or 200 with a page for a plain HTTP request) and `body`.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Reject {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Adds a header (Location, Content-Type, WWW-Authenticate, ...).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers as the machine's `reject` takes them.
    pub(crate) fn header_pairs(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }
}

/// A client's options, the same for every front-end's builder.
#[derive(Clone, Debug)]
pub(crate) struct ClientOptions {
    pub(crate) request: Result<ClientRequest, InvalidUrl>,
    pub(crate) config: Config,
    pub(crate) connect_timeout: Option<Duration>,
}

impl ClientOptions {
    pub(crate) fn new(url: &str) -> Self {
        ClientOptions {
            request: ClientRequest::from_url(url),
            config: Config::default(),
            connect_timeout: Some(Duration::from_secs(30)),
        }
    }

    pub(crate) fn map_request(&mut self, change: impl FnOnce(ClientRequest) -> ClientRequest) {
        let request = core::mem::replace(&mut self.request, Err(InvalidUrl));
        self.request = request.map(change);
    }
}

/// The `with`-style setters every client builder has, over its `options`.
macro_rules! client_builder_setters {
    () => {
        /// Adds a request header.
        pub fn header(mut self, name: &str, value: &str) -> Self {
            self.options.map_request(|r| r.header(name, value));
            self
        }

        /// Offers a subprotocol (call again for more, in preference order).
        pub fn protocol(mut self, protocol: &str) -> Self {
            self.options.map_request(|r| r.protocol(protocol));
            self
        }

        /// Sets the Origin header.
        pub fn origin(mut self, origin: &str) -> Self {
            self.options.map_request(|r| r.origin(origin));
            self
        }

        /// The machine's configuration (limits, keepalive, compression offer).
        pub fn config(mut self, config: $crate::Config) -> Self {
            self.options.config = config;
            self
        }

        /// Longest the TCP connection may take. Default 30 s.
        pub fn connect_timeout(mut self, limit: core::time::Duration) -> Self {
            self.options.connect_timeout = Some(limit);
            self
        }

        /// Longest the opening handshake may take once connected (sets
        /// [`Config::handshake_timeout`](crate::Config::handshake_timeout)).
        /// Default 10 s.
        pub fn handshake_timeout(mut self, limit: core::time::Duration) -> Self {
            self.options.config.handshake_timeout = Some(limit);
            self
        }
    };
}
pub(crate) use client_builder_setters;
