//! Conversions to and from the `http` crate (feature `http`), for servers
//! whose HTTP layer (hyper, axum) performs the upgrade and clients whose
//! HTTP layer sends the request.
//!
//! ```
//! use wsmachine::{Accept, Config, Connection, HandshakeRequest, Role};
//! let request = http::Request::get("/chat")
//!     .header("host", "example.com")
//!     .header("upgrade", "websocket")
//!     .header("connection", "Upgrade")
//!     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
//!     .header("sec-websocket-version", "13")
//!     .header("sec-websocket-extensions", "permessage-deflate")
//!     .body(())
//!     .unwrap();
//! let config = Config::default();
//! let ws_request = HandshakeRequest::try_from(&request).unwrap();
//! let upgrade = ws_request.accept_with(&Accept::new(), &config).unwrap();
//! let response: http::Response<()> = upgrade.to_response();
//! assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
//! # #[cfg(feature = "deflate")]
//! assert_eq!(response.headers()["sec-websocket-extensions"], "permessage-deflate");
//! // ... the HTTP layer sends it and hands over the upgraded stream ...
//! let conn = Connection::upgraded_with(Role::Server, config, upgrade.into_negotiated()).unwrap();
//! # let _ = conn;
//! ```

use crate::error::Error;
use crate::handshake::{ClientHandshake, HandshakeRequest, HandshakeResponse, Headers, Upgrade};
use http::header::{HeaderMap, HeaderName, HeaderValue};

fn pairs(map: &HeaderMap) -> impl Iterator<Item = (&str, &[u8])> {
    map.iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
}

fn headers_from(map: &HeaderMap) -> Headers {
    Headers::from_pairs(pairs(map))
}

/// The request's headers, with its URI's authority as `Host` when it has no
/// `Host` header (HTTP/2 carries the host as `:authority`, which `http`
/// keeps in the URI).
fn request_headers<'a>(map: &'a HeaderMap, uri: &'a http::Uri) -> Headers {
    let authority = uri
        .authority()
        .filter(|_| !map.contains_key(http::header::HOST))
        .map(|authority| ("host", authority.as_str().as_bytes()));
    Headers::from_pairs(pairs(map).chain(authority))
}

impl TryFrom<&http::request::Parts> for HandshakeRequest {
    type Error = Error;

    /// Checks an HTTP/1.1 upgrade request read by the HTTP layer; the
    /// error's [`Error::http_status`] (see [`error_response`]) is the answer
    /// to a request that is not one.
    fn try_from(parts: &http::request::Parts) -> Result<Self, Error> {
        let target = parts.uri.path_and_query().map_or("/", |path| path.as_str());
        let headers = request_headers(&parts.headers, &parts.uri);
        HandshakeRequest::from_parts(parts.method.as_str(), target, headers)
    }
}

impl<B> TryFrom<&http::Request<B>> for HandshakeRequest {
    type Error = Error;

    fn try_from(request: &http::Request<B>) -> Result<Self, Error> {
        let target = request
            .uri()
            .path_and_query()
            .map_or("/", |path| path.as_str());
        let headers = request_headers(request.headers(), request.uri());
        HandshakeRequest::from_parts(request.method().as_str(), target, headers)
    }
}

/// Adds `name: value` pairs that came through the machine's checks (no line
/// breaks); any the `http` crate still refuses are left out.
fn append_headers<'a>(map: &mut HeaderMap, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            map.append(name, value);
        }
    }
}

impl Upgrade {
    /// The response for the HTTP layer to send: a 101 with `Upgrade` and
    /// `Connection` over HTTP/1.1, a 200 for an HTTP/2 extended CONNECT.
    pub fn to_response(&self) -> http::Response<()> {
        let mut response = http::Response::new(());
        if self.is_extended_connect() {
            *response.status_mut() = http::StatusCode::OK;
        } else {
            *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
            append_headers(
                response.headers_mut(),
                [("upgrade", "websocket"), ("connection", "Upgrade")],
            );
        }
        append_headers(response.headers_mut(), self.headers());
        response
    }
}

impl HandshakeRequest {
    /// An HTTP/2 extended CONNECT read by the HTTP layer, with its
    /// `:protocol` (which `http` does not carry: hyper and h2 keep it in the
    /// request's extensions). See [`HandshakeRequest::from_extended_connect`].
    pub fn from_extended_connect_parts(
        parts: &http::request::Parts,
        protocol: &str,
    ) -> Result<Self, Error> {
        if parts.method != http::Method::CONNECT {
            return Err(Error::MethodNotGet);
        }
        let target = parts.uri.path_and_query().map_or("/", |path| path.as_str());
        let headers = request_headers(&parts.headers, &parts.uri);
        HandshakeRequest::from_extended_connect(protocol, target, headers)
    }
}

/// The answer to a request that failed [`HandshakeRequest`]'s checks: its
/// HTTP status (400 by default), `Sec-WebSocket-Version: 13` with a 426, and
/// the reason as the body.
///
/// ```
/// use wsmachine::{http::error_response, Error};
/// let response = error_response(Error::UnsupportedWebSocketVersion);
/// assert_eq!(response.status(), 426);
/// assert_eq!(response.headers()["sec-websocket-version"], "13");
/// ```
pub fn error_response(error: Error) -> http::Response<&'static str> {
    let status = error.http_status().unwrap_or(400);
    let mut response = http::Response::new(error.description());
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    append_headers(headers, [("content-type", "text/plain; charset=utf-8")]);
    match error {
        Error::UnsupportedWebSocketVersion => {
            append_headers(headers, [("sec-websocket-version", "13")])
        }
        Error::MethodNotGet => append_headers(headers, [("allow", "GET")]),
        _ => {}
    }
    response
}

impl ClientHandshake {
    /// The request for an HTTP layer to send (GET, the target, Host and
    /// every WebSocket header).
    pub fn to_request(&self) -> http::Request<()> {
        let mut request = http::Request::new(());
        if let Ok(uri) = self.request().target().parse() {
            *request.uri_mut() = uri;
        }
        append_headers(request.headers_mut(), [("host", self.request().host())]);
        let headers = self.headers();
        append_headers(
            request.headers_mut(),
            headers.iter().map(|(name, value)| (*name, value.as_str())),
        );
        request
    }
}

impl From<&http::response::Parts> for HandshakeResponse {
    fn from(parts: &http::response::Parts) -> Self {
        HandshakeResponse::from_parts(parts.status.as_u16(), headers_from(&parts.headers))
    }
}

impl<B> From<&http::Response<B>> for HandshakeResponse {
    fn from(response: &http::Response<B>) -> Self {
        HandshakeResponse::from_parts(response.status().as_u16(), headers_from(response.headers()))
    }
}
