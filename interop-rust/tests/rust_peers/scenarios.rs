//! The scenarios, each on a connection of its own: our side drives, the
//! peer echoes and obeys commands (see `peers`). Every scenario ends with a
//! closing handshake that both sides check.

use crate::ours::{Ours, Session, Side, STEP};
use crate::peers::{sample_binary, sample_text, PeerKind, PeerReport, PeerSetup, COMMAND, PONG};
use bytes::Bytes;
use wsmachine::{CloseCode, Message, WsError};

/// Text and binary of each size go out and come back: the 7-bit, 16-bit
/// and 64-bit length encodings at their edges.
pub const SIZES: [usize; 6] = [0, 125, 126, 65535, 65536, 1 << 20];
/// The largest messages, binary, once each way: one byte under and exactly
/// at wsmachine's and tungstenite's default frame limit (16 MiB, inclusive
/// in both; tokio-websockets sends them in 4 MiB frames).
pub const LARGEST: [usize; 2] = [(16 << 20) - 1, 16 << 20];
/// The peer's frame size in the fragmentation scenario: odd, so that frame
/// boundaries drift through the sample text's characters.
pub const FRAGMENT: usize = 999;

/// A close reason of the longest length allowed (123 bytes), not ASCII.
pub fn longest_reason(prefix: &str) -> String {
    let mut reason = format!("{prefix}: ");
    while reason.len() + 'é'.len_utf8() <= 123 {
        reason.push('é');
    }
    while reason.len() < 123 {
        reason.push('.');
    }
    reason
}

pub fn sizes(peer: PeerKind, side: Side) {
    let mut session = Session::open(peer, side, PeerSetup::default());
    let ours = session.ours.as_mut();
    for size in SIZES {
        echo(ours, Message::text(sample_text(size)));
        echo(ours, Message::binary(sample_binary(size)));
    }
    for size in LARGEST {
        echo(ours, Message::binary(sample_binary(size)));
    }
    finish(session, CloseCode::NORMAL, "done");
}

pub fn fragmented(peer: PeerKind, side: Side) {
    let mut session = Session::open(
        peer,
        side,
        PeerSetup {
            frame_size: FRAGMENT,
        },
    );
    let ours = session.ours.as_mut();
    // Eleven frames, the last one short, some ending inside a character.
    let len = 10 * FRAGMENT + 7;
    let text = sample_text(len);
    let cut = (1..=10).any(|frame| !text.is_char_boundary(frame * FRAGMENT));
    assert!(cut, "no frame boundary falls inside a character");
    command(ours, &format!("fragment text {len}"));
    expect(ours, Message::text(text), "fragmented text");
    command(ours, &format!("fragment binary {len}"));
    expect(
        ours,
        Message::binary(sample_binary(len)),
        "fragmented binary",
    );
    // tokio-websockets fragments its echoes too; tungstenite sends them whole.
    echo(ours, Message::text(sample_text(3 * FRAGMENT + 1)));
    finish(session, CloseCode::NORMAL, "done");
}

pub fn ping(peer: PeerKind, side: Side) {
    let mut session = Session::open(peer, side, PeerSetup::default());
    let ours = session.ours.as_mut();
    for payload in [&b"wsmachine rtt"[..], b"", &[0xab; 125]] {
        let rtt = ours.ping(payload).expect("our Ping's Pong");
        assert!(rtt < STEP, "rtt {rtt:?}");
        assert_eq!(ours.connection().latency(), Some(rtt));
    }
    // A message that arrives while `ping` waits is kept for `recv`.
    command(ours, "fragment text 3000");
    ours.ping(b"behind a message")
        .expect("the Pong behind a message");
    expect(ours, Message::text(sample_text(3000)), "the held message");
    // The peer's Ping: delivered when asked for, answered either way.
    ours.set_receive_control(true);
    command(ours, "ping peer probe");
    let ping = Message::Ping(Bytes::from_static(b"peer probe"));
    expect(ours, ping, "the peer's Ping");
    expect(
        ours,
        Message::text(format!("{PONG}peer probe")),
        "its Pong's report",
    );
    ours.set_receive_control(false);
    command(ours, "ping unseen");
    expect(
        ours,
        Message::text(format!("{PONG}unseen")),
        "the second Pong's report",
    );
    finish(session, CloseCode::NORMAL, "done");
}

/// Messages sent back to back, without waiting for their echoes: the
/// echoes come back complete and in order.
pub fn pipelined(peer: PeerKind, side: Side) {
    let mut session = Session::open(peer, side, PeerSetup::default());
    let ours = session.ours.as_mut();
    let message = |i: usize| match i % 2 {
        0 => Message::text(sample_text(i * 7 % 1000)),
        _ => Message::binary(sample_binary(i * 13 % 1000)),
    };
    for i in 0..COUNT {
        if let Err(error) = ours.send(message(i)) {
            panic!("sending message {i}: {error}");
        }
    }
    for i in 0..COUNT {
        expect(ours, message(i), &format!("the echo of message {i}"));
    }
    finish(session, CloseCode::NORMAL, "done");
}

/// Messages in flight at once in `pipelined`: about 100 KB each way, well
/// within the loopback's socket buffers (neither side reads while it writes).
const COUNT: usize = 200;

pub fn close_by_us(peer: PeerKind, side: Side) {
    let mut session = Session::open(peer, side, PeerSetup::default());
    echo(session.ours.as_mut(), Message::text("before the close"));
    finish(
        session,
        CloseCode(4000),
        &longest_reason("wsmachine closes"),
    );
}

pub fn close_by_peer(peer: PeerKind, side: Side) {
    let mut session = Session::open(peer, side, PeerSetup::default());
    let ours = session.ours.as_mut();
    let reason = longest_reason("the peer closes");
    // A message sent just before the peer's Close is still delivered.
    command(ours, "fragment binary 3000");
    command(ours, &format!("close 4001 {reason}"));
    expect(
        ours,
        Message::binary(sample_binary(3000)),
        "the last message",
    );
    match ours.recv() {
        None => {}
        Some(other) => panic!("expected the end of the connection, got {other:?}"),
    }
    let frame = ours.close_frame().expect("the peer's Close");
    assert_eq!((frame.code, &*frame.reason), (CloseCode(4001), &*reason));
    assert!(matches!(
        ours.send(Message::text("late")),
        Err(WsError::Closed)
    ));
    let report = session.peer_report();
    assert_eq!(report.error, None);
    // wsmachine answers with the peer's code.
    let answer = report.close.flatten().expect("our answering Close");
    assert_eq!(answer, (4001, reason));
}

/// Neither peer implements permessage-deflate: with wsmachine's default
/// config (offering it as a client, accepting it as a server) the
/// handshake settles on no compression, and traffic works uncompressed
/// (a compressed frame would have RSV1 set, which the peers reject).
pub fn negotiation(peer: PeerKind, side: Side) {
    let mut session = Session::open(peer, side, PeerSetup::default());
    assert_eq!(session.ours.connection().deflate_params(), None);
    // The peer offered nothing (we serve), or its 101 accepted nothing.
    assert_eq!(session.peer_extensions, Vec::<String>::new());
    let ours = session.ours.as_mut();
    echo(ours, Message::text("a".repeat(64 << 10)));
    echo(ours, Message::binary(vec![0; 64 << 10]));
    let report = finish(session, CloseCode::NORMAL, "done");
    match side {
        // Our 101 answered with no extension.
        Side::TokioServer | Side::BlockingServer => assert_eq!(report.extensions, None),
        // We offered permessage-deflate.
        Side::TokioClient | Side::BlockingClient => {
            let offer = report.extensions.expect("our client's offer");
            assert!(offer.starts_with("permessage-deflate"), "offer {offer:?}");
        }
    }
}

/// Sends `message`, expects it back.
fn echo(ours: &mut dyn Ours, message: Message) {
    let what = describe(&message);
    if let Err(error) = ours.send(message.clone()) {
        panic!("sending {what}: {error}");
    }
    expect(ours, message, &format!("the echo of {what}"));
}

fn command(ours: &mut dyn Ours, command: &str) {
    if let Err(error) = ours.send(Message::text(format!("{COMMAND}{command}"))) {
        panic!("sending the command {command:?}: {error}");
    }
}

/// Receives one message and checks it is `wanted` (without printing
/// megabytes when it is not).
fn expect(ours: &mut dyn Ours, wanted: Message, what: &str) {
    let got = match ours.recv() {
        Some(Ok(message)) => message,
        Some(Err(error)) => panic!("waiting for {what}: {error}"),
        None => panic!("waiting for {what}: the connection ended"),
    };
    assert!(got == wanted, "{what}: got {}", describe(&got));
}

fn describe(message: &Message) -> String {
    let kind = match message {
        Message::Text(_) => "text",
        Message::Binary(_) => "binary",
        Message::Ping(_) => "a Ping",
        Message::Pong(_) => "a Pong",
        Message::Close(_) => "a Close",
    };
    let start = String::from_utf8_lossy(&message.as_bytes()[..message.len().min(24)]);
    format!("{kind} of {} bytes starting {start:?}", message.len())
}

/// Closes from our side with `code` and `reason`; checks that the peer got
/// them and answered (tungstenite echoes code and reason, tokio-websockets
/// the code alone), and that its script ended without an error.
fn finish(mut session: Session, code: CloseCode, reason: &str) -> PeerReport {
    let peer = session.peer;
    let ours = session.ours.as_mut();
    ours.close(code, reason).expect("our closing handshake");
    let frame = ours.close_frame().expect("the peer's answering Close");
    let echoed = match peer {
        PeerKind::Tungstenite => reason,
        PeerKind::TokioWebsockets => "",
    };
    assert_eq!((frame.code, &*frame.reason), (code, echoed));
    let report = session.peer_report();
    assert_eq!(report.error, None);
    let close = report.close.clone().flatten();
    assert_eq!(
        close,
        Some((code.0, reason.to_owned())),
        "the Close the peer got"
    );
    report
}
