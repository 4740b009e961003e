//! The blocking I/O loop: read straight into the machine's buffer with a
//! read timeout set to the next deadline, hand out owned events, write the
//! output with vectored writes, and close the transport gracefully.

use super::Transport;
use crate::message::{CloseFrame, Message, OwnedEvent};
use crate::ws_error::WsError;
use crate::{Clock, Connection, ReadyState};
use std::io::{self, ErrorKind, IoSlice};
use std::time::{Duration, Instant};

/// Bytes asked of the transport per read.
const READ_SIZE: usize = 16 * 1024;

/// Output pieces handed to one vectored write.
const MAX_SLICES: usize = 32;

/// Bytes a closed connection reads (and drops) while waiting for the
/// peer's end of stream.
const LINGER_BYTES: usize = 1 << 20;

/// How long a closed connection waits for the peer's end of stream when
/// the config sets no close timeout.
const DEFAULT_LINGER: Duration = Duration::from_secs(10);

/// The shortest read timeout set: a zero timeout means "none" to the OS.
const MIN_WAIT: Duration = Duration::from_millis(1);

pub(crate) struct Engine<S> {
    pub(crate) conn: Connection,
    pub(crate) stream: S,
    pub(crate) clock: Clock,
    /// The read timeout as last set, to skip setting it again.
    read_timeout: Option<Duration>,
    done: bool,
    pub(crate) failure: Option<WsError>,
    pub(crate) close_frame: Option<CloseFrame>,
}

impl<S> core::fmt::Debug for Engine<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Engine")
            .field("conn", &self.conn)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<S: Transport> Engine<S> {
    pub(crate) fn new(conn: Connection, stream: S) -> Self {
        let mut engine = Engine {
            conn,
            stream,
            clock: Clock::new(),
            read_timeout: None,
            done: false,
            failure: None,
            close_frame: None,
        };
        engine.tick();
        engine
    }

    /// The same engine over another stream made from this one.
    pub(crate) fn map_stream<T, E>(
        self,
        change: impl FnOnce(S) -> Result<T, E>,
    ) -> Result<Engine<T>, E> {
        Ok(Engine {
            conn: self.conn,
            stream: change(self.stream)?,
            clock: self.clock,
            read_timeout: self.read_timeout,
            done: self.done,
            failure: self.failure,
            close_frame: self.close_frame,
        })
    }

    /// Tells the machine the time.
    pub(crate) fn tick(&mut self) {
        self.conn.handle_timeout(self.clock.now());
    }

    /// Writes the whole output.
    pub(crate) fn write_out(&mut self) -> io::Result<()> {
        loop {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let count = self.conn.pending_output_vectored(&mut slices);
            if count == 0 {
                return self.stream.flush();
            }
            let written = match self.stream.write_vectored(&slices[..count]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.conn.consume_output(written);
        }
    }

    /// The transport failed: keeps the error, returns one for the caller.
    pub(crate) fn fail_io(&mut self, error: io::Error) -> WsError {
        let (reported, kept) = WsError::transport_twice(error);
        self.failure.get_or_insert(kept);
        self.conn.receive_eof();
        self.done = true;
        reported
    }

    /// The next event, reading, writing and keeping deadlines as needed;
    /// `None` once the connection is closed and its transport done with.
    pub(crate) fn next_event(&mut self) -> Option<OwnedEvent> {
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.conn.next_owned_event() {
                match &event {
                    OwnedEvent::Failed(error) => {
                        self.failure.get_or_insert(WsError::Protocol(*error));
                    }
                    OwnedEvent::Message(Message::Close(frame)) => {
                        self.close_frame = frame.clone();
                    }
                    _ => {}
                }
                return Some(event);
            }
            if let Err(error) = self.write_out() {
                let stuck = matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut);
                if stuck && self.conn.ready_state() != ReadyState::Open {
                    // Closing, the write timeout is the close timeout: the
                    // peer did not read our last bytes in time.
                    self.failure
                        .get_or_insert(WsError::Protocol(crate::Error::CloseTimeout));
                    self.done = true;
                    continue;
                }
                self.fail_io(error);
                continue;
            }
            if self.conn.is_aborted() {
                self.done = true;
                continue;
            }
            if self.conn.ready_state() == ReadyState::Closed {
                self.linger();
                continue;
            }
            self.wait_for_input();
        }
    }

    /// Reads once, waiting no longer than the machine's next deadline.
    fn wait_for_input(&mut self) {
        let wait = self.conn.poll_timeout().map(|at| {
            self.clock
                .instant(at)
                .saturating_duration_since(Instant::now())
        });
        if wait == Some(Duration::ZERO) {
            self.tick();
            return;
        }
        if !self.conn.wants_read() {
            // Only a deadline can move things on.
            if let Some(wait) = wait {
                std::thread::sleep(wait);
            }
            self.tick();
            return;
        }
        if let Err(error) = self.set_read_timeout(wait) {
            self.fail_io(error);
            return;
        }
        let room = self.conn.receive_buffer(READ_SIZE);
        match self.stream.read(room) {
            Ok(0) => self.conn.receive_eof(),
            Ok(n) => self.conn.commit_received(n),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                self.failure.get_or_insert(WsError::from(e));
                self.conn.receive_eof();
            }
        }
        self.tick();
    }

    /// Sets the read timeout to at most `wait`, skipping the system call
    /// while the one set is no longer than needed and not much shorter
    /// (waking a little early only costs a loop).
    fn set_read_timeout(&mut self, wait: Option<Duration>) -> io::Result<()> {
        let wanted = wait.map(|w| w.max(MIN_WAIT));
        let keep = match (self.read_timeout, wanted) {
            (Some(set), Some(wanted)) => set <= wanted && set >= wanted / 2,
            (set, wanted) => set == wanted,
        };
        if !keep {
            self.stream.set_read_timeout(wanted)?;
            self.read_timeout = wanted;
        }
        Ok(())
    }

    /// After the close: FIN, then the peer's end of stream read (and
    /// dropped) within the close timeout.
    fn linger(&mut self) {
        self.done = true;
        let limit = self.conn.config().close_timeout.unwrap_or(DEFAULT_LINGER);
        let give_up = Instant::now() + limit;
        if self.stream.shutdown_write().is_err() {
            return;
        }
        let mut scratch = [0u8; 4096];
        let mut read = 0;
        while read < LINGER_BYTES {
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() || self.set_read_timeout(Some(left)).is_err() {
                return;
            }
            match self.stream.read(&mut scratch) {
                Ok(0) => return,
                Ok(n) => read += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// How a connection that ended went: `None` for a clean close.
    pub(crate) fn take_failure(&mut self) -> Option<WsError> {
        match self.failure.take() {
            Some(failure) if failure.is_transport() && self.close_frame.is_some() => None,
            other => other,
        }
    }
}
