//! [`WebSocket`]: one connection over one stream, for one task.

use super::driver::Driver;
use super::sending::Queue;
use super::split::{self, RecvHalf, SendHalf};
use crate::frontend::deliverable;
use crate::message::{CloseFrame, Message, OwnedEvent, PreparedMessage};
use crate::ws_error::WsError;
use crate::{CloseCode, Connection, ReadyState};
use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use core::time::Duration;
use std::collections::VecDeque;
use std::future::poll_fn;
use tokio::io::{AsyncRead, AsyncWrite};

/// Messages `ping` may hold back for `recv` while it waits for its Pong.
const MAX_HELD: usize = 1024;

/// A WebSocket connection over a tokio stream: `recv`, `send`, `close`.
///
/// Made by [`accept`](super::accept), [`connect`](super::connect) and
/// friends, or from a [`Connection`] upgraded elsewhere
/// ([`WebSocket::from_connection`]). It is also a `Stream` of messages and a
/// `Sink` for them.
///
/// **Cancel safety.** Every method may be dropped at any await point:
/// `recv` loses no message (a message is taken out of the machine only when
/// it is returned); `send` and `feed` queue the whole frame or nothing, and a
/// queued frame is written by the next call that drives the socket (`recv`,
/// `send`, `flush`, `close`) even if its own future was dropped.
#[derive(Debug)]
pub struct WebSocket<S> {
    pub(crate) driver: Driver<S>,
    /// Messages read while `ping` waited for its Pong (boxed: rare, and
    /// an idle connection should not carry an empty queue's 32 bytes).
    #[expect(
        clippy::box_collection,
        reason = "8 bytes, not 32, in every idle connection"
    )]
    held: Option<Box<VecDeque<Message>>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// A WebSocket over `stream` for a connection whose opening handshake
    /// is done (see [`Connection::upgraded_with`]) or under way.
    pub fn from_connection(stream: S, conn: Connection) -> Self {
        WebSocket::from_driver(Driver::new(conn, stream))
    }

    pub(crate) fn from_driver(driver: Driver<S>) -> Self {
        WebSocket { driver, held: None }
    }

    /// With `true`, [`recv`](Self::recv) also returns the Pings, Pongs and
    /// the Close that arrive (the machine answers Pings and Closes either
    /// way). Default `false`: only text and binary messages.
    pub fn set_receive_control(&mut self, receive: bool) {
        self.driver.receive_control = receive;
    }

    /// The next message; `None` once the connection closed cleanly (the
    /// peer's Close is in [`close_frame`](Self::close_frame)); an error if
    /// it failed. While it waits it answers Pings, keeps the deadlines and
    /// writes what is queued.
    ///
    /// Cancel safe: no message is lost if the future is dropped.
    pub async fn recv(&mut self) -> Option<Result<Message, WsError>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// [`recv`](Self::recv) as a poll function.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, WsError>>> {
        if let Some(message) = self.held.as_mut().and_then(|held| held.pop_front()) {
            return Poll::Ready(Some(Ok(message)));
        }
        let writer = cx.waker();
        loop {
            let Some(event) = ready!(self.driver.poll_event(cx.waker(), writer)) else {
                return Poll::Ready(self.driver.take_failure().map(Err));
            };
            if let Some(message) = deliverable(event, self.driver.receive_control) {
                return Poll::Ready(Some(Ok(message)));
            }
        }
    }

    /// Queues a message and writes it (with anything queued before it).
    /// Waits first while the output is above the high-water mark.
    ///
    /// Cancel safe: the message is queued whole or not at all; once queued
    /// it is written even if this future is dropped (by the next call that
    /// drives the socket).
    pub fn send(
        &mut self,
        message: impl Into<Message>,
    ) -> impl Future<Output = Result<(), WsError>> + '_ {
        Queue::new(self, message.into(), true)
    }

    /// Queues a message without writing it yet: a batch of `feed`s followed
    /// by one [`flush`](Self::flush) (or the next `recv`) goes out in one
    /// vectored write. Waits while the output is above the high-water mark.
    ///
    /// Cancel safe, like [`send`](Self::send).
    pub fn feed(
        &mut self,
        message: impl Into<Message>,
    ) -> impl Future<Output = Result<(), WsError>> + '_ {
        Queue::new(self, message.into(), false)
    }

    /// Queues a prepared (broadcast) message and writes it.
    ///
    /// Cancel safe, like [`send`](Self::send).
    pub async fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), WsError> {
        poll_fn(|cx| self.poll_send_ready(cx)).await?;
        self.driver.conn.send_prepared(message)?;
        self.flush().await
    }

    /// Writes everything queued.
    ///
    /// Cancel safe: what is not written yet stays queued.
    pub async fn flush(&mut self) -> Result<(), WsError> {
        poll_fn(|cx| self.poll_flush_out(cx)).await
    }

    pub(super) fn poll_flush_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        match ready!(self.driver.poll_write_out(cx.waker())) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(error) => Poll::Ready(Err(self.driver.fail_io(error))),
        }
    }

    /// Ready once a message may be queued: the connection is open and the
    /// output at or below the high-water mark (writing meanwhile).
    pub(super) fn poll_send_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        loop {
            if self.driver.conn.ready_state() != ReadyState::Open {
                return Poll::Ready(Err(WsError::Closed));
            }
            let high_water = self.driver.conn.config().output_high_water;
            if self.driver.conn.buffered_amount() <= high_water {
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_flush_out(cx))?;
        }
    }

    /// Sends a Ping and waits for its Pong; returns the round-trip time.
    /// Messages that arrive meanwhile are kept for [`recv`](Self::recv)
    /// (up to 1,024 of them; beyond that this fails with
    /// [`WsError::Send`]).
    ///
    /// Cancel safe: dropping it keeps every message read meanwhile; the
    /// Pong is then reported through [`latency`](Self::latency) only.
    pub async fn ping(&mut self, payload: &[u8]) -> Result<Duration, WsError> {
        self.driver.tick();
        self.driver.conn.send_ping(payload)?;
        self.flush().await?;
        poll_fn(|cx| {
            let writer = cx.waker();
            loop {
                let Some(event) = ready!(self.driver.poll_event(cx.waker(), writer)) else {
                    let failure = self.driver.take_failure().unwrap_or(WsError::Closed);
                    return Poll::Ready(Err(failure));
                };
                match event {
                    OwnedEvent::Pong {
                        payload: answer,
                        rtt: Some(rtt),
                    } if answer == payload => return Poll::Ready(Ok(rtt)),
                    event => {
                        if let Some(message) = deliverable(event, self.driver.receive_control) {
                            let held = self.held.get_or_insert_with(Box::default);
                            if held.len() >= MAX_HELD {
                                return Poll::Ready(Err(WsError::Send(
                                    crate::SendError::OutputFull,
                                )));
                            }
                            held.push_back(message);
                        }
                    }
                }
            }
        })
        .await
    }

    /// The closing handshake: sends a Close with `code` and `reason`, waits
    /// for the peer's (messages arriving meanwhile are dropped, as after the
    /// Close nothing more is delivered), closes our side of the transport
    /// and waits, briefly, for the peer's. Bounded by
    /// [`Config::close_timeout`](crate::Config::close_timeout).
    /// If the peer closed first, this completes the handshake.
    ///
    /// Cancel safe: the Close is queued at once; dropping the future leaves
    /// the rest to the next `recv`.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), WsError> {
        match self.driver.conn.close(code, reason) {
            Ok(()) | Err(crate::SendError::Closed) | Err(crate::SendError::NotOpen) => {}
            Err(other) => return Err(WsError::Send(other)),
        }
        self.driver.tick();
        poll_fn(|cx| self.poll_closed(cx)).await
    }

    fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        let writer = cx.waker();
        while ready!(self.driver.poll_event(cx.waker(), writer)).is_some() {}
        Poll::Ready(match self.driver.take_failure() {
            None => Ok(()),
            Some(failure) => Err(failure),
        })
    }

    /// The round-trip time of the latest Ping answered.
    pub fn latency(&self) -> Option<Duration> {
        self.driver.conn.latency()
    }

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.driver.conn.protocol()
    }

    /// The peer's Close, once it arrived.
    pub fn close_frame(&self) -> Option<&CloseFrame> {
        self.driver.close_frame()
    }

    /// The machine, for what this type does not expose (its state,
    /// negotiated parameters, buffered amounts).
    pub fn connection(&self) -> &Connection {
        &self.driver.conn
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.driver.stream
    }

    /// Splits into a receive half and a cloneable send half, for different
    /// tasks. The receive half drives the socket (reads, deadlines, Pongs);
    /// the send halves queue and write.
    pub fn split(self) -> (RecvHalf<S>, SendHalf<S>) {
        let held = self.held.map(|held| *held).unwrap_or_default();
        split::split(self.driver, held)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_core::Stream for WebSocket<S> {
    type Item = Result<Message, WsError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_sink::Sink<Message> for WebSocket<S> {
    type Error = WsError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.get_mut().poll_send_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), WsError> {
        self.get_mut().driver.conn.send(message)?;
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.get_mut().poll_flush_out(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        let this = self.get_mut();
        if this.driver.conn.ready_state() == ReadyState::Open {
            this.driver.conn.close(CloseCode::NORMAL, "")?;
        }
        this.poll_closed(cx)
    }
}
