//! The I/O loop every tokio type shares: read straight into the machine's
//! buffer, hand out owned events, write the output in one vectored write per
//! batch, and keep the machine's deadlines with one reusable timer.

use crate::message::{CloseFrame, Message, OwnedEvent};
use crate::ws_error::WsError;
use crate::{Connection, Timestamp};
use bytes::BytesMut;
use core::future::Future as _;
use core::pin::Pin;
use core::task::{ready, Context, Poll, Waker};
use core::time::Duration;
use std::io::{self, IoSlice};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Bytes asked of the transport per read into the machine's own buffer
/// (the rest of a frame that has begun).
const READ_SIZE: usize = 16 * 1024;

/// The buffer reads at a message boundary go into, one per thread, like
/// uWebSockets' per-loop receive buffer: an idle connection keeps no read
/// buffer of its own, and the bytes stay in memory the cache has seen.
/// A small read is copied into the machine's buffer and its room reused;
/// a larger one is handed over in place ([`Connection::receive_owned`]),
/// so its payloads are unmasked where the kernel put them and leave as
/// `Bytes` without a copy. Once every such part is dropped the allocation
/// is taken up again from its start; while one is held, the next reads
/// go into a fresh allocation.
const SHARED_SIZE: usize = 64 * 1024;

/// Reads at least this long are handed over in place rather than copied.
/// A message kept by the application holds the whole buffer while it
/// lives; below this size the copy is cheap, and a read of small messages
/// alone pins nothing.
const ADOPT_MIN: usize = 4 * 1024;

/// The least room a read at a message boundary is offered; below it the
/// shared buffer starts over. A message that does not fit the room is cut,
/// and the rest goes to a buffer of the connection's own (an allocation and
/// a copy): with half the buffer, messages up to 32 KiB never are.
const SHARED_MIN_ROOM: usize = SHARED_SIZE / 2;

std::thread_local! {
    static SHARED: core::cell::RefCell<BytesMut> = core::cell::RefCell::new(BytesMut::new());
}

/// Output pieces handed to one vectored write.
const MAX_SLICES: usize = 32;

/// How much a closed connection reads (and drops) while waiting for the
/// peer's end of stream, so unread bytes do not turn our FIN into a reset.
const LINGER_BYTES: u32 = 1 << 20;

/// How long a closed connection may take to write its last bytes and see
/// the peer's end of stream when the config sets no close timeout.
const DEFAULT_LINGER: Duration = Duration::from_secs(10);

/// Where the end of a connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// Not closed yet.
    Open,
    /// Closed: writing what is left, then FIN, then reading until the peer's.
    Lingering,
    /// The transport is done with.
    Done,
}

pub(crate) struct Driver<S> {
    pub(crate) conn: Connection,
    pub(crate) stream: S,
    /// The machine counts time from here, on tokio's clock (so tests can
    /// pause it).
    origin: Instant,
    /// One timer, moved with `reset` rather than re-created.
    sleep: Option<Pin<Box<Sleep>>>,
    /// The waker the armed timer was last polled with.
    sleep_waker: Option<Waker>,
    ending: Ending,
    /// Whether `Ping`, `Pong` and `Close` reach the caller (the front-ends'
    /// `set_receive_control`); kept here, in the padding after `ending`.
    pub(crate) receive_control: bool,
    /// How the connection ended, once it has begun to (boxed: an open
    /// connection carries 8 bytes for it, not 48).
    outcome: Option<Box<Outcome>>,
}

/// What the driver keeps about the end of a connection.
#[derive(Default)]
struct Outcome {
    /// Why the connection failed, once it has.
    failure: Option<WsError>,
    /// The peer's Close, once it came.
    close_frame: Option<CloseFrame>,
    /// A closed connection gives up on a peer that neither reads nor
    /// closes at this time.
    give_up_at: Option<Instant>,
    lingered: u32,
}

impl<S> core::fmt::Debug for Driver<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Driver")
            .field("conn", &self.conn)
            .field("ending", &self.ending)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Driver<S> {
    pub(crate) fn new(conn: Connection, stream: S) -> Self {
        Driver {
            conn,
            stream,
            origin: Instant::now(),
            sleep: None,
            sleep_waker: None,
            ending: Ending::Open,
            receive_control: false,
            outcome: None,
        }
    }

    pub(crate) fn now(&self) -> Timestamp {
        Timestamp::from_duration(Instant::now().saturating_duration_since(self.origin))
    }

    /// Tells the machine the time (deadlines, round-trip times).
    pub(crate) fn tick(&mut self) {
        let now = self.now();
        self.conn.handle_timeout(now);
    }

    fn outcome(&mut self) -> &mut Outcome {
        self.outcome.get_or_insert_with(Box::default)
    }

    /// Keeps why the connection failed, unless a reason is kept already.
    fn keep_failure(&mut self, failure: WsError) {
        self.outcome().failure.get_or_insert(failure);
    }

    /// The peer's Close, once it came.
    pub(crate) fn close_frame(&self) -> Option<&CloseFrame> {
        self.outcome.as_ref()?.close_frame.as_ref()
    }

    /// Whether the transport is done with: nothing more will come.
    pub(crate) fn is_done(&self) -> bool {
        self.ending == Ending::Done
    }

    /// Writes the output, one write per batch (vectored when the output is
    /// in pieces), until it is empty or the transport is full (then
    /// `writer` is woken when it has room).
    pub(crate) fn poll_write_out(&mut self, writer: &Waker) -> Poll<io::Result<()>> {
        let mut cx = Context::from_waker(writer);
        loop {
            // Counts what the receive path queued too, before it joins.
            let total = self.conn.buffered_amount();
            let out = self.conn.pending_output();
            if out.is_empty() {
                break;
            }
            // One piece (no shared payloads queued): a plain write, which
            // costs the kernel less than a vectored one.
            let written = if out.len() == total {
                ready!(Pin::new(&mut self.stream).poll_write(&mut cx, out))?
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let count = self.conn.pending_output_vectored(&mut slices);
                ready!(Pin::new(&mut self.stream).poll_write_vectored(&mut cx, &slices[..count]))?
            };
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.conn.consume_output(written);
            if written == total {
                // All of it: nothing can have joined the output meanwhile.
                break;
            }
        }
        Pin::new(&mut self.stream).poll_flush(&mut cx)
    }

    /// The next event, driving reads, writes and deadlines as needed;
    /// `None` once the connection is closed and its transport done with.
    /// Reads only when no event is waiting, so a caller that stops asking
    /// stops the reading: the peer's writes then block in TCP.
    pub(crate) fn poll_event(
        &mut self,
        reader: &Waker,
        writer: &Waker,
    ) -> Poll<Option<OwnedEvent>> {
        let cx = &mut Context::from_waker(reader);
        loop {
            if self.ending == Ending::Done {
                return Poll::Ready(None);
            }
            if let Some(event) = self.conn.next_owned_event() {
                self.note(&event);
                return Poll::Ready(Some(event));
            }
            if self.ending == Ending::Open {
                // Pongs, Close echoes and the caller's sends: one write per batch.
                if let Poll::Ready(Err(error)) = self.poll_write_out(writer) {
                    self.fail_io(error);
                    continue;
                }
                if self.conn.is_aborted() {
                    // The peer is presumed gone: nothing to wait for.
                    self.ending = Ending::Done;
                    continue;
                }
                if self.conn.ready_state() == crate::ReadyState::Closed {
                    self.ending = Ending::Lingering;
                    let limit = self.conn.config().close_timeout.unwrap_or(DEFAULT_LINGER);
                    self.outcome().give_up_at = Some(Instant::now() + limit);
                    continue;
                }
                // Reads tell the machine the time (`tick`), which acts on
                // what is due; the timer is armed only before waiting.
                if self.conn.wants_read() && self.poll_read(cx).is_ready() {
                    continue;
                }
                if self.poll_deadline(cx).is_ready() {
                    continue;
                }
                return Poll::Pending;
            }
            ready!(self.poll_linger(cx, writer));
        }
    }

    /// Keeps what the caller of `poll_event` does not see.
    fn note(&mut self, event: &OwnedEvent) {
        match event {
            OwnedEvent::Failed(error) => {
                self.keep_failure(WsError::Protocol(*error));
            }
            OwnedEvent::Message(Message::Close(frame)) => {
                self.outcome().close_frame = frame.clone();
            }
            _ => {}
        }
    }

    /// The transport failed: nothing more can be written or read. Keeps
    /// the error for the receive side and returns one for the caller.
    pub(crate) fn fail_io(&mut self, error: io::Error) -> WsError {
        let (reported, kept) = WsError::transport_twice(error);
        self.keep_failure(kept);
        self.conn.receive_eof();
        self.ending = Ending::Done;
        reported
    }

    /// One read: into the thread's shared buffer at a message boundary,
    /// straight into the machine's buffer when a frame has begun.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let read = if self.conn.buffered_input() == 0 {
            SHARED.with(|shared| match shared.try_borrow_mut() {
                Ok(mut shared) => self.poll_read_shared(cx, &mut shared),
                // A stream that reads through another WebSocket on this thread.
                Err(_) => self.poll_read_direct(cx),
            })
        } else {
            self.poll_read_direct(cx)
        };
        match ready!(read) {
            Ok(0) => self.conn.receive_eof(),
            Ok(_) => {}
            Err(error) => {
                // A reset is the peer vanishing: the machine reports 1006.
                self.keep_failure(WsError::from(error));
                self.conn.receive_eof();
            }
        }
        self.tick();
        Poll::Ready(())
    }

    /// One read into the thread's shared buffer (into its spare
    /// capacity: nothing is zeroed), then copied or handed over.
    fn poll_read_shared(
        &mut self,
        cx: &mut Context<'_>,
        shared: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        if shared.capacity() < SHARED_MIN_ROOM {
            // Starts over: the same allocation if no part of it is held.
            shared.reserve(SHARED_SIZE);
        }
        // Cancel safe: a read that is not ready has read nothing.
        let read = ready!(core::pin::pin!(self.stream.read_buf(shared)).poll(cx));
        let n = shared.len();
        if n >= ADOPT_MIN {
            self.conn.receive_owned(shared.split());
        } else {
            self.conn.receive(shared);
            shared.clear();
        }
        Poll::Ready(read)
    }

    /// One read straight into the machine's buffer.
    fn poll_read_direct(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let room = self.conn.receive_buffer(READ_SIZE);
        let mut buf = ReadBuf::new(room);
        let read = ready!(Pin::new(&mut self.stream).poll_read(cx, &mut buf));
        let n = buf.filled().len();
        self.conn.commit_received(n);
        Poll::Ready(read.map(|()| n))
    }

    /// Waits for the machine's next deadline; `Ready` once one was handled.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(at) = self.conn.poll_timeout() else {
            return Poll::Pending;
        };
        let when = self.origin + at.since_origin();
        ready!(self.poll_sleep(cx, when));
        self.tick();
        Poll::Ready(())
    }

    /// When the timer is set to fire (read from the timer, not kept
    /// beside it: 16 bytes less in every connection).
    fn sleep_at(&self) -> Option<Instant> {
        self.sleep.as_ref().map(|sleep| sleep.deadline())
    }

    /// Sleeps until `when` on the one timer. The keepalive deadline moves
    /// later with every message received; the timer is not moved with it
    /// but left to fire early, once, and then set to the deadline of the
    /// moment. Between moves the timer is not polled again as long as the
    /// same task waits on it: it still holds that task's waker.
    fn poll_sleep(&mut self, cx: &mut Context<'_>, when: Instant) -> Poll<()> {
        loop {
            let early_enough = self.sleep_at().is_some_and(|at| at <= when);
            let sleep = match &mut self.sleep {
                Some(sleep) if early_enough && !sleep.is_elapsed() => sleep,
                // Fired, or set later than `when`.
                Some(sleep) => {
                    if when <= Instant::now() {
                        return Poll::Ready(());
                    }
                    sleep.as_mut().reset(when);
                    self.sleep_waker = None;
                    sleep
                }
                None => {
                    if when <= Instant::now() {
                        return Poll::Ready(());
                    }
                    self.sleep_waker = None;
                    self.sleep.insert(Box::pin(tokio::time::sleep_until(when)))
                }
            };
            let waker = cx.waker();
            if self
                .sleep_waker
                .as_ref()
                .is_some_and(|w| w.will_wake(waker))
            {
                return Poll::Pending;
            }
            if sleep.as_mut().poll(cx).is_pending() {
                self.sleep_waker = Some(waker.clone());
                return Poll::Pending;
            }
            self.sleep_waker = None;
            // Fired early, at a deadline since moved later: set it again.
            if self.sleep_at().is_some_and(|at| at >= when) {
                return Poll::Ready(());
            }
        }
    }

    /// After the close: the last bytes out, FIN, then the peer's end of
    /// stream read (and dropped), all within the give-up time.
    fn poll_linger(&mut self, cx: &mut Context<'_>, writer: &Waker) -> Poll<()> {
        let give_up = self.outcome().give_up_at.unwrap_or_else(Instant::now);
        let timed_out = self.poll_sleep(cx, give_up).is_ready();
        if timed_out {
            self.ending = Ending::Done;
            return Poll::Ready(());
        }
        match self.poll_write_out(writer) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) => {
                self.ending = Ending::Done;
                return Poll::Ready(());
            }
            Poll::Ready(Ok(())) => {}
        }
        if Pin::new(&mut self.stream).poll_shutdown(cx).is_pending() {
            return Poll::Pending;
        }
        let mut scratch = [0u8; 2048];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.stream).poll_read(cx, &mut buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    let outcome = self.outcome();
                    outcome.lingered += buf.filled().len() as u32;
                    if outcome.lingered > LINGER_BYTES {
                        break;
                    }
                }
                Poll::Ready(_) => break,
            }
        }
        self.ending = Ending::Done;
        Poll::Ready(())
    }

    /// The outcome of a connection that ended: `None` for a clean close.
    pub(crate) fn take_failure(&mut self) -> Option<WsError> {
        let outcome = self.outcome.as_mut()?;
        match outcome.failure.take() {
            // The peer's Close arrived: whatever the transport did after is moot.
            Some(failure) if failure.is_transport() && outcome.close_frame.is_some() => None,
            other => other,
        }
    }
}
