#![no_main]
//! Messages sent by a client machine arrive identical at a server machine,
//! whatever the chunking of the bytes between them, and the other way round.

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsmachine::{Config, Connection, Event, MessageKind, ReceiveMode, Role};

#[derive(Arbitrary, Debug, Clone, PartialEq)]
enum Message {
    Text(String),
    Binary(Vec<u8>),
    /// A message sent in fragments, cut at these byte positions.
    Fragmented { text: bool, data: Vec<u8>, cuts: Vec<u8> },
}

#[derive(Arbitrary, Debug)]
struct Input {
    from_client: bool,
    stream: bool,
    /// permessage-deflate with this window (8–15) and takeover choice.
    deflate: Option<(u8, bool)>,
    messages: Vec<Message>,
    chunk_sizes: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let mode = if input.stream { ReceiveMode::Stream } else { ReceiveMode::Message };
    let config = Config::default().with_mask_seed(Some(3)).with_receive_mode(mode);
    let (mut client, mut server) = match input.deflate {
        None => (
            Connection::upgraded(Role::Client, config.clone()).unwrap(),
            Connection::upgraded(Role::Server, config).unwrap(),
        ),
        Some((window, no_takeover)) => {
            let deflate = wsmachine::DeflateConfig {
                server_no_context_takeover: no_takeover,
                client_no_context_takeover: no_takeover,
                server_max_window_bits: 8 + window % 8,
                client_max_window_bits: 8 + window % 8,
                threshold: 0,
                ..wsmachine::DeflateConfig::default()
            };
            wsmachine_fuzz::handshake_pair(config.with_deflate(Some(deflate)))
        }
    };
    let (sender, receiver) = if input.from_client { (&mut client, &mut server) } else { (&mut server, &mut client) };

    let mut expected: Vec<(bool, Vec<u8>)> = Vec::new();
    for message in input.messages.iter().take(32) {
        match message {
            Message::Text(text) => {
                sender.send_text(text).unwrap();
                expected.push((true, text.as_bytes().to_vec()));
            }
            Message::Binary(data) => {
                sender.send_binary(data).unwrap();
                expected.push((false, data.clone()));
            }
            Message::Fragmented { text, data, cuts } => {
                let data = if *text { String::from_utf8_lossy(data).into_owned().into_bytes() } else { data.clone() };
                let kind = if *text { MessageKind::Text } else { MessageKind::Binary };
                let mut points: Vec<usize> = cuts.iter().map(|&c| c as usize % (data.len() + 1)).collect();
                points.sort_unstable();
                points.push(data.len());
                let mut start = 0;
                for (i, &end) in points.iter().enumerate() {
                    sender.send_fragment(kind, &data[start..end], i + 1 == points.len()).unwrap();
                    start = end;
                }
                expected.push((*text, data));
            }
        }
    }

    let wire = sender.pending_output().to_vec();
    let mut received: Vec<(bool, Vec<u8>)> = Vec::new();
    let mut partial: Option<(bool, Vec<u8>)> = None;
    let mut at = 0;
    let mut sizes = input.chunk_sizes.iter().cycle();
    while at < wire.len() {
        let size = sizes.next().map_or(wire.len(), |&s| s as usize + 1);
        let end = (at + size).min(wire.len());
        receiver.receive(&wire[at..end]);
        at = end;
        while let Some(event) = receiver.next_event() {
            match event {
                Event::Text(t) => received.push((true, t.as_bytes().to_vec())),
                Event::Binary(b) => received.push((false, b.to_vec())),
                Event::TextChunk { data, last } => {
                    partial.get_or_insert((true, Vec::new())).1.extend_from_slice(data.as_bytes());
                    if last {
                        received.push(partial.take().unwrap());
                    }
                }
                Event::BinaryChunk { data, last } => {
                    partial.get_or_insert((false, Vec::new())).1.extend_from_slice(data);
                    if last {
                        received.push(partial.take().unwrap());
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(received, expected);
    assert!(partial.is_none());
});
