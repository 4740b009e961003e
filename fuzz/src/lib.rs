//! Shared harness for the fuzz targets: structure-aware operations on one
//! connection, and the invariants checked after each of them.

use arbitrary::Arbitrary;
use core::time::Duration;
use wsmachine::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use wsmachine::{Timestamp, 
    Accept, CloseCode, Config, Connection, Error, Event, MessageKind, ReadyState, ReceiveMode, Role,
};

/// Small limits, so the fuzzer reaches them.
pub fn fuzz_config(stream: bool) -> Config {
    Config::default().with_max_handshake_bytes(2048).with_max_headers(16).with_max_frame_size(4096).with_max_message_size(16384).with_max_output_buffer(64 * 1024).with_receive_mode(if stream { ReceiveMode::Stream } else { ReceiveMode::Message }).with_mask_seed(Some(1)).with_handshake_timeout(Some(Duration::from_secs(5))).with_ping_interval(Some(Duration::from_secs(3))).with_pong_timeout(Duration::from_secs(2)).with_close_timeout(Some(Duration::from_secs(4))).with_message_timeout(Some(Duration::from_secs(6))).with_idle_timeout(Some(Duration::from_secs(30))).with_output_high_water(4096).with_output_low_water(1024)
}

/// A client and a server, open after a real handshake between them (so
/// permessage-deflate is negotiated when `config` enables it), with the
/// handshake bytes already written.
pub fn handshake_pair(config: Config) -> (Connection, Connection) {
    let request = wsmachine::ClientRequest::new("example.com", "/");
    let mut client = Connection::client(request, config.clone()).unwrap();
    let mut server = Connection::server(config);
    let head = client.pending_output().to_vec();
    client.consume_output(head.len());
    server.receive(&head);
    let Some(Event::HandshakeRequest(_)) = server.next_event() else { panic!("no request") };
    server.accept(Accept::new()).unwrap();
    let head = server.pending_output().to_vec();
    server.consume_output(head.len());
    client.receive(&head);
    let Some(Event::Connected(_)) = client.next_event() else { panic!("not connected") };
    (client, server)
}

/// A frame as the peer would send it, built from fuzzer choices.
#[derive(Arbitrary, Debug)]
pub struct PeerFrame {
    pub opcode: u8,
    pub fin: bool,
    pub rsv: u8,
    pub masked: bool,
    pub key: [u8; 4],
    pub payload: Vec<u8>,
}

impl PeerFrame {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![
            (u8::from(self.fin) << 7) | ((self.rsv & 7) << 4) | (self.opcode & 0x0F),
        ];
        let mask_bit = if self.masked { 0x80 } else { 0 };
        match self.payload.len() {
            n @ 0..=125 => out.push(mask_bit | n as u8),
            n @ 126..=0xFFFF => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if self.masked {
            out.extend_from_slice(&self.key);
            out.extend(self.payload.iter().enumerate().map(|(i, b)| b ^ self.key[i % 4]));
        } else {
            out.extend_from_slice(&self.payload);
        }
        out
    }
}

#[derive(Arbitrary, Debug)]
pub enum Op {
    /// Raw bytes from the peer.
    Feed(Vec<u8>),
    /// A well-formed-ish frame from the peer, fed in two pieces.
    FeedFrame(PeerFrame, u16),
    SendText(String),
    SendBinary(Vec<u8>),
    SendFragment { text: bool, data: Vec<u8>, last: bool },
    Ping(Vec<u8>),
    Close(u16, String),
    /// Write out (consume) up to this many bytes of output.
    Drain(u16),
    /// Advance virtual time by this many milliseconds.
    Advance(u16),
    Pause(bool),
    Eof,
}

/// Follows the bytes our side writes and checks them frame by frame.
struct OutputChecker {
    role: Role,
    pending: Vec<u8>,
    head_done: bool,
    closes: Vec<Option<u16>>,
    frames_after_close: usize,
    /// We answered with an HTTP error: only its body follows.
    http_error: bool,
    /// permessage-deflate was negotiated: RSV1 may mark a message.
    compressed: bool,
}

impl OutputChecker {
    fn new(role: Role, upgraded: bool) -> Self {
        OutputChecker {
            role,
            pending: Vec::new(),
            head_done: upgraded,
            closes: Vec::new(),
            frames_after_close: 0,
            http_error: false,
            compressed: false,
        }
    }

    fn written(&mut self, bytes: &[u8]) {
        if self.http_error {
            return;
        }
        self.pending.extend_from_slice(bytes);
        if !self.head_done {
            let Some(end) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") else { return };
            let head = self.pending.drain(..end + 4).collect::<Vec<u8>>();
            let text = String::from_utf8(head).expect("our HTTP head is ASCII");
            let is_request = text.starts_with("GET ");
            assert!(is_request || text.starts_with("HTTP/1.1 "), "bad head {text:?}");
            if is_request || text.starts_with("HTTP/1.1 101 ") {
                self.head_done = true;
            } else {
                // An error response: its body follows and then nothing else.
                self.head_done = true;
                self.http_error = true;
                self.pending.clear();
                return;
            }
        }
        loop {
            let Some((header, used)) = FrameHeader::decode(&self.pending, false).expect("we write valid frames")
            else {
                return;
            };
            let len = header.payload_len as usize;
            if self.pending.len() < used + len {
                return;
            }
            assert_eq!(header.mask.is_some(), self.role == Role::Client, "masking follows the role");
            let first_data_frame = matches!(header.opcode, OpCode::Text | OpCode::Binary);
            let rsv_ok = header.rsv == 0 || (self.compressed && first_data_frame && header.rsv == 0b100);
            assert!(rsv_ok, "RSV {:#05b} on {:?}", header.rsv, header.opcode);
            let mut payload = self.pending[used..used + len].to_vec();
            if let Some(key) = header.mask {
                wsmachine::mask::apply_mask_scalar(&mut payload, key, 0);
            }
            self.pending.drain(..used + len);
            if !self.closes.is_empty() {
                self.frames_after_close += 1;
            }
            if header.opcode == OpCode::Close {
                let code = (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                if let Some(code) = code {
                    assert!(CloseCode(code).is_valid_on_wire(), "we sent close code {code}");
                    assert!(std::str::from_utf8(&payload[2..]).is_ok());
                }
                self.closes.push(code);
            }
        }
    }
}

pub struct Harness {
    pub conn: Connection,
    config: Config,
    now: Duration,
    checker: OutputChecker,
    failure: Option<Error>,
    /// The close code a failure must have put on the wire.
    expected_close: Option<u16>,
    sent_close: bool,
    /// A reader's buffer that reads are taken from in place
    /// (`receive_owned`), like the tokio front-end's per-thread buffer.
    shared: bytes::BytesMut,
    /// How many reads were fed: each goes in by one of the three ways.
    reads: usize,
    /// How many events were asked for: once open, borrowed and owned
    /// calls take turns (they take different paths for long text).
    calls: usize,
}

impl Harness {
    pub fn server(stream: bool) -> Self {
        let config = fuzz_config(stream);
        Harness::new(Connection::server(config.clone()), config, Role::Server, false)
    }

    pub fn client(stream: bool) -> Self {
        let config = fuzz_config(stream);
        let request = wsmachine::ClientRequest::new("example.com", "/fuzz").protocol("chat");
        Harness::new(Connection::client(request, config.clone()).unwrap(), config, Role::Client, false)
    }

    /// An open connection with permessage-deflate negotiated through a real
    /// handshake with a peer machine.
    pub fn compressed(role: Role, stream: bool, deflate: wsmachine::DeflateConfig) -> Self {
        let config = fuzz_config(stream).with_deflate(Some(deflate));
        let (client, server) = handshake_pair(config.clone());
        let conn = if role == Role::Server { server } else { client };
        assert!(conn.deflate_params().is_some());
        let mut harness = Harness::new(conn, config, role, true);
        harness.checker.compressed = true;
        harness
    }

    pub fn upgraded(role: Role, stream: bool) -> Self {
        let config = fuzz_config(stream);
        Harness::new(Connection::upgraded(role, config.clone()).unwrap(), config, role, true)
    }

    fn new(conn: Connection, config: Config, role: Role, upgraded: bool) -> Self {
        let mut h = Harness {
            conn,
            config,
            now: Duration::from_secs(1),
            checker: OutputChecker::new(role, upgraded),
            failure: None,
            expected_close: None,
            sent_close: false,
            shared: bytes::BytesMut::new(),
            reads: 0,
            calls: 0,
        };
        h.conn.handle_timeout(Timestamp::from_duration(h.now));
        h
    }

    pub fn apply(&mut self, op: &Op) {
        let open_before = self.conn.ready_state() == ReadyState::Open;
        match op {
            Op::Feed(bytes) => self.feed(bytes),
            Op::FeedFrame(frame, split) => {
                let bytes = frame.encode();
                let cut = (*split as usize).min(bytes.len());
                self.feed(&bytes[..cut]);
                self.feed(&bytes[cut..]);
            }
            Op::SendText(text) => {
                let _ = self.conn.send_text(text);
            }
            Op::SendBinary(data) => {
                let _ = self.conn.send_binary(data);
            }
            Op::SendFragment { text, data, last } => {
                let kind = if *text { MessageKind::Text } else { MessageKind::Binary };
                let _ = self.conn.send_fragment(kind, data, *last);
            }
            Op::Ping(data) => {
                let _ = self.conn.send_ping(data);
            }
            Op::Close(code, reason) => {
                if self.conn.close(CloseCode(*code), reason).is_ok() {
                    self.sent_close = true;
                }
            }
            Op::Drain(n) => {
                let n = (*n as usize).min(self.conn.pending_output().len());
                self.checker.written(&self.conn.pending_output()[..n]);
                self.conn.consume_output(n);
            }
            Op::Advance(ms) => {
                self.now += Duration::from_millis(*ms as u64);
                self.conn.handle_timeout(Timestamp::from_duration(self.now));
            }
            Op::Pause(paused) => self.conn.pause_events(*paused),
            Op::Eof => self.conn.receive_eof(),
        }
        self.drain_events(open_before);
        self.check_bounds();
    }

    fn feed(&mut self, bytes: &[u8]) {
        // The caller's side of the contract: read only when the machine wants it.
        if self.conn.wants_read() {
            // Reads take each way in by turns (copied, taken in place from
            // a shared buffer, read into the machine's room), and every
            // invariant checked below must hold whichever it was.
            self.reads += 1;
            match self.reads % 3 {
                0 => self.conn.receive(bytes),
                1 => {
                    self.shared.extend_from_slice(bytes);
                    self.conn.receive_owned(self.shared.split());
                }
                _ => {
                    let room = self.conn.receive_buffer(bytes.len());
                    room[..bytes.len()].copy_from_slice(bytes);
                    self.conn.commit_received(bytes.len());
                }
            }
            self.conn.handle_timeout(Timestamp::from_duration(self.now));
        }
    }

    fn drain_events(&mut self, open_before: bool) {
        loop {
            self.calls += 1;
            // The handshake request needs the borrowed event (its head).
            if self.calls % 2 == 0 && self.conn.ready_state() != ReadyState::Connecting {
                match self.conn.next_owned_event() {
                    Some(event) => {
                        self.check_owned(event, open_before);
                        continue;
                    }
                    None => break,
                }
            }
            let Some(event) = self.conn.next_event() else { break };
            assert!(self.failure.is_none(), "event {event:?} after failure {:?}", self.failure);
            match event {
                Event::Failed(error) => self.failed(error, open_before),
                Event::HandshakeRequest(request) => {
                    let chat = request.protocols().any(|p| p == "chat");
                    let upgrade = request.is_websocket_upgrade();
                    let accept = if chat { Accept::new().protocol("chat") } else { Accept::new() };
                    if upgrade {
                        self.conn.accept(accept).expect("accepting a delivered request works");
                    } else {
                        self.conn.reject(404, &[], b"no").unwrap();
                    }
                }
                Event::Close { code, .. } => {
                    if let Some(code) = code {
                        assert!(code.is_valid_on_wire());
                    }
                    assert_eq!(self.conn.ready_state(), ReadyState::Closed);
                }
                Event::Text(_) | Event::Binary(_) | Event::TextChunk { .. } | Event::BinaryChunk { .. } => {
                    assert_ne!(self.conn.ready_state(), ReadyState::Connecting);
                }
                Event::Ping(p) | Event::Pong { payload: p, .. } => assert!(p.len() <= 125),
                _ => {}
            }
        }
    }

    /// The connection failed: which Close it must have put on the wire.
    fn failed(&mut self, error: Error, open_before: bool) {
        self.failure = Some(error);
        let aborted = error == Error::KeepaliveTimeout && self.config.abort_on_keepalive_timeout;
        if open_before && !self.sent_close && !aborted {
            self.expected_close = error.close_code().map(|c| c.0);
        }
        assert_eq!(self.conn.ready_state(), ReadyState::Closed);
    }

    /// The checks `drain_events` makes, for an owned event; and received
    /// text, which an owned event trusts the receive path to have
    /// validated, is valid by std's own check.
    fn check_owned(&mut self, event: wsmachine::OwnedEvent, open_before: bool) {
        use wsmachine::{Message, OwnedEvent};
        assert!(self.failure.is_none(), "event {event:?} after failure {:?}", self.failure);
        match event {
            OwnedEvent::Failed(error) => self.failed(error, open_before),
            OwnedEvent::Message(Message::Close(frame)) => {
                if let Some(frame) = frame {
                    assert!(frame.code.is_valid_on_wire());
                    assert!(core::str::from_utf8(frame.reason.as_bytes()).is_ok());
                }
                assert_eq!(self.conn.ready_state(), ReadyState::Closed);
            }
            OwnedEvent::Message(Message::Text(text)) => {
                assert!(core::str::from_utf8(text.as_bytes()).is_ok(), "text that is not UTF-8");
                assert_ne!(self.conn.ready_state(), ReadyState::Connecting);
            }
            OwnedEvent::Chunk { kind, data, .. } => {
                if kind == MessageKind::Text {
                    assert!(core::str::from_utf8(&data).is_ok(), "a text chunk that is not UTF-8");
                }
                assert_ne!(self.conn.ready_state(), ReadyState::Connecting);
            }
            OwnedEvent::Message(Message::Binary(_)) => {
                assert_ne!(self.conn.ready_state(), ReadyState::Connecting);
            }
            OwnedEvent::Message(Message::Ping(p) | Message::Pong(p)) | OwnedEvent::Pong { payload: p, .. } => {
                assert!(p.len() <= 125)
            }
            _ => {}
        }
    }

    fn check_bounds(&mut self) {
        let c = &self.config;
        // Inflating works in steps of 64 KiB in stream mode.
        let message_limit = c.max_message_size.max(64 * 1024) + 1;
        let limit = match self.conn.ready_state() {
            ReadyState::Connecting => c.max_handshake_bytes,
            _ => c.max_frame_size + MAX_HEADER_LEN + message_limit + 3,
        };
        assert!(
            self.conn.buffered_input() <= limit,
            "buffered {} > {limit} in {:?}",
            self.conn.buffered_input(),
            self.conn.ready_state()
        );
        // Sends are refused past the limit; control frames and the handshake may add a little.
        assert!(self.conn.pending_output().len() <= c.max_output_buffer + 4096);
    }

    /// Writes out everything and checks the whole output stream.
    pub fn finish(mut self) {
        let rest = self.conn.pending_output().to_vec();
        self.checker.written(&rest);
        self.conn.consume_output(rest.len());
        assert!(self.checker.closes.len() <= 1, "several closes: {:?}", self.checker.closes);
        assert_eq!(self.checker.frames_after_close, 0, "frames after our close");
        if let Some(code) = self.expected_close {
            assert_eq!(self.checker.closes, vec![Some(code)], "failure {:?}", self.failure);
        }
        if self.conn.ready_state() == ReadyState::Closed {
            assert!(self.conn.should_close_transport());
        }
    }
}
