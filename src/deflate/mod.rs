//! permessage-deflate (RFC 7692): the parameters and their negotiation;
//! `codec` compresses and inflates.
//!
//! The backend is flate2 over zlib-rs (pure Rust). zlib cannot compress
//! with an 8-bit window (raw deflate needs at least 9), so when a peer asks
//! for 8 on our sending side we agree and simply send uncompressed messages,
//! which permessage-deflate allows; inflating is unaffected.

mod codec;

#[cfg(feature = "bytes")]
pub(crate) use codec::compress_standalone;
pub(crate) use codec::{Deflater, Inflater};

use crate::error::Error;
use alloc::format;
use alloc::string::String;

/// What this endpoint offers (client) or accepts (server).
///
/// ```
/// use wsmachine::{Config, DeflateConfig};
/// let config = Config::default().with_deflate(Some(DeflateConfig::low_memory()));
/// # let _ = config;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Server: always reset our compression context after each message
    /// (saves memory, costs ratio). Client: ask the server to.
    pub server_no_context_takeover: bool,
    /// Server: ask the client to reset its context after each message.
    /// Client: reset ours after each message.
    pub client_no_context_takeover: bool,
    /// Largest LZ77 window (8–15 bits) for what the server compresses.
    pub server_max_window_bits: u8,
    /// Largest LZ77 window (8–15 bits) for what the client compresses.
    pub client_max_window_bits: u8,
    /// zlib compression level, 0–9.
    pub level: u32,
    /// Messages shorter than this are sent uncompressed.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            level: 6,
            threshold: 32,
        }
    }
}

impl DeflateConfig {
    /// Small windows and no context takeover in either direction: a few KiB
    /// per connection instead of a few hundred, for servers with many idle
    /// connections.
    pub fn low_memory() -> Self {
        DeflateConfig {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 9,
            client_max_window_bits: 9,
            level: 1,
            threshold: 64,
        }
    }
}

/// Parameters agreed in the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compression context after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after each message.
    pub client_no_context_takeover: bool,
    /// The server's compression window, in bits.
    pub server_max_window_bits: u8,
    /// The client's compression window, in bits.
    pub client_max_window_bits: u8,
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` value a server answers with.
    fn response(&self, client_bits_offered: bool) -> String {
        let window = |bits: u8| (bits < 15).then_some(bits);
        Params {
            server_no_context_takeover: self.server_no_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover,
            server_max_window_bits: window(self.server_max_window_bits),
            // Only an offer that mentioned it may be answered with it.
            client_max_window_bits: window(self.client_max_window_bits)
                .filter(|_| client_bits_offered)
                .map(Some),
        }
        .to_header()
    }
}

/// One offer or response, its parameters checked for RFC 7692's rules:
/// known names, no duplicates, window values 8–15.
#[derive(Default)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value.
    client_max_window_bits: Option<Option<u8>>,
}

impl Params {
    /// Writes `permessage-deflate` with these parameters, the inverse of [`parse`].
    fn to_header(&self) -> String {
        let mut out = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            out.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            out.push_str("; client_no_context_takeover");
        }
        if let Some(bits) = self.server_max_window_bits {
            out.push_str(&format!("; server_max_window_bits={bits}"));
        }
        match self.client_max_window_bits {
            None => {}
            Some(None) => out.push_str("; client_max_window_bits"),
            Some(Some(bits)) => out.push_str(&format!("; client_max_window_bits={bits}")),
        }
        out
    }
}

/// Parses `permessage-deflate; a; b=1`; `None` for another extension or any
/// malformed parameter.
fn parse(element: &str) -> Option<Result<Params, ()>> {
    let mut parts = element.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut params = Params::default();
    for part in parts {
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (part, None),
        };
        let ok = match (name.to_ascii_lowercase().as_str(), value) {
            ("server_no_context_takeover", None) if !params.server_no_context_takeover => {
                params.server_no_context_takeover = true;
                true
            }
            ("client_no_context_takeover", None) if !params.client_no_context_takeover => {
                params.client_no_context_takeover = true;
                true
            }
            ("server_max_window_bits", Some(v)) if params.server_max_window_bits.is_none() => {
                params.server_max_window_bits = window_bits(v);
                params.server_max_window_bits.is_some()
            }
            ("client_max_window_bits", v) if params.client_max_window_bits.is_none() => match v {
                None => {
                    params.client_max_window_bits = Some(None);
                    true
                }
                Some(v) => {
                    params.client_max_window_bits = Some(window_bits(v).map(Some).unwrap_or(None));
                    window_bits(v).is_some()
                }
            },
            _ => false,
        };
        if !ok {
            return Some(Err(()));
        }
    }
    Some(Ok(params))
}

/// 8–15 in plain decimal, no leading zeros (RFC 7692 §7.1.2).
fn window_bits(value: &str) -> Option<u8> {
    match value {
        "8" | "9" => value.parse().ok(),
        "10" | "11" | "12" | "13" | "14" | "15" => value.parse().ok(),
        _ => None,
    }
}

/// Server: picks the first acceptable permessage-deflate offer.
/// Returns the agreed parameters and the response header value.
pub(crate) fn server_negotiate<'a>(
    offers: impl Iterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<(DeflateParams, String)> {
    for offer in offers {
        let Some(Ok(offer)) = parse(offer) else {
            continue; // another extension, or a malformed offer: decline it
        };
        let server_bits = offer
            .server_max_window_bits
            .unwrap_or(15)
            .min(config.server_max_window_bits.clamp(8, 15));
        let client_bits = match offer.client_max_window_bits {
            // The client may not limit its window unless it said it can.
            None => 15,
            Some(limit) => limit
                .unwrap_or(15)
                .min(config.client_max_window_bits.clamp(8, 15)),
        };
        let params = DeflateParams {
            server_no_context_takeover: offer.server_no_context_takeover
                || config.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover
                || config.client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        };
        let response = params.response(offer.client_max_window_bits.is_some());
        return Some((params, response));
    }
    None
}

/// Client: the offer to send.
pub(crate) fn client_offer(config: &DeflateConfig) -> String {
    let window = |bits: u8| (bits < 15).then_some(bits.clamp(8, 15));
    Params {
        server_no_context_takeover: config.server_no_context_takeover,
        client_no_context_takeover: config.client_no_context_takeover,
        server_max_window_bits: window(config.server_max_window_bits),
        // We can always limit our own window, so say so.
        client_max_window_bits: Some(window(config.client_max_window_bits)),
    }
    .to_header()
}

/// Client: checks the server's answer against what we offered.
pub(crate) fn client_accept(
    response: &str,
    config: &DeflateConfig,
) -> Result<DeflateParams, Error> {
    let params = match parse(response) {
        None => return Err(Error::UnofferedExtension),
        Some(Err(())) => return Err(Error::InvalidExtensionResponse),
        Some(Ok(params)) => params,
    };
    let offered_server_bits = config.server_max_window_bits.clamp(8, 15);
    let server_bits = params.server_max_window_bits.unwrap_or(15);
    if config.server_max_window_bits < 15 && server_bits > offered_server_bits {
        return Err(Error::InvalidExtensionResponse);
    }
    if config.server_no_context_takeover && !params.server_no_context_takeover {
        return Err(Error::InvalidExtensionResponse);
    }
    let client_bits = match params.client_max_window_bits {
        None => config.client_max_window_bits.clamp(8, 15),
        Some(None) => return Err(Error::InvalidExtensionResponse), // needs a value in a response
        Some(Some(bits)) => bits.min(config.client_max_window_bits.clamp(8, 15)),
    };
    Ok(DeflateParams {
        server_no_context_takeover: params.server_no_context_takeover,
        client_no_context_takeover: params.client_no_context_takeover
            || config.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    })
}
