//! What the front-ends (`tokio`, `blocking`) share: the server's answer
//! when it refuses an upgrade, the client's options, and which events a
//! caller of `recv` sees.

use crate::handshake::InvalidUrl;
use crate::proxy::Proxy;
use crate::ws_error::WsError;
use crate::{ClientRequest, Config};
use core::time::Duration;

mod deliver;
mod limit;
pub(crate) use deliver::deliverable;
pub use limit::{ConnectionLimit, ConnectionPermit};

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

/// Which proxy a client goes through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum ProxyChoice {
    /// The one the environment names for the URL's host (like curl).
    #[default]
    FromEnv,
    /// This one.
    Given(Proxy),
    /// None: connect directly.
    Direct,
}

/// A client's options, the same for every front-end's builder.
#[derive(Clone, Debug)]
pub(crate) struct ClientOptions {
    pub(crate) request: Result<ClientRequest, InvalidUrl>,
    pub(crate) config: Config,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) proxy: ProxyChoice,
    #[cfg(feature = "rustls")]
    pub(crate) tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// Where a client's TCP connection goes, and what runs on it before the
/// WebSocket handshake.
pub(crate) struct Route {
    pub(crate) request: ClientRequest,
    /// `host:port` to connect to: the proxy's, or the target's.
    pub(crate) address: String,
    pub(crate) proxy: Option<Proxy>,
}

impl ClientOptions {
    pub(crate) fn new(url: &str) -> Self {
        ClientOptions {
            request: ClientRequest::from_url(url),
            config: Config::default(),
            connect_timeout: Some(Duration::from_secs(30)),
            proxy: ProxyChoice::default(),
            #[cfg(feature = "rustls")]
            tls: None,
        }
    }

    /// The request, and where to connect for it.
    pub(crate) fn route(&mut self) -> Result<Route, WsError> {
        let request = core::mem::replace(&mut self.request, Err(InvalidUrl))?;
        if request.is_secure() && !cfg!(feature = "rustls") {
            return Err(WsError::TlsUnavailable);
        }
        let proxy = match &self.proxy {
            ProxyChoice::FromEnv => Proxy::from_env(request.hostname(), request.is_secure()),
            ProxyChoice::Given(proxy) => Some(proxy.clone()),
            ProxyChoice::Direct => None,
        };
        let address = proxy
            .as_ref()
            .map_or_else(|| request.address(), Proxy::address);
        Ok(Route {
            request,
            address,
            proxy,
        })
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

        /// Goes through this proxy (HTTP CONNECT or SOCKS5) instead of the
        /// one the environment names (`HTTPS_PROXY`, `http_proxy`,
        /// `ALL_PROXY`, `NO_PROXY`, read like curl).
        pub fn proxy(mut self, proxy: $crate::proxy::Proxy) -> Self {
            self.options.proxy = $crate::frontend::ProxyChoice::Given(proxy);
            self
        }

        /// Connects directly, whatever the environment says.
        pub fn no_proxy(mut self) -> Self {
            self.options.proxy = $crate::frontend::ProxyChoice::Direct;
            self
        }

        /// For `wss://`: this TLS configuration (a private CA, client
        /// certificates) instead of [`tls::default_client_config`](crate::tls::default_client_config).
        #[cfg(feature = "rustls")]
        pub fn tls_config(mut self, config: std::sync::Arc<rustls::ClientConfig>) -> Self {
            self.options.tls = Some(config);
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
