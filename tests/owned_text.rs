//! A text message that is one frame, arriving in pieces, taken as owned
//! messages, borrowed events, or both mixed call by call: every piece is
//! validated as it comes, so invalid UTF-8 fails the connection (1007) as
//! soon as the byte that breaks it arrives, a character cut off by the end
//! of the frame fails it too, and the caller sees the same message whichever
//! call it makes.

mod testkit;

use proptest::prelude::*;
use testkit::wire::encode_frame;
use testkit::{repeat_to, Rng};
use wsmachine::{Config, Connection, Error, Event, Message, OwnedEvent, Role};

fn cases(n: u32) -> ProptestConfig {
    testkit::cases(n, "proptest-regressions/owned_text.txt")
}

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// What one call for the next event gave.
#[derive(Debug, PartialEq)]
enum Seen {
    Nothing,
    Text(String),
    Failed(Error),
    Other(String),
}

/// One call, owned or borrowed.
fn next(conn: &mut Connection, owned: bool) -> Seen {
    if owned {
        match conn.next_owned_event() {
            None => Seen::Nothing,
            Some(OwnedEvent::Message(Message::Text(text))) => Seen::Text(text.as_str().to_owned()),
            Some(OwnedEvent::Failed(error)) => Seen::Failed(error),
            Some(other) => Seen::Other(format!("{other:?}")),
        }
    } else {
        match conn.next_event() {
            None => Seen::Nothing,
            Some(Event::Text(text)) => Seen::Text(text.to_owned()),
            Some(Event::Failed(error)) => Seen::Failed(error),
            Some(other) => Seen::Other(format!("{other:?}")),
        }
    }
}

/// A server fed `frame` in pieces of at most `max_piece` bytes, asking for
/// an event after each piece (owned or borrowed as `owned_at` says for the
/// call's number). Returns what each call gave, with the number of frame
/// bytes fed by then.
fn feed_in_pieces(
    frame: &[u8],
    max_piece: usize,
    seed: u64,
    owned_at: impl Fn(usize) -> bool,
) -> Vec<(usize, Seen)> {
    let mut conn = Connection::upgraded(Role::Server, Config::default()).unwrap();
    let mut rng = Rng(seed);
    let mut seen = Vec::new();
    let mut fed = 0;
    while fed < frame.len() {
        let n = rng.chunk(max_piece).min(frame.len() - fed);
        conn.receive(&frame[fed..fed + n]);
        fed += n;
        loop {
            let got = next(&mut conn, owned_at(seen.len()));
            let done = got == Seen::Nothing;
            seen.push((fed, got));
            if done {
                break;
            }
        }
    }
    seen
}

/// The events that were not `Nothing`.
fn events(seen: &[(usize, Seen)]) -> Vec<&Seen> {
    seen.iter()
        .map(|(_, s)| s)
        .filter(|s| **s != Seen::Nothing)
        .collect()
}

fn text_frame(payload: &[u8]) -> Vec<u8> {
    encode_frame(0x81, payload, Some(KEY))
}

/// Mixed text: ASCII with two-, three- and four-byte characters.
fn mixed_text(len: usize) -> String {
    repeat_to("héllo wörld, 你好, 🦀! ".chars().collect(), len)
}

#[test]
fn a_large_text_frame_taken_owned_in_pieces_arrives_whole() {
    let text = mixed_text(300 * 1024);
    let frame = text_frame(text.as_bytes());
    for max_piece in [1, 3, 1000, 64 * 1024] {
        // Byte by byte is slow for 300 KiB: a shorter text there.
        let (text, frame) = if max_piece < 100 {
            let short = mixed_text(2000);
            let frame = text_frame(short.as_bytes());
            (short, frame)
        } else {
            (text.clone(), frame.clone())
        };
        let seen = feed_in_pieces(&frame, max_piece, 7, |_| true);
        assert_eq!(events(&seen), [&Seen::Text(text)], "pieces of {max_piece}");
        // Nothing before the last byte.
        let first = seen.iter().find(|(_, s)| *s != Seen::Nothing).unwrap();
        assert_eq!(first.0, frame.len());
    }
}

/// A text message of one frame that takes several reads, taken owned, is
/// handed out from where it was read, like a binary one, not copied into a
/// buffer of its own on the way (it is validated read by read all the same:
/// the tests below). Borrowed events gather it into the text buffer, whose
/// `&str` then needs no second look.
#[test]
fn a_text_frame_longer_than_one_read_taken_owned_stays_where_it_was_read() {
    let text = mixed_text(20 * 1024);
    let frame = text_frame(text.as_bytes());
    let mut conn = Connection::upgraded(Role::Server, Config::default()).unwrap();
    // Room for the whole frame, so the buffer never moves to grow.
    let room = conn.receive_buffer(frame.len());
    let (room_start, room_len) = (room.as_ptr() as usize, room.len());
    let mut handed_out = None;
    for piece in frame.chunks(4096) {
        conn.receive_buffer(piece.len())[..piece.len()].copy_from_slice(piece);
        conn.commit_received(piece.len());
        match conn.next_owned_event() {
            Some(OwnedEvent::Message(Message::Text(got))) => {
                assert_eq!(got.as_str(), text);
                handed_out = Some(got.as_str().as_ptr() as usize);
            }
            None => {}
            Some(other) => panic!("unexpected {other:?}"),
        }
    }
    let at = handed_out.expect("the message");
    assert!(
        at >= room_start && at + text.len() <= room_start + room_len,
        "the text is at {at:#x}, the reads went to {room_start:#x}..{:#x}",
        room_start + room_len
    );
}

#[test]
fn invalid_utf8_fails_as_soon_as_it_arrives_not_when_the_frame_is_whole() {
    let mut payload = mixed_text(200 * 1024).into_bytes();
    let bad_at = 5000;
    payload[bad_at] = 0xff;
    let frame = text_frame(&payload);
    let header = frame.len() - payload.len();
    for owned in [true, false] {
        let seen = feed_in_pieces(&frame, 4096, 11, |_| owned);
        let (fed, first) = seen
            .iter()
            .find(|(_, s)| *s != Seen::Nothing)
            .expect("an event");
        assert_eq!(*first, Seen::Failed(Error::InvalidUtf8), "owned: {owned}");
        assert!(
            *fed > header + bad_at && *fed <= header + bad_at + 4096,
            "owned: {owned}: failed after {fed} bytes, the bad one is at {}",
            header + bad_at
        );
    }
}

#[test]
fn the_failure_closes_with_1007() {
    let mut payload = mixed_text(100 * 1024).into_bytes();
    payload[70_000] = 0xc0; // never valid
    let frame = text_frame(&payload);
    let mut conn = Connection::upgraded(Role::Server, Config::default()).unwrap();
    conn.receive(&frame[..80_000]);
    assert!(matches!(
        conn.next_owned_event(),
        Some(OwnedEvent::Failed(Error::InvalidUtf8))
    ));
    let out = conn.pending_output();
    assert_eq!(out[0], 0x88, "a Close frame first");
    assert_eq!(&out[2..4], &1007u16.to_be_bytes(), "code 1007");
}

#[test]
fn a_character_cut_at_the_end_of_the_frame_fails() {
    // Valid until its last byte, which begins a character that never ends.
    let mut payload = mixed_text(70 * 1024).into_bytes();
    payload.push(0xe4);
    let frame = text_frame(&payload);
    let seen = feed_in_pieces(&frame, 8192, 3, |_| true);
    assert_eq!(events(&seen), [&Seen::Failed(Error::InvalidUtf8)]);
}

proptest! {
    #![proptest_config(cases(64))]

    /// Any text, any pieces, owned and borrowed calls mixed at random: the
    /// message arrives as the borrowed-only reference sees it, and a bad
    /// byte fails the connection no later than the piece that brings it.
    #[test]
    fn owned_and_borrowed_calls_mixed_see_the_same_message(
        len in 0usize..150_000,
        max_piece in 1usize..70_000,
        seed in any::<u64>(),
        bad in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut payload = mixed_text(len).into_bytes();
        let bad_at = bad.filter(|_| !payload.is_empty()).map(|i| i.index(payload.len()));
        if let Some(at) = bad_at {
            payload[at] = 0xff;
        }
        let frame = text_frame(&payload);
        let header = frame.len() - payload.len();
        let owned_at = move |call: usize| Rng(seed ^ call as u64).next().is_multiple_of(2);
        let mixed = feed_in_pieces(&frame, max_piece, seed, owned_at);
        let reference = feed_in_pieces(&frame, max_piece, seed, |_| false);
        prop_assert_eq!(events(&mixed), events(&reference));
        match bad_at {
            None => prop_assert_eq!(
                events(&mixed),
                [&Seen::Text(String::from_utf8(payload).unwrap())]
            ),
            Some(at) => {
                let (fed, first) = mixed.iter().find(|(_, s)| *s != Seen::Nothing).unwrap();
                prop_assert_eq!(first, &Seen::Failed(Error::InvalidUtf8));
                prop_assert!(*fed > header + at);
                // The piece that brought the bad byte is the one that failed.
                let before = mixed.iter().rev().find(|(f, _)| *f < *fed).map_or(0, |(f, _)| *f);
                prop_assert!(before <= header + at);
            }
        }
    }
}
