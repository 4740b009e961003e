//! The server's side of the opening handshake (§4.2): the client's request,
//! checked; the decision to accept, and the answers.

use super::headers::{accept_key, is_safe_header, write_header, write_http_response, Headers};
use super::negotiated::Negotiated;
use crate::config::Config;
use crate::error::{Error, SendError};
use crate::extensions;
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

/// A client's opening-handshake request, as a server received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeRequest {
    method: String,
    target: String,
    headers: Headers,
    is_upgrade: bool,
    /// An HTTP/2 extended CONNECT (RFC 8441) rather than an HTTP/1.1 Upgrade.
    extended_connect: bool,
}

impl HandshakeRequest {
    /// A request another HTTP layer has read (hyper, axum, ...), checked as
    /// §4.2.1 requires of an HTTP/1.1 upgrade: GET, one Host, `Upgrade:
    /// websocket`, `Connection: Upgrade`, version 13 and a valid key. The
    /// error says which HTTP status to answer with
    /// ([`Error::http_status`]).
    ///
    /// ```
    /// use wsmachine::{Accept, Config, Connection, HandshakeRequest, Headers, Role};
    /// let headers = Headers::from_pairs([
    ///     ("Host", &b"example.com"[..]),
    ///     ("Upgrade", b"websocket"),
    ///     ("Connection", b"Upgrade"),
    ///     ("Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    ///     ("Sec-WebSocket-Version", b"13"),
    ///     ("Sec-WebSocket-Protocol", b"chat, superchat"),
    /// ]);
    /// let request = HandshakeRequest::from_parts("GET", "/chat", headers).unwrap();
    /// let config = Config::default();
    /// let upgrade = request.accept_with(&Accept::new().protocol("chat"), &config).unwrap();
    /// assert!(upgrade
    ///     .headers()
    ///     .any(|(name, value)| name == "Sec-WebSocket-Accept" && value == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    /// // The HTTP layer sends its 101 with those headers, then:
    /// let conn = Connection::upgraded_with(Role::Server, config, upgrade.into_negotiated()).unwrap();
    /// assert_eq!(conn.protocol(), Some("chat"));
    /// ```
    pub fn from_parts(method: &str, target: &str, headers: Headers) -> Result<Self, Error> {
        validate(method, target, headers, false)
    }

    /// An HTTP/2 extended CONNECT (RFC 8441 §4) another layer has read: the
    /// `:protocol` pseudo-header must be `websocket` (else
    /// [`Error::UnsupportedConnectProtocol`], 501) and the version 13;
    /// there is no key (the CONNECT stream is the proof), and success is a
    /// 2xx, not a 101 ([`Upgrade::is_extended_connect`]). Framing, masking
    /// and compression are the same as over HTTP/1.1.
    ///
    /// The transport maps as RFC 8441 §6 says: the stream's orderly end
    /// (END_STREAM) is where HTTP/1.1 closes TCP, a stream reset is an abort,
    /// and END_STREAM received is the end of input (`receive_eof`).
    ///
    /// ```
    /// use wsmachine::{Accept, Config, HandshakeRequest, Headers};
    /// let headers = Headers::from_pairs([
    ///     ("sec-websocket-version", &b"13"[..]),
    ///     ("sec-websocket-protocol", b"chat"),
    /// ]);
    /// let request = HandshakeRequest::from_extended_connect("websocket", "/chat", headers).unwrap();
    /// let upgrade = request.accept_with(&Accept::new().protocol("chat"), &Config::default()).unwrap();
    /// assert!(upgrade.is_extended_connect());
    /// assert!(upgrade.headers().all(|(name, _)| name != "Sec-WebSocket-Accept"));
    /// ```
    pub fn from_extended_connect(
        protocol: &str,
        target: &str,
        headers: Headers,
    ) -> Result<Self, Error> {
        if !protocol.eq_ignore_ascii_case("websocket") {
            return Err(Error::UnsupportedConnectProtocol);
        }
        if !headers.has_single_value("sec-websocket-version", |v| v == b"13") {
            return Err(Error::UnsupportedWebSocketVersion);
        }
        Ok(HandshakeRequest {
            method: "CONNECT".to_owned(),
            target: target.to_owned(),
            headers,
            is_upgrade: true,
            extended_connect: true,
        })
    }

    /// True for an HTTP/2 extended CONNECT (RFC 8441).
    pub fn is_extended_connect(&self) -> bool {
        self.extended_connect
    }

    /// The request method (always `GET` for a WebSocket upgrade).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request target as sent: path and query (`/chat?room=1`).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The path part of the target.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query part of the target, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// The Host header.
    pub fn host(&self) -> Option<&str> {
        self.headers.get("host")
    }

    /// The Origin header a browser sends (§10.2): check it before accepting.
    pub fn origin(&self) -> Option<&str> {
        self.headers.get("origin")
    }

    /// Subprotocols offered in `Sec-WebSocket-Protocol`, in preference order.
    pub fn protocols(&self) -> impl Iterator<Item = &str> {
        self.headers.tokens("sec-websocket-protocol")
    }

    /// Extension offers in `Sec-WebSocket-Extensions`, each with its
    /// parameters as written (`permessage-deflate; client_max_window_bits`).
    pub fn extensions(&self) -> impl Iterator<Item = &str> {
        self.headers.tokens("sec-websocket-extensions")
    }

    /// All headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// False for a plain HTTP request, which the server only sees with
    /// [`Config::allow_plain_http`](crate::Config::allow_plain_http).
    pub fn is_websocket_upgrade(&self) -> bool {
        self.is_upgrade
    }

    fn key(&self) -> Option<&[u8]> {
        self.headers.get_all("sec-websocket-key").next()
    }

    /// Decides the answer to this request outside the machine: checks that
    /// the chosen subprotocol was offered and the extra headers are safe,
    /// negotiates the extensions `config` allows, and returns the 101's
    /// headers with what was agreed. [`Connection::accept`](crate::Connection::accept)
    /// does the same inside.
    pub fn accept_with(&self, accept: &Accept, config: &Config) -> Result<Upgrade, SendError> {
        if !self.is_upgrade {
            return Err(SendError::WrongState);
        }
        if let Some(protocol) = &accept.protocol {
            if !self.protocols().any(|p| p == protocol) {
                return Err(SendError::InvalidHttp);
            }
        }
        if !accept.headers.iter().all(|(n, v)| is_safe_header(n, v)) {
            return Err(SendError::InvalidHttp);
        }
        let (params, extension_header) = if accept.extensions {
            extensions::server_choose(self.extensions(), config)
        } else {
            Default::default()
        };
        let mut headers = Vec::with_capacity(3 + accept.headers.len());
        if !self.extended_connect {
            let key = self.key().unwrap_or_default();
            headers.push(("Sec-WebSocket-Accept".to_owned(), accept_key(key)));
        }
        let mut negotiated = Negotiated::new().with_extensions(params);
        if let Some(protocol) = &accept.protocol {
            headers.push(("Sec-WebSocket-Protocol".to_owned(), protocol.clone()));
            negotiated = negotiated.with_protocol(protocol);
        }
        if let Some(value) = extension_header {
            headers.push(("Sec-WebSocket-Extensions".to_owned(), value));
        }
        headers.extend(accept.headers.iter().cloned());
        Ok(Upgrade {
            headers,
            negotiated,
            extended_connect: self.extended_connect,
        })
    }
}

/// An accepted upgrade: the headers the 101 response carries, and what was
/// agreed (for [`Connection::upgraded_with`](crate::Connection::upgraded_with)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upgrade {
    headers: Vec<(String, String)>,
    negotiated: Negotiated,
    extended_connect: bool,
}

impl Upgrade {
    /// The WebSocket headers of the 101 response (`Sec-WebSocket-Accept`,
    /// the chosen protocol and extensions, the caller's own), without
    /// `Upgrade` and `Connection`, which the HTTP layer adds.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// True when this answers an HTTP/2 extended CONNECT: the response is a
    /// 200 with these headers, no `Upgrade`, no `Connection`.
    pub fn is_extended_connect(&self) -> bool {
        self.extended_connect
    }

    /// What was agreed.
    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// What was agreed, for [`Connection::upgraded_with`](crate::Connection::upgraded_with).
    pub fn into_negotiated(self) -> Negotiated {
        self.negotiated
    }

    /// Writes the whole HTTP/1.1 101 response head.
    pub fn write_response(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
        );
        for (name, value) in &self.headers {
            write_header(out, name, value);
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Reads a complete request head and checks it.
pub(crate) fn parse_request(
    head: &[u8],
    max_headers: usize,
    allow_plain_http: bool,
) -> Result<HandshakeRequest, Error> {
    let mut slots = alloc::vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut slots);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(Error::MalformedRequest),
        Err(httparse::Error::TooManyHeaders) => return Err(Error::TooManyHeaders),
        Err(httparse::Error::Version) => return Err(Error::UnsupportedHttpVersion),
        Err(_) => return Err(Error::MalformedRequest),
    }
    if req.version != Some(1) {
        return Err(Error::UnsupportedHttpVersion);
    }
    let method = req.method.unwrap_or_default();
    let target = req.path.unwrap_or_default();
    validate(
        method,
        target,
        Headers::from_parsed(req.headers),
        allow_plain_http,
    )
}

fn validate(
    method: &str,
    target: &str,
    headers: Headers,
    allow_plain_http: bool,
) -> Result<HandshakeRequest, Error> {
    if method != "GET" {
        return Err(Error::MethodNotGet);
    }
    if headers.get_all("host").count() != 1 {
        return Err(Error::MissingHost);
    }
    let is_upgrade = headers.has_token("upgrade", "websocket");
    let request = HandshakeRequest {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        is_upgrade,
        extended_connect: false,
    };
    if !is_upgrade && allow_plain_http && request.headers.get("sec-websocket-key").is_none() {
        return Ok(request);
    }
    if !is_upgrade || !request.headers.has_token("connection", "upgrade") {
        return Err(Error::NotAnUpgrade);
    }
    if !request
        .headers
        .has_single_value("sec-websocket-version", |v| v == b"13")
    {
        return Err(Error::UnsupportedWebSocketVersion);
    }
    if !request
        .headers
        .has_single_value("sec-websocket-key", is_valid_key)
    {
        return Err(Error::InvalidKey);
    }
    Ok(request)
}

/// A key must be 16 bytes of base64: 24 characters ending in `==`.
fn is_valid_key(key: &[u8]) -> bool {
    let mut decoded = [0u8; 18];
    key.len() == 24 && BASE64.decode_slice(key, &mut decoded) == Ok(16)
}

/// What a server sends back to accept the upgrade.
///
/// ```
/// let accept = wsmachine::Accept::new().protocol("chat").header("Set-Cookie", "id=1");
/// # let _ = accept;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accept {
    protocol: Option<String>,
    headers: Vec<(String, String)>,
    extensions: bool,
}

impl Default for Accept {
    fn default() -> Self {
        Accept {
            protocol: None,
            headers: Vec::new(),
            extensions: true,
        }
    }
}

impl Accept {
    /// Accept with no subprotocol and no extra headers; extensions the
    /// client offered are negotiated as the config allows.
    pub fn new() -> Self {
        Accept::default()
    }

    /// Declines every extension for this connection (e.g. compression for
    /// an endpoint that only carries already-compressed data).
    pub fn without_extensions(mut self) -> Self {
        self.extensions = false;
        self
    }

    /// Selects one of the subprotocols the client offered.
    pub fn protocol(mut self, protocol: &str) -> Self {
        self.protocol = Some(protocol.to_owned());
        self
    }

    /// Adds a header to the 101 response (a cookie, a server name, ...).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// Writes a plain HTTP response (a rejection), checking what the caller gave.
pub(crate) fn write_rejection(
    out: &mut Vec<u8>,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(), SendError> {
    if !(200..=599).contains(&status) || !headers.iter().all(|(n, v)| is_safe_header(n, v)) {
        return Err(SendError::InvalidHttp);
    }
    write_http_response(out, status, headers, body);
    Ok(())
}

/// The response a server sends for a handshake request it could not accept.
pub(crate) fn write_error_response(out: &mut Vec<u8>, error: Error) {
    let status = error.http_status().unwrap_or(400);
    let extra: &[(&str, &str)] = match error {
        Error::UnsupportedWebSocketVersion => &[("Sec-WebSocket-Version", "13")],
        Error::MethodNotGet => &[("Allow", "GET")],
        _ => &[],
    };
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    headers.push(("Content-Type", "text/plain; charset=utf-8"));
    write_http_response(out, status, &headers, error.description().as_bytes());
}
