//! The client's side of the opening handshake (§4.1): the request to send,
//! and the server's answer, checked.

use super::headers::{accept_key, is_safe_header, write_header, Headers};
use super::negotiated::Negotiated;
use crate::config::Config;
use crate::error::{Error, SendError};
use crate::extensions;
use crate::keys::KeyStream;
use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// What a client asks for in its opening handshake.
///
/// ```
/// use wsmachine::ClientRequest;
/// let request = ClientRequest::from_url("ws://example.com:8080/chat?room=1")
///     .unwrap()
///     .origin("http://example.com")
///     .protocol("chat");
/// assert_eq!(request.host(), "example.com:8080");
/// assert_eq!(request.hostname(), "example.com");
/// assert_eq!(request.port(), 8080);
/// assert_eq!(request.target(), "/chat?room=1");
///
/// let secure = ClientRequest::from_url("wss://example.com/").unwrap();
/// assert_eq!((secure.port(), secure.is_secure()), (443, true));
/// assert_eq!(secure.address(), "example.com:443");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRequest {
    host: String,
    target: String,
    secure: bool,
    origin: Option<String>,
    protocols: Vec<String>,
    extensions: Vec<String>,
    headers: Vec<(String, String)>,
}

/// A URL [`ClientRequest::from_url`] cannot use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUrl;

impl core::fmt::Display for InvalidUrl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("not a ws:// or wss:// URL with a host and a valid port")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for InvalidUrl {}

impl ClientRequest {
    /// A request for `target` (path and query) on `host` (with `:port` if not
    /// the default).
    pub fn new(host: &str, target: &str) -> Self {
        ClientRequest {
            host: host.to_owned(),
            target: if target.is_empty() { "/" } else { target }.to_owned(),
            secure: false,
            origin: None,
            protocols: Vec::new(),
            extensions: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Reads host, port, path and query from a `ws://` or `wss://` URL (the
    /// fragment is dropped, §3). TLS is the caller's business: `wss` only
    /// changes the default port and [`is_secure`](Self::is_secure).
    pub fn from_url(url: &str) -> Result<Self, InvalidUrl> {
        let (scheme, rest) = url.split_once("://").ok_or(InvalidUrl)?;
        let secure = if scheme.eq_ignore_ascii_case("wss") {
            true
        } else if scheme.eq_ignore_ascii_case("ws") {
            false
        } else {
            return Err(InvalidUrl);
        };
        let rest = rest.split('#').next().unwrap_or("");
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        let authority = authority.rsplit('@').next().unwrap_or("");
        if authority.is_empty() || authority.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(InvalidUrl);
        }
        let target = if target.starts_with('?') {
            format!("/{target}")
        } else {
            target.to_owned()
        };
        let mut request = ClientRequest::new(authority, &target);
        request.secure = secure;
        if request.hostname().is_empty() || split_port(&request.host).1 == Some(None) {
            return Err(InvalidUrl);
        }
        Ok(request)
    }

    /// Sets the Origin header, as a browser would.
    pub fn origin(mut self, origin: &str) -> Self {
        self.origin = Some(origin.to_owned());
        self
    }

    /// Offers a subprotocol (call again for more, in preference order).
    pub fn protocol(mut self, protocol: &str) -> Self {
        self.protocols.push(protocol.to_owned());
        self
    }

    /// Offers an extension, written as it goes on the wire.
    pub fn extension(mut self, offer: &str) -> Self {
        self.extensions.push(offer.to_owned());
        self
    }

    /// Adds a header (Authorization, Cookie, User-Agent, ...).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The Host header value: the host, and the port if the URL gave one.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host alone, without port (and without brackets for IPv6).
    pub fn hostname(&self) -> &str {
        let (name, _) = split_port(&self.host);
        name.strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(name)
    }

    /// The port: the URL's, or 443 for `wss://` and 80 otherwise.
    pub fn port(&self) -> u16 {
        match split_port(&self.host).1 {
            Some(Some(port)) => port,
            _ if self.secure => 443,
            _ => 80,
        }
    }

    /// `host:port` to connect a socket to (`[addr]:port` for IPv6), e.g.
    /// `TcpStream::connect(request.address())`.
    pub fn address(&self) -> String {
        let (name, _) = split_port(&self.host);
        format!("{name}:{}", self.port())
    }

    /// True for a `wss://` URL.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The request target: path and query.
    pub fn target(&self) -> &str {
        &self.target
    }

    pub(crate) fn is_well_formed(&self) -> bool {
        let single_line = |s: &str| !s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
        single_line(&self.host)
            && !self
                .target
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b == 0)
            && self.origin.as_deref().is_none_or(single_line)
            && self
                .protocols
                .iter()
                .chain(&self.extensions)
                .all(|p| single_line(p))
            && self.headers.iter().all(|(n, v)| is_safe_header(n, v))
    }
}

/// Splits `host[:port]`; the port is `Some(None)` when present but not a
/// number that fits.
fn split_port(host: &str) -> (&str, Option<Option<u16>>) {
    let port_at = if host.starts_with('[') {
        host.find("]:").map(|i| i + 1)
    } else {
        host.rfind(':')
    };
    match port_at {
        Some(at) => (&host[..at], Some(host[at + 1..].parse().ok())),
        None => (host, None),
    }
}

/// A client's opening handshake: the request with its fresh key, and the
/// check of the server's answer. [`Connection::client`](crate::Connection::client)
/// uses it inside; use it directly when another HTTP layer sends the request
/// and reads the response, then hand the result to
/// [`Connection::upgraded_with`](crate::Connection::upgraded_with).
///
/// ```
/// use wsmachine::{handshake::accept_key, ClientHandshake, ClientRequest, Config, HandshakeResponse, Headers};
/// let config = Config::default();
/// let handshake = ClientHandshake::new(ClientRequest::new("example.com", "/chat"), &config).unwrap();
/// let accept = accept_key(handshake.key().as_bytes());
/// let response = HandshakeResponse::from_parts(101, Headers::from_pairs([
///     ("Upgrade", &b"websocket"[..]),
///     ("Connection", b"Upgrade"),
///     ("Sec-WebSocket-Accept", accept.as_bytes()),
/// ]));
/// let negotiated = handshake.verify(&response, &config).unwrap();
/// assert_eq!(negotiated.protocol(), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHandshake {
    request: ClientRequest,
    key: String,
    offers: Vec<String>,
}

impl ClientHandshake {
    /// The handshake for `request`, with a fresh key and the extension
    /// offers `config` asks for. Fails like [`Connection::client`](crate::Connection::client).
    pub fn new(request: ClientRequest, config: &Config) -> Result<Self, SendError> {
        let mut keys = KeyStream::new(config.mask_seed).ok_or(SendError::NoRandomness)?;
        ClientHandshake::with_key(request, keys.handshake_key(), config)
    }

    pub(crate) fn with_key(
        request: ClientRequest,
        key: String,
        config: &Config,
    ) -> Result<Self, SendError> {
        if !request.is_well_formed() {
            return Err(SendError::InvalidHttp);
        }
        Ok(ClientHandshake {
            request,
            key,
            offers: extensions::client_offers(config),
        })
    }

    /// The request.
    pub fn request(&self) -> &ClientRequest {
        &self.request
    }

    /// The `Sec-WebSocket-Key` sent.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Every header the request carries apart from Host, in order, for an
    /// HTTP layer that writes the request itself.
    pub fn headers(&self) -> Vec<(&str, String)> {
        let mut headers = alloc::vec![
            ("Upgrade", "websocket".to_owned()),
            ("Connection", "Upgrade".to_owned()),
            ("Sec-WebSocket-Key", self.key.clone()),
            ("Sec-WebSocket-Version", "13".to_owned()),
        ];
        if let Some(origin) = &self.request.origin {
            headers.push(("Origin", origin.clone()));
        }
        if !self.request.protocols.is_empty() {
            headers.push(("Sec-WebSocket-Protocol", self.request.protocols.join(", ")));
        }
        let offers: Vec<&str> = self
            .offers
            .iter()
            .chain(&self.request.extensions)
            .map(String::as_str)
            .collect();
        if !offers.is_empty() {
            headers.push(("Sec-WebSocket-Extensions", offers.join(", ")));
        }
        for (name, value) in &self.request.headers {
            headers.push((name.as_str(), value.clone()));
        }
        headers
    }

    /// Writes the whole HTTP/1.1 request head.
    pub fn write_request(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(self.request.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        write_header(out, "Host", &self.request.host);
        for (name, value) in self.headers() {
            write_header(out, name, &value);
        }
        out.extend_from_slice(b"\r\n");
    }

    /// Checks a 101 response (§4.2.2 step 5, §4.1): the upgrade headers, the
    /// accept key, a subprotocol we offered, extensions we offered with
    /// parameters we accept. Returns what was agreed.
    pub fn verify(
        &self,
        response: &HandshakeResponse,
        config: &Config,
    ) -> Result<Negotiated, Error> {
        let headers = &response.headers;
        if response.status != 101
            || !headers.has_token("upgrade", "websocket")
            || !headers.has_token("connection", "upgrade")
        {
            return Err(Error::ResponseNotAnUpgrade);
        }
        let expected = accept_key(self.key.as_bytes());
        if !headers.has_single_value("sec-websocket-accept", |v| v == expected.as_bytes()) {
            return Err(Error::InvalidAccept);
        }
        self.agreement(response, config)
    }

    /// Checks the answer to an HTTP/2 extended CONNECT (RFC 8441 §5): any
    /// 2xx, a subprotocol we offered, extensions we offered; no accept key.
    /// The request goes out with `:method` CONNECT, `:protocol` websocket
    /// and the [`extended_connect_headers`](Self::extended_connect_headers).
    pub fn verify_extended_connect(
        &self,
        response: &HandshakeResponse,
        config: &Config,
    ) -> Result<Negotiated, Error> {
        if !(200..300).contains(&response.status) {
            return Err(Error::ResponseNotAnUpgrade);
        }
        self.agreement(response, config)
    }

    /// The request's headers for an HTTP/2 extended CONNECT: the version,
    /// Origin, protocols, extensions and the caller's own (no `Upgrade`,
    /// `Connection` or key).
    pub fn extended_connect_headers(&self) -> Vec<(&str, String)> {
        let mut headers = self.headers();
        headers
            .retain(|(name, _)| !matches!(*name, "Upgrade" | "Connection" | "Sec-WebSocket-Key"));
        headers
    }

    /// The subprotocol and extensions an accepting answer agreed on.
    fn agreement(
        &self,
        response: &HandshakeResponse,
        config: &Config,
    ) -> Result<Negotiated, Error> {
        let headers = &response.headers;
        let mut chosen = headers.tokens("sec-websocket-protocol");
        let protocol = match (chosen.next(), chosen.next()) {
            (None, _) => None,
            (Some(protocol), None) if self.request.protocols.iter().any(|p| p == protocol) => {
                Some(protocol)
            }
            _ => return Err(Error::UnofferedProtocol),
        };
        let params = extensions::client_check(response.extensions(), config)?;
        let negotiated = Negotiated::new().with_extensions(params);
        Ok(match protocol {
            Some(protocol) => negotiated.with_protocol(protocol),
            None => negotiated,
        })
    }
}

/// A server's answer to our opening handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeResponse {
    status: u16,
    reason: String,
    headers: Headers,
}

impl HandshakeResponse {
    /// A response another HTTP layer has read.
    pub fn from_parts(status: u16, headers: Headers) -> Self {
        HandshakeResponse {
            status,
            reason: String::new(),
            headers,
        }
    }

    /// The HTTP status: 101 when the upgrade succeeded; otherwise e.g. 401,
    /// 403, or a 3xx redirect whose Location is in the headers.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase the server wrote.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// All response headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The subprotocol the server chose, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.headers.get("sec-websocket-protocol").map(str::trim)
    }

    /// The extensions the server accepted, as written.
    pub fn extensions(&self) -> impl Iterator<Item = &str> {
        self.headers.tokens("sec-websocket-extensions")
    }
}

/// Parses a complete response head.
pub(crate) fn parse_response(head: &[u8], max_headers: usize) -> Result<HandshakeResponse, Error> {
    let mut slots = alloc::vec![httparse::EMPTY_HEADER; max_headers];
    let mut parsed = httparse::Response::new(&mut slots);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(Error::MalformedResponse),
    }
    if parsed.version != Some(1) {
        return Err(Error::MalformedResponse);
    }
    Ok(HandshakeResponse {
        status: parsed.code.unwrap_or(0),
        reason: parsed.reason.unwrap_or("").to_owned(),
        headers: Headers::from_parsed(parsed.headers),
    })
}
