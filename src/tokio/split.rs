//! A connection split for two (or more) tasks: one receive half that drives
//! the socket, and cloneable send halves.
//!
//! Both halves lock one mutex around the machine and the stream, never
//! across an await: every lock is held for a non-blocking poll. Writing is
//! shared: whoever polls first writes the whole output in order (so a Pong
//! queued by the receive half goes out between frames even while a sender
//! waits for room), and every task waiting for room is woken when it comes.

use super::driver::Driver;
use super::wakers::WakerSet;
use crate::frontend::deliverable;
use crate::message::{CloseFrame, Message, OwnedEvent, PreparedMessage};
use crate::ws_error::WsError;
use crate::{CloseCode, ReadyState};
use core::pin::Pin;
use core::task::{ready, Context, Poll, Waker};
use core::time::Duration;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncRead, AsyncWrite};

struct Inner<S> {
    driver: Driver<S>,
    held: VecDeque<Message>,
    /// Counts Pongs that answered our latest Ping.
    pongs: u64,
}

struct Shared<S> {
    inner: Mutex<Inner<S>>,
    /// Tasks waiting for the socket to take more output.
    writers: Arc<WakerSet>,
    /// Tasks in `ping` waiting for the Pong.
    pong_waiters: WakerSet,
    /// The receive half, when it waits: a send half that moves a deadline
    /// (a Close sent) wakes it to sleep until the new one.
    reader: WakerSet,
}

impl<S> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, Inner<S>> {
        // A panic in another half cannot leave the machine half-updated:
        // each of its calls completes or changes nothing.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn writer_waker(&self) -> Waker {
        Waker::from(self.writers.clone())
    }
}

pub(crate) fn split<S>(driver: Driver<S>, held: VecDeque<Message>) -> (RecvHalf<S>, SendHalf<S>) {
    let receive_control = driver.receive_control;
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            driver,
            held,
            pongs: 0,
        }),
        writers: Arc::new(WakerSet::default()),
        pong_waiters: WakerSet::default(),
        reader: WakerSet::default(),
    });
    (
        RecvHalf {
            shared: shared.clone(),
            receive_control,
        },
        SendHalf { shared },
    )
}

/// The receive half of a split [`WebSocket`](super::WebSocket). It drives
/// the socket: reads, answers Pings, keeps the deadlines, and writes what
/// the send halves queued. Keep it polled (a task looping on `recv`) for
/// the connection to stay alive.
pub struct RecvHalf<S> {
    shared: Arc<Shared<S>>,
    receive_control: bool,
}

impl<S> core::fmt::Debug for RecvHalf<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RecvHalf").finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RecvHalf<S> {
    /// The next message; `None` once closed cleanly. See
    /// [`WebSocket::recv`](super::WebSocket::recv).
    ///
    /// Cancel safe: no message is lost if the future is dropped.
    pub async fn recv(&mut self) -> Option<Result<Message, WsError>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// [`recv`](Self::recv) as a poll function.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, WsError>>> {
        let shared = &*self.shared;
        let mut inner = shared.lock();
        if let Some(message) = inner.held.pop_front() {
            return Poll::Ready(Some(Ok(message)));
        }
        let writer = shared.writer_waker();
        loop {
            let event = match inner.driver.poll_event(cx.waker(), &writer) {
                Poll::Ready(event) => event,
                Poll::Pending => {
                    if inner.driver.conn.buffered_amount() > 0 {
                        // Output waits for room: be woken when it comes too.
                        shared.writers.register(cx.waker());
                    }
                    shared.reader.register(cx.waker());
                    return Poll::Pending;
                }
            };
            let Some(event) = event else {
                // Closed: senders learn it now rather than at their next call.
                shared.writers.wake_all();
                shared.pong_waiters.wake_all();
                return Poll::Ready(inner.driver.take_failure().map(Err));
            };
            match &event {
                OwnedEvent::Pong { rtt: Some(_), .. } => {
                    inner.pongs += 1;
                    shared.pong_waiters.wake_all();
                }
                OwnedEvent::WriteBackpressure(false) => shared.writers.wake_all(),
                _ => {}
            }
            if let Some(message) = deliverable(event, self.receive_control) {
                return Poll::Ready(Some(Ok(message)));
            }
        }
    }

    /// The peer's Close, once it arrived.
    pub fn close_frame(&self) -> Option<CloseFrame> {
        self.shared.lock().driver.close_frame().cloned()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_core::Stream for RecvHalf<S> {
    type Item = Result<Message, WsError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

/// A send half of a split [`WebSocket`](super::WebSocket); clone it for
/// every task that sends. Its futures write the output themselves; the
/// receive half must be polled for Pongs and the Close to be read.
pub struct SendHalf<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for SendHalf<S> {
    fn clone(&self) -> Self {
        SendHalf {
            shared: self.shared.clone(),
        }
    }
}

impl<S> core::fmt::Debug for SendHalf<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SendHalf").finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> SendHalf<S> {
    /// Queues a message and writes it; waits first while the output is above
    /// the high-water mark.
    ///
    /// Cancel safe: the message is queued whole or not at all; once queued
    /// it is written even if this future is dropped (by the next write on
    /// either half).
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), WsError> {
        let message = message.into();
        poll_fn(|cx| self.poll_send_ready(cx)).await?;
        self.shared.lock().driver.conn.send(message)?;
        self.flush().await
    }

    /// Queues a prepared (broadcast) message and writes it.
    ///
    /// Cancel safe, like [`send`](Self::send).
    pub async fn send_prepared(&self, message: &PreparedMessage) -> Result<(), WsError> {
        poll_fn(|cx| self.poll_send_ready(cx)).await?;
        self.shared.lock().driver.conn.send_prepared(message)?;
        self.flush().await
    }

    /// Writes everything queued.
    ///
    /// Cancel safe: what is not written yet stays queued.
    pub async fn flush(&self) -> Result<(), WsError> {
        poll_fn(|cx| {
            let shared = &*self.shared;
            let mut inner = shared.lock();
            shared.writers.register(cx.waker());
            match ready!(inner.driver.poll_write_out(&shared.writer_waker())) {
                Ok(()) => Poll::Ready(Ok(())),
                Err(error) => {
                    let error = inner.driver.fail_io(error);
                    shared.writers.wake_all();
                    Poll::Ready(Err(error))
                }
            }
        })
        .await
    }

    fn poll_send_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        let shared = &*self.shared;
        let mut inner = shared.lock();
        loop {
            let conn = &inner.driver.conn;
            if conn.ready_state() != ReadyState::Open {
                return Poll::Ready(Err(WsError::Closed));
            }
            if conn.buffered_amount() <= conn.config().output_high_water {
                return Poll::Ready(Ok(()));
            }
            shared.writers.register(cx.waker());
            match ready!(inner.driver.poll_write_out(&shared.writer_waker())) {
                Ok(()) => {}
                Err(error) => return Poll::Ready(Err(inner.driver.fail_io(error))),
            }
        }
    }

    /// Sends a Ping and waits until the receive half sees its Pong; returns
    /// the round-trip time.
    ///
    /// Cancel safe: the Ping stays queued; the round-trip time is kept as
    /// [`latency`](Self::latency).
    pub async fn ping(&self, payload: &[u8]) -> Result<Duration, WsError> {
        let before = {
            let mut inner = self.shared.lock();
            inner.driver.tick();
            inner.driver.conn.send_ping(payload)?;
            inner.pongs
        };
        self.shared.reader.wake_all();
        self.flush().await?;
        poll_fn(|cx| {
            let inner = self.shared.lock();
            if inner.pongs != before {
                return Poll::Ready(inner.driver.conn.latency().ok_or(WsError::Closed));
            }
            if inner.driver.is_done() || inner.driver.conn.ready_state() == ReadyState::Closed {
                return Poll::Ready(Err(WsError::Closed));
            }
            self.shared.pong_waiters.register(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Starts the closing handshake and writes the Close; the receive half
    /// completes it (its `recv` returns `None` once the peer's Close came).
    ///
    /// Cancel safe: the Close is queued at once.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), WsError> {
        {
            let mut inner = self.shared.lock();
            match inner.driver.conn.close(code, reason) {
                Ok(()) | Err(crate::SendError::Closed) => {}
                Err(other) => return Err(WsError::Send(other)),
            }
            inner.driver.tick();
        }
        // The close deadline is new: the receive half sleeps until it now.
        self.shared.reader.wake_all();
        self.flush().await
    }

    /// The round-trip time of the latest Ping answered.
    pub fn latency(&self) -> Option<Duration> {
        self.shared.lock().driver.conn.latency()
    }

    /// Whether messages may still be sent.
    pub fn is_open(&self) -> bool {
        self.shared.lock().driver.conn.ready_state() == ReadyState::Open
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_sink::Sink<Message> for SendHalf<S> {
    type Error = WsError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.poll_send_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), WsError> {
        self.shared.lock().driver.conn.send(message)?;
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        let shared = &*self.shared;
        let mut inner = shared.lock();
        shared.writers.register(cx.waker());
        match ready!(inner.driver.poll_write_out(&shared.writer_waker())) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(error) => Poll::Ready(Err(inner.driver.fail_io(error))),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        {
            let mut inner = self.shared.lock();
            if inner.driver.conn.ready_state() == ReadyState::Open {
                inner.driver.conn.close(CloseCode::NORMAL, "")?;
                inner.driver.tick();
            }
        }
        self.shared.reader.wake_all();
        self.poll_flush(cx)
    }
}
