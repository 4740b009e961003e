//! Model-based tests.
//!
//! 1. A reference model of RFC 6455's receive side — a deliberately plain
//!    interpreter of abstract frames written from the RFC, not from the crate
//!    — and a property comparing the machine with it on frame sequences that
//!    are mostly valid but often broken in one of the ways §5 forbids.
//! 2. A client and a server wired together over a virtual network with
//!    virtual time: arbitrary interleavings of sends, pings, closes, clock
//!    jumps and partial deliveries always end with both sides closed, every
//!    message delivered exactly once and in order, and any timeout justified
//!    to the millisecond.
//!
//! Frames are encoded and parsed here, independently of the crate's `frame`
//! module, so the tests do not share its mistakes.
//!
//! Where the RFC leaves a choice, the model allows every correct answer: a
//! frame breaking several rules may be reported as any of them, and a header
//! cut short after a decidable violation may fail at once or wait. Beyond the
//! RFC it follows the crate's documented policy: 1009 for the configured
//! frame and message limits (the latter not in stream mode), the lenient
//! config switches, and an abnormal closure dropping queued output.
//!
//! `MODEL_CASES=200000 cargo test --release --test model` runs a longer soak.

mod testkit;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;
use std::time::Duration;
use testkit::wire::{parse_complete_frames, parse_frames};
use testkit::{filled, repeat_to, Blob, Rng};
use wsmachine::{
    CloseCode, Config, Connection, Error, Event, MessageKind, ReadyState, ReceiveMode, Role,
    Timestamp,
};

// ================================================================ helpers

/// `n` cases per property; failing inputs are saved (and replayed first) in
/// `proptest-regressions/model.txt`.
fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("MODEL_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(testkit::case_count(n)),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/model.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// An owned copy of an [`Event`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Message(MessageKind, Blob),
    Chunk(MessageKind, Blob, bool),
    Ping(Blob),
    Pong(Blob),
    Close(Option<u16>, String),
    Failed(Error),
    Other(String),
}

impl Ev {
    fn of(event: &Event<'_>) -> Ev {
        match *event {
            Event::Text(t) => Ev::Message(MessageKind::Text, Blob(t.as_bytes().to_vec())),
            Event::Binary(b) => Ev::Message(MessageKind::Binary, Blob(b.to_vec())),
            Event::TextChunk { data, last } => {
                Ev::Chunk(MessageKind::Text, Blob(data.as_bytes().to_vec()), last)
            }
            Event::BinaryChunk { data, last } => {
                Ev::Chunk(MessageKind::Binary, Blob(data.to_vec()), last)
            }
            Event::Ping(p) => Ev::Ping(Blob(p.to_vec())),
            Event::Pong { payload: p, .. } => Ev::Pong(Blob(p.to_vec())),
            Event::Close { code, reason } => Ev::Close(code.map(|c| c.0), reason.to_owned()),
            Event::Failed(e) => Ev::Failed(e),
            ref other => Ev::Other(format!("{other:?}")),
        }
    }

    fn is_final(&self) -> bool {
        matches!(self, Ev::Failed(_) | Ev::Close(..))
    }
}

// ================================================== 1. the reference model

/// An abstract frame: every field of §5.2's header that a sender controls,
/// including the ones a valid sender never sets.
#[derive(Clone, Debug)]
struct Frame {
    fin: bool,
    /// RSV1..RSV3 as a 3-bit value.
    rsv: u8,
    /// Any 4-bit opcode, reserved ones included.
    opcode: u8,
    masked: bool,
    /// Encode the length in a longer form than needed (§5.2: "the minimal
    /// number of bytes MUST be used to encode the length").
    long_length: bool,
    payload: Blob,
}

impl Frame {
    fn new(opcode: u8, fin: bool, masked: bool, payload: Vec<u8>) -> Frame {
        Frame {
            fin,
            rsv: 0,
            opcode,
            masked,
            long_length: false,
            payload: Blob(payload),
        }
    }

    /// Bytes of the length field's encoding: 0, 2 or 8 after the 7-bit field.
    fn extended_length_bytes(&self) -> usize {
        match (self.payload.0.len(), self.long_length) {
            (0..=125, false) => 0,
            (0..=125, true) | (126..=0xFFFF, false) => 2,
            _ => 8,
        }
    }

    /// §5.2's layout: bytes up to and including the (extended) length, and
    /// the whole header with the masking key.
    fn layout(&self) -> (usize, usize) {
        let length_known = 2 + self.extended_length_bytes();
        (length_known, length_known + if self.masked { 4 } else { 0 })
    }

    fn encode(&self, key: [u8; 4], out: &mut Vec<u8>) {
        let len = self.payload.0.len();
        out.push(u8::from(self.fin) << 7 | (self.rsv & 7) << 4 | (self.opcode & 0xF));
        let mask_bit = if self.masked { 0x80 } else { 0 };
        match self.extended_length_bytes() {
            0 => out.push(mask_bit | len as u8),
            2 => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        if self.masked {
            out.extend_from_slice(&key);
            out.extend(
                self.payload
                    .0
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ key[i % 4]),
            );
        } else {
            out.extend_from_slice(&self.payload.0);
        }
    }
}

/// What a receiver is and what it accepts.
#[derive(Clone, Copy, Debug)]
struct Limits {
    role: Role,
    mode: ReceiveMode,
    max_frame: usize,
    max_message: usize,
    /// Accept non-minimal lengths and (server) unmasked frames, as
    /// `Config::allow_non_minimal_length` and
    /// `Config::allow_unmasked_client_frames` allow.
    lenient: bool,
}

/// Something the application sees before the connection ends.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Out {
    Message(MessageKind, Blob),
    Ping(Blob),
    Pong(Blob),
}

/// Errors a receiver may report, each with the close code §7.4.1 calls for.
type Errors = Vec<(Error, u16)>;

/// How the received stream ends.
#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    /// Still open, waiting for more input.
    Open,
    /// A valid Close frame arrived: the peer's code (none for an empty
    /// payload) and reason.
    Closed(Option<u16>, String),
    /// The connection must fail with one of these errors (several when the
    /// first bad frame breaks several rules at once; the RFC does not rank
    /// them), each with the close code §7.4.1 calls for.
    Failed(Errors),
    /// The input stops inside a frame header whose bytes so far already
    /// break a rule: failing now (with one of these) or waiting for the rest
    /// are both correct.
    MayFail(Errors),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Expected {
    events: Vec<Out>,
    /// The data message in progress when the stream ended (only its valid
    /// part): stream mode has handed out some or all of it.
    partial: Option<(MessageKind, Vec<u8>)>,
    end: End,
}

const PROTOCOL_ERROR: u16 = 1002;
const INVALID_PAYLOAD: u16 = 1007;
const MESSAGE_TOO_BIG: u16 = 1009;

/// §5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved.
fn is_reserved(opcode: u8) -> bool {
    matches!(opcode, 0x3..=0x7 | 0xB..=0xF)
}

/// §5.5: Close, Ping, Pong.
fn is_control(opcode: u8) -> bool {
    matches!(opcode, 0x8..=0xA)
}

/// §5.6: Continuation, Text, Binary.
fn is_data(opcode: u8) -> bool {
    opcode <= 0x2
}

/// Codes a Close frame may carry: §7.4.1's defined codes except those it says
/// MUST NOT be sent (1004 is reserved, 1005, 1006 and 1015 are never on the
/// wire), the IANA registry's 1012-1014, and §7.4.2's 3000-4999. 0-999 are
/// "not used", the rest of 1000-2999 are reserved for future RFCs.
fn close_code_allowed(code: u16) -> bool {
    match code {
        1000..=1003 => true,
        1004..=1006 => false,
        1007..=1011 => true,
        1012..=1014 => true,
        1015 => false,
        3000..=4999 => true,
        _ => false,
    }
}

/// Where a text message's bytes so far stand (RFC 3629, via std's validator).
enum Utf8 {
    /// Every character complete.
    Complete,
    /// Valid, but the last character needs more bytes.
    Unfinished(usize),
    /// No continuation can make it valid: §8.1 says fail at once.
    Broken(usize),
}

fn utf8_state(bytes: &[u8]) -> Utf8 {
    match std::str::from_utf8(bytes) {
        Ok(_) => Utf8::Complete,
        Err(e) if e.error_len().is_none() => Utf8::Unfinished(e.valid_up_to()),
        Err(e) => Utf8::Broken(e.valid_up_to()),
    }
}

/// The rules of §5.1-§5.5 a frame header breaks, judged from its first
/// `seen` bytes only (so a partial header yields what is already decidable).
/// `message` is the data message in progress: its kind and length so far.
fn header_errors(frame: &Frame, seen: usize, message: Option<usize>, limits: &Limits) -> Errors {
    let mut errors = Vec::new();
    let op = frame.opcode;
    let (length_known, _) = frame.layout();
    if seen >= 1 {
        if is_reserved(op) {
            errors.push((Error::ReservedOpcode, PROTOCOL_ERROR));
        }
        // §5.2: RSV bits MUST be 0 unless an extension is negotiated (none is).
        if frame.rsv != 0 {
            errors.push((Error::ReservedBitsSet, PROTOCOL_ERROR));
        }
        // §5.5: control frames MUST NOT be fragmented.
        if is_control(op) && !frame.fin {
            errors.push((Error::FragmentedControlFrame, PROTOCOL_ERROR));
        }
        // §5.4: a continuation continues something; a message does not start
        // inside another.
        if op == 0x0 && message.is_none() {
            errors.push((Error::UnexpectedContinuation, PROTOCOL_ERROR));
        }
        if (op == 0x1 || op == 0x2) && message.is_some() {
            errors.push((Error::ExpectedContinuation, PROTOCOL_ERROR));
        }
    }
    if seen >= 2 {
        // §5.1: a server MUST close on an unmasked frame, a client on a masked one.
        match (limits.role, frame.masked) {
            (Role::Server, false) if !limits.lenient => {
                errors.push((Error::UnmaskedFrame, PROTOCOL_ERROR))
            }
            (Role::Client, true) => errors.push((Error::MaskedFrame, PROTOCOL_ERROR)),
            _ => {}
        }
        // §5.5: control payloads are 125 bytes or less (visible in the 7-bit field).
        if is_control(op) && frame.payload.0.len() > 125 {
            errors.push((Error::ControlFrameTooLong, PROTOCOL_ERROR));
        }
    }
    if seen >= length_known {
        if frame.long_length && !limits.lenient {
            errors.push((Error::NonMinimalLength, PROTOCOL_ERROR));
        }
        // §7.4.1's 1009 for what the endpoint will not take.
        let len = frame.payload.0.len();
        if is_data(op) {
            if len > limits.max_frame {
                errors.push((Error::FrameTooLarge, MESSAGE_TOO_BIG));
            }
            let before = if op == 0x0 { message.unwrap_or(0) } else { 0 };
            if limits.mode == ReceiveMode::Message && before + len > limits.max_message {
                errors.push((Error::MessageTooLarge, MESSAGE_TOO_BIG));
            }
        }
    }
    errors
}

/// §5.5.1 and §7.1.5/§7.1.6: an empty payload has no code; one byte is not a
/// payload; else a 2-byte code (§7.4) then a UTF-8 reason.
fn parse_close(payload: &[u8]) -> Result<(Option<u16>, String), Errors> {
    match payload {
        [] => Ok((None, String::new())),
        [_] => Err(vec![(Error::InvalidClosePayload, PROTOCOL_ERROR)]),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            let mut errors = Vec::new();
            if !close_code_allowed(code) {
                errors.push((Error::InvalidCloseCode, PROTOCOL_ERROR));
            }
            match std::str::from_utf8(reason) {
                Ok(reason) if errors.is_empty() => Ok((Some(code), reason.to_owned())),
                Ok(_) => Err(errors),
                Err(_) => {
                    errors.push((Error::InvalidCloseReason, INVALID_PAYLOAD));
                    Err(errors)
                }
            }
        }
    }
}

/// §7.1.5: a transport that ends before the closing handshake is an abnormal
/// closure, 1006, which is never sent.
const ABNORMAL: u16 = 1006;

/// The reference interpreter: what a receiver must report for `frames`, of
/// which only the first `delivered` encoded bytes arrived, followed by the
/// end of the transport if `eof`.
fn model(frames: &[Frame], delivered: usize, eof: bool, limits: &Limits) -> Expected {
    let mut events = Vec::new();
    // The data message in progress: kind and bytes so far.
    let mut message: Option<(MessageKind, Vec<u8>)> = None;
    let mut offset = 0;
    let mut end = End::Open;
    for frame in frames {
        if offset >= delivered {
            break;
        }
        let arrived = delivered - offset;
        let (_, header_len) = frame.layout();
        let errors = header_errors(
            frame,
            arrived.min(header_len),
            message.as_ref().map(|m| m.1.len()),
            limits,
        );
        if arrived < header_len {
            if !errors.is_empty() {
                end = End::MayFail(errors);
            }
            break;
        }
        if !errors.is_empty() {
            end = End::Failed(errors);
            break;
        }
        let payload = &frame.payload.0;
        let got = &payload[..(arrived - header_len).min(payload.len())];
        let complete = got.len() == payload.len();
        if is_control(frame.opcode) {
            // A control frame is acted on once whole.
            if !complete {
                break;
            }
            match frame.opcode {
                0x9 => events.push(Out::Ping(Blob(got.to_vec()))),
                0xA => events.push(Out::Pong(Blob(got.to_vec()))),
                _ => {
                    // §5.5.1: after a Close, nothing more is processed.
                    end = match parse_close(got) {
                        Ok((code, reason)) => End::Closed(code, reason),
                        Err(errors) => End::Failed(errors),
                    };
                    break;
                }
            }
        } else {
            let kind = match frame.opcode {
                0x1 => MessageKind::Text,
                0x2 => MessageKind::Binary,
                _ => message.as_ref().map(|m| m.0).expect("checked above"),
            };
            let (_, bytes) = message.get_or_insert_with(|| (kind, Vec::new()));
            bytes.extend_from_slice(got);
            if kind == MessageKind::Text {
                // §8.1: invalid UTF-8 fails the connection as soon as it is
                // seen, even if the message never ends.
                match utf8_state(bytes) {
                    Utf8::Broken(valid) => {
                        bytes.truncate(valid);
                        end = End::Failed(vec![(Error::InvalidUtf8, INVALID_PAYLOAD)]);
                        break;
                    }
                    Utf8::Unfinished(valid) if complete && frame.fin => {
                        bytes.truncate(valid);
                        end = End::Failed(vec![(Error::InvalidUtf8, INVALID_PAYLOAD)]);
                        break;
                    }
                    _ => {}
                }
            }
            if !complete {
                break;
            }
            if frame.fin {
                let (kind, bytes) = message.take().expect("a message in progress");
                events.push(Out::Message(kind, Blob(bytes)));
            }
        }
        offset += header_len + payload.len();
    }
    if eof {
        let abnormal = (Error::AbnormalClosure, ABNORMAL);
        end = match end {
            End::Open => End::Failed(vec![abnormal]),
            End::MayFail(mut errors) => {
                errors.push(abnormal);
                End::Failed(errors)
            }
            end => end,
        };
    }
    Expected {
        events,
        partial: message,
        end,
    }
}

// --------------------------------------------------------- generation

#[derive(Clone, Debug)]
enum Control {
    Ping(Blob),
    Pong(Blob),
}

/// The pieces a frame sequence is built from; `frames` turns them into
/// frames, which mutations then break.
#[derive(Clone, Debug)]
enum Item {
    /// A data message cut into fragments at `cuts`, each cut optionally
    /// followed by a control frame.
    Message {
        kind: MessageKind,
        payload: Blob,
        cuts: Vec<(Index, Option<Control>)>,
        /// Also cut every this many bytes (fragments under the frame limit
        /// that add up past the message limit).
        every: Option<usize>,
    },
    /// A text message of two fragments, the second starting `split` bytes
    /// into `middle` (a character, or a sequence that is not UTF-8).
    SplitText {
        before: String,
        middle: Blob,
        split: Index,
        after: String,
    },
    Control(Control),
    /// A Close frame with this exact payload.
    Close(Blob),
    /// Any frame at all.
    Raw(Frame),
}

#[derive(Clone, Debug)]
enum Mutation {
    /// Sets RSV bits (1..=7).
    Rsv(u8),
    /// Turns the opcode into this one.
    Opcode(u8),
    FlipMask,
    FlipFin,
    LongLength,
    /// Drops the frame (a continuation without start, a message left open).
    Drop,
    /// Sends the frame twice (a new message inside a fragmented one, a
    /// continuation after the final frame).
    Duplicate,
}

/// Byte sequences that break UTF-8, to splice into text.
fn bad_utf8() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        vec![0xFF],
        vec![0x80],
        vec![0xC0, 0x80],             // overlong NUL
        vec![0xED, 0xA0, 0x80],       // a surrogate
        vec![0xF4, 0x90, 0x80, 0x80], // above U+10FFFF
        vec![0xE2, 0x82],             // a character cut short
        vec![0xF0],
    ])
}

fn text_payload() -> impl Strategy<Value = Vec<u8>> {
    let valid = prop_oneof![
        16 => vec(any::<char>(), 0..24).prop_map(String::from_iter),
        2 => (vec(any::<char>(), 1..6), 100usize..350).prop_map(|(u, n)| repeat_to(u, n)),
        1 => (vec(any::<char>(), 1..6), 600usize..900).prop_map(|(u, n)| repeat_to(u, n)),
    ];
    (
        valid,
        proptest::option::weighted(0.1, (any::<Index>(), bad_utf8())),
    )
        .prop_map(|(text, bad)| {
            let mut bytes = text.into_bytes();
            if let Some((at, bad)) = bad {
                let at = at.index(bytes.len() + 1);
                bytes.splice(at..at, bad);
            }
            bytes
        })
}

fn binary_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        16 => vec(any::<u8>(), 0..40),
        2 => (100usize..350, any::<u64>()).prop_map(|(n, s)| filled(n, s)),
        1 => (600usize..900, any::<u64>()).prop_map(|(n, s)| filled(n, s)),
    ]
}

fn control_payload() -> impl Strategy<Value = Blob> {
    prop_oneof![
        30 => vec(any::<u8>(), 0..=125),
        1 => vec(any::<u8>(), 126..=140),
    ]
    .prop_map(Blob)
}

fn control() -> impl Strategy<Value = Control> {
    prop_oneof![
        2 => control_payload().prop_map(Control::Ping),
        1 => control_payload().prop_map(Control::Pong),
    ]
}

fn close_payload() -> impl Strategy<Value = Blob> {
    let code = prop_oneof![
        3 => prop::sample::select(vec![
            1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
            3999, 4000, 4999,
        ]),
        2 => prop::sample::select(vec![
            0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ]),
        1 => any::<u16>(),
    ];
    let reason = prop_oneof![
        6 => "[ -~é€😀]{0,20}".prop_map(String::into_bytes),
        1 => (vec(any::<char>(), 0..8), bad_utf8(), any::<Index>()).prop_map(|(c, bad, at)| {
            let mut bytes = String::from_iter(c).into_bytes();
            let at = at.index(bytes.len() + 1);
            bytes.splice(at..at, bad);
            bytes
        }),
        1 => Just(vec![b'r'; 123]),
        1 => Just(vec![b'r'; 124]), // 126-byte payload: too long for a control frame
    ];
    prop_oneof![
        2 => Just(Blob(Vec::new())),
        1 => any::<u8>().prop_map(|b| Blob(vec![b])),
        8 => (code, reason).prop_map(|(code, reason)| {
            let mut payload = code.to_be_bytes().to_vec();
            payload.extend(reason);
            Blob(payload)
        }),
    ]
}

fn raw_frame() -> impl Strategy<Value = Frame> {
    (
        any::<bool>(),
        prop_oneof![3 => Just(0u8), 1 => 1u8..8],
        0u8..16,
        any::<bool>(),
        proptest::bool::weighted(0.1),
        vec(any::<u8>(), 0..20),
    )
        .prop_map(|(fin, rsv, opcode, masked, long_length, payload)| Frame {
            fin,
            rsv,
            opcode,
            masked,
            long_length,
            payload: Blob(payload),
        })
}

fn item() -> impl Strategy<Value = Item> {
    let message = (
        prop_oneof![
            text_payload().prop_map(|p| (MessageKind::Text, p)),
            binary_payload().prop_map(|p| (MessageKind::Binary, p)),
        ],
        prop_oneof![
            2 => Just(Vec::new()),
            3 => vec((any::<Index>(), proptest::option::weighted(0.4, control())), 1..5),
        ],
        proptest::option::weighted(0.25, 50usize..=300),
    )
        .prop_map(|((kind, payload), cuts, every)| Item::Message {
            kind,
            payload: Blob(payload),
            cuts,
            every,
        });
    let split_text = (
        "[a-z]{0,4}",
        prop_oneof![
            any::<char>().prop_map(|c| c.to_string().into_bytes()),
            bad_utf8(),
            // A valid start, then a byte that cannot continue it.
            prop::sample::select(vec![vec![0xE2, 0x82, 0x41], vec![0xF0, 0x90, 0xC0]]),
        ],
        any::<Index>(),
        "[a-z]{0,4}",
    )
        .prop_map(|(before, middle, split, after)| Item::SplitText {
            before,
            middle: Blob(middle),
            split,
            after,
        });
    prop_oneof![
        12 => message,
        2 => split_text,
        4 => control().prop_map(Item::Control),
        1 => close_payload().prop_map(Item::Close),
        1 => raw_frame().prop_map(Item::Raw),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (1u8..8).prop_map(Mutation::Rsv),
        prop_oneof![3 => 0u8..16, 1 => 0u8..3].prop_map(Mutation::Opcode),
        Just(Mutation::FlipMask),
        Just(Mutation::FlipFin),
        Just(Mutation::LongLength),
        Just(Mutation::Drop),
        Just(Mutation::Duplicate),
    ]
}

/// A whole test case for the receive model.
#[derive(Clone, Debug)]
struct Script {
    role: Role,
    mode: ReceiveMode,
    items: Vec<Item>,
    /// A Close frame at the end (before mutations).
    close: Option<Blob>,
    mutations: Vec<(Index, Mutation)>,
    /// Deliver only part of the encoded bytes.
    cut: Option<Index>,
    /// The transport ends after the delivered bytes.
    eof: bool,
    lenient: bool,
    auto_pong: bool,
    /// The machine sends its own Close (1000, "bye") before any input.
    close_first: bool,
    seed: u64,
    max_chunk: usize,
}

fn script() -> impl Strategy<Value = Script> {
    (
        prop_oneof![Just(Role::Server), Just(Role::Client)],
        prop_oneof![3 => Just(ReceiveMode::Message), 1 => Just(ReceiveMode::Stream)],
        vec(item(), 0..8),
        proptest::option::weighted(0.4, close_payload()),
        prop_oneof![
            5 => Just(Vec::new()),
            4 => vec((any::<Index>(), mutation()), 1..3),
        ],
        proptest::option::weighted(0.3, any::<Index>()),
        (
            proptest::bool::weighted(0.2),
            proptest::bool::weighted(0.15),
            proptest::bool::weighted(0.9),
            proptest::bool::weighted(0.15),
        ),
        any::<u64>(),
        prop_oneof![1usize..=4, 1usize..=64, 1usize..=4096],
    )
        .prop_map(
            |(role, mode, items, close, mutations, cut, flags, seed, max_chunk)| Script {
                role,
                mode,
                items,
                close,
                mutations,
                cut,
                eof: flags.0,
                lenient: flags.1,
                auto_pong: flags.2,
                close_first: flags.3,
                seed,
                max_chunk,
            },
        )
}

impl Script {
    /// The frames a valid sender would send for the items, then broken by
    /// the mutations.
    fn frames(&self) -> Vec<Frame> {
        let masked = self.role == Role::Server;
        let control_frame = |c: &Control| match c {
            Control::Ping(p) => Frame::new(0x9, true, masked, p.0.clone()),
            Control::Pong(p) => Frame::new(0xA, true, masked, p.0.clone()),
        };
        let mut frames = Vec::new();
        for item in &self.items {
            match item {
                Item::Message {
                    kind,
                    payload,
                    cuts,
                    every,
                } => {
                    let data = &payload.0;
                    let mut cuts: Vec<(usize, Option<&Control>)> = cuts
                        .iter()
                        .map(|(at, c)| (at.index(data.len() + 1), c.as_ref()))
                        .collect();
                    if let Some(every) = every {
                        cuts.extend((*every..data.len()).step_by(*every).map(|at| (at, None)));
                    }
                    cuts.sort_by_key(|c| c.0);
                    let mut opcode = match kind {
                        MessageKind::Text => 0x1,
                        MessageKind::Binary => 0x2,
                    };
                    let mut start = 0;
                    for (at, control) in cuts {
                        frames.push(Frame::new(opcode, false, masked, data[start..at].to_vec()));
                        opcode = 0x0;
                        start = at;
                        if let Some(c) = control {
                            frames.push(control_frame(c));
                        }
                    }
                    frames.push(Frame::new(opcode, true, masked, data[start..].to_vec()));
                }
                Item::SplitText {
                    before,
                    middle,
                    split,
                    after,
                } => {
                    let split = split.index(middle.0.len() + 1);
                    let mut first = before.clone().into_bytes();
                    first.extend_from_slice(&middle.0[..split]);
                    let mut second = middle.0[split..].to_vec();
                    second.extend_from_slice(after.as_bytes());
                    frames.push(Frame::new(0x1, false, masked, first));
                    frames.push(Frame::new(0x0, true, masked, second));
                }
                Item::Control(c) => frames.push(control_frame(c)),
                Item::Close(p) => frames.push(Frame::new(0x8, true, masked, p.0.clone())),
                Item::Raw(f) => frames.push(f.clone()),
            }
        }
        if let Some(p) = &self.close {
            frames.push(Frame::new(0x8, true, masked, p.0.clone()));
        }
        for (at, mutation) in &self.mutations {
            if frames.is_empty() {
                break;
            }
            let at = at.index(frames.len());
            let frame = &mut frames[at];
            match mutation {
                Mutation::Rsv(bits) => frame.rsv = *bits,
                Mutation::Opcode(op) => frame.opcode = *op,
                Mutation::FlipMask => frame.masked = !frame.masked,
                Mutation::FlipFin => frame.fin = !frame.fin,
                Mutation::LongLength => frame.long_length = frame.payload.0.len() <= 0xFFFF,
                Mutation::Drop => {
                    frames.remove(at);
                }
                Mutation::Duplicate => {
                    let copy = frame.clone();
                    frames.insert(at, copy);
                }
            }
        }
        frames
    }
}

// --------------------------------------------------- comparing with it

/// Turns stream-mode chunks into whole messages; an unfinished message's
/// data is returned apart.
fn assemble(events: &[Ev]) -> (Vec<Ev>, Option<(MessageKind, Vec<u8>)>) {
    let mut out = Vec::new();
    let mut open: Option<(MessageKind, Vec<u8>)> = None;
    for ev in events {
        match ev {
            Ev::Chunk(kind, data, last) => {
                let (open_kind, buf) = open.get_or_insert_with(|| (*kind, Vec::new()));
                assert_eq!(open_kind, kind, "a message changed kind: {events:?}");
                buf.extend_from_slice(&data.0);
                if *last {
                    let (kind, buf) = open.take().unwrap();
                    out.push(Ev::Message(kind, Blob(buf)));
                }
            }
            other => out.push(other.clone()),
        }
    }
    (out, open)
}

/// Feeds `input` to a fresh machine in chunks, draining events after each.
fn run_machine(script: &Script, input: &[u8], limits: &Limits) -> (Vec<Ev>, Connection) {
    let (seed, max_chunk) = (script.seed, script.max_chunk);
    let config = Config::default()
        .with_allow_non_minimal_length(limits.lenient)
        .with_allow_unmasked_client_frames(limits.lenient)
        .with_auto_pong(script.auto_pong)
        .with_max_frame_size(limits.max_frame)
        .with_max_message_size(limits.max_message)
        .with_receive_mode(limits.mode)
        .with_mask_seed(Some(seed))
        .with_handshake_timeout(None)
        .with_ping_interval(None)
        .with_close_timeout(None);
    let mut conn = Connection::upgraded(limits.role, config).unwrap();
    if script.close_first {
        conn.close(CloseCode::NORMAL, "bye").unwrap();
    }
    let mut rng = Rng(seed ^ 0x5eed);
    let mut events: Vec<Ev> = Vec::new();
    let mut rest = input;
    loop {
        while let Some(event) = conn.next_event() {
            let ev = Ev::of(&event);
            if let Some(previous) = events.last() {
                assert!(!previous.is_final(), "{ev:?} after {previous:?}");
            }
            events.push(ev);
        }
        if rest.is_empty() {
            if script.eof && conn.wants_read() {
                conn.receive_eof();
                continue;
            }
            break;
        }
        let n = rng.chunk(max_chunk).min(rest.len());
        conn.receive(&rest[..n]);
        rest = &rest[n..];
    }
    (events, conn)
}

/// The valid part of a partial message that stream mode must have handed
/// out once no more input comes: all of it, less an unfinished character.
fn deliverable(kind: MessageKind, bytes: &[u8]) -> &[u8] {
    match (kind, utf8_state(bytes)) {
        (MessageKind::Text, Utf8::Unfinished(valid) | Utf8::Broken(valid)) => &bytes[..valid],
        _ => bytes,
    }
}

fn check_against_model(script: &Script) -> Result<(), TestCaseError> {
    let limits = Limits {
        role: script.role,
        mode: script.mode,
        max_frame: 300,
        max_message: 700,
        lenient: script.lenient,
    };
    let frames = script.frames();
    let mut rng = Rng(script.seed);
    let mut input = Vec::new();
    for frame in &frames {
        frame.encode(rng.key(), &mut input);
    }
    let delivered = script
        .cut
        .map_or(input.len(), |at| at.index(input.len() + 1));
    let expected = model(&frames, delivered, script.eof, &limits);
    let (events, mut conn) = run_machine(script, &input[..delivered], &limits);

    let (assembled, actual_partial) = match script.mode {
        ReceiveMode::Message => (events.clone(), None),
        ReceiveMode::Stream => assemble(&events),
    };
    let (body, last) = match assembled.last() {
        Some(ev) if ev.is_final() => (&assembled[..assembled.len() - 1], Some(ev.clone())),
        _ => (&assembled[..], None),
    };
    let want: Vec<Ev> = expected
        .events
        .iter()
        .map(|out| match out {
            Out::Message(kind, bytes) => Ev::Message(*kind, bytes.clone()),
            Out::Ping(p) => Ev::Ping(p.clone()),
            Out::Pong(p) => Ev::Pong(p.clone()),
        })
        .collect();
    prop_assert_eq!(body, &want[..], "events; expected {:?}", expected);

    // How it ended, and the Close frame that must have been queued.
    let mut want_close: Option<Option<u16>> = None;
    match (&expected.end, &last) {
        (End::Open, None) | (End::MayFail(_), None) => {
            let state = if script.close_first {
                ReadyState::Closing
            } else {
                ReadyState::Open
            };
            prop_assert_eq!(conn.ready_state(), state);
            prop_assert_eq!(conn.error(), None);
        }
        (End::Closed(code, reason), Some(Ev::Close(got_code, got_reason))) => {
            prop_assert_eq!(code, got_code);
            prop_assert_eq!(reason, got_reason);
            prop_assert_eq!(conn.ready_state(), ReadyState::Closed);
            prop_assert_eq!(conn.error(), None);
            want_close = Some(*code);
        }
        (End::Failed(allowed) | End::MayFail(allowed), Some(Ev::Failed(error))) => {
            let Some(&(_, code)) = allowed.iter().find(|(e, _)| e == error) else {
                return Err(TestCaseError::fail(format!(
                    "failed with {error:?}, expected one of {allowed:?}; {expected:?}"
                )));
            };
            prop_assert_eq!(conn.error(), Some(*error));
            prop_assert_eq!(conn.ready_state(), ReadyState::Closed);
            if code == ABNORMAL {
                prop_assert_eq!(error.close_code(), None, "{:?}", error);
            } else {
                prop_assert_eq!(error.close_code(), Some(CloseCode(code)), "{:?}", error);
                want_close = Some(Some(code));
            }
        }
        (end, last) => {
            return Err(TestCaseError::fail(format!(
                "ended with {last:?}, expected {end:?}; events {events:?}"
            )));
        }
    }

    // A data message left open: stream mode has handed out its valid part
    // (all of it when nothing more is coming, a prefix on failure: part of a
    // failing frame's valid bytes may or may not have been handed out).
    if script.mode == ReceiveMode::Stream {
        let got = actual_partial
            .map(|(k, b)| (Some(k), b))
            .unwrap_or_default();
        let (want_kind, want_bytes) = match &expected.partial {
            Some((kind, bytes)) => (Some(*kind), deliverable(*kind, bytes).to_vec()),
            None => (None, Vec::new()),
        };
        if !got.1.is_empty() || got.0.is_some() {
            prop_assert_eq!(got.0, want_kind, "partial message kind");
        }
        match expected.end {
            End::Open | End::Closed(..) => {
                prop_assert_eq!(Blob(got.1), Blob(want_bytes), "partial message data");
            }
            _ => prop_assert!(
                want_bytes.starts_with(&got.1),
                "partial {:?} not a prefix of {:?}",
                Blob(got.1),
                Blob(want_bytes)
            ),
        }
    }

    // The output: a Pong for every Ping (same payload, §5.5.2), then the one
    // Close frame (ours if we closed first: then no Pong either, and no echo),
    // all masked by a client and only by a client (§5.3). After an abnormal
    // closure the peer is gone: the machine drops whatever is queued.
    let output = parse_frames(conn.pending_output());
    let mut want_frames: Vec<(u8, Option<Vec<u8>>)> = Vec::new();
    if conn.error() != Some(Error::AbnormalClosure) {
        if script.close_first {
            want_frames.push((0x88, Some(1000u16.to_be_bytes().to_vec())));
        } else {
            for out in &expected.events {
                if let (Out::Ping(p), true) = (out, script.auto_pong) {
                    want_frames.push((0x8A, Some(p.0.clone())));
                }
            }
            if let Some(code) = want_close {
                want_frames.push((0x88, code.map(|c| c.to_be_bytes().to_vec())));
            }
        }
    }
    prop_assert_eq!(output.len(), want_frames.len(), "output {:?}", output);
    for (frame, (first, payload)) in output.iter().zip(&want_frames) {
        prop_assert_eq!(frame.first, *first, "output {:?}", output);
        prop_assert_eq!(
            frame.masked,
            script.role == Role::Client,
            "output {:?}",
            output
        );
        match payload {
            Some(p) if *first == 0x8A => prop_assert_eq!(&frame.payload.0, p),
            // A Close: the code, then any UTF-8 reason.
            Some(code) => {
                prop_assert!(frame.payload.0.starts_with(code), "close {:?}", frame);
                prop_assert!(std::str::from_utf8(&frame.payload.0[2..]).is_ok());
                prop_assert!(frame.payload.0.len() <= 125);
            }
            None => prop_assert!(frame.payload.0.is_empty(), "close {:?}", frame),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(500))]

    /// The machine reports exactly what the RFC model says, however the
    /// input is split, and queues exactly the Pongs and the Close it should.
    #[test]
    fn receiver_matches_the_rfc_model(script in script()) {
        check_against_model(&script)?;
    }
}

/// A few hand-written cases pinning the model's subtle points.
#[test]
fn model_fixed_points() {
    let server = Limits {
        role: Role::Server,
        mode: ReceiveMode::Message,
        max_frame: 300,
        max_message: 700,
        lenient: false,
    };
    let text = |fin: bool, payload: &[u8]| Frame::new(0x1, fin, true, payload.to_vec());
    let cont = |fin: bool, payload: &[u8]| Frame::new(0x0, fin, true, payload.to_vec());
    let len = |frames: &[Frame]| -> usize {
        frames
            .iter()
            .map(|f| f.layout().1 + f.payload.0.len())
            .sum()
    };

    // Invalid UTF-8 in a first fragment fails even though the message never ends.
    let frames = [text(false, b"ok\xFF"), cont(false, b"more")];
    let whole = len(&frames);
    let expected = model(&frames, whole - 2, false, &server);
    assert_eq!(
        expected.end,
        End::Failed(vec![(Error::InvalidUtf8, INVALID_PAYLOAD)])
    );
    // A character cut across fragments is fine until the end proves it unfinished.
    let frames = [text(false, b"\xE2\x82"), cont(true, b"\xAC")];
    assert_eq!(
        model(&frames, len(&frames), false, &server).events,
        [Out::Message(MessageKind::Text, Blob("€".into()))]
    );
    let frames = [text(false, b"\xE2\x82"), cont(true, b"")];
    assert_eq!(
        model(&frames, len(&frames), false, &server).end,
        End::Failed(vec![(Error::InvalidUtf8, INVALID_PAYLOAD)])
    );
    // Frames after a Close are ignored, even broken ones.
    let frames = [
        Frame::new(0x8, true, true, vec![0x03, 0xE8]),
        Frame::new(0x3, true, false, vec![]),
    ];
    let expected = model(&frames, len(&frames), false, &server);
    assert_eq!(expected.end, End::Closed(Some(1000), String::new()));
    // Each frame under 300, the message over 700.
    let frames = [
        Frame::new(0x2, false, true, vec![0; 250]),
        cont(false, &[0; 250]),
        cont(true, &[0; 250]),
    ];
    assert_eq!(
        model(&frames, len(&frames), false, &server).end,
        End::Failed(vec![(Error::MessageTooLarge, MESSAGE_TOO_BIG)])
    );
    // One byte of a reserved opcode may fail now or wait.
    let frames = [Frame::new(0x3, true, true, vec![])];
    assert_eq!(
        model(&frames, 1, false, &server).end,
        End::MayFail(vec![(Error::ReservedOpcode, PROTOCOL_ERROR)])
    );
}

// =========================================== 2. two machines, virtual time

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Client,
    Server,
}

#[derive(Clone, Debug)]
enum Op {
    Text(Who, String),
    Binary(Who, Blob),
    /// One message sent with `send_fragment`, cut at these points.
    Fragmented(Who, MessageKind, Blob, Vec<Index>),
    /// A user Ping; payloads are never empty, so they are told apart from
    /// keepalive Pings.
    Ping(Who, Blob),
    Close(Who, u16, String),
    /// Both sides close before either hears of the other's Close.
    CloseBoth((u16, String), (u16, String)),
    /// Moves the clock forward by this many milliseconds, stopping at every
    /// deadline on the way like an event loop would.
    Advance(u64),
    /// Delivers some (an index into what is pending) or all of one side's
    /// output to the other, in chunks from a seed.
    Deliver(Who, Option<Index>, u64),
}

#[derive(Clone, Debug)]
struct Timing {
    ping_interval: Duration,
    pong_timeout: Duration,
    close_timeout: Duration,
    abort_on_keepalive_timeout: bool,
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![Just(Who::Client), Just(Who::Server)]
}

fn user_close() -> impl Strategy<Value = (u16, String)> {
    (
        prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999],
        "[ -~é€😀]{0,20}",
    )
}

fn op() -> impl Strategy<Value = Op> {
    let text = prop_oneof![
        6 => vec(any::<char>(), 0..20).prop_map(String::from_iter),
        1 => (vec(any::<char>(), 1..5), 126usize..2000).prop_map(|(u, n)| repeat_to(u, n)),
    ];
    let binary = prop_oneof![
        6 => vec(any::<u8>(), 0..40),
        1 => (126usize..2000, any::<u64>()).prop_map(|(n, s)| filled(n, s)),
    ]
    .prop_map(Blob);
    let fragmented = (
        who(),
        prop_oneof![
            vec(any::<char>(), 0..20)
                .prop_map(|c| (MessageKind::Text, String::from_iter(c).into_bytes())),
            vec(any::<u8>(), 0..40).prop_map(|b| (MessageKind::Binary, b)),
        ],
        vec(any::<Index>(), 0..4),
    )
        .prop_map(|(w, (kind, data), cuts)| Op::Fragmented(w, kind, Blob(data), cuts));
    prop_oneof![
        16 => (who(), text).prop_map(|(w, t)| Op::Text(w, t)),
        8 => (who(), binary).prop_map(|(w, b)| Op::Binary(w, b)),
        4 => fragmented,
        // Keepalive Pings carry 4 bytes; the user's never do, so the two
        // can be told apart on the wire.
        6 => (who(), vec(any::<u8>(), 1..=20))
            .prop_filter("4 bytes is a keepalive", |(_, p)| p.len() != 4)
            .prop_map(|(w, p)| Op::Ping(w, Blob(p))),
        1 => (who(), user_close()).prop_map(|(w, (c, r))| Op::Close(w, c, r)),
        1 => (user_close(), user_close()).prop_map(|(a, b)| Op::CloseBoth(a, b)),
        12 => prop_oneof![12 => 0u64..500, 3 => 500u64..5_000, 1 => 5_000u64..30_000]
            .prop_map(Op::Advance),
        24 => (who(), proptest::option::weighted(0.6, any::<Index>()), any::<u64>())
            .prop_map(|(w, i, s)| Op::Deliver(w, i, s)),
    ]
}

fn timing() -> impl Strategy<Value = Timing> {
    (
        2000u64..=10_000,
        1000u64..=5000,
        1000u64..=5000,
        proptest::bool::weighted(0.25),
    )
        .prop_map(|(p, t, c, abort)| Timing {
            ping_interval: Duration::from_millis(p),
            pong_timeout: Duration::from_millis(t),
            close_timeout: Duration::from_millis(c),
            abort_on_keepalive_timeout: abort,
        })
}

/// One end of the wire and what the test knows about it.
struct Peer {
    who: Who,
    conn: Connection,
    events: Vec<Ev>,
    /// Messages `send_*` accepted, in order.
    sent: Vec<(MessageKind, Blob)>,
    received: Vec<(MessageKind, Blob)>,
    /// Payloads of accepted user Pings, and of non-empty Pings and Pongs seen.
    pings_sent: Vec<Blob>,
    pings_seen: Vec<Blob>,
    pongs_seen: Vec<Blob>,
    /// The one Close frame this side put on the wire: its code and, when the
    /// user chose it, its reason.
    close_frame: Option<(Option<u16>, Option<String>)>,
    /// When the user's `close` was accepted.
    closed_at: Option<Duration>,
    /// Last time bytes reached a connection that was reading.
    last_received: Duration,
    /// When the final event came.
    ended_at: Option<Duration>,
    /// Every byte of this side's output that was delivered.
    wire: Vec<u8>,
}

impl Peer {
    fn new(who: Who, timing: &Timing, seed: u64) -> Peer {
        let config = Config::default()
            .with_ping_interval(Some(timing.ping_interval))
            .with_pong_timeout(timing.pong_timeout)
            .with_close_timeout(Some(timing.close_timeout))
            .with_abort_on_keepalive_timeout(timing.abort_on_keepalive_timeout)
            .with_mask_seed(Some(seed));
        let role = match who {
            Who::Client => Role::Client,
            Who::Server => Role::Server,
        };
        Peer {
            who,
            conn: Connection::upgraded(role, config).unwrap(),
            events: Vec::new(),
            sent: Vec::new(),
            received: Vec::new(),
            pings_sent: Vec::new(),
            pings_seen: Vec::new(),
            pongs_seen: Vec::new(),
            close_frame: None,
            closed_at: None,
            last_received: Duration::ZERO,
            ended_at: None,
            wire: Vec::new(),
        }
    }

    fn drain(&mut self, now: Duration, abort: bool) {
        while let Some(event) = self.conn.next_event() {
            let ev = Ev::of(&event);
            if let Some(previous) = self.events.last() {
                assert!(
                    !previous.is_final(),
                    "{:?}: {ev:?} after {previous:?}",
                    self.who
                );
            }
            match &ev {
                Ev::Message(kind, data) => self.received.push((*kind, data.clone())),
                Ev::Ping(p) if p.0.len() != 4 => self.pings_seen.push(p.clone()),
                Ev::Pong(p) if p.0.len() != 4 => self.pongs_seen.push(p.clone()),
                Ev::Ping(_) | Ev::Pong(_) => {}
                Ev::Close(code, _) => {
                    // Unless we had sent ours, the machine echoed the code.
                    self.close_frame.get_or_insert((*code, None));
                    self.ended_at = Some(now);
                }
                Ev::Failed(Error::KeepaliveTimeout) => {
                    assert!(
                        self.close_frame.is_none(),
                        "{:?}: keepalive while closing",
                        self.who
                    );
                    if !abort {
                        self.close_frame = Some((Some(1011), None));
                    }
                    self.ended_at = Some(now);
                }
                Ev::Failed(Error::CloseTimeout) => self.ended_at = Some(now),
                other => panic!("{:?}: unexpected {other:?}", self.who),
            }
            self.events.push(ev);
        }
    }

    fn send(&mut self, kind: MessageKind, data: &[u8], cuts: Option<&[Index]>) {
        let open = self.conn.ready_state() == ReadyState::Open;
        let result = match (cuts, kind) {
            (None, MessageKind::Text) => self.conn.send_text(std::str::from_utf8(data).unwrap()),
            (None, MessageKind::Binary) => self.conn.send_binary(data),
            (Some(cuts), _) => {
                let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
                cuts.sort_unstable();
                cuts.push(data.len());
                let mut start = 0;
                let mut result = Ok(());
                for (n, &at) in cuts.iter().enumerate() {
                    let last = n + 1 == cuts.len();
                    let r = self.conn.send_fragment(kind, &data[start..at], last);
                    if n > 0 {
                        r.expect("a later fragment of an accepted message");
                    } else if r.is_err() {
                        result = r;
                        break;
                    }
                    start = at;
                }
                result
            }
        };
        match result {
            Ok(()) => {
                assert!(open, "{:?}: send accepted while not open", self.who);
                self.sent.push((kind, Blob(data.to_vec())));
            }
            Err(e) => assert!(!open, "{:?}: send refused while open: {e:?}", self.who),
        }
    }
}

struct Net {
    client: Peer,
    server: Peer,
    now: Duration,
    timing: Timing,
}

impl Net {
    fn peer(&mut self, who: Who) -> &mut Peer {
        match who {
            Who::Client => &mut self.client,
            Who::Server => &mut self.server,
        }
    }

    /// Like an event loop after any activity: tell both the time, take their
    /// events, and check no deadline is overdue.
    fn tick(&mut self) {
        let (now, timing) = (self.now, &self.timing);
        for peer in [&mut self.client, &mut self.server] {
            peer.conn.handle_timeout(Timestamp::from_duration(now));
            peer.drain(now, timing.abort_on_keepalive_timeout);
            match peer.conn.ready_state() {
                ReadyState::Open => assert!(
                    now < peer.last_received + timing.ping_interval + timing.pong_timeout,
                    "{:?}: keepalive timeout overdue at {now:?} (last received {:?})",
                    peer.who,
                    peer.last_received
                ),
                ReadyState::Closing => assert!(
                    now < peer.closed_at.expect("closing by the user") + timing.close_timeout,
                    "{:?}: close timeout overdue at {now:?}",
                    peer.who
                ),
                _ => {}
            }
        }
    }

    fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        let mut steps = 0;
        loop {
            let next = [&self.client, &self.server]
                .iter()
                .filter_map(|p| p.conn.poll_timeout().map(Timestamp::since_origin))
                .min();
            match next {
                Some(at) if at <= target => {
                    steps += 1;
                    assert!(
                        steps < 1000,
                        "poll_timeout keeps asking for {at:?} at {:?}",
                        self.now
                    );
                    self.now = self.now.max(at);
                    self.tick();
                }
                _ => break,
            }
        }
        self.now = target;
        self.tick();
    }

    /// Moves bytes from `from`'s output to the other side; returns how many.
    fn deliver(&mut self, from: Who, amount: Option<Index>, seed: u64) -> usize {
        let now = self.now;
        let abort = self.timing.abort_on_keepalive_timeout;
        let (src, dst) = match from {
            Who::Client => (&mut self.client, &mut self.server),
            Who::Server => (&mut self.server, &mut self.client),
        };
        let pending = src.conn.pending_output().len();
        let n = amount.map_or(pending, |i| i.index(pending + 1));
        if n == 0 {
            return 0;
        }
        let bytes = src.conn.pending_output()[..n].to_vec();
        src.conn.consume_output(n);
        src.wire.extend_from_slice(&bytes);
        if dst.conn.ready_state() != ReadyState::Closed {
            dst.last_received = now;
        }
        let mut rng = Rng(seed);
        let max = [1, 7, 100, usize::MAX][(seed % 4) as usize];
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let k = rng.chunk(max).min(rest.len());
            dst.conn.receive(&rest[..k]);
            rest = &rest[k..];
            dst.drain(now, abort);
        }
        self.tick();
        n
    }

    fn close(&mut self, who: Who, code: u16, reason: &str) {
        let now = self.now;
        let peer = self.peer(who);
        let open = peer.conn.ready_state() == ReadyState::Open;
        match peer.conn.close(CloseCode(code), reason) {
            Ok(()) => {
                assert!(open, "{who:?}: close accepted while not open");
                assert!(peer.close_frame.is_none());
                peer.close_frame = Some((Some(code), Some(reason.to_owned())));
                peer.closed_at = Some(now);
            }
            Err(e) => assert!(!open, "{who:?}: close refused while open: {e:?}"),
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Text(w, t) => self.peer(*w).send(MessageKind::Text, t.as_bytes(), None),
            Op::Binary(w, b) => self.peer(*w).send(MessageKind::Binary, &b.0, None),
            Op::Fragmented(w, kind, data, cuts) => self.peer(*w).send(*kind, &data.0, Some(cuts)),
            Op::Ping(w, p) => {
                let peer = self.peer(*w);
                let open = peer.conn.ready_state() == ReadyState::Open;
                match peer.conn.send_ping(&p.0) {
                    Ok(()) => {
                        assert!(open);
                        peer.pings_sent.push(p.clone());
                    }
                    Err(e) => assert!(!open, "{w:?}: ping refused while open: {e:?}"),
                }
            }
            Op::Close(w, code, reason) => self.close(*w, *code, reason),
            Op::CloseBoth((c1, r1), (c2, r2)) => {
                self.close(Who::Client, *c1, r1);
                self.close(Who::Server, *c2, r2);
            }
            Op::Advance(ms) => self.advance(Duration::from_millis(*ms)),
            Op::Deliver(from, amount, seed) => {
                self.deliver(*from, *amount, *seed);
            }
        }
        self.tick();
    }

    /// Delivers everything promptly and lets time pass until both are closed,
    /// closing from the client if nobody has.
    fn finish(&mut self) {
        let long = self.timing.ping_interval + self.timing.pong_timeout + self.timing.close_timeout;
        for round in 0u64..40 {
            while self.deliver(Who::Client, None, round) + self.deliver(Who::Server, None, round)
                > 0
            {}
            let states = (
                self.client.conn.ready_state(),
                self.server.conn.ready_state(),
            );
            if states == (ReadyState::Closed, ReadyState::Closed) {
                return;
            }
            if states == (ReadyState::Open, ReadyState::Open) {
                self.close(Who::Client, 1000, "done");
                continue;
            }
            self.advance(long);
        }
        panic!(
            "not closed: client {:?}, server {:?}",
            self.client.conn.ready_state(),
            self.server.conn.ready_state()
        );
    }
}

fn check_peer(me: &Peer, other: &Peer, timing: &Timing) -> Result<(), TestCaseError> {
    let who = me.who;
    prop_assert_eq!(me.conn.ready_state(), ReadyState::Closed, "{:?}", who);
    let last = me.events.last().cloned();
    let ended_at = me.ended_at.expect("a final event");
    match &last {
        Some(Ev::Close(code, reason)) => {
            // The code of the one Close frame the other side sent (its own, or
            // the echo of ours), and its reason when its user chose one.
            let (their_code, their_reason) = other.close_frame.clone().unwrap_or_default();
            prop_assert_eq!(*code, their_code, "{:?}: close code", who);
            if let Some(their_reason) = their_reason {
                prop_assert_eq!(reason, &their_reason, "{:?}: close reason", who);
            }
            prop_assert_eq!(me.conn.error(), None);
            // Everything the other side sent went before its Close.
            prop_assert_eq!(&me.received, &other.sent, "{:?}: messages", who);
        }
        Some(Ev::Failed(Error::KeepaliveTimeout)) => {
            // Nothing arrived for a ping interval plus the pong timeout.
            prop_assert_eq!(
                ended_at,
                me.last_received + timing.ping_interval + timing.pong_timeout,
                "{:?}: keepalive timeout at the wrong time",
                who
            );
            prop_assert!(other.sent.starts_with(&me.received), "{:?}: messages", who);
        }
        Some(Ev::Failed(Error::CloseTimeout)) => {
            let closed_at = me.closed_at.expect("close timeout without a close");
            prop_assert_eq!(
                ended_at,
                closed_at + timing.close_timeout,
                "{:?}: close timeout at the wrong time",
                who
            );
            prop_assert!(other.sent.starts_with(&me.received), "{:?}: messages", who);
        }
        other => {
            return Err(TestCaseError::fail(format!(
                "{who:?}: ended with {other:?}"
            )));
        }
    }
    prop_assert_eq!(me.events.iter().filter(|e| e.is_final()).count(), 1);

    // On the wire: masked by the client only (§5.3), well-formed frames, and
    // at most one Close, which is the last frame sent (§5.5.1). Only an
    // aborting failure may cut the last frame short (its output is dropped).
    let (frames, rest) = parse_complete_frames(&me.wire);
    if !rest.is_empty() {
        let aborted = match me.conn.error() {
            Some(Error::CloseTimeout) => true,
            Some(Error::KeepaliveTimeout) => timing.abort_on_keepalive_timeout,
            _ => false,
        };
        prop_assert!(aborted, "{:?}: a truncated frame on the wire", who);
    }
    for (i, frame) in frames.iter().enumerate() {
        prop_assert_eq!(frame.masked, who == Who::Client, "{:?}: mask bit", who);
        prop_assert_eq!(frame.first & 0x70, 0, "{:?}: RSV bits", who);
        if frame.first & 0x0F == 0x8 {
            prop_assert_eq!(i + 1, frames.len(), "{:?}: frames after the Close", who);
            let code = frame
                .payload
                .0
                .get(..2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            let recorded = me.close_frame.as_ref().map(|(code, _)| *code);
            prop_assert_eq!(Some(code), recorded, "{:?}: the Close on the wire", who);
        }
    }
    // Pings arrive in order, each once; Pongs answer them in order.
    prop_assert!(
        other.pings_sent.starts_with(&me.pings_seen),
        "{:?}: pings",
        who
    );
    prop_assert!(
        me.pings_sent.starts_with(&me.pongs_seen),
        "{:?}: pongs",
        who
    );
    Ok(())
}

proptest! {
    #![proptest_config(cases(500))]

    /// Any interleaving of sends, pings, closes, clock jumps and partial
    /// deliveries ends with both sides closed, cleanly with the right codes
    /// and every message once and in order, or by a timeout that is due to
    /// the millisecond.
    #[test]
    fn two_machines_with_virtual_time(
        timing in timing(),
        ops in vec(op(), 0..60),
        seed in any::<u64>(),
    ) {
        let mut net = Net {
            client: Peer::new(Who::Client, &timing, seed),
            server: Peer::new(Who::Server, &timing, seed),
            now: Duration::ZERO,
            timing: timing.clone(),
        };
        net.tick();
        for op in &ops {
            net.apply(op);
        }
        net.finish();
        check_peer(&net.client, &net.server, &timing)?;
        check_peer(&net.server, &net.client, &timing)?;
        let failed = |p: &Peer| p.conn.error().is_some();
        if !failed(&net.client) && !failed(&net.server) {
            // A clean closing handshake both ways: nothing lost either way.
            prop_assert_eq!(&net.client.received, &net.server.sent);
            prop_assert_eq!(&net.server.received, &net.client.sent);
        }
    }
}
