//! HTTP pieces both roles use: header lists, the accept key, and writing a
//! head.

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
    /// Headers from name/value pairs, e.g. from another HTTP library.
    ///
    /// ```
    /// use wsmachine::Headers;
    /// let headers = Headers::from_pairs([("Host", &b"example.com"[..])]);
    /// assert_eq!(headers.get("host"), Some("example.com"));
    /// ```
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        Headers(
            pairs
                .into_iter()
                .map(|(name, value)| Header {
                    name: name.to_owned(),
                    value: value.to_vec(),
                })
                .collect(),
        )
    }

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
    pub fn tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name)
            .filter_map(|v| core::str::from_utf8(v).ok())
            .flat_map(split_list)
    }

    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.tokens(name).any(|t| t.eq_ignore_ascii_case(token))
    }

    /// True when `name` appears exactly once and its trimmed value passes `check`.
    pub(crate) fn has_single_value(&self, name: &str, check: impl Fn(&[u8]) -> bool) -> bool {
        let mut values = self.get_all(name);
        match (values.next(), values.next()) {
            (Some(value), None) => check(value.trim_ascii()),
            _ => false,
        }
    }

    pub(crate) fn from_parsed(parsed: &[httparse::Header<'_>]) -> Self {
        Headers::from_pairs(parsed.iter().map(|h| (h.name, h.value)))
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

/// Header names and values we write must not smuggle line breaks.
pub(crate) fn is_safe_header(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
        && !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

pub(crate) fn write_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The reason phrase for the statuses a WebSocket server commonly sends.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
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
        501 => "Not Implemented",
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

/// Finds the end of an HTTP head (`\r\n\r\n`), resuming from `scanned` so
/// byte-at-a-time input stays linear.
pub(crate) fn find_head_end(buf: &[u8], scanned: usize) -> Option<usize> {
    let from = scanned.saturating_sub(3);
    memchr::memmem::find(&buf[from..], b"\r\n\r\n").map(|i| from + i + 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn every_status_has_its_reason_phrase() {
        let table = [
            (200, "OK"),
            (204, "No Content"),
            (301, "Moved Permanently"),
            (302, "Found"),
            (304, "Not Modified"),
            (400, "Bad Request"),
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (404, "Not Found"),
            (405, "Method Not Allowed"),
            (408, "Request Timeout"),
            (426, "Upgrade Required"),
            (429, "Too Many Requests"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (501, "Not Implemented"),
            (503, "Service Unavailable"),
            (505, "HTTP Version Not Supported"),
            (299, ""),
            (599, ""),
        ];
        for (status, phrase) in table {
            assert_eq!(reason_phrase(status), phrase, "{status}");
        }
    }

    #[test]
    fn a_response_is_its_status_line_headers_and_body() {
        let mut out = Vec::new();
        write_http_response(&mut out, 403, &[("X-Why", "origin")], b"no");
        assert_eq!(
            out,
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nConnection: close\r\n\
              X-Why: origin\r\n\r\nno"
        );
    }

    #[test]
    fn lists_split_at_commas_outside_quotes() {
        let items: Vec<&str> = split_list(r#" a ,, b;x="1,2" ,c;y="q\",r", "#).collect();
        assert_eq!(items, vec!["a", r#"b;x="1,2""#, r#"c;y="q\",r""#]);
        // A backslash escapes only inside quotes.
        let items: Vec<&str> = split_list(r#"a\,b,"c\\",d"#).collect();
        assert_eq!(items, vec![r"a\", "b", r#""c\\""#, "d"]);
        assert_eq!(split_list(" , ,").count(), 0);
    }

    #[test]
    fn headers_are_found_by_any_case_and_listed_in_order() {
        let headers = Headers::from_pairs([
            ("Connection", &b"keep-alive, Upgrade"[..]),
            ("X-One", b" 13 "),
            ("connection", b"close"),
            ("X-Bad", b"\xff"),
        ]);
        assert_eq!(headers.get("CONNECTION"), Some("keep-alive, Upgrade"));
        assert_eq!(headers.get("x-bad"), None);
        assert_eq!(headers.get("absent"), None);
        let all: Vec<&[u8]> = headers.get_all("Connection").collect();
        assert_eq!(all, vec![&b"keep-alive, Upgrade"[..], b"close"]);
        let tokens: Vec<&str> = headers.tokens("connection").collect();
        assert_eq!(tokens, vec!["keep-alive", "Upgrade", "close"]);
        assert!(headers.has_token("Connection", "upgrade"));
        assert!(!headers.has_token("Connection", "upgrad"));
        assert!(headers.has_single_value("x-one", |v| v == b"13"));
        assert!(!headers.has_single_value("x-one", |v| v == b" 13 "));
        assert!(!headers.has_single_value("connection", |_| true));
        assert!(!headers.has_single_value("absent", |_| true));
        let names: Vec<&str> = headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, vec!["Connection", "X-One", "connection", "X-Bad"]);
    }

    #[test]
    fn unsafe_header_names_and_values_are_refused() {
        assert!(is_safe_header("X-Name", "any value: with colons"));
        assert!(!is_safe_header("", "v"));
        assert!(!is_safe_header("X Name", "v"));
        assert!(!is_safe_header("X:Name", "v"));
        assert!(!is_safe_header("X-Name\r", "v"));
        for bad in ["a\rb", "a\nb", "a\0b"] {
            assert!(!is_safe_header("X-Name", bad), "{bad:?}");
        }
        let mut out = Vec::new();
        write_header(&mut out, "X-Name", "v");
        assert_eq!(out, b"X-Name: v\r\n");
    }

    #[test]
    fn the_head_end_is_found_wherever_the_search_resumes() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody";
        let end = head.len() - 4;
        // `scanned`: what an earlier, shorter read held (so at most all but
        // the terminator's last byte), even if it ended inside the terminator.
        for scanned in 0..end {
            assert_eq!(find_head_end(&head[..scanned], 0), None);
            assert_eq!(find_head_end(head, scanned), Some(end), "{scanned}");
        }
        assert_eq!(find_head_end(b"\r\n\r\n", 0), Some(4));
    }
}
