//! Property tests: masking, split invariance, client/server roundtrips,
//! robustness against garbage, and the handling of every close code.
//!
//! Frames are encoded and decoded here independently of the crate's own
//! `frame` module, so the tests do not share its mistakes.

mod testkit;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use testkit::traffic::{
    binary, chunking, close_code, close_reason, control_payload, message, script, text, Control,
    Ev, Expected, Message,
};
use testkit::wire::{encode_frame, parse_frames};
use testkit::{Blob, Rng};
use wsmachine::handshake::accept_key;
use wsmachine::mask::{apply_mask, apply_mask_scalar};
use wsmachine::utf8::Utf8Validator;
use wsmachine::{
    Accept, ClientRequest, CloseCode, Config, Connection, Error, MessageKind, ReadyState,
    ReceiveMode, Role,
};

// ================================================================ helpers

fn cases(n: u32) -> ProptestConfig {
    testkit::cases(n, "proptest-regressions/properties.txt")
}

/// Drains a connection's events (accepting a handshake request when one comes)
/// and collects its output, checking the invariants every run must keep.
#[derive(Debug, Default)]
struct Recorder {
    events: Vec<Ev>,
    output: Vec<u8>,
}

impl Recorder {
    fn drain(&mut self, conn: &mut Connection) {
        while let Some(event) = conn.next_event() {
            let ev = Ev::of(&event);
            if let Some(previous) = self.events.last() {
                assert!(!previous.is_final(), "{ev:?} after {previous:?}");
            }
            match (conn.config().receive_mode, &ev) {
                (ReceiveMode::Message, Ev::Chunk(..)) | (ReceiveMode::Stream, Ev::Message(..)) => {
                    panic!("{ev:?} in {:?} mode", conn.config().receive_mode)
                }
                _ => {}
            }
            let is_request = matches!(ev, Ev::Request(_));
            self.events.push(ev);
            if is_request {
                conn.accept(Accept::new()).expect("accept a parsed request");
            }
        }
        match self.events.last() {
            Some(Ev::Failed(error)) => {
                assert_eq!(conn.error(), Some(*error));
                assert_eq!(conn.ready_state(), ReadyState::Closed);
            }
            Some(Ev::Close(..)) => assert_eq!(conn.ready_state(), ReadyState::Closed),
            _ => {}
        }
    }

    fn take_output(&mut self, conn: &mut Connection) {
        let n = conn.pending_output().len();
        self.output.extend_from_slice(conn.pending_output());
        conn.consume_output(n);
    }
}

/// Splits an output into its HTTP head (through the blank line) and frames.
fn split_head(output: &[u8]) -> (&[u8], &[u8]) {
    let end = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head")
        + 4;
    output.split_at(end)
}

const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn config(mode: ReceiveMode, seed: u64) -> Config {
    Config::default()
        .with_receive_mode(mode)
        .with_mask_seed(Some(seed))
}

fn new_client(config: Config) -> Connection {
    Connection::client(ClientRequest::new("example.com", "/chat"), config).unwrap()
}

/// A valid 101 answer to the request a fresh client has queued.
fn response_for(client: &mut Connection) -> Vec<u8> {
    let head = std::str::from_utf8(client.pending_output()).unwrap();
    let key = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("a Sec-WebSocket-Key header");
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key.as_bytes())
    )
    .into_bytes()
}

/// Turns stream-mode chunks back into whole messages, checking that a
/// message's chunks share one kind and that `last` ends each message exactly
/// once; other events pass through. Returns the events and the data of an
/// unfinished message, if any.
fn assemble(events: &[Ev]) -> (Vec<Ev>, Option<(MessageKind, Vec<u8>)>) {
    let mut out = Vec::new();
    let mut open: Option<(MessageKind, Vec<u8>)> = None;
    for ev in events {
        match ev {
            Ev::Chunk(kind, data, last) => {
                let (open_kind, buf) = open.get_or_insert_with(|| (*kind, Vec::new()));
                assert_eq!(
                    open_kind, kind,
                    "a message changed kind mid-way: {events:?}"
                );
                buf.extend_from_slice(&data.0);
                if *last {
                    let (kind, buf) = open.take().unwrap();
                    if kind == MessageKind::Text {
                        assert!(std::str::from_utf8(&buf).is_ok());
                    }
                    out.push(Ev::Message(kind, Blob(buf)));
                }
            }
            other => out.push(other.clone()),
        }
    }
    (out, open)
}

/// Merges adjacent chunks of one message, whose boundaries depend on how the
/// input was split.
fn merge_chunks(events: &[Ev]) -> Vec<Ev> {
    let mut out: Vec<Ev> = Vec::new();
    for ev in events {
        if let (Some(Ev::Chunk(open_kind, buf, open_last)), Ev::Chunk(kind, data, last)) =
            (out.last_mut(), ev)
        {
            if !*open_last && open_kind == kind {
                buf.0.extend_from_slice(&data.0);
                *open_last = *last;
                continue;
            }
        }
        out.push(ev.clone());
    }
    out
}

// ================================================================= 1. mask

/// Data of any length around the 32-byte fast-path width, sometimes larger.
fn mask_data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => vec(any::<u8>(), 0..=1100),
        1 => vec(any::<u8>(), 1100..6000),
    ]
}

proptest! {
    #![proptest_config(cases(1024))]

    /// The vectorised `apply_mask` matches the byte-at-a-time reference (and
    /// §5.3's formula) for any length, key, phase and alignment, touches
    /// nothing outside its slice, and is its own inverse.
    #[test]
    fn mask_fast_path_matches_reference(
        data in mask_data(),
        key in any::<[u8; 4]>(),
        phase in prop_oneof![0usize..8, any::<u32>().prop_map(|p| p as usize)],
        offset in 0usize..16,
    ) {
        let mut buf = vec![0xA5u8; offset];
        buf.extend_from_slice(&data);
        buf.extend_from_slice(&[0x5A; 7]);
        let range = offset..offset + data.len();

        let mut fast = buf.clone();
        let mut slow = buf.clone();
        apply_mask(&mut fast[range.clone()], key, phase);
        apply_mask_scalar(&mut slow[range.clone()], key, phase);
        prop_assert_eq!(&fast, &slow);

        let formula: Vec<u8> =
            data.iter().enumerate().map(|(i, b)| b ^ key[(phase + i) % 4]).collect();
        prop_assert_eq!(&fast[range.clone()], &formula[..]);

        apply_mask(&mut fast[range], key, phase);
        prop_assert_eq!(fast, buf);
    }

    /// Masking a payload piece by piece, each piece with the phase of its
    /// offset, equals masking it at once (how frames arriving in several reads
    /// are unmasked).
    #[test]
    fn mask_in_pieces_equals_mask_at_once(
        data in mask_data(),
        key in any::<[u8; 4]>(),
        start_phase in 0usize..8,
        cuts in vec(any::<Index>(), 0..8),
    ) {
        let mut whole = data.clone();
        apply_mask(&mut whole, key, start_phase);

        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
        cuts.push(data.len());
        cuts.sort_unstable();
        let mut pieces = data.clone();
        let mut start = 0;
        for end in cuts {
            apply_mask(&mut pieces[start..end], key, start_phase + start);
            start = end;
        }
        prop_assert_eq!(pieces, whole);
    }

    /// The incremental validator fed in arbitrary pieces fails exactly at
    /// the first piece after which the bytes so far can no longer begin
    /// valid UTF-8 (fail-fast, per std's verdict on each prefix), and ends
    /// complete exactly when the whole is valid.
    #[test]
    fn utf8_validator_in_pieces_agrees_with_std(
        text in utf8_with_damage(),
        cuts in vec(any::<Index>(), 0..8),
    ) {
        let mut ends: Vec<usize> = cuts.iter().map(|c| c.index(text.len() + 1)).collect();
        ends.push(text.len());
        ends.sort_unstable();
        let mut validator = Utf8Validator::new();
        let mut start = 0;
        for end in ends {
            let hopeless = matches!(
                std::str::from_utf8(&text[..end]),
                Err(e) if e.error_len().is_some()
            );
            let verdict = validator.feed(&text[start..end]);
            prop_assert_eq!(verdict.is_err(), hopeless, "after {} of {} bytes", end, text.len());
            if hopeless {
                return Ok(());
            }
            start = end;
        }
        prop_assert_eq!(validator.is_complete(), std::str::from_utf8(&text).is_ok());
    }
}

/// Every short sequence whose end may begin a character, fed at once and
/// after an ASCII prefix: rejected exactly when std says no continuation
/// could make it valid.
#[test]
fn utf8_validator_rejects_hopeless_endings_at_once() {
    let interesting = [
        0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xED, 0xF0, 0xF4, 0xF5,
        0xFF,
    ];
    let mut sequences: Vec<Vec<u8>> = (0..=255u8).map(|a| vec![a]).collect();
    for a in 0xC0..=0xFFu8 {
        for &b in &interesting {
            sequences.push(vec![a, b]);
            for &c in &interesting {
                sequences.push(vec![a, b, c]);
            }
        }
    }
    for sequence in sequences {
        for prefix in [&b""[..], b"abc"] {
            let bytes = [prefix, &sequence].concat();
            let hopeless = matches!(std::str::from_utf8(&bytes), Err(e) if e.error_len().is_some());
            let verdict = Utf8Validator::new().feed(&bytes);
            assert_eq!(verdict.is_err(), hopeless, "{bytes:02x?}");
        }
    }
}

/// Mostly valid text of all character widths, sometimes with a few bytes
/// overwritten or the end cut off.
fn utf8_with_damage() -> impl Strategy<Value = Vec<u8>> {
    let text = vec(
        prop_oneof![
            4 => proptest::char::range('a', 'z'),
            1 => proptest::char::range('\u{80}', '\u{7ff}'),
            1 => proptest::char::range('\u{800}', '\u{ffff}'),
            1 => proptest::char::range('\u{10000}', '\u{10ffff}'),
        ],
        0..300,
    )
    .prop_map(|chars| chars.into_iter().collect::<String>().into_bytes());
    let damage = vec((any::<Index>(), any::<u8>()), 0..3);
    (text, damage, any::<Index>(), any::<bool>()).prop_map(|(mut text, damage, cut, truncate)| {
        if !text.is_empty() {
            for (at, byte) in damage {
                let i = at.index(text.len());
                text[i] = byte;
            }
            if truncate {
                text.truncate(cut.index(text.len() + 1));
            }
        }
        text
    })
}

// ===================================================== 2. split invariance

/// Bytes to flip: where, and a non-zero XOR.
fn corruption() -> impl Strategy<Value = Vec<(Index, u8)>> {
    prop_oneof![
        1 => Just(Vec::new()),
        1 => vec((any::<Index>(), 1u8..=255), 1..4),
    ]
}

/// The handshake head and the frames after it, with bytes flipped in the
/// frames only or, if `head_too`, anywhere.
fn with_flips(head: Vec<u8>, frames: Vec<u8>, flips: &[(Index, u8)], head_too: bool) -> Vec<u8> {
    let start = if head_too { 0 } else { head.len() };
    let mut input = head;
    input.extend(frames);
    let target = &mut input[start..];
    if !target.is_empty() {
        for (at, xor) in flips {
            target[at.index(target.len())] ^= xor;
        }
    }
    input
}

/// Feeds `input` to a fresh connection in chunks of `sizes()` bytes, draining
/// events and output after each, then optionally the end of input.
fn feed(conn: Connection, input: &[u8], sizes: impl FnMut() -> usize, eof: bool) -> Recorder {
    feed_draining(conn, input, sizes, || true, eof)
}

/// [`feed`], draining after a chunk only when `drain()` says so: bytes then
/// arrive while earlier ones are still unprocessed.
fn feed_draining(
    mut conn: Connection,
    input: &[u8],
    mut sizes: impl FnMut() -> usize,
    mut drain: impl FnMut() -> bool,
    eof: bool,
) -> Recorder {
    let mut rec = Recorder::default();
    rec.take_output(&mut conn);
    let mut rest = input;
    while !rest.is_empty() {
        let n = sizes().clamp(1, rest.len());
        conn.receive(&rest[..n]);
        rest = &rest[n..];
        if drain() || rest.is_empty() {
            rec.drain(&mut conn);
            rec.take_output(&mut conn);
        }
    }
    if eof {
        conn.receive_eof();
        rec.drain(&mut conn);
        rec.take_output(&mut conn);
    }
    rec
}

/// Removes the unfinished message piece a failure cut short: how much of it
/// was handed out before the failure depends on the splitting.
fn strip_cut_short(mut events: Vec<Ev>) -> (Vec<Ev>, Vec<u8>) {
    let n = events.len();
    if n >= 2 {
        if let (Ev::Chunk(_, _, false), Ev::Failed(_)) = (&events[n - 2], &events[n - 1]) {
            let Ev::Chunk(_, data, _) = events.remove(n - 2) else {
                unreachable!()
            };
            return (events, data.0);
        }
    }
    (events, Vec::new())
}

/// Feeds the same bytes whole, byte by byte, and in random chunks; asserts the
/// three runs agree on events and output, and returns the whole-input run.
fn assert_split_invariant(
    make: impl Fn() -> Connection,
    input: &[u8],
    eof: bool,
    (seed, max): (u64, usize),
) -> Recorder {
    let stream = make().config().receive_mode == ReceiveMode::Stream;
    let whole = feed(make(), input, || usize::MAX, eof);
    let bytes = feed(make(), input, || 1, eof);
    let mut rng = Rng(seed);
    let random = feed(make(), input, || rng.chunk(max), eof);
    let mut sizes = Rng(seed ^ 0x5eed);
    let mut drains = Rng(seed.rotate_left(17));
    let lazy = feed_draining(
        make(),
        input,
        || sizes.chunk(max),
        || drains.chunk(4) == 1,
        eof,
    );
    if stream {
        // Checks kinds and `last` flags of every message, finished or not.
        for rec in [&whole, &bytes, &random, &lazy] {
            assemble(&rec.events);
        }
    }
    let runs = [
        ("byte by byte", &bytes),
        ("random chunks", &random),
        ("random chunks, drained now and then", &lazy),
    ];
    for (name, other) in runs {
        if whole.output != other.output {
            let at = (whole.output.iter().zip(&other.output)).take_while(|(a, b)| a == b);
            panic!("output differs {name} from byte {}", at.count());
        }
        if stream {
            let (a, a_cut) = strip_cut_short(merge_chunks(&whole.events));
            let (b, b_cut) = strip_cut_short(merge_chunks(&other.events));
            assert_eq!(a, b, "merged stream events differ {name}");
            assert!(
                a_cut.starts_with(&b_cut) || b_cut.starts_with(&a_cut),
                "cut-short message data is not a common prefix {name}"
            );
        } else {
            assert_eq!(whole.events, other.events, "events differ {name}");
        }
    }
    whole
}

/// For an uncorrupted script: the events are exactly the script's, and the
/// replies (pongs, Close echo) are exactly what it calls for.
fn assert_as_scripted(
    rec: &Recorder,
    greeting: Ev,
    expected: &Expected,
    eof: bool,
    masked_replies: bool,
) {
    let mut want = vec![greeting];
    want.extend(expected.events.iter().cloned());
    let closed = want.iter().any(|e| matches!(e, Ev::Close(..)));
    if eof && !closed {
        want.push(Ev::Failed(Error::AbnormalClosure));
    }
    let (got, unfinished) = assemble(&rec.events);
    assert_eq!(unfinished, None, "a message never ended");
    assert_eq!(got, want);

    let (_, frames) = split_head(&rec.output);
    let replies: Vec<(u8, Blob)> = parse_frames(frames)
        .into_iter()
        .map(|f| {
            assert_eq!(f.masked, masked_replies);
            (f.first, f.payload)
        })
        .collect();
    assert_eq!(replies, expected.replies);
}

fn receive_mode() -> impl Strategy<Value = ReceiveMode> {
    prop_oneof![Just(ReceiveMode::Message), Just(ReceiveMode::Stream)]
}

proptest! {
    #![proptest_config(cases(256))]

    /// A server sees the same events and writes the same bytes however the
    /// client's handshake and masked frames are split into reads, valid or
    /// corrupted; valid input yields exactly the scripted events and replies.
    #[test]
    fn server_is_split_invariant(
        script in script(),
        mode in receive_mode(),
        flips in corruption(),
        head_too in any::<bool>(),
        eof in any::<bool>(),
        chunks in chunking(),
    ) {
        let (frames, expected) = script.encode(true);
        let input = with_flips(REQUEST.to_vec(), frames, &flips, head_too);
        let make = || Connection::server(config(mode, 0));
        let rec = assert_split_invariant(make, &input, eof, chunks);
        if flips.is_empty() {
            assert_as_scripted(&rec, Ev::Request("/chat".into()), &expected, eof, false);
        }
    }

    /// The same for a client reading a server's 101 response and unmasked
    /// frames; its own (masked) pongs come out identical too.
    #[test]
    fn client_is_split_invariant(
        script in script(),
        mode in receive_mode(),
        seed in any::<u64>(),
        flips in corruption(),
        head_too in any::<bool>(),
        eof in any::<bool>(),
        chunks in chunking(),
    ) {
        let make = || new_client(config(mode, seed));
        let (frames, expected) = script.encode(false);
        let input = with_flips(response_for(&mut make()), frames, &flips, head_too);
        let rec = assert_split_invariant(make, &input, eof, chunks);
        if flips.is_empty() {
            assert_as_scripted(&rec, Ev::Connected(101), &expected, eof, true);
        }
    }
}

// ============================================================ 3. roundtrip

#[derive(Clone, Debug)]
enum Action {
    Text(String),
    Binary(Blob),
    Fragmented(Message),
    Ping(Blob),
    /// Move up to this many bytes of the side's output to its peer in one read.
    Pump(usize),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => text().prop_map(Action::Text),
        3 => binary().prop_map(|b| Action::Binary(Blob(b))),
        3 => message(false).prop_map(Action::Fragmented),
        1 => control_payload().prop_map(Action::Ping),
        3 => (1usize..3000).prop_map(Action::Pump),
    ]
}

/// One end of an in-memory connection and what it owes its peer.
struct Peer {
    conn: Connection,
    rec: Recorder,
    /// Events the peer must see from us, in order (pongs aside).
    sent: Vec<Ev>,
    /// Payloads of the pings we sent, in order.
    pings: Vec<Blob>,
}

impl Peer {
    fn new(conn: Connection) -> Peer {
        Peer {
            conn,
            rec: Recorder::default(),
            sent: Vec::new(),
            pings: Vec::new(),
        }
    }

    fn ping(&mut self, payload: &Blob) {
        self.conn.send_ping(&payload.0).unwrap();
        self.sent.push(Ev::Ping(payload.clone()));
        self.pings.push(payload.clone());
    }

    fn act(&mut self, action: &Action) {
        match action {
            Action::Text(text) => {
                self.conn.send_text(text).unwrap();
                self.sent
                    .push(Ev::Message(MessageKind::Text, text.as_bytes().into()));
            }
            Action::Binary(data) => {
                self.conn.send_binary(&data.0).unwrap();
                self.sent
                    .push(Ev::Message(MessageKind::Binary, data.clone()));
            }
            Action::Fragmented(message) => {
                let fragments = message.fragments();
                let last = fragments.len() - 1;
                for (i, (data, after)) in fragments.into_iter().enumerate() {
                    self.conn
                        .send_fragment(message.kind, data, i == last)
                        .unwrap();
                    if let Some(Control::Ping(p)) = after {
                        self.ping(p);
                    }
                }
                self.sent
                    .push(Ev::Message(message.kind, message.payload.clone()));
            }
            Action::Ping(payload) => self.ping(payload),
            Action::Pump(_) => unreachable!("pumping needs both peers"),
        }
    }
}

/// Moves up to `n` bytes from `peers[from]`'s output to the other peer in one
/// read and drains the receiver. Returns the number of bytes moved.
fn transfer(peers: &mut [Peer; 2], from: usize, n: usize) -> usize {
    let (left, right) = peers.split_at_mut(1);
    let (src, dst) = if from == 0 {
        (&mut left[0], &mut right[0])
    } else {
        (&mut right[0], &mut left[0])
    };
    let n = n.min(src.conn.pending_output().len());
    if n > 0 {
        dst.conn.receive(&src.conn.pending_output()[..n]);
        src.conn.consume_output(n);
    }
    dst.rec.drain(&mut dst.conn);
    n
}

/// Pumps both ways in random chunk sizes until neither side has output.
fn settle(peers: &mut [Peer; 2], rng: &mut Rng, max: usize) {
    loop {
        let moved = transfer(peers, 0, rng.chunk(max)) + transfer(peers, 1, rng.chunk(max));
        if moved == 0 {
            return;
        }
    }
}

/// How a roundtrip ends.
#[derive(Clone, Debug)]
struct Ending {
    /// Deliver everything (so every ping is answered) before closing.
    settle_first: bool,
    /// 0: the client closes, 1: the server.
    closer: usize,
    close: (u16, String),
    /// The other side closes too before it sees the first Close.
    simultaneous: Option<(u16, String)>,
}

fn ending() -> impl Strategy<Value = Ending> {
    (
        any::<bool>(),
        0usize..2,
        (close_code(), close_reason()),
        proptest::option::weighted(0.25, (close_code(), close_reason())),
    )
        .prop_map(|(settle_first, closer, close, simultaneous)| Ending {
            settle_first,
            closer,
            close,
            simultaneous,
        })
}

fn roundtrip(
    handshake: bool,
    seed: u64,
    modes: [ReceiveMode; 2],
    actions: &[(usize, Action)],
    ending: &Ending,
    (chunk_seed, max_chunk): (u64, usize),
) {
    let mut rng = Rng(chunk_seed);
    let client_config = config(modes[0], seed);
    let server_config = config(modes[1], 0);
    let mut peers = if handshake {
        [
            Peer::new(new_client(client_config)),
            Peer::new(Connection::server(server_config)),
        ]
    } else {
        [
            Peer::new(Connection::upgraded(Role::Client, client_config).unwrap()),
            Peer::new(Connection::upgraded(Role::Server, server_config).unwrap()),
        ]
    };
    if handshake {
        settle(&mut peers, &mut rng, max_chunk);
        assert_eq!(peers[0].rec.events, [Ev::Connected(101)]);
        assert_eq!(peers[1].rec.events, [Ev::Request("/chat".into())]);
        for peer in &mut peers {
            peer.rec.events.clear();
        }
    }
    assert!(peers
        .iter()
        .all(|p| p.conn.ready_state() == ReadyState::Open));

    for (side, action) in actions {
        match action {
            Action::Pump(n) => {
                transfer(&mut peers, *side, *n);
            }
            action => peers[*side].act(action),
        }
    }
    if ending.settle_first {
        settle(&mut peers, &mut rng, max_chunk);
    }

    let closer = ending.closer;
    let (code, reason) = &ending.close;
    peers[closer].conn.close(CloseCode(*code), reason).unwrap();
    assert_eq!(peers[closer].conn.ready_state(), ReadyState::Closing);
    if let Some((code, reason)) = &ending.simultaneous {
        peers[1 - closer]
            .conn
            .close(CloseCode(*code), reason)
            .unwrap();
    }
    settle(&mut peers, &mut rng, max_chunk);

    for side in 0..2 {
        let me = &peers[side];
        let them = &peers[1 - side];
        assert_eq!(me.conn.ready_state(), ReadyState::Closed, "side {side}");
        assert_eq!(me.conn.error(), None, "side {side}");
        assert!(me.conn.should_close_transport(), "side {side}");

        let (mut got, unfinished) = assemble(&me.rec.events);
        assert_eq!(unfinished, None, "side {side}: a message never ended");
        got.retain(|e| !matches!(e, Ev::Backpressure(_)));
        let their_close = if side == closer {
            match &ending.simultaneous {
                Some((code, reason)) => Ev::Close(Some(*code), reason.clone()),
                // The echo of our own Close: its code and reason.
                None => Ev::Close(Some(*code), reason.clone()),
            }
        } else {
            Ev::Close(Some(*code), reason.clone())
        };
        assert_eq!(got.pop(), Some(their_close), "side {side}");

        let pongs: Vec<Blob> = got
            .iter()
            .filter_map(|e| match e {
                Ev::Pong(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        got.retain(|e| !matches!(e, Ev::Pong(_)));
        assert_eq!(got, them.sent, "side {side}: messages and pings");
        // A ping that arrives after the receiver sent its Close is not answered.
        let all_answered = ending.settle_first || (side == closer && ending.simultaneous.is_none());
        if all_answered {
            assert_eq!(pongs, me.pings, "side {side}: pongs");
        } else {
            assert!(me.pings.starts_with(&pongs), "side {side}: pongs {pongs:?}");
        }
    }
}

proptest! {
    #![proptest_config(cases(256))]

    /// A client and a server wired together deliver every message, fragment
    /// sequence and ping to the other side in order, answer pings with equal
    /// pongs, and finish the closing handshake cleanly, whatever the chunking
    /// of the bytes between them and whichever receive modes they use.
    #[test]
    fn client_and_server_roundtrip(
        handshake in any::<bool>(),
        seed in any::<u64>(),
        modes in [receive_mode(), receive_mode()],
        actions in vec((0usize..2, action()), 0..12),
        ending in ending(),
        chunks in chunking(),
    ) {
        roundtrip(handshake, seed, modes, &actions, &ending, chunks);
    }
}

// ====================================================== 4. garbage in

/// Pieces of hostile input: random bytes, or frames with an arbitrary first
/// byte (often a valid opcode, so parsing gets further), random masking, and
/// a random payload or a piece of UTF-8 text cut anywhere.
fn garbage_atom() -> impl Strategy<Value = Vec<u8>> {
    let first = prop_oneof![
        any::<u8>(),
        prop::sample::select(vec![0x00u8, 0x01, 0x02, 0x80, 0x81, 0x82, 0x88, 0x89, 0x8A]),
    ];
    let payload = prop_oneof![
        vec(any::<u8>(), 0..160),
        (vec(any::<char>(), 0..12), any::<Index>()).prop_map(|(chars, cut)| {
            let text = String::from_iter(chars).into_bytes();
            text[..cut.index(text.len() + 1)].to_vec()
        }),
    ];
    let frame = (first, any::<bool>(), any::<[u8; 4]>(), payload).prop_map(
        |(first, masked, key, payload)| encode_frame(first, &payload, masked.then_some(key)),
    );
    prop_oneof![vec(any::<u8>(), 0..24), frame]
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Server,
    Client,
    UpgradedServer,
    UpgradedClient,
}

proptest! {
    #![proptest_config(cases(2048))]

    /// Arbitrary input never panics, nothing follows a final event, a failure
    /// is reported by `error()`, and the output stays within a small multiple
    /// of the input (pongs and one Close or HTTP error answer).
    #[test]
    fn garbage_never_panics(
        kind in prop_oneof![
            Just(Kind::Server),
            Just(Kind::Client),
            Just(Kind::UpgradedServer),
            Just(Kind::UpgradedClient)
        ],
        valid_head in any::<bool>(),
        mode in receive_mode(),
        lenient in any::<bool>(),
        tight in any::<bool>(),
        seed in any::<u64>(),
        atoms in vec(garbage_atom(), 0..24),
        eof in any::<bool>(),
        (chunk_seed, max_chunk) in chunking(),
    ) {
        let mut config = config(mode, seed);
        config.allow_non_minimal_length = lenient;
        config.allow_unmasked_client_frames = lenient;
        if tight {
            config.max_frame_size = 100;
            config.max_message_size = 150;
            config.max_output_buffer = 300;
            config.max_handshake_bytes = 200;
        }
        let (conn, head) = match kind {
            Kind::Server => (Connection::server(config), REQUEST.to_vec()),
            Kind::Client => {
                let mut client = new_client(config);
                let head = response_for(&mut client);
                (client, head)
            }
            Kind::UpgradedServer => (Connection::upgraded(Role::Server, config).unwrap(), vec![]),
            Kind::UpgradedClient => (Connection::upgraded(Role::Client, config).unwrap(), vec![]),
        };
        let mut conn = conn;
        let request_len = conn.pending_output().len();
        conn.consume_output(request_len);

        let mut input = if valid_head { head } else { Vec::new() };
        input.extend(atoms.concat());
        let mut rng = Rng(chunk_seed);
        let rec = feed(conn, &input, || rng.chunk(max_chunk), eof);
        prop_assert!(
            rec.output.len() <= 3 * input.len() + 1024,
            "{} bytes out for {} in",
            rec.output.len(),
            input.len()
        );
    }
}

// ====================================================== 5. close codes

/// Every u16 in a received Close frame: a code allowed on the wire is reported
/// and echoed; any other fails the connection with 1002.
#[test]
fn every_close_code_is_reported_or_refused() {
    for role in [Role::Server, Role::Client] {
        for code in 0..=u16::MAX {
            let mut conn = Connection::upgraded(role, config(ReceiveMode::Message, 1)).unwrap();
            let mut payload = code.to_be_bytes().to_vec();
            payload.extend_from_slice(b"why");
            let mask = (role == Role::Server).then_some([1, 2, 3, 4]);
            conn.receive(&encode_frame(0x88, &payload, mask));
            let mut rec = Recorder::default();
            rec.drain(&mut conn);
            rec.take_output(&mut conn);
            let frames = parse_frames(&rec.output);
            assert_eq!(frames.len(), 1, "{role:?} {code}: {frames:?}");
            assert_eq!(frames[0].first, 0x88, "{role:?} {code}");
            assert_eq!(frames[0].masked, role == Role::Client, "{role:?} {code}");
            let sent_code = u16::from_be_bytes([frames[0].payload.0[0], frames[0].payload.0[1]]);
            if CloseCode(code).is_valid_on_wire() {
                assert_eq!(
                    rec.events,
                    [Ev::Close(Some(code), "why".into())],
                    "{role:?}"
                );
                let mut echo = code.to_be_bytes().to_vec();
                echo.extend_from_slice(b"why");
                assert_eq!(frames[0].payload.0, echo, "{role:?}: echo");
                assert_eq!(conn.error(), None);
            } else {
                assert_eq!(
                    rec.events,
                    [Ev::Failed(Error::InvalidCloseCode)],
                    "{role:?} {code}"
                );
                assert_eq!(sent_code, 1002, "{role:?} {code}");
            }
            assert_eq!(conn.ready_state(), ReadyState::Closed);
        }
    }
}

/// The smallest case the split-invariance and roundtrip properties found: in
/// stream mode, a control frame between two fragments of a text message whose
/// character is split across them must see its own payload, and the message
/// must still arrive whole.
#[test]
fn stream_mode_control_frame_after_a_split_character() {
    let key = Some([1, 2, 3, 4]);
    let stream = || {
        let config = config(ReceiveMode::Stream, 0);
        Connection::upgraded(Role::Server, config).unwrap()
    };
    let ping = [
        encode_frame(0x01, &[0xC2], key), // "¡" is C2 A1
        encode_frame(0x89, b"p", key),
        encode_frame(0x80, &[0xA1], key),
    ]
    .concat();
    for size in [usize::MAX, 1] {
        let rec = feed(stream(), &ping, || size, false);
        let want = [
            Ev::Ping(Blob(b"p".to_vec())),
            Ev::Chunk(MessageKind::Text, Blob("¡".into()), true),
        ];
        assert_eq!(rec.events, want, "chunk size {size}");
        assert_eq!(rec.output, b"\x8a\x01p", "chunk size {size}");
    }
    let close = [
        encode_frame(0x01, &[0xC2], key),
        encode_frame(0x88, &1000u16.to_be_bytes(), key),
    ]
    .concat();
    let rec = feed(stream(), &close, || usize::MAX, false);
    assert_eq!(rec.events, [Ev::Close(Some(1000), String::new())]);
    assert_eq!(rec.output, b"\x88\x02\x03\xe8");
}
