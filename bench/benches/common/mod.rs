//! Helpers shared by the benches: a frame encoder independent of wsmachine,
//! payload generators, and in-memory streams that all three libraries can use
//! (std `Read + Write` for tungstenite, tokio `AsyncRead + AsyncWrite` for
//! fastwebsockets, plain slices for wsmachine).
#![allow(dead_code)] // each bench uses a different subset

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Largest read a stream hands out at once, like one `read()` on a socket
/// with a 64 KiB buffer. wsmachine is fed in chunks of the same size.
pub const READ_CHUNK: usize = 64 * 1024;

/// The masking key of every client frame built here (the RFC's example key).
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;

/// Appends one frame; `mask` set means a client frame.
pub fn push_frame(out: &mut Vec<u8>, fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n < 65536 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
}

/// `count` masked client frames, each one whole message.
pub fn client_messages(opcode: u8, payload: &[u8], count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(count * (payload.len() + 14));
    for _ in 0..count {
        push_frame(&mut out, true, opcode, payload, Some(KEY));
    }
    out
}

/// One masked client text message split into `fragments` frames of equal
/// size (the split points fall inside multi-byte characters on purpose).
pub fn fragmented_text(text: &str, fragments: usize) -> Vec<u8> {
    let bytes = text.as_bytes();
    let piece = bytes.len().div_ceil(fragments);
    let mut out = Vec::with_capacity(bytes.len() + fragments * 14);
    for (i, chunk) in bytes.chunks(piece).enumerate() {
        let opcode = if i == 0 { OP_TEXT } else { OP_CONTINUATION };
        let fin = (i + 1) * piece >= bytes.len();
        push_frame(&mut out, fin, opcode, chunk, Some(KEY));
    }
    out
}

/// Realistic text of exactly `len` bytes: mostly ASCII with some two-, three-
/// and four-byte characters (about 10% of the bytes are non-ASCII), so UTF-8
/// validation cannot take an all-ASCII shortcut everywhere.
pub fn text(len: usize) -> String {
    const PATTERN: &str =
        "{\"user\":\"zoë\",\"msg\":\"price 12€, naïve café — ok 👍\",\"seq\":12345} ";
    let mut s = String::with_capacity(len);
    let mut chars = PATTERN.chars().cycle();
    while s.len() < len {
        let c = chars.next().unwrap_or('x');
        // At the very end, pad with ASCII where a wide character would not fit.
        s.push(if s.len() + c.len_utf8() <= len {
            c
        } else {
            'x'
        });
    }
    s
}

/// Arbitrary binary payload of `len` bytes.
pub fn binary(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

/// Where written bytes go: copied into a preallocated buffer that is reset
/// when full, like a kernel copying into a socket's send buffer. Every library
/// pays this one copy, so none gets a free ride from a discarding sink.
#[derive(Debug)]
pub struct CopySink {
    buf: Vec<u8>,
    /// Total bytes written, for sanity checks.
    pub written: u64,
}

impl CopySink {
    pub fn new() -> Self {
        CopySink {
            buf: Vec::with_capacity(4 << 20),
            written: 0,
        }
    }

    pub fn put(&mut self, bytes: &[u8]) {
        if self.buf.len() + bytes.len() > self.buf.capacity() {
            self.buf.clear();
        }
        if bytes.len() > self.buf.capacity() {
            // Never reallocate: copy the part that fits, the rest is counted.
            self.buf.extend_from_slice(&bytes[..self.buf.capacity()]);
        } else {
            self.buf.extend_from_slice(bytes);
        }
        self.written += bytes.len() as u64;
    }
}

impl Default for CopySink {
    fn default() -> Self {
        Self::new()
    }
}

/// An in-memory socket: reads replay `data` from the start over and over (at
/// most `max_read` bytes per call, never across the end of `data`), writes go
/// to a [`CopySink`]. Because `data` holds whole frames and each benchmark
/// iteration consumes exactly the messages in it, every iteration starts on a
/// frame boundary and the connection stays warm from one to the next.
#[derive(Debug)]
pub struct ReplayStream<'a> {
    data: &'a [u8],
    pos: usize,
    max_read: usize,
    /// `false`: stop (EOF) at the end of `data` instead of replaying it.
    repeat: bool,
    /// Reads never cross this offset either (a message boundary).
    cut: usize,
    pub sink: CopySink,
}

impl<'a> ReplayStream<'a> {
    pub fn new(data: &'a [u8], max_read: usize) -> Self {
        ReplayStream {
            data,
            pos: 0,
            max_read,
            repeat: true,
            cut: 0,
            sink: CopySink::new(),
        }
    }

    /// Delivers `data` once, then end of stream.
    pub fn once(data: &'a [u8]) -> Self {
        ReplayStream {
            repeat: false,
            ..ReplayStream::new(data, READ_CHUNK)
        }
    }

    /// Delivers `data` once in reads that never cross offset `cut`: the bytes
    /// before it arrive first, alone, as if the peer sent them earlier.
    pub fn once_with_cut(data: &'a [u8], cut: usize) -> Self {
        ReplayStream {
            cut,
            ..ReplayStream::once(data)
        }
    }

    /// The next bytes to hand out to a read with room for `room` bytes.
    fn next_bytes(&mut self, room: usize) -> &'a [u8] {
        if self.pos == self.data.len() && self.repeat {
            self.pos = 0;
        }
        let end = if self.pos < self.cut {
            self.cut
        } else {
            self.data.len()
        };
        let n = room.min(self.max_read).min(end - self.pos);
        let bytes = &self.data[self.pos..self.pos + n];
        self.pos += n;
        bytes
    }
}

impl io::Read for ReplayStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let bytes = self.next_bytes(buf.len());
        buf[..bytes.len()].copy_from_slice(bytes);
        Ok(bytes.len())
    }
}

impl io::Write for ReplayStream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sink.put(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for ReplayStream<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let bytes = this.next_bytes(buf.remaining());
        buf.put_slice(bytes);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ReplayStream<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().sink.put(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut n = 0;
        for buf in bufs {
            this.sink.put(buf);
            n += buf.len();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true // like a TcpStream: fastwebsockets uses writev for large frames
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The current-thread runtime the fastwebsockets benches poll their futures
/// on (the streams never return `Pending`, so no I/O driver is needed).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}
