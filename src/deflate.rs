//! permessage-deflate (RFC 7692): negotiation and the per-message codec.
//!
//! The backend is flate2 over zlib-rs (pure Rust). zlib cannot compress
//! with an 8-bit window (raw deflate needs at least 9), so when a peer asks
//! for 8 on our sending side we agree and simply send uncompressed messages,
//! which permessage-deflate allows; inflating is unaffected.

use crate::error::Error;
use crate::extensions::{Inflated, INFLATE_STEP};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

/// What this endpoint offers (client) or accepts (server).
///
/// ```
/// use wsmachine::{Config, DeflateConfig};
/// let config = Config { deflate: Some(DeflateConfig::low_memory()), ..Config::default() };
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

/// The tail every compressed message ends with and loses on the wire (§7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// Compression state of one connection; contexts are created on first use.
pub(crate) struct Deflate {
    params: DeflateParams,
    is_server: bool,
    level: u32,
    threshold: usize,
    compress: Option<Compress>,
    decompress: Option<Decompress>,
    /// Bytes of `TAIL` already fed to the inflater for the current message.
    tail_fed: usize,
    /// The peer ended its deflate stream (BFINAL): start afresh next message.
    stream_ended: bool,
    /// Compressed output on its way to a frame, reused between messages.
    scratch: Vec<u8>,
}

impl core::fmt::Debug for Deflate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Deflate")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Deflate {
    pub(crate) fn new(params: DeflateParams, is_server: bool, config: &DeflateConfig) -> Self {
        Deflate {
            params,
            is_server,
            level: config.level.min(9),
            threshold: config.threshold,
            compress: None,
            decompress: None,
            tail_fed: 0,
            stream_ended: false,
            scratch: Vec::new(),
        }
    }

    pub(crate) fn params(&self) -> DeflateParams {
        self.params
    }

    fn send_window(&self) -> u8 {
        if self.is_server {
            self.params.server_max_window_bits
        } else {
            self.params.client_max_window_bits
        }
    }

    fn send_resets(&self) -> bool {
        if self.is_server {
            self.params.server_no_context_takeover
        } else {
            self.params.client_no_context_takeover
        }
    }

    fn receive_resets(&self) -> bool {
        if self.is_server {
            self.params.client_no_context_takeover
        } else {
            self.params.server_no_context_takeover
        }
    }

    /// Whether a message of `len` bytes goes out compressed.
    pub(crate) fn should_compress(&self, len: usize) -> bool {
        self.send_window() >= 9 && len >= self.threshold
    }

    /// Whether fragmented messages go out compressed.
    pub(crate) fn compresses_fragments(&self) -> bool {
        self.send_window() >= 9
    }

    /// Compresses into the reused scratch buffer and returns it.
    pub(crate) fn compress_to_scratch(&mut self, data: &[u8], last: bool) -> &[u8] {
        let mut scratch = core::mem::take(&mut self.scratch);
        scratch.clear();
        if scratch.capacity() > 64 * 1024 {
            scratch = Vec::new(); // a large message should not pin its buffer
        }
        self.compress(data, &mut scratch, last);
        self.scratch = scratch;
        &self.scratch
    }

    /// Appends the compressed form of `data` to `out`. With `last`, the
    /// message ends here: the sync tail is stripped and, without context
    /// takeover, the context is reset.
    pub(crate) fn compress(&mut self, data: &[u8], out: &mut Vec<u8>, last: bool) {
        let window = self.send_window().max(9);
        let level = self.level;
        let resets = self.send_resets();
        let compress = self.compress.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(level), false, window)
        });
        let start = out.len();
        let before_in = compress.total_in();
        loop {
            out.reserve(data.len() / 2 + 64);
            let consumed = (compress.total_in() - before_in) as usize;
            // Only the output space bounds this; input errors cannot happen.
            let _ = compress.compress_vec(&data[consumed..], out, FlushCompress::Sync);
            let consumed = (compress.total_in() - before_in) as usize;
            if consumed == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        if last {
            if out[start..].ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            } else {
                // Nothing new since the last flush (an empty message or final
                // fragment): the stream is byte-aligned, so an empty stored
                // block is 0x00 followed by the tail (RFC 7692 §7.2.3.6).
                out.push(0x00);
            }
        }
        if last && resets {
            // Without context takeover nothing carries over: free the
            // context (hundreds of KiB in zlib) instead of resetting it, so an
            // idle connection holds none. Re-creating costs about what a
            // reset does, which clears the same tables.
            self.compress = None;
        }
    }

    /// Inflates from `input` into `out`, producing at most `max_out` bytes.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_out: usize,
    ) -> Result<Inflated, Error> {
        let decompress = self
            .decompress
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, 15));
        let start_in = decompress.total_in();
        let mut budget = max_out;
        // Start near the likely size and double: small messages stay cheap.
        let mut step_size = (input.len() * 4 + 64).min(INFLATE_STEP);
        loop {
            let used = (decompress.total_in() - start_in) as usize;
            let step = budget.min(step_size);
            step_size = (step_size * 2).min(INFLATE_STEP);
            if step == 0 {
                return Ok(Inflated { used, full: true });
            }
            // Inflate straight into the message buffer; the zero fill is
            // far cheaper than inflating, and it caps the output exactly.
            let len = out.len();
            out.resize(len + step, 0);
            let before_out = decompress.total_out();
            let status =
                decompress.decompress(&input[used..], &mut out[len..], FlushDecompress::None);
            let produced = (decompress.total_out() - before_out) as usize;
            out.truncate(len + produced);
            match status {
                Ok(flate2::Status::StreamEnd) => self.stream_ended = true,
                Ok(_) => {}
                Err(_) => return Err(Error::InvalidCompressedData),
            }
            budget -= produced;
            if produced < step {
                // zlib stops early only when it needs more input: all used.
                let used = (decompress.total_in() - start_in) as usize;
                return Ok(Inflated { used, full: false });
            }
        }
    }

    /// Feeds the message's implicit tail; true once the message is fully
    /// inflated (false: the output budget ran out, call again).
    pub(crate) fn finish_message(
        &mut self,
        out: &mut Vec<u8>,
        max_out: usize,
    ) -> Result<bool, Error> {
        let fed = self.tail_fed;
        let inflated = if self.stream_ended {
            // A peer that ended the deflate stream sends nothing more in it.
            Inflated {
                used: TAIL.len() - fed,
                full: false,
            }
        } else {
            self.inflate(&TAIL[fed..], out, max_out)?
        };
        self.tail_fed += inflated.used;
        if self.tail_fed < TAIL.len() || inflated.full {
            return Ok(false);
        }
        self.tail_fed = 0;
        if self.receive_resets() || self.stream_ended {
            // Nothing carries over to the next message: free the context.
            self.decompress = None;
            self.stream_ended = false;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }

    #[test]
    fn empty_message_between_others() {
        let config = DeflateConfig::default();
        let mut tx = Deflate::new(params(), false, &config);
        let mut rx = Deflate::new(params(), true, &config);
        let mut msg3 = vec![0u8; 12];
        msg3.extend_from_slice(b"\xb3\x80k\x90J\xd2MU\xb6T\xe0\xdez\x08\x13\xfa\x87\x1f\xfc\xae");
        for msg in [&[0u8; 32][..], b"", &msg3] {
            let mut wire = Vec::new();
            tx.compress(msg, &mut wire, true);
            let mut out = Vec::new();
            let used = rx.inflate(&wire, &mut out, 1 << 20).unwrap();
            assert_eq!(used.used, wire.len());
            assert!(rx.finish_message(&mut out, 1 << 20).unwrap());
            assert_eq!(out, msg);
        }
    }
}
