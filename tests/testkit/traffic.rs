//! A peer's traffic for property tests: generators for messages (some
//! fragmented, with control frames between fragments), lone control
//! frames and a final Close; the bytes a peer sends for them; and what the
//! receiving end must report and answer.

use super::wire::encode_frame;
use super::{filled, repeat_to, Blob, Rng};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use wsmachine::{Error, Event, MessageKind};

/// An owned copy of an [`Event`], so a run's events can be collected and compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Request(String),
    Connected(u16),
    Rejected(u16),
    Message(MessageKind, Blob),
    Chunk(MessageKind, Blob, bool),
    Ping(Blob),
    Pong(Blob),
    Close(Option<u16>, String),
    Failed(Error),
    Backpressure(bool),
}

impl Ev {
    pub fn of(event: &Event<'_>) -> Ev {
        match *event {
            Event::HandshakeRequest(r) => Ev::Request(r.target().to_owned()),
            Event::Connected(r) => Ev::Connected(r.status()),
            Event::HandshakeRejected(r) => Ev::Rejected(r.status()),
            Event::Text(t) => Ev::Message(MessageKind::Text, t.as_bytes().into()),
            Event::Binary(b) => Ev::Message(MessageKind::Binary, b.into()),
            Event::TextChunk { data, last } => {
                Ev::Chunk(MessageKind::Text, data.as_bytes().into(), last)
            }
            Event::BinaryChunk { data, last } => Ev::Chunk(MessageKind::Binary, data.into(), last),
            Event::Ping(p) => Ev::Ping(p.into()),
            Event::Pong { payload: p, .. } => Ev::Pong(p.into()),
            Event::Close { code, reason } => Ev::Close(code.map(|c| c.0), reason.to_owned()),
            Event::Failed(e) => Ev::Failed(e),
            Event::WriteBackpressure(high) => Ev::Backpressure(high),
            ref other => panic!("an event this test does not know: {other:?}"),
        }
    }

    /// Failed, Close and HandshakeRejected end a connection: nothing may follow.
    pub fn is_final(&self) -> bool {
        matches!(self, Ev::Failed(_) | Ev::Close(..) | Ev::Rejected(_))
    }
}

/// Binary payloads: mostly short, sometimes around and across the 16-bit (126)
/// and 64-bit (65536) length forms.
pub fn binary() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        24 => vec(any::<u8>(), 0..200),
        3 => (prop::sample::select(vec![125usize, 126, 127, 65535, 65536]), any::<u64>())
            .prop_map(|(n, s)| filled(n, s)),
        3 => (126usize..=1500, any::<u64>()).prop_map(|(n, s)| filled(n, s)),
        1 => (65_536usize..=70_000, any::<u64>()).prop_map(|(n, s)| filled(n, s)),
    ]
}

/// Text of any characters, mostly short, sometimes long.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        24 => vec(any::<char>(), 0..40).prop_map(String::from_iter),
        3 => (vec(any::<char>(), 1..8), 126usize..=1500).prop_map(|(u, n)| repeat_to(u, n)),
        1 => (vec(any::<char>(), 1..8), 65_536usize..=70_000).prop_map(|(u, n)| repeat_to(u, n)),
    ]
}

pub fn control_payload() -> impl Strategy<Value = Blob> {
    vec(any::<u8>(), 0..=125).prop_map(Blob)
}

#[derive(Clone, Debug)]
pub enum Control {
    Ping(Blob),
    Pong(Blob),
}

pub fn control(pongs_too: bool) -> impl Strategy<Value = Control> {
    let pong_weight = u32::from(pongs_too);
    prop_oneof![
        1 => control_payload().prop_map(Control::Ping),
        pong_weight => control_payload().prop_map(Control::Pong),
    ]
}

/// A data message, sent as fragments cut at `cuts` (anywhere, even inside a
/// character or leaving empty fragments), each cut optionally followed by a
/// control frame.
#[derive(Clone, Debug)]
pub struct Message {
    pub kind: MessageKind,
    pub payload: Blob,
    pub cuts: Vec<(Index, Option<Control>)>,
}

impl Message {
    /// The fragments in order, each with the control frame sent after it.
    pub fn fragments(&self) -> Vec<(&[u8], Option<&Control>)> {
        let data = &self.payload.0;
        let mut cuts: Vec<(usize, Option<&Control>)> = self
            .cuts
            .iter()
            .map(|(at, control)| (at.index(data.len() + 1), control.as_ref()))
            .collect();
        cuts.sort_by_key(|cut| cut.0);
        let mut fragments = Vec::new();
        let mut start = 0;
        for (at, control) in cuts {
            fragments.push((&data[start..at], control));
            start = at;
        }
        fragments.push((&data[start..], None));
        fragments
    }
}

pub fn message(pongs_too: bool) -> impl Strategy<Value = Message> {
    let payload = prop_oneof![
        text().prop_map(|t| (MessageKind::Text, Blob(t.into_bytes()))),
        binary().prop_map(|b| (MessageKind::Binary, Blob(b))),
    ];
    let cuts = prop_oneof![
        2 => Just(Vec::new()),
        3 => vec((any::<Index>(), proptest::option::weighted(0.4, control(pongs_too))), 1..5),
    ];
    (payload, cuts).prop_map(|((kind, payload), cuts)| Message {
        kind,
        payload,
        cuts,
    })
}

pub fn close_code() -> impl Strategy<Value = u16> {
    prop_oneof![1000u16..=1003, 1007u16..=1011, 3000u16..=4999]
}

pub fn close_reason() -> impl Strategy<Value = String> {
    "[ -~é€😀]{0,20}"
}

/// How to cut the input into `receive` calls: chunk sizes from a seed, up to a
/// maximum that is sometimes tiny and sometimes larger than any input.
pub fn chunking() -> impl Strategy<Value = (u64, usize)> {
    (
        any::<u64>(),
        prop_oneof![1usize..=8, 1usize..=600, 1usize..=100_000],
    )
}

/// A peer's byte stream after the opening handshake: messages (some
/// fragmented, with pings and pongs between fragments), lone control frames,
/// and maybe a final Close.
#[derive(Clone, Debug)]
pub struct Script {
    pub items: Vec<Result<Message, Control>>,
    pub close: Option<(u16, String)>,
    pub key_seed: u64,
}

pub fn script() -> impl Strategy<Value = Script> {
    let item = prop_oneof![3 => message(true).prop_map(Ok), 1 => control(true).prop_map(Err)];
    (
        vec(item, 0..8),
        proptest::option::of((close_code(), close_reason())),
        any::<u64>(),
    )
        .prop_map(|(items, close, key_seed)| Script {
            items,
            close,
            key_seed,
        })
}

/// What the receiving end must report and answer for a script.
pub struct Expected {
    pub events: Vec<Ev>,
    /// Frames it must send back (pongs and the Close echo), unmasked.
    pub replies: Vec<(u8, Blob)>,
}

/// Writes a script's frames and what the receiver must do with them.
pub struct Encoder {
    /// Masking keys, for frames a client sends.
    pub keys: Option<Rng>,
    pub wire: Vec<u8>,
    pub expected: Expected,
}

impl Encoder {
    pub fn frame(&mut self, first: u8, payload: &[u8]) {
        let key = self.keys.as_mut().map(Rng::key);
        self.wire.extend(encode_frame(first, payload, key));
    }

    pub fn control(&mut self, control: &Control) {
        match control {
            Control::Ping(p) => {
                self.frame(0x89, &p.0);
                self.expected.events.push(Ev::Ping(p.clone()));
                self.expected.replies.push((0x8A, p.clone()));
            }
            Control::Pong(p) => {
                self.frame(0x8A, &p.0);
                self.expected.events.push(Ev::Pong(p.clone()));
            }
        }
    }

    pub fn message(&mut self, message: &Message) {
        let fragments = message.fragments();
        let last = fragments.len() - 1;
        for (i, (data, after)) in fragments.into_iter().enumerate() {
            let opcode = match (i, message.kind) {
                (0, MessageKind::Text) => 0x1,
                (0, MessageKind::Binary) => 0x2,
                _ => 0x0,
            };
            self.frame(if i == last { 0x80 | opcode } else { opcode }, data);
            if let Some(control) = after {
                self.control(control);
            }
        }
        let event = Ev::Message(message.kind, message.payload.clone());
        self.expected.events.push(event);
    }
}

impl Script {
    /// The frames on the wire (masked with fresh keys when `masked`) and what
    /// the receiver must do with them.
    pub fn encode(&self, masked: bool) -> (Vec<u8>, Expected) {
        let mut out = Encoder {
            keys: masked.then_some(Rng(self.key_seed)),
            wire: Vec::new(),
            expected: Expected {
                events: Vec::new(),
                replies: Vec::new(),
            },
        };
        for item in &self.items {
            match item {
                Ok(message) => out.message(message),
                Err(control) => out.control(control),
            }
        }
        if let Some((code, reason)) = &self.close {
            let mut payload = code.to_be_bytes().to_vec();
            payload.extend_from_slice(reason.as_bytes());
            out.frame(0x88, &payload);
            let expected = &mut out.expected;
            expected.events.push(Ev::Close(Some(*code), reason.clone()));
            // The echo: the same code and reason.
            expected.replies.push((0x88, Blob(payload)));
        }
        (out.wire, out.expected)
    }
}
