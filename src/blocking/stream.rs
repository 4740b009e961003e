//! The stream a blocking client connects over: plain TCP, or TLS over TCP
//! (feature `rustls`), possibly through a proxy's tunnel.

use super::Transport;
use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A client's connection: plain for `ws://`, TLS for `wss://`.
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`.
    #[cfg(feature = "rustls")]
    Rustls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl MaybeTlsStream {
    /// The TCP connection underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(tls) => &tls.sock,
        }
    }
}

impl Read for MaybeTlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.read(buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.read(buf),
        }
    }
}

impl Write for MaybeTlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.write(buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.write_vectored(bufs),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.flush(),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.flush(),
        }
    }
}

impl Transport for MaybeTlsStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_write_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.shutdown_write(),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => {
                s.conn.send_close_notify();
                s.flush()?;
                s.sock.shutdown(std::net::Shutdown::Write)
            }
        }
    }
}
