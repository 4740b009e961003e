//! The WebSocket state machine: the only stateful part of the crate.
//!
//! Bytes come in through [`Connection::receive`], events go out through
//! [`Connection::next_event`], and everything to be written waits in
//! [`Connection::pending_output`]. See the crate documentation for the loop.

use crate::buffer::{ByteQueue, InputBuffer};
use crate::close::{parse_close_payload, CloseCode, MAX_REASON_LEN};
use crate::config::{Config, ReceiveMode};
use crate::error::{Error, SendError};
use crate::extensions::Extensions;
use crate::frame::{FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, RSV1};
use crate::handshake::{self, Accept, ClientRequest, HandshakeRequest, HandshakeResponse};
use crate::mask::{apply_mask, extend_masked};
use crate::timers::{Deadline, Timers};
use crate::utf8::Utf8Validator;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::time::Duration;

/// Which end of the connection this machine is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends masked frames and expects unmasked ones.
    Client,
    /// Sends unmasked frames and expects masked ones.
    Server,
}

/// The browser API's `readyState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadyState {
    /// The opening handshake is under way.
    Connecting,
    /// Messages flow both ways.
    Open,
    /// We sent a Close frame and wait for the peer's.
    Closing,
    /// The connection is over: closed cleanly, failed, or rejected. Write out
    /// what is still pending, then close the transport.
    Closed,
}

/// Text or binary, for fragmented sends and streamed receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}

/// Something the peer did, for the caller to act on.
///
/// Payloads borrow the connection's buffers (no copy, no allocation); copy
/// what you need before calling a `&mut` method of the connection again.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Server: a complete, valid opening-handshake request. Answer it with
    /// [`Connection::accept`] or [`Connection::reject`].
    HandshakeRequest(&'a HandshakeRequest),
    /// Client: the server accepted the upgrade (status 101, key verified).
    Connected(&'a HandshakeResponse),
    /// Client: the server answered with another status (401, 403, a redirect,
    /// ...). The connection is closed; the response tells the caller why.
    HandshakeRejected(&'a HandshakeResponse),
    /// A complete text message (in [`ReceiveMode::Message`]).
    Text(&'a str),
    /// A complete binary message (in [`ReceiveMode::Message`]).
    Binary(&'a [u8]),
    /// A piece of a text message (in [`ReceiveMode::Stream`]); it always ends
    /// on a character boundary. `last` marks the message's final piece.
    TextChunk {
        /// The text received since the previous piece.
        data: &'a str,
        /// True on the message's final piece.
        last: bool,
    },
    /// A piece of a binary message (in [`ReceiveMode::Stream`]).
    BinaryChunk {
        /// The bytes received since the previous piece.
        data: &'a [u8],
        /// True on the message's final piece.
        last: bool,
    },
    /// A Ping; a Pong is already queued unless `auto_pong` is off.
    Ping(&'a [u8]),
    /// A Pong.
    Pong(&'a [u8]),
    /// The peer's Close frame. If we had not sent one, the machine has queued
    /// the echo; either way the connection is now closed.
    Close {
        /// The peer's code; `None` when its Close frame had no payload (1005).
        code: Option<CloseCode>,
        /// The peer's reason, possibly empty.
        reason: &'a str,
    },
    /// Queued output crossed [`Config::output_high_water`] (`true`: stop
    /// producing, the peer is not reading fast enough) or fell back to
    /// [`Config::output_low_water`] (`false`: go on). Reported only while
    /// the connection is open: once it closes, nothing more will be sent.
    WriteBackpressure(bool),
    /// The connection failed (the peer broke the protocol, the handshake was
    /// invalid, a deadline passed, or the transport ended early). The right
    /// Close frame or HTTP response is queued. This is the last event.
    Failed(Error),
}

/// Where the opening handshake stands. Boxed inside the connection so an
/// open connection does not carry it.
#[derive(Debug)]
enum Handshake {
    /// Server reading the request head; `scanned` bytes searched so far.
    ReadingRequest { scanned: usize },
    /// Server waiting for the caller to accept or reject.
    AwaitingDecision(HandshakeRequest),
    /// Client waiting for the response head.
    ReadingResponse {
        scanned: usize,
        key: String,
        request: ClientRequest,
    },
    /// Client read the response; kept until the caller has seen it.
    Answered(HandshakeResponse),
}

/// The data or control frame being received.
#[derive(Clone, Copy, Debug)]
struct FrameState {
    opcode: OpCode,
    fin: bool,
    mask: Option<[u8; 4]>,
    /// Payload bytes not yet consumed from the input.
    remaining: usize,
    /// Of those, how many are already unmasked and validated.
    processed: usize,
    /// Payload offset of the first unconsumed byte, modulo 4: all the
    /// masking needs.
    phase: u8,
}

impl FrameState {
    fn advance_phase(&mut self, consumed: usize) {
        self.phase = ((self.phase as usize + consumed) % 4) as u8;
    }
}

/// The data message being received.
#[derive(Clone, Copy, Debug, Default)]
struct Incoming {
    kind: Option<MessageKind>,
    /// The message was sent transformed by an extension (RSV1).
    compressed: bool,
    utf8: Utf8Validator,
    /// Bytes announced so far by the message's frame headers.
    declared: usize,
}

/// Where the payload of a ready event lives.
#[derive(Clone, Copy, Debug)]
enum Payload {
    /// `len` bytes at the front of the input.
    Input(usize),
    /// The reassembly buffer.
    Message,
    /// The text reassembly buffer, validated as it was filled.
    Text,
}

/// An event found by [`Connection::step`], before it borrows the buffers.
#[derive(Clone, Copy, Debug)]
enum Ready {
    HandshakeRequest,
    HandshakeAnswered {
        accepted: bool,
    },
    Message(MessageKind, Payload),
    /// A text message that is one whole frame at the front of the input,
    /// unmasked but not yet validated (`Connection::whole_text` does that).
    WholeText(usize),
    Chunk {
        kind: MessageKind,
        from_message: bool,
        len: usize,
        last: bool,
    },
    Ping(usize),
    Pong(usize),
    Close(Option<CloseCode>, usize),
    Failed(Error),
}

/// Work left over from the previous event, done before the next call reads
/// the buffers (the event borrowed them until then).
#[derive(Clone, Copy, Debug, Default)]
struct Release {
    /// Bytes handed out from the front of the input, or (with
    /// `from_message`) of the message buffer, which stream mode with an
    /// extension hands out from.
    consume: usize,
    from_message: bool,
    clear_message: bool,
    drop_handshake: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Handshaking,
    Open,
    Closed,
}

/// Masking keys and handshake keys for clients: SipHash over a counter, keyed
/// with randomness, so keys on the wire do not reveal the next ones (§10.3).
#[derive(Clone, Debug)]
struct KeyStream {
    keys: (u64, u64),
    /// Even: the next key needs a fresh hash. Odd: `spare` holds it.
    counter: u64,
    spare: u32,
}

impl KeyStream {
    fn new(seed: Option<u64>) -> Option<KeyStream> {
        let keys = match seed {
            Some(seed) => (seed, seed.rotate_left(32) ^ 0x9E37_79B9_7F4A_7C15),
            None => os_random_keys()?,
        };
        Some(KeyStream {
            keys,
            counter: 0,
            spare: 0,
        })
    }

    fn hash(&self, input: u64) -> u64 {
        use core::hash::Hasher as _;
        #[allow(deprecated)] // SipHasher is the PRF we want; core has no other keyed hash.
        let mut hasher = core::hash::SipHasher::new_with_keys(self.keys.0, self.keys.1);
        hasher.write_u64(input);
        hasher.finish()
    }

    fn next_u64(&mut self) -> u64 {
        // Skip a pending spare half: every hash input is used once.
        self.counter = (self.counter + 1) & !1;
        let value = self.hash(self.counter);
        self.counter += 2;
        value
    }

    /// One 64-bit hash makes two masking keys.
    fn mask_key(&mut self) -> [u8; 4] {
        if self.counter & 1 == 1 {
            self.counter += 1;
            return self.spare.to_le_bytes();
        }
        let value = self.hash(self.counter);
        self.counter += 1;
        self.spare = (value >> 32) as u32;
        (value as u32).to_le_bytes()
    }
}

#[cfg(feature = "std")]
fn os_random_keys() -> Option<(u64, u64)> {
    use std::hash::BuildHasher as _;
    // RandomState is seeded from the OS; its hashes are unpredictable 64-bit values.
    let state = std::collections::hash_map::RandomState::new();
    Some((state.hash_one(0x5753_u64), state.hash_one(0x4d41_u64)))
}

#[cfg(not(feature = "std"))]
fn os_random_keys() -> Option<(u64, u64)> {
    None
}

/// A WebSocket connection, client or server, without any I/O.
///
/// ```
/// use wsmachine::{Config, Connection, Event, Accept};
///
/// let mut server = Connection::server(Config::default());
/// server.receive(b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\n\r\n");
/// match server.next_event() {
///     Some(Event::HandshakeRequest(request)) => assert_eq!(request.path(), "/chat"),
///     other => panic!("unexpected {other:?}"),
/// }
/// server.accept(Accept::new()).unwrap();
/// let response = server.pending_output().to_vec();
/// assert!(response.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
/// server.consume_output(response.len());
///
/// // The RFC's masked "Hello" (§5.7).
/// server.receive(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// assert_eq!(server.next_event(), Some(Event::Text("Hello")));
/// server.send_text("Hello").unwrap();
/// assert_eq!(server.pending_output(), b"\x81\x05Hello");
/// ```
#[derive(Debug)]
pub struct Connection {
    /// Shared: many connections can run with one configuration.
    config: Arc<Config>,
    role: Role,
    phase: Phase,
    handshake: Option<Box<Handshake>>,
    input: InputBuffer,
    output: ByteQueue,
    message: Vec<u8>,
    /// A text message being reassembled, validated piece by piece on the
    /// way in (message mode, uncompressed).
    text: String,
    frame: Option<FrameState>,
    incoming: Incoming,
    /// Stream mode: bytes of a split character kept at the front of the input
    /// across a frame boundary (at most 3).
    carried: u8,
    /// The kind of the fragmented message we are sending, if one is open.
    outgoing: Option<MessageKind>,
    outgoing_utf8: Utf8Validator,
    keys: Option<KeyStream>,
    extensions: Extensions,
    /// The fragmented message we are sending is transformed (compressed).
    outgoing_compressed: bool,
    release: Release,
    protocol: Option<Box<str>>,
    error: Option<Error>,
    close_sent: bool,
    close_received: bool,
    input_ended: bool,
    timers: Timers,
    /// A failure found by `handle_timeout`, reported by the next `next_event`.
    timed_out: Option<Error>,
    events_paused: bool,
    backpressured: bool,
}

impl Connection {
    fn new(role: Role, phase: Phase, config: Arc<Config>, handshake: Option<Handshake>) -> Self {
        Connection {
            config,
            role,
            phase,
            handshake: handshake.map(Box::new),
            input: InputBuffer::new(),
            output: ByteQueue::new(),
            message: Vec::new(),
            text: String::new(),
            frame: None,
            incoming: Incoming::default(),
            carried: 0,
            outgoing: None,
            outgoing_utf8: Utf8Validator::new(),
            keys: None,
            extensions: Extensions::default(),
            outgoing_compressed: false,
            release: Release::default(),
            protocol: None,
            error: None,
            close_sent: false,
            close_received: false,
            input_ended: false,
            timers: Timers::default(),
            timed_out: None,
            events_paused: false,
            backpressured: false,
        }
    }

    /// A server waiting for a client's opening handshake.
    ///
    /// `config` is a [`Config`] or an `Arc<Config>` shared by many
    /// connections (then each costs one pointer for it).
    pub fn server(config: impl Into<Arc<Config>>) -> Self {
        Connection::new(
            Role::Server,
            Phase::Handshaking,
            config.into(),
            Some(Handshake::ReadingRequest { scanned: 0 }),
        )
    }

    /// A client; its opening-handshake request is queued at once.
    ///
    /// Fails with [`SendError::InvalidHttp`] if a request field would break
    /// the HTTP head (a line break in a header, a space in the target), and
    /// with [`SendError::NoRandomness`] without the `std` feature unless
    /// [`Config::mask_seed`] is set.
    ///
    /// ```
    /// use wsmachine::{ClientRequest, Config, Connection};
    /// let client = Connection::client(ClientRequest::new("example.com", "/chat"), Config::default()).unwrap();
    /// assert!(client.pending_output().starts_with(b"GET /chat HTTP/1.1\r\n"));
    /// ```
    pub fn client(
        request: ClientRequest,
        config: impl Into<Arc<Config>>,
    ) -> Result<Self, SendError> {
        let config = config.into();
        if !request.is_well_formed() {
            return Err(SendError::InvalidHttp);
        }
        let mut keys = KeyStream::new(config.mask_seed).ok_or(SendError::NoRandomness)?;
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&keys.next_u64().to_le_bytes());
        nonce[8..].copy_from_slice(&keys.next_u64().to_le_bytes());
        use base64::Engine as _;
        let key = base64::engine::general_purpose::STANDARD.encode(nonce);
        let mut conn = Connection::new(Role::Client, Phase::Handshaking, config, None);
        let offers = Extensions::client_offers(&conn.config);
        conn.output
            .write_with(256, |out| request.write(out, &key, &offers));
        conn.keys = Some(keys);
        conn.handshake = Some(Box::new(Handshake::ReadingResponse {
            scanned: 0,
            key,
            request,
        }));
        Ok(conn)
    }

    /// A connection whose opening handshake was done elsewhere (by hyper,
    /// axum, ...): it starts [`ReadyState::Open`].
    ///
    /// Fails only for a client without randomness (see [`Connection::client`]).
    pub fn upgraded(role: Role, config: impl Into<Arc<Config>>) -> Result<Self, SendError> {
        let config = config.into();
        let keys = match role {
            Role::Client => Some(KeyStream::new(config.mask_seed).ok_or(SendError::NoRandomness)?),
            Role::Server => None,
        };
        let mut conn = Connection::new(role, Phase::Open, config, None);
        conn.keys = keys;
        Ok(conn)
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration the connection runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Like the browser's `readyState`.
    pub fn ready_state(&self) -> ReadyState {
        match self.phase {
            Phase::Handshaking => ReadyState::Connecting,
            Phase::Open if self.close_sent => ReadyState::Closing,
            Phase::Open => ReadyState::Open,
            Phase::Closed => ReadyState::Closed,
        }
    }

    /// Why the connection failed, if it did.
    pub fn error(&self) -> Option<Error> {
        self.error
    }

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The permessage-deflate parameters agreed in the handshake, if any.
    #[cfg(feature = "deflate")]
    pub fn deflate_params(&self) -> Option<crate::DeflateParams> {
        self.extensions.deflate_params()
    }

    /// Server: the request being decided on (between the
    /// [`Event::HandshakeRequest`] and `accept`/`reject`).
    pub fn handshake_request(&self) -> Option<&HandshakeRequest> {
        match self.handshake.as_deref() {
            Some(Handshake::AwaitingDecision(request)) => Some(request),
            _ => None,
        }
    }

    // ---------------------------------------------------------------- input

    /// Feeds bytes read from the transport. They are buffered; call
    /// [`next_event`](Self::next_event) until it returns `None` before feeding
    /// more, so the buffer stays bounded by the configured limits.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.apply_release();
        if self.phase == Phase::Closed || self.close_received || self.input_ended {
            return;
        }
        self.timers.received |= !bytes.is_empty();
        self.reserve_rest_of_frame(bytes.len());
        let direct = self.unmask_on_arrival(bytes.len());
        let (payload, rest) = bytes.split_at(direct.map_or(0, |(len, _, _)| len));
        if let Some((_, key, phase)) = direct {
            self.input.extend_masked(payload, key, phase);
        }
        self.input.extend(rest);
    }

    /// A data frame that has proven large (by delivering
    /// [`RESERVE_AFTER`] bytes, not just by declaring a length) gets room
    /// for the rest of its payload at once, so the buffer is not copied at
    /// every doubling. Its length is within `max_frame_size`, checked with
    /// the header.
    fn reserve_rest_of_frame(&mut self, arriving: usize) {
        let Some(frame) = self.frame else { return };
        let buffered = self.input.len() - self.carried as usize;
        let rest = frame.remaining.saturating_sub(buffered);
        if !frame.opcode.is_control() && buffered >= RESERVE_AFTER && rest > arriving {
            self.input.reserve(rest);
        }
    }

    /// How many of `arriving` bytes continue the payload of a masked binary
    /// (or compressed) frame whose buffered bytes are all processed, with the
    /// key and payload offset to unmask them: those are unmasked while they
    /// are copied in, which saves a second pass over them, and count as
    /// processed at once. Text still gets its validation pass in `step`.
    fn unmask_on_arrival(&mut self, arriving: usize) -> Option<(usize, [u8; 4], usize)> {
        let frame = self.frame.as_mut()?;
        let key = frame.mask?;
        // Text in message mode is validated by `step_text` from the buffer,
        // whether unmasked there or here; stream mode validates in place.
        let plain = self.incoming.kind == Some(MessageKind::Binary)
            || self.incoming.compressed
            || self.config.receive_mode == ReceiveMode::Message;
        let buffered = self.input.len() - self.carried as usize;
        if frame.opcode.is_control() || !plain || frame.processed != buffered {
            return None;
        }
        let len = frame.remaining.saturating_sub(buffered).min(arriving);
        frame.processed += len;
        Some((len, key, frame.phase as usize + buffered))
    }

    /// Zero-copy receive, step one: room for at least `min` bytes to read
    /// the transport straight into; then report the count with
    /// [`commit_received`](Self::commit_received). Saves the copy
    /// [`receive`](Self::receive) makes, and the room is not zero-filled on
    /// every call.
    ///
    /// ```
    /// use wsmachine::{Config, Connection, Event, Role};
    /// let mut client = Connection::upgraded(Role::Client, Config::default()).unwrap();
    /// let frame = b"\x81\x02hi"; // as if from socket.read(buffer)
    /// let buffer = client.receive_buffer(4096);
    /// buffer[..frame.len()].copy_from_slice(frame);
    /// client.commit_received(frame.len());
    /// assert_eq!(client.next_event(), Some(Event::Text("hi")));
    /// ```
    pub fn receive_buffer(&mut self, min: usize) -> &mut [u8] {
        self.apply_release();
        self.reserve_rest_of_frame(min);
        self.input.spare(min.max(1))
    }

    /// Zero-copy receive, step two: the first `n` bytes of the buffer from
    /// [`receive_buffer`](Self::receive_buffer) were filled.
    pub fn commit_received(&mut self, n: usize) {
        if self.phase == Phase::Closed || self.close_received || self.input_ended {
            return;
        }
        self.timers.received |= n > 0;
        self.input.commit(n);
    }

    /// Tells the machine the transport will deliver no more bytes (the read
    /// returned 0). Unless the connection was already closed, it fails with
    /// [`Error::AbnormalClosure`] once the buffered bytes are processed.
    pub fn receive_eof(&mut self) {
        self.input_ended = true;
    }

    /// The next event, or `None` when more input (or a caller decision) is
    /// needed.
    pub fn next_event(&mut self) -> Option<Event<'_>> {
        self.apply_release();
        if let Some(error) = self.timed_out.take() {
            return Some(Event::Failed(error));
        }
        if let Some(high) = self.backpressure_change() {
            return Some(Event::WriteBackpressure(high));
        }
        if self.events_paused {
            return None;
        }
        let ready = self.step()?;
        if let Ready::WholeText(len) = ready {
            return Some(self.whole_text(len));
        }
        Some(self.materialize(ready))
    }

    /// A text message that arrived as one whole frame is validated here, in
    /// the same pass that yields its `&str`: one look at the bytes instead of
    /// two. The failure path can still run because the text borrows only
    /// the input (`split_for_failure`).
    fn whole_text(&mut self, len: usize) -> Event<'_> {
        let (input, mut failing) = self.split_for_failure();
        let input: &InputBuffer = input;
        match simdutf8::basic::from_utf8(&input.live()[..len]) {
            Ok(text) => Event::Text(text),
            Err(_) => Event::Failed(failing.fail(Error::InvalidUtf8)),
        }
    }

    fn backpressure_change(&mut self) -> Option<bool> {
        if self.phase != Phase::Open {
            return None;
        }
        let queued = self.output.len();
        let changed = if self.backpressured {
            queued <= self.config.output_low_water
        } else {
            queued > self.config.output_high_water
        };
        if changed {
            self.backpressured = !self.backpressured;
            return Some(self.backpressured);
        }
        None
    }

    /// Stops (`true`) or resumes (`false`) handing out protocol events, for an
    /// application that cannot keep up. Received bytes stay buffered, none is
    /// lost; stop reading the transport while [`wants_read`](Self::wants_read)
    /// is false so the buffer stays bounded. Timeouts and backpressure are
    /// still reported.
    pub fn pause_events(&mut self, paused: bool) {
        self.events_paused = paused;
    }

    /// Whether the caller should read more from the transport: false while
    /// events are paused and once the connection no longer reads.
    ///
    /// Also false while a server waits for `accept`/`reject`, so a client
    /// cannot make it buffer without bound in the meantime.
    pub fn wants_read(&self) -> bool {
        let deciding = matches!(
            self.handshake.as_deref(),
            Some(Handshake::AwaitingDecision(_) | Handshake::Answered(_))
        );
        !self.events_paused
            && !deciding
            && !self.close_received
            && !self.input_ended
            && self.phase != Phase::Closed
    }

    // ----------------------------------------------------------------- time

    /// The time by which [`handle_timeout`](Self::handle_timeout) should be
    /// called, in the caller's time base; `None` when no deadline is pending.
    ///
    /// `Some(Duration::ZERO)` means "tell me the time now": a deadline needs
    /// arming (at the first call, or after a state change such as sending
    /// Close).
    pub fn poll_timeout(&self) -> Option<Duration> {
        Deadline::ALL
            .into_iter()
            .filter_map(|which| {
                self.deadline_length(which)
                    .map(|_| self.timers.get(which).unwrap_or(Duration::ZERO))
            })
            .min()
    }

    /// Acts on the deadlines due at `now` (a `Duration` since any origin the
    /// caller keeps fixed): keepalive Pings, and the handshake, keepalive,
    /// closing, message and idle timeouts. Calling it early or twice does
    /// nothing; calling it after each [`receive`](Self::receive) makes idle
    /// accounting exact (otherwise it is exact to the call).
    ///
    /// ```
    /// use core::time::Duration;
    /// use wsmachine::{Config, Connection, Role};
    /// let config = Config { ping_interval: Some(Duration::from_secs(5)), ..Config::default() };
    /// let mut server = Connection::upgraded(Role::Server, config).unwrap();
    /// assert_eq!(server.poll_timeout(), Some(Duration::ZERO)); // arm the timers
    /// server.handle_timeout(Duration::from_secs(100));
    /// assert_eq!(server.poll_timeout(), Some(Duration::from_secs(105)));
    /// server.handle_timeout(Duration::from_secs(105));
    /// assert_eq!(server.pending_output(), b"\x89\x00"); // keepalive Ping
    /// ```
    pub fn handle_timeout(&mut self, now: Duration) {
        let now = self.timers.now().map_or(now, |before| before.max(now));
        self.timers.set_now(now);
        if core::mem::take(&mut self.timers.received) {
            // Any traffic proves the peer is alive.
            self.timers.set(Deadline::Pong, None);
            self.timers.set(Deadline::Keepalive, None);
            self.timers.set(Deadline::Idle, None);
        }
        for which in Deadline::ALL {
            let Some(length) = self.deadline_length(which) else {
                self.timers.set(which, None);
                continue;
            };
            let at = match self.timers.get(which) {
                Some(at) => at,
                None => {
                    self.timers.set(which, Some(now + length));
                    continue;
                }
            };
            if at <= now && self.timed_out.is_none() && self.phase != Phase::Closed {
                self.timers.set(which, None);
                self.fire(which, now);
            }
        }
    }

    /// How long deadline `which` runs when the connection's state calls for
    /// it; `None` when it does not apply now.
    fn deadline_length(&self, which: Deadline) -> Option<Duration> {
        let open = self.phase == Phase::Open && !self.close_sent;
        match which {
            Deadline::Handshake if self.phase == Phase::Handshaking => {
                self.config.handshake_timeout
            }
            Deadline::Keepalive if open && self.timers.get(Deadline::Pong).is_none() => {
                self.config.ping_interval
            }
            Deadline::Pong if open => self
                .timers
                .get(Deadline::Pong)
                .map(|_| self.config.pong_timeout),
            Deadline::Close
                if self.phase == Phase::Open && self.close_sent && !self.close_received =>
            {
                self.config.close_timeout
            }
            Deadline::Message if open && self.incoming.kind.is_some() => {
                self.config.message_timeout
            }
            Deadline::Idle if open => self.config.idle_timeout,
            _ => None,
        }
    }

    fn fire(&mut self, which: Deadline, now: Duration) {
        match which {
            Deadline::Handshake => self.fail_later(Error::HandshakeTimeout),
            Deadline::Keepalive => {
                self.write_frame(OpCode::Ping, true, b"");
                self.timers
                    .set(Deadline::Pong, Some(now + self.config.pong_timeout));
            }
            Deadline::Pong => self.fail_later(Error::KeepaliveTimeout),
            Deadline::Close => self.fail_later(Error::CloseTimeout),
            Deadline::Message => self.fail_later(Error::MessageTimeout),
            Deadline::Idle => {
                let _ = self.close(CloseCode::GOING_AWAY, "idle timeout");
            }
        }
    }

    /// Fails from outside `next_event`: the Close or HTTP response is queued
    /// now, the event is reported by the next `next_event`.
    fn fail_later(&mut self, error: Error) {
        self.fail(error);
        self.timed_out = Some(error);
    }

    fn apply_release(&mut self) {
        let release = core::mem::take(&mut self.release);
        if release.from_message {
            self.message
                .drain(..release.consume.min(self.message.len()));
        } else {
            self.input.consume(release.consume);
        }
        if release.clear_message {
            self.message.clear();
            if self.message.capacity() > 64 * 1024 {
                self.message = Vec::new();
            }
            self.text.clear();
            if self.text.capacity() > 64 * 1024 {
                self.text = String::new();
            }
        }
        if release.drop_handshake {
            self.handshake = None;
            self.input.release_if_empty();
        }
        if self.phase == Phase::Closed {
            self.input.clear();
            self.input.release_if_empty();
            self.message = Vec::new();
            self.text = String::new();
        }
    }

    fn materialize(&self, ready: Ready) -> Event<'_> {
        let input = self.input.live();
        match ready {
            Ready::HandshakeRequest => match self.handshake.as_deref() {
                Some(Handshake::AwaitingDecision(request)) => Event::HandshakeRequest(request),
                // Not reachable: the event is made only in that state. Checked
                // in debug builds (tests, fuzzing); never a panic in release.
                _ => {
                    debug_assert!(false, "handshake request event without a request");
                    Event::Failed(Error::MalformedRequest)
                }
            },
            Ready::HandshakeAnswered { accepted } => match self.handshake.as_deref() {
                Some(Handshake::Answered(response)) if accepted => Event::Connected(response),
                Some(Handshake::Answered(response)) => Event::HandshakeRejected(response),
                _ => {
                    debug_assert!(false, "handshake response event without a response");
                    Event::Failed(Error::MalformedResponse)
                }
            },
            Ready::Message(kind, payload) => {
                let bytes = match payload {
                    Payload::Input(len) => &input[..len],
                    Payload::Message => &self.message[..],
                    Payload::Text => return Event::Text(&self.text),
                };
                match kind {
                    MessageKind::Text => Event::Text(validated_str(bytes)),
                    MessageKind::Binary => Event::Binary(bytes),
                }
            }
            Ready::Chunk {
                kind,
                from_message,
                len,
                last,
            } => {
                let data = if from_message {
                    &self.message[..len]
                } else {
                    &input[..len]
                };
                match kind {
                    MessageKind::Text => Event::TextChunk {
                        data: validated_str(data),
                        last,
                    },
                    MessageKind::Binary => Event::BinaryChunk { data, last },
                }
            }
            Ready::Ping(len) => Event::Ping(&input[..len]),
            Ready::Pong(len) => Event::Pong(&input[..len]),
            Ready::Close(code, len) => Event::Close {
                code,
                // Validated in `parse_close_payload`; reason follows the code.
                reason: validated_str(input.get(2..len).unwrap_or_default()),
            },
            Ready::Failed(error) => Event::Failed(error),
            // `next_event` hands these to `whole_text`; not reachable here.
            Ready::WholeText(_) => {
                debug_assert!(false, "whole text must be validated by whole_text");
                Event::Failed(Error::InvalidUtf8)
            }
        }
    }

    /// Advances the machine as far as the buffered input allows, up to the
    /// next event.
    fn step(&mut self) -> Option<Ready> {
        loop {
            let progress = match self.phase {
                Phase::Closed => return None,
                Phase::Handshaking => self.step_handshake(),
                Phase::Open if self.close_received => return None,
                Phase::Open => self.step_frames(),
            };
            match progress {
                Step::Event(ready) => return Some(ready),
                Step::Continue => continue,
                Step::NeedInput if self.input_ended => {
                    return Some(self.fail(Error::AbnormalClosure));
                }
                Step::NeedInput => return None,
            }
        }
    }

    fn step_handshake(&mut self) -> Step {
        let max_head = self.config.max_handshake_bytes;
        let Some(handshake) = self.handshake.as_deref_mut() else {
            return Step::NeedInput;
        };
        let live = self.input.live();
        let (scanned, is_server) = match handshake {
            Handshake::ReadingRequest { scanned } => (scanned, true),
            Handshake::ReadingResponse { scanned, .. } => (scanned, false),
            // Waiting for the caller (server) or for the event to be taken (client).
            Handshake::AwaitingDecision(_) | Handshake::Answered(_) => return Step::NeedInput,
        };
        let Some(end) = handshake::find_head_end(live, *scanned) else {
            *scanned = live.len();
            let too_large = live.len() > max_head;
            let error = if is_server {
                if too_large {
                    Some(Error::RequestHeadTooLarge)
                } else if !plausible_request_start(live) {
                    Some(Error::MalformedRequest)
                } else {
                    None
                }
            } else {
                too_large.then_some(Error::ResponseHeadTooLarge)
            };
            return match error {
                Some(error) => Step::Event(self.fail(error)),
                None => Step::NeedInput,
            };
        };
        if end > max_head {
            let error = if is_server {
                Error::RequestHeadTooLarge
            } else {
                Error::ResponseHeadTooLarge
            };
            return Step::Event(self.fail(error));
        }
        let head = &live[..end];
        let max_headers = self.config.max_headers;
        let outcome = match handshake {
            Handshake::ReadingRequest { .. } => {
                handshake::parse_request(head, max_headers, self.config.allow_plain_http)
                    .map(Handshake::AwaitingDecision)
            }
            Handshake::ReadingResponse { key, request, .. } => {
                handshake::parse_response(head, max_headers, key, request).map(Handshake::Answered)
            }
            // Returned above for every other state.
            _ => return Step::NeedInput,
        };
        self.input.consume(end);
        match outcome {
            Err(error) => Step::Event(self.fail(error)),
            Ok(next) => {
                *handshake = next;
                match handshake {
                    Handshake::AwaitingDecision(_) => Step::Event(Ready::HandshakeRequest),
                    Handshake::Answered(response) => {
                        let accepted = response.status() == 101;
                        if accepted {
                            match Extensions::client_accept(response.extensions(), &self.config) {
                                Ok(extensions) => self.extensions = extensions,
                                Err(error) => return Step::Event(self.fail(error)),
                            }
                            self.protocol = response.protocol().map(Box::from);
                            self.phase = Phase::Open;
                        } else {
                            self.phase = Phase::Closed;
                        }
                        self.release.drop_handshake = true;
                        Step::Event(Ready::HandshakeAnswered { accepted })
                    }
                    // `next` is one of the two states above.
                    _ => Step::NeedInput,
                }
            }
        }
    }

    fn step_frames(&mut self) -> Step {
        let frame = match self.frame {
            Some(frame) => frame,
            None => {
                if let Some(ready) = self.whole_frame() {
                    return Step::Event(ready);
                }
                match self.read_frame_header() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => return Step::NeedInput,
                    Err(error) => return Step::Event(self.fail(error)),
                }
            }
        };
        if frame.opcode.is_control() {
            self.step_control(frame)
        } else {
            self.step_data(frame)
        }
    }

    /// The common case in one go: a whole unfragmented, uncompressed data
    /// frame with a short header is buffered and no message is in progress.
    /// Everything else, every error included, takes the general path, which
    /// would reach the same result in several rounds.
    fn whole_frame(&mut self) -> Option<Ready> {
        if self.config.receive_mode != ReceiveMode::Message
            || self.incoming.kind.is_some()
            || self.carried != 0
        {
            return None;
        }
        let live = self.input.live_mut();
        let [first, second] = *live.first_chunk::<2>()?;
        let kind = match first {
            0x81 => MessageKind::Text,
            0x82 => MessageKind::Binary,
            _ => return None,
        };
        let masked = second & 0x80 != 0;
        if masked != (self.role == Role::Server) {
            return None;
        }
        let (len, length_bytes) = match second & 0x7f {
            127 => return None,
            126 => {
                let len = u16::from_be_bytes(*live.get(2..)?.first_chunk::<2>()?) as usize;
                if len < 126 {
                    return None;
                }
                (len, 2)
            }
            len => (len as usize, 0),
        };
        if len > self.config.max_frame_size || len > self.config.max_message_size {
            return None;
        }
        let key_at = 2 + length_bytes;
        let header_len = key_at + if masked { 4 } else { 0 };
        let (header, rest) = live.split_at_mut_checked(header_len)?;
        let payload = rest.get_mut(..len)?;
        if masked {
            let key = *header.get(key_at..)?.first_chunk::<4>()?;
            apply_mask(payload, key, 0);
        }
        self.input.consume(header_len);
        self.release.consume = len;
        Some(match kind {
            MessageKind::Text => Ready::WholeText(len),
            MessageKind::Binary => Ready::Message(kind, Payload::Input(len)),
        })
    }

    /// Parses and checks the next frame header, consuming it from the input.
    fn read_frame_header(&mut self) -> Result<Option<FrameState>, Error> {
        let carried = self.carried as usize;
        let Some((header, header_len)) = FrameHeader::decode(
            &self.input.live()[carried..],
            self.config.allow_non_minimal_length,
        )?
        else {
            return Ok(None);
        };
        // Extensions may claim RSV bits on a message's first frame only.
        let first_frame = matches!(header.opcode, OpCode::Text | OpCode::Binary);
        let allowed_rsv = if first_frame {
            self.extensions.allowed_rsv()
        } else {
            0
        };
        if header.rsv & !allowed_rsv != 0 {
            return Err(Error::ReservedBitsSet);
        }
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) if !self.config.allow_unmasked_client_frames => {
                return Err(Error::UnmaskedFrame)
            }
            (Role::Client, true) => return Err(Error::MaskedFrame),
            _ => {}
        }
        let len = usize::try_from(header.payload_len).unwrap_or(usize::MAX);
        if !header.opcode.is_control() {
            let starts_message = header.opcode != OpCode::Continuation;
            match (starts_message, self.incoming.kind.is_some()) {
                (true, true) => return Err(Error::ExpectedContinuation),
                (false, false) => return Err(Error::UnexpectedContinuation),
                _ => {}
            }
            if len > self.config.max_frame_size {
                return Err(Error::FrameTooLarge);
            }
            if self.config.receive_mode == ReceiveMode::Message
                && self.incoming.declared.saturating_add(len) > self.config.max_message_size
            {
                return Err(Error::MessageTooLarge);
            }
            if starts_message {
                self.incoming.compressed = header.rsv & RSV1 != 0;
                self.incoming.kind = Some(if header.opcode == OpCode::Text {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                });
            }
            self.incoming.declared += len;
        }
        // Drop the header; in stream mode, glue a carried partial character to
        // the payload that completes it.
        self.input.remove_gap(carried, header_len);
        let frame = FrameState {
            opcode: header.opcode,
            fin: header.fin,
            mask: header.mask,
            remaining: len,
            processed: 0,
            phase: 0,
        };
        self.frame = Some(frame);
        Ok(Some(frame))
    }

    fn step_control(&mut self, frame: FrameState) -> Step {
        let len = frame.remaining;
        let carried = self.carried as usize;
        if self.input.len() < carried + len {
            return Step::NeedInput;
        }
        self.frame = None;
        if carried > 0 {
            // Stream mode holds a split character in front of this payload:
            // move it behind, so the payload starts the input and the
            // character still precedes the next data frame.
            self.input.live_mut()[..carried + len].rotate_left(carried);
        }
        let payload = &mut self.input.live_mut()[..len];
        if let Some(key) = frame.mask {
            apply_mask(payload, key, 0);
        }
        self.release.consume = len;
        match frame.opcode {
            OpCode::Ping => {
                if self.config.auto_pong && !self.close_sent {
                    let mut copy = [0u8; MAX_CONTROL_PAYLOAD];
                    copy[..len].copy_from_slice(&self.input.live()[..len]);
                    // A peer flooding pings while we cannot write gets no more
                    // pongs than the output limit allows (§5.5.3 permits
                    // answering only the latest).
                    if self.output.len() + len + MAX_HEADER_LEN <= self.config.max_output_buffer {
                        self.write_frame(OpCode::Pong, true, &copy[..len]);
                    }
                }
                Step::Event(Ready::Ping(len))
            }
            OpCode::Pong => Step::Event(Ready::Pong(len)),
            _ => {
                let code = match parse_close_payload(&self.input.live()[..len]) {
                    Ok(parsed) => parsed.map(|(code, _)| code),
                    Err(error) => {
                        self.release.consume = 0;
                        return Step::Event(self.fail(error));
                    }
                };
                self.close_received = true;
                if !self.close_sent {
                    let echo = code.map(|c| c.0.to_be_bytes());
                    self.write_frame(
                        OpCode::Close,
                        true,
                        echo.as_ref().map_or(&[][..], |b| &b[..]),
                    );
                    self.close_sent = true;
                }
                self.phase = Phase::Closed;
                Step::Event(Ready::Close(code, len))
            }
        }
    }

    fn step_data(&mut self, mut frame: FrameState) -> Step {
        if self.incoming.compressed {
            return self.step_compressed(frame);
        }
        let carried = self.carried as usize;
        let available = (self.input.len() - carried).min(frame.remaining);
        let kind = self.incoming.kind.unwrap_or(MessageKind::Binary);
        let single_frame = frame.fin && frame.opcode != OpCode::Continuation;
        if single_frame
            && self.config.receive_mode == ReceiveMode::Message
            && frame.processed == 0
            && available == frame.remaining
            && frame.remaining == self.incoming.declared
        {
            // The whole message is here at the first look: unmask it and
            // hand it out; text is validated once, in `whole_text`.
            if let Some(key) = frame.mask {
                apply_mask(&mut self.input.live_mut()[..available], key, 0);
            }
            self.frame = None;
            self.incoming = Incoming::default();
            self.release.consume = available;
            return Step::Event(match kind {
                MessageKind::Text => Ready::WholeText(available),
                MessageKind::Binary => Ready::Message(kind, Payload::Input(available)),
            });
        }
        if kind == MessageKind::Text && self.config.receive_mode == ReceiveMode::Message {
            return self.step_text(frame, available);
        }
        if available > frame.processed {
            let fresh = &mut self.input.live_mut()[carried + frame.processed..carried + available];
            if let Some(key) = frame.mask {
                apply_mask(fresh, key, frame.phase as usize + frame.processed);
            }
            if kind == MessageKind::Text && self.incoming.utf8.feed(fresh).is_err() {
                return Step::Event(self.fail(Error::InvalidUtf8));
            }
            frame.processed = available;
        }
        let frame_done = frame.processed == frame.remaining;
        let message_done = frame_done && frame.fin;
        if message_done && !self.incoming.utf8.is_complete() {
            return Step::Event(self.fail(Error::InvalidUtf8));
        }
        match self.config.receive_mode {
            ReceiveMode::Stream => {
                // The front of the input holds `carried` bytes of a character
                // begun in an earlier frame, then this frame's processed bytes;
                // an unfinished character at the end is held back.
                let unfinished = self.unfinished_character(kind);
                let deliver = carried + frame.processed - unfinished;
                // Either nothing completes (deliver == 0) or the carried bytes go too.
                let from_frame = deliver.saturating_sub(carried);
                frame.remaining -= from_frame;
                frame.processed -= from_frame;
                frame.advance_phase(from_frame);
                if frame_done {
                    self.carried = unfinished as u8;
                    self.frame = None;
                } else {
                    self.carried = if deliver == 0 { carried as u8 } else { 0 };
                    self.frame = Some(frame);
                }
                if message_done {
                    self.incoming = Incoming::default();
                }
                if deliver > 0 || message_done {
                    self.release.consume = deliver;
                    return Step::Event(Ready::Chunk {
                        kind,
                        from_message: false,
                        len: deliver,
                        last: message_done,
                    });
                }
                if frame_done {
                    Step::Continue
                } else {
                    Step::NeedInput
                }
            }
            ReceiveMode::Message => {
                if frame.fin && frame.opcode != OpCode::Continuation {
                    // Zero-copy: the whole message is one frame; hand out the input.
                    if !frame_done {
                        self.frame = Some(frame);
                        return Step::NeedInput;
                    }
                    self.frame = None;
                    self.incoming = Incoming::default();
                    self.release.consume = frame.remaining;
                    return Step::Event(Ready::Message(kind, Payload::Input(frame.remaining)));
                }
                // Fragmented: move what is processed into the reassembly buffer.
                let moved = frame.processed;
                self.message.extend_from_slice(&self.input.live()[..moved]);
                self.input.consume(moved);
                frame.remaining -= moved;
                frame.processed = 0;
                frame.advance_phase(moved);
                if !frame_done {
                    self.frame = Some(frame);
                    return Step::NeedInput;
                }
                self.frame = None;
                if !message_done {
                    return Step::Continue;
                }
                self.incoming = Incoming::default();
                self.release.clear_message = true;
                Step::Event(Ready::Message(kind, Payload::Message))
            }
        }
    }

    /// Text in message mode that is not one whole frame at the first look:
    /// each piece is unmasked, validated (fail-fast) and moved into the text
    /// buffer by the one check that yields its `&str`, so the finished
    /// message needs no second look. A character split between pieces waits
    /// in the validator.
    fn step_text(&mut self, mut frame: FrameState, available: usize) -> Step {
        if frame.remaining > available && self.text.len() + available >= RESERVE_AFTER {
            // As for the input: a message that has proven large gets room
            // for the rest of this frame at once.
            self.text.reserve(frame.remaining);
        }
        let piece = &mut self.input.live_mut()[..available];
        if let Some(key) = frame.mask {
            // `receive` may have unmasked the first `processed` bytes.
            let unmasked = frame.processed.min(available);
            apply_mask(&mut piece[unmasked..], key, frame.phase as usize + unmasked);
        }
        if self.incoming.utf8.feed_into(piece, &mut self.text).is_err() {
            return Step::Event(self.fail(Error::InvalidUtf8));
        }
        self.input.consume(available);
        frame.remaining -= available;
        frame.processed = 0;
        frame.advance_phase(available);
        if frame.remaining > 0 {
            self.frame = Some(frame);
            return Step::NeedInput;
        }
        self.frame = None;
        if !frame.fin {
            return Step::Continue;
        }
        if !self.incoming.utf8.is_complete() {
            return Step::Event(self.fail(Error::InvalidUtf8));
        }
        self.incoming = Incoming::default();
        self.release.clear_message = true;
        Step::Event(Ready::Message(MessageKind::Text, Payload::Text))
    }

    /// Bytes at the end of the text so far that start a character not yet
    /// complete: stream mode holds them back.
    fn unfinished_character(&self, kind: MessageKind) -> usize {
        match kind {
            MessageKind::Text => self.incoming.utf8.incomplete_len(),
            MessageKind::Binary => 0,
        }
    }

    /// A frame of a compressed message: unmask, inflate into the message
    /// buffer within the limits, validate the inflated text as it comes.
    fn step_compressed(&mut self, mut frame: FrameState) -> Step {
        let kind = self.incoming.kind.unwrap_or(MessageKind::Binary);
        let available = self.input.len().min(frame.remaining);
        if available > frame.processed {
            if let Some(key) = frame.mask {
                let fresh = &mut self.input.live_mut()[frame.processed..available];
                apply_mask(fresh, key, frame.phase as usize + frame.processed);
            }
            frame.processed = available;
        }
        let stream = self.config.receive_mode == ReceiveMode::Stream;
        let budget = if stream {
            crate::extensions::INFLATE_STEP
        } else {
            // One byte over the limit is enough to know it is exceeded.
            (self.config.max_message_size + 1).saturating_sub(self.message.len())
        };
        let before = self.message.len();
        let inflated = match self.extensions.inflate(
            &self.input.live()[..frame.processed],
            &mut self.message,
            budget,
        ) {
            Ok(inflated) => inflated,
            Err(error) => return Step::Event(self.fail(error)),
        };
        self.input.consume(inflated.used);
        frame.remaining -= inflated.used;
        frame.processed -= inflated.used;
        frame.advance_phase(inflated.used);
        let frame_done = frame.remaining == 0;
        let mut message_done = false;
        if frame_done && frame.fin && !inflated.full {
            let budget = budget.saturating_sub(self.message.len() - before);
            match self.extensions.finish_message(&mut self.message, budget) {
                Ok(done) => message_done = done,
                Err(error) => return Step::Event(self.fail(error)),
            }
        }
        if !stream && self.message.len() > self.config.max_message_size {
            return Step::Event(self.fail(Error::MessageTooLarge));
        }
        if kind == MessageKind::Text
            && (self.incoming.utf8.feed(&self.message[before..]).is_err()
                || (message_done && !self.incoming.utf8.is_complete()))
        {
            return Step::Event(self.fail(Error::InvalidUtf8));
        }
        let more_output = inflated.full || (frame_done && frame.fin && !message_done);
        self.frame = if frame_done && !more_output {
            None
        } else {
            Some(frame)
        };
        if message_done {
            self.incoming = Incoming::default();
        }
        if stream {
            let deliver = self.message.len() - self.unfinished_character(kind);
            if deliver > 0 || message_done {
                self.release.consume = deliver;
                self.release.from_message = true;
                return Step::Event(Ready::Chunk {
                    kind,
                    from_message: true,
                    len: deliver,
                    last: message_done,
                });
            }
        } else if message_done {
            self.release.clear_message = true;
            return Step::Event(Ready::Message(kind, Payload::Message));
        }
        if more_output || frame_done {
            Step::Continue
        } else {
            Step::NeedInput
        }
    }

    /// Fails the connection: queues the Close frame or HTTP response the
    /// error calls for, and makes the error sticky.
    fn fail(&mut self, error: Error) -> Ready {
        let (input, mut failing) = self.split_for_failure();
        failing.fail(error);
        // Nothing received will be handed out any more: free it now.
        input.clear();
        input.release_if_empty();
        Ready::Failed(error)
    }

    /// The input buffer and, apart from it, everything a failure changes:
    /// lets an event borrow the input while the failure path stays open.
    fn split_for_failure(&mut self) -> (&mut InputBuffer, Failing<'_>) {
        let Connection {
            config,
            role,
            phase,
            input,
            output,
            message,
            text,
            frame,
            incoming,
            carried,
            keys,
            release,
            error,
            close_sent,
            timers,
            ..
        } = self;
        let failing = Failing {
            config,
            role: *role,
            phase,
            output,
            message,
            text,
            frame,
            incoming,
            carried,
            keys: keys.as_mut(),
            release,
            error,
            close_sent,
            timers,
        };
        (input, failing)
    }

    // ------------------------------------------------------------ handshake

    /// Server: accepts the request delivered in [`Event::HandshakeRequest`]
    /// and queues the 101 response. Bytes the client sent after its request
    /// are processed from here on.
    ///
    /// The chosen subprotocol must be one the client offered.
    pub fn accept(&mut self, accept: Accept) -> Result<(), SendError> {
        let Some(Handshake::AwaitingDecision(request)) = self.handshake.as_deref() else {
            return Err(SendError::WrongState);
        };
        if !request.is_websocket_upgrade() {
            return Err(SendError::WrongState);
        }
        if let Some(protocol) = &accept.protocol {
            if !request.protocols().any(|p| p == protocol) {
                return Err(SendError::InvalidHttp);
            }
        }
        if !accept
            .headers
            .iter()
            .all(|(n, v)| handshake::is_safe_header(n, v))
        {
            return Err(SendError::InvalidHttp);
        }
        let key = request.key().unwrap_or_default();
        let (extensions, extension_header) = if accept.extensions {
            Extensions::server_accept(request.extensions(), &self.config)
        } else {
            (Extensions::default(), None)
        };
        let mut response = Vec::new();
        handshake::write_accept_response(&mut response, key, &accept, extension_header.as_deref());
        self.extensions = extensions;
        self.output.extend(&response);
        self.protocol = accept.protocol.map(String::into_boxed_str);
        self.phase = Phase::Open;
        self.release.drop_handshake = true;
        Ok(())
    }

    /// Server: answers the request with another HTTP status (403 for a bad
    /// Origin, 401, a redirect, or 200 with a page for a plain HTTP request)
    /// and closes the connection.
    ///
    /// ```
    /// use wsmachine::{Config, Connection, Event, ReadyState};
    /// let mut server = Connection::server(Config::default());
    /// server.receive(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
    ///     Origin: http://evil.example\r\n\r\n");
    /// assert!(matches!(server.next_event(), Some(Event::HandshakeRequest(r)) if r.origin() == Some("http://evil.example")));
    /// server.reject(403, &[], b"origin not allowed").unwrap();
    /// assert!(server.pending_output().starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
    /// assert_eq!(server.ready_state(), ReadyState::Closed);
    /// ```
    pub fn reject(
        &mut self,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), SendError> {
        if self.handshake_request().is_none() {
            return Err(SendError::WrongState);
        }
        if !(200..=599).contains(&status)
            || !headers.iter().all(|(n, v)| handshake::is_safe_header(n, v))
        {
            return Err(SendError::InvalidHttp);
        }
        self.output.write_with(128 + body.len(), |out| {
            handshake::write_http_response(out, status, headers, body)
        });
        self.phase = Phase::Closed;
        self.release.drop_handshake = true;
        Ok(())
    }

    // --------------------------------------------------------------- output

    /// Bytes waiting to be written to the transport.
    pub fn pending_output(&self) -> &[u8] {
        self.output.live()
    }

    /// Records that the first `n` bytes of [`pending_output`](Self::pending_output)
    /// were written.
    pub fn consume_output(&mut self, n: usize) {
        self.output.consume(n);
    }

    /// Bytes queued but not yet written, like the browser's `bufferedAmount`.
    pub fn buffered_amount(&self) -> usize {
        self.output.len()
    }

    /// Received bytes buffered and not yet handed out (a partial frame or
    /// handshake head, or a message waiting for its last bytes), plus the
    /// reassembly buffer of a fragmented message.
    pub fn buffered_input(&self) -> usize {
        self.input.len() + self.message.len() + self.text.len()
    }

    /// True once the connection is closed and its output is fully written:
    /// the caller may close the transport now.
    ///
    /// A peer that stops reading can keep the last bytes (a Close frame)
    /// from ever being written: once [`ReadyState::Closed`], bound the time
    /// spent writing them (e.g. by `Config::close_timeout`). After an abort
    /// (keepalive timeout with `abort_on_keepalive_timeout`, close timeout,
    /// abnormal closure) nothing is left queued, so this is true at once.
    pub fn should_close_transport(&self) -> bool {
        self.phase == Phase::Closed && self.output.is_empty()
    }

    /// Queues a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send_message(OpCode::Text, text.as_bytes())
    }

    /// Queues a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_message(OpCode::Binary, data)
    }

    fn send_message(&mut self, opcode: OpCode, data: &[u8]) -> Result<(), SendError> {
        self.check_can_send(data.len())?;
        if self.outgoing.is_some() {
            return Err(SendError::FragmentOrder);
        }
        if self.extensions.compresses_message(data.len()) {
            self.write_compressed(opcode, true, RSV1, data);
        } else {
            self.write_frame(opcode, true, data);
        }
        Ok(())
    }

    /// Sends a whole message without copying it into the output queue: returns
    /// the frame header, which the caller writes followed by `payload` from
    /// its own buffer (one vectored write). For a client the payload is
    /// masked in place, so `payload` holds the wire bytes afterwards.
    ///
    /// The output queue must be empty ([`SendError::OutputPending`]
    /// otherwise) so nothing can come between header and payload. The
    /// message is sent uncompressed even when permessage-deflate is on.
    ///
    /// ```
    /// use wsmachine::{Config, Connection, MessageKind, Role};
    /// let mut server = Connection::upgraded(Role::Server, Config::default()).unwrap();
    /// let mut payload = vec![7u8; 1000];
    /// let head = server.send_vectored(MessageKind::Binary, &mut payload).unwrap();
    /// assert_eq!(head.as_ref(), &[0x82, 0x7e, 0x03, 0xe8]);
    /// // writev([head, payload]); the queue stays empty:
    /// assert!(server.pending_output().is_empty());
    /// ```
    pub fn send_vectored(
        &mut self,
        kind: MessageKind,
        payload: &mut [u8],
    ) -> Result<FrameHead, SendError> {
        if self.phase != Phase::Open || self.close_sent {
            return Err(self.state_error());
        }
        if self.outgoing.is_some() {
            return Err(SendError::FragmentOrder);
        }
        if !self.output.is_empty() {
            return Err(SendError::OutputPending);
        }
        let opcode = match kind {
            MessageKind::Text if simdutf8::basic::from_utf8(payload).is_err() => {
                return Err(SendError::InvalidUtf8)
            }
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        };
        let mask = self.keys.as_mut().map(KeyStream::mask_key);
        if let Some(key) = mask {
            apply_mask(payload, key, 0);
        }
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        let mut head = FrameHead {
            bytes: [0; MAX_HEADER_LEN],
            len: 0,
        };
        head.len = header.encode(&mut head.bytes) as u8;
        Ok(head)
    }

    /// Queues one fragment of a message: the first call starts a message of
    /// `kind`, later calls continue it, and `last` ends it. Control frames
    /// may be sent between fragments; other messages may not. Text fragments
    /// may split a character, but their concatenation must be UTF-8.
    ///
    /// ```
    /// use wsmachine::{Config, Connection, MessageKind, Role};
    /// let mut server = Connection::upgraded(Role::Server, Config::default()).unwrap();
    /// server.send_fragment(MessageKind::Text, b"Hel", false).unwrap();
    /// server.send_fragment(MessageKind::Text, b"lo", true).unwrap();
    /// // RFC 6455 §5.7: a fragmented unmasked text message.
    /// assert_eq!(server.pending_output(), b"\x01\x03Hel\x80\x02lo");
    /// ```
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        last: bool,
    ) -> Result<(), SendError> {
        self.check_can_send(data.len())?;
        let opcode = match self.outgoing {
            None => match kind {
                MessageKind::Text => OpCode::Text,
                MessageKind::Binary => OpCode::Binary,
            },
            Some(open) if open == kind => OpCode::Continuation,
            Some(_) => return Err(SendError::FragmentOrder),
        };
        if kind == MessageKind::Text {
            let mut validator = if self.outgoing.is_some() {
                self.outgoing_utf8
            } else {
                Utf8Validator::new()
            };
            if validator.feed(data).is_err() || (last && !validator.is_complete()) {
                return Err(SendError::InvalidUtf8);
            }
            self.outgoing_utf8 = validator;
        }
        if self.outgoing.is_none() {
            self.outgoing_compressed = self.extensions.compresses_fragments();
        }
        if self.outgoing_compressed {
            let rsv = if opcode == OpCode::Continuation {
                0
            } else {
                RSV1
            };
            self.write_compressed(opcode, last, rsv, data);
        } else {
            self.write_frame(opcode, last, data);
        }
        self.outgoing = if last { None } else { Some(kind) };
        Ok(())
    }

    /// Queues a Ping (payload at most 125 bytes).
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues an unsolicited Pong, e.g. as a one-way heartbeat (§5.5.3).
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload)
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlPayloadTooLong);
        }
        self.check_can_send(payload.len())?;
        self.write_frame(opcode, true, payload);
        Ok(())
    }

    /// Starts the closing handshake: queues a Close frame with `code` and
    /// `reason` (at most 123 bytes). The connection is
    /// [`ReadyState::Closing`] until the peer's Close arrives.
    ///
    /// ```
    /// use wsmachine::{CloseCode, Config, Connection, ReadyState, Role};
    /// let mut server = Connection::upgraded(Role::Server, Config::default()).unwrap();
    /// server.close(CloseCode::NORMAL, "bye").unwrap();
    /// assert_eq!(server.pending_output(), b"\x88\x05\x03\xe8bye");
    /// assert_eq!(server.ready_state(), ReadyState::Closing);
    /// ```
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        if !code.is_valid_on_wire() {
            return Err(SendError::InvalidCloseCode);
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(SendError::ControlPayloadTooLong);
        }
        if self.phase != Phase::Open || self.close_sent {
            return Err(self.state_error());
        }
        let mut payload = [0u8; 2 + MAX_REASON_LEN];
        payload[..2].copy_from_slice(&code.0.to_be_bytes());
        payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
        self.write_frame(OpCode::Close, true, &payload[..2 + reason.len()]);
        self.close_sent = true;
        Ok(())
    }

    fn state_error(&self) -> SendError {
        match self.phase {
            Phase::Handshaking => SendError::NotOpen,
            _ => SendError::Closed,
        }
    }

    fn check_can_send(&self, payload_len: usize) -> Result<(), SendError> {
        if self.phase != Phase::Open || self.close_sent {
            return Err(self.state_error());
        }
        if self
            .output
            .len()
            .saturating_add(payload_len)
            .saturating_add(MAX_HEADER_LEN)
            > self.config.max_output_buffer
        {
            return Err(SendError::OutputFull);
        }
        Ok(())
    }

    /// Compresses `data` (one message, or one fragment of it) and queues it.
    fn write_compressed(&mut self, opcode: OpCode, fin: bool, rsv: u8, data: &[u8]) {
        let compressed = self.extensions.compress(data, fin);
        encode_frame(
            &mut self.output,
            self.keys.as_mut(),
            opcode,
            fin,
            rsv,
            compressed,
        );
    }

    /// Encodes one frame into the output; clients mask it.
    fn write_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) {
        self.write_frame_rsv(opcode, fin, 0, payload)
    }

    fn write_frame_rsv(&mut self, opcode: OpCode, fin: bool, rsv: u8, payload: &[u8]) {
        encode_frame(
            &mut self.output,
            self.keys.as_mut(),
            opcode,
            fin,
            rsv,
            payload,
        );
    }
}

/// Appends one frame to `output`, masked with a fresh key when `keys` is
/// given (clients).
fn encode_frame(
    output: &mut ByteQueue,
    keys: Option<&mut KeyStream>,
    opcode: OpCode,
    fin: bool,
    rsv: u8,
    payload: &[u8],
) {
    let mask = keys.map(KeyStream::mask_key);
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    let mut encoded = [0u8; MAX_HEADER_LEN];
    let header_len = header.encode(&mut encoded);
    output.write_with(header_len + payload.len(), |out| {
        out.extend_from_slice(&encoded[..header_len]);
        match mask {
            Some(key) => extend_masked(out, payload, key, 0),
            None => out.extend_from_slice(payload),
        }
    });
}

/// A frame header returned by [`Connection::send_vectored`]: write it, then
/// the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHead {
    bytes: [u8; MAX_HEADER_LEN],
    len: u8,
}

impl AsRef<[u8]> for FrameHead {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl core::ops::Deref for FrameHead {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_ref()
    }
}

/// The parts of a [`Connection`] that failing changes, borrowed apart from
/// its input (see `Connection::split_for_failure`).
struct Failing<'a> {
    config: &'a Config,
    role: Role,
    phase: &'a mut Phase,
    output: &'a mut ByteQueue,
    message: &'a mut Vec<u8>,
    text: &'a mut String,
    frame: &'a mut Option<FrameState>,
    incoming: &'a mut Incoming,
    carried: &'a mut u8,
    keys: Option<&'a mut KeyStream>,
    release: &'a mut Release,
    error: &'a mut Option<Error>,
    close_sent: &'a mut bool,
    timers: &'a mut Timers,
}

impl Failing<'_> {
    /// Failures after which the peer is presumed gone.
    fn is_abort(&self, error: Error) -> bool {
        match error {
            Error::KeepaliveTimeout => self.config.abort_on_keepalive_timeout,
            Error::CloseTimeout | Error::AbnormalClosure => true,
            _ => false,
        }
    }

    /// Queues the Close frame or HTTP response the error calls for and makes
    /// the error sticky. The input is left to the caller: the machine frees
    /// it once closed, at the latest on the next call. Returns the error.
    fn fail(&mut self, error: Error) -> Error {
        if *self.phase == Phase::Handshaking && self.role == Role::Server {
            if error.http_status().is_some() {
                self.output
                    .write_with(256, |out| handshake::write_error_response(out, error));
            }
        } else if self.is_abort(error) {
            // Nobody will read what is queued: let the caller drop the transport now.
            self.output.clear();
            self.output.release_if_empty();
        } else if *self.phase == Phase::Open && !*self.close_sent {
            if let Some(code) = error.close_code() {
                let reason = error.description().as_bytes();
                let mut payload = [0u8; 2 + MAX_REASON_LEN];
                payload[..2].copy_from_slice(&code.0.to_be_bytes());
                payload[2..2 + reason.len()].copy_from_slice(reason);
                encode_frame(
                    self.output,
                    self.keys.as_deref_mut(),
                    OpCode::Close,
                    true,
                    0,
                    &payload[..2 + reason.len()],
                );
                *self.close_sent = true;
            }
        }
        *self.error = Some(error);
        *self.phase = Phase::Closed;
        *self.message = Vec::new();
        *self.text = String::new();
        *self.frame = None;
        *self.incoming = Incoming::default();
        *self.carried = 0;
        *self.release = Release {
            drop_handshake: true,
            ..Release::default()
        };
        *self.timers = Timers::default();
        error
    }
}

/// Payload bytes a frame must have delivered before the input buffer is
/// grown to its whole declared length at once.
const RESERVE_AFTER: usize = 32 * 1024;

/// Outcome of one round of [`Connection::step`].
enum Step {
    Event(Ready),
    Continue,
    NeedInput,
}

/// A request line starts with a method token; anything else (TLS, binary
/// noise) is rejected before the head is complete.
fn plausible_request_start(live: &[u8]) -> bool {
    let token_end = live.iter().position(|&b| b == b' ').unwrap_or(live.len());
    token_end <= 16
        && live[..token_end]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The bytes were validated as UTF-8 on the way in.
fn validated_str(bytes: &[u8]) -> &str {
    // Never fails: every text payload passed `Utf8Validator`; the fallback
    // keeps a logic error from becoming a panic. simdutf8 makes this second
    // look cost a fraction of std's.
    simdutf8::basic::from_utf8(bytes).unwrap_or_default()
}

// An idle connection must stay small: this fails the build if it grows.
const _: () = assert!(core::mem::size_of::<Connection>() <= 344);
