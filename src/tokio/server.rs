//! Accepting a connection: the opening handshake over a stream the caller
//! accepted, with an optional say in it.

use super::driver::Driver;
use super::socket::WebSocket;
use crate::frontend::Reject;
use crate::message::OwnedEvent;
use crate::ws_error::WsError;
use crate::{Accept, Config, Connection, HandshakeRequest, ReadyState};
use alloc::sync::Arc;
use core::task::{ready, Poll};
use core::time::Duration;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};

/// Runs the server's opening handshake on `stream`, accepting any valid
/// upgrade (extensions as `config` allows, no subprotocol).
///
/// Cancel safe in the sense that dropping it drops the connection; nothing
/// else is affected.
pub async fn accept<S>(stream: S, config: impl Into<Arc<Config>>) -> Result<WebSocket<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    accept_with(stream, config, |_| Ok(Accept::new())).await
}

/// Runs the server's opening handshake, letting `decide` look at the
/// request (path, Origin, protocols, cookies) and accept it, with a
/// subprotocol and headers, or answer it otherwise. A rejected (or plainly
/// served) request gives [`WsError::Refused`] with the status.
///
/// ```no_run
/// use wsmachine::tokio::{accept_with, Reject};
/// use wsmachine::{Accept, Config};
/// # async fn demo(stream: tokio::net::TcpStream) -> Result<(), wsmachine::WsError> {
/// let ws = accept_with(stream, Config::default(), |request| {
///     match request.origin() {
///         Some("https://example.com") => Ok(Accept::new().protocol("chat")),
///         _ => Err(Reject::new(403, "origin not allowed")),
///     }
/// })
/// .await?;
/// # let _ = ws; Ok(()) }
/// ```
///
/// The handshake is bounded by
/// [`Config::handshake_timeout`](crate::Config::handshake_timeout): a slow
/// client gets 408.
pub async fn accept_with<S, F>(
    stream: S,
    config: impl Into<Arc<Config>>,
    decide: F,
) -> Result<WebSocket<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&HandshakeRequest) -> Result<Accept, Reject>,
{
    // The handshake's state (a whole connection and its driver) lives on
    // the heap while it runs: the caller's future, which holds the
    // WebSocket afterwards, does not also reserve room for it, and an idle
    // connection's task stays small.
    Box::pin(handshake(stream, config.into(), decide)).await
}

async fn handshake<S, F>(stream: S, config: Arc<Config>, decide: F) -> Result<WebSocket<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&HandshakeRequest) -> Result<Accept, Reject>,
{
    let mut driver = Driver::new(Connection::server(config), stream);
    driver.tick();
    let mut decide = Some(decide);
    let mut refused = None;
    let mut unsendable = None;
    poll_fn(|cx| {
        let writer = cx.waker();
        loop {
            if driver.conn.ready_state() == ReadyState::Open {
                // The 101 goes out now; its write errors surface on first use.
                let _ = driver.poll_write_out(writer);
                return Poll::Ready(Ok(()));
            }
            match ready!(driver.poll_event(cx.waker(), writer)) {
                Some(OwnedEvent::HandshakeRequest) => {
                    let (Some(request), Some(decide)) =
                        (driver.conn.handshake_request(), decide.take())
                    else {
                        continue;
                    };
                    let answer = decide(request);
                    let result = match answer {
                        Ok(accept) => driver.conn.accept(accept),
                        Err(reject) => {
                            refused = Some(reject.status);
                            driver
                                .conn
                                .reject(reject.status, &reject.header_pairs(), &reject.body)
                        }
                    };
                    if let Err(error) = result {
                        // The caller's answer cannot be sent as given (a
                        // protocol the client did not offer, a bad header).
                        unsendable = Some(error);
                        let _ = driver.conn.reject(500, &[], b"");
                    }
                }
                Some(_) => {}
                None => {
                    let failure = driver.take_failure();
                    return Poll::Ready(Err(match (failure, unsendable, refused) {
                        (Some(failure), _, _) => failure,
                        (None, Some(error), _) => WsError::Send(error),
                        (None, None, Some(status)) => WsError::Refused(status),
                        (None, None, None) => WsError::Closed,
                    }));
                }
            }
        }
    })
    .await?;
    Ok(WebSocket::from_driver(driver))
}

/// A TCP listener for accept loops that neither spins nor stops when the
/// process runs out of file descriptors.
///
/// Out of descriptors (`EMFILE`, or `ENFILE` for the whole system),
/// `TcpListener::accept` fails and the client stays queued: a loop that
/// retries at once spins on the CPU, and one that returns the error stops
/// serving everyone. [`Listener::accept`] keeps one descriptor in reserve
/// instead (`/dev/null`, opened ahead): out of descriptors, it lets the
/// reserve go, accepts the waiting client, answers it
/// `503 Service Unavailable` (with `Retry-After: 1`), closes it, and takes
/// the reserve back; if even that fails it waits 100 ms before it tries
/// again. The connections already served are not touched, and as soon as
/// one closes the next client is accepted. Errors that concern a single
/// connection (reset or aborted before it was accepted) are skipped; any
/// other error is returned.
///
/// ```no_run
/// use wsmachine::tokio::{accept, Listener};
/// use wsmachine::Config;
/// # async fn demo() -> std::io::Result<()> {
/// let mut listener = Listener::bind("127.0.0.1:9001").await?;
/// loop {
///     let (stream, _) = listener.accept().await?;
///     tokio::spawn(async move {
///         let mut ws = accept(stream, Config::default()).await?;
///         while let Some(message) = ws.recv().await {
///             ws.send(message?).await?;
///         }
///         Ok::<_, wsmachine::WsError>(())
///     });
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Listener {
    listener: TcpListener,
    reserve: Option<std::fs::File>,
    refused: u64,
}

/// The answer to a client that comes when no descriptor is left for it.
const OUT_OF_DESCRIPTORS: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\n\
Retry-After: 1\r\nConnection: close\r\n\r\nserver at capacity\n";

/// How long to wait, out of descriptors and without a reserve, before
/// trying again.
const OUT_OF_DESCRIPTORS_PAUSE: Duration = Duration::from_millis(100);

impl Listener {
    /// Accepts on `listener`, with a descriptor set aside at once.
    pub fn new(listener: TcpListener) -> Listener {
        Listener {
            listener,
            reserve: open_reserve(),
            refused: 0,
        }
    }

    /// Binds a `TcpListener` to `addr` and wraps it.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Listener> {
        Ok(Listener::new(TcpListener::bind(addr).await?))
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The listener inside.
    pub fn get_ref(&self) -> &TcpListener {
        &self.listener
    }

    /// Clients answered 503 so far for want of a descriptor.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// The next connection (see the type's documentation for what happens
    /// out of descriptors).
    ///
    /// Cancel safe: dropping it loses no connection, and the reserve is
    /// taken back by the next call if it was let go.
    pub async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        loop {
            if self.reserve.is_none() {
                self.reserve = open_reserve();
            }
            let error = match self.listener.accept().await {
                Ok(accepted) => return Ok(accepted),
                Err(error) => error,
            };
            if concerns_one_connection(&error) {
                continue;
            }
            if !out_of_descriptors(&error) {
                return Err(error);
            }
            if self.reserve.take().is_some() {
                // The reserve is closed: one descriptor for the client.
                let next = poll_fn(|cx| Poll::Ready(self.listener.poll_accept(cx))).await;
                match next {
                    Poll::Ready(Ok((stream, _))) => {
                        refuse(stream);
                        self.refused += 1;
                        continue;
                    }
                    // Nobody was waiting after all; wait for the next one.
                    Poll::Pending => continue,
                    Poll::Ready(Err(error)) if !out_of_descriptors(&error) => {
                        if concerns_one_connection(&error) {
                            continue;
                        }
                        return Err(error);
                    }
                    // Something else took the descriptor first.
                    Poll::Ready(Err(_)) => {}
                }
            }
            tokio::time::sleep(OUT_OF_DESCRIPTORS_PAUSE).await;
        }
    }
}

/// Answers a client there is no room for with 503 and closes it. What it
/// sent is read first (it may have sent its request already), so that the
/// close is a FIN after the answer rather than a reset that could destroy
/// it. Non-blocking: what does not go out at once is not sent.
fn refuse(stream: TcpStream) {
    use std::io::{Read, Write};
    let Ok(stream) = stream.into_std() else {
        return;
    };
    let mut sink = [0u8; 4096];
    let _ = (&stream).read(&mut sink);
    let _ = (&stream).write(OUT_OF_DESCRIPTORS);
}

/// A descriptor to give up when none is left: `/dev/null`, opened ahead.
fn open_reserve() -> Option<std::fs::File> {
    #[cfg(unix)]
    {
        std::fs::File::open("/dev/null").ok()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// `EMFILE` (this process) or `ENFILE` (the system): 24 and 23 on Linux,
/// macOS and the BSDs alike.
fn out_of_descriptors(error: &io::Error) -> bool {
    cfg!(unix) && matches!(error.raw_os_error(), Some(23 | 24))
}

/// A connection that failed between its arrival and `accept` (Linux
/// reports its pending network error from `accept`): skip it.
fn concerns_one_connection(error: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionAborted
            | ConnectionReset
            | ConnectionRefused
            | NetworkDown
            | NetworkUnreachable
            | HostUnreachable
            | Interrupted
    )
}
