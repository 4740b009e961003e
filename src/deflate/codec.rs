//! The per-message codec: a compressor for what we send and an inflater for
//! what we receive, owned by the send and receive paths respectively.
//!
//! The backend is flate2 over zlib-rs (pure Rust). zlib cannot compress
//! with an 8-bit window (raw deflate needs at least 9), so when a peer asks
//! for 8 on our sending side we agree and simply send uncompressed messages,
//! which permessage-deflate allows; inflating is unaffected.

use super::DeflateParams;
use crate::error::Error;
use alloc::vec::Vec;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

/// The tail every compressed message ends with and loses on the wire (§7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// Largest piece one inflate call writes before checking the budget again.
const MAX_STEP: usize = 64 * 1024;

/// How far an inflate call got.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Progress {
    /// Input bytes consumed.
    pub(crate) used: usize,
    /// The output budget ran out; more output may be pending.
    pub(crate) full: bool,
}

/// Compression of outgoing messages; the context is created on first use.
pub(crate) struct Deflater {
    window: u8,
    resets: bool,
    level: u32,
    threshold: usize,
    compress: Option<Compress>,
    /// Compressed output on its way to a frame, reused between messages.
    scratch: Vec<u8>,
}

impl core::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Deflater")
            .field("window", &self.window)
            .field("resets", &self.resets)
            .finish_non_exhaustive()
    }
}

impl Deflater {
    pub(crate) fn new(
        params: &DeflateParams,
        is_server: bool,
        level: u32,
        threshold: usize,
    ) -> Self {
        let (window, resets) = if is_server {
            (
                params.server_max_window_bits,
                params.server_no_context_takeover,
            )
        } else {
            (
                params.client_max_window_bits,
                params.client_no_context_takeover,
            )
        };
        Deflater {
            window,
            resets,
            level: level.min(9),
            threshold,
            compress: None,
            scratch: Vec::new(),
        }
    }

    /// Whether a message of `len` bytes goes out compressed.
    pub(crate) fn should_compress(&self, len: usize) -> bool {
        self.window >= 9 && len >= self.threshold
    }

    /// Whether fragmented messages go out compressed.
    pub(crate) fn compresses_fragments(&self) -> bool {
        self.window >= 9
    }

    /// Whether a message compressed on its own with a full window may be
    /// sent on this connection (a prepared message): only when nothing
    /// carries over between our messages and the window allows 15 bits.
    #[cfg_attr(not(feature = "bytes"), allow(dead_code))]
    pub(crate) fn accepts_standalone(&self) -> bool {
        self.resets && self.window == 15
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
    /// takeover, the context is freed.
    pub(crate) fn compress(&mut self, data: &[u8], out: &mut Vec<u8>, last: bool) {
        let (window, level) = (self.window.max(9), self.level);
        let compress = self.compress.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(level), false, window)
        });
        compress_message_part(compress, data, out, last);
        if last && self.resets {
            // Without context takeover nothing carries over: free the
            // context (hundreds of KiB in zlib) instead of resetting it, so an
            // idle connection holds none. Re-creating costs about what a
            // reset does, which clears the same tables.
            self.compress = None;
        }
    }
}

/// Compresses one whole message with a fresh context and a full window, as
/// any connection without context takeover on our side can send it.
#[cfg_attr(not(feature = "bytes"), allow(dead_code))]
pub(crate) fn compress_standalone(data: &[u8], level: u32) -> Vec<u8> {
    let mut compress = Compress::new_with_window_bits(Compression::new(level.min(9)), false, 15);
    let mut out = Vec::new();
    compress_message_part(&mut compress, data, &mut out, true);
    out
}

fn compress_message_part(compress: &mut Compress, data: &[u8], out: &mut Vec<u8>, last: bool) {
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
}

/// Inflation of incoming messages; the context is created on first use.
pub(crate) struct Inflater {
    resets: bool,
    decompress: Option<Decompress>,
    /// Bytes of `TAIL` already fed to the inflater for the current message.
    tail_fed: usize,
    /// The peer ended its deflate stream (BFINAL): start afresh next message.
    stream_ended: bool,
}

impl core::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Inflater")
            .field("resets", &self.resets)
            .finish_non_exhaustive()
    }
}

impl Inflater {
    pub(crate) fn new(params: &DeflateParams, is_server: bool) -> Self {
        Inflater {
            resets: if is_server {
                params.client_no_context_takeover
            } else {
                params.server_no_context_takeover
            },
            decompress: None,
            tail_fed: 0,
            stream_ended: false,
        }
    }

    /// Inflates from `input` into `out`, producing at most `max_out` bytes.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_out: usize,
    ) -> Result<Progress, Error> {
        let decompress = self
            .decompress
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, 15));
        let start_in = decompress.total_in();
        let mut budget = max_out;
        // Start near the likely size and double: small messages stay cheap.
        let mut step_size = (input.len() * 4 + 64).min(MAX_STEP);
        loop {
            let used = (decompress.total_in() - start_in) as usize;
            let step = budget.min(step_size);
            step_size = (step_size * 2).min(MAX_STEP);
            if step == 0 {
                return Ok(Progress { used, full: true });
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
                return Ok(Progress { used, full: false });
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
        let progress = if self.stream_ended {
            // A peer that ended the deflate stream sends nothing more in it.
            Progress {
                used: TAIL.len() - fed,
                full: false,
            }
        } else {
            self.inflate(&TAIL[fed..], out, max_out)?
        };
        self.tail_fed += progress.used;
        if self.tail_fed < TAIL.len() || progress.full {
            return Ok(false);
        }
        self.tail_fed = 0;
        if self.resets || self.stream_ended {
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
        let mut tx = Deflater::new(&params(), false, 6, 32);
        let mut rx = Inflater::new(&params(), true);
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

    #[test]
    fn standalone_message_inflates_after_others() {
        // A prepared message compressed on its own mixes with a sender's
        // messages when that sender keeps no context, even at a receiver
        // that keeps its own.
        let mut rx = Inflater::new(&params(), false);
        let no_takeover = DeflateParams {
            server_no_context_takeover: true,
            ..params()
        };
        let mut tx = Deflater::new(&no_takeover, true, 6, 0);
        assert!(tx.accepts_standalone());
        for round in 0..3 {
            let text = alloc::format!("message {round} message {round} message");
            let wire = if round == 1 {
                compress_standalone(text.as_bytes(), 6)
            } else {
                let mut wire = Vec::new();
                tx.compress(text.as_bytes(), &mut wire, true);
                wire
            };
            let mut out = Vec::new();
            rx.inflate(&wire, &mut out, 1 << 20).unwrap();
            assert!(rx.finish_message(&mut out, 1 << 20).unwrap());
            assert_eq!(out, text.as_bytes());
        }
    }
}
