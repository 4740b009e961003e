//! The opening handshake (RFC 6455 §4): HTTP/1.1 Upgrade request and response.
//!
//! Parsing of the HTTP head is `httparse`'s job; this module checks what
//! WebSocket requires of it and writes the answers.

use crate::error::Error;
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

/// The GUID §1.3 appends to the key before hashing.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Computes `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (§4.2.2).
///
/// ```
/// // The example from RFC 6455 §1.3.
/// assert_eq!(
///     wsmachine::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/// );
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(key);
    sha1.update(WEBSOCKET_GUID.as_bytes());
    BASE64.encode(sha1.digest().bytes())
}

/// One header line as received: the name as sent, the raw value bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Header name, with the case the peer used.
    pub name: String,
    /// Header value; usually ASCII, but HTTP allows other bytes.
    pub value: Vec<u8>,
}

/// Headers of a handshake head, in the order received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// Every header line in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    /// The first value of `name` (case-insensitive) if it is valid UTF-8.
    pub fn get(&self, name: &str) -> Option<&str> {
        let header = self.0.iter().find(|h| h.name.eq_ignore_ascii_case(name))?;
        core::str::from_utf8(&header.value).ok()
    }

    /// Every value of `name` (case-insensitive), raw.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }

    /// Comma-separated tokens across every line of `name`, trimmed and
    /// non-empty, as HTTP list headers (Connection, Upgrade, ...) are written.
    fn tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name)
            .filter_map(|v| core::str::from_utf8(v).ok())
            .flat_map(split_list)
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.tokens(name).any(|t| t.eq_ignore_ascii_case(token))
    }

    fn from_parsed(parsed: &[httparse::Header<'_>]) -> Self {
        Headers(
            parsed
                .iter()
                .map(|h| Header {
                    name: h.name.to_owned(),
                    value: h.value.to_vec(),
                })
                .collect(),
        )
    }
}

/// Splits an HTTP list (`a, b;x="1,2", c`) at the commas outside quotes.
pub(crate) fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    core::iter::from_fn(move || loop {
        let s = rest?;
        let mut in_quotes = false;
        let mut escaped = false;
        let mut cut = None;
        for (i, c) in s.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if in_quotes => escaped = true,
                '"' => in_quotes = !in_quotes,
                ',' if !in_quotes => {
                    cut = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let (item, next) = match cut {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        rest = next;
        let item = item.trim();
        if !item.is_empty() {
            return Some(item);
        }
    })
}

/// A client's opening-handshake request, as a server received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeRequest {
    method: String,
    target: String,
    headers: Headers,
    is_upgrade: bool,
}

impl HandshakeRequest {
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

    pub(crate) fn key(&self) -> Option<&[u8]> {
        self.headers.get_all("sec-websocket-key").next()
    }
}

/// Outcome of reading a complete request head.
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
    let method = req.method.unwrap_or_default();
    let target = req.path.unwrap_or_default();
    if req.version != Some(1) {
        return Err(Error::UnsupportedHttpVersion);
    }
    let headers = Headers::from_parsed(req.headers);
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
    };
    if !is_upgrade && allow_plain_http && request.headers.get("sec-websocket-key").is_none() {
        return Ok(request);
    }
    if !is_upgrade || !request.headers.has_token("connection", "upgrade") {
        return Err(Error::NotAnUpgrade);
    }
    if !has_single_value(&request.headers, "sec-websocket-version", |v| v == b"13") {
        return Err(Error::UnsupportedWebSocketVersion);
    }
    if !has_single_value(&request.headers, "sec-websocket-key", is_valid_key) {
        return Err(Error::InvalidKey);
    }
    Ok(request)
}

/// True when `name` appears exactly once and its trimmed value passes `check`.
fn has_single_value(headers: &Headers, name: &str, check: impl Fn(&[u8]) -> bool) -> bool {
    let mut values = headers.get_all(name);
    match (values.next(), values.next()) {
        (Some(value), None) => check(value.trim_ascii()),
        _ => false,
    }
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
    pub(crate) protocol: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) extensions: bool,
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

/// Header names and values we write must not smuggle line breaks.
pub(crate) fn is_safe_header(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
        && !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

pub(crate) fn write_accept_response(
    out: &mut Vec<u8>,
    key: &[u8],
    accept: &Accept,
    extensions: Option<&str>,
) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    out.extend_from_slice(accept_key(key).as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(protocol) = &accept.protocol {
        write_header(out, "Sec-WebSocket-Protocol", protocol);
    }
    if let Some(extensions) = extensions {
        write_header(out, "Sec-WebSocket-Extensions", extensions);
    }
    for (name, value) in &accept.headers {
        write_header(out, name, value);
    }
    out.extend_from_slice(b"\r\n");
}

fn write_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The reason phrase for the statuses a WebSocket server commonly sends.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Writes a complete non-101 HTTP response; the connection closes after it.
pub(crate) fn write_http_response(
    out: &mut Vec<u8>,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) {
    use core::fmt::Write as _;
    let mut line = String::new();
    let _ = write!(
        line,
        "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason_phrase(status),
        body.len()
    );
    out.extend_from_slice(line.as_bytes());
    for (name, value) in headers {
        write_header(out, name, value);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
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

/// What a client asks for in its opening handshake.
///
/// ```
/// use wsmachine::ClientRequest;
/// let request = ClientRequest::from_url("ws://example.com:8080/chat?room=1")
///     .unwrap()
///     .origin("http://example.com")
///     .protocol("chat");
/// assert_eq!(request.host(), "example.com:8080");
/// assert_eq!(request.target(), "/chat?room=1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRequest {
    host: String,
    target: String,
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
        f.write_str("not a ws:// or wss:// URL with a host")
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
            origin: None,
            protocols: Vec::new(),
            extensions: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Reads host, port, path and query from a `ws://` or `wss://` URL (the
    /// fragment is dropped, §3). TLS is the caller's business: `wss` only
    /// changes the default port.
    pub fn from_url(url: &str) -> Result<Self, InvalidUrl> {
        let (scheme, rest) = url.split_once("://").ok_or(InvalidUrl)?;
        if !scheme.eq_ignore_ascii_case("ws") && !scheme.eq_ignore_ascii_case("wss") {
            return Err(InvalidUrl);
        }
        let rest = rest.split('#').next().unwrap_or("");
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        let authority = authority.rsplit('@').next().unwrap_or("");
        if authority.is_empty() || authority.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(InvalidUrl);
        }
        let target = if target.starts_with('?') {
            alloc::format!("/{target}")
        } else {
            target.to_owned()
        };
        Ok(ClientRequest::new(authority, &target))
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

    /// The Host header value.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The request target: path and query.
    pub fn target(&self) -> &str {
        &self.target
    }

    pub(crate) fn protocols(&self) -> &[String] {
        &self.protocols
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

    pub(crate) fn write(&self, out: &mut Vec<u8>, key: &str, extra_offers: &[String]) {
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        write_header(out, "Host", &self.host);
        out.extend_from_slice(b"Upgrade: websocket\r\nConnection: Upgrade\r\n");
        write_header(out, "Sec-WebSocket-Key", key);
        out.extend_from_slice(b"Sec-WebSocket-Version: 13\r\n");
        if let Some(origin) = &self.origin {
            write_header(out, "Origin", origin);
        }
        if !self.protocols.is_empty() {
            write_header(out, "Sec-WebSocket-Protocol", &self.protocols.join(", "));
        }
        let offers: Vec<&str> = extra_offers
            .iter()
            .chain(&self.extensions)
            .map(String::as_str)
            .collect();
        if !offers.is_empty() {
            write_header(out, "Sec-WebSocket-Extensions", &offers.join(", "));
        }
        for (name, value) in &self.headers {
            write_header(out, name, value);
        }
        out.extend_from_slice(b"\r\n");
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

/// Parses and, for a 101, validates a complete response head.
pub(crate) fn parse_response(
    head: &[u8],
    max_headers: usize,
    key: &str,
    request: &ClientRequest,
) -> Result<HandshakeResponse, Error> {
    let mut slots = alloc::vec![httparse::EMPTY_HEADER; max_headers];
    let mut parsed = httparse::Response::new(&mut slots);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(Error::MalformedResponse),
    }
    if parsed.version != Some(1) {
        return Err(Error::MalformedResponse);
    }
    let response = HandshakeResponse {
        status: parsed.code.unwrap_or(0),
        reason: parsed.reason.unwrap_or("").to_owned(),
        headers: Headers::from_parsed(parsed.headers),
    };
    if response.status != 101 {
        return Ok(response);
    }
    let headers = &response.headers;
    if !headers.has_token("upgrade", "websocket") || !headers.has_token("connection", "upgrade") {
        return Err(Error::ResponseNotAnUpgrade);
    }
    let expected = accept_key(key.as_bytes());
    if !has_single_value(headers, "sec-websocket-accept", |v| {
        v == expected.as_bytes()
    }) {
        return Err(Error::InvalidAccept);
    }
    let protocol_ok = {
        let mut chosen = headers.tokens("sec-websocket-protocol");
        match (chosen.next(), chosen.next()) {
            (None, _) => true,
            (Some(protocol), None) => request.protocols().iter().any(|p| p == protocol),
            (Some(_), Some(_)) => false,
        }
    };
    if !protocol_ok {
        return Err(Error::UnofferedProtocol);
    }
    Ok(response)
}

/// Finds the end of an HTTP head (`\r\n\r\n`), resuming from `scanned` so
/// byte-at-a-time input stays linear.
pub(crate) fn find_head_end(buf: &[u8], scanned: usize) -> Option<usize> {
    let from = scanned.saturating_sub(3);
    memchr::memmem::find(&buf[from..], b"\r\n\r\n").map(|i| from + i + 4)
}
