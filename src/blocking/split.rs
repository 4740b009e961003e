//! A blocking connection split for threads: a [`Reader`] that reads and
//! keeps the deadlines, and cloneable [`Writer`]s.
//!
//! The machine sits behind a mutex that is never held across a blocking
//! call. Writing takes the output's bytes out under the lock and writes
//! them outside it, one thread at a time, so a reader that must send a
//! Pong never waits for the lock while another thread is stuck in a write,
//! and frames never interleave.

use super::engine::Engine;
use crate::frontend::deliverable;
use crate::message::{CloseFrame, Message, OwnedEvent};
use crate::ws_error::WsError;
use crate::{Clock, CloseCode, Connection, ReadyState, SendError};
use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Bytes read per call.
const READ_SIZE: usize = 16 * 1024;

/// The shortest read timeout set (zero means "none" to the OS).
const MIN_WAIT: Duration = Duration::from_millis(1);

struct State {
    conn: Connection,
    /// A thread is writing output outside the lock.
    writing: bool,
    failure: Option<WsError>,
    close_frame: Option<CloseFrame>,
    done: bool,
    held: VecDeque<Message>,
    /// Counts Pongs that answered our latest Ping.
    pongs: u64,
}

struct Shared {
    state: Mutex<State>,
    /// The connection's clock, kept from before the split: its time never
    /// goes back.
    clock: Clock,
    /// Signalled when output was written, a Pong came, or the end came.
    progress: Condvar,
    stream: TcpStream,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.progress.wait(state).unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the output until it is empty, one writer at a time; returns
    /// at once if another thread is writing (it writes what was queued).
    fn write_out(&self, scratch: &mut Vec<u8>) -> Result<(), WsError> {
        loop {
            let mut state = self.lock();
            if state.writing {
                return Ok(());
            }
            scratch.clear();
            loop {
                let chunk = state.conn.pending_output();
                if chunk.is_empty() || scratch.len() >= 1 << 20 {
                    break;
                }
                scratch.extend_from_slice(chunk);
                let n = chunk.len();
                state.conn.consume_output(n);
            }
            if scratch.is_empty() {
                return Ok(());
            }
            state.writing = true;
            drop(state);
            let written = (&self.stream).write_all(scratch);
            let mut state = self.lock();
            state.writing = false;
            self.progress.notify_all();
            if let Err(error) = written {
                let (reported, kept) = WsError::transport_twice(error);
                state.failure.get_or_insert(kept);
                state.conn.receive_eof();
                return Err(reported);
            }
        }
    }
}

pub(crate) fn split(
    engine: Engine<TcpStream>,
    receive_control: bool,
    held: VecDeque<Message>,
) -> io::Result<(Reader, Writer)> {
    let Engine {
        conn,
        stream,
        failure,
        close_frame,
        clock,
        ..
    } = engine;
    stream.set_read_timeout(None)?;
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            conn,
            writing: false,
            failure,
            close_frame,
            done: false,
            held,
            pongs: 0,
        }),
        progress: Condvar::new(),
        clock,
        stream,
    });
    let reader = Reader {
        shared: shared.clone(),
        buf: vec![0; READ_SIZE],
        scratch: Vec::new(),
        receive_control,
        read_timeout: None,
    };
    Ok((
        reader,
        Writer {
            shared,
            scratch: Vec::new(),
        },
    ))
}

/// A message the machine has decoded, noting what the others need.
fn next_message(shared: &Shared, state: &mut State, receive_control: bool) -> Option<Message> {
    if let Some(message) = state.held.pop_front() {
        return Some(message);
    }
    while let Some(event) = state.conn.next_owned_event() {
        match &event {
            OwnedEvent::Failed(error) => {
                state.failure.get_or_insert(WsError::Protocol(*error));
            }
            OwnedEvent::Message(Message::Close(frame)) => state.close_frame = frame.clone(),
            OwnedEvent::Pong { rtt: Some(_), .. } => {
                state.pongs += 1;
                shared.progress.notify_all();
            }
            OwnedEvent::WriteBackpressure(false) => shared.progress.notify_all(),
            _ => {}
        }
        if let Some(message) = deliverable(event, receive_control) {
            return Some(message);
        }
    }
    None
}

/// The reading half of a split blocking [`WebSocket`](super::WebSocket): it
/// reads, answers Pings (writing the Pongs itself), and keeps the deadlines.
/// Keep a thread in [`recv`](Self::recv) for the connection to stay alive.
pub struct Reader {
    shared: Arc<Shared>,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    receive_control: bool,
    read_timeout: Option<Duration>,
}

impl core::fmt::Debug for Reader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reader").finish_non_exhaustive()
    }
}

impl Reader {
    /// The next message; `None` once the connection closed cleanly.
    pub fn recv(&mut self) -> Option<Result<Message, WsError>> {
        loop {
            let shared = self.shared.clone();
            let wait = {
                let mut state = shared.lock();
                if let Some(message) = next_message(&shared, &mut state, self.receive_control) {
                    drop(state);
                    // Pongs and echoes queued by that step go out now.
                    let _ = self.shared.write_out(&mut self.scratch);
                    return Some(Ok(message));
                }
                if state.done {
                    let failure = state.failure.take();
                    return match failure {
                        Some(failure) if failure.is_transport() && state.close_frame.is_some() => {
                            None
                        }
                        other => other.map(Err),
                    };
                }
                if state.conn.is_aborted() {
                    state.done = true;
                    shared.progress.notify_all();
                    continue;
                }
                if state.conn.ready_state() == ReadyState::Closed {
                    drop(state);
                    self.linger();
                    continue;
                }
                // A Close a Writer sends moves the deadlines while this thread
                // is in a read: reads never outlast the close timeout, so it
                // is noticed in time.
                let cap = state
                    .conn
                    .config()
                    .close_timeout
                    .unwrap_or(Duration::from_secs(10));
                let deadline = state.conn.poll_timeout().map(|at| {
                    shared
                        .clock
                        .instant(at)
                        .saturating_duration_since(Instant::now())
                });
                Some(deadline.map_or(cap, |wait| wait.min(cap)))
            };
            if self.shared.write_out(&mut self.scratch).is_err() {
                continue;
            }
            self.read_once(wait);
        }
    }

    /// One read, no longer than `wait`; the bytes go to the machine.
    fn read_once(&mut self, wait: Option<Duration>) {
        if wait != Some(Duration::ZERO) {
            let wanted = wait.map(|w| w.max(MIN_WAIT));
            if wanted != self.read_timeout && self.shared.stream.set_read_timeout(wanted).is_ok() {
                self.read_timeout = wanted;
            }
            let read = (&self.shared.stream).read(&mut self.buf);
            let mut state = self.shared.lock();
            match read {
                Ok(0) => state.conn.receive_eof(),
                Ok(n) => state.conn.receive(&self.buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    state.failure.get_or_insert(WsError::from(e));
                    state.conn.receive_eof();
                }
            }
            state.conn.handle_timeout(self.shared.clock.now());
        } else {
            let mut state = self.shared.lock();
            state.conn.handle_timeout(self.shared.clock.now());
        }
    }

    /// After the close: the last bytes out, FIN, the peer's end of stream.
    fn linger(&mut self) {
        let limit = {
            let state = self.shared.lock();
            state
                .conn
                .config()
                .close_timeout
                .unwrap_or(Duration::from_secs(10))
        };
        let give_up = Instant::now() + limit;
        if self.write_everything().is_ok() && self.shared.stream.shutdown(Shutdown::Write).is_ok() {
            let mut read = 0;
            while read < 1 << 20 {
                let left = give_up.saturating_duration_since(Instant::now());
                if left.is_zero() || self.shared.stream.set_read_timeout(Some(left)).is_err() {
                    break;
                }
                match (&self.shared.stream).read(&mut self.buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read += n,
                }
            }
        }
        let mut state = self.shared.lock();
        state.done = true;
        self.shared.progress.notify_all();
    }

    /// Writes the output to the end, waiting for other threads' writes.
    fn write_everything(&mut self) -> Result<(), WsError> {
        loop {
            self.shared.write_out(&mut self.scratch)?;
            let mut state = self.shared.lock();
            while state.writing {
                state = self.shared.wait(state);
            }
            if state.conn.buffered_amount() == 0 {
                return Ok(());
            }
        }
    }

    /// The peer's Close, once it arrived.
    pub fn close_frame(&self) -> Option<CloseFrame> {
        self.shared.lock().close_frame.clone()
    }
}

impl Iterator for Reader {
    type Item = Result<Message, WsError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.recv()
    }
}

/// A writing half of a split blocking [`WebSocket`](super::WebSocket);
/// clone it for every thread that sends. The [`Reader`] must keep reading
/// for Pongs and the Close to arrive.
pub struct Writer {
    shared: Arc<Shared>,
    scratch: Vec<u8>,
}

impl Clone for Writer {
    fn clone(&self) -> Self {
        Writer {
            shared: self.shared.clone(),
            scratch: Vec::new(),
        }
    }
}

impl core::fmt::Debug for Writer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    /// Queues a message and writes it; waits first while the output is above
    /// the high-water mark (another thread is writing it out).
    pub fn send(&mut self, message: impl Into<Message>) -> Result<(), WsError> {
        {
            let mut state = self.shared.lock();
            loop {
                if state.conn.ready_state() != ReadyState::Open {
                    return Err(WsError::Closed);
                }
                let high_water = state.conn.config().output_high_water;
                if state.conn.buffered_amount() <= high_water || !state.writing {
                    break;
                }
                state = self.shared.wait(state);
            }
            state.conn.send(message.into())?;
        }
        self.shared.write_out(&mut self.scratch)
    }

    /// Writes everything queued, waiting for another thread's write to end.
    pub fn flush(&mut self) -> Result<(), WsError> {
        self.shared.write_out(&mut self.scratch)?;
        let mut state = self.shared.lock();
        while state.writing {
            state = self.shared.wait(state);
        }
        Ok(())
    }

    /// Sends a Ping and waits until the [`Reader`] sees its Pong; returns the
    /// round-trip time.
    pub fn ping(&mut self, payload: &[u8]) -> Result<Duration, WsError> {
        let before = {
            let mut state = self.shared.lock();
            // The Ping's time is now, not the Reader's last read.
            state.conn.handle_timeout(self.shared.clock.now());
            state.conn.send_ping(payload)?;
            state.pongs
        };
        self.shared.write_out(&mut self.scratch)?;
        let mut state = self.shared.lock();
        loop {
            if state.pongs != before {
                return state.conn.latency().ok_or(WsError::Closed);
            }
            if state.done || state.conn.ready_state() == ReadyState::Closed {
                return Err(WsError::Closed);
            }
            state = self.shared.wait(state);
        }
    }

    /// Starts the closing handshake and writes the Close; the [`Reader`]
    /// completes it (its `recv` returns `None` once the peer's Close came).
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), WsError> {
        let limit = {
            let mut state = self.shared.lock();
            match state.conn.close(code, reason) {
                Ok(()) | Err(SendError::Closed) => {}
                Err(other) => return Err(WsError::Send(other)),
            }
            // The close deadline runs from now.
            state.conn.handle_timeout(self.shared.clock.now());
            state.conn.config().close_timeout
        };
        // Writes to a peer that does not read must not outlast it either.
        self.shared.stream.set_write_timeout(limit)?;
        self.shared.write_out(&mut self.scratch)
    }

    /// The round-trip time of the latest Ping answered.
    pub fn latency(&self) -> Option<Duration> {
        self.shared.lock().conn.latency()
    }
}
