//! The HTTP `CONNECT` exchange: one request, one response head.

use super::{ProxyError, TunnelStatus};
use alloc::format;
use alloc::vec::Vec;
use base64::Engine as _;

/// Longest response head accepted from a proxy.
const MAX_HEAD: usize = 16 * 1024;

#[derive(Debug)]
pub(super) struct HttpConnect {
    output: Vec<u8>,
    sent: usize,
    input: Vec<u8>,
    /// Where the target's bytes start in `input`, once the head is read.
    body_at: Option<usize>,
    error: Option<ProxyError>,
}

impl HttpConnect {
    pub(super) fn new(host: &str, port: u16, credentials: Option<(&str, &str)>) -> Self {
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut output = Vec::new();
        let mut error = None;
        let single_line = |s: &str| !s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
        if !single_line(&authority) || authority.contains(' ') {
            error = Some(ProxyError::Unsendable);
        }
        output.extend_from_slice(
            format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n").as_bytes(),
        );
        if let Some((user, password)) = credentials {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            output.extend_from_slice(format!("Proxy-Authorization: Basic {token}\r\n").as_bytes());
        }
        output.extend_from_slice(b"\r\n");
        HttpConnect {
            output,
            sent: 0,
            input: Vec::new(),
            body_at: None,
            error,
        }
    }

    pub(super) fn pending_output(&self) -> &[u8] {
        if self.error.is_some() {
            return &[];
        }
        &self.output[self.sent..]
    }

    pub(super) fn consume_output(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.output.len());
    }

    pub(super) fn receive(&mut self, bytes: &[u8]) -> Result<TunnelStatus, ProxyError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if self.body_at.is_some() {
            self.input.extend_from_slice(bytes);
            return Ok(TunnelStatus::Open);
        }
        let scanned = self.input.len().saturating_sub(3);
        self.input.extend_from_slice(bytes);
        let Some(end) =
            memchr::memmem::find(&self.input[scanned..], b"\r\n\r\n").map(|i| scanned + i + 4)
        else {
            if self.input.len() > MAX_HEAD {
                return Err(self.fail(ProxyError::TooLarge));
            }
            return Ok(TunnelStatus::NeedInput);
        };
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let status = match response.parse(&self.input[..end]) {
            Ok(httparse::Status::Complete(_)) => response.code.unwrap_or(0),
            _ => return Err(self.fail(ProxyError::Malformed)),
        };
        if !(200..300).contains(&status) {
            return Err(self.fail(ProxyError::HttpStatus(status)));
        }
        self.body_at = Some(end);
        Ok(TunnelStatus::Open)
    }

    fn fail(&mut self, error: ProxyError) -> ProxyError {
        self.error = Some(error.clone());
        error
    }

    pub(super) fn leftover(&self) -> &[u8] {
        match self.body_at {
            Some(at) => &self.input[at..],
            None => &[],
        }
    }
}
