//! The WebSocket state machine: the only stateful part of the crate.
//!
//! [`Connection`] coordinates four parts, each a module: the receive path
//! (`receive`: bytes in, events out), the send path (`send`: messages in,
//! frames queued), the control queue between them (`control`: what the
//! receive path must send itself), and the state both read (`link`); `time`
//! acts on the deadlines (`deadlines` says which apply, `crate::timers`
//! keeps them); the handshake's rules are `crate::handshake`. See
//! `ARCHITECTURE.md` for how data flows.

mod control;
mod deadlines;
mod link;
mod receive;
mod send;
#[cfg(feature = "bytes")]
mod send_owned;
mod time;

pub use receive::Receiver;
pub use send::{FrameHead, Sender};

use crate::buffer::InputBuffer;
use crate::close::CloseCode;
use crate::config::Config;
use crate::error::{Error, SendError};
use crate::event::Event;
use crate::extensions::{self, ExtensionParams};
use crate::handshake::{
    write_rejection, Accept, ClientHandshake, ClientRequest, HandshakeRequest, Negotiated,
};
use crate::keys::KeyStream;
use crate::role::{MessageKind, ReadyState, Role};
use crate::timers::Timers;
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use control::ControlQueue;
use core::cell::Cell;
use core::time::Duration;
use link::{Link, Phase};
use receive::{Handshake, RxState};
use send::SendPath;

/// A WebSocket connection, client or server, without any I/O.
///
/// ```
/// use wsmachine::{Accept, Config, Connection, Event};
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
/// // The RFC's masked "Hello" (§5.7), echoed while the event is held.
/// server.receive(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// let (mut rx, mut tx) = server.split_mut();
/// if let Some(Event::Text(text)) = rx.next_event() {
///     tx.send_text(text).unwrap();
/// }
/// assert_eq!(server.pending_output(), b"\x81\x05Hello");
/// ```
#[derive(Debug)]
pub struct Connection {
    /// Shared: many connections can run with one configuration.
    config: Arc<Config>,
    role: Role,
    link: Link,
    input: InputBuffer,
    rx: RxState,
    control: ControlQueue,
    tx: SendPath,
    timers: Timers,
    protocol: Option<Box<str>>,
    extensions: ExtensionParams,
}

impl Connection {
    fn new(role: Role, phase: Phase, config: Arc<Config>) -> Self {
        Connection {
            config,
            role,
            link: Link::new(phase),
            input: InputBuffer::new(),
            rx: RxState::default(),
            control: ControlQueue::default(),
            tx: SendPath::default(),
            timers: Timers::default(),
            protocol: None,
            extensions: ExtensionParams::default(),
        }
    }

    /// A server waiting for a client's opening handshake.
    ///
    /// `config` is a [`Config`] or an `Arc<Config>` shared by many
    /// connections (then each costs one pointer for it).
    pub fn server(config: impl Into<Arc<Config>>) -> Self {
        let mut conn = Connection::new(Role::Server, Phase::Handshaking, config.into());
        conn.rx.handshake = Some(Box::new(Handshake::ReadingRequest { scanned: 0 }));
        conn
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
    /// let mut client = Connection::client(ClientRequest::new("example.com", "/chat"), Config::default()).unwrap();
    /// assert!(client.pending_output().starts_with(b"GET /chat HTTP/1.1\r\n"));
    /// ```
    pub fn client(
        request: ClientRequest,
        config: impl Into<Arc<Config>>,
    ) -> Result<Self, SendError> {
        let config = config.into();
        let mut keys = KeyStream::new(config.mask_seed).ok_or(SendError::NoRandomness)?;
        let handshake = ClientHandshake::with_key(request, keys.handshake_key(), &config)?;
        let mut conn = Connection::new(Role::Client, Phase::Handshaking, config);
        conn.tx
            .output
            .write_with(256, |out| handshake.write_request(out));
        conn.tx.head_queued = true;
        conn.tx.keys = Some(Box::new(keys));
        conn.rx.handshake = Some(Box::new(Handshake::ReadingResponse {
            scanned: 0,
            handshake,
        }));
        Ok(conn)
    }

    /// A connection whose opening handshake was done elsewhere, with no
    /// subprotocol and no extensions: it starts [`ReadyState::Open`].
    ///
    /// Fails only for a client without randomness (see [`Connection::client`]).
    pub fn upgraded(role: Role, config: impl Into<Arc<Config>>) -> Result<Self, SendError> {
        Connection::upgraded_with(role, config, Negotiated::new())
    }

    /// A connection whose opening handshake was done elsewhere (by hyper,
    /// axum, an HTTP/2 stack), with what it agreed on: the subprotocol and
    /// the extensions, compression included. See
    /// [`HandshakeRequest::accept_with`] for a server and
    /// [`ClientHandshake::verify`] for a client.
    pub fn upgraded_with(
        role: Role,
        config: impl Into<Arc<Config>>,
        negotiated: Negotiated,
    ) -> Result<Self, SendError> {
        let config = config.into();
        let keys = match role {
            Role::Client => Some(Box::new(
                KeyStream::new(config.mask_seed).ok_or(SendError::NoRandomness)?,
            )),
            Role::Server => None,
        };
        let mut conn = Connection::new(role, Phase::Open, config);
        conn.tx.keys = keys;
        conn.install(negotiated);
        Ok(conn)
    }

    /// Puts what a handshake agreed on in force.
    fn install(&mut self, negotiated: Negotiated) {
        self.extensions = negotiated.extensions;
        let (receive, send) =
            extensions::build(&self.extensions, self.role == Role::Server, &self.config);
        self.rx.extensions = receive;
        self.tx.extensions = send;
        self.protocol = negotiated.into_protocol();
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
        match self.link.phase() {
            Phase::Handshaking => ReadyState::Connecting,
            Phase::Open if self.link.close_sent() => ReadyState::Closing,
            Phase::Open => ReadyState::Open,
            Phase::Closed => ReadyState::Closed,
        }
    }

    /// Why the connection failed, if it did.
    pub fn error(&self) -> Option<Error> {
        self.rx.error
    }

    /// True when the connection ended with the peer presumed gone (closing
    /// timeout, keepalive timeout with `abort_on_keepalive_timeout`, the
    /// transport ending early): drop the transport without waiting on it.
    pub fn is_aborted(&self) -> bool {
        self.link.aborted()
    }

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        match &self.rx.agreed {
            Some(agreed) => agreed.0.as_deref(),
            None => self.protocol.as_deref(),
        }
    }

    /// The permessage-deflate parameters agreed in the handshake, if any.
    #[cfg(feature = "deflate")]
    pub fn deflate_params(&self) -> Option<crate::DeflateParams> {
        match &self.rx.agreed {
            Some(agreed) => agreed.1.deflate,
            None => self.extensions.deflate,
        }
    }

    /// The round-trip time of the latest Ping answered (keepalive or
    /// `send_ping`), in the times given to [`handle_timeout`](Self::handle_timeout).
    pub fn latency(&self) -> Option<Duration> {
        self.link.latency()
    }

    /// Server: the request being decided on (between the
    /// [`Event::HandshakeRequest`] and `accept`/`reject`).
    pub fn handshake_request(&self) -> Option<&HandshakeRequest> {
        match self.rx.handshake.as_deref() {
            Some(Handshake::AwaitingDecision(request)) => Some(request),
            _ => None,
        }
    }

    /// The receive and send halves, borrowed apart: an event from the
    /// [`Receiver`] can be answered through the [`Sender`] while it is
    /// held. What the receive path sends itself (a Pong, a Close echo) joins
    /// the output at the next frame boundary: before the Sender's next frame,
    /// or at the next read of [`pending_output`](Self::pending_output); never
    /// inside another frame. The halves stay on the thread that made them.
    pub fn split_mut(&mut self) -> (Receiver<'_>, Sender<'_>) {
        self.take_agreement();
        let control = Cell::from_mut(&mut self.control);
        let receiver = Receiver {
            config: &self.config,
            role: self.role,
            link: &self.link,
            input: &mut self.input,
            state: &mut self.rx,
            control,
        };
        let sender = Sender {
            config: &self.config,
            link: &self.link,
            tx: &mut self.tx,
            control,
        };
        (receiver, sender)
    }

    fn receiver(&mut self) -> Receiver<'_> {
        self.split_mut().0
    }

    fn sender(&mut self) -> Sender<'_> {
        self.split_mut().1
    }

    /// A client takes up what the server agreed to (the send side's
    /// extensions, the protocol) once the receive path read the response.
    fn take_agreement(&mut self) {
        if let Some(agreed) = self.rx.agreed.take() {
            let (protocol, params) = *agreed;
            self.extensions = params;
            let (_, send) = extensions::build(&params, self.role == Role::Server, &self.config);
            self.tx.extensions = send;
            self.protocol = protocol;
        }
    }

    /// Before the output is read: what the receive path queued (Pongs, a
    /// Close echo, an HTTP error) joins it at the end, a frame boundary (not
    /// while a vectored frame is being written), and an aborted connection
    /// drops it. Sends do the same before their frame.
    fn settle(&mut self) {
        self.take_agreement();
        self.tx
            .flush_control(&mut self.control, &self.config, &self.link);
    }

    // ---------------------------------------------------------------- input

    /// Feeds bytes read from the transport. They are buffered; call
    /// [`next_event`](Self::next_event) until it returns `None` before feeding
    /// more, so the buffer stays bounded by the configured limits.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.timers.received |= !bytes.is_empty();
        self.receiver().feed(bytes);
    }

    /// Takes in bytes read from the transport in a buffer of their own
    /// (feature `bytes`). When nothing is buffered they are kept where they
    /// are, not copied, and owned payloads ([`next_owned_event`]) are split
    /// off their allocation; otherwise they are copied as by
    /// [`receive`](Self::receive). A reader that reads many connections
    /// into one large buffer hands each its part (`split_to`): the part is
    /// let go once its bytes are consumed, so an idle connection holds none
    /// of it, while a payload handed out keeps the whole allocation alive
    /// until it is dropped.
    ///
    /// [`next_owned_event`]: Self::next_owned_event
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use wsmachine::{Config, Connection, Message, OwnedEvent, Role};
    /// let mut client = Connection::upgraded(Role::Client, Config::default()).unwrap();
    /// // Two reads landed in one buffer; each connection gets its part.
    /// let mut shared = BytesMut::from(&b"\x82\x03abc\x82\x01z"[..]);
    /// client.receive_owned(shared.split_to(5));
    /// let Some(OwnedEvent::Message(Message::Binary(payload))) = client.next_owned_event() else {
    ///     panic!("a binary message")
    /// };
    /// assert_eq!(&payload[..], b"abc");
    /// assert_eq!(client.buffered_input(), 0);
    /// ```
    #[cfg(feature = "bytes")]
    pub fn receive_owned(&mut self, bytes: bytes::BytesMut) {
        self.timers.received |= !bytes.is_empty();
        self.receiver().feed_buffer(bytes);
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
        self.receiver().into_room(min)
    }

    /// Zero-copy receive, step two: the first `n` bytes of the buffer from
    /// [`receive_buffer`](Self::receive_buffer) were filled.
    pub fn commit_received(&mut self, n: usize) {
        self.timers.received |= n > 0;
        self.receiver().commit(n);
    }

    /// Tells the machine the transport will deliver no more bytes (the read
    /// returned 0). Unless the connection was already closed, it fails with
    /// [`Error::AbnormalClosure`] once the buffered bytes are processed.
    pub fn receive_eof(&mut self) {
        self.rx.input_ended = true;
    }

    /// The next event, or `None` when more input (or a caller decision) is
    /// needed. The event borrows the connection; to answer while holding
    /// it, use [`split_mut`](Self::split_mut).
    pub fn next_event(&mut self) -> Option<Event<'_>> {
        let ready = self.receiver().next_ready(false)?;
        Some(self.receiver().into_materialized(ready))
    }

    /// The next event with its payload owned (feature `bytes`): a message
    /// of one uncompressed frame leaves the input buffer as a `Bytes`
    /// without a copy, however many reads it took (text is validated read
    /// by read on the way); a fragmented one is gathered into a buffer of
    /// its own.
    ///
    /// ```
    /// use wsmachine::{Config, Connection, Message, OwnedEvent, Role};
    /// let mut server = Connection::upgraded(Role::Server, Config::default()).unwrap();
    /// // The RFC's masked "Hello" (§5.7).
    /// server.receive(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    /// let Some(OwnedEvent::Message(message)) = server.next_owned_event() else { panic!() };
    /// assert_eq!(message.as_text(), Some("Hello"));
    /// // An echo: a server queues payloads of 512 bytes or more by reference.
    /// server.send(message).unwrap();
    /// assert_eq!(server.pending_output(), b"\x81\x05Hello");
    /// ```
    #[cfg(feature = "bytes")]
    pub fn next_owned_event(&mut self) -> Option<crate::message::OwnedEvent> {
        let ready = self.receiver().next_ready(true)?;
        Some(self.receiver().owned(ready))
    }

    /// Stops (`true`) or resumes (`false`) handing out protocol events, for an
    /// application that cannot keep up. Received bytes stay buffered, none is
    /// lost; stop reading the transport while [`wants_read`](Self::wants_read)
    /// is false so the buffer stays bounded. Timeouts and backpressure are
    /// still reported.
    pub fn pause_events(&mut self, paused: bool) {
        self.rx.events_paused = paused;
    }

    /// Whether the caller should read more from the transport: false while
    /// events are paused and once the connection no longer reads.
    ///
    /// Also false while a server waits for `accept`/`reject`, so a client
    /// cannot make it buffer without bound in the meantime.
    pub fn wants_read(&self) -> bool {
        let deciding = matches!(
            self.rx.handshake.as_deref(),
            Some(Handshake::AwaitingDecision(_) | Handshake::Answered(_))
        );
        !self.rx.events_paused
            && !deciding
            && !self.link.close_received()
            && !self.rx.input_ended
            && !self.link.is_closed()
    }

    // ------------------------------------------------------------ handshake

    /// Server: accepts the request delivered in [`Event::HandshakeRequest`]
    /// and queues the 101 response. Bytes the client sent after its request
    /// are processed from here on.
    ///
    /// The chosen subprotocol must be one the client offered.
    pub fn accept(&mut self, accept: Accept) -> Result<(), SendError> {
        let Some(request) = self.handshake_request() else {
            return Err(SendError::WrongState);
        };
        let upgrade = request.accept_with(&accept, &self.config)?;
        self.tx
            .output
            .write_with(256, |out| upgrade.write_response(out));
        self.tx.head_queued = true;
        self.install(upgrade.into_negotiated());
        self.link.set_phase(Phase::Open);
        self.rx.release.drop_handshake = true;
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
        let mut response = Vec::with_capacity(128 + body.len());
        write_rejection(&mut response, status, headers, body)?;
        self.tx.output.extend(&response);
        self.link.set_phase(Phase::Closed);
        self.rx.release.drop_handshake = true;
        Ok(())
    }

    // --------------------------------------------------------------- output

    /// The next bytes to write to the transport: the first contiguous piece
    /// of the output, with what the receive path queued (a Pong, a Close
    /// echo) moved in at a frame boundary first. Write it, report how much was written with
    /// [`consume_output`](Self::consume_output), and call again until it is
    /// empty (with the `bytes` feature a server's large payloads are pieces
    /// of their own: see [`pending_output_chunks`](Self::pending_output_chunks)
    /// for one vectored write).
    pub fn pending_output(&mut self) -> &[u8] {
        self.settle();
        if self.tx.vectored > 0 {
            return &[];
        }
        self.tx.output.first_chunk()
    }

    /// Fills `chunks` with the pieces of the output in order, for one
    /// vectored write; returns how many. Report what was written with
    /// [`consume_output`](Self::consume_output).
    pub fn pending_output_chunks<'a>(&'a mut self, chunks: &mut [&'a [u8]]) -> usize {
        self.settle();
        if self.tx.vectored > 0 {
            return 0;
        }
        self.tx.output.chunks(chunks)
    }

    /// [`pending_output_chunks`](Self::pending_output_chunks) as `IoSlice`s
    /// for `write_vectored`.
    #[cfg(feature = "std")]
    pub fn pending_output_vectored<'a>(&'a mut self, slices: &mut [std::io::IoSlice<'a>]) -> usize {
        // Far below any system's IOV_MAX, and more than one write takes.
        const MAX_SLICES: usize = 64;
        self.settle();
        if self.tx.vectored > 0 {
            return 0;
        }
        self.tx
            .output
            .each_chunk(slices.len().min(MAX_SLICES), |i, piece| {
                slices[i] = std::io::IoSlice::new(piece)
            })
    }

    /// Records that the first `n` bytes of the output were written (a frame
    /// from [`send_vectored`](Self::send_vectored) first, then the queue).
    pub fn consume_output(&mut self, n: usize) {
        let vectored = n.min(self.tx.vectored);
        self.tx.vectored -= vectored;
        self.tx.output.consume(n - vectored);
        if self.tx.head_queued && self.tx.output.is_empty() {
            self.tx.head_queued = false;
            self.tx.output.release_if_empty();
        }
        self.tx.update_backpressure(&self.config, &self.link);
        self.settle();
    }

    /// Bytes queued but not yet written, like the browser's `bufferedAmount`.
    pub fn buffered_amount(&self) -> usize {
        self.tx.output.len() + self.tx.vectored + self.control.len()
    }

    /// Received bytes buffered and not yet handed out (a partial frame or
    /// handshake head, or a message waiting for its last bytes), plus the
    /// reassembly buffer of a fragmented message.
    pub fn buffered_input(&self) -> usize {
        self.input.len() + self.rx.gathered_len()
    }

    /// True once the connection is closed and its output is fully written:
    /// the caller may close the transport now.
    ///
    /// A peer that stops reading can keep the last bytes (a Close frame)
    /// from ever being written: once [`ReadyState::Closed`], bound the time
    /// spent writing them (e.g. by `Config::close_timeout`). After an abort
    /// (keepalive timeout with `abort_on_keepalive_timeout`, close timeout,
    /// abnormal closure) nothing is left to write, so this is true at once.
    pub fn should_close_transport(&self) -> bool {
        self.link.is_closed()
            && (self.link.aborted()
                || (self.tx.output.is_empty() && self.control.is_empty() && self.tx.vectored == 0))
    }

    // ----------------------------------------------------------------- send

    /// Queues a text message. See [`Sender`] for every way to send.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.sender().send_text(text)
    }

    /// Queues a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.sender().send_binary(data)
    }

    /// See [`Sender::send_vectored`].
    pub fn send_vectored(
        &mut self,
        kind: MessageKind,
        payload: &mut [u8],
    ) -> Result<FrameHead, SendError> {
        self.sender().send_vectored(kind, payload)
    }

    /// See [`Sender::send_fragment`].
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        last: bool,
    ) -> Result<(), SendError> {
        self.sender().send_fragment(kind, data, last)
    }

    /// See [`Sender::send_ping`].
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.sender().send_ping(payload)
    }

    /// See [`Sender::send_pong`].
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.sender().send_pong(payload)
    }

    /// See [`Sender::close`].
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.sender().close(code, reason)
    }

    /// See [`Sender::send`].
    #[cfg(feature = "bytes")]
    pub fn send(&mut self, message: crate::message::Message) -> Result<(), SendError> {
        self.sender().send(message)
    }

    /// See [`Sender::send_prepared`].
    #[cfg(feature = "bytes")]
    pub fn send_prepared(
        &mut self,
        prepared: &crate::message::PreparedMessage,
    ) -> Result<(), SendError> {
        self.sender().send_prepared(prepared)
    }
}

// An idle connection must stay small: this fails the build if it grows.
// Without compression it is 400 bytes, which with the tokio socket around
// it just fits tokio's 768-byte task cell (see `tokio/sending.rs`).
#[cfg(feature = "deflate")]
const _: () = assert!(core::mem::size_of::<Connection>() <= 416);
#[cfg(not(feature = "deflate"))]
const _: () = assert!(core::mem::size_of::<Connection>() <= 400);
