//! The hostile clients, over raw TCP: a slowloris handshake, a peer that
//! never reads, a peer that sends a frame header and stalls, a reset in the
//! middle of a frame.

use crate::client::Target;
use std::io;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A valid upgrade request for `target` (no extensions offered).
pub fn upgrade_request(target: &Target) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        target.path, target.addr
    )
    .into_bytes()
}

/// The header of a masked binary frame with a `len`-byte payload.
pub fn frame_header(len: u64) -> Vec<u8> {
    let mut header = vec![0x82];
    match len {
        0..=125 => header.push(0x80 | len as u8),
        126..=0xFFFF => {
            header.push(0x80 | 126);
            header.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            header.push(0x80 | 127);
            header.extend_from_slice(&len.to_be_bytes());
        }
    }
    header.extend_from_slice(&MASK);
    header
}

/// A whole masked binary frame.
pub fn masked_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = frame_header(payload.len() as u64);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    frame
}

/// Connects and completes the upgrade by hand.
pub async fn upgraded(
    target: &Target,
    index: usize,
    tune: impl FnOnce(&TcpSocket) -> io::Result<()>,
) -> io::Result<TcpStream> {
    let mut tcp = target.tcp_tuned(index, tune).await?;
    tcp.write_all(&upgrade_request(target)).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        if head.len() > 16 * 1024 {
            return Err(io::Error::other("response head too long"));
        }
    }
    if !head.starts_with(b"HTTP/1.1 101 ") {
        let line = String::from_utf8_lossy(&head[..head.len().min(40)]).into_owned();
        return Err(io::Error::other(format!("not upgraded: {line:?}")));
    }
    Ok(tcp)
}

/// How a slowloris handshake ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slowloris {
    /// The server answered with this status (408 is the right one).
    Answered(u16),
    /// Closed without an answer.
    Closed,
    /// Reset, or a write failed.
    Reset,
    /// Still open when the harness gave up.
    StillOpen,
}

/// Sends a request head one byte every `every`, never finishing it (an
/// endless header value), until the server answers or closes, or `limit`
/// passes. Returns how it ended and when.
pub async fn slowloris(
    target: &Target,
    index: usize,
    every: Duration,
    limit: Duration,
) -> (Slowloris, Duration) {
    let start = Instant::now();
    let Ok(mut tcp) = target.tcp(index).await else {
        return (Slowloris::Reset, start.elapsed());
    };
    let mut trickle = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nX-Slow: ",
        target.path, target.addr
    )
    .into_bytes()
    .into_iter()
    .chain(std::iter::repeat(b'a'));
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    let deadline = tokio::time::Instant::now() + limit;
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            read = tcp.read(&mut buf) => match read {
                Ok(0) => return (Slowloris::Closed, start.elapsed()),
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if let Some(status) = status_of(&answer) {
                        return (Slowloris::Answered(status), start.elapsed());
                    }
                }
                Err(_) => return (Slowloris::Reset, start.elapsed()),
            },
            _ = tick.tick() => {
                let byte = [trickle.next().unwrap_or(b'a')];
                if tcp.write_all(&byte).await.is_err() {
                    return (Slowloris::Reset, start.elapsed());
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                let _ = tcp.set_zero_linger();
                return (Slowloris::StillOpen, start.elapsed());
            }
        }
    }
}

/// The status of an HTTP/1.1 response head once its first line is in.
fn status_of(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\r').next()?;
    if head.len() <= line.len() {
        return None;
    }
    let text = std::str::from_utf8(line).ok()?;
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Upgrades, then sends `message`-byte binary frames and never reads: until
/// a write has made no progress for `stall`, or `cap` bytes went out.
/// Small socket buffers (64 KiB) keep the kernel's share small, so that the
/// server's own buffering is what backs up. Returns the stream, to hold,
/// and the bytes sent.
pub async fn never_reader(
    target: &Target,
    index: usize,
    message: usize,
    stall: Duration,
    cap: u64,
) -> io::Result<(TcpStream, u64)> {
    let mut tcp = upgraded(target, index, |socket| {
        socket.set_recv_buffer_size(64 << 10)?;
        socket.set_send_buffer_size(64 << 10)
    })
    .await?;
    let payload: Vec<u8> = (0..message).map(|i| (i * 7 + index) as u8).collect();
    let frame = masked_frame(&payload);
    let (mut sent, mut at) = (0u64, 0usize);
    while sent < cap {
        match tokio::time::timeout(stall, tcp.write(&frame[at..])).await {
            Ok(Ok(n)) => {
                sent += n as u64;
                at = (at + n) % frame.len();
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => break,
        }
    }
    Ok((tcp, sent))
}

/// Upgrades, then sends the header of a `declared`-byte frame and `sent`
/// bytes of its payload, and stalls there. Returns the stream, to hold.
pub async fn header_staller(
    target: &Target,
    index: usize,
    declared: u64,
    sent: usize,
) -> io::Result<TcpStream> {
    let mut tcp = upgraded(target, index, |_| Ok(())).await?;
    let mut bytes = frame_header(declared);
    bytes.extend(std::iter::repeat_n(0x5a, sent));
    tcp.write_all(&bytes).await?;
    Ok(tcp)
}

/// Upgrades, sends the header of a 1 MiB frame and 4 KiB of it, waits
/// `pause`, then resets the connection (`SO_LINGER` 0).
pub async fn reset_mid_frame(target: &Target, index: usize, pause: Duration) -> io::Result<()> {
    let mut tcp = upgraded(target, index, |_| Ok(())).await?;
    let mut bytes = frame_header(1 << 20);
    bytes.extend(std::iter::repeat_n(0xa5, 4096));
    tcp.write_all(&bytes).await?;
    tokio::time::sleep(pause).await;
    tcp.set_zero_linger()?;
    drop(tcp);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_headers_use_the_shortest_length_form() {
        assert_eq!(frame_header(5)[..2], [0x82, 0x85]);
        assert_eq!(frame_header(126)[..4], [0x82, 0xFE, 0, 126]);
        assert_eq!(frame_header(1 << 20)[..2], [0x82, 0xFF]);
        assert_eq!(frame_header(1 << 20).len(), 2 + 8 + 4);
    }

    #[test]
    fn a_status_is_read_once_its_line_is_complete() {
        assert_eq!(status_of(b"HTTP/1.1 408 Request Ti"), None);
        assert_eq!(status_of(b"HTTP/1.1 408 Request Timeout\r\n"), Some(408));
    }
}
