//! Proxies for clients: HTTP `CONNECT` (RFC 9110 §9.3.6, with Basic
//! authentication) and SOCKS5 (RFC 1928, with username/password, RFC 1929),
//! each a small sans-IO step of its own: bytes to send out, bytes received
//! in, until the tunnel is open. The front-ends run them on the socket before
//! TLS and the WebSocket handshake; [`Proxy::from_env`] reads the same
//! environment variables curl does.
//!
//! ```
//! use wsmachine::proxy::{Proxy, Tunnel, TunnelStatus};
//! let proxy = Proxy::from_url("http://user:secret@proxy.example:3128").unwrap();
//! let mut tunnel = Tunnel::new(&proxy, "example.com", 443);
//! assert!(tunnel.pending_output().starts_with(b"CONNECT example.com:443 HTTP/1.1\r\n"));
//! let sent = tunnel.pending_output().len();
//! tunnel.consume_output(sent);
//! assert_eq!(tunnel.receive(b"HTTP/1.1 200 Connection established\r\n\r\n"), Ok(TunnelStatus::Open));
//! ```

#[cfg(feature = "std")]
mod env;
mod http_connect;
mod socks5;

use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// How to reach a proxy.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    kind: ProxyKind,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

/// The proxy protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    /// An HTTP proxy that opens tunnels with `CONNECT`.
    HttpConnect,
    /// A SOCKS5 proxy; the target's name is resolved by the proxy.
    Socks5,
}

impl core::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The password stays out of logs.
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .finish()
    }
}

/// A proxy URL the machine cannot use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidProxyUrl;

impl core::fmt::Display for InvalidProxyUrl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("not an http://, socks5:// or socks5h:// proxy URL with a host")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for InvalidProxyUrl {}

impl Proxy {
    /// A proxy of `kind` at `host:port`.
    pub fn new(kind: ProxyKind, host: &str, port: u16) -> Self {
        Proxy {
            kind,
            host: host.to_string(),
            port,
            credentials: None,
        }
    }

    /// With a username and password (Basic for HTTP, RFC 1929 for SOCKS5).
    pub fn with_credentials(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((user.to_string(), password.to_string()));
        self
    }

    /// Reads `http://[user:pass@]host[:port]` (default port 80; `https://`
    /// proxies are not supported) or `socks5://` / `socks5h://` (default
    /// 1080; the target's name is always resolved by the proxy). A URL
    /// without a scheme is an HTTP proxy, as curl takes it. User and password
    /// may be percent-encoded.
    pub fn from_url(url: &str) -> Result<Self, InvalidProxyUrl> {
        let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
        let (kind, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "http" => (ProxyKind::HttpConnect, 80),
            "socks5" | "socks5h" => (ProxyKind::Socks5, 1080),
            _ => return Err(InvalidProxyUrl),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport, default_port)?;
        let mut proxy = Proxy::new(kind, host, port);
        if let Some(userinfo) = userinfo {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            proxy = proxy.with_credentials(&percent_decode(user)?, &percent_decode(password)?);
        }
        Ok(proxy)
    }

    /// The protocol.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port` to connect a socket to (`[addr]:port` for IPv6).
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            alloc::format!("[{}]:{}", self.host, self.port)
        } else {
            alloc::format!("{}:{}", self.host, self.port)
        }
    }
}

/// Splits `host[:port]` (`[v6]:port` too).
fn split_host_port(hostport: &str, default_port: u16) -> Result<(&str, u16), InvalidProxyUrl> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(InvalidProxyUrl)?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(InvalidProxyUrl);
    }
    let port = match port {
        Some(port) => port.parse().map_err(|_| InvalidProxyUrl)?,
        None => default_port,
    };
    Ok((host, port))
}

fn percent_decode(text: &str) -> Result<String, InvalidProxyUrl> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3).ok_or(InvalidProxyUrl)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| InvalidProxyUrl)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| InvalidProxyUrl)
}

/// Where a tunnel stands after input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelStatus {
    /// More bytes are needed from the proxy (write what is pending first).
    NeedInput,
    /// The tunnel is open: from here the socket speaks to the target.
    /// Bytes past the proxy's answer, if any, are in [`Tunnel::leftover`].
    Open,
}

/// Why a proxy did not open the tunnel.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyError {
    /// The HTTP proxy answered `CONNECT` with this status (407: the
    /// credentials were refused or missing).
    HttpStatus(u16),
    /// The SOCKS5 proxy refused the connection with this reply code (RFC
    /// 1928 §6: 2 not allowed, 3 network unreachable, 4 host unreachable,
    /// 5 refused, ...).
    SocksReply(u8),
    /// The SOCKS5 proxy accepts none of the authentication methods offered.
    SocksNoAcceptableMethod,
    /// The SOCKS5 proxy refused the username and password.
    SocksAuthFailed,
    /// The proxy's answer is not the protocol (garbage, a wrong version).
    Malformed,
    /// The proxy's answer is longer than any sane one.
    TooLarge,
    /// The target's name or the credentials cannot be sent in this protocol
    /// (over 255 bytes for SOCKS5, a line break for HTTP).
    Unsendable,
}

impl core::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProxyError::HttpStatus(407) => {
                f.write_str("proxy refused: 407 Proxy Authentication Required")
            }
            ProxyError::HttpStatus(status) => write!(f, "proxy answered CONNECT with {status}"),
            ProxyError::SocksReply(code) => write!(f, "SOCKS5 proxy refused with reply {code}"),
            ProxyError::SocksNoAcceptableMethod => {
                f.write_str("SOCKS5 proxy accepts none of the authentication methods offered")
            }
            ProxyError::SocksAuthFailed => f.write_str("SOCKS5 proxy refused the credentials"),
            ProxyError::Malformed => f.write_str("the proxy's answer is malformed"),
            ProxyError::TooLarge => f.write_str("the proxy's answer is too large"),
            ProxyError::Unsendable => {
                f.write_str("the target or credentials cannot be sent to the proxy")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProxyError {}

/// Opening a tunnel through a proxy: a sans-IO step before the WebSocket
/// handshake. Write [`pending_output`](Self::pending_output), report it
/// with [`consume_output`](Self::consume_output), feed what the proxy
/// answers to [`receive`](Self::receive) until it says
/// [`TunnelStatus::Open`].
#[derive(Debug)]
pub struct Tunnel {
    inner: TunnelInner,
}

#[derive(Debug)]
enum TunnelInner {
    Http(http_connect::HttpConnect),
    Socks5(socks5::Socks5),
}

impl Tunnel {
    /// A tunnel through `proxy` to `host:port`.
    pub fn new(proxy: &Proxy, host: &str, port: u16) -> Self {
        let credentials = proxy
            .credentials
            .as_ref()
            .map(|(user, password)| (user.as_str(), password.as_str()));
        Tunnel {
            inner: match proxy.kind {
                ProxyKind::HttpConnect => {
                    TunnelInner::Http(http_connect::HttpConnect::new(host, port, credentials))
                }
                ProxyKind::Socks5 => {
                    TunnelInner::Socks5(socks5::Socks5::new(host, port, credentials))
                }
            },
        }
    }

    /// Bytes to write to the proxy.
    pub fn pending_output(&self) -> &[u8] {
        match &self.inner {
            TunnelInner::Http(step) => step.pending_output(),
            TunnelInner::Socks5(step) => step.pending_output(),
        }
    }

    /// The first `n` bytes of the output were written.
    pub fn consume_output(&mut self, n: usize) {
        match &mut self.inner {
            TunnelInner::Http(step) => step.consume_output(n),
            TunnelInner::Socks5(step) => step.consume_output(n),
        }
    }

    /// Feeds what the proxy sent.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<TunnelStatus, ProxyError> {
        match &mut self.inner {
            TunnelInner::Http(step) => step.receive(bytes),
            TunnelInner::Socks5(step) => step.receive(bytes),
        }
    }

    /// Bytes received after the proxy's answer: the target's first bytes,
    /// for the WebSocket connection.
    pub fn leftover(&self) -> &[u8] {
        match &self.inner {
            TunnelInner::Http(step) => step.leftover(),
            TunnelInner::Socks5(step) => step.leftover(),
        }
    }
}

#[cfg(feature = "std")]
pub use env::ProxyEnv;
