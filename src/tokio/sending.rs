//! The futures of [`WebSocket::feed`] and [`WebSocket::send`]: a borrow of
//! the socket and the message, nothing else, so a task that awaits them
//! stays small (an `async fn` would keep the argument and its conversion
//! side by side).

use super::socket::WebSocket;
use crate::message::Message;
use crate::ws_error::WsError;
use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite};

/// Queues its message once the output has room; with `flush`, then writes
/// everything queued.
pub(super) struct Queue<'a, S> {
    ws: &'a mut WebSocket<S>,
    /// Taken when queued.
    message: Option<Message>,
    flush: bool,
}

impl<'a, S> Queue<'a, S> {
    pub(super) fn new(ws: &'a mut WebSocket<S>, message: Message, flush: bool) -> Self {
        Queue {
            ws,
            message: Some(message),
            flush,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Future for Queue<'_, S> {
    type Output = Result<(), WsError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.message.is_some() {
            ready!(this.ws.poll_send_ready(cx))?;
            if let Some(message) = this.message.take() {
                this.ws.driver.conn.send(message)?;
            }
        }
        if this.flush {
            ready!(this.ws.poll_flush_out(cx))?;
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Connection, Role};

    /// What a task that echoes with `recv` and `feed` (or `send`) carries
    /// across its awaits: the socket, and these futures.
    #[test]
    fn the_sending_futures_hold_a_borrow_and_the_message() {
        let (stream, _peer) = tokio::io::duplex(64);
        let conn = Connection::upgraded(Role::Server, Config::default()).unwrap();
        let mut ws = WebSocket::from_connection(stream, conn);
        let limit = core::mem::size_of::<&mut WebSocket<tokio::io::DuplexStream>>()
            + core::mem::size_of::<Option<Message>>()
            + core::mem::size_of::<usize>();
        assert!(core::mem::size_of_val(&ws.feed("x")) <= limit);
        assert!(core::mem::size_of_val(&ws.send("x")) <= limit);
    }

    /// The socket over TCP is most of an idle connection's task: the
    /// load-race echo task's future (built without compression) is 664
    /// bytes with it, the most that fits tokio's 768-byte task cell; the
    /// next size is 896, 128 bytes more for every idle connection.
    #[test]
    fn a_socket_over_tcp_stays_small() {
        let size = core::mem::size_of::<WebSocket<tokio::net::TcpStream>>();
        let limit = if cfg!(feature = "deflate") { 520 } else { 488 };
        assert!(size <= limit, "{size} > {limit}");
    }
}
